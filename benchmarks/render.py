"""Rendering what each environment is made of, on a generated repo of apps × environments whose
every cell renders the `helm create` chart (Helm's own starter: a Deployment, a Service, a
ServiceAccount, an Ingress when enabled, an HPA when enabled) with its own values file, through
the real sandbox (worker processes, Helm's SDK). The figures:

  one chart, cold   one cell rendered and read (worker already started): median of --cells
  one chart, warm   the same cells again, read from the kept renderings: median
  repo, cold        every cell, nothing kept, the worker pool started from nothing
  repo, warm        every cell again, by a new renderer on the same data dir (as after a
                    restart): nothing rendered, every cell read from disk
  overview          `GET /` and `GET /apps/app000` of the service with the inventory shown,
                    from cache: p50 of --views page views
  diff              what promoting one app (its image bumped upstream) changes in the
                    cluster: the first time (the state after the merge rendered) and again
                    (kept); and 20 apps' promotions, each rendered after the merge

    .venv/bin/python benchmarks/render.py [--apps 500] [--envs 5] [--workers 2] [--cells 20]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import helm_python  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402
from status_plan import GIT_ENV, environments  # noqa: E402

from bot import planner  # noqa: E402
from bot.engine import read_state  # noqa: E402
from bot.forges.local import LocalForge  # noqa: E402
from bot.manifests.charts import Charts  # noqa: E402
from bot.manifests.renderer import Renderer  # noqa: E402
from bot.manifests.sandbox import Sandbox  # noqa: E402
from bot.manifests.store import Store  # noqa: E402
from bot.service import Service  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.sources.helm import HelmRepository  # noqa: E402
from bot.sources.oci import OciRegistry  # noqa: E402
from bot.web.app import create_app  # noqa: E402

CONFIG = """\
version: 1
environments:
{envs}
render:
  helm:
    chart: ./charts/web
    values: ["envs/{{env}}/{{app}}/values.yaml"]
    release: "{{app}}"
    namespace: "{{env}}"
apps:
  app000:
    components: &standard
      image:
        source: {{image: "ghcr.io/acme/service", semver: "^1"}}
        target: {{file: "envs/{{env}}/{{app}}/values.yaml", field: "image.tag"}}
{others}"""

VALUES = """\
replicaCount: {replicas}
image: {{repository: ghcr.io/acme/service, tag: "1.{minor}.0"}}
ingress:
  enabled: {ingress}
  hosts: [{{host: {app}.{env}.example.com, paths: [{{path: /, pathType: Prefix}}]}}]
