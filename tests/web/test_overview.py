"""The overview's pure parts: gate checklists read back from PR bodies, PR references in commit
subjects, app filters, version differences, the paths a history logs, and forge links."""

from __future__ import annotations

import pytest

from bot import render
from bot.gates import GateResult
from bot.names import matches
from bot.planner import Promotion
from bot.signing import Signer
from bot.web.overview import Gate, covering, difference, links, parse_gates, pr_number


def test_the_gate_checklist_promobot_writes_reads_back() -> None:
    results = [
        GateResult("approvals", "pending", "approvals: 1 of 2 from @acme/sre (approved: @bob)"),
        GateResult("soak", "pass", "soak: dev has run image 1.5.0 for 2h (needs 30m)"),
        GateResult("checks", "fail", "checks: validate ❌ <failed>"),
        GateResult("hold", "pass", "not on hold"),
    ]
    promotion = Promotion(env="prod", upstream="staging", name="api", reason="upstream", apps=(),
                          edits=())  # fmt: skip
    signer = Signer(b"promobot-test-signing-key-0123456789", "acme/env-repo")
    body = render.replace_gates(
        "Promote…\n\nGates\n- [ ] old\n\nFiles: x", promotion, results, signer
    )
    checklist = render.signed_checklist(body, promotion.branch, signer)
    assert checklist is not None
    assert parse_gates(checklist) == (
        Gate("pending", "approvals: 1 of 2 from @acme/sre (approved: @bob)"),
        Gate("pass", "soak: dev has run image 1.5.0 for 2h (needs 30m)"),
        Gate("fail", "checks: validate ❌ <failed>"),
        Gate("pass", "not on hold"),
    )


@pytest.mark.parametrize(
    "body", ["no checklist at all", "Gates\n- [ ] gates for prod not evaluated yet"]
)
def test_a_body_without_evaluated_gates_is_pending(body: str) -> None:
    (gate,) = parse_gates(body)
    assert gate.state == "pending" and "not evaluated yet" in gate.text


@pytest.mark.parametrize(
    ("subject", "number"),
    [
        ("Merge pull request #12 from acme/promobot/staging/api", 12),
        ("Merge #3: Promote api to staging: image 1.3.0 → 1.4.2", 3),
        ("Promote api to staging: image 1.3.0 → 1.4.2 (#41)", 41),
        ("Merge branch 'promobot/staging/api' into 'main' !7", 7),
        ("Promote api to staging: image 1.3.0 → 1.4.2", None),
        ("Bump web to 3.2.0 for issue #12 follow-up", None),
    ],
)
def test_pr_numbers_come_from_merge_and_squash_subjects(subject: str, number: int | None) -> None:
    assert pr_number(subject) == number


@pytest.mark.parametrize(
    ("query", "matched"),
    [
        ("api", {"api", "api-gateway", "payments-api"}),
        ("API", {"api", "api-gateway", "payments-api"}),
        ("api-*", {"api-gateway"}),
        ("web, pay*", {"web", "payments-api"}),
        ("", set()),
    ],
)
def test_app_filters_are_substrings_or_globs(query: str, matched: set[str]) -> None:
    apps = ["api", "api-gateway", "payments-api", "web"]
    assert {a for a in apps if matches(a, query)} == matched


@pytest.mark.parametrize(
    ("left", "right", "strategy", "expected"),
    [
        ("1.5.0", "1.5.0", "semver", "same"),
        ("1.10.0", "1.9.0", "semver", "newer"),
        ("1.9.0", "1.10.0", "semver", "older"),
        ("abc123", "def456", None, "different"),  # a copy component: no order
        ("latest", "1.0.0", "semver", "different"),
        ("1.0.0", None, "semver", "only-from"),
        (None, "1.0.0", "semver", "only-to"),
    ],
)
def test_differences_between_environments(
    left: str | None, right: str | None, strategy: str | None, expected: str
) -> None:
    assert difference(left, right, strategy) == expected  # type: ignore[arg-type]


def test_a_history_logs_few_paths_folders_where_files_are_many() -> None:
    few = ["envs/dev/api/values.yaml", "envs/dev/api/Chart.yaml", "envs/dev/web/values.yaml"]
    assert covering(few) == sorted(few)
    many = [f"envs/dev/app{i:03d}/{f}" for i in range(500) for f in ("values.yaml", "Chart.yaml")]
    assert covering(many) == ["envs/dev"]
    assert covering(["fleet.yaml", *many]) == ["envs/dev", "fleet.yaml"]


def test_links_to_the_forge_are_made_without_asking_it() -> None:
    github = links("github", "acme/env", "https://api.github.com", "https://gitlab.com")
    assert github.pull(12) == "https://github.com/acme/env/pull/12"
    assert github.commit("abc") == "https://github.com/acme/env/commit/abc"
    ghes = links("github", "acme/env", "https://git.example.com/api/v3", "")
    assert ghes.pull(1) == "https://git.example.com/acme/env/pull/1"
    gitlab = links("gitlab", "group/env", "", "https://gitlab.example.com/")
    assert gitlab.pull(3) == "https://gitlab.example.com/group/env/-/merge_requests/3"
    assert links("local", "env", "", "").pull(1) is None
