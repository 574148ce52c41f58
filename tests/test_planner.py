from __future__ import annotations

from collections.abc import Mapping

import pytest

from bot import config, planner
from bot.composition import Composition, Snapshot, Status
from bot.errors import PlanError

CONFIG = config.load("""\
version: 1
environments:
  dev: {}
  staging: {from: dev}
  perf: {from: staging, propose: manual}
  prod-eu: {from: staging}
  prod-us: {from: staging}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api, semver: ">=1.0.0 <2", ignore: ["-rc"]}
        target: {file: "envs/{env}/api/values.yaml", field: image.tag}
      chart:
        source: {chart: api, repo: "oci://ghcr.io/acme/charts", semver: "^2"}
        target: {file: "envs/{env}/api/app.yaml", field: spec.source.targetRevision}
  web:
    environments: [dev, staging, prod-eu]
    components:
      image:
        source: {image: ghcr.io/acme/web}
        target: {file: "envs/{env}/web/values.yaml", field: image.tag}
      settings:
        target: {copy: "envs/{env}/web/settings"}
""")

Matrix = Mapping[str, Mapping[str, Mapping[str, str]]]


def status(matrix: Matrix) -> Status:
    return Status(
        "c0ffee",
        CONFIG.order,
        {
            app: {env: Composition(dict(c)) for env, c in envs.items()}
            for app, envs in matrix.items()
        },
    )


def api(image: str, chart: str) -> dict[str, str]:
    return {"image": image, "chart": chart}


SETTLED: dict[str, dict[str, dict[str, str]]] = {
    "api": {e: api("1.4.2", "2.3.0") for e in ("dev", "staging", "perf", "prod-eu", "prod-us")},
    "web": {
        e: {"image": "3.0.0", "settings": "aaaaaaaaaaaa"} for e in ("dev", "staging", "prod-eu")
    },
}


def with_(app: str, env: str, **components: str) -> Matrix:
    matrix = {a: {e: dict(c) for e, c in envs.items()} for a, envs in SETTLED.items()}
    matrix[app][env].update(components)
    return matrix


def summary(
    promotions: list[planner.Promotion],
) -> list[tuple[str, str, list[tuple[str, str | None, str | None, str]]]]:
    return [
        (
            p.env,
            p.name,
            [(r.component, r.before, r.after, r.change) for a in p.apps for r in a.changed],
        )
        for p in promotions
    ]


def test_nothing_is_planned_when_every_environment_matches_its_upstream() -> None:
    assert planner.plan(CONFIG, status(SETTLED)) == []


def test_an_upstream_change_cascades_one_step_at_a_time() -> None:
    promotions = planner.plan(CONFIG, status(with_("api", "dev", image="1.5.0")))
    assert summary(promotions) == [("staging", "api", [("image", "1.4.2", "1.5.0", "up")])]
    p = promotions[0]
    assert p.branch == "promobot/staging/api"
    assert p.upstream == "dev" and p.reason == "upstream"
    assert p.apps[0].after == p.apps[0].upstream  # staging will run exactly dev's composition
    assert [(e.file, e.field, e.before, e.after) for e in p.edits] == [
        ("envs/staging/api/values.yaml", "image.tag", "1.4.2", "1.5.0")
    ]


def test_fan_out_to_every_downstream_but_not_manual_environments() -> None:
    promotions = planner.plan(CONFIG, status(with_("api", "staging", chart="2.4.0")))
    assert [(p.env, p.name) for p in promotions] == [("prod-eu", "api"), ("prod-us", "api")]
    explicit = planner.plan(
        CONFIG, status(with_("api", "staging", chart="2.4.0")), env="perf", explicit=True
    )
    assert summary(explicit) == [("perf", "api", [("chart", "2.3.0", "2.4.0", "up")])]
    assert explicit[0].reason == "manual"


