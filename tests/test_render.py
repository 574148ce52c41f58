from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot import render
from bot.composition import Composition, Status, composition_id
from bot.config import Config
from bot.gates import GateResult
from bot.live.state import Health, Live, Rollout, Running
from bot.planner import AppPlan, Change, Edit, Promotion, Reason, Row
from bot.render import COMMANDS_HELP, MAX_BODY, status_markdown, title
from bot.signing import Signer

SIGNER = Signer(b"promobot-test-signing-key-0123456789", "acme/env-repo")


def body(promotion: Promotion, config: Config, gates: Sequence[GateResult] = (), **kw: Any) -> str:
    return render.body(promotion, config, gates, signer=SIGNER, **kw)


def parse_meta(text: str, branch: str | None = None) -> Promotion | None:
    return render.parse_meta(text, SIGNER, branch)


GOLDEN = Path(__file__).parent / "golden" / "render"
DIGEST = "sha256:" + "0123456789abcdef" * 4

CONFIG = Config.model_validate(
    {
        "version": 1,
        "environments": {
            "dev": {},
            "staging": {"from": "dev", "gates": {"soak": "30m"}},
            "prod": {"from": "staging", "gates": {"approvals": 2, "approvers": ["@acme/sre"]}},
        },
        "apps": {
            "api": {
                "components": {
                    "image": {
                        "source": {"image": "ghcr.io/acme/api"},
                        "target": {"file": "envs/{env}/api/values.yaml", "field": "image.tag"},
                    },
                    "chart": {
                        "source": {"chart": "api", "repo": "oci://ghcr.io/acme/charts"},
                        "target": {
                            "file": "envs/{env}/api/app.yaml",
                            "field": "spec.source.targetRevision",
                        },
                    },
                    "config": {
                        "source": {"git": "acme/api-config", "tags": "v*"},
                        "target": {
                            "file": "envs/{env}/api/kustomization.yaml",
                            "field": "resources[*]",
                            "template": "https://github.com/acme/api-config//base?ref={version}",
                        },
                    },
                },
                "links": {"image": "https://github.com/acme/api/compare/v{from}...v{to}"},
            },
            "web": {
                "components": {
                    "image": {
                        "source": {"image": "ghcr.io/acme/web"},
                        "target": {"file": "envs/{env}/web/values.yaml", "field": "image.tag"},
                    },
                    "chart": {
                        "source": {"chart": "web", "repo": "https://charts.acme.io"},
                        "target": {"file": "envs/{env}/web/values.yaml", "field": "chart.version"},
                    },
                },
                "links": {"chart": "https://github.com/acme/charts/compare/web-{from}...web-{to}"},
            },
            "checkout": {
                "components": {
                    "image": {
                        "source": {"image": "docker.io/acme/checkout"},
                        "target": {
                            "file": "envs/{env}/version.yml",
                            "field": "spec.template.spec.containers[name=checkout].image",
                            "template": "docker.io/acme/checkout:{version}",
                        },
                    },
                    "settings": {"target": {"copy": "envs/{env}/settings.yml"}},
                },
            },
        },
        "groups": {"storefront": ["api", "web"]},
    }
)

GATES = (
    GateResult("soak", "pass", "soak: dev has run these versions for 2h 10m (needs 30m)"),
    GateResult("approvals", "pending", "approvals: 1 of 2 from @acme/sre, alice (approved: @bob)"),
    GateResult("checks", "fail", "checks: validate failed on 4f1c2a9"),
    GateResult("freeze", "pass", "not in a freeze window"),
)

SETTINGS_DIFF = """\
--- a/envs/staging/settings.yml
+++ b/envs/staging/settings.yml
@@ -1,4 +1,4 @@
 logLevel: info
-replicasMax: 4
+replicasMax: 8
 featureFlags:
   newCheckout: true
"""


# --- building promotions the way the planner does --------------------------------------------


_UPSTREAM = "same as after"


def row(
    component: str,
    before: str | None,
    after: str | None,
    upstream: str | None = _UPSTREAM,
    change: Change | None = None,
    source: str | None = None,
) -> Row:
    return Row(
        component=component,
        source=source or f"ghcr.io/acme/{component}",
        before=before,
        after=after,
        upstream=after if upstream == _UPSTREAM else upstream,
        change=change or ("same" if before == after else "up"),
    )


