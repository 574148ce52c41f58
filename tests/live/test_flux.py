"""Flux notification-controller events: signature, parsing, the reason table, revisions,
which apps an event speaks for, and Flux's commit-status contexts."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import config
from bot.events import EventError
from bot.live import Live, flux

FIXTURES = Path(__file__).parent.parent / "fixtures" / "flux"
SECRET = "flux-provider-token"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SHA = "07a684d59d1bc9a58e0c0d07ed480812b2b9a29e"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sign(body: bytes, secret: str = SECRET, algorithm: str = "sha256") -> str:
    """As notification-controller's forwarder does."""
    return f"{algorithm}=" + hmac.new(secret.encode(), body, algorithm).hexdigest()


def event(
    reason: str = "ReconciliationSucceeded", severity: object = "info", **extra: object
) -> bytes:
    body: dict[str, object] = {
        "involvedObject": {
            "kind": "Kustomization",
            "namespace": "flux-system",
            "name": "api-prod",
            "uid": "7d0cdc51-ddcf-4743-b223-83ca5c699632",
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "resourceVersion": "19516",
        },
        "severity": severity,
        "timestamp": "2026-11-30T11:58:00Z",
        "message": "Reconciliation finished in 1.2s, next run in 10m0s",
        "reason": reason,
        "metadata": {"revision": f"main@sha1:{SHA}"},
        "reportingController": "kustomize-controller",
        "reportingInstance": "kustomize-controller-6bc5d5b96-j9lw6",
    }
    body.update(extra)
    return json.dumps(body).encode()


# --- signature ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_every_recorded_event_verifies_and_parses(name: str) -> None:
    body = fixture(name)
    got = flux.read(SECRET, body, sign(body))
    assert got.involved.kind == "Kustomization"
    assert flux.revision_sha(got.revision) is not None


@pytest.mark.parametrize("algorithm", ["sha224", "sha256", "sha384", "sha512"])
def test_the_hash_functions_flux_documents_verify(algorithm: str) -> None:
    body = event()
    assert flux.signature_ok(SECRET, body, sign(body, algorithm=algorithm))
    assert flux.signature_ok(SECRET, body, sign(body, algorithm=algorithm).upper())


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256",
        sign(b"another body"),
        sign(event(), secret="another key"),
        "sha1=" + hmac.new(SECRET.encode(), event(), hashlib.sha1).hexdigest(),
        "md5=" + hmac.new(SECRET.encode(), event(), hashlib.md5).hexdigest(),
        "sha256=\u00e9\u202e",
    ],
)
def test_a_missing_wrong_or_other_hash_signature_is_refused(header: str | None) -> None:
    body = event()
    assert not flux.signature_ok(SECRET, body, header)
    with pytest.raises(flux.Unverified) as caught:
        flux.read(SECRET, body, header)
    assert caught.value.status == 401
    assert SECRET not in str(caught.value)


def test_an_empty_secret_accepts_nothing() -> None:
    body = event()
    assert not flux.signature_ok("", body, sign(body, secret=""))


def test_the_signature_is_checked_before_the_body_is_read() -> None:
    with pytest.raises(flux.Unverified):
        flux.read(SECRET, b"not json", "sha256=00")


def test_an_oversized_body_is_refused_before_any_hmac() -> None:
    body = event(message="x" * flux.MAX_BODY)
    with pytest.raises(flux.TooLarge) as caught:
        flux.read(SECRET, body, sign(body))
    assert caught.value.status == 413
    assert str(caught.value) == f"body larger than {flux.MAX_BODY} bytes"
    flux.read(SECRET, body, sign(body), limit=len(body))  # the limit is the caller's


