"""What a promotion changes in the cluster, as the PR body shows it: the impact line, each
app's section in its tiers, the fit to the forge's limit, and chart text made inert.

The diffs are written by hand from what `helm template` of the real charts in
tests/fixtures/charts (podinfo 6.14.1, etcd 1.1.11) changes when their values or versions do."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from bot.manifests.model import IMPACTS, AppDiff, FieldChange, ObjectChange
from bot.planner import Promotion
from bot.render import MAX_BODY, impact, replace_gates, signed_checklist
from tests.test_render import (
    CONFIG,
    GATES,
    SIGNER,
    api_rows,
    app_plan,
    body,
    check_golden,
    copy_promotion,
    parse_meta,
    promotion,
    row,
    single,
)
from tests.test_render import group as storefront

OVERVIEW = "https://promobot.acme.io"
LABELS = "metadata.labels.helm\\.sh/chart"


def chart_bump() -> tuple[Promotion, AppDiff]:
    """podinfo 6.13.0 → 6.14.1, the environment's values enabling the chart's Ingress."""
    plan = app_plan(
        "api",
        [
            row("image", "1.4.2", "1.4.2", source="ghcr.io/acme/api"),
            row("chart", "6.13.0", "6.14.1", source="oci://ghcr.io/acme/charts/api"),
            row("config", "v12", "v12", source="acme/api-config"),
        ],
    )
    deployment = ObjectChange(
        "apps/v1", "Deployment", "default", "podinfo", "changed", ("image", "other"),
        fields=(
            FieldChange(LABELS, "podinfo-6.13.0", "podinfo-6.14.1"),
            FieldChange("spec.template.metadata.labels.helm\\.sh/chart", "podinfo-6.13.0",
                        "podinfo-6.14.1"),
            FieldChange("spec.template.spec.containers[podinfo].image",
                        "ghcr.io/stefanprodan/podinfo:6.13.0",
                        "ghcr.io/stefanprodan/podinfo:6.14.1"),
        ),
        summary="image podinfo 6.13.0 → 6.14.1",
    )  # fmt: skip
    service = ObjectChange(
        "v1", "Service", "default", "podinfo", "changed", ("other",),
        fields=(FieldChange(LABELS, "podinfo-6.13.0", "podinfo-6.14.1"),),
    )  # fmt: skip
    ingress = ObjectChange(
        "networking.k8s.io/v1", "Ingress", "default", "podinfo", "added", ("exposure",),
        summary="host podinfo.local, path / to Service podinfo:9898",
    )  # fmt: skip
    diff = AppDiff(
        "api",
        "staging",
        changes=(deployment, service, ingress),
        impact=("exposure", "image", "other"),
        summary=("adds Ingress podinfo.local", "image podinfo 6.13.0 → 6.14.1"),
        upstream="dev",
    )
    return promotion("staging", "api", [plan]), diff


def statefulset_change(name: str = "etcd") -> ObjectChange:
    """The etcd chart's StatefulSet after the base raises its claim and names a class."""
    return ObjectChange(
        "apps/v1", "StatefulSet", "data", name, "changed", ("data",),
        fields=(
            FieldChange("spec.volumeClaimTemplates[etcd-data].spec.resources.requests.storage",
                        "1Gi", "8Gi"),
            FieldChange("spec.volumeClaimTemplates[etcd-data].spec.storageClassName", None,
                        "fast-ssd"),
        ),
        summary="volume claim etcd-data 1Gi → 8Gi, storage class fast-ssd",
    )  # fmt: skip


def kustomize_bump() -> tuple[Promotion, AppDiff]:
    """The api's Kustomize base v11 → v12: etcd's StatefulSet claims more, on another class;
    prod's own patch keeps its size, but the class is new to what staging ever ran."""
    plan = app_plan("api", api_rows(image=("1.4.2", "1.4.2")))
    diff = AppDiff(
        "api",
        "prod",
        changes=(statefulset_change(),),
        impact=("data",),
        summary=("StatefulSet etcd volume claim etcd-data 1Gi → 8Gi (recreate it to apply)",),
        upstream="staging",
        unsoaked=(
            ObjectChange(
                "apps/v1", "StatefulSet", "data", "etcd", "changed", ("data",),
                fields=(FieldChange(
                    "spec.volumeClaimTemplates[etcd-data].spec.storageClassName", "standard",
                    "fast-ssd"),),
            ),
        ),
    )  # fmt: skip
    return promotion("prod", "api", [plan], upstream="staging"), diff


