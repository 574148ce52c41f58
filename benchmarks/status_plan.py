"""`promobot status` and `promobot plan` on a generated repo of apps × environments × 3 components.

Each command runs as its own process, as a user would run it; the figures are the median wall
time of several runs and the peak resident memory of the slowest one. Each is measured twice:

  cold   no version cache: every run starts with `.git/promobot/cache` removed, so every file
         is read from git and parsed
  warm   the cache from an earlier run is there, as on every run after the first

The generated repo is one fresh commit, so its files are loose objects, which git reads several
times slower than the packed objects of a clone; `--repack` packs them first, as a clone has them.

    .venv/bin/python benchmarks/status_plan.py [--apps 500] [--envs 5] [--runs 5] [--repack]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# dev → qa → staging, then as many production regions as asked for, each fed by staging
ENVS = ["dev", "qa", "staging", "prod-eu", "prod-us"]
PRODS = ["prod-eu", "prod-us", "prod-ap", "prod-sa", "prod-af", "prod-me", "prod-ca"]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}

COMPONENTS = """\
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


def environments(count: int) -> list[str]:
    if not 1 <= count <= 3 + len(PRODS):
        sys.exit(f"--envs must be between 1 and {3 + len(PRODS)}")
    return (ENVS[:3] + PRODS)[:count]


def config(envs: list[str], apps: int) -> str:
    lines = ["version: 1", "environments:"]
    for i, env in enumerate(envs):
        if i == 0:
            lines.append(f"  {env}: {{}}")
        elif i == 1:
            lines.append(f"  {env}: {{from: {envs[0]}, auto_merge: true}}")
        elif i == 2:
            lines.append(f"  {env}: {{from: {envs[1]}, gates: {{soak: 30m}}}}")
        else:
            lines.append(f"  {env}: {{from: {envs[2]}, gates: {{approvals: 2, soak: 24h}}}}")
    # one anchor holds the components; every other app refers to it, as people write it
    others = "".join(f"  app{i:03d}: {{components: *standard}}\n" for i in range(1, apps))
    return "\n".join(lines) + "\n" + COMPONENTS + others


def generate(root: Path, apps: int, envs: list[str] = ENVS) -> None:
    (root / ".promobot.yaml").write_text(config(envs, apps))
    for e, env in enumerate(envs):
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


def measure(command: list[str], runs: int, before: Callable[[], None]) -> dict[str, float]:
    """Median wall time, median CPU time (user and system, the git processes it waited for
    included: what other load on the machine changes least) and the largest peak RSS of the
    process (git children not included)."""
    walls, cpus, peaks = [], [], []
    for _ in range(runs):
        before()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            proc = subprocess.Popen(command, stdout=out, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            walls.append(time.perf_counter() - start)
            if status != 0:
                err.seek(0)
                sys.exit(f"{' '.join(command)} failed: {err.read().decode()}")
            cpus.append(usage.ru_utime + usage.ru_stime)
            peaks.append(usage.ru_maxrss / 1024)
    return {
        "wall_s": round(statistics.median(walls), 3),
        "cpu_s": round(statistics.median(cpus), 3),
        "peak_mb": round(max(peaks), 1),
    }


def cold_and_warm(command: list[str], runs: int, cache: Path) -> dict[str, dict[str, float]]:
    def clear() -> None:
        shutil.rmtree(cache, ignore_errors=True)

    cold = measure(command, runs, clear)
    subprocess.run(command, check=True, capture_output=True)  # fills the cache
    warm = measure(command, runs, lambda: None)
    return {"cold": cold, "warm": warm}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--envs", type=int, default=len(ENVS))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repack", action="store_true", help="Pack the repo's objects first.")
    args = parser.parse_args()
    envs = environments(args.envs)
    promobot = str(Path(sys.executable).with_name("promobot"))
    # Byte-compile promobot as `pip install` does, so no run pays for compiling its modules
    # (an editable install under PYTHONDONTWRITEBYTECODE=1 would compile them every time).
    package = subprocess.run(
        [sys.executable, "-c", "import bot, os; print(os.path.dirname(bot.__file__))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True)
    with tempfile.TemporaryDirectory(prefix="promobot-bench-") as tmp:
        root = Path(tmp)
        generate(root, args.apps, envs)
        if args.repack:
            subprocess.run(["git", "-C", tmp, "repack", "-adq"], check=True)
        cache = root / ".git" / "promobot" / "cache"
        status_command = [promobot, "status", "--repo", tmp, "--format", "json"]
        plan_command = [promobot, "plan", "--repo", tmp, "--format", "json"]
        status = cold_and_warm(status_command, args.runs, cache)
        plan = cold_and_warm(plan_command, args.runs, cache)
        planned = json.loads(
            subprocess.run(
                plan_command,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
    for name, result in (("status", status), ("plan", plan)):
        for kind, figures in result.items():
            print(
                f"{name:<6} {kind}: {figures['wall_s']} s ({figures['cpu_s']} s CPU), "
                f"{figures['peak_mb']} MB"
            )
    print(f"{len(planned)} promotions")
    summary = {
        "apps": args.apps,
        "environments": len(envs),
        "components": 3,
        "packed": args.repack,
        "status": status,
        "plan": {**plan, "promotions": len(planned)},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