# --- malformed bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body: not JSON"),
        (b"{", "body: not JSON"),
        (b"\xff\xfe", "body: not JSON"),
        (b"[" * 100_000, "body: not JSON"),
        (b"[]", "body: Input should be an object"),
        (b"{}", "involvedObject: Field required"),
        (event(involvedObject={"kind": "Kustomization"}), "involvedObject.namespace: Field"),
        (
            event(involvedObject={"kind": "K", "namespace": "a", "name": "../x"}),
            "involvedObject.name",
        ),
        (event(timestamp="yesterday"), "timestamp:"),
        (event(timestamp="2026-11-30T11:58:00"), "timestamp: Input should have timezone info"),
        (event(timestamp=True), "timestamp:"),
        (event(timestamp=1e300), "timestamp: Value error, seconds out of range"),
        (event(timestamp=-1e300), "timestamp: Value error, seconds out of range"),
        (event(severity=3), "severity: Input should be a valid string"),
        (event(metadata={"revision": 1}), "metadata.revision: Input should be a valid string"),
        (event(message=None), "message: Input should be a valid string"),
    ],
)
def test_a_malformed_body_is_one_clear_line(body: bytes, message: str) -> None:
    with pytest.raises(flux.Malformed) as caught:
        flux.read(SECRET, body, sign(body))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert caught.value.status == 400
    assert isinstance(caught.value, EventError)  # what bot.intake already answers 400 for


# --- every format since 2020 -------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        "2020-04-18T07:37:28.071468Z",  # RFC 3339, as metav1.Time writes it (with fractions)
        "2020-04-18T09:37:28.071468+02:00",
        1587195448.071468,  # float seconds: the event of Flux's first spec (2020)
    ],
)
def test_a_timestamp_is_rfc_3339_or_seconds_since_the_epoch(timestamp: object) -> None:
    got = flux.parse(event(timestamp=timestamp)).timestamp
    assert got == datetime(2020, 4, 18, 7, 37, 28, 71468, tzinfo=UTC)
    whole = flux.parse(event(timestamp=1587195448)).timestamp
    assert whole == datetime(2020, 4, 18, 7, 37, 28, tzinfo=UTC)


def test_the_event_of_2020_is_read_not_dropped_as_malformed() -> None:
    """notification-controller's first spec: float seconds, no uid, the revision only in the
    message, the change set as metadata."""
    body = fixture("kustomization.apply-succeed.rfc-2020.json")
    got = flux.read(SECRET, body, sign(body))
    assert got.revision == "master/a1afe267b54f38b46b487f6e938a6fd508278c07"
    live = flux.live(got, NOW)
    assert live.revision == "a1afe267b54f38b46b487f6e938a6fd508278c07"
    assert live.since == datetime(2020, 4, 18, 7, 37, 28, 71468, tzinfo=UTC)
    # "ApplySucceed" is the spec's word, never a controller's: not believed to be a success
    assert (live.sync, live.health) == ("unknown", "unknown")
    assert live.message.startswith("ApplySucceed: Kustomization applied in 1.4s, revision:")


@pytest.mark.parametrize(
    ("message", "revision"),
    [
        (f"Kustomization applied in 1.4s, revision: master/{SHA}", f"master/{SHA}"),
        (f"Fetched revision: main/{SHA}", f"main/{SHA}"),
        (f"stored artifact for revision 'main@sha1:{SHA}'", f"main@sha1:{SHA}"),
        (f"Applied revision: main@sha1:{SHA}\nnext run in 10m", f"main@sha1:{SHA}"),
        ("Reconciliation finished in 1.2s, next run in 10m0s", None),
        ("Helm upgrade succeeded for release prod/api.v3 with chart api@6.1.0", None),
    ],
)
def test_without_metadata_the_revision_is_read_from_the_message(
    message: str, revision: str | None
) -> None:
    got = flux.parse(event(message=message, metadata={"commit_status": "update"}))
    assert got.revision == revision


def test_metadata_names_the_revision_before_the_message() -> None:
    other = "9b2e41c07d5f3a8e6c1d0f4b7a2e9c3d8f6a1b05"
    got = flux.parse(event(message=f"revision: main/{other}"))
    assert flux.live(got, NOW).revision == SHA


