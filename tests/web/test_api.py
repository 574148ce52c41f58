"""The JSON API: the same answers as the command line and the pages, and its OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.routing import Route
from starlette.testclient import TestClient

from bot.cli import main
from bot.composition import composition_id
from bot.service import Service
from bot.web.app import create_app
from tests.conftest import MakeRepo, commit_all
from tests.web.sites import helm_service


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    return make_repo("helm-values")


@pytest.fixture
def service(repo: Path, tmp_path: Path) -> Service:
    return helm_service(repo, tmp_path / "data")


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as client:
        yield client


def test_status_is_exactly_what_promobot_status_prints_as_json(
    client: TestClient, repo: Path
) -> None:
    printed = CliRunner().invoke(main, ["status", "--repo", str(repo), "--format", "json"])
    assert printed.exit_code == 0, printed.output
    response = client.get("/api/v1/status")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == json.loads(printed.output)
    assert list(response.json()["environments"]) == ["dev", "staging", "prod-eu", "prod-us"]


def test_an_app_in_every_environment_with_differences_promotions_and_history(
    client: TestClient,
) -> None:
    data = client.get("/api/v1/apps/api").json()
    assert data["app"] == "api"
    staging = data["environments"]["staging"]
    assert staging["components"] == {"image": "1.3.0", "chart": "2.3.0"}
    assert staging["composition"] == composition_id(staging["components"])
    assert staging["upstream"] == "dev"
    assert staging["differs"] == {"image": "1.4.2"}  # what dev runs
    assert staging["promotion"] == 1
    assert data["environments"]["dev"]["upstream"] is None
    assert [p["number"] for p in data["promotions"]] == [1, 3, 4]
    first = data["promotions"][0]
    assert first["env"] == "staging" and first["state"] == "pending"
    assert {"state": "pass", "text": "not on hold"} in first["gates"]
    assert first["changes"] == [
        {"app": "api", "component": "image", "before": "1.3.0", "after": "1.4.2"}
    ]
    (entry,) = data["history"]["prod-eu"]
    assert entry["components"] == {"image": "1.3.0", "chart": "2.2.1"}
    assert entry["subject"] == "Initial environments" and entry["author"] == "Ada Lovelace"


def test_the_history_of_an_environment(client: TestClient, repo: Path) -> None:
    path = repo / "envs/dev/web/values.yaml"
    path.write_text(path.read_text().replace("3.1.0", "3.2.0"))
    commit_all(repo, "Release web 3.2.0", "2026-01-05T10:05:00Z")
    client.app.state.overview.invalidate()  # type: ignore[attr-defined]
    data = client.get("/api/v1/envs/dev/history").json()
    assert data["env"] == "dev" and data["upstream"] is None
    newest, oldest = data["entries"]
    assert (
        newest["subject"] == "Release web 3.2.0" and newest["time"] == "2026-01-05T10:05:00+00:00"
    )
    assert newest["first"] is False and newest["pr"] is None
    (change,) = newest["changes"]
    assert change["app"] == "web" and change["changed"] == ["image"]
    assert change["before"]["components"] == {"image": "3.1.0"}
    assert change["after"] == {"composition": composition_id({"image": "3.2.0"}),
                               "components": {"image": "3.2.0"}}  # fmt: skip
    assert oldest["first"] is True and [c["app"] for c in oldest["changes"]] == ["api", "web"]


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("/api/v1/apps/payments", "unknown app 'payments'; known: api, web"),
        (
            "/api/v1/envs/qa/history",
            "unknown environment 'qa'; known: dev, staging, prod-eu, prod-us",
        ),
        ("/api/v1/nothing", "Not Found"),
    ],
)
def test_unknown_names_get_a_json_404(client: TestClient, url: str, error: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert response.json() == {"error": error}


def test_the_openapi_document_describes_every_api_path(client: TestClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.text)
    assert document["openapi"] == "3.1.0"
    served = {
        r.path for r in client.app.routes if isinstance(r, Route) and r.path.startswith("/api/")
    }  # type: ignore[attr-defined]
    assert set(document["paths"]) == served
    for path, item in document["paths"].items():
        assert set(item) == {"get"}, path
        assert "200" in item["get"]["responses"], path
        names = {p["name"] for p in item["get"].get("parameters", []) if p["in"] == "path"}
        assert names == {part[1:-1] for part in path.split("/") if part.startswith("{")}, path
    for ref in _refs(document):  # every reference resolves
        node: Any = document
        for step in ref.removeprefix("#/").split("/"):
            node = node[step]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)
