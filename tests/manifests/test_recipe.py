"""How each cell is rendered, on real layouts: render: first, then what deploys the app (Argo CD,
Flux, Fleet), then the nearest kustomization, else a problem that says what to write."""

from __future__ import annotations

from pathlib import Path

from bot import composition, config
from bot.composition import Snapshot
from bot.manifests.model import ChartRef, Directory, Helm, Kustomize, Recipe
from bot.manifests.recipe import flux_release_name, recipe, recipes
from tests.manifests.repos import layout, repo
from tests.test_real_layouts import FLUX, KUSTOMIZE

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "argocd"


def every(text: str, snapshot: Snapshot) -> dict[tuple[str, str], Recipe]:
    cfg = config.load(text)
    return recipes(cfg, snapshot, composition.status(cfg, snapshot))


def test_every_environment_of_a_kustomize_repo_builds_its_own_overlay(tmp_path: Path) -> None:
    found = every(KUSTOMIZE, layout("kustomize-envs", tmp_path))
    assert len(found) == 11
    for (_app, env), each in found.items():
        assert each.how == Kustomize(f"envs/{env}")
        assert each.origin == f"kustomization envs/{env}/kustomization.yml"
        assert each.problem is None


def test_a_flux_helmrelease_patch_is_merged_over_its_base(tmp_path: Path) -> None:
    found = every(FLUX, layout("flux-kustomize-helm", tmp_path))
    staging = found[("podinfo", "staging")]
    assert staging.origin == (
        "Flux HelmRelease apps/base/podinfo/release.yaml patched by apps/staging/podinfo-values.yaml"
    )
    assert isinstance(staging.how, Helm)
    assert staging.how.chart == ChartRef(
        repo="https://stefanprodan.github.io/podinfo", name="podinfo", version=">=1.0.0-alpha"
    )
    assert staging.caveat is not None and "range (>=1.0.0-alpha)" in staging.caveat
    (values,) = staging.how.values
    assert values["httpRoute"]["hostnames"] == ["podinfo.staging"]
    assert values["redis"]["tag"] == "8.6.2"
    assert (staging.how.release, staging.how.namespace) == ("podinfo", "podinfo")
    production = found[("podinfo", "production")]
    assert isinstance(production.how, Helm)
    assert production.how.values[0]["httpRoute"]["hostnames"] != ["podinfo.staging"]


FLEET = """\
version: 1
environments:
  dev: {}
  test: {from: dev}
  prod: {from: test}
apps:
  guestbook:
    components:
      values:
        promote: never
        target:
          file: multi-cluster/helm/fleet.yaml
          field: "targetCustomizations[name={env}].helm.values"
  redis:
    components:
      overlay:
        promote: never
        target: {copy: "multi-cluster/kustomize/overlays/{env}"}
"""


def test_fleet_bundles_take_the_customization_named_for_the_environment(tmp_path: Path) -> None:
    found = every(FLEET, layout("fleet-multi-cluster", tmp_path))
    prod = found[("guestbook", "prod")]
    assert prod.origin == "Fleet bundle multi-cluster/helm/fleet.yaml"
    assert prod.how == Helm(
        ChartRef(path="multi-cluster/helm"),
        values=({"serviceType": "LoadBalancer", "replicas": 3},),
        release="helm",
        namespace="fleet-mc-helm-example",
    )
    dev = found[("guestbook", "dev")]
    assert isinstance(dev.how, Helm) and dev.how.values == ({"replication": False},)
    assert found[("redis", "test")].how == Kustomize("multi-cluster/kustomize/overlays/test")


ARGO = """\
version: 1
environments:
  dev: {}
  prod: {from: dev}
apps:
  guestbook:
    components:
      image:
        source: {image: ghcr.io/acme/guestbook}
        target: {file: "apps/{env}/guestbook.yaml", field: "spec.source.helm.parameters[name=image.tag].value"}
"""


def argo_app(env: str, extra: str = "") -> str:
    return f"""\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: helm-guestbook-{env}
  namespace: argocd
spec:
  destination:
    namespace: helm-guestbook
    server: https://kubernetes.default.svc
  project: default
  source:
    path: helm-guestbook
    repoURL: https://github.com/acme/deploy.git
    targetRevision: HEAD
    helm:
      valueFiles: [values-production.yaml]
      parameters:
      - {{name: image.tag, value: "1.4.0"}}
      - {{name: replicas, value: "2", forceString: true}}
{extra}"""


