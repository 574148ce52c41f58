from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from bot import budget, metrics
from bot.forges.github import GitHubForge
from bot.forges.gitlab import GitLabForge
from bot.forges.observe import endpoint, record
from tests.forgesim import Server


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("http://h/api/v3/repos/acme/env/pulls/12", "/repos/{repo}/pulls/{n}"),
        (
            "http://h/api/v3/repos/acme/env/git/refs/heads/promobot/prod/api",
            "/repos/{repo}/git/refs/{ref}",
        ),
        (
            "http://h/api/v3/repos/acme/env/commits/" + "a" * 40 + "/status",
            "/repos/{repo}/commits/{ref}/status",
        ),
        (
            "http://h/api/v4/projects/acme%2Fenv/merge_requests/3/notes?page=2",
            "/projects/{id}/merge_requests/{n}/notes",
        ),
        (
            "http://h/api/v3/orgs/acme/teams/sre/memberships/alice",
            "/orgs/{group}/memberships/{user}",
        ),
    ],
)
def test_endpoints_are_labels_with_few_values(url: str, label: str) -> None:
    assert endpoint(url) == label


def test_forge_calls_and_rate_limit_reach_the_metrics() -> None:
    with Server() as server:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token="t")
        world.add_repo("acme/observed", {"a.yaml": "a: 1\n"})
        GitHubForge("acme/observed", token="t", base_url=server.github_url).head()
        GitLabForge("acme/observed", token="t", url=server.gitlab_url).head()
        remaining = world.rate_remaining
    text = generate_latest(metrics.REGISTRY).decode()
    assert (
        'promobot_forge_api_calls_total{endpoint="GET /repos/{repo}/commits/{ref}",forge="github",status="200"}'
        in text
    )
    assert 'forge="gitlab"' in text and "GET /projects/{id}/repository/commits" in text
    assert f'promobot_forge_rate_limit_remaining{{forge="gitlab"}} {float(remaining)}' in text


def test_a_graphql_answer_leaves_the_rest_budget_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """GitHub's GraphQL has a rate limit of its own: its headers do not say what REST has left."""
    monkeypatch.setitem(budget.BUDGETS, "github", budget.Budget())
    rest = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4000"}
    record("github", "GET", "http://h/api/v3/repos/acme/env", 200, rest)
    graphql = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999",
               "X-RateLimit-Resource": "graphql"}  # fmt: skip
    record("github", "POST", "http://h/api/graphql", 200, graphql)
    assert budget.of("github").remaining == 4000
    record("github", "GET", "http://h/api/v3/repos/acme/env", 200,
           {**rest, "X-RateLimit-Remaining": "3999", "X-RateLimit-Resource": "core"})  # fmt: skip
    assert budget.of("github").remaining == 3999
