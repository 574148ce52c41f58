"""What the overview shows of each environment's rendering: the line under each matrix cell,
the app page's side-by-side table, and `GET /api/v1/apps/{app}/inventory` — on the helm-values
example served by the real app, its cells the `helm create` chart rendered by Helm's SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.manifests import text
from bot.manifests.model import Sheet
from bot.web.app import create_app
from tests.conftest import MakeRepo
from tests.manifests import cells
from tests.web.sites import Element, helm_service, parse

ERROR = "no chart at charts/api: the path in envs/prod-us/api.yaml is wrong. Fix the path."


@pytest.fixture(scope="module")
def sheet(tmp_path_factory: pytest.TempPathFactory) -> Sheet:
    """api: dev and staging alike, prod-eu with an Ingress and a database (approximately),
    prod-us not rendered; web: dev rendered, the rest still rendering."""
    charts = tmp_path_factory.mktemp("charts")
    prod = {**cells.ingress("api.example.com"), "image": {"tag": "1.17.0"}}
    return cells.sheet(
        [
            cells.cell(charts, "dev", app="api"),
            cells.cell(charts, "staging", app="api"),
            cells.cell(
                charts,
                "prod-eu",
                prod,
                [cells.database(), cells.secret()],
                app="api",
                caveat="lookup returns nothing offline",
            ),
            cells.failed("prod-us", ERROR, app="api"),
            cells.cell(charts, "dev", app="web"),
        ],
        pending=3,
    )


@pytest.fixture
def client(make_repo: MakeRepo, tmp_path: Path, sheet: Sheet) -> Iterator[TestClient]:
    service = helm_service(make_repo("helm-values"), tmp_path / "data", read_token="s3cret")
    app = create_app(service)
    app.state.overview.inventory = lambda: sheet
    with TestClient(app, headers={"Authorization": "Bearer s3cret"}) as client:
        yield client


def _cell(page: Element, app: str, env: str) -> Element:
    for tr in page.one("table", "matrix").one("tbody").all("tr"):
        if tr.one("th").text == app:
            return next(td for td in tr.all("td") if td.attrs["data-env"] == env)
    raise AssertionError(f"no row {app}")


# --- the matrix --------------------------------------------------------------------------------


def test_each_matrix_cell_says_what_it_renders_to(client: TestClient, sheet: Sheet) -> None:
    page = parse(client.get("/").text)
    eu = _cell(page, "api", "prod-eu").one("p", "contents")
    assert eu.text == "Deployment · Ingress api.example.com … (approx.)"
    assert eu.attrs["title"] == text.detail(sheet.cells[("api", "prod-eu")])
    assert "Secret web-credentials" in eu.attrs["title"]
    us = _cell(page, "api", "prod-us").one("p", "contents")
    assert us.text == "not rendered: no chart at charts/api: the path in envs/prod…"
    assert "error" in us.classes and ERROR in us.attrs["title"]
    assert _cell(page, "api", "dev").one("p", "contents").text == "Deployment"
    # the versions stay above it
    assert "image" in _cell(page, "api", "dev").text


def test_cells_not_rendered_yet_say_so_while_rendering_goes_on(client: TestClient) -> None:
    page = parse(client.get("/").text)
    waiting = _cell(page, "web", "staging").one("p", "contents")
    assert waiting.text == "rendering…" and "pending" in waiting.classes


def test_before_any_rendering_the_matrix_is_as_it_was(client: TestClient) -> None:
    client.app.state.overview.inventory = lambda: None  # type: ignore[attr-defined]
    page = parse(client.get("/").text)
    assert not page.all("p", "contents")
    assert not parse(client.get("/apps/api").text).all("table", "contents")


# --- the app page ------------------------------------------------------------------------------


def _contents(page: Element) -> tuple[list[str], dict[str, dict[str, Element]], set[str]]:
    """The environments, label → environment → cell, and the labels marked as partial."""
    table = page.one("table", "contents")
    envs = [th.text for th in table.one("thead").all("tr")[0].all("th")[1:]]
    rows: dict[str, dict[str, Element]] = {}
    partial = set()
    for tr in table.all("tr"):
        label = tr.all("th")[0].text.removeprefix("≠ ")
        rows[label] = {td.attrs["data-env"]: td for td in tr.all("td") if "data-env" in td.attrs}
        if "partial" in tr.classes:
            partial.add(label)
    return envs, rows, partial


def test_the_app_page_sets_the_environments_side_by_side(client: TestClient) -> None:
    page = parse(client.get("/apps/api").text)
    (section,) = [s for s in page.all("section") if s.attrs.get("id") == "contents"]
    assert section.one("h2").text == "What each environment contains"
    envs, rows, partial = _contents(page)
    assert envs == ["dev", "staging", "prod-eu", "prod-us"]  # promotion order
    # prod-eu has an Ingress that dev and staging lack: the row is marked, the gaps too
    ingress = rows["Ingress web"]
    assert "Ingress web" in partial
    assert ingress["prod-eu"].text == "api.example.com"
    assert ingress["dev"].text == "—" and "missing" in ingress["dev"].classes
    assert ingress["prod-us"].text == "" and "unknown" in ingress["prod-us"].classes
    assert rows["StatefulSet web-db"]["prod-eu"].text in ("postgres:16.4", "20Gi")
    assert rows["Secret web-credentials"]["prod-eu"].text == "✓"
    assert "Deployment web" not in partial
    assert rows["Deployment web"]["prod-eu"].text == "nginx:1.17.0"
    assert rows["Service"]["staging"].text == "1"  # counts by kind


def test_rendered_ids_errors_and_caveats_head_their_columns(
    client: TestClient, sheet: Sheet
) -> None:
    _, rows, _ = _contents(parse(client.get("/apps/api").text))
    ids = rows["rendered id"]
    dev = sheet.cells[("api", "dev")].inventory
    assert dev is not None and ids["dev"].one("code").text == dev.rendered_id[:12]
    assert ids["staging"].one("span", "same").text == "= dev"  # equal ids, said so
    assert "approx.: lookup returns nothing offline" in ids["prod-eu"].text
    assert ids["prod-us"].one("span", "error").text == "not rendered"
    assert ids["prod-us"].one("p", "problem").text == ERROR


def test_no_secret_data_reaches_the_pages(client: TestClient) -> None:
    page = client.get("/apps/api").text
    assert "web-credentials" in page  # named, as every other object
    assert "password" not in page.lower() and "data:" not in page


# --- the API -----------------------------------------------------------------------------------


def test_the_inventory_api_gives_each_cell_as_json(client: TestClient, sheet: Sheet) -> None:
    response = client.get("/api/v1/apps/api/inventory")
    assert response.status_code == 200
    data = response.json()
    assert data["app"] == "api" and data["commit"] == sheet.commit and data["pending"] == 3
    assert [c["env"] for c in data["cells"]] == ["dev", "staging", "prod-eu", "prod-us"]
    assert data["cells"][2] == sheet.cells[("api", "prod-eu")].to_json()
    assert data["cells"][2]["counts"]["StatefulSet"] == 1
    assert data["cells"][3]["error"] == ERROR and data["cells"][3]["objects"] == []


def test_the_inventory_api_chooses_environments(client: TestClient) -> None:
    data = client.get("/api/v1/apps/api/inventory?env=prod-us&env=dev").json()
    assert [c["env"] for c in data["cells"]] == ["dev", "prod-us"]  # promotion order
    web = client.get("/api/v1/apps/web/inventory?env=staging").json()
    assert web["cells"] == [] and web["pending"] == 3  # not rendered yet: it may come


@pytest.mark.parametrize(
    ("url", "status", "error"),
    [
        ("/api/v1/apps/payments/inventory", 404, "unknown app 'payments'; known: api, web"),
        (
            "/api/v1/apps/api/inventory?env=qa",
            404,
            "unknown environment 'qa'; known: dev, staging, prod-eu, prod-us",
        ),
        (
            "/api/v1/apps/api/inventory?envs=dev",
            400,
            "unknown query parameter 'envs'; known: env",
        ),
    ],
)
def test_the_inventory_api_refuses_what_it_does_not_know(
    client: TestClient, url: str, status: int, error: str
) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.json() == {"error": error}


def test_the_inventory_api_before_anything_is_rendered(client: TestClient) -> None:
    client.app.state.overview.inventory = lambda: None  # type: ignore[attr-defined]
    response = client.get("/api/v1/apps/api/inventory")
    assert response.status_code == 503
    assert response.json()["error"].startswith("nothing is rendered yet")


def test_the_inventory_api_needs_the_read_token(client: TestClient) -> None:
    response = client.get("/api/v1/apps/api/inventory", headers={"Authorization": ""})
    assert response.status_code == 401
    page = client.get("/apps/api", headers={"Authorization": ""})
    assert page.status_code == 401 and "web-credentials" not in page.text
