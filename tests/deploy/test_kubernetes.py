"""Every Kustomize overlay renders (with the kubectl on this machine) into the objects a
platform team expects, locked down the way the README says."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

KUSTOMIZE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


def render(overlay: str) -> dict[tuple[str, str], dict[str, Any]]:
    out = subprocess.run(
        [KUBECTL, "kustomize", str(KUSTOMIZE / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out) if d}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_names(c: dict[str, Any]) -> set[str]:
    return {e["name"] for e in c.get("env", [])}


@pytest.mark.parametrize("overlay", ["single", "ha"])
def test_every_overlay_has_the_objects_and_the_lockdown(overlay: str) -> None:
    objects = render(overlay)
    for kind in (
        "Deployment",
        "Service",
        "ServiceAccount",
        "ConfigMap",
        "PodDisruptionBudget",
        "NetworkPolicy",
    ):
        assert (kind, "promobot") in objects, kind
    assert not [k for k in objects if k[0] == "Secret"]  # secrets are referenced, never shipped
    web = objects[("Deployment", "promobot")]
    pod = web["spec"]["template"]["spec"]
    c = container(web)
    assert c["args"] == ["serve"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["requests"] and c["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["automountServiceAccountToken"] is False
    refs = {e["valueFrom"]["secretKeyRef"]["key"] for e in c["env"] if "valueFrom" in e}
    assert {
        "webhook-secret",
        "signing-key",
        "registry-token",
        "github-token",
        "gitlab-token",
    } <= refs
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/var/lib/promobot", "/tmp", "/etc/promobot"} <= mounts
    key = next(v for v in pod["volumes"] if v["name"] == "github-app")
    assert key["secret"]["secretName"] == "promobot-github-app"
    config = objects[("ConfigMap", "promobot")]["data"]
    assert config["PROMOBOT_GITHUB_PRIVATE_KEY_FILE"] == "/etc/promobot/github-app.pem"
    policy = objects[("NetworkPolicy", "promobot")]["spec"]
    assert policy["ingress"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]


def test_single_keeps_the_sqlite_queue_on_a_volume_and_never_runs_two_pods() -> None:
    objects = render("single")
    web = objects[("Deployment", "promobot")]
    assert web["spec"]["replicas"] == 1
    assert web["spec"]["strategy"]["type"] == "Recreate"
    data = next(v for v in web["spec"]["template"]["spec"]["volumes"] if v["name"] == "data")
    assert data == {"name": "data", "persistentVolumeClaim": {"claimName": "promobot-data"}}
    assert ("PersistentVolumeClaim", "promobot-data") in objects
    assert "PROMOBOT_QUEUE_URL" not in objects[("ConfigMap", "promobot")]["data"]


def test_ha_runs_web_replicas_and_workers_on_one_redis() -> None:
    objects = render("ha")
    web, worker = objects[("Deployment", "promobot")], objects[("Deployment", "promobot-worker")]
    assert web["spec"]["replicas"] >= 2 and worker["spec"]["replicas"] >= 2
    assert container(worker)["args"][0] == "worker"
    assert container(worker)["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"PROMOBOT_WEBHOOK_SECRET", "PROMOBOT_SIGNING_KEY"} <= env_names(container(worker))
    config = objects[("ConfigMap", "promobot")]["data"]
    assert config["PROMOBOT_QUEUE_URL"] == "redis://promobot-redis:6379/0"
    assert config["PROMOBOT_WORKERS"] == "0"
    assert ("Service", "promobot-redis") in objects
    egress = objects[("NetworkPolicy", "promobot")]["spec"]["egress"]
    assert any(p.get("port") == 6379 for rule in egress for p in rule.get("ports", []))