# --- the reason table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "severity", "sync", "health"),
    [
        ("ReconciliationSucceeded", "info", "synced", "healthy"),
        ("UpgradeSucceeded", "info", "synced", "healthy"),
        ("InstallSucceeded", "info", "synced", "healthy"),
        ("TestSucceeded", "info", "synced", "healthy"),
        ("Progressing", "info", "synced", "progressing"),
        ("HealthCheckCanceled", "error", "synced", "progressing"),
        ("ProgressingWithRetry", "error", "out-of-sync", "progressing"),
        ("DependencyNotReady", "info", "out-of-sync", "progressing"),
        ("HealthCheckFailed", "error", "synced", "degraded"),
        ("TestFailed", "error", "synced", "degraded"),
        ("ReconciliationFailed", "error", "out-of-sync", "degraded"),
        ("BuildFailed", "error", "out-of-sync", "degraded"),
        ("ValidationFailed", "error", "out-of-sync", "degraded"),
        ("ArtifactFailed", "error", "out-of-sync", "degraded"),
        ("UpgradeFailed", "error", "out-of-sync", "degraded"),
        # kustomize-controller v0.0.10 to v0.0.12 (September 2020)
        ("ApplySucceeded", "info", "synced", "healthy"),
        ("ApplyFailed", "error", "out-of-sync", "degraded"),
        ("RollbackSucceeded", "info", "out-of-sync", "degraded"),
        ("UninstallSucceeded", "info", "out-of-sync", "missing"),
        ("Suspended", "info", "unknown", "suspended"),
        # a severity that contradicts the reason is not believed
        ("ReconciliationSucceeded", "error", "unknown", "unknown"),
        ("HealthCheckFailed", "info", "unknown", "unknown"),
        # helm-controller of 2022 sent reason "info"; unknown reasons stay unknown
        ("info", "info", "unknown", "unknown"),
        ("SomethingNew", "error", "unknown", "unknown"),
    ],
)
def test_each_reason_maps_to_sync_and_health(
    reason: str, severity: str, sync: str, health: str
) -> None:
    got = flux.live(flux.parse(event(reason, severity)), NOW)
    assert (got.sync, got.health) == (sync, health)
    assert got.source == "flux"
    assert got.revision == SHA
    assert got.since == datetime(2026, 11, 30, 11, 58, tzinfo=UTC)
    assert got.observed == NOW


def test_an_unknown_reason_keeps_the_message_and_names_the_reason() -> None:
    got = flux.live(flux.parse(event("SomethingNew", message="it broke")), NOW)
    assert got.message == "SomethingNew: it broke"


def test_the_recorded_events_read_as_flux_meant_them() -> None:
    progressing = flux.live(flux.parse(fixture("kustomization.progressing.json")), NOW)
    assert (progressing.sync, progressing.health, progressing.revision) == (
        "synced",
        "progressing",
        SHA,
    )
    assert progressing.message == "Namespace/my-app created; Deployment/my-app/my-app created"
    failed = flux.live(flux.parse(fixture("kustomization.artifact-failed.json")), NOW)
    assert failed.failed and not failed.settled
    done = flux.live(flux.parse(fixture("kustomization.reconciliation-succeeded.legacy.json")), NOW)
    assert done.settled and done.revision == "594a4f770b226c3acf29736fdf2c0e835b7e037f"
    docs = flux.live(flux.parse(fixture("kustomization.validation-failed.docs.json")), NOW)
    assert docs.revision == "731f7eaddfb6af01cb2173e18f0f75b0ba780ef1"  # the group-prefixed key


def test_the_message_is_made_safe() -> None:
    hostile = "line one\r\n\x1b[31mred\x1b[0m \u202eevil\u202c\ttab\x00" + "y" * 2000
    got = flux.live(flux.parse(event("HealthCheckFailed", "error", message=hostile)), NOW)
    assert got.message.startswith("line one; [31mred[0m evil tab")
    assert len(got.message) == flux.MESSAGE_MAX and got.message.endswith("…")
    assert all(c.isprintable() for c in got.message)