def image_change(app: str, before: str, after: str) -> ObjectChange:
    return ObjectChange(
        "apps/v1", "Deployment", "default", app, "changed", ("image",),
        fields=(FieldChange(f"spec.template.spec.containers[{app}].image",
                            f"ghcr.io/acme/{app}:{before}", f"ghcr.io/acme/{app}:{after}"),),
        summary=f"image {app} {before} → {after}",
    )  # fmt: skip


def image_diff(app: str = "api", env: str = "staging") -> AppDiff:
    return AppDiff(
        app,
        env,
        changes=(image_change(app, "1.3.0", "1.4.2"),),
        impact=("image",),
        summary=(f"image {app} 1.3.0 → 1.4.2",),
        upstream="dev",
    )


def image_only() -> tuple[Promotion, AppDiff]:
    plan = app_plan("api", [row("image", "1.3.0", "1.4.2", source="ghcr.io/acme/api")])
    return promotion("staging", "api", [plan]), image_diff()


# --- golden bodies ----------------------------------------------------------------------------


def test_a_chart_bump_that_adds_an_ingress() -> None:
    p, diff = chart_bump()
    text = body(p, CONFIG, GATES, impact=[diff], diff_link=OVERVIEW)
    lines = text.split("\n\n")
    assert lines[1] == (
        "**Impact:** `exposure` `image` `other` — adds Ingress podinfo.local; "
        "image podinfo 6.13.0 → 6.14.1"
    )
    assert "- Ingress `podinfo`: added — host podinfo.local" in text
    assert "Same as **dev** runs, apart from what the environments' own files set apart." in text
    # after the table, before the gates
    assert text.index("| chart |") < text.index("**What changes in the cluster**")
    assert text.index("**What changes in the cluster**") < text.index("Gates\n")
    check_golden("impact_chart_ingress", text)


def test_a_kustomize_base_that_changes_volume_claims_warns_of_what_never_soaked() -> None:
    p, diff = kustomize_bump()
    text = body(p, CONFIG, GATES, impact=[diff])
    assert "**Impact:** `data` — StatefulSet etcd volume claim etcd-data 1Gi → 8Gi" in text
    assert "⚠ **prod** would run what **staging** never ran:" in text
    assert "`standard` → `fast-ssd`" in text
    check_golden("impact_kustomize_volumes", text)


def test_an_image_only_promotion() -> None:
    p, diff = image_only()
    text = body(p, CONFIG, GATES, impact=[diff])
    assert "\n\n**Impact:** `image` — image api 1.3.0 → 1.4.2\n\n" in text
    assert (
        "  - `spec.template.spec.containers[api].image`: `ghcr.io/acme/api:1.3.0` → "
        "`ghcr.io/acme/api:1.4.2`" in text
    )
    check_golden("impact_image", text)


def test_no_rendered_change() -> None:
    diff = AppDiff("api", "staging", upstream="dev")
    text = body(single(), CONFIG, GATES, impact=[diff])
    assert text.split("\n\n")[1] == "**Impact:** no rendered change"
    assert "Nothing: what is rendered after the merge is what is rendered now." in text
    check_golden("impact_none", text)


def test_a_cell_that_could_not_be_rendered_keeps_its_table() -> None:
    why = (
        "helm template: template: podinfo/templates/deployment.yaml:94:27: executing "
        '"podinfo/templates/deployment.yaml" at <.Values.resources.limits>: nil pointer '
        "evaluating interface {}.limits"
    )
    text = body(single(), CONFIG, GATES, impact=[AppDiff("api", "staging", error=why)])
    assert text.split("\n\n")[1].startswith(
        "**Impact:** unknown — api in staging could not be rendered: helm template:"
    )
    assert "| image | [ghcr.io/acme/api]" in text  # the table stands
    assert "**What changes in the cluster**: unknown — api in staging could not be" in text
    assert "&lt;.Values.resources.limits&gt;" in text
    check_golden("impact_failed", text)


