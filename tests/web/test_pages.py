"""The overview pages, through starlette's ASGI client: what a person sees on each page, the read
protection, and what a page view costs the forge (the GitHub simulator counts the calls)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.composition import composition_id
from bot.forges.local import LocalForge
from bot.service import Service
from bot.settings import Settings
from bot.web.app import create_app
from tests.conftest import SIGNING_KEY, MakeRepo, commit_all
from tests.forgesim import Server
from tests.web.sites import helm_service, matrix, parse

ENVS = ["dev", "staging", "prod-eu", "prod-us"]


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


def bump(repo: Path, env: str, app: str, old: str, new: str, message: str, when: str) -> None:
    path = repo / "envs" / env / app / "values.yaml"
    path.write_text(path.read_text().replace(old, new))
    commit_all(repo, message, when)


# --- / -------------------------------------------------------------------------------------------


def test_the_matrix_shows_every_component_and_composition_id_in_promotion_order(
    client: TestClient,
) -> None:
    envs, rows = matrix(parse(client.get("/").text))
    assert envs == ENVS
    assert list(rows) == ["api", "web"]
    dev = rows["api"]["dev"]
    assert "image 1.4.2" in dev.text and "chart 2.3.0" in dev.text
    assert composition_id({"image": "1.4.2", "chart": "2.3.0"}) in dev.text
    assert rows["web"]["prod-us"].text == "—"  # web is not deployed to prod-us


def test_cells_that_differ_from_upstream_are_marked_with_what_upstream_runs(
    client: TestClient,
) -> None:
    _, rows = matrix(parse(client.get("/").text))
    staging = rows["api"]["staging"]
    assert staging.differs
    assert "image 1.3.0 dev: 1.4.2" in staging.text  # runs 1.3.0; dev runs 1.4.2
    assert "chart 2.3.0 " in staging.text and "dev: 2.3.0" not in staging.text
    assert "chart 2.2.1 staging: 2.3.0" in rows["api"]["prod-eu"].text
    assert not rows["api"]["dev"].differs  # nothing upstream of dev
    assert not rows["web"]["prod-eu"].differs  # runs what staging runs
    summary = parse(client.get("/").text).one("p", "summary").text
    assert "4 cells differ from upstream" in summary
    assert "4 open promotions" in summary and "4 waiting" in summary


def test_open_promotions_show_their_gates_and_link_from_the_cells(
    client: TestClient, service: Service
) -> None:
    service.forge.update_pr(3, labels=("promotion", "promobot:hold"))
    service.gatekeeper.evaluate(service.forge.get_pr(3), merge=False)
    client.app.state.overview.invalidate()  # type: ignore[attr-defined]
    page = parse(client.get("/").text)
    _, rows = matrix(page)
    assert "#1 waiting" in rows["api"]["staging"].text
    assert "✗ #3 blocked" in rows["api"]["prod-eu"].text
    promotions = page.one("table", "promotions").all("tr")[1:]
    badges = [e.text for tr in promotions for e in tr.iter() if "badge" in e.classes]
    assert badges == ["#1 waiting", "#2 waiting", "✗ #3 blocked", "#4 waiting"]
    texts = [tr.text for tr in promotions]
    assert "Promote api to staging: image 1.3.0 → 1.4.2" in texts[0]
    assert (
        "○ soak: dev has run image 1.4.2 since 2026-01-05 10:00 UTC; needs 30m, until "
        "2026-01-05 10:30 UTC" in texts[0]
    )
    assert "✓ not on hold" in texts[0]
    held = next(t for t in texts if "#3" in t)
    assert "✗ hold: on hold" in held and "○ approvals: 0 of 2 from @acme/sre, alice" in held
    assert "1 blocked" in page.one("p", "summary").text


def test_filters_narrow_apps_environments_and_differences(client: TestClient, repo: Path) -> None:
    envs, rows = matrix(parse(client.get("/?app=web").text))
    assert list(rows) == ["web"] and envs == ENVS
    envs, rows = matrix(parse(client.get("/?env=staging&env=prod-eu").text))
    assert envs == ["staging", "prod-eu"] and list(rows) == ["api", "web"]
    _, rows = matrix(parse(client.get("/?app=a*").text))
    assert list(rows) == ["api"]
    page = parse(client.get("/?app=nothing-like-it").text)
    assert "No app matches these filters" in page.text
    # the form keeps what was chosen, with plain GET and no script
    form = parse(client.get("/?app=web&env=dev").text).one("form", "filters")
    assert form.attrs["method"] == "get"
    boxes = {
        i.attrs["value"]: "checked" in i.attrs
        for i in form.all("input")
        if i.attrs.get("name") == "env"
    }
    assert boxes == {"dev": True, "staging": False, "prod-eu": False, "prod-us": False}
    assert not parse(client.get("/").text).all("script")


def test_the_env_filter_takes_globs_as_the_command_line_does(client: TestClient) -> None:
    header, _ = matrix(parse(client.get("/?env=prod-*&env=dev").text))
    assert header == ["dev", "prod-eu", "prod-us"]
    response = client.get("/?env=qa-*")
    assert response.status_code == 400
    assert "no environment matches 'qa-*' in env=" in parse(response.text).one("p", "error").text


def test_only_differing_hides_apps_that_run_the_same_everywhere(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(files={
        ".promobot.yaml": "version: 1\nenvironments: {dev: {}, prod: {from: dev}}\napps:\n"
        + "".join(f"  {a}: {{components: {{image: {{source: {{image: r/{a}}}, target: "
                  f'{{file: "{{env}}/{a}.yaml", field: tag}}}}}}}}\n' for a in ("calm", "moving")),
        "dev/calm.yaml": "tag: 1.0.0\n", "prod/calm.yaml": "tag: 1.0.0\n",
        "dev/moving.yaml": "tag: 1.1.0\n", "prod/moving.yaml": "tag: 1.0.0\n",
    })  # fmt: skip
    service = Service(Settings(forge="local", repo=str(repo), data_dir=tmp_path / "d", workers=0))
    with TestClient(create_app(service)) as client:
        _, rows = matrix(parse(client.get("/").text))
        assert list(rows) == ["calm", "moving"]
        _, rows = matrix(parse(client.get("/?only=differing").text))
        assert list(rows) == ["moving"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("/?env=qa", "unknown environment 'qa' in env=; known: dev, staging, prod-eu, prod-us"),
        ("/?only=same", "only='same': the one choice is only=differing"),
        ("/?colour=red", "unknown query parameter 'colour'; known: app, env, only"),
        ("/?app=" + "x" * 201, "app is longer than 200 characters"),
        ("/compare?from=dev", "to= is missing"),
        ("/compare?from=qa&to=dev", "from='qa' is not an environment"),
        ("/apps/api?x=1", "unknown query parameter 'x'"),
    ],
)
def test_bad_query_parameters_get_a_400_page_saying_why(
    client: TestClient, url: str, says: str
) -> None:
    response = client.get(url)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert says in parse(response.text).one("p", "error").text


@pytest.mark.parametrize(
    ("url", "says", "known"),
    [
        ("/apps/payments", "There is no app 'payments' in .promobot.yaml.", "/apps/api"),
        ("/envs/qa", "There is no environment 'qa' in .promobot.yaml.", "/envs/prod-eu"),
        ("/nowhere", "Nothing is served at /nowhere.", None),
    ],
)
def test_unknown_apps_environments_and_paths_get_a_404_page(
    client: TestClient, url: str, says: str, known: str | None
) -> None:
    response = client.get(url)
    assert response.status_code == 404
    page = parse(response.text)
    assert says in page.one("p", "error").text
    if known is not None:
        assert known in page.one("main").links().values()


# --- /apps, /envs, /compare ----------------------------------------------------------------------


def test_the_app_page_shows_one_app_everywhere_and_its_history_in_each(
    repo: Path, tmp_path: Path
) -> None:
    bump(repo, "dev", "api", '"1.4.2"', '"1.5.0"', "Release api 1.5.0", "2026-01-05T10:05:00Z")
    service = helm_service(repo, tmp_path / "data")
    with TestClient(create_app(service)) as client:
        page = parse(client.get("/apps/api").text)
    _, rows = matrix(page)
    assert list(rows) == ["api"]
    assert "image 1.3.0 dev: 1.5.0" in rows["api"]["staging"].text
    assert "image from ghcr.io/acme/api" in page.one("ul", "sources").text
    histories = {s.one("h3").text: s.one("table") for s in page.all("section", "history")}
    assert list(histories) == ENVS
    dev = [tr.text for tr in histories["dev"].all("tr")[1:]]
    assert len(dev) == 2
    assert "image 1.5.0 was 1.4.2" in dev[0] and "Release api 1.5.0 by Ada Lovelace" in dev[0]
    assert "2026-01-05 10:05 UTC" in dev[0]
    assert "Initial environments" in dev[1]
    assert len(histories["staging"].all("tr")) == 2  # one composition since the start


def test_the_app_page_shows_each_source_as_written_and_links_only_real_pages(
    repo: Path, tmp_path: Path
) -> None:
    """An HTTP chart was shown as its repository's URL with the chart's name appended, a page
    that does not exist."""
    config = repo / ".promobot.yaml"
    config.write_text(
        config.read_text().replace("oci://ghcr.io/acme/charts", "https://charts.acme.io/helm/")
    )
    commit_all(repo, "the api chart from an HTTP Helm repository")
    with TestClient(create_app(helm_service(repo, tmp_path / "data"))) as client:
        page = parse(client.get("/apps/api").text)
    items = {li.one("span", "c").text: li for li in page.one("ul", "sources").all("li")}
    assert items["chart"].text == "chart from api from https://charts.acme.io/helm"
    assert items["chart"].all("a") == []
    assert items["image"].text == "image from ghcr.io/acme/api"
    assert [a.attrs["href"] for a in items["image"].all("a")] == ["https://ghcr.io/acme/api"]


def test_the_env_page_shows_what_changed_in_which_commit_or_pr_and_by_whom(
    client: TestClient, service: Service, repo: Path
) -> None:
    service.forge.merge(1, service.forge.get_pr(1).head_sha)  # promobot/staging/api
    bump(repo, "staging", "web", "3.0.2", "3.0.3", "Hotfix web", "2026-01-05T11:00:00Z")
    client.app.state.overview.invalidate()  # type: ignore[attr-defined]
    page = parse(client.get("/envs/staging").text)
    assert "Takes versions from dev; feeds prod-eu, prod-us." in page.one("p", "summary").text
    assert "auto-merge, soak 30m" in page.one("p", "summary").text
    rows = [tr.all("td") for tr in page.one("table", "history").all("tr")[1:]]
    what = [[td.text for td in tr] for tr in rows]
    web = composition_id({"image": "3.0.3"})
    assert what[0][1] == f"web image 3.0.2 → 3.0.3 → {web}"
    assert "Hotfix web" in what[0][2] and what[0][3] == "Ada Lovelace"
    assert (
        what[1][1]
        == f"api image 1.3.0 → 1.4.2 → {composition_id({'image': '1.4.2', 'chart': '2.3.0'})}"
    )
    assert "Promote api to staging: image 1.3.0 → 1.4.2" in what[1][2]
    assert (
        what[1][3] == "promobot"
    )  # the promotion commit promobot wrote; its subject is the PR title
    assert what[2][1] == (
        "2 apps as first recorded api image 1.3.0, chart 2.3.0 → 19bf992bc540 "
        "web image 3.0.2 → f2ee3769e1e1"
    )
    assert len(what) == 3


def test_the_env_page_lists_the_open_promotions_into_it_with_their_gates(
    client: TestClient, service: Service
) -> None:
    """The environment page showed its history but not the promotions waiting to go in."""
    service.forge.update_pr(3, labels=("promotion", "promobot:hold"))
    service.gatekeeper.evaluate(service.forge.get_pr(3), merge=False)
    client.app.state.overview.invalidate()  # type: ignore[attr-defined]
    overview = parse(client.get("/").text).one("table", "promotions").all("tr")[1:]
    shown = {tr.all("td")[1].text.split()[0]: tr.text for tr in overview}
    page = parse(client.get("/envs/prod-eu").text)
    rows = page.one("table", "promotions").all("tr")[1:]
    assert [tr.text for tr in rows] == [shown["prod-eu"]]  # as the overview shows it
    badges = [e.text for e in rows[0].iter() if "badge" in e.classes]
    assert badges == ["✗ #3 blocked"]
    assert "✗ hold: on hold" in rows[0].text and "○ approvals: 0 of 2" in rows[0].text
    staging = parse(client.get("/envs/staging").text).one("table", "promotions")
    assert len(staging.all("tr")[1:]) == 2  # api and web
    service.forge.close_pr(1)
    service.forge.close_pr(2)
    client.app.state.overview.invalidate()  # type: ignore[attr-defined]
    page = parse(client.get("/envs/staging").text)
    assert page.all("table", "promotions") == []
    assert "No promotion into staging is open." in page.text


def test_compare_shows_the_version_diff_table_between_two_environments(
    client: TestClient,
) -> None:
    page = parse(client.get("/compare?from=staging&to=prod-eu").text)
    assert "1 app differ between staging and prod-eu; 1 run the same composition" in page.text
    rows = [
        [c.text for c in tr.all("th") + tr.all("td")]
        for tr in page.one("table", "compare").all("tr")[1:]
    ]
    assert rows == [
        ["api", "image", "1.3.0", "1.3.0", "the same"],
        ["chart", "2.3.0", "2.2.1", "newer"],
    ]
    swapped = parse(client.get("/compare?from=prod-eu&to=staging").text)
    assert "older" in swapped.one("table", "compare").text
    assert "swap" in page.one("form").links()
    form = parse(client.get("/compare").text)
    assert not form.all("table") and form.one("form").attrs["method"] == "get"


def test_pages_escape_what_comes_from_the_repo(client: TestClient, repo: Path) -> None:
    bump(
        repo,
        "dev",
        "web",
        "3.1.0",
        "3.1.1",
        "<script>alert(1)</script> & more",
        "2026-01-05T10:06:00Z",
    )
    client.app.state.overview.invalidate()  # type: ignore[attr-defined]
    html = client.get("/envs/dev").text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html


def test_the_stylesheet_is_served(client: TestClient) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200 and "table.matrix" in response.text


# --- nothing secret, and read protection ---------------------------------------------------------

SECRETS = {
    "github_token": "ghp-never-shown",
    "webhook_secret": "hook-never-shown",
    "registry_token": "registry-never-shown",
    "read_token": "read-never-shown",
}


def protected(repo: Path, tmp_path: Path, **extra: str) -> TestClient:
    settings = Settings(
        forge="github", repo="acme/env-repo", data_dir=tmp_path / "d", workers=0,
        signing_key=SIGNING_KEY,
        **SECRETS, **extra,  # type: ignore[arg-type]
    )  # fmt: skip
    return TestClient(create_app(Service(settings, forge=LocalForge(repo))))


def test_nothing_secret_is_on_any_page_or_in_the_api(repo: Path, tmp_path: Path) -> None:
    with protected(repo, tmp_path) as client:
        auth = {"Authorization": f"Bearer {SECRETS['read_token']}"}
        urls = ["/", "/apps/api", "/envs/dev", "/compare?from=dev&to=staging", "/nowhere",
                "/api/v1/status", "/api/v1/apps/api", "/api/v1/envs/dev/history",
                "/api/v1/openapi.json"]  # fmt: skip
        for url in urls:
            text = client.get(url, headers=auth).text
            assert "acme/env-repo" in text or url.startswith("/api/")
            for value in SECRETS.values():
                assert value not in text, url


def test_a_read_token_guards_pages_and_api_but_not_webhooks_or_health(
    repo: Path, tmp_path: Path
) -> None:
    token = SECRETS["read_token"]
    with protected(repo, tmp_path) as client:
        for url in ("/", "/apps/api", "/envs/dev", "/compare", "/api/v1/status"):
            response = client.get(url)
            assert response.status_code == 401, url
            assert response.headers["www-authenticate"] == 'Bearer realm="promobot"'
        assert "needs a read token" in client.get("/").text
        assert client.get("/api/v1/status").json()["error"].startswith("a read token is needed")
        assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/?token=wrong").status_code == 401
        assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get(f"/api/v1/status?token={token}").status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        body = b'{"zen": "hi", "hook_id": 1}'
        signature = hmac.new(SECRETS["webhook_secret"].encode(), body, hashlib.sha256).hexdigest()
        ping = client.post("/webhooks/github", content=body, headers={
            "X-GitHub-Event": "ping", "X-GitHub-Delivery": "p-1",
            "X-Hub-Signature-256": f"sha256={signature}"})  # fmt: skip
        assert ping.status_code == 202  # the webhooks have their own credentials


def test_a_token_in_the_address_becomes_a_cookie_and_leaves_the_address(
    repo: Path, tmp_path: Path
) -> None:
    token = SECRETS["read_token"]
    with protected(repo, tmp_path) as client:
        response = client.get(f"/envs/dev?token={token}", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/envs/dev"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and token not in cookie
        assert client.get("/apps/api").status_code == 200  # the cookie lets the links work
        client.cookies.clear()
        assert client.get("/apps/api").status_code == 401


def test_a_trusted_proxy_header_lets_people_in_and_names_them(repo: Path, tmp_path: Path) -> None:
    with protected(repo, tmp_path, trusted_user_header="X-Forwarded-User") as client:
        assert client.get("/").status_code == 401
        response = client.get("/", headers={"X-Forwarded-User": "alice"})
        assert response.status_code == 200
        assert parse(response.text).one("span", "user").text == "signed in as alice"
        assert (
            client.get("/api/v1/status", headers={"X-Forwarded-User": "alice"}).status_code == 200
        )


def test_without_read_protection_everything_is_open(client: TestClient) -> None:
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/status").status_code == 200


# --- what a page view costs -----------------------------------------------------------------------

REPO = "acme/env-repo"
TOKEN = "bot-api-token"


def test_a_page_view_when_nothing_changed_costs_no_forge_call(tmp_path: Path) -> None:
    files = {
        p.relative_to(EXAMPLE).as_posix(): p.read_bytes() for p in EXAMPLE.rglob("*") if p.is_file()
    }
    with Server() as server:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token=TOKEN)
        world.add_repo(REPO, files)
        settings = Settings(forge="github", repo=REPO, github_url=server.github_url,
                            github_token=TOKEN, data_dir=tmp_path / "d", workers=0,
                            signing_key=SIGNING_KEY)  # type: ignore[arg-type]  # fmt: skip
        service = Service(settings)
        service.engine.sync()  # promobot opens its promotion PRs
        with TestClient(create_app(service)) as client:
            overview = client.app.state.overview  # type: ignore[attr-defined]
            assert client.get("/").status_code == 200  # reads the open PRs
            world.reset_calls()
            for _ in range(3):
                assert client.get("/").status_code == 200
            assert world.calls == {}  # from cache: the forge is not asked at all
            overview.recheck_head()  # the last look at the head is too old
            remaining = world.rate_remaining
            page = client.get("/").text
            assert "#1 waiting" in page
            left = (
                f"{remaining:,} of {world.rate_limit:,} calls left until"  # from GitHub's answers
            )
            assert f"Rate limit: {left}" in " ".join(page.split())
            assert world.calls == {"github GET /repos/{owner}/{repo}/commits/{ref:path}": 1}
            assert world.rate_remaining == remaining  # answered 304: GitHub does not charge it
            world.reset_calls()
            overview.invalidate()  # a webhook came: the open PRs may have changed
            client.get("/")
            assert sorted(world.calls) == [
                "github GET /repos/{owner}/{repo}/commits/{ref:path}",
                "github GET /repos/{owner}/{repo}/pulls",
            ]
            world.reset_calls()
            client.get("/envs/staging")  # a history: the log and a tarball per commit, once
            first = sum(world.calls.values())
            world.reset_calls()
            client.get("/envs/staging")
            assert first > 0 and world.calls == {}


EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "helm-values"