def test_a_repeated_state_keeps_its_first_since() -> None:
    first = flux.live(flux.parse(event()), NOW)
    again = flux.live(flux.parse(event(timestamp="2026-11-30T12:30:00Z")), NOW)
    assert flux.carry_since(first, again).since == first.since
    changed = flux.live(flux.parse(event("HealthCheckFailed", "error")), NOW)
    assert flux.carry_since(first, changed) == changed
    assert flux.carry_since(None, again) == again


# --- revisions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("revision", "sha"),
    [
        (f"main@sha1:{SHA}", SHA),
        (f"feature/x@sha1:{SHA}", SHA),
        (f"refs/pull/1/head@sha1:{SHA}", SHA),
        (f"v1.2.0@sha1:{SHA}", SHA),
        (f"sha1:{SHA}", SHA),
        (f"main/{SHA}", SHA),
        (f"feature/branch/{SHA}", SHA),
        (f"HEAD/{SHA}", SHA),
        (SHA, SHA),
        (f"main@sha1:{SHA.upper()}", SHA),
        (
            "latest@sha256:" + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            None,
        ),
        ("sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", None),
        ("6.1.0", None),
        ("0.0.2+eb02f2ecb66c", None),
        ("main@sha1:abc123", None),
        ("master/123456789", None),
        ("", None),
        (None, None),
    ],
)
def test_each_revision_form_gives_its_git_sha(revision: str | None, sha: str | None) -> None:
    assert flux.revision_sha(revision) == sha


@pytest.mark.parametrize(
    ("revision", "abbreviation"),
    [
        ("master/a1afe267b", "a1afe267b"),  # Flux of 2020 naming a commit by 9 hex digits
        ("main@sha1:A1AFE26", "a1afe26"),
        ("a1afe267b54f", "a1afe267b54f"),
        ("main/a1afe26", "a1afe26"),
        ("main/a1afe2", None),  # fewer than git's 7: no commit is named
        (f"main/{SHA}", None),  # a whole SHA needs no resolving
        ("main@sha256:a1afe267b", None),
        ("6.1.0", None),
        (None, None),
    ],
)
def test_an_abbreviated_sha_is_kept_to_be_resolved_never_taken_as_the_commit(
    revision: str | None, abbreviation: str | None
) -> None:
    assert flux.revision_abbrev(revision) == abbreviation
    got = flux.live(flux.parse(event(metadata={"revision": revision or ""})), NOW)
    assert got.unresolved == (abbreviation or "")
    assert got.revision == (SHA if revision == f"main/{SHA}" else None)


def test_a_new_abbreviation_is_a_new_state() -> None:
    first = flux.live(flux.parse(event(metadata={"revision": "main/a1afe267b"})), NOW)
    again = flux.live(flux.parse(event(metadata={"revision": "main/a1afe267b"})), NOW)
    other = flux.live(flux.parse(event(metadata={"revision": "main/b2bfe267b"})), NOW)
    later = NOW + timedelta(minutes=5)
    assert flux.carry_since(first, replace(again, since=later)).since == first.since
    assert flux.carry_since(first, replace(other, since=later)).since == later


def test_the_revision_keys_are_read_in_flux_order() -> None:
    other = "9b2e41c07d5f3a8e6c1d0f4b7a2e9c3d8f6a1b05"
    assert flux.event_revision({"revision": "a", "originRevision": "b"}) == "b"
    assert flux.event_revision({"revision": "a", "originRevision": "b", "commit": "c"}) == "c"
    assert flux.event_revision({"helm.toolkit.fluxcd.io/revision": "6.1.0"}) == "6.1.0"
    assert flux.event_revision({"acme.io/revision": "x", "summary": "y"}) is None
    oci = event(
        metadata={"revision": "latest@sha256:" + "0" * 64, "originRevision": f"main@sha1:{other}"}
    )
    assert flux.live(flux.parse(oci), NOW).revision == other
    helm = event(metadata={"revision": "6.1.0"})
    assert flux.live(flux.parse(helm), NOW).revision is None


# --- which apps ---------------------------------------------------------------------------------