def test_a_group_of_three_apps() -> None:
    p = storefront()
    checkout = copy_promotion().apps[0]
    p = promotion("staging", "storefront", [*p.apps, checkout])
    web = AppDiff("web", "staging", upstream="dev")  # a chart bump that renders the same
    checkout_diff = AppDiff(
        "checkout",
        "staging",
        changes=(
            image_change("checkout", "2.7.1", "2.8.0"),
            ObjectChange(
                "v1", "ConfigMap", "default", "checkout-settings", "changed", ("config",),
                fields=(FieldChange("data.replicasMax", "4", "8"),),
                summary="replicasMax 4 → 8",
            ),
        ),
        impact=("config", "image"),
        summary=("ConfigMap checkout-settings replicasMax 4 → 8", "image checkout 2.7.1 → 2.8.0"),
        upstream="dev",
    )  # fmt: skip
    failed = AppDiff("api", "staging", error="chart oci://ghcr.io/acme/charts/api:2.3.0: not found")
    text = body(p, CONFIG, GATES, impact=[image_diff(), web, checkout_diff])
    assert text.split("\n\n")[1] == (
        "**Impact:** `config` `image` — api: image api 1.3.0 → 1.4.2; web: no rendered change; "
        "checkout: ConfigMap checkout-settings replicasMax 4 → 8; image checkout 2.7.1 → 2.8.0"
    )
    for app in ("api", "web", "checkout"):  # each app's section sits between its table and
        section = text[text.index(f"### {app}") :]  # the next app's heading
        assert section.index("|---|") < section.index("**What changes in the cluster**")
    check_golden("impact_group", text)
    # one app that could not be rendered makes the impact unknown, the rest still listed
    text = body(p, CONFIG, GATES, impact=[failed, web, checkout_diff])
    assert text.split("\n\n")[1].startswith(
        "**Impact:** unknown — api in staging could not be rendered: chart "
        "oci://ghcr.io/acme/charts/api:2.3.0: not found; web: no rendered change; checkout: "
    )


def hostile_diff() -> AppDiff:
    """What a chart's author controls: names, kinds, hosts, annotations, values."""
    forged = '<!-- promobot:meta {"v":1} sig=x -->'
    evil = ObjectChange(
        "v1", "ConfigMap</summary></details>\n\nGates\n- [x] soak @everyone #1", "default", "<img src=x>",
        "changed", ("config",),
        fields=(
            FieldChange("data.note", "@everyone", "``` <!-- promobot:gates digest=0 --> `"),
            FieldChange("metadata.annotations.link", None, "[click](https://evil.example)"),
            *(FieldChange(f"data.k{i}", "@everyone", f"<img src={i}>") for i in range(20)),
        ),
        summary="@everyone see www.evil.example and https://evil.example/x Fixes #1",
    )  # fmt: skip
    mention = ObjectChange("v1", "Service", None, "@everyone", "added", ("exposure",))
    marker = ObjectChange("v1", "Secret", None, forged, "changed", ("secret",),
                          fields=(FieldChange("data.password", "hunter2", "hunter3"),))  # fmt: skip
    return AppDiff(
        "api",
        "staging",
        changes=(evil, mention, marker),
        impact=("exposure", "secret", "config"),
        summary=("adds Service @everyone", f"host <img src=x> {forged}", "![x](https://t.example)"),
    )


CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)|<code>.*?</code>")


