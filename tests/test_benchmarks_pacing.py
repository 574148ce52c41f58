"""`benchmarks/pacing.py`, as short as `--quick` or shorter, floods ten repos of one
installation, in two processes' worth of fleets on one store, and stays within the pacer's
limits while a `/merge` gets through."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import redis_server

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # started first on its pytest-xdist worker
# A quarter minute of flood, then a quarter hour at × 120, a /merge every 5 s; the pacer at 20
# writes a minute rather than the product's 60, so that even a slow or loaded machine asks for
# more than the minute's share of syncs (15) and the pacer has to hold some back.
FLOOD = ["--minutes", "0.25", "--hours", "0.25", "--speed", "120", "--merge-every", "5"]
PER_MINUTE = 20


def test_a_quick_flood_is_paced_within_the_limits_and_the_merges_get_through() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "pacing.py"), *FLOOD,
         "--writes-per-minute", str(PER_MINUTE), "--redis", redis_server.url(9)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["writes_per_minute"], result["writes_per_hour"]) == (PER_MINUTE, 450)
    for name in ("minute", "hour"):
        run = result[name]
        assert run["pushes"] > 0 and run["writes"] > 0, (name, run)
        # the pacer's own limits (20 a minute, 450 an hour), in the run's time, whatever the
        # machine's speed: the simulator's record of every write promobot made
        assert run["max_writes_in_60s"] <= PER_MINUTE and run["max_writes_in_3600s"] <= 450, run
        assert run["within_github_limits"], run
        assert run["merge_seconds"] and run["merges_not_done"] == 0, run
    # a quarter minute of two pushes a second asks for more than 15 sync writes: some waited
    assert sum(result["minute"]["paced"].values()) > 0, result["minute"]
