"""`promobot validate` on a chain of 1,000 and 3,000 environments (dev → e1 → e2 → …).

The chain is declared last environment first (the order that was dearest to sort) with three
apps, the last one listing every environment (`tests/configs.py`). For each size:

  load      `config.load` and the promotion order in this process: what validate checks
  broken    the same with every `from:` naming an environment that does not exist, so every
            environment has a problem to locate and report
  validate  `promobot validate` as its own process, as a user runs it (Python's start included)

Each figure is the median of --runs runs, in seconds. Validation was quadratic and worse in
the number of environments (3,000 took 50 s); the target is ≤ 1 s for 3,000.

    .venv/bin/python benchmarks/validate_size.py [--sizes 1000,3000] [--runs 5]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import config
from bot.errors import ConfigError
from tests.configs import chain

PROMOBOT = Path(sys.executable).parent / "promobot"


def median(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def load(text: str) -> None:
    with contextlib.suppress(ConfigError):
        config.load(text).order  # noqa: B018 -- what validate prints


def validate(repo: Path) -> None:
    done = subprocess.run([str(PROMOBOT), "validate", "--repo", str(repo)], capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr


def checkout(root: Path, text: str, size: int) -> Path:
    """A git checkout with the configuration and every environment's values file: validate
    then also reads every target at HEAD (the values step)."""
    repo = root / f"repo-{size}"
    for i in range(size):
        env = "dev" if i == 0 else f"e{i}"
        (repo / "envs" / env).mkdir(parents=True)
        (repo / "envs" / env / "values.yaml").write_text("image:\n  tag: 1.0.0\n")
    (repo / config.FILENAME).write_text(text)
    run = {"cwd": repo, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q", "-b", "main"], **run)
    subprocess.run(["git", "add", "-A"], **run)
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "envs"], **run
    )
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,3000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        for size in (int(s) for s in args.sizes.split(",")):
            text, broken = chain(size), chain(size, broken=True)
            (repo / config.FILENAME).write_text(text)
            results[size] = {
                "load": median(args.runs, lambda text=text: load(text)),
                "broken": median(args.runs, lambda broken=broken: load(broken)),
                "validate": median(args.runs, lambda: validate(repo)),
            }
            with_values = checkout(repo, text, size)
            results[size]["validate, values read"] = median(
                args.runs, lambda with_values=with_values: validate(with_values)
            )
            figures = ", ".join(f"{k} {v} s" for k, v in results[size].items())
            print(f"{size:>6} environments: {figures}")
    print(json.dumps({"runs": args.runs, "environments": results}))


if __name__ == "__main__":
    main()