def app_plan(app: str, rows: list[Row], upstream: bool = True) -> AppPlan:
    def ids(values: Mapping[str, str | None]) -> dict[str, str]:
        return {k: v for k, v in values.items() if v is not None}

    return AppPlan(
        app=app,
        before=composition_id(ids({r.component: r.before for r in rows})),
        after=composition_id(ids({r.component: r.after for r in rows})),
        upstream=composition_id(ids({r.component: r.upstream for r in rows})) if upstream else None,
        rows=tuple(rows),
    )


def promotion(
    env: str,
    name: str,
    plans: list[AppPlan],
    reason: Reason = "upstream",
    upstream: str | None = "dev",
    config: Config = CONFIG,
) -> Promotion:
    edits = []
    for plan in plans:
        for r in plan.changed:
            target = config.target(plan.app, r.component, env)
            where: dict[str, str | None] = {}
            if target.field is None:
                assert upstream is not None
                where["copy_from"] = config.target(plan.app, r.component, upstream).path
            else:
                assert target.field.selector is not None
                where["field"] = target.field.selector.text
            edits.append(
                Edit(
                    app=plan.app,
                    component=r.component,
                    file=target.path,
                    before=r.before,
                    after=r.after,
                    **where,
                )
            )
    return Promotion(
        env=env, upstream=upstream, name=name, reason=reason, apps=tuple(plans),
        edits=tuple(edits),
    )  # fmt: skip


def api_rows(image: tuple[str, str] = ("1.3.0", "1.4.2")) -> list[Row]:
    return [
        row("image", *image, source="ghcr.io/acme/api"),
        row("chart", "2.3.0", "2.3.0", source="oci://ghcr.io/acme/charts/api"),
        row("config", "v11", "v12", source="acme/api-config"),
    ]


