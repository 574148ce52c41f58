"""Changelogs found for real: releases through PyGithub and python-gitlab against the forge
simulator, a CHANGELOG.md, commits between tags, chart annotations from a Helm index, the
source annotation of an image in a real registry; and what the PR body then shows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import render, wiring
from bot.changelog.finder import Finder
from bot.changelog.hosts import Hosts
from bot.changelog.notes import Changelog, Spec, changelog_sections, chart_changes
from bot.changelog.online import hosts_for
from bot.changelog.store import FileStore, MemoryStore
from bot.config import Source
from bot.forges.local import LocalForge
from bot.references import NotARepository, parse_reference
from bot.settings import Settings
from bot.sources.helm import HelmRepository
from bot.sources.oci import OciRegistry
from tests import changelogs as c
from tests.conftest import git
from tests.e2e.service import wait_for
from tests.forgesim import Server
from tests.forgesim.world import Fault
from tests.registry import Registry, needs_registry
from tests.sources.servers import helm_server, serve
from tests.test_render import SIGNER


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as server:
        c.setup_world(server.world)
        yield server


def find(
    server: Server, config_changelog: str | None = "github.com/acme/api", **kw: object
) -> Changelog:
    finder = Finder(c.hosts(server), MemoryStore(), **kw)  # type: ignore[arg-type]
    try:
        (found,) = finder(c.config(config_changelog), c.promotion())
    finally:
        finder.close()
    return found


def shown(changelog: Changelog) -> str:
    """The PR body as a reviewer reads it."""
    return render.body(c.promotion(), c.config(), signer=SIGNER, changelogs=[changelog])


# --- releases, CHANGELOG.md, commits -------------------------------------------------------------


def test_github_releases_of_every_skipped_version_newest_first(server: Server) -> None:
    c.app_repo(server.world)
    found = find(server)
    assert [n.version for n in found.notes] == c.VERSIONS[:0:-1]  # 1.7.2 … 1.3.1
    assert {n.kind for n in found.notes} == {"release"}
    text = shown(found)
    assert "**image** 1.3.0 → 1.7.2: 12 versions, newest first — release notes from " in text
    assert "github.com/acme/api ([compare](" in text
    assert "/acme/api/compare/v1.3.0...v1.7.2))" in text
    first = text.index("<summary>1.7.2</summary>")
    assert first < text.index("<summary>1.3.1</summary>") < text.index("\nGates\n")
    assert "> - Faster checkout in 1.5.0\n" in text
    assert "[release notes of 1.5.0](" in text and "/acme/api/releases/tag/v1.5.0)" in text


def test_gitlab_releases_through_python_gitlab(server: Server) -> None:
    c.app_repo(server.world, "group/sub/api")
    found = find(server, "https://gitlab.com/group/sub/api/-/tree/main")
    assert found.where == "gitlab.com/group/sub/api"
    assert len(found.notes) == 12 and found.notes[0].kind == "release"
    assert found.notes[0].url is not None and found.notes[0].url.endswith(
        "/group/sub/api/-/releases/v1.7.2"
    )
    assert "gitlab GET /projects/{project:path}/releases" in server.world.calls


def test_keep_a_changelog_sections_when_there_are_no_releases(server: Server) -> None:
    c.app_repo(server.world, releases=False, changelog=True)
    found = find(server)
    assert {n.kind for n in found.notes} == {"changelog"}
    assert found.notes[0].text == "### Fixed\n\n- The cart in 1.7.2"
    assert "CHANGELOG.md from github.com/acme/api" in shown(found)
    contents = [k for k in server.world.calls if "contents" in k]
    assert sum(server.world.calls[k] for k in contents) == 1  # read once, at the newest tag


def test_commit_subjects_between_the_tags_as_the_last_resort(server: Server) -> None:
    c.app_repo(server.world, releases=False)
    found = find(server)
    assert {n.kind for n in found.notes} == {"commits"}
    assert found.notes[0].text == "- Release 1.7.2\n- Fix the cart for 1.7.2"
    assert found.notes[0].url is not None and found.notes[0].url.endswith("compare/v1.7.1...v1.7.2")


def test_a_release_with_empty_notes_falls_back_to_the_changelog_file(server: Server) -> None:
    c.app_repo(server.world, releases=False, changelog=True)
    server.world.tag(c.APP_REPO, "v1.7.3", {"x": "1"}, "Release 1.7.3", "  ")  # empty notes
    finder = Finder(c.hosts(server), MemoryStore())
    (found,) = finder(c.config(), c.promotion("1.7.1", "1.7.3"))
    assert [(n.version, n.kind) for n in found.notes] == [
        ("1.7.3", "commits"),
        ("1.7.2", "changelog"),
    ]


# --- cost: one lookup per version, kept ------------------------------------------------------------


def test_a_rebuild_of_the_same_pr_asks_nothing_and_a_newer_version_only_for_it(
    server: Server, tmp_path: Path
) -> None:
    c.app_repo(server.world)
    store = FileStore(tmp_path / "changelog")  # what the command line keeps between runs
    server.world.reset_calls()
    first = Finder(c.hosts(server), store)(c.config(), c.promotion())
    assert sum(server.world.calls.values()) == 2  # the tags, one page of releases
    server.world.reset_calls()
    again = Finder(c.hosts(server), store)(c.config(), c.promotion())  # another process
    assert again == first and server.world.calls == {}
    server.world.tag(c.APP_REPO, "v1.7.3", {"y": "1"}, "Release 1.7.3", c.notes_of("1.7.3"))
    server.world.reset_calls()
    (newer,) = Finder(c.hosts(server), store)(c.config(), c.promotion("1.3.0", "1.7.3"))
    assert [n.version for n in newer.notes][:2] == ["1.7.3", "1.7.2"]
    assert sum(server.world.calls.values()) == 2  # the tags again, and the releases for 1.7.3


# --- bad answers never block ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 500])
def test_a_release_api_that_fails_falls_back_and_is_asked_again(
    server: Server, status: int
) -> None:
    c.app_repo(server.world, changelog=True)
    server.world.faults.append(Fault("GET", "/releases", status=status, times=2))
    store = MemoryStore()
    (found,) = Finder(c.hosts(server), store)(c.config(), c.promotion())
    assert {n.kind for n in found.notes} == {"changelog"}  # the file still tells
    server.world.reset_calls()
    (again,) = Finder(c.hosts(server), store)(c.config(), c.promotion())
    if status == 500:  # a failure is not an answer: the next rebuild asks the releases again
        assert {n.kind for n in again.notes} == {"release"}
    else:  # "no releases here" is one: kept
        assert again == found and server.world.calls == {}


# The releases answer after HANG seconds; a body waits BUDGET. The margins are seconds, as a
# loaded machine needs, and the background lookup is waited for, not slept on.
HANG, BUDGET = 8.0, 2.0


def test_a_forge_that_hangs_costs_the_budget_and_is_said(server: Server) -> None:
    c.app_repo(server.world)
    server.world.faults.append(Fault("GET", "/releases", status=200, delay=HANG))
    store = MemoryStore()
    finder = Finder(c.hosts(server), store, budget=BUDGET)
    started = time.monotonic()
    (found,) = finder(c.config(), c.promotion())
    assert time.monotonic() - started < HANG  # the body did not wait for the forge
    assert found.late == tuple(c.VERSIONS[:0:-1]) and not found.notes
    text = shown(found)
    assert (
        "**image** 1.3.0 → 1.7.2: changelog not fetched in time; promobot looks again when it "
        "next rebuilds this PR (`/refresh`)"
    ) in text
    # the lookup goes on in the background (the finder, impatient now, joins it, asking the
    # forge nothing more) and keeps what it found: a new finder reads it from the store alone
    wait_for("the lookup in the background", lambda: not finder(c.config(), c.promotion())[0].late)
    (later,) = Finder(c.hosts(server), store, budget=0)(c.config(), c.promotion())
    assert len(later.notes) == 12 and not later.late
    finder.close()


def test_after_one_wait_ran_out_the_next_bodies_do_not_wait(server: Server) -> None:
    """A hung forge costs a sync that writes many PRs one budget, not one for each PR."""
    c.app_repo(server.world)
    server.world.faults.append(Fault("GET", "/releases", status=200, delay=HANG))
    finder = Finder(c.hosts(server), MemoryStore(), budget=BUDGET)
    started = time.monotonic()
    (first,) = finder(c.config(), c.promotion())
    waited = time.monotonic() - started
    (second,) = finder(c.config(), c.promotion("1.3.0", "1.7.1"))  # another PR's move
    assert first.late and second.late
    assert waited >= BUDGET and time.monotonic() - started < waited + BUDGET  # not a 2nd wait
    finder.close()


def test_an_unparseable_changelog_file_falls_back_to_commits(server: Server) -> None:
    c.app_repo(server.world, releases=False)
    server.world.push(
        c.APP_REPO, "main", {"CHANGELOG.md": b"\xff\xfe\x00## [[[\n```\n## 1.7.2"}, "x"
    )
    server.world.tag(c.APP_REPO, "v1.7.3", None)
    finder = Finder(c.hosts(server), MemoryStore())
    (found,) = finder(c.config(), c.promotion("1.7.2", "1.7.3"))
    assert [n.kind for n in found.notes] == ["commits"]


def test_tags_that_do_not_exist(server: Server) -> None:
    c.app_repo(server.world, releases=False, versions=["1.3.0", "1.4.0"])
    finder = Finder(c.hosts(server), MemoryStore())
    (none,) = finder(c.config(), c.promotion("1.5.0", "1.6.0"))
    assert none.problem == "github.com/acme/api has no tag between 1.5.0 and 1.6.0"
    assert "**image** 1.5.0 → 1.6.0: no changelog found: github.com/acme/api has no tag" in shown(
        none
    )
    (partly,) = finder(c.config(), c.promotion("1.2.0", "1.9.0"))  # neither end is tagged
    assert [n.version for n in partly.notes] == ["1.4.0"]
    assert partly.missing == ("1.3.0",)  # nothing before it to compare with
    (missing_repo,) = Finder(c.hosts(server), MemoryStore())(
        c.config("github.com/acme/nothing-here"), c.promotion()
    )
    assert missing_repo.problem is not None and "GitHub found nothing" in missing_repo.problem


# --- trust: where notes may come from --------------------------------------------------------------


def test_an_annotation_naming_another_host_is_never_fetched() -> None:
    """SSRF: whoever pushes the image writes its source annotation. A host that is not a forge
    promobot reads is named in the body, and nothing is asked of it."""
    hits: list[str] = []

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def anything(request: Request) -> PlainTextResponse:
        hits.append(str(request.url))
        return PlainTextResponse("[]")

    app = Starlette(routes=[Route("/{path:path}", anything)])
    with serve(app) as url:
        for reference in (
            f"{url}/acme/api",
            "https://169.254.169.254/latest/meta-data",
            "https://github.com.evil.example/acme/api",
            "https://github.com@evil.example/acme/api",
        ):
            finder = Finder(Hosts({"github.com": ("github", _never)}), MemoryStore())
            spec = Spec(
                "api", "image", Source(image="ghcr.io/acme/api"), reference, "1.3.0", "1.7.2"
            )
            (found,) = finder.find([spec])
            assert found.problem is not None and "is not a forge promobot reads" in found.problem
    assert hits == []


def _never(repo: str) -> c.GitHubForge:
    raise AssertionError("no forge may be opened")


def test_references_promobot_understands() -> None:
    assert str(parse_reference("https://github.com/acme/api.git")) == "github.com/acme/api"
    assert str(parse_reference("git@github.com:acme/api.git")) == "github.com/acme/api"
    assert str(parse_reference("acme/api", own="ghe.example.com")) == "ghe.example.com/acme/api"
    assert str(parse_reference("gitlab.example.com:8443/g/p")) == "gitlab.example.com:8443/g/p"
    assert parse_reference("../api").host == ""
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "https://github.com/acme", "x"):
        with pytest.raises(NotARepository):
            parse_reference(bad, own="github.com")


def test_only_the_configured_forge_gets_promobot_token() -> None:
    gh = Settings(forge="github", repo="acme/env", github_token="t" * 20, signing_key="k" * 32)
    hosts = hosts_for(gh, None, wiring.forge)
    assert sorted(hosts.forges) == ["github.com", "gitlab.com"] and hosts.own == "github.com"
    public = hosts.forges["gitlab.com"][1]("group/api")
    assert public._gl.private_token is None  # type: ignore[attr-defined]
    ghe = Settings(
        forge="github",
        repo="acme/env",
        github_url="https://ghe.example.com/api/v3",
        github_token="t" * 20,
        signing_key="k" * 32,
    )
    hosts = hosts_for(ghe, None, wiring.forge)
    assert sorted(hosts.forges) == ["ghe.example.com", "github.com", "gitlab.com"]
    assert hosts.forges["github.com"][1]("acme/api")._auth is None  # type: ignore[attr-defined]
    lab = Settings(
        forge="gitlab",
        repo="g/env",
        gitlab_url="https://git.example.org",
        gitlab_token="t" * 20,
        signing_key="k" * 32,
    )
    hosts = hosts_for(lab, None, wiring.forge)
    assert hosts.forges["github.com"][1]("acme/api")._auth is None  # type: ignore[attr-defined]
    assert hosts.forges["gitlab.com"][1]("g/api")._gl.private_token is None  # type: ignore[attr-defined]
    assert hosts.forges["git.example.org"][1]("g/api")._gl.private_token == "t" * 20  # type: ignore[attr-defined]


def test_a_local_path_is_read_only_on_the_local_forge(make_repo: object, tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    git(app, "init", "-q", "-b", "main")
    (app / "CHANGELOG.md").write_text("## 1.1.0\n- New\n\n## 1.0.0\n- First\n")
    git(app, "add", "-A")
    git(app, "commit", "-qm", "1.0.0")
    git(app, "tag", "1.0.0")
    git(app, "commit", "-qm", "1.1.0", "--allow-empty")
    git(app, "tag", "1.1.0")
    spec = Spec("api", "image", Source(image="ghcr.io/acme/api"), str(app), "1.0.0", "1.1.0")
    local = Finder(Hosts({}, local=LocalForge), MemoryStore())
    (found,) = local.find([spec])
    assert [(n.version, n.text) for n in found.notes] == [("1.1.0", "- New")]
    remote = Finder(Hosts({"github.com": ("github", _never)}, own="github.com"), MemoryStore())
    (refused,) = remote.find([spec])
    assert refused.problem is not None and "only the local forge reads" in refused.problem


# --- parsing ---------------------------------------------------------------------------------------


def test_keep_a_changelog_headings_are_found_by_a_markdown_parser() -> None:
    text = """# Changelog

