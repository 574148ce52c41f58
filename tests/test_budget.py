"""The rate limit as a budget (pure), with the clock passed in."""

from __future__ import annotations

import pytest

from bot.budget import Budget

NOW = 1_800_000_000.0


def test_the_budget_is_read_from_github_and_gitlab_headers() -> None:
    github = Budget()
    github.update({"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4321",
                   "X-RateLimit-Reset": str(int(NOW) + 600)}, NOW)  # fmt: skip
    assert (github.limit, github.remaining, github.reset) == (5000, 4321, NOW + 600)
    gitlab = Budget()
    gitlab.update({"RateLimit-Limit": "2000", "RateLimit-Remaining": "7"}, NOW)
    assert (gitlab.limit, gitlab.remaining, gitlab.observed) == (2000, 7, NOW)
    gitlab.update({"Content-Type": "application/json"}, NOW + 5)  # no news: kept
    assert (gitlab.remaining, gitlab.observed) == (7, NOW)


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


def test_the_word_heard_last_wins_whichever_process_heard_it() -> None:
    mine = Budget(limit=5000, remaining=4000, reset=NOW + 900, observed=NOW)
    theirs = Budget.from_text(Budget(5000, 120, NOW + 900, observed=NOW + 30).to_text())
    mine.adopt(theirs)
    assert (mine.remaining, mine.observed) == (120, NOW + 30)
    mine.adopt(Budget(5000, 4999, NOW + 900, observed=NOW + 10))  # older news
    assert mine.remaining == 120


@pytest.mark.parametrize("text", ["", "[]", "7", '{"limit": 1}', '{"limit": "x", "observed": 1}'])
def test_a_damaged_shared_budget_is_no_news(text: str) -> None:
    mine = Budget(limit=5000, remaining=4000, observed=NOW)
    mine.adopt(Budget.from_text(text))
    assert (mine.remaining, mine.observed) == (4000, NOW)
