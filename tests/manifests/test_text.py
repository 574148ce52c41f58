"""What people read of rendered cells: the matrix line and its tooltip, the lines under a cell
in `promobot status --contents` and `/status`, and the terminal table of an app's environments
side by side — all from cells of the `helm create` chart rendered by Helm's SDK."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.manifests import text
from bot.manifests.model import Cell
from tests.manifests import cells
from tests.test_render import check_golden

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "manifests"
PROD = {**cells.ingress("api.example.com"), "image": {"tag": "1.17.0"}}


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("charts")


@pytest.fixture(scope="module")
def prod(charts: Path) -> Cell:
    return cells.cell(charts, "prod", PROD, [cells.database(), cells.crd(), cells.cluster_role()])


# --- line and detail ---------------------------------------------------------------------------


def test_a_line_names_workloads_exposure_and_data_then_markers(prod: Cell) -> None:
    assert text.line(prod) == "Deployment · Ingress api.example.com · StatefulSet 20Gi …"
    assert len(text.line(prod)) <= text.WIDTH
    # what the line leaves out is in the tooltip, one fact a line
    tooltip = text.detail(prod).splitlines()
    assert tooltip[0] == "web in prod: Argo CD Application envs/prod/web.yaml"
    assert "ClusterRole web-reader" in tooltip
    assert "Deployment web: nginx:1.17.0" in tooltip
    assert f"rendered id {prod.inventory.rendered_id}" in tooltip  # type: ignore[union-attr]


def test_a_wider_line_shows_every_marker(prod: Cell) -> None:
    assert text.line(prod, width=80) == (
        "Deployment · Ingress api.example.com · StatefulSet 20Gi + CRD + ClusterRole"
    )


def test_two_workloads_of_a_kind_are_counted(charts: Path) -> None:
    worker = cells.render(charts, {"fullnameOverride": "worker"}, "dev")
    cell = cells.cell(charts, "dev", {}, [d for d in worker if d["kind"] == "Deployment"])
    assert text.line(cell) == "Deployment ×2"


def test_a_chart_without_highlights_is_told_by_kind(charts: Path) -> None:
    docs = [
        d for d in cells.render(charts, {}, "dev") if d["kind"] in ("Service", "ServiceAccount")
    ]
    cell = Cell("web", "dev", "render: in .promobot.yaml", cells.inventory(docs))
    assert text.line(cell) == "Service · ServiceAccount"


def test_an_error_cell_gives_the_short_reason_and_the_tooltip_the_whole() -> None:
    error = (
        "chart oci://ghcr.io/acme/web:2.0.0 not found. Check the version in envs/qa/values.yaml."
    )
    cell = cells.failed("qa", error)
    assert text.line(cell) == "not rendered: chart oci://ghcr.io/acme/web:2.0.0 not found"
    assert text.detail(cell).splitlines()[-1] == f"not rendered: {error}"


def test_a_long_reason_is_cut_to_the_width() -> None:
    cell = cells.failed("qa", "values file envs/qa/" + "very-" * 20 + "long.yaml is missing")
    line = text.line(cell)
    assert len(line) == text.WIDTH and line.endswith("…")


def test_a_caveat_says_approx_and_a_warning_shows(charts: Path) -> None:
    cell = cells.cell(
        charts,
        "staging",
        cells.ingress("staging.example.com"),
        caveat="lookup returns nothing offline",
        warnings=["image ghcr.io/acme/web:1.5.0 reached no workload"],
    )
    assert text.line(cell) == "Deployment · Ingress staging.example.com (approx.) ⚠"
    tooltip = text.detail(cell)
    assert "approx.: lookup returns nothing offline" in tooltip
    assert "⚠ image ghcr.io/acme/web:1.5.0 reached no workload" in tooltip


# --- the lines under a cell --------------------------------------------------------------------


def test_highlights_are_markdown_safe(charts: Path) -> None:
    hostile = {"image": {"tag": "1.0|*x* @acme/admins <b>"}, "fullnameOverride": "web`x"}
    cell = cells.cell(charts, "dev", hostile, [cells.secret()])
    lines = text.highlights(cell)
    assert lines[0] == "Deployment `` web`x ``: nginx:1.0\\|\\*x\\* @acme/admins &lt;b&gt;"
    assert "Secret `web-credentials`" in lines


def test_highlights_for_a_terminal_drop_escapes(charts: Path) -> None:
    # a right-to-left override (Trojan source) would turn the rest of the line around
    cell = cells.cell(charts, "dev", {"image": {"tag": "1.0\u202e*x*"}})
    assert text.highlights(cell, markdown=False)[0] == "Deployment web: nginx:1.0*x*"


def test_highlights_of_an_error_and_a_caveat(charts: Path) -> None:
    assert text.highlights(cells.failed("qa", "no chart at charts/web")) == [
        "not rendered: no chart at charts/web"
    ]
    cell = cells.cell(charts, "dev", caveat="lookup returns nothing offline")
    assert text.highlights(cell)[-1] == "approx.: lookup returns nothing offline"


# --- the table ---------------------------------------------------------------------------------


def test_the_table_of_four_environments(charts: Path, prod: Cell) -> None:
    sheet = cells.sheet(
        [
            cells.cell(charts, "dev"),
            cells.failed("qa", "no chart at charts/web: the path in envs/qa/app.yaml is wrong"),
            cells.cell(charts, "staging", cells.ingress("staging.example.com")),
            prod,
            cells.cell(charts, "dev", app="api"),
            cells.cell(charts, "staging", app="api"),
        ],
        pending=1,
    )
    got = text.table(sheet, ["web", "api"], ["dev", "qa", "staging", "prod"])
    check_golden("table.txt", got, GOLDEN)
    assert max(len(line) for line in got.splitlines()) <= text.TABLE_WIDTH
    lines = got.splitlines()
    assert any(line.startswith("≠ Ingress web") for line in lines)  # dev has none
    assert any("= dev" in line for line in lines[lines.index("api") :])  # one rendered id


def test_eleven_environments_fit_100_columns_in_bands(charts: Path) -> None:
    envs = [f"prod-region-{i:02}" for i in range(11)]
    row = [cells.cell(charts, env, cells.ingress(f"{env}.example.com") if i else {}) for i, env in
             enumerate(envs)]  # fmt: skip
    got = text.table(cells.sheet(row), ["web"], envs)
    lines = got.splitlines()
    assert max(len(line) for line in lines) <= text.TABLE_WIDTH
    headers = [line.split() for line in lines if line.startswith(" ") and "prod-region" in line]
    assert [env for band in headers for env in band] == envs  # every env once, in order
    assert len(headers) > 1