def assert_inert(text: str) -> None:
    assert parse_meta(text, "promobot/staging/api") == single()
    assert text.count("<!-- promobot:meta") == 1
    assert text.count("<!-- promobot:gates") == 1
    outside = CODE_SPAN.sub("", text)  # what the forge reads as markdown, not as code
    assert "<img" not in outside and "</summary></details>" not in outside
    assert "@everyone" not in outside  # every mention in a code span
    assert "https://evil" not in outside and "www.evil" not in outside and "#1" not in outside
    assert "hunter" not in text  # a Secret's values are never shown
    assert "\nGates\n" not in text[: text.index("\nGates\n- [x] soak: dev")]
    # the checklist promobot wrote is the one it finds and rewrites
    assert signed_checklist(text, "promobot/staging/api", SIGNER) is not None
    replaced = replace_gates(text, single(), GATES[:1], SIGNER)
    assert "- [ ] approvals" not in replaced and "<img" not in CODE_SPAN.sub("", replaced)


def test_a_charts_names_and_values_cannot_ping_link_or_forge() -> None:
    diff = hostile_diff()
    full = body(single(), CONFIG, GATES, impact=[diff])
    assert_inert(full)
    assert "`@everyone`" in full and "&lt;img src=x&gt;" in full
    assert "  - `data.password`: changed (value not shown)" in full
    check_golden("impact_hostile", full)
    # the same in the smaller tiers, where kinds go in <summary> and counts
    collapsed = body(single(), CONFIG, GATES, impact=[diff], max_chars=len(full) - 1)
    kind = "<code>ConfigMap&lt;/summary&gt;&lt;/details&gt;  Gates - [x] soak @everyone #1</code>"
    assert f"<details><summary>{kind} (1 changed)</summary>" in collapsed
    assert_inert(collapsed)
    counts = body(single(), CONFIG, GATES, impact=[diff], max_chars=len(collapsed) - 1)
    assert "**What changes in the cluster**: ConfigMap&lt;/summary&gt;" in counts
    assert_inert(counts)


def test_the_body_reads_the_manifests_shapes_and_their_order() -> None:
    # bot.render cannot import bot.manifests (bot.manifests.text imports bot.render.markup):
    # it reads AppDiff through a Protocol, which the model's AppDiff must satisfy (mypy checks
    # this assignment), and lists impact classes in the model's order.
    diffs: Sequence[impact.AppDiff] = [image_diff()]
    assert body(single(), CONFIG, GATES, impact=diffs).count("**Impact:** `image`") == 1
    assert impact.ORDER == IMPACTS


# --- not rendered yet, and not given ---------------------------------------------------------


def test_not_rendered_yet_says_so_in_one_line_and_nothing_else() -> None:
    given = body(single(), CONFIG, GATES, impact=None)
    first, rest = body(single(), CONFIG, GATES).split("\n\n", 1)
    assert given == f"{first}\n\n{impact.PENDING}\n\n{rest}"
    assert impact.PENDING == (
        "_What changes in the cluster: being rendered; this description is updated when it is._"
    )


def test_an_app_without_a_diff_is_unknown_not_unchanged() -> None:
    text = body(storefront(), CONFIG, GATES, impact=[image_diff()])
    assert text.split("\n\n")[1].startswith("**Impact:** unknown — web in staging could not be")


# --- fitting the forge's limit ----------------------------------------------------------------


def big_diff(objects: int, fields: int = 3) -> AppDiff:
    changes = tuple(
        ObjectChange(
            "apps/v1", "Deployment", "default", f"worker-{i:04}", "changed", ("image", "scale"),
            fields=tuple(
                FieldChange(f"spec.template.spec.containers[worker-{i:04}].env[VAR_{f}].value",
                            f"old-{f}", f"new-{f}")
                for f in range(fields)
            ),
            summary=f"image worker-{i:04} 1.3.0 → 1.4.2",
        )
        for i in range(objects)
    )  # fmt: skip
    return AppDiff(
        "api",
        "staging",
        changes=changes,
        impact=("scale", "image"),
        summary=(f"image 1.3.0 → 1.4.2 in {objects} Deployments",),
        upstream="dev",
    )


def kept_whole(text: str) -> None:
    """The table, the gates, the first line, the impact line and the metadata all there."""
    full = body(single(), CONFIG, GATES)
    table = full[full.index("| component |") : full.index("\n\nGates")]
    assert table in text
    assert full[full.index("Gates\n") : full.index("\n\nFiles:")] in text
    assert text.startswith(full.split("\n\n")[0] + "\n\n**Impact:** ")
    assert parse_meta(text, "promobot/staging/api") == single()


