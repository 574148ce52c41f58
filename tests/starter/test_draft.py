"""What `promobot init` finds in small trees of each layout, and what it makes of it."""

from __future__ import annotations

from bot import config
from bot.starter import build, starter
from bot.starter.draft import App, Component

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  template:
    spec:
      containers:
        - name: web
          image: ghcr.io/acme/web:{tag}
"""


def kustomization(tag: str) -> str:
    return f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../base]
images:
  - name: ghcr.io/acme/api
    newName: registry.acme.io/api
    newTag: "{tag}"
"""


def components(app: App) -> dict[str, Component]:
    return {c.name: c for c in app.components}


def test_kustomize_overlays_pin_images_and_the_base_is_only_a_note() -> None:
    files = {
        "base/kustomization.yaml": "resources: [deployment.yaml]\n",
        "base/deployment.yaml": DEPLOYMENT.format(tag="0.9.0"),
        "overlays/dev/kustomization.yaml": kustomization("1.2.0"),
        "overlays/prod/kustomization.yaml": kustomization("1.1.0"),
        "overlays/staging/kustomization.yaml": kustomization("1.1.0"),
    }
    draft = build(files)
    assert [(p.name, p.upstream) for p in draft.environments] == [
        ("dev", None),
        ("staging", "dev"),
        ("prod", "staging"),
    ]
    [app] = draft.apps
    assert app.name == "api"
    image = components(app)["image"]
    assert image.source is not None and image.source.image == "registry.acme.io/api"
    assert (image.file, image.field) == (
        "overlays/{env}/kustomization.yaml",
        "images[name=ghcr.io/acme/api].newTag",
    )
    assert image.values == {"dev": "1.2.0", "staging": "1.1.0", "prod": "1.1.0"}
    [note] = draft.notes
    assert note.startswith("base/deployment.yaml: spec.template.spec.containers[name=web].image")
    assert "a base, shared by the environments built on it" in note


def test_a_patch_with_the_whole_image_becomes_a_template() -> None:
    files = {
        f"envs/{env}/version.yml": DEPLOYMENT.format(tag=tag)
        for env, tag in [("qa", "2.0"), ("prod", "1.0")]
    }
    [app] = build(files).apps
    image = components(app)["image"]
    assert image.field == "spec.template.spec.containers[name=web].image"
    assert image.template == "ghcr.io/acme/web:{version}"
    assert image.values == {"qa": "2.0", "prod": "1.0"}


def test_a_range_is_written_commented_out_with_the_reason() -> None:
    release = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: podinfo, namespace: podinfo}}
spec:
  chart:
    spec:
      version: "{version}"
"""
    base = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: podinfo, namespace: podinfo}
spec: {url: "https://stefanprodan.github.io/podinfo"}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: podinfo, namespace: podinfo}
spec:
  chart:
    spec:
      chart: podinfo
      sourceRef: {kind: HelmRepository, name: podinfo}
"""
    files = {
        "apps/base/podinfo.yaml": base,
        "apps/staging/podinfo.yaml": release.format(version=">=1.0.0-alpha"),
        "apps/production/podinfo.yaml": release.format(version="1.x"),
    }
    draft = build(files)
    [app] = draft.apps
    chart = components(app)["chart"]
    assert chart.source is not None
    assert (chart.source.chart, chart.source.repo) == (
        "podinfo",
        "https://stefanprodan.github.io/podinfo",
    )
    assert chart.blocked is not None and chart.blocked.startswith(
        "a range is a policy, not a version"
    )
    text = starter(files)
    assert "apps: {}" in text
    assert (
        '  #       target: {file: "apps/{env}/podinfo.yaml", field: "spec.chart.spec.version"}'
        in text
    )
    assert config.load(text).apps == {}

    pinned = {**files, "apps/production/podinfo.yaml": release.format(version="6.5.0")}
    pinned["apps/staging/podinfo.yaml"] = release.format(version="6.5.1")
    cfg = config.load(starter(pinned))
    target = cfg.apps["podinfo"].components["chart"]
    assert target.source is not None and target.source.chart == "podinfo"


def test_fleet_target_customizations_are_environments_and_the_top_level_is_shared() -> None:
    fleet = """\
helm:
  chart: https://example.com/charts/guestbook-0.0.1.tgz
  values:
    image: {repository: ghcr.io/acme/guestbook, tag: "1.0.0"}
targetCustomizations:
  - name: dev
    helm: {values: {image: {tag: "1.2.0"}}}
  - name: prod
    helm: {values: {image: {tag: "1.1.0"}}}
"""
    draft = build({"guestbook/fleet.yaml": fleet, "guestbook/overlays/extra/x.yaml": "a: b\n"})
    assert [p.name for p in draft.environments] == ["dev", "prod"]  # not the fleet's overlays
    [app] = draft.apps
    assert app.name == "guestbook"
    image = components(app)["image"]
    assert image.field == "targetCustomizations[name={env}].helm.values.image.tag"
    # Fleet merges each target's values over the top level's: the repository set there applies
    assert image.source is not None and image.source.image == "ghcr.io/acme/guestbook"
    assert image.values == {"dev": "1.2.0", "prod": "1.1.0"}
    assert any("the top level of a fleet.yaml" in n for n in draft.notes)


