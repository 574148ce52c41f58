"""Real GitOps repos as teams lay them out (tests/fixtures/layouts): files shared by several
environments, values that differ on purpose, version ranges and values that cannot be read.
On each, `plan` proposes nothing harmful: no intended difference erased, no shared file changed
for one environment, no range loosened; what it cannot read it says, and never plans with."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot import planner, survey
from bot.composition import State
from bot.engine import read_state
from bot.errors import PlanError
from bot.forges.local import LocalForge
from bot.service import Service
from bot.settings import Settings
from bot.web.app import create_app
from tests import layouts
from tests.web.sites import matrix, parse

KUSTOMIZE = """\
version: 1
environments:
  integration-gpu: {}
  integration-non-gpu: {}
  load-gpu: {from: integration-gpu}
  load-non-gpu: {from: integration-non-gpu}
  qa: {from: load-non-gpu}
  staging-asia: {from: qa}
  staging-eu: {from: qa}
  staging-us: {from: qa}
  prod-asia: {from: staging-asia}
  prod-eu: {from: staging-eu}
  prod-us: {from: staging-us}
apps:
  simple:
    components:
      image:
        source: {image: docker.io/kostiscodefresh/simple-env-app}
        target:
          file: "envs/{env}/version.yml"
          field: "spec.template.spec.containers[name=webserver-simple].image"
          template: "docker.io/kostiscodefresh/simple-env-app:{version}"
      settings:
        target: {copy: "envs/{env}/settings.yml"}
        with: image
      replicas:
        promote: never
        target: {file: "envs/{env}/replicas.yml", field: spec.replicas}
"""

FLEET = """\
version: 1
environments:
  dev: {}
  test: {from: dev}
  prod: {from: test}
apps:
  guestbook:
    components:
      chart:
        source: {chart: guestbook, repo: "https://github.com/rancher/fleet-examples/releases"}
        target:
          file: multi-cluster/helm-external/fleet.yaml
          field: helm.chart
          template: "https://github.com/rancher/fleet-examples/releases/download/example/guestbook-{version}.tgz"
      overlay:
        promote: never
        target: {copy: "multi-cluster/kustomize/overlays/{env}"}
      values:
        promote: never
        target:
          file: multi-cluster/helm/fleet.yaml
          field: "targetCustomizations[name={env}].helm.values"
"""

FLUX = """\
version: 1
environments:
  staging: {}
  production: {from: staging}
apps:
  podinfo:
    components:
      chart:
        source: {chart: podinfo, repo: "https://stefanprodan.github.io/podinfo"}
        target: {file: "apps/{env}/podinfo-values.yaml", field: spec.chart.spec.version}
      redis:
        source: {image: public.ecr.aws/docker/library/redis}
        target: {file: apps/base/podinfo/release.yaml, field: spec.values.redis.tag}
      hosts:
        promote: never
        target: {file: "apps/{env}/podinfo-values.yaml", field: spec.values.httpRoute.hostnames}