def test_a_diff_too_big_for_the_body_is_counted_with_a_link() -> None:
    diff = big_diff(2_000)
    text = body(single(), CONFIG, GATES, impact=[diff], diff_link=OVERVIEW)
    assert len(text) <= MAX_BODY
    kept_whole(text)
    assert "**What changes in the cluster**: Deployment: 2000 changed" in text
    link = f"[The full diff]({OVERVIEW}/promotions/staging/api/diff) is on promobot's overview."
    assert link in text
    check_golden("impact_too_big", text)
    # without the overview's address, the command that shows it all
    text = body(single(), CONFIG, GATES, impact=[diff])
    assert "`promobot diff api --to staging` shows it all." in text


def test_a_mid_sized_diff_is_collapsed_per_kind_before_any_row_goes() -> None:
    diff = big_diff(60, fields=12)
    full = body(single(), CONFIG, GATES, impact=[diff], max_chars=10**7)
    assert len(full) > MAX_BODY
    text = body(single(), CONFIG, GATES, impact=[diff], diff_link=OVERVIEW)
    assert len(text) <= MAX_BODY
    kept_whole(text)
    assert "<details><summary>Deployment (60 changed)</summary>\n\n- Deployment `worker-0000`" in (
        text
    )
    assert "  - … and 7 more fields" in text  # each object capped by itself
    assert "not shown" not in text  # no row, diff or file left out


def test_the_cluster_section_shrinks_after_changelogs_and_before_the_table() -> None:
    diff = big_diff(40)
    full = body(single(), CONFIG, GATES, impact=[diff])
    # a limit that only the counts tier meets: the table stays whole
    text = body(single(), CONFIG, GATES, impact=[diff], max_chars=len(full) - 8_000)
    kept_whole(text)
    assert "**What changes in the cluster**: Deployment: 40 changed" in text
    # tighter still: the file names go (a row is too short to be worth its placeholder), the
    # counts and the impact line stay
    tight = len(text) - 60
    text = body(single(), CONFIG, GATES, impact=[diff], max_chars=tight)
    assert len(text) <= tight
    assert "Files: 2 files changed" in text and "Deployment: 40 changed" in text
    assert "\n\n**Impact:** `scale` `image` — image 1.3.0 → 1.4.2 in 40 Deployments\n\n" in text


def test_one_huge_object_is_capped_by_itself_in_every_tier() -> None:
    huge = ObjectChange(
        "v1", "ConfigMap", "default", "dashboards", "changed", ("config",),
        fields=tuple(FieldChange(f"data.panel-{i}", str(i), str(i + 1)) for i in range(5_000)),
        summary="5000 keys changed",
    )  # fmt: skip
    small = image_change("api", "1.3.0", "1.4.2")
    diff = AppDiff("api", "staging", changes=(huge, small), impact=("config", "image"))
    text = body(single(), CONFIG, GATES, impact=[diff])
    assert len(text) < 20_000
    assert "  - … and 4975 more fields" in text  # the full tier: 25 fields
    assert "  - `spec.template.spec.containers[api].image`: `ghcr.io/acme/api:1.3.0`" in text
    text = body(single(), CONFIG, GATES, impact=[diff], max_chars=len(text) - 1)
    assert "  - … and 4995 more fields" in text  # collapsed: 5 fields
    assert "<details><summary>Deployment (1 changed)</summary>" in text


@pytest.mark.parametrize("limit", [MAX_BODY, 1_000_000])
def test_the_impact_line_is_bounded_whatever_the_diff(limit: int) -> None:
    diff = AppDiff(
        "api",
        "staging",
        changes=(image_change("api", "1", "2"),),
        impact=("image",),
        summary=tuple(f"adds Ingress host-{i}.example.com" for i in range(2_000)),
    )
    text = body(single(), CONFIG, GATES, impact=[diff], max_chars=limit)
    line = text.split("\n\n")[1]
    assert len(line) < 1_700
    assert line.endswith(" more below")
    assert len(text) <= limit