CONFIG = """\
version: 1
environments:
  dev: {live: {flux: {}}}
  staging: {from: dev, live: {flux: {name: "{app}-{env}", namespace: apps}}}
  prod: {from: staging, live: {flux: {kind: HelmRelease, name: "{app}", namespace: prod}}}
  edge: {from: prod, live: {status: {context: "kustomization/{app}/0c9c2e41"}}}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: "envs/{env}/api.yaml", field: image.tag}
  web:
    environments: [dev, prod]
    components:
      image:
        source: {image: ghcr.io/acme/web}
        target: {file: "envs/{env}/web.yaml", field: image.tag}
"""


def at(kind: str, namespace: str, name: str) -> flux.FluxEvent:
    return flux.parse(event(involvedObject={"kind": kind, "namespace": namespace, "name": name}))


@pytest.mark.parametrize(
    ("kind", "namespace", "name", "pairs"),
    [
        ("Kustomization", "flux-system", "api", (("api", "dev"),)),
        ("Kustomization", "flux-system", "web", (("web", "dev"),)),
        ("Kustomization", "apps", "api-staging", (("api", "staging"),)),
        ("Kustomization", "apps", "web-staging", ()),  # web does not run in staging
        ("HelmRelease", "prod", "web", (("web", "prod"),)),
        ("Kustomization", "prod", "web", ()),  # prod names a HelmRelease
        ("HelmRelease", "flux-system", "api", ()),  # dev names a Kustomization
        ("Kustomization", "flux-system", "flux-system", ()),  # no environment names it
    ],
)
def test_an_event_matches_the_apps_and_environments_that_name_its_object(
    kind: str, namespace: str, name: str, pairs: tuple[tuple[str, str], ...]
) -> None:
    cfg = config.load(CONFIG)
    assert flux.targets(at(kind, namespace, name), cfg) == pairs


def test_one_object_may_speak_for_several_apps() -> None:
    shared = CONFIG.replace("dev: {live: {flux: {}}}", "dev: {live: {flux: {name: shared}}}")
    cfg = config.load(shared)
    assert flux.targets(at("Kustomization", "flux-system", "shared"), cfg) == (
        ("api", "dev"),
        ("web", "dev"),
    )


# --- commit-status contexts ---------------------------------------------------------------------


def test_the_default_flux_status_context_is_built_and_recognised() -> None:
    uid = "0c9c2e41-5a9c-4f0e-9d6b-3f1e2d4c5b6a"
    context = flux.status_context("Kustomization", "apps", uid)
    assert context == "kustomization/apps/0c9c2e41"  # the example in Flux's Provider docs
    assert flux.parse_status_context(context) == flux.StatusContext(
        "kustomization", "apps", "0c9c2e41"
    )
    assert flux.parse_status_context("kustomization/flux-system") == flux.StatusContext(
        "kustomization", "flux-system", None
    )
    for other in ("argocd/api-prod", "ci/build/1", "Kustomization/apps/0c9c2e41", "x"):
        assert flux.parse_status_context(other) is None


def test_the_status_context_in_config_is_the_one_flux_posts() -> None:
    cfg = config.load(CONFIG)
    live = cfg.environments["edge"].live
    assert live is not None
    uid = "0c9c2e41-5a9c-4f0e-9d6b-3f1e2d4c5b6a"
    assert live.name("api", "edge") == flux.status_context("Kustomization", "api", uid)


@pytest.mark.parametrize(
    ("description", "reason"),
    [
        ("reconciliation succeeded", "ReconciliationSucceeded"),
        ("health check failed", "HealthCheckFailed"),
        ("progressing with retry", "ProgressingWithRetry"),
    ],
)
def test_a_status_description_gives_back_the_reason(description: str, reason: str) -> None:
    assert flux.reason_from_description(description) == reason
    assert flux.state(reason, "error" if "failed" in description else "info") != flux.UNKNOWN


def test_live_is_the_shared_model() -> None:
    assert isinstance(flux.live(flux.parse(event()), NOW), Live)
    assert NOW - timedelta(minutes=2) == flux.parse(event()).timestamp
