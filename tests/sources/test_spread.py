"""Which sources a reconcile polls: every tick while a source changes, less and less often
while it does not (up to an hour), and not at all right after a notification brought its
version — through a real service's polls against a registry that counts what it is asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import events
from bot.service import Service
from bot.settings import Settings
from bot.sources.spread import Spread
from tests.conftest import MakeRepo
from tests.sources.servers import TokenRegistry, token_registry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_unchanged_source_waits_twice_as_long_each_time_up_to_the_slowest() -> None:
    clock = Clock()
    spread = Spread(every=300, slowest=3600, clock=clock)
    polls = []
    for tick in range(40):  # 40 ticks of 5 minutes: 3 hours and 20 minutes
        if spread.due("image:acme/api"):
            polls.append(tick)
            spread.polled("image:acme/api", "1.4.2")
        clock.now += 300
    # after 5, 10, 20, 40 minutes, then every hour
    assert polls == [0, 1, 3, 7, 15, 27, 39]


def test_a_change_is_polled_at_every_tick_again() -> None:
    clock = Clock()
    spread = Spread(every=300, slowest=3600, clock=clock)
    spread.polled("image:acme/api", "1.4.2")
    clock.now += 300
    spread.polled("image:acme/api", "1.4.2")  # unchanged: waits 10 minutes
    clock.now += 300
    assert not spread.due("image:acme/api")
    clock.now += 300
    assert spread.due("image:acme/api")
    spread.polled("image:acme/api", "1.5.0")  # it moved: the next tick asks again
    clock.now += 300
    assert spread.due("image:acme/api")


def test_a_notification_spares_the_next_poll_and_an_old_one_does_not() -> None:
    spread = Spread(every=300, slowest=3600, clock=Clock())
    assert not spread.due("image:acme/api", heard_ago=10)
    assert spread.due("image:acme/api", heard_ago=301)
    assert spread.due("image:acme/api", heard_ago=None)


def test_slowest_at_the_interval_polls_everything_every_tick() -> None:
    clock = Clock()
    spread = Spread(every=300, slowest=0, clock=clock)
    for _ in range(5):
        assert spread.due("image:acme/api")
        spread.polled("image:acme/api", "1.4.2")
        clock.now += 300


@pytest.fixture
def reg() -> Iterator[TokenRegistry]:
    with token_registry(repos={"team/api": ["1.0.0", "1.1.0"], "team/web": ["2.0.0"]}) as reg:
        yield reg


def test_a_service_polls_what_may_have_moved_and_skips_what_a_notification_brought(
    reg: TokenRegistry, make_repo: MakeRepo, tmp_path: Path
) -> None:
    host = reg.url.removeprefix("http://")
    repo = make_repo(
        files={
            ".promobot.yaml": "version: 1\nenvironments: {dev: {}}\napps:\n"
            + "".join(
                f"  {app}:\n    components: {{image: {{source: {{image: {host}/team/{app}}}, "
                'target: {file: "{env}/' + app + '.yaml", field: tag}}}\n'
                for app in ("api", "web")
            ),
            "dev/api.yaml": "tag: 1.0.0\n",
            "dev/web.yaml": "tag: 2.0.0\n",
        }
    )
    service = Service(Settings(forge="local", repo=str(repo), data_dir=tmp_path / "d", workers=0))
    clock = Clock()
    service.spread = Spread(every=300, slowest=3600, clock=clock)

    api, web = f"image:{host}/team/api", f"image:{host}/team/web"
    assert {key for key, _, _ in service.poll()} == {api, web}
    assert reg.hits["tags"] == 2  # the first tick asks every source
    clock.now += 300
    service.poll()
    assert reg.hits["tags"] == 4  # and the next: that is when "unchanged" is known
    clock.now += 300
    assert service.poll() == []
    assert reg.hits["tags"] == 4  # unchanged: not asked for 10 minutes
    clock.now += 300
    reg.repos["team/api"].append("1.2.0")  # pushed, and the registry told nobody
    assert service.poll() == [(api, "1.2.0", None), (web, "2.0.0", None)]
    assert reg.hits["tags"] == 7  # found at the next poll it was due (api's list: 2 pages)
    # api moved, so it is due at the next tick; a notification brings its next version
    service.submit_event(events.Artifact(source_key=api, version="1.3.0"))
    clock.now += 300
    assert service.poll() == []
    assert reg.hits["tags"] == 7  # the notification made that poll unnecessary