def check_golden(case: str, text: str, folder: Path = GOLDEN) -> None:
    """`text` against the golden file `case` (markdown unless it names its own suffix)."""
    path = folder / (case if "." in case else f"{case}.md")
    if os.environ.get("PROMOBOT_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing; run with PROMOBOT_UPDATE_GOLDEN=1 to write it"
    assert text + "\n" == path.read_text(encoding="utf-8")


def single() -> Promotion:
    return promotion("staging", "api", [app_plan("api", api_rows())])


def group() -> Promotion:
    web = app_plan(
        "web",
        [
            row("image", "3.1.0", "3.1.0", "3.2.0", source="ghcr.io/acme/web"),
            row("chart", "2.0.0", "2.1.0", source="https://charts.acme.io/web"),
        ],
    )
    return promotion("staging", "storefront", [app_plan("api", api_rows()), web])


def copy_promotion() -> Promotion:
    plan = app_plan(
        "checkout",
        [
            row("image", "2.7.1", "2.8.0", source="docker.io/acme/checkout"),
            row("settings", "4f1c2a9e0b7d", "9a8b7c6d5e4f", change="changed", source="files"),
        ],
    )
    return promotion("staging", "checkout", [plan])


def giant(apps: int) -> Promotion:
    components = {
        "image": {
            "source": {"image": "ghcr.io/acme/{app}"},
            "target": {"file": "envs/{env}/{app}/values.yaml", "field": "image.tag"},
        },
        "chart": {
            "source": {"chart": "service", "repo": "oci://ghcr.io/acme/charts"},
            "target": {"file": "envs/{env}/{app}/values.yaml", "field": "chart.version"},
        },
        "settings": {"target": {"copy": "envs/{env}/{app}/settings.yml"}},
    }
    names = [f"service-{i:03}" for i in range(apps)]
    config = Config.model_validate(
        {
            "version": 1,
            "environments": {"dev": {}, "staging": {"from": "dev"}},
            "apps": {n: {"components": components} for n in names},
            "groups": {"everything": names},
        }
    )
    plans = [
        app_plan(
            name,
            [
                row("image", "1.3.0", f"1.4.{i}", source=f"ghcr.io/acme/{name}"),
                row("chart", "2.3.0", "2.3.0", source="oci://ghcr.io/acme/charts/service"),
                row("settings", f"{i:012x}", f"{i + 1:012x}", change="changed", source="files"),
            ],
        )
        for i, name in enumerate(names)
    ]
    return promotion("staging", "everything", plans, config=config)


# --- golden bodies ---------------------------------------------------------------------------


def test_single_app_with_link_and_mixed_gates() -> None:
    text = body(single(), CONFIG, GATES)
    check_golden("single", text)
    assert text.startswith("Promote **api** to **staging** — composition `")
    assert "(same as **dev**)" in text.splitlines()[0]
    assert "[1.3.0…1.4.2](https://github.com/acme/api/compare/v1.3.0...v1.4.2)" in text
    assert (
        "| config | [acme/api-config](/acme/api-config) | v11 | **v12** | v12 | v11 → v12 |" in text
    )
    assert "| chart | `oci://ghcr.io/acme/charts/api` | 2.3.0 | 2.3.0 | 2.3.0 | unchanged |" in text
    assert "- [x] soak: dev has run" in text
    assert "- [ ] approvals: 1 of 2 from `@acme/sre`, alice (approved: `@bob`)" in text
    assert "- [ ] ❌ checks: validate" in text


def test_first_environment_artifact() -> None:
    plan = app_plan(
        "api",
        [
            row("image", "1.3.0", "1.4.2", source="ghcr.io/acme/api"),
            row("chart", "2.3.0", "2.3.0", None, source="oci://ghcr.io/acme/charts/api"),
            row("config", "v12", "v12", None, source="acme/api-config"),
        ],
        upstream=False,
    )
    p = promotion("dev", "api", [plan], reason="artifact", upstream=None)
    text = body(p, CONFIG, [GateResult("checks", "pending", "checks: validate is running")])
    check_golden("artifact", text)
    first = text.splitlines()[0]
    assert first.startswith("Promote **api** to **dev** — new image 1.4.2 published; composition")
    assert "| component | source | dev now | after merge | published | changes |" in text
    assert title(p) == "Promote api to dev: image 1.3.0 → 1.4.2"


def test_group() -> None:
    p = group()
    text = body(p, CONFIG, GATES[:2])
    check_golden("group", text)
    assert text.splitlines()[0] == "Promote **storefront** to **staging** — 2 apps from **dev**"
    assert "### api\n\nComposition `" in text
    assert "### web\n\nComposition `" in text
    assert "(chart from **dev**)" in text  # web's image stays behind dev's
    assert text.count("| component | source |") == 2


def test_downgrade() -> None:
    rows = [
        row("image", f"2.0.0@{DIGEST}", "1.9.0", change="down", source="ghcr.io/acme/api"),
        row("chart", "2.3.0", "2.3.0", source="oci://ghcr.io/acme/charts/api"),
        row("config", "v12", "v12", source="acme/api-config"),
    ]
    p = promotion("staging", "api", [app_plan("api", rows)], reason="manual")
    text = body(p, CONFIG, GATES[:1])
    check_golden("downgrade", text)
    link = "[2.0.0…1.9.0](https://github.com/acme/api/compare/v2.0.0...v1.9.0) ⚠ downgrade"
    assert link in text
    assert f"2.0.0@sha256:{'0123456789ab'}…" in text  # the digest is shortened for reading
    assert title(p) == "Promote api to staging: image 2.0.0@sha256:0123456789ab… → 1.9.0"


def test_copy_component_with_diff() -> None:
    p = copy_promotion()
    text = body(p, CONFIG, GATES[:1], diffs={"envs/staging/settings.yml": SETTINGS_DIFF})
    check_golden("copy", text)
    assert "| settings | files | `4f1c2a9e0b7d` | **`9a8b7c6d5e4f`** |" in text
    assert "content changed (+1 −1)" in text
    assert "<details><summary>diff of envs/staging/settings.yml</summary>\n\n```diff\n" in text
    assert "`envs/staging/settings.yml` (copied from `envs/dev/settings.yml`)" in text
    assert title(p) == "Promote checkout to staging: image 2.7.1 → 2.8.0, settings updated"


def test_no_gates() -> None:
    text = body(single(), CONFIG)
    check_golden("no_gates", text)
    assert "\n\nGates\n- [ ] gates for staging not evaluated yet\n<!-- promobot:gates " in text


def test_giant_group_is_truncated_and_keeps_gates_commands_meta() -> None:
    p = giant(300)
    diffs = {
        f"envs/staging/{a.app}/settings.yml": SETTINGS_DIFF.replace("staging", a.app)
        for a in p.apps
    }
    text = body(p, CONFIG, GATES, diffs=diffs)
    assert len(text) <= MAX_BODY
    assert len(text) > MAX_BODY - 2_000  # it left out no more than it had to
    lines = text.splitlines()
    assert lines[0] == "Promote **everything** to **staging** — 300 apps from **dev**"
    assert "\n\nGates\n- [x] soak" in text
    assert COMMANDS_HELP in text
    assert parse_meta(text) == p
    assert "### service-000" in text and "### service-299" in text
    assert "more apps not shown; see the files changed*" in text
    assert "\n\nFiles: 600 files changed\n\n" in text
    assert "```diff" not in text
    assert len(title(p)) <= 250
    head = "\n".join(lines[:24])
    tail = "\n".join("<!-- promobot:meta … -->" if "promobot:meta" in x else x for x in lines[-48:])
    check_golden("giant", f"{head}\n\n[…]\n\n{tail}")


def test_giant_single_table_drops_middle_rows() -> None:
    rows = [
        row(f"c{i:04}", "1.0.0", "1.0.0" if i % 3 else "1.1.0", source=f"ghcr.io/acme/c{i:04}")
        for i in range(3000)
    ]
    components = {
        r.component: {
            "source": {"image": r.source},
            "target": {"file": "envs/{env}/api/values.yaml", "field": f"{r.component}.tag"},
        }
        for r in rows
    }
    config = Config.model_validate(
        {
            "version": 1,
            "environments": {"dev": {}, "staging": {"from": "dev"}},
            "apps": {"api": {"components": components}},
        }
    )
    p = promotion("staging", "api", [app_plan("api", rows)], config=config)
    text = body(p, config, GATES)
    assert len(text) <= MAX_BODY
    assert parse_meta(text) == p
    assert (
        "| … | " in text and "more rows not shown; see the files changed | … | … | … | … |" in text
    )
    assert "| c0000 |" in text and "| c2997 |" in text  # changed rows at both ends stay
    assert "unchanged" not in text  # unchanged rows are the first to go


@pytest.mark.parametrize("case", ["single", "group", "copy"])
def test_body_never_exceeds_the_limit(case: str) -> None:
    p = {"single": single, "group": group, "copy": copy_promotion}[case]()
    diffs = {"envs/staging/settings.yml": SETTINGS_DIFF}
    full = body(p, CONFIG, GATES, diffs=diffs)
    assert len(full) <= MAX_BODY
    previous = full
    for limit in range(len(full), 1_800, -7):
        text = body(p, CONFIG, GATES, diffs=diffs, max_chars=limit)
        assert len(text) <= limit or text == previous  # only what cannot go is left
        assert parse_meta(text) == p
        assert text.splitlines()[0] == full.splitlines()[0]
        assert "\n\nGates\n" in text and COMMANDS_HELP in text
        previous = text


def test_truncation_drops_unchanged_rows_first() -> None:
    unchanged = [row(f"sidecar-{i}", "1.0.0", "1.0.0") for i in range(6)]
    rows = [*api_rows()[:1], *unchanged, *api_rows()[2:]]
    p = promotion("staging", "api", [app_plan("api", rows)])
    full = body(p, CONFIG, GATES)
    text = body(p, CONFIG, GATES, max_chars=len(full) - 100)
    assert len(full) - 100 - 80 < len(text) <= len(full) - 100
    assert "| … | 3 more rows not shown; see the files changed | … | … | … | … |" in text
    assert all(f"sidecar-{i} " not in text for i in (1, 2, 3))  # from the middle
    assert "sidecar-0 " in text and "sidecar-4 " in text
    assert "**1.4.2**" in text and "**v12**" in text
    assert full.split("\n\nGates")[1] == text.split("\n\nGates")[1]  # files line intact


# --- metadata --------------------------------------------------------------------------------


def test_meta_round_trips() -> None:
    for p in (single(), group(), copy_promotion(), giant(5)):
        assert parse_meta(body(p, CONFIG, GATES)) == p


def test_meta_cannot_close_the_comment() -> None:
    nasty = "1.0--><script>alert(1)</script>&amp;"
    rows = [row("image", "1.0", nasty, source="ghcr.io/acme/api|x\nnew line")]
    p = promotion("staging", "api", [app_plan("api", rows)])
    data = CONFIG.model_dump(by_alias=True, exclude_none=True)
    data["apps"]["api"]["components"]["image"]["source"]["image"] = "ghcr.io/acme/api|x\nnew line"
    text = body(p, Config.model_validate(data))
    assert text.count("-->") == 2 and text.endswith(" -->")  # the gates' mark and the meta
    assert "<script>" not in text
    assert "\\u003c" in text.splitlines()[-1]
    assert parse_meta(text) == p
    table = next(x for x in text.splitlines() if x.startswith("| image"))
    assert "`ghcr.io/acme/api\\|x new line`" in table  # no page: a code span on one line
    assert table.count(" | ") == 5  # still six cells


def test_parse_meta_finds_the_last_block_and_rejects_junk() -> None:
    first, second = single(), group()
    text = body(first, CONFIG) + "\n\n" + body(second, CONFIG)
    assert parse_meta(text) == second
    assert parse_meta("no metadata here") is None
    assert parse_meta("<!-- promobot:meta {not json -->") is None
    assert parse_meta('<!-- promobot:meta {"v":2,"env":"x"} -->') is None
    assert parse_meta('<!-- promobot:meta {"v":1,"env":"x"} -->') is None
    assert parse_meta('<!-- promobot:meta {"v":1,"zlib":"!!"} -->') is None
    assert parse_meta("<!-- promobot:meta [1] -->") is None
    assert parse_meta(body(first, CONFIG).removesuffix(" -->")) is None


def test_metadata_that_does_not_verify_counts_as_absent() -> None:
    """PR editor: a block someone appended, edited, or copied from another PR is not read."""
    promotion = single()  # staging
    text = body(promotion, CONFIG)
    assert parse_meta(text, "promobot/staging/api") == promotion
    block = text[text.rindex("<!-- promobot:meta ") :]
    forged = block.replace('"env":"staging"', '"env":"dev"')
    assert forged != block
    assert parse_meta(text + "\n" + forged) == promotion  # the forged block is skipped
    assert parse_meta(text.replace(block, forged)) is None
    unsigned = block.split(" sig=")[0] + " -->"
    assert parse_meta(text.replace(block, unsigned)) is None
    other_key = Signer(b"someone-else-s-key-0123456789abcdef", "acme/env-repo")
    assert render.parse_meta(text, other_key) is None
    other_repo = Signer(b"promobot-test-signing-key-0123456789", "acme/other-repo")
    assert render.parse_meta(text, other_repo) is None
    # a genuine block from another PR's body does not speak for this PR's branch
    assert parse_meta(text, "promobot/prod/api") is None


# --- titles ----------------------------------------------------------------------------------


def test_titles() -> None:
    assert title(single()) == "Promote api to staging: image 1.3.0 → 1.4.2, config v11 → v12"
    assert title(group()) == (
        "Promote storefront to staging: api image 1.3.0 → 1.4.2, api config v11 → v12, "
        "web chart 2.0.0 → 2.1.0"
    )
    down = [row("chart", "2.0", "1.9", change="down")]
    assert title(promotion("staging", "api", [app_plan("api", down)])) == (
        "Promote api to staging: chart 2.0 → 1.9"
    )
    back = promotion("prod", "api", [app_plan("api", down)], reason="rollback", upstream=None)
    assert title(back) == "Roll back api in prod: chart 2.0 → 1.9"
    assert body(back, CONFIG).startswith("Roll back **api** in **prod** — back to an earlier")
    assert "| prod now | after merge | target | changes |" in body(back, CONFIG)
    new = [row("image", None, "1.0.0")]
    assert title(promotion("dev", "api", [app_plan("api", new)], upstream=None)) == (
        "Promote api to dev: image 1.0.0 (new)"
    )


def test_long_title_is_cut_with_a_count() -> None:
    text = title(giant(40))
    assert len(text) <= 250
    assert text.startswith("Promote everything to staging: service-000 image 1.3.0 → 1.4.0, ")
    assert text.endswith(", and 74 more")
    assert "…, and" in text


# --- overview --------------------------------------------------------------------------------


def test_status_markdown() -> None:
    api_dev = Composition({"image": "1.4.2", "chart": "2.3.0", "config": "v12"})
    api_staging = Composition({"image": "1.3.0", "chart": "2.3.0", "config": "v12"})
    checkout = Composition(
        {"image": "2.8.0", "settings": "9a8b7c6d5e4f"},
        ("chart: no file",),
        unreadable=frozenset({"chart"}),
    )
    status = Status(
        "abc123",
        ("dev", "staging", "prod"),
        {
            "api": {"dev": api_dev, "staging": api_staging, "prod": api_staging},
            "checkout": {"dev": checkout},
        },
    )
    assert status_markdown(status, CONFIG) == (
        "| app | dev | staging | prod |\n"
        "|---|---|---|---|\n"
        f"| **api** | image 1.4.2<br>chart 2.3.0<br>config v12<br>`{api_dev.id}` "
        f"| image 1.3.0<br>chart 2.3.0<br>config v12<br>`{api_staging.id}`<br>≠ dev "
        f"| image 1.3.0<br>chart 2.3.0<br>config v12<br>`{api_staging.id}` |\n"
        "| **checkout** | image 2.8.0<br>settings `9a8b7c6d5e4f`<br>⚠ cannot be read: chart: "
        "no file<br>composition unknown | — | — |"  # a cell not read has no id to compare
    )


def test_commands_help_lists_every_command() -> None:
    for command in ("promote", "rollback", "approve", "merge", "hold", "unhold", "refresh",
                    "status", "history", "help"):  # fmt: skip
        assert f"`/{command}" in COMMANDS_HELP or f"`/{command}`" in COMMANDS_HELP
    assert "composition-id\\|version\\|previous" in COMMANDS_HELP


def test_replace_gates_changes_only_the_checklist() -> None:
    promotion = single()
    before = body(promotion, CONFIG, diffs={})
    results = [
        GateResult("soak", "pending", "soak: dev has run 1.4.2 for 12m of 30m"),
        GateResult("hold", "pass", "not on hold"),
    ]
    after = render.replace_gates(before, promotion, results, SIGNER)
    assert (
        "- [ ] soak: dev has run 1.4.2 for 12m of 30m\n- [x] not on hold\n<!-- promobot:" in after
    )
    assert after.replace(render.gates_section(promotion, results, SIGNER), "") == before.replace(
        render.gates_section(promotion, (), SIGNER), ""
    )
    assert parse_meta(after) == promotion
    assert render.replace_gates(after, promotion, results, SIGNER) == after  # idempotent


def test_the_checklist_counts_only_as_promobot_signed_it() -> None:
    """PR editor: ticking a box in the description does not make a gate pass anywhere."""
    promotion = single()
    results = [GateResult("approvals", "pending", "approvals: 0 of 2")]
    text = render.replace_gates(body(promotion, CONFIG), promotion, results, SIGNER)
    checklist = render.signed_checklist(text, promotion.branch, SIGNER)
    assert checklist == "Gates\n- [ ] approvals: 0 of 2"
    ticked = text.replace("- [ ] approvals: 0 of 2", "- [x] approvals: 2 of 2")
    assert render.signed_checklist(ticked, promotion.branch, SIGNER) is None
    assert render.signed_checklist(text, "promobot/prod/api", SIGNER) is None


# --- what the environment's cluster runs ---------------------------------------------------

SEEN = datetime(2026, 11, 24, 10, 42, tzinfo=UTC)


def argo(health: Health, revision: str = "1a2b3c4d5e6f7a8b", **kw: Any) -> Live:
    return Live("argocd https://argocd.example.com", "synced", health, revision, SEEN, SEEN, **kw)


def test_the_body_says_what_the_environment_runs() -> None:
    """A reviewer sees, above the checklist, what staging's cluster runs of each app: its
    versions and since when, or the canary under way, and where it differs from git."""
    running = [
        Running("api", argo("healthy"), {"image": "1.2.9", "config": "v11"}, {"image": "1.3.0"}),
        Running(
            "web",
            argo("progressing", rollout=Rollout("canary", "paused", 2, 5, 20)),
            None,
            {"chart": "2.0.0"},
        ),
    ]
    text = body(group(), CONFIG, GATES[:2], running=running)
    check_golden("running", text)
    assert (
        "What **staging** runs\n"
        "- api image `1.2.9` — healthy since Tue 2026-11-24 10:42 UTC at `1a2b3c4d5e`; "
        "git asks for image `1.3.0`\n"
        "- web: progressing (canary 20%, step 2 of 5, paused) at 1a2b3c4d5e since "
        "2026-11-24 10:42 UTC\n\nGates\n"
    ) in text


def test_the_running_lines_are_rewritten_with_the_checklist() -> None:
    promotion = single()
    unknown = [Running("", None, error="staging's cluster is unknown: Argo CD cannot connect")]
    before = body(promotion, CONFIG, GATES, running=unknown)
    assert "What **staging** runs\n- staging's cluster is unknown: Argo CD" in before
    settled = [Running("api", argo("healthy"), {"image": "1.4.2"}, {"image": "1.3.0"})]
    after = render.replace_gates(before, promotion, GATES, SIGNER, settled)
    assert "cannot connect" not in after and after.count("What **staging** runs") == 1
    assert "- api image `1.4.2` — healthy since" in after
    # a body written before this line existed gains it in the same place
    old = body(promotion, CONFIG, GATES)
    assert render.replace_gates(old, promotion, GATES, SIGNER, settled) == body(
        promotion, CONFIG, GATES, running=settled
    )
    assert render.signed_checklist(after, promotion.branch, SIGNER) is not None


def test_a_batch_names_ten_apps_and_counts_the_rest() -> None:
    plans = [app_plan(f"app{i:03}", api_rows()) for i in range(14)]
    running = [Running(p.app, argo("healthy"), {"image": "1.4.2"}) for p in plans[:12]]
    running += [Running(p.app, None) for p in plans[12:]]
    section = render.running_section("staging", running)
    assert section.count("\n- app") == 10
    assert section.endswith("- … and 4 more: 2 healthy, 2 no report")


def test_a_clusters_words_cannot_forge_or_ping_in_the_body() -> None:
    """Whoever deploys into a cluster writes its resources' messages (Argo CD shows them):
    in the PR's line they stay one inert line, never a section, a signed mark or a ping."""
    words = "crashed\n\nGates\n- [x] approvals: 2 of 2 <!-- promobot:gates sig=x --> @acme/sre"
    running = [Running("api", argo("degraded", message=words))]
    text = body(single(), CONFIG, GATES, running=running)
    section = text.split("What **staging** runs\n", 1)[1].split("\n\nGates\n", 1)[0]
    assert "\n" not in section  # one line: nothing after it starts a line of its own
    assert "<!--" not in section and "&lt;!-- promobot:gates" in section
    assert "`@acme/sre`" in section
    assert text.count("\nGates\n") == 1 and text.count("<!-- promobot:gates ") == 1
    assert render.signed_checklist(text, single().branch, SIGNER) is not None


def test_the_source_column_shows_the_source_as_written_linked_only_to_real_pages() -> None:
    """A Helm repository's URL with the chart's name appended is no page (it was shown, and
    autolinked by the forge, as `https://charts.acme.io/web`)."""
    text = body(group(), CONFIG, GATES[:1]) + body(copy_promotion(), CONFIG, GATES[:1])
    table = "\n".join(line for line in text.splitlines() if line.startswith("| "))
    assert "| chart | `web from https://charts.acme.io` | 2.0.0 |" in table
    assert "charts.acme.io/web" not in table
    assert "| image | [ghcr.io/acme/api](https://ghcr.io/acme/api) |" in table
    assert "| chart | `oci://ghcr.io/acme/charts/api` |" in table  # no page for a nested name
    assert "| config | [acme/api-config](/acme/api-config) |" in table  # on the PR's own forge
    assert "| image | [docker.io/acme/checkout](https://hub.docker.com/r/acme/checkout) |" in table
    assert "| settings | files |" in table