"""


def state_of(name: str, config: str, tmp_path: Path, extra: dict[str, str] | None = None) -> State:
    repo = layouts.make(name, tmp_path, {".promobot.yaml": config, **(extra or {})})
    return read_state(LocalForge(repo))


def edited_files(promotions: list[planner.Promotion]) -> set[str]:
    return {edit.file for p in promotions for edit in p.edits}


# --- an 11-environment Kustomize repo: intended differences and copied config ------------------


def test_kustomize_shows_replicas_per_environment_and_never_promotes_them(tmp_path: Path) -> None:
    state = state_of("kustomize-envs", KUSTOMIZE, tmp_path)
    prod_eu = state.status.get("simple", "prod-eu")
    qa = state.status.get("simple", "qa")
    assert prod_eu is not None and qa is not None
    assert prod_eu.shown == {"replicas": "8"}
    assert qa.shown == {}  # qa has no replicas patch: a difference, not a problem
    assert qa.readable and prod_eu.readable
    promotions = planner.plan(state.config, state.status)
    assert not any(e.file.endswith("replicas.yml") for p in promotions for e in p.edits)
    assert not any(e.component == "replicas" for p in promotions for e in p.edits)


def test_kustomize_copies_settings_only_with_the_image_they_were_made_for(tmp_path: Path) -> None:
    state = state_of("kustomize-envs", KUSTOMIZE, tmp_path)
    status = state.status
    for p in planner.plan(state.config, status):
        for app_plan in p.apps:
            moved = {row.component for row in app_plan.changed}
            assert "settings" not in moved or "image" in moved, (p.env, moved)
    # an environment that already runs the image its upstream runs takes no settings alone
    same_image = [
        env
        for env in state.config.order
        if (up := state.config.environments[env].upstream) is not None
        and status.get("simple", env).components["image"]  # type: ignore[union-attr]
        == status.get("simple", up).components["image"]  # type: ignore[union-attr]
        and status.get("simple", env).components["settings"]  # type: ignore[union-attr]
        != status.get("simple", up).components["settings"]  # type: ignore[union-attr]
    ]
    assert same_image, "the layout has an environment whose settings differ at the same image"
    planned = {p.env for p in planner.plan(state.config, status)}
    assert not planned & set(same_image)


def test_a_selector_that_finds_nothing_is_an_error_and_plans_nothing(tmp_path: Path) -> None:
    typo = KUSTOMIZE.replace("containers[name=webserver-simple]", "container[0]")
    state = state_of("kustomize-envs", typo, tmp_path)
    qa = state.status.get("simple", "qa")
    assert qa is not None and qa.id is None and "container" in qa.why()
    assert planner.plan(state.config, state.status) == []
    held = planner.held_back(state.config, state.status)
    assert any(note.startswith("simple in qa cannot be read: image:") for note in held)
    errors = [f for f in survey.survey(state.config, state.status) if f.level == "error"]
    assert len(errors) == 11 and all("no value at spec.template.spec.container" in f.message
                                      for f in errors)  # fmt: skip
    with pytest.raises(PlanError, match="cannot promote simple to qa: simple in qa cannot be read"):
        planner.plan(state.config, state.status, env="qa", explicit=True)


def test_a_forgotten_template_is_said(tmp_path: Path) -> None:
    bare = KUSTOMIZE.replace(
        '          template: "docker.io/kostiscodefresh/simple-env-app:{version}"\n', ""
    )
    state = state_of("kustomize-envs", bare, tmp_path)
    (warning,) = [f for f in survey.survey(state.config, state.status) if f.level == "warning"]
    assert warning.where == ("apps", "simple", "components", "image", "target")
    assert "'docker.io/kostiscodefresh/simple-env-app:1.0', which is not a semver version" in (
        warning.message
    )
    assert "add template: 'docker.io/kostiscodefresh/simple-env-app:{version}'" in warning.message


# --- Rancher's Fleet examples: a shared chart, prod-only patches -------------------------------


def test_fleet_never_erases_prods_own_patch(tmp_path: Path) -> None:
    state = state_of("fleet-multi-cluster", FLEET, tmp_path)
    prod = state.status.get("guestbook", "prod")
    assert prod is not None and set(prod.shown) == {"overlay", "values"}
    assert prod.shown["values"] == '{"replicas": "3", "serviceType": "LoadBalancer"}'
    promotions = planner.plan(state.config, state.status)
    assert promotions == []  # nothing of prod's service patch is proposed away
    assert not any("frontend-service" in f for f in edited_files(promotions))


def test_fleets_shared_chart_is_one_value_changed_only_with_shared(tmp_path: Path) -> None:
    state = state_of("fleet-multi-cluster", FLEET, tmp_path)
    assert state.config.shared("guestbook", "chart", "prod") == ("dev", "test", "prod")
    notes = [f.message for f in survey.survey(state.config, state.status) if f.level == "note"]
    assert any(
        n.startswith("guestbook.chart is one value in multi-cluster/helm-external/fleet.yaml "
                     "(helm.chart) for dev, test, prod")
        for n in notes
    )  # fmt: skip
    # a new chart is not proposed "for dev" on its own: it would change test and prod too
    published = planner.plan_artifact(
        state.config,
        state.status,
        "chart:https://github.com/rancher/fleet-examples/releases/guestbook",
        "0.0.2",
    )
    assert published == []
    with pytest.raises(
        PlanError, match=r"which test, prod share: changing it changes test, prod too; say --shared"
    ):
        planner.plan_set(state.config, state.status, "guestbook", "chart", "0.0.2", "dev")
    both = planner.plan_set(
        state.config, state.status, "guestbook", "chart", "0.0.2", "dev", shared=True
    )
    assert both is not None and both.shared == ("test", "prod")


# --- Flux's kustomize-helm example: ranges, a shared base --------------------------------------


def test_flux_ranges_are_never_loosened_on_their_own(tmp_path: Path) -> None:
    state = state_of("flux-kustomize-helm", FLUX, tmp_path)
    production = state.status.get("podinfo", "production")
    assert production is not None and production.components["chart"] == ">=1.0.0"
    assert production.shown == {"hosts": '["podinfo.production"]'}
    assert planner.plan(state.config, state.status) == []
    assert planner.plan(state.config, state.status, env="production", explicit=True) == []
    held = planner.held_back(state.config, state.status)
    assert held == [
        "podinfo.chart in production is >=1.0.0, staging has >=1.0.0-alpha: a range is a "
        "policy, promoted only when asked (--only chart)"
    ]
    asked = planner.plan(
        state.config, state.status, env="production", only=["chart"], explicit=True
    )
    (row,) = asked[0].apps[0].changed
    assert (row.before, row.after) == (">=1.0.0", ">=1.0.0-alpha")
    notes = [f.message for f in survey.survey(state.config, state.status) if f.level == "note"]
    assert any("podinfo.chart is a range in staging (>=1.0.0-alpha), production (>=1.0.0)" in n
               for n in notes)  # fmt: skip


def test_flux_base_values_are_shared_by_both_environments(tmp_path: Path) -> None:
    state = state_of("flux-kustomize-helm", FLUX, tmp_path)
    assert state.config.shared("podinfo", "redis", "production") == ("staging", "production")
    newer = planner.plan_artifact(
        state.config, state.status, "image:public.ecr.aws/docker/library/redis", "8.7.0"
    )
    assert newer == []  # "staging's" redis is production's too


# --- the overview and the compare page ----------------------------------------------------------


def test_the_overview_shows_kept_shared_and_unreadable_values_for_what_they_are(
    tmp_path: Path,
) -> None:
    broken = FLUX.replace("field: spec.chart.spec.version}", "field: spec.chart.spec.versoin}")
    repo = layouts.make("flux-kustomize-helm", tmp_path, {".promobot.yaml": broken})
    service = Service(
        Settings(forge="local", repo=str(repo), data_dir=tmp_path / "data", workers=0)
    )
    with TestClient(create_app(service)) as client:
        _, cells = matrix(parse(client.get("/").text))
    production = cells["podinfo"]["production"].text
    assert "shared with staging" in production  # redis: one value in the base
    assert '["podinfo.production"]' in production  # hosts: kept apart, shown
    assert (
        "composition unknown" in production and "no value at spec.chart.spec.versoin" in production
    )
    assert not cells["podinfo"]["production"].differs  # nothing promobot could propose


def test_compare_shows_a_kept_folder_as_the_diff_of_its_files(tmp_path: Path) -> None:
    repo = layouts.make("fleet-multi-cluster", tmp_path, {".promobot.yaml": FLEET})
    service = Service(
        Settings(forge="local", repo=str(repo), data_dir=tmp_path / "data", workers=0)
    )
    with TestClient(create_app(service)) as client:
        page = client.get("/compare?from=test&to=prod").text
    assert "(kept apart)" in page and "on purpose: never promoted" in page
    assert "+++ multi-cluster/kustomize/overlays/prod/frontend-service.yaml" in page
    assert "--- /dev/null" in page
