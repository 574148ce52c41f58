"""bot/live/rancher_fleet.py through the real kubernetes client, against a Kubernetes API
server face over real HTTP on 127.0.0.1 (tests/kube/server.py)."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import config
from bot.errors import SourceError
from bot.forges.retry import Policy
from bot.live.rancher_fleet import (
    Fleet,
    FleetError,
    Forbidden,
    Poll,
    Unauthorized,
    to_live,
    wanted,
)
from tests.kube.server import KubeServer, bundle, kube_server, write_kubeconfig

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
QUICK = Policy(attempts=3, backoff_base=0.01, backoff_max=0.02)
SHA = "3f1c0a9e" * 5
FIXTURES = Path(__file__).parent.parent / "fixtures" / "fleet"


def poll(server: KubeServer, tmp: Path, *names: str, token: str | None = None) -> Poll:
    kubeconfig = write_kubeconfig(tmp / "kubeconfig", server.url, token or server.token)
    fleet = Fleet(str(kubeconfig), policy=QUICK)
    try:
        return fleet.poll(names, NOW)
    finally:
        fleet.close()


def not_ready(cluster: str, state: str, message: str = "", **status: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"name": cluster, "bundleState": state}
    if message:
        resource["message"] = message
    resource.update(status)
    return resource


CRASHING: dict[str, Any] = {
    "nonReadyStatus": [
        {
            "uid": "5c3e",
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "namespace": "api",
            "name": "api",
            "summary": {
                "state": "in-progress",
                "error": True,
                "transitioning": True,
                "message": ["Deployment does not have minimum availability."],
            },
        }
    ]
}
ROLLING: dict[str, Any] = {
    "nonReadyStatus": [
        {
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "namespace": "api",
            "name": "api",
            "summary": {"state": "in-progress", "transitioning": True},
        }
    ]
}

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "ready on every cluster",
        {"desired": 2},
        {"sync": "synced", "health": "healthy", "revision": SHA, "settled": True, "message": ""},
    ),
    (
        "not ready: a resource still rolls out",
        {
            "desired": 2,
            "states": {"NotReady": 1},
            "non_ready": [not_ready("fleet-default/prod-eu", "NotReady", **ROLLING)],
        },
        {
            "sync": "synced",
            "health": "progressing",
            "revision": SHA,  # applied everywhere: the clusters run this commit, not ready yet
            "settled": False,
            "message": "NotReady: 1/2 clusters ready; cluster fleet-default/prod-eu; "
            "deployment.apps api/api in-progress",
        },
    ),
    (
        "not ready with an error: degraded",
        {
            "states": {"NotReady": 1},
            "non_ready": [not_ready("fleet-default/prod-eu", "NotReady", **CRASHING)],
        },
        {
            "health": "degraded",
            "failed": True,
            "message": "NotReady: 0/1 clusters ready; cluster fleet-default/prod-eu; "
            "deployment.apps api/api in-progress (Deployment does not have minimum availability.)",
        },
    ),
    (
        "modified in the cluster: drift, healthy",
        {
            "states": {"Modified": 1},
            "non_ready": [
                not_ready(
                    "fleet-default/prod-eu",
                    "Modified",
                    modifiedStatus=[
                        {"kind": "ConfigMap", "apiVersion": "v1", "namespace": "api", "name": "a"},
                        {
                            "kind": "Service",
                            "apiVersion": "v1",
                            "namespace": "api",
                            "name": "b",
                            "missing": True,
                        },
                    ],
                )
            ],
        },
        {
            "sync": "out-of-sync",
            "health": "healthy",
            "revision": SHA,
            "settled": False,
            "message": "Modified: 0/1 clusters ready; cluster fleet-default/prod-eu; "
            "configmap api/a modified; service api/b missing",
        },
    ),
    (
        "err applied: degraded, and the commit is not what runs",
        {
            "desired": 3,
            "states": {"ErrApplied": 1, "NotReady": 1},
            "non_ready": [
                not_ready("fleet-default/prod-us", "NotReady", **ROLLING),
                not_ready(
                    "fleet-default/prod-eu",
                    "ErrApplied",
                    'error validating "": unknown field "replica"',
                ),
            ],
        },
        {
            "sync": "out-of-sync",
            "health": "degraded",
            "revision": None,
            "failed": True,
            "message": "ErrApplied: 1/3 clusters ready; cluster fleet-default/prod-eu: "
            'error validating "": unknown field "replica"',
        },
    ),
    (
        "wait applied: progressing, the agent has not applied it yet",
        {
            "states": {"WaitApplied": 1},
            "non_ready": [not_ready("fleet-default/dev", "WaitApplied")],
        },
        {"sync": "out-of-sync", "health": "progressing", "revision": None},
    ),
    (
        "out of sync: staged but held back (rollout partitions)",
        {"desired": 4, "states": {"OutOfSync": 2}},
        {"sync": "out-of-sync", "health": "progressing", "revision": None},
    ),
    (
        "targets no cluster: Fleet calls it ready, nothing runs",
        {"desired": 0, "ready": 0},
        {"sync": "unknown", "health": "missing", "revision": None, "settled": False},
    ),
    (
        "the controller has not processed the new spec yet",
        {"generation": 3, "observed_generation": 2},
        {"sync": "out-of-sync", "health": "progressing", "revision": None, "settled": False},
    ),
    (
        "not every BundleDeployment exists yet",
        {"desired": 3, "ready": 1},
        {"sync": "out-of-sync", "health": "progressing", "message": "1/3 clusters ready"},
    ),
    (
        "ready without a commit label (not made from a GitRepo)",
        {"commit": None},
        {
            "health": "healthy",
            "revision": None,
            "message": "the Bundle has no fleet.cattle.io/commit label",
        },
    ),
]


@pytest.mark.parametrize(("kwargs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bundle_maps_to_live(
    tmp_path: Path, kwargs: dict[str, Any], expected: dict[str, Any]
) -> None:
    with kube_server() as server:
        server.put(bundle("api-prod", commit=kwargs.pop("commit", SHA), **kwargs))
        live = poll(server, tmp_path, "fleet-default/api-prod").lives["fleet-default/api-prod"]
    assert live.source == f"fleet {server.url}"
    assert live.observed == NOW
    assert live.since == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # the Ready condition's
    assert live.images == () and live.rollout is None
    for attribute, value in expected.items():
        assert getattr(live, attribute) == value, attribute


def test_one_list_call_per_namespace_a_poll_whatever_the_number_of_apps(tmp_path: Path) -> None:
    with kube_server() as server:
        names = [f"app{i}-{env}" for i in range(20) for env in ("dev", "staging", "prod")]
        server.put(*(bundle(n) for n in names))
        server.put(bundle("api-prod", namespace="fleet-prod"))
        wanted_names = [f"fleet-default/{n}" for n in names] + ["fleet-prod/api-prod"]
        result = poll(server, tmp_path, *wanted_names)
        assert server.lists == 2
        assert server.hits["list bundles fleet-default"] == 1
        assert server.hits["list bundles fleet-prod"] == 1
    assert result.calls == 2
    assert set(result.lives) == set(wanted_names)
    assert all(live.settled for live in result.lives.values())
    assert result.resource_versions == {
        "fleet-default": "161",
        "fleet-prod": "161",
    }  # 100 + 61 puts


def test_a_bundle_fleet_does_not_list_is_unknown_and_says_why(tmp_path: Path) -> None:
    with kube_server() as server:
        server.put(bundle("api-dev"))
        lives = poll(server, tmp_path, "fleet-default/api-dev", "fleet-default/api-prod").lives
    live = lives["fleet-default/api-prod"]
    assert (live.sync, live.health, live.revision, live.since) == ("unknown", "unknown", None, None)
    assert "no Bundle 'fleet-default/api-prod'" in live.message
    assert lives["fleet-default/api-dev"].settled


def test_a_wrong_token_is_one_clear_error_without_the_token(tmp_path: Path) -> None:
    with kube_server() as server:
        server.put(bundle("api-dev"))
        with pytest.raises(Unauthorized) as caught:
            poll(server, tmp_path, "fleet-default/api-dev", token="wrong-token-value")
        assert server.hits["401"] == 1  # not retried: credentials do not get better
    message = str(caught.value)
    assert isinstance(caught.value, SourceError)
    assert "401 Unauthorized" in message and "PROMOBOT_FLEET_KUBECONFIG" in message
    assert "wrong-token-value" not in message and "kube-token" not in message
    assert "\n" not in message


def test_rbac_refusing_a_namespace_is_one_clear_error(tmp_path: Path) -> None:
    with kube_server(forbidden={"fleet-default"}) as server, pytest.raises(Forbidden) as caught:
        poll(server, tmp_path, "fleet-default/api-dev")
    message = str(caught.value)
    assert 'cannot list resource "bundles" in API group "fleet.cattle.io"' in message
    assert "grant get, list and watch" in message and "\n" not in message


def test_an_unreachable_api_server_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url, "kube-token")
    fleet = Fleet(str(kubeconfig), policy=QUICK)
    with pytest.raises(FleetError) as caught:
        fleet.poll(["fleet-default/api-dev"], NOW)
    message = str(caught.value)
    assert message.startswith(f"fleet {url} (list bundles.fleet.cattle.io in fleet-default)")
    assert "cannot connect" in message and "kube-token" not in message
    assert "Traceback" not in message and "\n" not in message


def test_a_failing_api_server_is_retried_then_one_clear_error(tmp_path: Path) -> None:
    with kube_server() as server:
        server.put(bundle("api-dev"))
        server.faults = [503]
        assert poll(server, tmp_path, "fleet-default/api-dev").calls == 2
        server.faults = [502, 503, 500]
        with pytest.raises(FleetError, match=r"500 injected"):
            poll(server, tmp_path, "fleet-default/api-dev")


def test_a_missing_or_broken_kubeconfig_is_one_clear_error(tmp_path: Path) -> None:
    fleet = Fleet(str(tmp_path / "nowhere"))
    with pytest.raises(FleetError, match=r"PROMOBOT_FLEET_KUBECONFIG .* cannot be used"):
        fleet.poll(["fleet-default/api-dev"], NOW)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:1", "secret-token")
    fleet = Fleet(str(kubeconfig), "no-such-context")
    with pytest.raises(FleetError, match="context no-such-context") as caught:
        fleet.poll(["fleet-default/api-dev"], NOW)
    assert "secret-token" not in str(caught.value)


def test_a_context_of_the_kubeconfig_is_chosen(tmp_path: Path) -> None:
    with kube_server() as server:
        server.put(bundle("api-dev", commit=SHA))
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url, server.token, "mgmt")
        data = yaml.safe_load(kubeconfig.read_text())
        data["current-context"] = ""  # nothing current: only the named context can work
        kubeconfig.write_text(yaml.safe_dump(data))
        fleet = Fleet(str(kubeconfig), "mgmt")
        live = fleet.poll(["fleet-default/api-dev"], NOW).lives["fleet-default/api-dev"]
        fleet.close()
    assert live.revision == SHA


def test_the_configuration_names_the_bundles_to_read() -> None:
    cfg = config.load(
        "version: 1\nenvironments:\n"
        "  dev: {live: {fleet: {}}}\n"
        "  prod: {from: dev, live: {fleet: {bundle: 'env-apps-{app}-prod', namespace: fleet-prod}}}\n"
        "  edge: {from: prod, live: {argocd: {}}}\n"
        "apps:\n"
        "  api:\n"
        "    components:\n"
        "      image:\n"
        "        source: {image: ghcr.io/acme/api}\n"
        "        target: {file: 'envs/{env}/api.yaml', field: image.tag}\n"
    )
    assert wanted(cfg) == {
        "fleet-default/api-dev": [("api", "dev")],
        "fleet-prod/env-apps-api-prod": [("api", "prod")],
    }


def test_the_fleet_settings_are_service_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import settings

    monkeypatch.setenv("PROMOBOT_FLEET_CONTEXT", "mgmt")
    with pytest.raises(settings.SettingsError, match="needs PROMOBOT_FLEET_KUBECONFIG"):
        settings.load()
    monkeypatch.setenv("PROMOBOT_FLEET_KUBECONFIG", "fleet.kubeconfig")
    loaded = settings.load()
    assert (loaded.fleet_kubeconfig, loaded.fleet_context) == ("fleet.kubeconfig", "mgmt")


# Fleet's own words (tests/fixtures/fleet/README.md)


def fixture_bundle(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    data = yaml.safe_load((FIXTURES / name).read_text())
    return {
        "metadata": {"name": "b", "labels": labels or {}},
        "status": data.get("status", data),
    }


def test_the_docs_ready_bundle_is_healthy_at_its_commit() -> None:
    live = to_live(
        fixture_bundle(
            "bundle-status.ready.validate-fleet-cli.yaml", {"fleet.cattle.io/commit": SHA}
        ),
        "fleet",
        NOW,
    )
    assert (live.sync, live.health, live.revision, live.settled) == ("synced", "healthy", SHA, True)
    assert live.since is None  # the docs' condition has no time


def test_the_docs_waitapplied_bundle_is_progressing_since_its_condition_changed() -> None:
    status = fixture_bundle("bundle-status.waitapplied.ref-status-fields.yaml")
    status["status"]["summary"] = {"desiredReady": 1, "waitApplied": 1}  # the docs leave it out
    live = to_live(status, "fleet", NOW)
    assert (live.sync, live.health, live.revision) == ("out-of-sync", "progressing", None)
    assert live.since == datetime(2025, 6, 25, 14, 59, 35, tzinfo=UTC)  # lastUpdateTime
    assert live.message == (
        "WaitApplied: 0/1 clusters ready; WaitApplied(1) [Cluster fleet-default/downstream4]"
    )


def test_the_docs_modified_bundle_is_drift_and_names_the_resources() -> None:
    data = yaml.safe_load((FIXTURES / "bundle-status.modified.bundle-diffs.yaml").read_text())
    bundle_ = {"metadata": {"labels": {"fleet.cattle.io/commit": SHA}}, "status": data}
    live = to_live(bundle_, "fleet", NOW)
    assert (live.sync, live.health, live.revision) == ("out-of-sync", "healthy", SHA)
    assert live.message.startswith("Modified: 0/1 clusters ready; cluster ?; ")
    assert "validatingwebhookconfiguration.admissionregistration.k8s.io " in live.message
    assert "deployment.apps cattle-gatekeeper-system/gatekeeper-audit modified" in live.message


def _undeclared(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    if isinstance(value, dict) and "properties" in schema:
        found = []
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{path}.{key}")
            else:
                found += _undeclared(item, schema["properties"][key], f"{path}.{key}")
        return found
    if isinstance(value, list) and "items" in schema:
        return [m for item in value for m in _undeclared(item, schema["items"], f"{path}[]")]
    return []


def test_the_fake_servers_bundles_carry_only_fields_fleets_crd_declares() -> None:
    schema = json.loads((FIXTURES / "bundle-crd.status-schema.json").read_text())
    made = bundle(
        "api-prod",
        desired=3,
        states={"ErrApplied": 1, "Modified": 1},
        non_ready=[
            not_ready("fleet-default/a", "ErrApplied", "boom", **CRASHING),
            not_ready(
                "fleet-default/b",
                "Modified",
                modifiedStatus=[{"kind": "Service", "name": "x", "missing": True}],
            ),
        ],
    )
    assert _undeclared(made["status"], schema, "status") == []
    assert made["status"]["conditions"][0]["message"] == (
        "ErrApplied(1) [Cluster fleet-default/a: boom]; Modified(1) [Cluster fleet-default/b]"
    )