def argo_repo(tmp_path: Path, apps: dict[str, str]) -> Snapshot:
    files = {
        f"helm-guestbook/{p.name}": p.read_text() for p in (FIXTURES / "helm-guestbook").iterdir()
    }
    return repo({**files, **apps}, tmp_path / "argo")


def test_an_argo_cd_application_of_a_chart_folder(tmp_path: Path) -> None:
    snapshot = argo_repo(
        tmp_path,
        {"apps/dev/guestbook.yaml": argo_app("dev"), "apps/prod/guestbook.yaml": argo_app("prod")},
    )
    prod = every(ARGO, snapshot)[("guestbook", "prod")]
    assert prod.origin == "Argo CD Application apps/prod/guestbook.yaml"
    assert prod.how == Helm(
        ChartRef(path="helm-guestbook"),
        values_files=("helm-guestbook/values-production.yaml",),
        set_values=("image.tag=1.4.0",),
        set_strings=("replicas=2",),
        release="helm-guestbook-prod",
        namespace="helm-guestbook",
    )


MULTI = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: prometheus}
spec:
  destination: {namespace: monitoring}
  sources:
  - repoURL: https://prometheus-community.github.io/helm-charts
    chart: prometheus
    targetRevision: 15.7.1
    helm:
      valueFiles: [$values/charts/prometheus/values.yaml]
      releaseName: prom
      valuesObject: {server: {replicaCount: 2}}
  - repoURL: %s
    targetRevision: dev
    ref: values
"""


def test_a_multi_source_application_reads_values_from_its_ref(tmp_path: Path) -> None:
    cfg = config.load(ARGO)
    ours = argo_repo(
        tmp_path,
        {
            "apps/prod/guestbook.yaml": MULTI % "https://github.com/acme/deploy.git",
            "charts/prometheus/values.yaml": "x: 1\n",
        },
    )
    found = recipe(cfg, ours, "guestbook", "prod", {}, ["git@github.com:acme/deploy.git"])
    assert found.how == Helm(
        ChartRef("https://prometheus-community.github.io/helm-charts", "prometheus", "15.7.1"),
        values_files=("charts/prometheus/values.yaml",),
        values=({"server": {"replicaCount": 2}},),
        release="prom",
        namespace="monitoring",
    )
    theirs = argo_repo(
        tmp_path / "2", {"apps/prod/guestbook.yaml": MULTI % "https://github.com/other/values.git"}
    )
    found = recipe(cfg, theirs, "guestbook", "prod", {}, ["https://github.com/acme/deploy"])
    assert found.how is None
    assert found.problem is not None and "https://github.com/other/values.git" in found.problem


def test_a_plugin_cannot_be_run(tmp_path: Path) -> None:
    plugin = argo_app("prod").replace("    helm:\n", "    plugin: {name: cdk8s}\n    helm:\n")
    found = every(ARGO, argo_repo(tmp_path, {"apps/prod/guestbook.yaml": plugin}))
    assert found[("guestbook", "prod")].problem == (
        "a config-management plugin renders it; promobot cannot run plugins"
    )


HELM_RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: apps}
spec:
  targetNamespace: %s
  chart:
    spec:
      chart: web
      version: 2.1.0
      sourceRef: {kind: HelmRepository, name: acme}
  valuesFrom:
  - {kind: ConfigMap, name: web-values}
  - {kind: ConfigMap, name: web-values, valuesKey: tag, targetPath: image.tag}
  values: {replicas: 3}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: acme, namespace: apps}
spec: {type: oci, url: ghcr.io/acme/charts}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-values, namespace: apps}
data:
  values.yaml: "ingress: {host: web.example.com}"
  tag: "1.2.3"
"""

WEB = """\
version: 1
environments:
  prod: {}
apps:
  web:
    components:
      chart:
        source: {chart: web, repo: "oci://ghcr.io/acme/charts"}
        target: {file: "flux/{env}/web.yaml", field: spec.chart.spec.version}
"""


