"""What each environment contains, in a real browser (Debian's Chromium driven by Playwright,
JavaScript off) at 11 environments: the app page's side-by-side table scrolls in its own box
with its first column staying, the Ingress only the prod environments have is marked where it
is missing, and the lines under the matrix cells stay inside their cells.

The app runs in this process on 127.0.0.1 (uvicorn), so its overview can be handed a sheet of
cells rendered from the `helm create` chart by Helm's SDK. Saves a screenshot of the table,
scrolled to its end (to docs/contents.png with PROMOBOT_UPDATE_SCREENSHOT=1)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from bot.manifests.model import Sheet
from bot.web.app import create_app
from tests.manifests import cells
from tests.sources.servers import serve
from tests.web import test_browser
from tests.web.sites import helm_service
from tests.web.test_browser import MISPLACED, ROOT, WIDE_ENVS, open_page, wide_repo

ENVS = [env for env, _ in WIDE_ENVS]
SCREENSHOT = ROOT / "docs" / "contents.png"  # with PROMOBOT_UPDATE_SCREENSHOT=1
APP = "api"


def sheet(tmp: pytest.TempPathFactory) -> Sheet:
    """api in every environment: the prod ones with an Ingress, the canary not rendered."""
    charts = tmp.mktemp("charts")
    found = []
    for env in ENVS:
        if env.startswith("canary-"):
            found.append(cells.failed(env, "values file envs/canary/api.yaml is missing", APP))
            continue
        values = cells.ingress(f"api.{env}.example.com") if env.startswith("prod-") else {}
        found.append(cells.cell(charts, env, values, app=APP))
    return cells.sheet(found)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    service = helm_service(wide_repo(tmp_path_factory), tmp_path_factory.mktemp("promobot"))
    app = create_app(service)
    rendered = sheet(tmp_path_factory)
    app.state.overview.inventory = lambda: rendered
    with serve(app) as url:
        yield url


browser = test_browser.browser  # one Chromium per module, launched as the other browser tests do


# In the page: the Ingress row brought into view and the table scrolled to its right end: where its first column is, and
# whether the label of the Ingress row is what the browser shows at its centre (not covered).
STICKY = """() => {
  const wrap = document.querySelector('.contents-wrap');
  const before = {scroll: wrap.scrollWidth, client: wrap.clientWidth};
  const label = [...document.querySelectorAll('table.contents tbody th.label')]
    .find((th) => th.textContent.includes('Ingress web'));
  label.scrollIntoView({block: 'center'});
  wrap.scrollLeft = wrap.scrollWidth;
  const r = label.getBoundingClientRect(), w = wrap.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return {...before, scrolled: wrap.scrollLeft, offset: r.left - w.left,
          visible: label.contains(hit), page: document.documentElement.scrollWidth};
}"""


@pytest.mark.parametrize("width", [1280, 390])
def test_the_contents_table_reads_at_11_environments(
    site: str, browser: Browser, width: int
) -> None:
    page = open_page(browser, f"{site}/apps/{APP}", width)
    table = page.locator("table.contents")
    headers = table.locator("thead tr").first.locator("th").all_inner_texts()
    assert [h.strip() for h in headers] == ["environment", *ENVS]  # promotion order, whole
    found = page.evaluate(STICKY)
    assert found["page"] <= width  # only the table scrolls, never the page
    assert found["scroll"] > found["client"] and found["scrolled"] > 0
    assert abs(found["offset"]) <= 1 and found["visible"]  # the first column stays, readable
    if os.environ.get("PROMOBOT_UPDATE_SCREENSHOT") and width == 1280:
        page.locator("#contents").screenshot(path=str(SCREENSHOT))
    page.context.close()


def test_the_ingress_the_prod_environments_have_is_marked_where_it_is_missing(
    site: str, browser: Browser
) -> None:
    page = open_page(browser, f"{site}/apps/{APP}", 1280)
    row = page.locator("table.contents tr.partial", has_text="Ingress web")
    assert row.locator("th .mark").inner_text() == "≠"
    missing = row.locator("td.missing")
    marked = [m.get_attribute("data-env") for m in missing.all()]
    assert marked == [e for e in ENVS if not e.startswith(("prod-", "canary-"))]
    assert row.locator("td[data-env='canary-eu-central-1']").inner_text() == ""  # not known
    assert (
        row.locator("td[data-env='prod-us-east-1']").inner_text()
        == "api.prod-us-east-1.example.com"
    )
    colours = missing.first.evaluate("td => getComputedStyle(td).backgroundColor")
    plain = row.locator("td[data-env='prod-us-east-1']").evaluate(
        "td => getComputedStyle(td).backgroundColor"
    )
    assert colours != plain  # the gap shows as a gap, not only as a dash
    ids = page.locator("table.contents tr.ids td")
    assert ids.nth(1).inner_text().startswith("= integration-gpu")  # equal renderings, said
    assert "not rendered" in ids.nth(ENVS.index("canary-eu-central-1")).inner_text()
    page.context.close()


def test_the_matrix_lines_stay_inside_their_cells(site: str, browser: Browser) -> None:
    page = open_page(browser, site + "/", 1280)
    lines = page.locator("table.matrix tbody tr", has_text=APP).last.locator("p.contents")
    assert lines.count() == len(ENVS)
    assert lines.nth(ENVS.index("prod-us-east-1")).inner_text() == (
        "Deployment · Ingress api.prod-us-east-1.example.com"
    )
    assert page.evaluate(MISPLACED) == []
    page.context.close()