"""


def generate(root: Path, apps: int, envs: list[str]) -> None:
    (root / "charts").mkdir(parents=True)
    helm_python.Chart.create("web", root / "charts")
    chain = [f"  {envs[0]}: {{}}"] + [
        f"  {env}: {{from: {envs[i]}}}" for i, env in enumerate(envs[1:])
    ]
    others = "".join(f"  app{i:03d}: {{components: *standard}}\n" for i in range(1, apps))
    (root / ".promobot.yaml").write_text(CONFIG.format(envs="\n".join(chain), others=others))
    for i in range(apps):
        for e, env in enumerate(envs):
            folder = root / "envs" / env / f"app{i:03d}"
            folder.mkdir(parents=True)
            values = VALUES.format(
                replicas=1 + e, minor=i % 7, ingress=str(e >= 2).lower(), app=f"app{i:03d}", env=env
            )
            (folder / "values.yaml").write_text(values)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, env=GIT_ENV)


def renderer(data: Path, sandbox: Sandbox) -> Renderer:
    registry = OciRegistry()
    return Renderer(Store(data), Charts(data, registry, HelmRepository(registry)), sandbox)


def timed(call: object) -> float:
    started = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - started


def diffs(root: Path, data: Path, envs: list[str], workers: int) -> dict[str, float]:
    """Bump the image of 22 apps in the first environment; time the diffs of their
    promotions into the second, as the engine computes them when it opens the PRs (the
    service's workers already started: the first diff starts them, and is not counted)."""
    for i in range(22):
        values = root / "envs" / envs[0] / f"app{i:03d}" / "values.yaml"
        values.write_text(values.read_text().replace('tag: "1.', 'tag: "2.'))
    subprocess.run(["git", "-C", str(root), "commit", "-qam", "dev: images 2.x"], env=GIT_ENV)
    state = read_state(LocalForge(root))
    due = {p.name: p for p in planner.plan(state.config, state.status) if p.env == envs[1]}
    with Sandbox(workers=workers) as sandbox:
        kept = renderer(data, sandbox)
        warm = due["app021"]
        kept.promotion(state, warm, planner.apply(state.config, warm, state.snapshot))
        one = due["app000"]
        changes = planner.apply(state.config, one, state.snapshot)
        first = timed(lambda: kept.promotion(state, one, changes))
        again = timed(lambda: kept.promotion(state, one, changes))
        found = kept.promotion(state, one, changes)
        if not found or found[0].impact != ("image",):
            sys.exit(f"the diff is not the image bump it should be: {found}")
        batch = [due[f"app{i:03d}"] for i in range(1, 21)]
        started = time.perf_counter()
        for each in batch:
            kept.promotion(state, each, planner.apply(state.config, each, state.snapshot))
        twenty = time.perf_counter() - started
    return {
        "diff_one_first_ms": round(first * 1000, 1),
        "diff_one_again_ms": round(again * 1000, 1),
        "diff_twenty_s": round(twenty, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--envs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--views", type=int, default=30)
    args = parser.parse_args()
    envs = environments(args.envs)
    with tempfile.TemporaryDirectory(prefix="promobot-render-bench-") as tmp:
        root = Path(tmp) / "env-repo"
        generate(root, args.apps, envs)
        state = read_state(LocalForge(root))
        cells = [(f"app{i:03d}", envs[-1]) for i in range(min(args.cells, args.apps))]
        figures: dict[str, object] = {"apps": args.apps, "envs": len(envs)}

        with Sandbox(workers=args.workers) as sandbox:
            one = renderer(Path(tmp) / "one", sandbox)
            one.cell(state, "app000", envs[0])  # the worker starts: not a chart's cost
            cold = [timed(lambda c=c: one.cell(state, *c)) for c in cells]
            warm = [timed(lambda c=c: one.cell(state, *c)) for c in cells]
            figures["one_chart_cold_ms"] = round(statistics.median(cold) * 1000, 2)
            figures["one_chart_warm_ms"] = round(statistics.median(warm) * 1000, 3)

        data = Path(tmp) / "data"
        with Sandbox(workers=args.workers) as sandbox:  # started from nothing
            started = time.perf_counter()
            sheet = renderer(data, sandbox).sheet(state)
            figures["repo_cold_s"] = round(time.perf_counter() - started, 2)
        errors = [cell.error for cell in sheet.cells.values() if cell.error]
        if errors:
            sys.exit(f"{len(errors)} cells did not render, e.g. {errors[0]}")
        figures["cells"] = len(sheet.cells)
        with Sandbox(workers=args.workers) as sandbox:
            again = renderer(data, sandbox)
            figures["repo_warm_s"] = round(timed(lambda: again.sheet(state)), 3)
        figures["parent_peak_rss_mb"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        )
        figures["workers_peak_rss_mb"] = round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        )

        settings = Settings(
            forge="local", repo=str(root), data_dir=data, render_workers=args.workers
        )
        service = Service(settings)
        assert service.rendering is not None
        service.rendering.want(service.engine.state())
        if not service.rendering.wait(600):
            sys.exit("the service did not finish rendering")
        with TestClient(create_app(service)) as client:
            for path, name in (("/", "overview"), ("/apps/app000", "app_page")):
                client.get(path)  # the first view reads the repo and the sheet
                views = [timed(lambda p=path: client.get(p)) for _ in range(args.views)]
                page = client.get(path).text
                if "rendering…" in page or "Deployment" not in page:
                    sys.exit(f"{path} does not show the inventory")
                figures[f"{name}_p50_ms"] = round(statistics.median(views) * 1000, 1)
        service.stop()

        figures.update(diffs(root, data, envs, args.workers))

    for key, value in figures.items():
        print(f"{key:>22}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
