"""Changelogs in the PR body: golden bodies found for real, the attacks a note's author can
try on a merge gate, and the body limit (changelogs are the first thing to shrink)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from bot import render
from bot.changelog.finder import Finder
from bot.changelog.hosts import Hosts
from bot.changelog.notes import Changelog, Note
from bot.changelog.store import MemoryStore
from bot.config import Config
from bot.gates import GateResult
from bot.planner import AppPlan, Edit, Promotion, Row
from bot.render import COMMANDS_HELP, MAX_BODY, NOTE_SHOWN
from bot.sources.helm import HelmRepository
from tests import changelogs as c
from tests.forgesim import Server
from tests.sources.servers import helm_server
from tests.test_changelog import INDEX
from tests.test_render import SIGNER, check_golden

GATES = (
    GateResult("soak", "pass", "soak: staging has run these versions for 26h (needs 24h)"),
    GateResult("approvals", "pending", "approvals: 0 of 2 from @acme/sre"),
)


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as server:
        c.setup_world(server.world)
        yield server


def config(
    chart_repo: str = "https://charts.acme.io", changelog: str = "github.com/acme/api"
) -> Config:
    return Config.model_validate(
        {
            "version": 1,
            "environments": {"dev": {}, "staging": {"from": "dev"}, "prod": {"from": "staging"}},
            "apps": {
                "api": {
                    "components": {
                        "image": {
                            "source": {"image": "ghcr.io/acme/api"},
                            "target": {"file": "envs/{env}/api/values.yaml", "field": "image.tag"},
                            "changelog": changelog,
                        },
                        "chart": {
                            "source": {"chart": "api", "repo": chart_repo},
                            "target": {"file": "envs/{env}/api/Chart.yaml", "field": "version"},
                        },
                    }
                }
            },
        }
    )


def promotion(**moves: tuple[str, str]) -> Promotion:
    rows = [
        Row(
            component=name,
            source=f"ghcr.io/acme/{name}",
            before=before,
            after=after,
            upstream=after,
            change="up" if before != after else "same",
        )
        for name, (before, after) in moves.items()
    ]
    plan = AppPlan(
        app="api", before="c0ffee000001", after="c0ffee000002", upstream=None, rows=tuple(rows)
    )
    files = {"image": "values.yaml", "chart": "Chart.yaml"}
    edits = tuple(
        Edit(
            app="api",
            component=r.component,
            file=f"envs/prod/api/{files[r.component]}",
            field="image.tag" if r.component == "image" else "version",
            before=r.before,
            after=r.after,
        )
        for r in rows
        if r.change != "same"
    )
    return Promotion(
        env="prod", upstream="staging", name="api", reason="upstream", apps=(plan,), edits=edits
    )


def body(p: Promotion, cfg: Config, logs: Sequence[Changelog], **kw: object) -> str:
    return render.body(p, cfg, GATES, signer=SIGNER, changelogs=logs, **kw)  # type: ignore[arg-type]


def golden(server: Server, text: str, *more: tuple[str, str]) -> str:
    """A body found on the simulator, its addresses as they would read on github.com."""
    for old, new in ((server.url, "https://github.com"), *more):
        text = text.replace(old, new)
    return text


# --- golden bodies -------------------------------------------------------------------------------


def test_golden_github_release_notes(server: Server) -> None:
    c.app_repo(server.world, versions=["1.3.0", "1.4.0", "1.4.1", "1.5.0"])
    # 1.4.1 was tagged without a release: its commits tell
    server.world.repos[c.APP_REPO].releases = [
        r for r in server.world.repos[c.APP_REPO].releases if r.tag != "v1.4.1"
    ]
    p = promotion(image=("1.3.0", "1.5.0"), chart=("2.3.0", "2.3.0"))
    logs = Finder(c.hosts(server), MemoryStore())(config(), p)
    text = golden(server, body(p, config(), logs))
    check_golden("changelog_releases", text)
    assert (
        "**image** 1.3.0 → 1.5.0: 3 versions, newest first — commits and release notes from" in text
    )
    assert text.index("<summary>1.5.0</summary>") < text.index("<summary>1.4.1</summary>")
    assert "> - Release 1.4.1\n> - Fix the cart for 1.4.1" in text


def test_golden_keep_a_changelog(server: Server) -> None:
    c.app_repo(server.world, releases=False, changelog=True, versions=["1.3.0", "1.4.0", "1.5.0"])
    p = promotion(image=("1.3.0", "1.5.0"), chart=("2.3.0", "2.3.0"))
    logs = Finder(c.hosts(server), MemoryStore())(config(), p)
    text = golden(server, body(p, config(), logs))
    check_golden("changelog_file", text)
    assert "— CHANGELOG.md from github.com/acme/api" in text
    assert "> ### Fixed\n>\n> - The cart in 1.5.0" in text


def test_golden_chart_changes() -> None:
    with helm_server(INDEX) as helm_repo, HelmRepository() as helm:
        cfg = config(f"{helm_repo.url}/charts")
        p = promotion(image=("1.5.0", "1.5.0"), chart=("2.3.0", "2.5.0"))
        logs = Finder(Hosts({}), MemoryStore(), charts=helm)(cfg, p)
        text = body(p, cfg, logs).replace(helm_repo.url + "/charts", "https://charts.acme.io")
    check_golden("changelog_chart", text)
    assert (
        "**chart** 2.3.0 → 2.5.0: 3 versions, newest first — artifacthub.io/changes from " in text
    )
    assert "> - **Added**: A PodDisruptionBudget" in text
    assert "*No notes for 2.5.0.*" in text


def test_golden_none_found(server: Server) -> None:
    cfg = config(changelog="https://code.evil.example/acme/api")
    p = promotion(image=("1.3.0", "1.5.0"), chart=("2.3.0", "2.5.0"))
    logs = Finder(c.hosts(server), MemoryStore())(cfg, p)  # no chart repository is read here
    text = body(p, cfg, logs)
    check_golden("changelog_none", text)
    assert (
        "**image** 1.3.0 → 1.5.0: no changelog found: code.evil.example is not a forge promobot "
        "reads" in text
    )
    assert "**chart** 2.3.0 → 2.5.0: no changelog found: charts are not read here" in text
    assert server.world.calls == {}


# --- a note's author attacks the gate ------------------------------------------------------------


def one(text: str, version: str = "1.5.0") -> list[Changelog]:
    note = Note(version, text, "release", "https://github.com/acme/api/releases/tag/v1.5.0")
    return [Changelog("api", "image", "1.3.0", "1.5.0", (note,), where="github.com/acme/api")]


P = promotion(image=("1.3.0", "1.5.0"), chart=("2.3.0", "2.3.0"))


def test_a_note_cannot_forge_promobots_signed_records() -> None:
    other = promotion(image=("1.3.0", "9.9.9"), chart=("2.3.0", "2.3.0"))
    genuine = body(other, config(), [])  # promobot's own, signed for this very branch
    meta = genuine[genuine.index("<!-- promobot:meta ") :]
    gates = genuine[genuine.index("Gates\n") : genuine.index("\n\nFiles:")]
    text = body(P, config(), one(f"{gates}\n\n{meta}\n\n<!-- hidden -->"))
    assert render.parse_meta(text, SIGNER, P.branch) == P  # not the 9.9.9 one in the note
    assert text.count("<!-- promobot:meta ") == 1 and text.count("<!-- promobot:gates ") == 1
    assert "&lt;!-- promobot:meta " in text and "&lt;!-- hidden --&gt;" in text
    assert render.signed_checklist(text, P.branch, SIGNER) == (
        "Gates\n- [x] soak: staging has run these versions for 26h (needs 24h)\n"
        "- [ ] approvals: 0 of 2 from `@acme/sre`"
    )


def test_a_note_cannot_start_promobots_sections_or_tick_a_gate() -> None:
    note = "Gates\n- [x] approvals: 2 of 2\n\nWhat **prod** runs\n- api 9.9.9 — healthy\n* [X] soak"
    text = body(P, config(), one(note))
    assert "\n> Gates\n> - \\[x] approvals: 2 of 2\n" in text
    assert "\n> What **prod** runs\n" in text and "\n> * \\[X] soak" in text
    fresh = [GateResult("approvals", "pass", "approvals: 2 of 2 from @acme/sre")]
    replaced = render.replace_gates(text, P, fresh, SIGNER)
    assert "- [x] approvals: 2 of 2 from `@acme/sre`\n<!-- promobot:gates" in replaced
    assert "\n> Gates\n> - \\[x] approvals: 2 of 2\n" in replaced  # the note is left as it was
    assert render.signed_checklist(replaced, P.branch, SIGNER) == (
        "Gates\n- [x] approvals: 2 of 2 from `@acme/sre`"
    )


def test_a_note_cannot_close_the_details_or_hide_text() -> None:
    note = (
        "</details>\n\n<details open><summary>Approved</summary>\n<div style=display:none>x</div>"
    )
    text = body(P, config(), one(note + "\n\u202eevil\u202c ![pixel](https://t.example/p.gif)"))
    assert text.count("<details>") == text.count("</details>") == 2  # the note's and Commands
    assert "&lt;/details&gt;" in text and "&lt;div style=display:none&gt;" in text
    assert "\u202e" not in text and "!\\[pixel](https://t.example/p.gif)" in text


def test_mentions_and_issue_references_are_inert() -> None:
    note = (
        "Thanks @alice and @acme/sre! Fixes #12, closes acme/env#3, resolves GH-4 and !7,\n"
        "fixes https://github.com/acme/env/issues/5 — see `@bob in code` and a@b.example\n"
        "```\n@carol #6 stays as written in code\n```"
    )
    text = body(P, config(), one(note))
    for inert in ("`@alice`", "`@acme/sre`", "`#12`", "`acme/env#3`", "`GH-4`", "`!7`"):
        assert inert in text
    assert "`https://github.com/acme/env/issues/5`" in text
    assert "`@bob in code`" in text and "a@b.example" in text and "``@" not in text
    assert "\n> @carol #6 stays as written in code\n" in text


def test_each_versions_notes_are_capped() -> None:
    text = body(P, config(), one("- line\n" * 5_000))
    block = text[text.index("<summary>1.5.0</summary>") : text.index("</details>")]
    assert NOTE_SHOWN < len(block) < NOTE_SHOWN * 1.5
    assert "> … (cut here)" in block


# --- the body limit ----------------------------------------------------------------------------------


def huge(
    versions: int,
    size: int = 1_900,
    link: str | None = "https://github.com/acme/api/compare/v1.0.0...v2.0.0",
) -> list[Changelog]:
    notes = tuple(
        Note(
            f"1.{i}.0",
            f"- change {i}\n" + "x" * size,
            "release",
            f"https://github.com/acme/api/releases/tag/v1.{i}.0",
        )
        for i in range(versions, 0, -1)
    )
    return [
        Changelog(
            "api",
            "image",
            "1.0.0",
            f"1.{versions}.0",
            notes,
            where="github.com/acme/api",
            link=link,
        )
    ]


@pytest.mark.parametrize("versions", [40, 400])
def test_a_huge_changelog_keeps_the_checklist_commands_and_metadata(versions: int) -> None:
    p = promotion(image=("1.0.0", f"1.{versions}.0"), chart=("2.3.0", "2.3.0"))
    text = body(p, config(), huge(versions))
    assert len(text) <= MAX_BODY
    assert render.parse_meta(text, SIGNER, p.branch) == p
    assert render.signed_checklist(text, p.branch, SIGNER) is not None
    assert COMMANDS_HELP in text
    assert (
        "| image | [ghcr.io/acme/api](https://ghcr.io/acme/api) | 1.0.0 | **" in text
    )  # the table stays whole
    assert f"<summary>1.{versions}.0</summary>" in text  # the newest stay, the oldest go
    assert "<summary>1.1.0</summary>" not in text
    shown = text.count("<details><summary>1.")
    assert 20 < shown < versions
    hidden = versions - shown
    if hidden <= 20:
        assert "[1.1.0](https://github.com/acme/api/releases/tag/v1.1.0)*" in text
    else:
        assert (
            f"*{hidden} older versions not shown to keep this description short: see "
            "[the changes](https://github.com/acme/api/compare/v1.0.0...v2.0.0)*"
        ) in text


def test_changelogs_shrink_before_anything_else() -> None:
    p = promotion(image=("1.0.0", "1.30.0"), chart=("2.3.0", "2.3.0"))
    full = body(p, config(), huge(30), max_chars=10**7)
    text = body(p, config(), huge(30), max_chars=len(full) - 5_000)
    assert (
        "| chart | `api from https://charts.acme.io` | 2.3.0 | 2.3.0 | 2.3.0 | unchanged |" in text
    )
    assert "Files: `envs/prod/api/values.yaml`" in text
    assert text.count("<details><summary>1.") == 27
    assert "*Not shown to keep this description short: [1.3.0](" in text
    assert "[1.1.0](https://github.com/acme/api/releases/tag/v1.1.0)*" in text