## [Unreleased]

## [1.5.0] - 2026-11-02
### Added
- Paging

```md
## [1.4.0] - this is code, not a heading
```

## v1.4.1 (2026-10-20)
### Fixed
- Timeouts

1.4.0
-----
- Setext heading
"""
    assert changelog_sections(text) == {
        "1.5.0": "### Added\n- Paging\n\n```md\n## [1.4.0] - this is code, not a heading\n```",
        "1.4.1": "### Fixed\n- Timeouts",
        "1.4.0": "- Setext heading",
    }
    assert changelog_sections("no headings at all\n\x00\xff") == {}


def test_artifact_hub_changes_in_both_forms() -> None:
    structured = """
- kind: added
  description: Cool feature
  links:
    - name: GitHub Issue
      url: https://github.com/acme/charts/issues/1
    - name: bad
      url: javascript:alert(1)
- kind: fixed
  description: Minor bug
"""
    assert chart_changes(structured) == (
        "- **Added**: Cool feature ([GitHub Issue](https://github.com/acme/charts/issues/1))\n"
        "- **Fixed**: Minor bug"
    )
    assert chart_changes("- Added cool feature\n- Fixed minor bug") == (
        "- Added cool feature\n- Fixed minor bug"
    )
    assert chart_changes("{{ not: [yaml") is None
    assert chart_changes("just text") is None


# --- charts: artifacthub.io/changes from the Helm index ------------------------------------------

INDEX = """\
apiVersion: v1
entries:
  api:
  - name: api
    version: 2.3.0
    sources: [https://github.com/acme/api-chart]
  - name: api
    version: 2.4.0
    annotations:
      artifacthub.io/changes: |
        - kind: added
          description: A PodDisruptionBudget
  - name: api
    version: 2.4.1
    annotations:
      artifacthub.io/changes: |
        - Fixed the probe path
  - name: api
    version: 2.5.0-rc.1
    annotations:
      artifacthub.io/changes: |
        - A pre-release, not shown
  - name: api
    version: 2.5.0
    sources: [https://github.com/acme/api-chart]
"""


def test_chart_changes_of_every_version_in_between() -> None:
    with helm_server(INDEX) as helm_repo, HelmRepository() as helm:
        source = Source(chart="api", repo=f"{helm_repo.url}/charts")
        finder = Finder(Hosts({}), MemoryStore(), charts=helm)
        (found,) = finder.find([Spec("api", "chart", source, None, "2.3.0", "2.5.0")])
        assert [(n.version, n.kind) for n in found.notes] == [
            ("2.4.1", "chart"),
            ("2.4.0", "chart"),
        ]
        assert found.missing == ("2.5.0",)
        assert found.notes[1].text == "- **Added**: A PodDisruptionBudget"
        (again,) = finder.find([Spec("api", "chart", source, None, "2.3.0", "2.5.0")])
        assert again == found and helm_repo.full == 1  # kept, not asked again


def test_a_chart_without_changes_reads_its_source_repository(server: Server) -> None:
    c.app_repo(server.world, "acme/api-chart", versions=["2.3.0", "2.5.0"])
    index = INDEX.replace("artifacthub.io/changes", "other")
    with helm_server(index) as helm_repo, HelmRepository() as helm:
        source = Source(chart="api", repo=f"{helm_repo.url}/charts")
        finder = Finder(c.hosts(server), MemoryStore(), charts=helm)
        (found,) = finder.find([Spec("api", "chart", source, None, "2.3.0", "2.5.0")])
        assert found.where == "github.com/acme/api-chart"
        assert [n.version for n in found.notes] == ["2.5.0"]


# --- images: the source annotation, read from a real registry -------------------------------------


@needs_registry
def test_the_image_source_annotation_leads_to_the_release_notes(server: Server) -> None:
    c.app_repo(server.world)
    with Registry() as registry, OciRegistry() as oci:
        image = f"{registry.host}/acme/api"
        registry.push(
            "acme/api",
            "1.7.2",
            annotations={"org.opencontainers.image.source": "https://github.com/acme/api"},
        )
        registry.push(
            "acme/api",
            "1.5.0",
            labels={"org.opencontainers.image.source": "https://github.com/acme/api"},
        )
        registry.push("acme/api", "1.4.0")
        finder = Finder(c.hosts(server), MemoryStore(), registry=oci)
        spec = Spec("api", "image", Source(image=image), None, "1.3.0", "1.7.2")
        (annotated,) = finder.find([spec])
        assert annotated.where == "github.com/acme/api" and len(annotated.notes) == 12
        (labelled,) = finder.find(
            [Spec("api", "image", Source(image=image), None, "1.3.0", "1.5.0")]
        )
        assert labelled.where == "github.com/acme/api" and len(labelled.notes) == 5
        (bare,) = finder.find([Spec("api", "image", Source(image=image), None, "1.3.0", "1.4.0")])
        assert bare.problem == (
            f"the image {image}:1.4.0 has no org.opencontainers.image.source annotation or "
            "label, and the component no changelog: setting"
        )
        registry.push(
            "acme/api",
            "1.6.0",
            annotations={"org.opencontainers.image.source": "https://code.evil.example/acme/api"},
        )
        (evil,) = finder.find([Spec("api", "image", Source(image=image), None, "1.3.0", "1.6.0")])
        assert evil.problem == "code.evil.example is not a forge promobot reads"


@needs_registry
def test_oci_chart_changes_from_each_versions_chart_yaml(server: Server) -> None:
    c.app_repo(server.world, "acme/api-chart", versions=["2.3.0", "2.5.0"])
    with Registry() as registry, OciRegistry() as oci:
        chart = {
            "apiVersion": "v2",
            "name": "api",
            "sources": ["https://github.com/acme/api-chart"],
        }
        registry.push_chart("charts/api", "2.3.0", {**chart, "version": "2.3.0"})
        changes = {"artifacthub.io/changes": "- kind: security\n  description: CVE-2026-1 fixed\n"}
        registry.push_chart(
            "charts/api", "2.4.0", {**chart, "version": "2.4.0", "annotations": changes}
        )
        registry.push_chart("charts/api", "2.5.0", {**chart, "version": "2.5.0"})
        source = Source(chart="api", repo=f"oci://{registry.host}/charts")
        finder = Finder(c.hosts(server), MemoryStore(), charts=HelmRepository(oci))
        (found,) = finder.find([Spec("api", "chart", source, None, "2.3.0", "2.5.0")])
        assert [(n.version, n.text) for n in found.notes] == [
            ("2.4.0", "- **Security**: CVE-2026-1 fixed")
        ]
        assert found.missing == ("2.5.0",)
        (plain,) = finder.find([Spec("api", "chart", source, None, "2.4.0", "2.5.0")])
        assert plain.where == "github.com/acme/api-chart"  # no changes there: its sources
        assert [n.version for n in plain.notes] == ["2.5.0"]


def test_a_git_source_tells_its_commits_between_the_two_tags(server: Server) -> None:
    c.app_repo(server.world, "acme/api-config", releases=False, versions=["11", "12", "13"])
    hosts = c.hosts(server)
    hosts.own = "github.com"  # promobot's own forge: where `git: acme/api-config` lives
    finder = Finder(hosts, MemoryStore())
    source = Source(git="acme/api-config", tags="v*", sort="numeric")
    (found,) = finder.find([Spec("api", "config", source, None, "v11", "v13")])
    assert [(n.version, n.text) for n in found.notes] == [
        ("13", "- Release 13\n- Fix the cart for 13"),
        ("12", "- Release 12\n- Fix the cart for 12"),
    ]


def test_two_apps_on_one_image_each_get_their_own_changelog(server: Server) -> None:
    c.app_repo(server.world, versions=["1.3.0", "1.4.0"])
    finder = Finder(c.hosts(server), MemoryStore())
    source = Source(image="ghcr.io/acme/api")
    found = finder.find(
        [
            Spec("api", "image", source, "github.com/acme/api", "1.3.0", "1.4.0"),
            Spec("worker", "image", source, "github.com/acme/api", "1.3.0", "1.4.0"),
        ]
    )
    assert [(f.app, len(f.notes)) for f in found] == [("api", 1), ("worker", 1)]


def test_a_changelog_setting_that_names_no_repository_is_refused_with_its_line() -> None:
    from bot import config as configuration
    from bot.errors import ConfigError

    text = """version: 1
environments: {dev: {}}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: values.yaml, field: image.tag}
        changelog: https://github.com/acme
"""
    with pytest.raises(ConfigError) as info:
        configuration.load(text)
    assert (
        "changelog: names a repository (github.com/OWNER/NAME, OWNER/NAME or a local path)"
        in str(info.value)
    )
    assert ":9:" in str(info.value)
    assert configuration.load(text.replace("github.com/acme", "github.com/acme/api"))
