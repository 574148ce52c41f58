"""The Argo CD simulator and promobot's reader agree with Argo CD's own API description.

tests/fixtures/argocd/swagger.applications.json is copied from argo-cd's assets/swagger.json;
every field promobot reads must be defined there, and every field the simulator writes too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.live.argocd import ALLOWLISTED, BEFORE_2_6, FIELDS, to_live
from tests.argocd.server import ALLOWLISTS, APP_FIELDS, RELEASES, application

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "argocd"
SWAGGER = json.loads((FIXTURES / "swagger.applications.json").read_text())
REAL = json.loads((FIXTURES / "application.velero-test.json").read_text())
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def definition(name: str) -> dict[str, Any]:
    return dict(SWAGGER["definitions"][name])


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return definition(ref.rsplit("/", 1)[1]) if ref else schema


def undefined(value: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Keys of `value` the schema does not define (objects whose schema is in the fixture)."""
    schema = resolve(schema)
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{where}.{key}")
                continue
            sub = schema["properties"][key]
            ref = sub.get("$ref", "") or sub.get("items", {}).get("$ref", "")
            if ref and ref.rsplit("/", 1)[1] not in SWAGGER["definitions"]:
                continue  # a definition outside the part promobot reads
            found += undefined(item, sub, f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += undefined(item, schema["items"], f"{where}[{i}]")
    return found


# (definition, property) for every field promobot reads
READ = [
    ("v1alpha1ApplicationList", "items"),
    ("v1alpha1ApplicationList", "metadata"),
    ("v1ListMeta", "resourceVersion"),
    ("v1alpha1Application", "metadata"),
    ("v1ObjectMeta", "name"),
    ("v1ObjectMeta", "namespace"),
    ("v1alpha1Application", "status"),
    ("v1alpha1ApplicationStatus", "sync"),
    ("v1alpha1ApplicationStatus", "health"),
    ("v1alpha1ApplicationStatus", "operationState"),
    ("v1alpha1ApplicationStatus", "summary"),
    ("v1alpha1ApplicationStatus", "resources"),
    ("v1alpha1SyncStatus", "status"),
    ("v1alpha1SyncStatus", "revision"),
    ("v1alpha1SyncStatus", "revisions"),
    ("v1alpha1AppHealthStatus", "status"),
    ("v1alpha1AppHealthStatus", "message"),
    ("v1alpha1AppHealthStatus", "lastTransitionTime"),
    ("v1alpha1HealthStatus", "status"),
    ("v1alpha1HealthStatus", "message"),
    ("v1alpha1ApplicationStatus", "history"),
    ("v1alpha1RevisionHistory", "id"),
    ("v1alpha1RevisionHistory", "revision"),
    ("v1alpha1RevisionHistory", "revisions"),
    ("v1alpha1RevisionHistory", "deployedAt"),
    ("v1alpha1OperationState", "startedAt"),
    ("v1alpha1OperationState", "finishedAt"),
    ("v1alpha1OperationState", "phase"),
    ("v1alpha1OperationState", "message"),
    ("v1alpha1OperationState", "operation"),
    ("v1alpha1OperationState", "syncResult"),
    ("v1alpha1Operation", "sync"),
    ("v1alpha1SyncOperation", "revision"),
    ("v1alpha1SyncOperation", "revisions"),
    ("v1alpha1SyncOperationResult", "revision"),
    ("v1alpha1SyncOperationResult", "revisions"),
    ("v1alpha1ApplicationSummary", "images"),
    ("applicationv1alpha1ResourceStatus", "group"),
    ("applicationv1alpha1ResourceStatus", "kind"),
    ("applicationv1alpha1ResourceStatus", "name"),
    ("applicationv1alpha1ResourceStatus", "health"),
    ("runtimeError", "message"),
]


@pytest.mark.parametrize(("name", "prop"), READ)
def test_every_field_promobot_reads_is_in_argo_cds_swagger(name: str, prop: str) -> None:
    assert prop in definition(name)["properties"]


def test_the_list_call_takes_the_parameters_promobot_sends_except_fields() -> None:
    params = {p["name"] for p in SWAGGER["paths"]["/api/v1/applications"]["get"]["parameters"]}
    assert {"selector", "projects", "project", "resourceVersion"} <= params
    # `fields` is handled by Argo CD's own forwarder, outside the generated description
    assert "fields" not in params


def test_what_promobot_asks_for_is_on_each_releases_allowlist_or_on_none() -> None:
    """The allowlisted names are answered since v2.6 (the revision git asks for since v3.5);
    the others only by the JSON paths of the releases before, and dropped by every later one."""
    allowlisted = {f.removeprefix("items.") for f in ALLOWLISTED}
    assert allowlisted <= set(APP_FIELDS)
    for release in ("v2.6.0", "v2.14.0", "v3.4.0"):
        assert allowlisted - set(RELEASES[release]["appFields"]) == {"status.sync.revision"}
    for names in RELEASES.values():
        assert not {f.removeprefix("items.") for f in BEFORE_2_6} & set(names["appFields"])
    # v2.6 to v3.1 share one allowlist: the simulator's "2.14" stands for them all
    assert RELEASES["v2.6.0"]["appFields"] == RELEASES["v2.14.0"]["appFields"]
    assert ALLOWLISTS["2.14"] == tuple(RELEASES["v2.6.0"]["appFields"])


def path_schema(path: str) -> dict[str, Any] | None:
    """The swagger's schema at a JSON path into the application list, None when none."""
    schema = definition("v1alpha1ApplicationList")
    for part in path.split("."):
        while "items" in schema and "properties" not in schema:  # an array: its elements
            schema = resolve(schema["items"])
        if part not in schema.get("properties", {}):
            return None
        schema = resolve(schema["properties"][part])
    return schema


@pytest.mark.parametrize("path", FIELDS)
def test_every_path_promobot_asks_for_is_in_argo_cds_swagger(path: str) -> None:
    # as JSON paths (before v2.6) each names a field of the list; `operation.sync` is then
    # the operation that was asked for, a SyncOperation (since v2.6, the result instead)
    assert path_schema(path) is not None, path
    assert path_schema("items.status.operationState.operation.sync") == definition(
        "v1alpha1SyncOperation"
    )


@pytest.mark.parametrize(
    "app",
    [
        application("api-dev"),
        application("api-prod", revisions=["a" * 40, "b" * 40], health="Degraded"),
        application("api-qa", finished=None, health_since=None, health_message="Caused by x"),
        application("api-eu", sync="OutOfSync", ran="a" * 40, history=["b" * 40]),
        application("api-us", phase="Running", ran="a" * 40, history=["b" * 40, "c" * 40]),
        application("api-ap", phase="Failed", revisions=["a" * 40], history=[["b" * 40]]),
        REAL,
    ],
    ids=[
        "single-source",
        "multi-source",
        "never-synced",
        "out-of-sync",
        "running",
        "failed",
        "real",
    ],
)
def test_the_simulators_applications_use_only_swagger_fields(app: dict[str, Any]) -> None:
    # kind and apiVersion are Kubernetes' inline TypeMeta, which the generated swagger omits
    body = {k: v for k, v in app.items() if k not in ("kind", "apiVersion")}
    assert undefined(body, {"$ref": "#/definitions/v1alpha1Application"}) == []


def test_a_real_application_reads_as_healthy_and_synced_at_its_revision() -> None:
    live = to_live(REAL, "argocd https://argocd.example.com", NOW)
    # what its last sync applied: its status.sync.revision ("rev1") is what git asks for
    assert (live.sync, live.health) == ("synced", "healthy")
    assert live.revision == "ea8759964626a583667a2bfd08f334ec2070040a"
    assert live.images == ("nginx:latest",)
    assert live.since == datetime(2024, 3, 5, 7, 33, 4, tzinfo=UTC)  # operationState.finishedAt
    assert live.settled and live.message == "" and live.rollout is None
