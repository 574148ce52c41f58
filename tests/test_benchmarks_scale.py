"""`benchmarks/scale.py --quick` runs end to end and reports every scenario and the projection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # started first on its pytest-xdist worker
SCENARIOS = ("push", "merge-staging", "merge-prod", "approval", "tick")
FIELDS = ("charged", "free", "writes", "registry", "jobs")


def test_the_quick_scale_benchmark_reports_every_scenario_and_the_projection() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--quick"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert set(result["scenarios"]) == set(SCENARIOS)
    for name in SCENARIOS:
        cost = result["scenarios"][name]
        assert all(isinstance(cost[f], int) and cost[f] >= 0 for f in FIELDS), (name, cost)
        # every scenario makes promobot look at the forge; zero would mean nothing was counted
        assert cost["charged"] + cost["free"] >= 1, (name, cost)
        assert cost["jobs"] >= 1, (name, cost)
    for name in ("push", "merge-staging", "merge-prod", "approval"):  # they change things
        assert result["scenarios"][name]["charged"] >= 1, name
    # a reconcile with nothing new asks conditionally and is answered 304: within its target
    assert result["scenarios"]["tick"]["charged"] <= result["targets"]["tick"]
    # a push is promoted through dev and qa by promobot: at least a tree, a commit, a ref and
    # a PR for each of dev, qa and staging, and two merges
    assert result["scenarios"]["push"]["writes"] >= 3 * 4 + 2
    # an hour of ticks polls every image and chart source at least once (at least one
    # request per app), and the mean tick far fewer than all of them: unchanged sources are
    # polled less and less often (a third of every-tick polling, or less)
    assert result["tick_hour"]["registry"] >= result["apps"]
    assert result["scenarios"]["tick"]["registry"] < result["apps"]
    assert result["tick_hour"]["registry"] * 3 <= 12 * result["apps"]
    # the head is asked with a conditional request, answered 304 while it has not moved
    assert result["scenarios"]["tick"]["free"] >= 1

    projection = result["projection"]
    for key in ("calls_per_hour", "writes_per_hour", "registry_per_hour"):
        assert isinstance(projection[key], int) and projection[key] > 0
    # the projection is at least its ticks: 120 an hour, each as dear as the measured one
    tick = result["scenarios"]["tick"]["charged"] / result["repos"]
    assert projection["calls_per_hour"] >= projection["ticks_per_hour"] * tick


def test_the_batched_layout_writes_once_per_window_whatever_arrives_within_it() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--quick", "--batch", "10"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    scenarios = result["scenarios"]
    assert set(scenarios) == {"push", "push-deferred", "window", *SCENARIOS}
    # a push inside the window writes nothing; the window's one sync writes what came
    assert scenarios["push-deferred"]["writes"] == 0
    assert scenarios["window"]["writes"] >= 3 + 3 + 1  # two direct commits, the batch PR
    # dev and qa take commits, not PRs: no POST /pulls for a push into a batched repo
    assert "POST /pulls" not in scenarios["push"]["top"]
    projection = result["projection"]
    assert projection["batch_minutes"] == 10
    # 10 repos × 6 windows an hour write; the other 240 pushes only read
    rounds = min(projection["pushes_per_hour"], projection["repos"] * 6)
    assert projection["writes_per_hour"] >= rounds * scenarios["window"]["writes"]