def test_a_chart_template_tells_the_repository_of_a_tag() -> None:
    fleet = """\
targetCustomizations:
  - name: win2022
    helm: {values: {image: {tag: ltsc2022}}}
  - name: win2019
    helm: {values: {image: {tag: ltsc2019}}}
"""
    template = 'image: "mcr.microsoft.com/windows/servercore:{{ .Values.image.tag }}"\n'
    files = {
        "win/fleet.yaml": fleet,
        "win/Chart.yaml": "name: win\n",
        "win/templates/d.yaml": template,
    }
    [app] = build(files).apps
    image = components(app)["image"]
    assert image.source is not None and image.source.image == "mcr.microsoft.com/windows/servercore"
    assert image.blocked is None
    assert any("ltsc2019, ltsc2022 are not semantic versions" in n for n in image.notes)
    text = starter(files)
    assert "# check the order: a chain in the order found" in text


def test_argo_cd_applications_named_per_environment_in_one_folder() -> None:
    app = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: api-{env}}}
spec:
  source: {{repoURL: "https://charts.acme.io", chart: api, targetRevision: {version}}}
"""
    files = {
        "argo/api-prod.yaml": app.format(env="prod", version="1.0.0"),
        "argo/api-dev.yaml": app.format(env="dev", version="1.1.0"),
        "argo/api-staging.yaml": app.format(env="staging", version="1.0.0"),
    }
    draft = build(files)
    assert [p.name for p in draft.environments] == ["dev", "staging", "prod"]
    [found] = draft.apps
    chart = components(found)["chart"]
    assert found.name == "api"
    assert (chart.file, chart.field) == ("argo/api-{env}.yaml", "spec.source.targetRevision")
    assert chart.source is not None and chart.source.repo == "https://charts.acme.io"


def test_an_applicationset_list_generator_names_environments_and_versions() -> None:
    appset = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: api}
spec:
  generators:
    - list:
        elements:
          - {env: dev, version: 1.3.0}
          - {env: prod, version: 1.2.0}
  template:
    metadata: {name: "api-{{env}}"}
    spec:
      source: {repoURL: "https://charts.acme.io", chart: api, targetRevision: "{{version}}"}
"""
    draft = build({"appset.yaml": appset})
    [app] = draft.apps
    chart = components(app)["chart"]
    assert chart.field == "spec.generators[0].list.elements[env={env}].version"
    assert chart.values == {"dev": "1.3.0", "prod": "1.2.0"}


def test_an_app_only_in_some_environments_lists_them() -> None:
    values = 'image:\n  repository: ghcr.io/acme/{app}\n  tag: "{tag}"\n'
    files = {
        "envs/dev/api/values.yaml": values.format(app="api", tag="1.0.0"),
        "envs/prod/api/values.yaml": values.format(app="api", tag="0.9.0"),
        "envs/dev/web/values.yaml": values.format(app="web", tag="2.0.0"),
    }
    cfg = config.load(starter(files))
    assert cfg.apps["api"].environments is None
    assert cfg.apps["web"].environments == ("dev",)


def test_the_same_files_give_the_same_text_in_any_order() -> None:
    files = {
        f"envs/{env}/version.yml": DEPLOYMENT.format(tag="1.0") for env in ("dev", "qa", "prod")
    }
    assert starter(files) == starter(dict(reversed(list(files.items()))))


def test_a_file_that_is_not_yaml_is_named_not_raised() -> None:
    files = {
        "envs/dev/version.yml": DEPLOYMENT.format(tag="1.0"),
        "envs/prod/version.yml": DEPLOYMENT.format(tag="1.0"),
        "envs/prod/broken.yaml": "a: [1,\n",
    }
    draft = build(files)
    assert any(n.startswith("envs/prod/broken.yaml: not valid YAML at line") for n in draft.notes)
    config.load(starter(files))


def test_two_images_in_one_overlay_are_two_components_named_by_image() -> None:
    overlay = """\
images:
  - {name: ghcr.io/acme/api, newTag: "1.0.0"}
  - {name: ghcr.io/acme/sidecar, newTag: "0.3.0"}
"""
    files = {f"overlays/{env}/kustomization.yaml": overlay for env in ("dev", "prod")}
    [app] = build(files).apps
    assert app.name == "api"
    assert sorted(components(app)) == ["api", "sidecar"]
    cfg = config.load(starter(files))
    assert (
        cfg.apps["api"].components["sidecar"].target.field
        == "images[name=ghcr.io/acme/sidecar].newTag"
    )


def test_an_alias_bomb_or_a_deep_file_costs_its_text_and_is_named() -> None:
    bomb = "a: &a {image: {repository: r/x, tag: '1'}}\n"
    for i in range(1, 30):
        bomb += f"l{i}: &l{i} {{x: *{'a' if i == 1 else f'l{i - 1}'}, y: *{'a' if i == 1 else f'l{i - 1}'}}}\n"
    deep = "x: " + "{a: " * 950 + "1" + "}" * 950 + "\n"
    files = {
        "envs/dev/values.yaml": bomb,
        "envs/prod/values.yaml": bomb,
        "envs/prod/deep.yaml": deep,
    }
    draft = build(files)
    assert [p.name for p in draft.environments] == ["dev", "prod"]
    assert any(n.startswith("envs/prod/deep.yaml: nested too deeply") for n in draft.notes)