def test_a_flux_helmrelease_with_values_from_config_maps(tmp_path: Path) -> None:
    snapshot = repo({"flux/prod/web.yaml": HELM_RELEASE % "prod"}, tmp_path / "r")
    found = every(WEB, snapshot)[("web", "prod")]
    assert found.how == Helm(
        ChartRef("oci://ghcr.io/acme/charts", "web", "2.1.0"),
        values=({"ingress": {"host": "web.example.com"}}, {"replicas": 3}),
        set_values=("image.tag=1.2.3",),
        release="prod-web",
        namespace="prod",
    )
    secret = HELM_RELEASE.replace("kind: ConfigMap, name: web-values}", "kind: Secret, name: s}")
    found = every(WEB, repo({"flux/prod/web.yaml": secret % "prod"}, tmp_path / "s"))
    assert found[("web", "prod")].problem == "values from Secret s are not in git"


def test_flux_shortens_long_release_names_as_helm_requires() -> None:
    release = {"metadata": {"name": "a" * 30}, "spec": {"targetNamespace": "b" * 30}}
    name = flux_release_name(release)
    assert len(name) == 53 and name.startswith("b" * 30 + "-" + "a" * 9 + "-")


def test_render_comes_first_and_none_says_so(tmp_path: Path) -> None:
    snapshot = repo(
        {
            "flux/prod/web.yaml": HELM_RELEASE % "prod",
            "envs/prod/values.yaml": "a: 1\n",
        },
        tmp_path / "r",
    )
    helm = WEB + (
        '    render: {helm: {chart: chart, values: ["envs/{env}/values.yaml"], '
        'namespace: "{env}", kube_version: "1.31", set: {"env": "{env}"}}}\n'
    )
    found = every(helm, snapshot)[("web", "prod")]
    assert found.origin == "render: of web in .promobot.yaml"
    assert found.how == Helm(
        ChartRef("oci://ghcr.io/acme/charts", "web", "2.1.0"),
        values_files=("envs/prod/values.yaml",),
        set_values=("env=prod",),
        release="web",
        namespace="prod",
        kube_version="v1.31",
    )
    none = every(WEB + "    render: none\n", snapshot)[("web", "prod")]
    assert (none.how, none.problem) == (None, "not rendered: render: none")


def test_sops_values_are_refused_and_nothing_found_says_what_to_write(tmp_path: Path) -> None:
    snapshot = repo(
        {
            "flux/prod/web.yaml": "chart: {version: 2.1.0}\n",
            "envs/prod/values.yaml": "a: ENC[AES256_GCM,data:x]\nsops: {mac: 'ENC[x]', version: 3.8.1}\n",
        },
        tmp_path / "r",
    )
    plain = WEB.replace("spec.chart.spec.version", "chart.version")
    helm = plain + '    render: {helm: {chart: chart, values: ["envs/{env}/values.yaml"]}}\n'
    assert every(helm, snapshot)[("web", "prod")].problem == (
        "values file envs/prod/values.yaml is SOPS-encrypted; promobot does not decrypt"
    )
    nothing = every(WEB, snapshot)[("web", "prod")]
    assert nothing.how is None
    assert nothing.problem == (
        "promobot found no Argo CD Application, Flux HelmRelease or Kustomization, fleet.yaml, "
        "kustomization.yaml or Chart.yaml for web in prod; say how with render: in .promobot.yaml"
    )


def test_a_flux_kustomization_of_a_plain_folder_is_a_directory(tmp_path: Path) -> None:
    kustomization = (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: web}\n"
        "spec:\n  path: ./deploy/prod\n  sourceRef: {kind: GitRepository, name: flux-system}\n"
        "  postBuild: {substitute: {cluster: prod}}\n"
    )
    snapshot = repo(
        {
            "flux/prod/web.yaml": "chart: {version: 2.1.0}\n",
            "flux/prod/sync.yaml": kustomization,
            "deploy/prod/web.yaml": "kind: Deployment\n",
        },
        tmp_path / "r",
    )
    found = every(WEB.replace("spec.chart.spec.version", "chart.version"), snapshot)[
        ("web", "prod")
    ]
    assert found.how == Directory("deploy/prod", recurse=True)
    assert found.caveat == "variables are not substituted (postBuild)"