def test_a_hotfix_ahead_of_upstream_is_never_downgraded_automatically() -> None:
    matrix = with_("api", "prod-eu", image="1.4.3")
    assert planner.plan(CONFIG, status(matrix)) == []
    explicit = planner.plan(CONFIG, status(matrix), env="prod-eu", apps=["api"], explicit=True)
    assert summary(explicit) == [("prod-eu", "api", [("image", "1.4.3", "1.4.2", "down")])]


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        (["image"], [("image", "1.4.2", "1.5.0", "up")]),
        (["chart"], [("chart", "2.3.0", "2.4.0", "up")]),
        (None, [("image", "1.4.2", "1.5.0", "up"), ("chart", "2.3.0", "2.4.0", "up")]),
    ],
)
def test_only_promotes_the_named_components(
    only: list[str] | None, expected: list[tuple[str, str, str, str]]
) -> None:
    matrix = with_("api", "dev", image="1.5.0", chart="2.4.0")
    promotions = planner.plan(CONFIG, status(matrix), env="staging", only=only, explicit=True)
    assert summary(promotions) == [("staging", "api", expected)]
    rows = {r.component: r for r in promotions[0].apps[0].rows}
    if only == ["image"]:
        assert rows["chart"].change == "same" and rows["chart"].after == "2.3.0"


def test_only_rejects_unknown_components() -> None:
    with pytest.raises(PlanError, match="unknown component 'imgae' in --only"):
        planner.plan(CONFIG, status(SETTLED), only=["imgae"])


def test_apps_only_go_to_their_environments() -> None:
    matrix = with_("web", "staging", image="3.1.0")
    assert [(p.env, p.name) for p in planner.plan(CONFIG, status(matrix))] == [("prod-eu", "web")]


def test_unordered_components_are_proposed_whenever_they_differ() -> None:
    matrix = with_("web", "dev", settings="bbbbbbbbbbbb")
    promotions = planner.plan(CONFIG, status(matrix))
    assert summary(promotions) == [
        ("staging", "web", [("settings", "aaaaaaaaaaaa", "bbbbbbbbbbbb", "changed")])
    ]
    edit = promotions[0].edits[0]
    assert (edit.file, edit.copy_from) == ("envs/staging/web/settings", "envs/dev/web/settings")


def test_groups_are_promoted_in_one_promotion() -> None:
    grouped = CONFIG.model_copy(update={"groups": {"storefront": ("api", "web")}})
    matrix = with_("api", "dev", image="1.5.0")
    matrix["web"]["dev"]["image"] = "3.1.0"  # type: ignore[index]
    promotions = planner.plan(grouped, status(matrix))
    assert [(p.env, p.name, [a.app for a in p.apps]) for p in promotions] == [
        ("staging", "storefront", ["api", "web"])
    ]
    assert promotions[0].branch == "promobot/staging/storefront"
    assert planner.resolve_name(grouped, "web") == ["api", "web"]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.5.0", [("dev", "api", [("image", "1.4.2", "1.5.0", "up")])]),
        ("v1.5.0", [("dev", "api", [("image", "1.4.2", "v1.5.0", "up")])]),
        ("1.5.0-rc.1", []),  # ignored: -rc
        ("2.0.0", []),  # outside >=1.0.0 <2
        ("1.4.1", []),  # older than what dev runs
        ("1.4.2", []),  # what dev runs
    ],
)
def test_a_published_version_goes_to_the_first_environment_when_selected_and_newer(
    version: str, expected: list[object]
) -> None:
    promotions = planner.plan_artifact(CONFIG, status(SETTLED), "image:ghcr.io/acme/api", version)
    assert summary(promotions) == expected
    if expected:
        assert promotions[0].upstream is None and promotions[0].reason == "artifact"


def test_a_published_version_of_another_source_plans_nothing() -> None:
    assert planner.plan_artifact(CONFIG, status(SETTLED), "image:ghcr.io/acme/other", "9.0.0") == []


