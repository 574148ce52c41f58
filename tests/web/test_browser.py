"""The overview in a real browser: headless Chromium (Debian's, driven by Playwright, with
JavaScript off) opens the pages of `promobot serve` running as its own process against the
GitHub simulator, on the helm-values example with the promotion PRs the service opened itself.

Saves a screenshot of `/` (to docs/overview.png with PROMOBOT_UPDATE_SCREENSHOT=1).

The matrix at real width: `promobot serve` on the local forge with a generated repo of 11
environments and long app names, measured in the browser (every cell holds its content, no two
texts overlap, ids never break, the matrix scrolls inside its own box).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SIGNING_KEY, commit_all, git
from tests.e2e.service import Promobot, wait_for
from tests.forgesim import Server
from tests.forgesim.world import Pull, World

# `make test` installs both (scripts/system-deps.sh, the dev extra): missing is a failure.
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None or importlib.util.find_spec("playwright") is None:
    raise RuntimeError("the browser tests need Debian's chromium and playwright: run `make test`")

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "examples" / "helm-values"
SCREENSHOT = ROOT / "docs" / "overview.png"
REPO = "acme/env-repo"
TOKEN = "bot-api-token"
ALICE = "alice-api-token"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
ENVS = ["dev", "staging", "prod-eu", "prod-us"]


def example_files() -> dict[str, bytes]:
    files = {
        p.relative_to(EXAMPLE).as_posix(): p.read_bytes() for p in EXAMPLE.rglob("*") if p.is_file()
    }
    # Sources on a closed loopback port: the reconcile at start polls them, fails at once, and
    # goes on (nothing leaves the machine).
    config = files[".promobot.yaml"].decode().replace("ghcr.io/acme", "127.0.0.1:9/acme")
    return {**files, ".promobot.yaml": config.encode()}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Server]]:
    """`promobot serve` on the example; alice released api 1.5.0 to dev a minute ago, and
    once promobot opened its PRs she approved the one into prod-eu and held the one into
    prod-us (each a webhook that promobot answers by evaluating the gates again)."""
    with Server() as server, pytest.MonkeyPatch.context() as env:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token=TOKEN)
        world.add_user("alice", token=ALICE)
        for minutes, make in ((3, create), (1, release)):
            # commits a minute apart (not in one second: a history is ordered by commit time)
            when = (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()
            env.setenv("GIT_AUTHOR_DATE", when)
            env.setenv("GIT_COMMITTER_DATE", when)
            make(world)
        data = tmp_path_factory.mktemp("promobot")
        promobot = Promobot({
            "PROMOBOT_FORGE": "github", "PROMOBOT_REPO": REPO, "PROMOBOT_SIGNING_KEY": SIGNING_KEY, "PROMOBOT_GITHUB_URL": server.github_url,
            "PROMOBOT_GITHUB_TOKEN": TOKEN, "PROMOBOT_WEBHOOK_SECRET": world.webhook_secret,
            "PROMOBOT_DATA_DIR": str(data), "PROMOBOT_RECONCILE_INTERVAL": "1h",
        })  # fmt: skip
        world.webhook_url = f"{promobot.url}/webhooks/github"  # PR events come back to it
        with promobot:

            def pulls() -> dict[str, Pull]:
                return {p.branch: p for p in world.repos[REPO].pulls.values() if p.state == "open"}

            def evaluated() -> bool:
                return len(pulls()) == 4 and not any(
                    "not evaluated yet" in p.body for p in pulls().values()
                )

            wait_for("promobot to open and evaluate its promotions", evaluated, 30)
            api = f"{server.github_url}/repos/{REPO}"
            auth = {"Authorization": f"token {ALICE}"}
            eu, us = pulls()["promobot/prod-eu/api"].number, pulls()["promobot/prod-us/api"].number
            httpx.post(
                f"{api}/pulls/{eu}/reviews", json={"event": "APPROVE"}, headers=auth
            ).raise_for_status()
            httpx.post(
                f"{api}/issues/{us}/labels", json={"labels": ["promobot:hold"]}, headers=auth
            ).raise_for_status()

            def reacted() -> bool:
                return ("(approved: `@alice`)" in pulls()["promobot/prod-eu/api"].body
                        and "❌ hold: on hold" in pulls()["promobot/prod-us/api"].body)  # fmt: skip

            wait_for("promobot to evaluate the approval and the hold", reacted, 30)
            yield promobot.url, server


def create(world: World) -> None:
    world.add_repo(REPO, example_files())


def release(world: World) -> None:
    values = (EXAMPLE / "envs/dev/api/values.yaml").read_text().replace('"1.4.2"', '"1.5.0"')
    world.push(REPO, "main", {"envs/dev/api/values.yaml": values}, "Release api 1.5.0", "alice")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def open_page(browser: Browser, url: str, width: int) -> Page:
    context = browser.new_context(
        viewport={"width": width, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    return page


def cells(page: Page) -> dict[str, dict[str, dict[str, Any]]]:
    """app → environment → {"text", "differs"}, as the browser shows them."""
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for tr in page.locator("table.matrix tbody tr").all():
        app = tr.locator("th").inner_text().strip()
        rows[app] = {
            td.get_attribute("data-env") or "": {
                "text": " ".join(td.inner_text().split()),
                "differs": "differs" in (td.get_attribute("class") or ""),
            }
            for td in tr.locator("td").all()
        }
    return rows


def test_the_matrix_shows_what_runs_where_and_what_waits(
    site: tuple[str, Server], browser: Browser, tmp_path: Path
) -> None:
    url, server = site
    page = open_page(browser, url + "/", 1280)
    headers = [
        h.split("\n")[0].strip() for h in page.locator("table.matrix thead th").all_inner_texts()
    ]
    assert headers == ["app", *ENVS]
    rows = cells(page)
    assert rows["api"]["dev"]["text"].startswith("image 1.5.0 chart 2.3.0")
    staging = rows["api"]["staging"]
    assert staging["differs"] and "image 1.3.0 dev: 1.5.0" in staging["text"]
    assert re.search(r"#\d+ waiting", staging["text"])
    assert "chart 2.2.1 staging: 2.3.0" in rows["api"]["prod-eu"]["text"]
    assert not rows["api"]["dev"]["differs"] and not rows["web"]["prod-eu"]["differs"]
    assert rows["web"]["prod-us"]["text"] == "—"
    # the differing cells look different
    background = "getComputedStyle(document.querySelector('{}')).backgroundColor"
    marked = page.evaluate(background.format("td.differs"))
    plain = page.evaluate(background.format("td.cell:not(.differs)"))
    assert marked != plain
    # what waits, and why: each open PR with its gates, linking to the forge
    promotions = page.locator("table.promotions tbody tr")
    assert promotions.count() == 4
    staging_pr = promotions.filter(has_text="Promote api to staging")
    assert "soak: dev has run image 1.5.0" in staging_pr.inner_text()
    eu = promotions.filter(has_text="Promote api to prod-eu").inner_text()
    assert "approvals: 1 of 2 from @acme/sre, alice (approved: @alice)" in eu
    held = promotions.filter(has_text="Promote api to prod-us")
    assert "✗ hold: on hold" in held.inner_text()
    assert re.search(r"✗ #\d+ blocked", rows["api"]["prod-us"]["text"])
    pulls = {p.title: p.number for p in server.world.repos[REPO].pulls.values()}
    number = pulls["Promote api to staging: image 1.3.0 → 1.5.0"]
    link = staging_pr.locator("a.badge").get_attribute("href")
    assert link == f"{server.url}/{REPO}/pull/{number}"
    assert page.locator("td.differs a.badge").first.get_attribute("href", timeout=1000)
    shot = (
        SCREENSHOT
        if os.environ.get("PROMOBOT_UPDATE_SCREENSHOT") == "1"
        else tmp_path / "overview.png"
    )
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_links_lead_to_the_app_environment_and_comparison_pages(
    site: tuple[str, Server], browser: Browser
) -> None:
    url, _ = site
    page = open_page(browser, url + "/", 1280)
    hrefs = {a.get_attribute("href") for a in page.locator("main a").all()}
    internal = sorted(h for h in hrefs if h and h.startswith("/"))
    assert {"/apps/api", "/apps/web", "/envs/dev", "/envs/prod-us"} <= set(internal)
    for href in internal:
        response = page.request.get(url + href)
        assert response.status == 200, href
    page.locator("table.matrix th.app a", has_text="api").click()
    assert page.url == url + "/apps/api"
    assert page.locator("h1").inner_text() == "api"
    dev = page.locator("section.history", has=page.locator("h3", has_text="dev"))
    assert "Release api 1.5.0 by alice" in " ".join(
        dev.locator("tbody tr").first.inner_text().split()
    )
    page.locator("section.history h3 a", has_text="staging").click()
    assert page.url == url + "/envs/staging"
    page.locator("a", has_text="compare with dev").click()
    assert page.url == url + "/compare?from=dev&to=staging"
    assert "1.5.0" in page.locator("table.compare").inner_text()


def test_the_filter_form_works_without_javascript(
    site: tuple[str, Server], browser: Browser
) -> None:
    url, _ = site
    page = open_page(browser, url + "/", 1280)
    page.fill("input[name=app]", "web")
    page.check("input[name=env][value=staging]")
    page.click("form.filters button")
    assert page.url == url + "/?app=web&env=staging"
    assert list(cells(page)) == ["web"]
    assert list(cells(page)["web"]) == ["staging"]


@pytest.mark.parametrize(
    "path", ["/", "/apps/api", "/envs/staging", "/compare?from=staging&to=prod-eu", "/delivery"]
)
def test_no_page_scrolls_sideways_at_1280_or_390_pixels(
    site: tuple[str, Server], browser: Browser, path: str
) -> None:
    url, _ = site
    for width in (1280, 390):
        page = open_page(browser, url + path, width)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (path, width)
        if path == "/" and width == 390:  # the matrix became cards: every cell readable
            cell = page.locator("td[data-env=staging]").first
            box = cell.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
            assert "staging" in page.evaluate(
                "getComputedStyle(document.querySelector('td[data-env=staging]'), '::before').content"
            )
        page.context.close()


# every element of the page inside its parent's box (an SVG's shapes inside the SVG), as
# [tag.class, its right edge, the parent's] for each one that sticks out
OVERFLOWING = """() => [...document.querySelectorAll('main *')].flatMap(e => {
  const box = e.getBoundingClientRect();
  const outer = (e.ownerSVGElement || e.parentElement).getBoundingClientRect();
  if (box.width === 0 && box.height === 0) return [];
  const out = box.left < outer.left - 1 || box.right > outer.right + 1;
  return out ? [[e.tagName + '.' + e.getAttribute('class'), box.right, outer.right]] : [];
})"""


@pytest.mark.parametrize("width", [1280, 390])
def test_the_delivery_page_draws_its_charts_inside_their_boxes(
    site: tuple[str, Server], browser: Browser, width: int
) -> None:
    url, _ = site
    page = open_page(browser, url + "/delivery", width)
    assert page.locator("header nav a", has_text="Delivery").count() == 1
    bars = page.locator("svg.bars")
    assert bars.count() == len(ENVS)  # deployments per week, one chart per environment
    assert page.locator("svg.span").count() == len(ENVS) - 1  # lead time after dev
    dev = bars.first.get_attribute("aria-label") or ""
    assert dev.startswith("dev: deployments per week") and dev.endswith(", 1")  # the release
    for chart in bars.all() + page.locator("svg.span").all():
        box = chart.bounding_box()
        assert box is not None and box["width"] > 100 and box["x"] + box["width"] <= width
    assert page.evaluate(OVERFLOWING) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    if os.environ.get("PROMOBOT_UPDATE_SCREENSHOT") and width == 1280:
        page.screenshot(path=str(ROOT / "docs" / "delivery.png"), full_page=True)
    page.context.close()


# --- the matrix at real width ------------------------------------------------------------------

# (environment, upstream), in promotion order: two chains, long names
WIDE_ENVS = [
    ("integration-gpu", None), ("integration-non-gpu", "integration-gpu"),
    ("qa-functional-tests", "integration-non-gpu"), ("qa-performance-tests", "qa-functional-tests"),
    ("staging-eu-central-1", "qa-performance-tests"), ("staging-us-east-1", "qa-performance-tests"),
    ("canary-eu-central-1", "staging-eu-central-1"), ("prod-eu-central-1", "canary-eu-central-1"),
    ("prod-us-east-1", "staging-us-east-1"), ("prod-asia-northeast-1", "prod-us-east-1"),
    ("prod-asia-southeast-2", "prod-asia-northeast-1"),
]  # fmt: skip
WIDE_APPS = ["customer-data-platform-ingestion-gateway", "payments-settlement-reconciliation-jobs", "api"]  # fmt: skip


def wide_files() -> dict[str, str]:
    """Every environment one release behind its upstream, so every cell but the first column
    differs: a 12-character commit id, a long pre-release and a pinned digest per app."""
    config = ["version: 1", "environments:"]
    for env, upstream in WIDE_ENVS:
        gates = ", gates: {approvals: 1}" if env.startswith("prod-") else ""
        config.append(f"  {env}: {{from: {upstream}{gates}}}" if upstream else f"  {env}: {{}}")
    config.append("apps:")
    files = {}
    for app in WIDE_APPS:
        config += [
            f"  {app}:",
            "    components:",
            f"      image: {{source: {{image: 127.0.0.1:9/acme/{app}}}, target: {{file: 'envs/{{env}}/{app}.yaml', field: image.tag}}}}",
            f"      chart: {{source: {{chart: {app}, repo: 'oci://127.0.0.1:9/charts'}}, target: {{file: 'envs/{{env}}/{app}.yaml', field: chart.version}}}}",
            f"      proxy: {{source: {{image: 127.0.0.1:9/acme/proxy, digest: true}}, target: {{file: 'envs/{{env}}/{app}.yaml', field: proxy.image}}}}",
        ]  # fmt: skip
        for depth, (env, _) in enumerate(WIDE_ENVS):
            release = len(WIDE_ENVS) - depth
            commit = hashlib.sha1(f"{app} {release}".encode()).hexdigest()[:12]
            digest = "sha256:" + hashlib.sha256(f"proxy {release}".encode()).hexdigest()
            files[f"envs/{env}/{app}.yaml"] = (
                f'image: {{tag: "{commit}"}}\n'
                f'chart: {{version: "2.14.{release}-rc.{release}+build.202601{release:02}"}}\n'
                f'proxy: {{image: "1.27.{release}@{digest}"}}\n'
            )
    return {".promobot.yaml": "\n".join(config) + "\n", **files}


def wide_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local checkout of the wide repo, one commit."""
    repo = tmp_path_factory.mktemp("wide") / "env-repo"
    for path, text in wide_files().items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "Initial environments")
    return repo


