"""Watching instead of polling (bot/live/kube.py): the first poll lists, a watch from that
list's resourceVersion keeps it current, and later polls cost no request — through the real
kubernetes client against the Kubernetes API server face (tests/kube/server.py), with Fleet's
Bundles as the watched resource."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.forges.retry import Policy
from bot.live.rancher_fleet import Fleet
from tests.kube.server import KubeServer, bundle, kube_server, write_kubeconfig

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
QUICK = Policy(attempts=2, backoff_base=0.01, backoff_max=0.02)
OLD, NEW = "1" * 40, "2" * 40
NAME = "fleet-default/api-dev"


@contextmanager
def watching(tmp_path: Path, **server: object) -> Iterator[tuple[KubeServer, Fleet]]:
    with kube_server(**server) as kube:  # type: ignore[arg-type]
        kube.put(bundle("api-dev", commit=OLD))
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube.url, kube.token)
        fleet = Fleet(str(kubeconfig), policy=QUICK)
        try:
            yield kube, fleet
        finally:
            fleet.close()


def until(what: str, done: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def revision(fleet: Fleet) -> str | None:
    return fleet.poll([NAME], NOW).lives[NAME].revision


def test_a_change_is_heard_without_asking_again(tmp_path: Path) -> None:
    with watching(tmp_path) as (kube, fleet):
        first = fleet.poll([NAME], NOW)
        assert first.calls == 1 and first.lives[NAME].revision == OLD
        kube.put(bundle("api-dev", commit=NEW))  # Fleet moved the Bundle to a new commit
        until("the new commit is seen", lambda: revision(fleet) == NEW)
        again = fleet.poll([NAME], NOW)
        assert again.calls == 0 and kube.lists == 1
        assert kube.hits["watch bundles fleet-default"] >= 1


def test_a_deleted_bundle_becomes_unknown(tmp_path: Path) -> None:
    with watching(tmp_path) as (kube, fleet):
        assert revision(fleet) == OLD
        kube.delete("bundles", "fleet-default", "api-dev")
        until("the Bundle is gone", lambda: revision(fleet) is None)
        live = fleet.poll([NAME], NOW).lives[NAME]
        assert live.health == "unknown" and "Fleet has no Bundle" in live.message
        assert kube.lists == 1


def test_a_watch_the_server_ends_goes_on_from_where_it_stopped(tmp_path: Path) -> None:
    with watching(tmp_path, watch_seconds=0.2) as (kube, fleet):
        assert revision(fleet) == OLD
        until("a second watch", lambda: kube.hits["watch bundles fleet-default"] >= 2)
        kube.put(bundle("api-dev", commit=NEW))
        until("the new commit is seen", lambda: revision(fleet) == NEW)
        assert kube.lists == 1  # no change was missed between two watches, none listed again


def test_a_compacted_version_lists_again(tmp_path: Path) -> None:
    """etcd forgot the version the watch would go on from (410 Expired): promobot lists."""
    with watching(tmp_path, watch_seconds=0.2) as (kube, fleet):
        assert revision(fleet) == OLD
        until("the watch is open", lambda: kube.hits["watch bundles fleet-default"] >= 1)
        # The watch must not hear these changes, or it would go on from after the compaction
        # (as it once did on a loaded machine): they happen while it is cut off.
        with kube.partitioned():
            kube.put(bundle("api-other", commit=OLD))
            kube.compact()
            kube.put(bundle("api-dev", commit=NEW))
        until("a list after the 410", lambda: revision(fleet) == NEW and kube.lists == 2)
        assert kube.hits["410"] == 1  # listed again because of it, once


def test_credentials_that_may_not_watch_are_polled_and_told_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with watching(tmp_path, unwatchable={"bundles"}) as (kube, fleet):
        caplog.set_level(logging.WARNING, logger="bot.live.kube")
        assert revision(fleet) == OLD
        until("the watch refused", lambda: kube.hits["403"] == 1)
        for _ in range(3):
            time.sleep(0.05)
            kube.put(bundle("api-dev", commit=NEW))
            assert revision(fleet) == NEW  # each poll lists: nothing is missed
        assert kube.lists == 4 and kube.hits["403"] == 1
        told = [r for r in caplog.records if "watch refused" in r.getMessage()]
        assert len(told) == 1