def test_set_plans_one_component_and_refuses_unknown_names() -> None:
    promotion = planner.plan_set(CONFIG, status(SETTLED), "api", "chart", "2.5.0", "dev")
    assert promotion is not None
    assert summary([promotion]) == [("dev", "api", [("chart", "2.3.0", "2.5.0", "up")])]
    assert planner.plan_set(CONFIG, status(SETTLED), "api", "chart", "2.3.0", "dev") is None
    with pytest.raises(PlanError, match="api has no component 'helm'"):
        planner.plan_set(CONFIG, status(SETTLED), "api", "helm", "1", "dev")
    with pytest.raises(PlanError, match="web is not deployed to 'prod-us'"):
        planner.plan_set(CONFIG, status(SETTLED), "web", "image", "1", "prod-us")


def test_promoting_into_a_first_environment_says_to_use_set() -> None:
    with pytest.raises(PlanError, match="dev has no upstream"):
        planner.plan(CONFIG, status(SETTLED), env="dev", explicit=True)


def test_apply_writes_fields_and_copies_folders() -> None:
    snapshot = Snapshot(
        commit="c0ffee",
        objects={
            "envs/staging/web/values.yaml": "1" * 40,
            "envs/dev/web/settings": "2" * 40,
            "envs/dev/web/settings/app.yml": "3" * 40,
            "envs/dev/web/settings/new.yml": "4" * 40,
            "envs/staging/web/settings": "5" * 40,
            "envs/staging/web/settings/app.yml": "6" * 40,
            "envs/staging/web/settings/old.yml": "7" * 40,
        },
        files={
            "envs/staging/web/values.yaml": b"image:\n  tag: 3.0.0  # keep me\n",
            "envs/dev/web/settings/app.yml": b"level: debug\n",
            "envs/dev/web/settings/new.yml": b"new: true\n",
        },
        trees=frozenset({"envs/dev/web/settings", "envs/staging/web/settings"}),
    )
    matrix = with_("web", "dev", image="3.1.0", settings="222222222222")
    promotion = planner.plan(CONFIG, status(matrix), env="staging")[0]
    assert planner.apply(CONFIG, promotion, snapshot) == {
        "envs/staging/web/values.yaml": b"image:\n  tag: 3.1.0  # keep me\n",
        "envs/staging/web/settings/app.yml": b"level: debug\n",
        "envs/staging/web/settings/new.yml": b"new: true\n",
        "envs/staging/web/settings/old.yml": None,
    }


def test_a_published_digest_is_pinned_only_where_the_source_asks() -> None:
    pinned = CONFIG.model_copy(deep=True)
    source = pinned.apps["api"].components["image"].source
    assert source is not None
    digest = "sha256:" + "ab" * 32
    plain = planner.plan_artifact(
        CONFIG, status(SETTLED), "image:ghcr.io/acme/api", "1.5.0", digest
    )
    assert summary(plain)[0][2] == [("image", "1.4.2", "1.5.0", "up")]
    object.__setattr__(source, "digest", True)
    promotions = planner.plan_artifact(
        pinned, status(SETTLED), "image:ghcr.io/acme/api", "1.5.0", digest
    )
    assert summary(promotions)[0][2] == [("image", "1.4.2", f"1.5.0@{digest}", "up")]


def test_several_published_versions_make_one_promotion_with_the_newest_each_source_selects() -> (
    None
):
    promotions = planner.plan_artifacts(
        CONFIG,
        status(SETTLED),
        [
            ("image:ghcr.io/acme/api", "1.5.0", None),
            ("image:ghcr.io/acme/api", "1.6.0", None),
            ("image:ghcr.io/acme/api", "2.0.0", None),  # outside >=1.0.0 <2
            ("chart:oci://ghcr.io/acme/charts/api", "2.4.0", None),
        ],
    )
    assert summary(promotions) == [
        ("dev", "api", [("image", "1.4.2", "1.6.0", "up"), ("chart", "2.3.0", "2.4.0", "up")])
    ]


