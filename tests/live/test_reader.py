"""bot/live/reader.py: the polls every environment shares."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.forges.local import LocalForge
from bot.live.reader import LiveReader, resolve
from bot.settings import Settings
from tests.conftest import git

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_slow_cluster_holds_up_only_its_own_readers(tmp_path: Path) -> None:
    """One cluster that takes its time to answer (a rollout list behind a lossy link) must not
    stall the environments read from another source, nor ask its own source twice."""
    git(tmp_path, "init", "-q", "-b", "main")
    settings = Settings(forge="local", repo=str(tmp_path), data_dir=tmp_path / "data")
    reader = LiveReader(LocalForge(tmp_path), settings, lambda: NOW)
    asked: list[str] = []
    release = threading.Event()

    def slow(names: list[str], now: datetime) -> dict[str, str]:
        asked.append("slow")
        release.wait(60)  # released once the other source has answered
        return dict.fromkeys(names, "rolling")

    def fast(names: list[str], now: datetime) -> dict[str, str]:
        asked.append("fast")
        return dict.fromkeys(names, "healthy")

    found: dict[str, object] = {}
    readers = [
        threading.Thread(target=lambda: found.update(a=reader._poll("rollouts", ["api"], slow))),
        threading.Thread(target=lambda: found.update(b=reader._poll("rollouts", ["api"], slow))),
    ]
    for thread in readers:
        thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert reader._poll("argocd", ["api"], fast) == {"api": "healthy"}
    assert time.monotonic() - started < 30  # not behind the slow cluster (a minute), however loaded
    release.set()
    for thread in readers:
        thread.join(60)
    assert found == {"a": {"api": "rolling"}, "b": {"api": "rolling"}}
    assert asked.count("slow") == 1  # the second reader took the first one's answer


def test_an_abbreviation_resolves_only_to_the_one_commit_it_abbreviates() -> None:
    commits = [
        "a1afe267b54f38b46b487f6e938a6fd508278c07",
        "a1afe26fffff38b46b487f6e938a6fd508278c0",
    ]
    assert resolve("a1afe267b", commits) == commits[0]
    assert resolve("a1afe26", commits) is None  # ambiguous: not guessed
    assert resolve("b1afe26", commits) is None  # not among them
    assert resolve("a1afe267b", [commits[0], commits[0]]) == commits[0]  # a merge lists it twice
