"""The rate limit as a budget (pure), with the clock passed in."""

from __future__ import annotations

import pytest

from bot.budget import Budget

NOW = 1_800_000_000.0


def test_the_budget_is_read_from_github_and_gitlab_headers() -> None:
    github = Budget()
    github.update({"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4321",
                   "X-RateLimit-Reset": str(int(NOW) + 600)})  # fmt: skip
    assert (github.limit, github.remaining, github.reset) == (5000, 4321, NOW + 600)
    gitlab = Budget()
    gitlab.update({"RateLimit-Limit": "2000", "RateLimit-Remaining": "7"})
    assert (gitlab.limit, gitlab.remaining) == (2000, 7)
    gitlab.update({"Content-Type": "application/json"})  # no news: kept
    assert gitlab.remaining == 7


@pytest.mark.parametrize(
    ("remaining", "allowed"),
    [
        (4000, {"delivery", "command", "gates", "sync", "reconcile"}),
        (1000, {"delivery", "command", "gates", "sync"}),  # under 25 %: no reconcile
        (400, {"delivery", "command", "gates"}),  # under 10 %: no new promotions
        (200, {"delivery", "command"}),  # under 5 %: only what people asked for
        (0, set()),  # nothing left: the forge would refuse; all wait for the new window
    ],
)
def test_a_tight_window_is_spent_on_what_people_asked_for(
    remaining: int, allowed: set[str]
) -> None:
    left = Budget(limit=5000, remaining=remaining, reset=NOW + 900)
    kinds = {"delivery", "command", "gates", "sync", "reconcile"}
    assert {k for k in kinds if left.wait(k, NOW) == 0} == allowed
    assert all(left.wait(k, NOW) == 900 for k in kinds - allowed)  # until the window resets
    assert all(left.wait(k, NOW + 901) == 0 for k in kinds)  # a new window


def test_an_unknown_budget_lets_everything_go() -> None:
    assert Budget().wait("reconcile", NOW) == 0
