"""The overview of several repos: the home page lists them, each repo's pages and API live
under its name, and a misconfigured repo is shown without stopping the others."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from starlette.testclient import TestClient

from bot.fleet import Fleet
from bot.settings import Settings
from bot.web.app import create_app
from tests.conftest import MakeRepo
from tests.test_fleet import FILES

CLOCK = datetime(2026, 1, 5, 10, 10, tzinfo=UTC)


def test_the_home_page_lists_the_repos_and_each_has_its_pages_and_api(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    first = make_repo(files=FILES).rename(tmp_path / "payments")
    broken = make_repo(files={**FILES, ".promobot.yaml": "version: 1\nenvironments: [\n"})
    broken = broken.rename(tmp_path / "broken")
    settings = Settings(
        forge="local",
        repos=f"{first},{broken}",
        data_dir=tmp_path / "data",
        workers=0,  # type: ignore[arg-type]
        coalesce="0s",
    )
    fleet = Fleet(settings, clock=lambda: CLOCK)
    payments = fleet.context(str(first))
    assert payments is not None
    payments.sync()  # one open promotion
    with TestClient(create_app(fleet)) as client:
        home = client.get("/")
        assert home.status_code == 200
        assert 'href="/repos/payments/"' in home.text and 'href="/repos/broken/"' in home.text
        assert str(tmp_path) not in home.text  # a checkout's path stays off the pages
        assert "ConfigError" in home.text or "environments" in home.text  # broken is reported
        listed = {r["repo"]: r for r in client.get("/api/v1/repos").json()["repos"]}
        assert listed["payments"]["open"] == 1 and listed["payments"]["blocked"] == 0
        assert listed["broken"]["problem"]

        page = client.get("/repos/payments/")
        assert page.status_code == 200 and "What runs where" in page.text
        assert 'href="/repos/payments/apps/api"' in page.text
        assert 'href="/"' in page.text  # back to the list of repos
        assert client.get("/repos/payments/apps/api").status_code == 200
        status = client.get("/api/v1/repos/payments/status")
        assert status.status_code == 200 and "api" in status.text
        # the repo's API description names its own base, so its paths resolve where it is served
        described = client.get("/api/v1/repos/payments/openapi.json").json()
        assert described["servers"] == [{"url": "/api/v1/repos/payments"}]
        assert "/status" in described["paths"] and "/api/v1/status" not in described["paths"]
        assert client.get("/repos/nowhere/").status_code == 404
        assert client.get("/api/v1/repos/nowhere/status").status_code == 404
        assert client.get("/repos/broken/").status_code == 503  # its own page says why
        metrics = client.get("/metrics").text
        assert 'promobot_repos{state="misconfigured"} 1.0' in metrics
        # the scrape started the delivery figures, each repo's under its name, and the broken
        # repo did not stop the others
        wanted = 'promobot_delivery_deployments_per_day{env="dev",repo="payments"}'
        deadline = time.monotonic() + 20
        while wanted not in client.get("/metrics").text:
            assert time.monotonic() < deadline, "no delivery figures for payments"
            time.sleep(0.05)