@pytest.fixture(scope="module")
def wide_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`promobot serve` on a local checkout of the wide repo, with the promotion PRs it opened."""
    repo = wide_repo(tmp_path_factory)
    data = tmp_path_factory.mktemp("promobot-wide")
    settings = {"PROMOBOT_FORGE": "local", "PROMOBOT_REPO": str(repo), "PROMOBOT_DATA_DIR": str(data)}  # fmt: skip
    with Promobot(settings) as promobot:
        every = f">{(len(WIDE_ENVS) - 1) * len(WIDE_APPS)} open promotions<"
        wait_for(
            "promobot to open its promotions", lambda: every in httpx.get(promobot.url).text, 60
        )
        yield promobot.url


# In the page: what is out of place in the matrix, as sentences (none when the layout holds).
MISPLACED = """() => {
  const box = (e) => e.getBoundingClientRect();
  const where = (e) => `${e.tagName.toLowerCase()}.${e.className || "-"} "${e.textContent.trim().slice(0, 50)}"`
    + ` in ${e.closest("td")?.dataset.env || e.closest("th")?.textContent.trim().slice(0, 50)}`;
  const problems = [], texts = [];
  for (const cell of document.querySelectorAll("table.matrix th, table.matrix td")) {
    const c = box(cell);
    for (const e of cell.querySelectorAll("*")) {
      const r = box(e);
      if (r.width === 0 && r.height === 0) continue;
      if (e.closest(".unseen")) continue;  // for screen readers and copying: not on the screen
      if (r.left < c.left - 0.5 || r.right > c.right + 0.5 || r.top < c.top - 0.5 || r.bottom > c.bottom + 0.5)
        problems.push(`${where(e)} overflows its cell`);
      if ([...e.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim()))
        texts.push(e);
    }
  }
  for (const e of document.querySelectorAll("table.matrix :is(.v, .up, .id, .badge)")) {
    const range = document.createRange();
    range.selectNodeContents(e);
    const lines = [...range.getClientRects()];
    const top = Math.min(...lines.map((r) => r.top)), bottom = Math.max(...lines.map((r) => r.bottom));
    if (bottom - top > 1.5 * Math.max(...lines.map((r) => r.height))) problems.push(`${where(e)} breaks across lines`);
  }
  for (let i = 0; i < texts.length; i++) {
    const a = box(texts[i]);
    for (let j = i + 1; j < texts.length; j++) {
      const b = box(texts[j]);
      if (texts[i].contains(texts[j]) || texts[j].contains(texts[i])) continue;
      if (Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5
          && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5)
        problems.push(`${where(texts[i])} overlaps ${where(texts[j])}`);
    }
  }
  return problems;
}"""


@pytest.mark.parametrize("width", [1280, 390])
def test_the_matrix_holds_11_environments_and_long_names(
    wide_site: str, browser: Browser, width: int
) -> None:
    page = open_page(browser, wide_site + "/", width)
    headers = page.locator("table.matrix thead th a").all_inner_texts()
    assert [h.strip() for h in headers] == [env for env, _ in WIDE_ENVS]
    assert page.locator("table.matrix td .up").count() == 10 * len(WIDE_APPS) * 3
    problems: list[str] = page.evaluate(MISPLACED)
    assert problems == [], f"{len(problems)} problems, the first: {problems[:10]}"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    wrap = page.evaluate(
        "(w => ({scroll: w.scrollWidth, client: w.clientWidth}))(document.querySelector('.matrix-wrap'))"
    )
    if width >= 760:  # the matrix scrolls sideways inside its box, the app column stays
        assert wrap["scroll"] > wrap["client"]
        sticky = """() => {
          const wrap = document.querySelector('.matrix-wrap');
          wrap.scrollLeft = wrap.scrollWidth;
          const app = document.querySelector('table.matrix tbody th.app').getBoundingClientRect();
          return [app.left - wrap.getBoundingClientRect().left, wrap.scrollLeft];
        }"""
        offset, scrolled = page.evaluate(sticky)
        assert scrolled > 0 and abs(offset) <= 1
    else:  # cards: nothing to scroll
        assert wrap["scroll"] <= wrap["client"]
    page.context.close()


# Each upstream label in the matrix as the eye reads it: [the whole name, what shows of it]
# (a middle cut short shows as "…"), and whether some of its start or end is cut.
LABELS = """() => [...document.querySelectorAll('table.matrix .up > .from')].map(label => {
  const [start, middle, end] = ['.start', '.middle', '.end'].map(c => label.querySelector(c));
  const cut = (e) => e.scrollWidth > e.clientWidth + 0.5;
  const inside = (e) => { const b = e.getBoundingClientRect(), o = label.getBoundingClientRect();
    return b.left >= o.left - 0.5 && b.right <= o.right + 0.5; };
  const shown = start.dataset.show + (middle.dataset.show && cut(middle) ? '…' : middle.dataset.show)
    + end.dataset.show;
  const kept = [start, end].some(e => e.dataset.show && (cut(e) || !inside(e)));
  return [label.querySelector('.unseen').textContent, shown, kept];
})"""

SCROLL_STATE = r"""() => {
  const hint = document.querySelector('table.matrix thead th .scroll-hint');
  const shade = getComputedStyle(document.querySelector('.matrix-box'), '::after');
  const app = getComputedStyle(document.querySelector('table.matrix tbody th.app'));
  const box = hint.getBoundingClientRect();
  const colour = app.boxShadow.match(/rgba?\(([^)]*)\)/);
  const alpha = colour ? parseFloat(colour[1].split(',')[3] ?? '1') : 0;
  return {hint: getComputedStyle(hint).visibility, hint_text: hint.textContent,
          hint_in_view: box.right <= innerWidth && box.width > 0,
          shade: parseFloat(shade.opacity), shadow: alpha};
}"""


def test_the_matrix_at_1280_shows_that_it_scrolls_and_tells_every_name_apart(
    wide_site: str, browser: Browser
) -> None:
    """At 1280 px 5 of 11 columns show: nothing said that more were to the right, and the
    upstream labels were cut to `integrat…`, so integration-gpu read as integration-non-gpu."""
    page = open_page(browser, wide_site + "/", 1280)
    # the scroll timeline takes effect from the next frame drawn: waited for, not slept
    page.wait_for_function(f"({SCROLL_STATE})().hint === 'visible'", polling=50, timeout=10_000)
    before = page.evaluate(SCROLL_STATE)
    assert before["hint"] == "visible" and before["hint_text"] == "scroll →"
    assert before["hint_in_view"] and before["shade"] > 0.9 and before["shadow"] == 0
    labels: list[tuple[str, str, bool]] = page.evaluate(LABELS)
    assert len(labels) == 10 * len(WIDE_APPS) * 3
    assert [label for label in labels if label[2]] == []  # no start nor end is cut
    seen: dict[str, set[str]] = {}
    for name, shown, _ in labels:
        seen.setdefault(name, set()).add(shown)
    assert any("…" in shown for shown in seen["integration-non-gpu:"])  # it did need cutting
    for name, shown_as in seen.items():
        others = set().union(*(s for n, s in seen.items() if n != name))
        assert not shown_as & others, (name, shown_as & others)
    # every cell's accessible name and every label's title hold the whole name
    cell = page.locator("table.matrix td[data-env=qa-functional-tests]").first
    snapshot = cell.aria_snapshot()
    assert "integration-non-gpu: " in snapshot, snapshot
    assert page.locator(".up[title^='integration-non-gpu runs ']").count() == len(WIDE_APPS) * 3
    page.locator(".matrix-wrap").evaluate("wrap => { wrap.scrollLeft = wrap.scrollWidth; }")
    page.wait_for_function(f"({SCROLL_STATE})().hint === 'hidden'", polling=50, timeout=10_000)
    after = page.evaluate(SCROLL_STATE)
    assert after["hint"] == "hidden" and after["shade"] < 0.1 and after["shadow"] > 0.2
    app = page.locator("table.matrix tbody th.app").first.bounding_box()
    assert app is not None and 0 <= app["x"] <= 40  # the app column stayed in view
    shots = os.environ.get("PROMOBOT_MATRIX_SCREENSHOTS")  # a folder: to look at both ends
    if shots:
        page.screenshot(path=Path(shots) / "end.png")
        page.locator(".matrix-wrap").evaluate("wrap => { wrap.scrollLeft = 0; }")
        page.screenshot(path=Path(shots) / "start.png")
    page.context.close()


def test_a_matrix_that_fits_says_nothing_of_scrolling(
    site: tuple[str, Server], browser: Browser
) -> None:
    url, _ = site
    page = open_page(browser, url + "/", 1280)
    state = page.evaluate(SCROLL_STATE)  # what the first frame drew: nothing overflows
    assert state["hint"] == "hidden" and state["shade"] == 0 and state["shadow"] == 0
    page.context.close()
