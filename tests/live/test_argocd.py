"""bot/live/argocd.py against the Argo CD simulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import config
from bot.errors import SourceError
from bot.forges.retry import Policy
from bot.live import Rollout
from bot.live.argocd import ArgoCD, ArgoCDError, Poll, wanted
from tests.argocd.server import VERSIONS, ArgoCDServer, Version, application, argocd_server

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


# --- what runs, whatever the release and however it is read -----------------------------------

C0, C1, C2 = "c0c0c0c0" * 5, "c1c1c1c1" * 5, "c2c2c2c2" * 5  # oldest to what git asks for now
SYNCED_AT = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # the last operation (`finished`)
DEPLOYED_AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # the newest earlier sync (`deployed`)
STATES: list[tuple[str, dict[str, Any], tuple[str, str | None, datetime | None, str]]] = [
    # (state, the Application, (sync, runs, since, message))
    (
        "synced and healthy",
        {"revision": C2, "history": [C1]},
        ("synced", C2, SYNCED_AT, ""),
    ),
    (
        "out of sync after a sync: runs that sync's revision, not git's",
        {"sync": "OutOfSync", "revision": C2, "ran": C1, "history": [C0]},
        ("out-of-sync", C1, SYNCED_AT, ""),
    ),
    (
        "a sync under way: runs the last one that succeeded",
        {
            "sync": "OutOfSync",
            "health": "Progressing",
            "revision": C2,
            "phase": "Running",
            "history": [C0, C1],
        },
        ("out-of-sync", C1, DEPLOYED_AT, f"sync to {C2[:10]} running"),
    ),
    (
        "a sync of what already runs, under way",
        {"revision": C1, "phase": "Running", "history": [C1]},
        ("synced", C1, DEPLOYED_AT, f"sync to {C1[:10]} running"),
    ),
    (
        "a failed sync: runs the last one that succeeded",
        {"sync": "OutOfSync", "revision": C2, "phase": "Failed", "history": [C1]},
        (
            "out-of-sync",
            C1,
            DEPLOYED_AT,
            f"sync to {C2[:10]} failed: one or more objects failed to apply",
        ),
    ),
    (
        "a failed sync Argo CD calls Synced (a PostSync hook failed): not a deployment",
        {"revision": C2, "phase": "Failed", "history": [C1], "message": "hook api-smoke failed"},
        ("out-of-sync", C1, DEPLOYED_AT, f"sync to {C2[:10]} failed: hook api-smoke failed"),
    ),
    (
        "the first sync errored: nothing runs that Argo CD deployed",
        {"sync": "OutOfSync", "revision": C2, "phase": "Error", "history": []},
        ("out-of-sync", None, None, f"sync to {C2[:10]} failed: Operation termination had errors"),
    ),
    (
        "never synced, yet Synced: the cluster matches git",
        {"revision": C2, "phase": None},
        ("synced", C2, None, ""),
    ),
    (
        "never synced, out of sync",
        {"sync": "OutOfSync", "revision": C2, "phase": None},
        ("out-of-sync", None, None, ""),
    ),
    (
        "multi-source, out of sync: the git commit among the last sync's revisions",
        {"sync": "OutOfSync", "revisions": ["6.1.0", C2], "ran": ["6.0.0", C1]},
        ("out-of-sync", C1, SYNCED_AT, ""),
    ),
    (
        "multi-source, a sync under way",
        {"revisions": ["6.1.0", C2], "phase": "Running", "history": [["6.0.0", C1]]},
        ("out-of-sync", C1, DEPLOYED_AT, f"sync to {C2[:10]} running"),
    ),
]


# Argo CD 2.4 has no multi-source Applications: those states are not asked of it
CASES = [
    pytest.param(version, *state[1:], id=f"{state[0]}-{version}")
    for state in STATES
    for version in VERSIONS
    if not (version == "2.4" and "revisions" in state[1])
]


@pytest.mark.parametrize(("version", "app", "expected"), CASES)
def test_the_same_cluster_state_is_the_same_answer_on_every_release_listed_or_read_whole(
    version: Version,
    app: dict[str, Any],
    expected: tuple[str, str | None, datetime | None, str],
) -> None:
    """Argo CD 2.4 (JSON paths), 2.6 to 3.1 and 3.2 to 3.4 (allowlists without the revision
    git asks for) and 3.5 (with it) trim the list differently; the whole Application, as a
    notification has it read, is not trimmed at all. What runs is the same on each."""
    with argocd_server(version=version) as server:
        server.put(application("api-prod", health_since=None, **app))
        polled = poll(server, "api-prod")
        listed = polled.lives["api-prod"]
        if version == "2.4":  # its JSON paths carry the history: one call, whatever the state
            assert polled.calls == 1
        client = ArgoCD(server.url, "argocd-token", policy=QUICK)
        whole = client.application("api-prod", NOW)
        client.close()
    assert (listed.sync, listed.revision, listed.since, listed.message) == expected
    assert listed == whole


def test_before_v2_14_since_is_the_syncs_end_argo_cd_keeps_no_health_time() -> None:
    for version, since in (("2.4", SYNCED_AT), ("2.14", SYNCED_AT + timedelta(minutes=20))):
        with argocd_server(version=version) as server:
            server.put(application("api-prod", revision=C2, health_since="2026-11-30T11:20:00Z"))
            assert poll(server, "api-prod").lives["api-prod"].since == since, version


def test_what_the_list_cannot_say_is_read_whole_once_per_operation() -> None:
    """v2.6 and later list no history: a sync under way or failed costs one read of that
    Application per operation, not one a poll; a settled one costs nothing more."""
    with argocd_server(version="3.5") as server:
        server.put(
            application("api-prod", revision=C2, phase="Running", history=[C1]),
            *(application(f"app{i}-prod", revision=C2) for i in range(20)),
        )
        names = ["api-prod", *(f"app{i}-prod" for i in range(20))]
        client = ArgoCD(server.url, "argocd-token", policy=QUICK)
        first = client.poll(names, NOW)
        again = client.poll(names, NOW)
        assert (first.calls, again.calls) == (2, 1)
        assert server.hits["get"] == 1
        server.put(application("api-prod", revision=C2, phase="Failed", history=[C1]))
        failed = client.poll(names, NOW)
        server.put(application("api-prod", revision=C2, history=[C1]))
        done = client.poll(names, NOW)
        client.close()
    assert (failed.calls, done.calls) == (2, 1)
    assert first.lives["api-prod"].revision == failed.lives["api-prod"].revision == C1
    assert done.lives["api-prod"].revision == C2


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
