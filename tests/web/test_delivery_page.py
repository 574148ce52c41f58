"""The delivery page and its API on a local-forge repo with a few commits: a promotion, a
rollback, the read protection, and that no more history is read than the overview reads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from starlette.testclient import TestClient

from bot import metrics
from bot.service import Service
from bot.web.app import create_app
from bot.web.gauges import DeliveryGauges
from bot.web.overview import Overview
from tests.conftest import MakeRepo, commit_all
from tests.web.sites import helm_service, parse

# One instant for every commit of a test: read once per call, the clock could tick a second
# between two commits and make a day 86,401 seconds long.
NOW = datetime.now(UTC).replace(microsecond=0)


def days_ago(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def bump(repo: Path, env: str, old: str, new: str, message: str, days: float) -> None:
    path = repo / "envs" / env / "api" / "values.yaml"
    path.write_text(path.read_text().replace(f'"{old}"', f'"{new}"'))
    commit_all(repo, message, days_ago(days))


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    repo = make_repo("helm-values")
    bump(repo, "dev", "1.4.2", "1.5.0", "Release api 1.5.0", 5)
    bump(repo, "staging", "1.3.0", "1.5.0", "Promote api to staging", 4)
    bump(repo, "staging", "1.5.0", "1.3.0", "Roll back api in staging", 3)
    return repo


@pytest.fixture
def service(repo: Path, tmp_path: Path) -> Service:
    return helm_service(repo, tmp_path / "data")


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as client:
        yield client


def test_the_api_counts_the_promotion_the_rollback_and_the_lead_time(client: TestClient) -> None:
    response = client.get("/api/v1/metrics/delivery")
    assert response.status_code == 200
    data = response.json()
    assert data["window_days"] == 30 and data["history_limit"] == 20
    envs = {e["env"]: e for e in data["environments"]}
    assert list(envs) == ["dev", "staging", "prod-eu", "prod-us"]
    assert envs["dev"]["deployments"] == 1 and envs["dev"]["lead_time"] is None
    staging = envs["staging"]
    assert staging["deployments"] == 2 and staging["changes"] == 1
    assert staging["failed_changes"] == 1 and staging["change_failure_rate"] == 1.0
    assert staging["time_to_restore"]["median_seconds"] == 86400
    assert staging["lead_time"] == {"count": 1, "median_seconds": 86400, "p90_seconds": 86400}
    assert envs["prod-eu"]["deployments"] == 0 and envs["prod-eu"]["lead_time"]["count"] == 0


def test_the_gauges_follow_the_default_window_per_environment(client: TestClient) -> None:
    client.get("/api/v1/metrics/delivery")
    text = generate_latest(metrics.REGISTRY).decode()
    assert 'promobot_delivery_change_failure_ratio{env="staging",repo="helm-values"} 1.0' in text
    assert 'promobot_delivery_lead_time_seconds{env="staging",repo="helm-values"} 86400.0' in text
    # where versions start, there is no lead time
    assert 'promobot_delivery_lead_time_seconds{env="dev",repo="helm-values"}' not in text
    assert 'promobot_delivery_deployments_per_day{env="prod-eu",repo="helm-values"} 0.0' in text


def test_a_scrape_brings_the_figures_without_anyone_opening_the_page(
    client: TestClient,
) -> None:
    """Prometheus alone sees the figures: the first scrape starts their computation in the
    background and a later one has them, labelled by repo and environment."""
    metric = 'promobot_delivery_change_failure_ratio{env="staging",repo="helm-values"} 1.0'
    for gauge in (metrics.DELIVERY_FAILURE_RATE, metrics.DELIVERY_LEAD_TIME):
        gauge.clear()  # what another test computed
    first = client.get("/metrics")
    assert first.status_code == 200 and metric not in first.text
    deadline = time.monotonic() + 20
    while metric not in client.get("/metrics").text:
        assert time.monotonic() < deadline, "the delivery gauges never came"
        time.sleep(0.05)


def test_the_gauges_are_refreshed_at_most_every_five_minutes() -> None:
    asked: list[float] = []
    now = [1000.0]

    def overviews() -> list[tuple[Overview, str]]:
        asked.append(now[0])
        return []

    gauges = DeliveryGauges(overviews, clock=lambda: now[0])
    for _ in range(3):
        thread = gauges.scraped()
        if thread is not None:
            thread.join()
        now[0] += 100
    assert asked == [1000.0]  # scrapes at +100 s and +200 s found them fresh
    now[0] = 1300.0
    thread = gauges.scraped()
    assert thread is not None
    thread.join()
    assert asked == [1000.0, 1300.0]


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("/api/v1/metrics/delivery?days=0", "days='0': a whole number of days from 1 to 365"),
        ("/api/v1/metrics/delivery?weeks=2", "unknown query parameter 'weeks'; known: days"),
    ],
)
def test_bad_parameters_get_a_json_400(client: TestClient, url: str, error: str) -> None:
    response = client.get(url)
    assert response.status_code == 400 and response.json() == {"error": error}


def test_the_page_draws_its_charts_and_says_the_limit(client: TestClient) -> None:
    response = client.get("/delivery")
    assert response.status_code == 200
    page = parse(response.text)
    charts = [e for e in page.iter() if e.tag == "svg" and "bars" in e.classes]
    assert len(charts) == 4  # one per environment
    assert len([e for e in charts[1].iter() if e.tag == "rect"]) == 5  # 30 days: five weeks
    lead = [e for e in page.iter() if e.tag == "svg" and "span" in e.classes]
    assert len(lead) == 3  # the environments after dev
    text = page.text
    assert "From the last 20 commits that touched each environment's files" in text
    assert "100 % (1 of 1)" in text and "1 d median of 1" in text
    assert "median 1 d · p90 1 d (1 version)" in text
    assert 'href="/delivery"' in client.get("/").text  # linked from the overview's nav


def test_the_page_refuses_a_bad_window(client: TestClient) -> None:
    response = client.get("/delivery?days=abc")
    assert response.status_code == 400 and "a whole number of days" in response.text


def test_read_protection_covers_the_page_and_the_api(repo: Path, tmp_path: Path) -> None:
    service = helm_service(repo, tmp_path / "guarded", read_token="s3cret")
    with TestClient(create_app(service)) as client:
        assert client.get("/delivery").status_code == 401
        assert client.get("/api/v1/metrics/delivery").status_code == 401
        bearer = {"Authorization": "Bearer s3cret"}
        assert client.get("/api/v1/metrics/delivery", headers=bearer).status_code == 200


def test_it_reads_no_more_history_than_the_environment_pages(client: TestClient) -> None:
    overview = client.app.state.overview  # type: ignore[attr-defined]
    client.get("/delivery")
    read = dict(overview._histories)
    for env in ("dev", "staging", "prod-eu", "prod-us"):
        client.get(f"/envs/{env}")
    assert dict(overview._histories) == read  # the same cache entries: nothing read again


def test_a_repo_without_promotions_shows_empty_charts(make_repo: MakeRepo, tmp_path: Path) -> None:
    service = helm_service(make_repo("helm-values"), tmp_path / "fresh")
    with TestClient(create_app(service)) as client:
        response = client.get("/delivery")
    assert response.status_code == 200
    assert "No version first seen in a source-fed environment reached a later one" in response.text
