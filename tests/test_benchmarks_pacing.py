"""`benchmarks/pacing.py --quick` floods ten repos of one installation, in two processes' worth
of fleets on one store, and stays within the pacer's limits while a `/merge` gets through."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_quick_flood_is_paced_within_the_limits_and_the_merges_get_through() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "pacing.py"), "--quick"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for name in ("minute", "hour"):
        run = result[name]
        assert run["pushes"] > 0 and run["writes"] > 0, (name, run)
        # the pacer's own limits (60 a minute, 450 an hour), in the run's time, whatever the
        # machine's speed: the simulator's record of every write promobot made
        assert run["max_writes_in_60s"] <= 60 and run["max_writes_in_3600s"] <= 450, run
        assert run["within_github_limits"], run
        assert run["merge_seconds"] and run["merges_not_done"] == 0, run
    # half a minute of two pushes a second asks for more than 45 sync writes: some waited
    assert sum(result["minute"]["paced"].values()) > 0, result["minute"]
