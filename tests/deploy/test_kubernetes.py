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


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_ha_redis_keeps_its_queue_on_a_volume_and_is_probed() -> None:
    objects = render("ha")
    redis = objects[("Deployment", "promobot-redis")]
    spec, pod = redis["spec"], redis["spec"]["template"]["spec"]
    c = container(redis)
    # one pod, stopped before the next starts: a ReadWriteOnce volume, one append-only file
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    args = c["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    data = next(v for v in pod["volumes"] if v["name"] == "data")
    claim = data["persistentVolumeClaim"]["claimName"]
    assert "emptyDir" not in data
    pvc = objects[("PersistentVolumeClaim", claim)]["spec"]
    assert pvc["accessModes"] == ["ReadWriteOnce"] and pvc["resources"]["requests"]["storage"]
    assert {"name": "data", "mountPath": "/data"} in c["volumeMounts"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert "redis-cli ping" in " ".join(c[probe]["exec"]["command"]), probe
    assert c["resources"]["requests"] and c["resources"]["limits"]
    # full, Redis refuses writes rather than being killed at its limit or evicting jobs
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    maxmemory = int(args[args.index("--maxmemory") + 1].removesuffix("mb"))
    assert maxmemory < int(c["resources"]["limits"]["memory"].removesuffix("Mi"))
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["fsGroup"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False

    labels = spec["template"]["metadata"]["labels"]
    service = objects[("Service", "promobot-redis")]["spec"]
    assert matches(service["selector"], labels)
    assert service["ports"][0]["targetPort"] in {p["name"] for p in c["ports"]}


def test_ha_network_policies_let_only_promobot_reach_redis_and_redis_reach_no_one() -> None:
    objects = render("ha")
    redis_labels = objects[("Deployment", "promobot-redis")]["spec"]["template"]["metadata"]
    policy = objects[("NetworkPolicy", "promobot-redis")]["spec"]
    assert matches(policy["podSelector"]["matchLabels"], redis_labels["labels"])
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"} and not policy.get("egress")
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": 6379, "protocol": "TCP"}]
    (source,) = rule["from"]
    for name in ("promobot", "promobot-worker"):  # web and workers, and nothing else
        labels = objects[("Deployment", name)]["spec"]["template"]["metadata"]["labels"]
        assert matches(source["podSelector"]["matchLabels"], labels), name
    assert not matches(source["podSelector"]["matchLabels"], redis_labels["labels"])

    out = objects[("NetworkPolicy", "promobot")]["spec"]
    to_redis = [r for r in out["egress"] if {"port": 6379, "protocol": "TCP"} in r.get("ports", [])]
    (rule,) = to_redis
    assert matches(rule["to"][0]["podSelector"]["matchLabels"], redis_labels["labels"])
    for name in ("promobot", "promobot-worker"):  # the policy with that egress covers both
        labels = objects[("Deployment", name)]["spec"]["template"]["metadata"]["labels"]
        assert matches(out["podSelector"]["matchLabels"], labels), name
