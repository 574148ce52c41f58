"""`promobot status` and `promobot plan` on a generated repo of 500 apps × 5 envs × 3 components.

Each command runs as its own process, as a user would run it; the figures are the median wall
time of several runs and the peak resident memory of the slowest one.

    .venv/bin/python benchmarks/status_plan.py [--apps 500] [--runs 5]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENVS = ["dev", "qa", "staging", "prod-eu", "prod-us"]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}

CONFIG = """\
version: 1
environments:
  dev: {}
  qa: {from: dev, auto_merge: true}
  staging: {from: qa, gates: {soak: 30m}}
  prod-eu: {from: staging, gates: {approvals: 2, soak: 24h}}
  prod-us: {from: staging, gates: {approvals: 2, soak: 24h}}
apps:
  app000:
    components: &standard
      image:
        source: {image: "ghcr.io/acme/service", semver: "^1"}
        target: {file: "envs/{env}/{app}/values.yaml", field: "image.tag"}
      chart:
        source: {chart: service, repo: "oci://ghcr.io/acme/charts"}
        target: {file: "envs/{env}/{app}/Chart.yaml", field: "dependencies[name=service].version"}
      config:
        source: {git: acme/config, tags: "v*"}
        target: {file: "envs/{env}/{app}/values.yaml", field: "config.ref"}
"""


def generate(root: Path, apps: int) -> None:
    """One anchor holds the components; every other app refers to it, as people write it."""
    others = "".join(f"  app{i:03d}: {{components: *standard}}\n" for i in range(1, apps))
    (root / ".promobot.yaml").write_text(CONFIG + others)
    for e, env in enumerate(ENVS):
        for i in range(apps):
            folder = root / "envs" / env / f"app{i:03d}"
            folder.mkdir(parents=True)
            # every tenth app has a newer image in dev, so plan has work to show
            minor = 5 if (i % 10 == 0 and e == 0) else 4
            (folder / "values.yaml").write_text(
                f"# app{i:03d} in {env}\nreplicaCount: 2\nimage:\n"
                f'  repository: ghcr.io/acme/app{i:03d}\n  tag: "1.{minor}.0"\n'
                f"config:\n  ref: v{12 if e < 2 else 11}\n"
            )
            (folder / "Chart.yaml").write_text(
                f"apiVersion: v2\nname: app{i:03d}\nversion: 0.1.0\ndependencies:\n"
                "  - name: service\n    version: 2.3.0\n    repository: oci://ghcr.io/acme/charts\n"
            )
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "gen"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, env=env)


def measure(command: list[str], runs: int) -> dict[str, float]:
    """Median wall time and the largest peak RSS of the process (git children not included)."""
    walls, peaks = [], []
    for _ in range(runs):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            proc = subprocess.Popen(command, stdout=out, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            walls.append(time.perf_counter() - start)
            if status != 0:
                err.seek(0)
                sys.exit(f"{' '.join(command)} failed: {err.read().decode()}")
            peaks.append(usage.ru_maxrss / 1024)
    return {"wall_s": round(statistics.median(walls), 3), "peak_mb": round(max(peaks), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    promobot = str(Path(sys.executable).with_name("promobot"))
    with tempfile.TemporaryDirectory(prefix="promobot-bench-") as tmp:
        root = Path(tmp)
        generate(root, args.apps)
        status = measure([promobot, "status", "--repo", tmp, "--format", "json"], args.runs)
        plan = measure([promobot, "plan", "--repo", tmp, "--format", "json"], args.runs)
        planned = json.loads(
            subprocess.run(
                [promobot, "plan", "--repo", tmp, "--format", "json"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
    print(f"status: {status['wall_s']} s, {status['peak_mb']} MB")
    print(f"plan:   {plan['wall_s']} s, {plan['peak_mb']} MB ({len(planned)} promotions)")
    result = {
        "apps": args.apps,
        "environments": len(ENVS),
        "components": 3,
        "status": status,
        "plan": {**plan, "promotions": len(planned)},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
