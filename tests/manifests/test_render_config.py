"""`render:` in `.promobot.yaml`: every form loads, and every mistake is reported at its
file:line:col with a fix, as `promobot validate` shows it."""

from __future__ import annotations

import pytest

from bot import config
from bot.errors import ConfigError

HEAD = """\
version: 1
environments:
  dev: {}
  prod: {from: dev}
"""

APPS = """\
apps:
  web:
    components:
      chart:
        source: {chart: web, repo: "https://charts.example.com"}
        target: {file: "envs/{env}/web.yaml", field: chart.version}
      image:
        source: {image: ghcr.io/acme/web}
        target: {file: "envs/{env}/web.yaml", field: image.tag}
"""


def load(render: str, top: str = "") -> config.Config:
    return config.load(HEAD + top + APPS + "    render: " + render + "\n")


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.load(text)
    return [str(p) for p in info.value.problems]


def test_the_short_and_long_forms_load() -> None:
    assert load('{kustomize: "envs/{env}"}').apps["web"].render.kustomize.path == (  # type: ignore[union-attr]
        "envs/{env}"
    )
    long = load('{kustomize: {path: "envs/{env}", helm: true}}').apps["web"].render
    assert long is not None and long.kustomize is not None and long.kustomize.helm
    folder = load('{directory: {path: "envs/{env}/web", recurse: true}}').apps["web"].render
    assert folder is not None and folder.directory is not None and folder.directory.recurse
    none = load("none").apps["web"].render
    assert none is not None and none.none


def test_a_helm_render_takes_a_chart_component_or_a_folder() -> None:
    helm = (
        load(
            '{helm: {chart: chart, values: ["envs/{env}/web/values.yaml"], namespace: "{env}", '
            'kube_version: "1.31", api_versions: [monitoring.coreos.com/v1], '
            'set: {"image.tag": "{env}-1"}}}'
        )
        .apps["web"]
        .render
    )
    assert helm is not None and helm.helm is not None
    assert helm.helm.chart_path is None and helm.helm.release == "{app}"
    folder = load("{helm: {chart: ./charts/web}}").apps["web"].render
    assert folder is not None and folder.helm is not None
    assert folder.helm.chart_path == "charts/web"


def test_a_top_level_render_is_the_default() -> None:
    loaded = config.load(HEAD + 'render: {kustomize: "apps/{app}/{env}"}\n' + APPS)
    assert loaded.render is not None and loaded.render.kustomize is not None
    assert loaded.apps["web"].render is None


@pytest.mark.parametrize(
    ("render", "expected"),
    [
        (
            '{kustomize: "envs/{env}", directory: "x/{env}"}',
            ".promobot.yaml:14:5: apps.web.render: render: takes exactly one of kustomize:, "
            "helm: or directory: (or is none)",
        ),
        (
            "sometimes",
            ".promobot.yaml:14:13: apps.web.render: render: is none or a mapping with one of "
            "kustomize:, helm: or directory:, got 'sometimes'",
        ),
        (
            "{helm: {chart: image}}",
            ".promobot.yaml:14:28: render: chart 'image' has no chart: source in app web; "
            "components with a chart source: chart (or write a chart folder, like ./charts/web)",
        ),
        (
            "{helm: {chart: nginx}}",
            ".promobot.yaml:14:28: render: chart 'nginx' is not a component of app web; "
            "components with a chart source: chart (or write a chart folder, like ./charts/web)",
        ),
        (
            "{helm: {chart: ../charts/web}}",
            ".promobot.yaml:14:28: apps.web.render.helm.chart: chart folder '../charts/web' "
            "leaves the repository (it has a '..' segment); write a folder of the repository, "
            "like ./charts/web",
        ),
        (
            '{directory: "/etc/{env}"}',
            ".promobot.yaml:14:25: apps.web.render.directory.path: path '/etc/{env}' leaves the "
            "repository (it is absolute); write a relative path inside the repository, like "
            "'envs/{env}/values.yaml'",
        ),
        (
            '{helm: {chart: chart, release: "{version}"}}',
            ".promobot.yaml:14:44: apps.web.render.helm.release: unknown placeholder {version} "
            "in name '{version}'; use {app}, {env}",
        ),
        (
            "{kustomize: {path: envs, helmm: true}}",
            ".promobot.yaml:14:38: unknown key 'helmm'; did you mean 'helm'? allowed here: "
            "path, helm",
        ),
    ],
)
def test_mistakes_are_reported_at_their_line_and_column(render: str, expected: str) -> None:
    assert problems(HEAD + APPS + "    render: " + render + "\n") == [expected]


def test_a_top_level_chart_is_checked_against_every_app_without_its_own() -> None:
    text = (
        HEAD
        + "render: {helm: {chart: chart}}\n"
        + APPS
        + "  docs:\n    components:\n      image:\n        source: {image: a/docs}\n"
        + '        target: {file: "envs/{env}/docs.yaml", field: image}\n'
    )
    assert problems(text) == [
        ".promobot.yaml:5:24: render: chart 'chart' is not a component of app docs; "
        "components with a chart source: none (or write a chart folder, like ./charts/docs)"
    ]
