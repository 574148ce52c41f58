"""bot/live/argocd.py against the Argo CD simulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

import pytest

from bot import config
from bot.errors import SourceError
from bot.forges.retry import Policy
from bot.live import Rollout
from bot.live.argocd import ArgoCD, ArgoCDError, Poll, wanted
from tests.argocd.server import ArgoCDServer, application, argocd_server

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
QUICK = Policy(attempts=3, backoff_base=0.01, backoff_max=0.02)
SHA = "3f1c0a9e" * 5


def poll(server: ArgoCDServer, *names: str, token: str = "argocd-token") -> Poll:
    client = ArgoCD(server.url, token, policy=QUICK)
    try:
        return client.poll(names, NOW)
    finally:
        client.close()


def rollout_resource(health: str, message: str) -> dict[str, Any]:
    return {
        "group": "argoproj.io",
        "version": "v1alpha1",
        "kind": "Rollout",
        "namespace": "api",
        "name": "api",
        "status": "Synced",
        "health": {"status": health, "message": message},
    }


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("synced healthy", {}, {"sync": "synced", "health": "healthy", "settled": True}),
    ("out of sync", {"sync": "OutOfSync"}, {"sync": "out-of-sync", "settled": False}),
    (
        "sync unknown",
        {"sync": "Unknown", "health": "Unknown"},
        {"sync": "unknown", "health": "unknown"},
    ),
    ("progressing", {"health": "Progressing"}, {"health": "progressing", "settled": False}),
    ("suspended", {"health": "Suspended"}, {"health": "suspended"}),
    ("missing", {"health": "Missing"}, {"health": "missing"}),
    ("a health Argo CD may add", {"health": "Frozen"}, {"health": "unknown"}),
    (
        "degraded, with the resource's message",
        {
            "health": "Degraded",
            "resources": [
                {"group": "", "kind": "Service", "name": "api", "health": {"status": "Healthy"}},
                {
                    "group": "apps",
                    "kind": "Deployment",
                    "name": "api",
                    "health": {
                        "status": "Degraded",
                        "message": 'Deployment "api" exceeded its progress deadline',
                    },
                },
            ],
        },
        {
            "health": "degraded",
            "failed": True,
            "message": 'Deployment/api: Deployment "api" exceeded its progress deadline',
        },
    ),
    (
        "degraded, resource health in the app tree (Argo CD 3 default)",
        {
            "health": "Degraded",
            "resources": [],
            "health_message": "Caused by apps/Deployment:api/api",
        },
        {"health": "degraded", "message": "Caused by apps/Deployment:api/api"},
    ),
    (
        "canary paused at a step",
        {"health": "Suspended", "resources": [rollout_resource("Suspended", "CanaryPauseStep")]},
        {"health": "suspended", "rollout": Rollout("canary", "paused"), "settled": False},
    ),
    (
        "blue-green waiting for promotion",
        {"health": "Suspended", "resources": [rollout_resource("Suspended", "BlueGreenPause")]},
        {"rollout": Rollout("blue-green", "paused")},
    ),
    (
        "aborted rollout: degraded, strategy unknown",
        {
            "health": "Degraded",
            "resources": [rollout_resource("Degraded", "RolloutAborted: Rollout aborted update")],
        },
        {
            "rollout": None,
            "failed": True,
            "message": "Rollout/api: RolloutAborted: Rollout aborted update",
        },
    ),
    (
        "since: health changed after the sync ended",
        {"finished": "2026-11-30T11:00:00Z", "health_since": "2026-11-30T11:20:00Z"},
        {"since": datetime(2026, 11, 30, 11, 20, tzinfo=UTC)},
    ),
    (
        "since: synced after the health last changed",
        {"finished": "2026-11-30T11:40:00Z", "health_since": "2026-11-30T09:00:00Z"},
        {"since": datetime(2026, 11, 30, 11, 40, tzinfo=UTC)},
    ),
    (
        "since: never synced, no health time",
        {"finished": None, "health_since": None},
        {"since": None},
    ),
    (
        "images",
        {"images": ["ghcr.io/acme/api:1.4.2", "ghcr.io/acme/sidecar:2"]},
        {"images": ("ghcr.io/acme/api:1.4.2", "ghcr.io/acme/sidecar:2")},
    ),
    ("revision", {"revision": SHA}, {"revision": SHA}),
    (
        "multi-source: the first revision (from the sync result: fields cannot ask for revisions)",
        {"revisions": [SHA, "b" * 40]},
        {"revision": SHA},
    ),
]


@pytest.mark.parametrize(("kwargs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_an_application_maps_to_live(kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    with argocd_server() as server:
        server.put(application("api-dev", **kwargs))
        live = poll(server, "api-dev").lives["api-dev"]
    assert live.source == f"argocd {server.url}"
    assert live.observed == NOW
    for attribute, value in expected.items():
        assert getattr(live, attribute) == value, attribute


def test_one_list_call_a_poll_whatever_the_number_of_apps() -> None:
    with argocd_server() as server:
        names = [f"app{i}-{env}" for i in range(20) for env in ("dev", "staging", "prod")]
        server.put(*(application(n) for n in names))
        result = poll(server, *names)
        assert server.hits["list"] == 1 and server.hits["get"] == 0
        assert result.calls == 1
        assert set(result.lives) == set(names)
        (query,) = server.queries
        assert query["fields"][0].split(",")[0] == "items.metadata.name"
        assert result.resource_version == str(len(names) + 1)


def test_before_argo_cd_3_5_the_revision_comes_from_the_last_sync_result() -> None:
    with argocd_server(version="3.4") as server:
        server.put(application("api-dev", revision=SHA))
        assert poll(server, "api-dev").lives["api-dev"].revision == SHA


def test_an_application_argo_cd_does_not_list_is_unknown_and_says_why() -> None:
    with argocd_server() as server:
        server.put(application("api-dev"))
        live = poll(server, "api-dev", "api-prod").lives["api-prod"]
    assert (live.sync, live.health, live.since) == ("unknown", "unknown", None)
    assert "no Application 'api-prod'" in live.message


def test_selector_and_projects_narrow_the_list() -> None:
    with argocd_server() as server:
        server.put(
            application("api-dev", labels={"team": "a"}, project="apps"),
            application("web-dev", labels={"team": "b"}, project="apps"),
            application("ops-dev", labels={"team": "a"}, project="ops"),
        )
        client = ArgoCD(server.url, "argocd-token", selector="team=a", projects=["apps"])
        lives = client.poll(["api-dev", "web-dev", "ops-dev"], NOW).lives
        client.close()
        assert server.queries[0]["selector"] == ["team=a"]
        assert server.queries[0]["projects"] == ["apps"]
    assert [n for n, live in lives.items() if live.health == "healthy"] == ["api-dev"]


def test_a_wrong_token_is_one_clear_error_without_the_token() -> None:
    with argocd_server() as server:
        server.put(application("api-dev"))
        with pytest.raises(ArgoCDError) as caught:
            poll(server, "api-dev", token="wrong-token-value")
        assert server.hits["401"] == 1  # not retried: a token does not get better
    message = str(caught.value)
    assert "401 invalid session" in message and "PROMOBOT_ARGOCD_TOKEN" in message
    assert "wrong-token-value" not in message
    assert "\n" not in message


def test_an_unreachable_instance_is_one_clear_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    client = ArgoCD(url, "argocd-token", policy=QUICK)
    with pytest.raises(ArgoCDError, match=r"cannot connect \(ConnectError"):
        client.poll(["api-dev"], NOW)


def test_a_failing_instance_is_retried_then_one_clear_error() -> None:
    with argocd_server() as server:
        server.put(application("api-dev"))
        server.faults = [503]
        assert poll(server, "api-dev").calls == 2
        server.faults = [502, 503, 500]
        with pytest.raises(ArgoCDError, match=r"500 injected"):
            poll(server, "api-dev")


def test_one_application_read_whole_as_a_notification_asks() -> None:
    with argocd_server() as server:
        server.put(application("api-prod", revisions=[SHA], health="Progressing"))
        client = ArgoCD(server.url, "argocd-token")
        live = client.application("api-prod", NOW)
        missing = client.application("api-qa", NOW)  # Argo CD answers 403, not 404
        with pytest.raises(ArgoCDError, match="not an Application name"):
            client.application("../../api/v1/session")
        client.close()
        assert server.hits["get"] == 2 and server.hits["list"] == 0
    assert (live.health, live.revision) == ("progressing", SHA)  # status.sync.revisions
    assert missing.health == "unknown" and "api-qa" in missing.message


def test_the_configuration_names_the_applications_to_read() -> None:
    cfg = config.load(
        "version: 1\nenvironments:\n"
        "  dev: {live: {argocd: {}}}\n"
        "  prod: {from: dev, live: {argocd: {application: 'prod-{app}'}}}\n"
        "  edge: {from: prod, live: {flux: {}}}\n"
        "apps:\n"
        "  api:\n"
        "    components:\n"
        "      image:\n"
        "        source: {image: ghcr.io/acme/api}\n"
        "        target: {file: 'envs/{env}/api.yaml', field: image.tag}\n"
    )
    assert wanted(cfg) == {"api-dev": [("api", "dev")], "prod-api": [("api", "prod")]}


def test_the_argo_cd_settings_are_service_settings_and_the_token_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot import settings

    monkeypatch.setenv("PROMOBOT_ARGOCD_URL", "https://argocd.example.com")
    with pytest.raises(settings.SettingsError, match="needs PROMOBOT_ARGOCD_TOKEN"):
        settings.load()
    monkeypatch.setenv("PROMOBOT_ARGOCD_TOKEN", "argocd-secret-token")
    monkeypatch.setenv("PROMOBOT_ARGOCD_PROJECTS", "apps, ops,apps")
    loaded = settings.load()
    assert "argocd-secret-token" not in repr(loaded)
    assert loaded.argocd_project_names == ["apps", "ops"]
    monkeypatch.setenv("PROMOBOT_ARGOCD_URL", "argocd.example.com")
    with pytest.raises(settings.SettingsError, match="http"):
        settings.load()


def test_a_list_past_the_download_cap_is_an_error_not_a_memory_spike() -> None:
    with argocd_server() as server:
        server.put(*(application(f"app{i}-dev") for i in range(50)))
        client = ArgoCD(server.url, "argocd-token", limit=4096, policy=QUICK)
        with pytest.raises(SourceError, match="larger than"):
            client.poll(["app0-dev"], NOW)
        client.close()