def test_a_component_on_a_symbolic_link_is_never_planned_automatically_and_refused_explicitly() -> (
    None
):
    matrix = {a: {e: dict(c) for e, c in envs.items()} for a, envs in SETTLED.items()}
    matrix["web"]["dev"]["settings"] = "222222222222"
    del matrix["web"]["staging"]["settings"]
    why = "settings: envs/staging/web/settings is a symbolic link; promobot neither follows …"
    linked = Composition(matrix["web"]["staging"], problems=(why,), linked=frozenset({"settings"}))
    state = status(matrix)
    state = Status(
        state.ref,
        state.environments,
        {**state.apps, "web": {**state.apps["web"], "staging": linked}},
    )
    assert planner.plan(CONFIG, state) == []
    with pytest.raises(PlanError, match=r"^cannot change web.settings in staging: envs/staging"):
        planner.plan(CONFIG, state, env="staging", apps=["web"], explicit=True)
    values = "image: envs/dev/api/values.yaml is a symbolic link; promobot neither follows …"
    dev = Composition({"chart": "2.3.0"}, problems=(values,), linked=frozenset({"image"}))
    linked_dev = Status(state.ref, state.environments, {"api": {"dev": dev}})
    with pytest.raises(PlanError, match=r"^cannot change api.image in dev: envs/dev/api/values"):
        planner.plan_set(CONFIG, linked_dev, "api", "image", "1.5.0", "dev")
    assert planner.plan_artifact(CONFIG, linked_dev, "image:ghcr.io/acme/api", "1.5.0") == []


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ({"envs/staging/web/values.yaml"}, "envs/staging/web/values.yaml is a symbolic link"),
        ({"envs/staging/web"}, "envs/staging/web/values.yaml: envs/staging/web is a symbolic"),
        ({"envs/dev/web/settings/app.yml"}, "envs/dev/web/settings: envs/dev/web/settings/app"),
        ({"envs/staging/web/settings"}, "envs/staging/web/settings is a symbolic link"),
    ],
)
def test_apply_never_reads_writes_or_copies_through_a_symbolic_link(
    links: set[str], message: str
) -> None:
    snapshot = Snapshot(
        commit="c0ffee",
        objects={
            "envs/staging/web/values.yaml": "1" * 40,
            "envs/dev/web/settings": "2" * 40,
            "envs/dev/web/settings/app.yml": "3" * 40,
            "envs/staging/web/settings": "5" * 40,
        },
        files={
            "envs/staging/web/values.yaml": b"image:\n  tag: 3.0.0\n",
            "envs/dev/web/settings/app.yml": b"/etc/passwd",
            "envs/staging/web/settings": b"/etc",
        },
        trees=frozenset({"envs/dev/web/settings"}),
        links=frozenset(links),
    )
    matrix = with_("web", "dev", image="3.1.0", settings="222222222222")
    promotion = planner.plan(CONFIG, status(matrix), env="staging")[0]
    with pytest.raises(PlanError, match=message):
        planner.apply(CONFIG, promotion, snapshot)


def test_a_rollback_never_restores_a_symbolic_link_from_an_older_commit() -> None:
    now = Snapshot(
        commit="c0ffee",
        objects={
            "envs/staging/web/settings": "1" * 40,
            "envs/staging/web/settings/a.yml": "2" * 40,
        },
        files={"envs/staging/web/settings/a.yml": b"a: 1\n"},
        trees=frozenset({"envs/staging/web/settings"}),
    )
    old = Snapshot(
        commit="0ld",
        objects={
            "envs/staging/web/settings": "3" * 40,
            "envs/staging/web/settings/a.yml": "4" * 40,
        },
        files={"envs/staging/web/settings/a.yml": b"/etc/shadow"},
        trees=frozenset({"envs/staging/web/settings"}),
        links=frozenset({"envs/staging/web/settings/a.yml"}),
    )
    edit = planner.Edit(
        app="web",
        component="settings",
        file="envs/staging/web/settings",
        copy_from="envs/staging/web/settings",
        copy_commit="0ld",
        before="111111111111",
        after="333333333333",
    )
    rollback = planner.Promotion(
        env="staging", upstream=None, name="web", reason="rollback", apps=(), edits=(edit,)
    )
    with pytest.raises(PlanError, match=r"settings/a\.yml is a symbolic link"):
        planner.apply(CONFIG, rollback, now, {"0ld": old})
    assert planner.apply(CONFIG, rollback, now, {"0ld": now}) == {}  # the same files: no change
