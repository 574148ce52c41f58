"""The OpenAPI 3.1 description of the JSON API (`bot.web.api`), served at its openapi.json."""

from __future__ import annotations

from typing import Any

from bot import audit

PREFIX = "/api/v1"  # where the API is served for one repo (several: under /api/v1/repos/<repo>)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(schema: str, description: str) -> dict[str, Any]:
    return {
        "200": {
            "description": description,
            "content": {"application/json": {"schema": _ref(schema)}},
        },
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "503": {"$ref": "#/components/responses/Unavailable"},
    }


def _error(description: str) -> dict[str, Any]:
    """A response whose body is `{"error": "…"}`."""
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _not_found(what: str) -> dict[str, Any]:
    return _error(f"no such {what} in .promobot.yaml")


def _in_path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _objects(properties: dict[str, Any]) -> dict[str, Any]:
    """An array of objects with these properties."""
    return {"type": "array", "items": {"type": "object", "properties": properties}}


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_TIME = {"type": "string", "format": "date-time"}
_GATE_STATE = {"enum": ["pass", "pending", "fail"]}
_COMPOSITION = {
    "type": "object",
    "required": ["composition", "components"],
    "properties": {
        "composition": {
            "type": ["string", "null"],
            "description": "composition id: 12 hex digits; null when a promoted component "
            "cannot be read (`problems` says why)",
        },
        "components": {**_STRING_MAP, "description": "component name → version"},
        "shown": {
            **_STRING_MAP,
            "description": "promote: never components: name → value, shown and never promoted",
        },
        "problems": _STRINGS,
    },
}
_COMMIT = {
    "commit": {"type": "string"},
    "time": _TIME,
    "author": {"type": "string"},
    "subject": {"type": "string"},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "promobot overview API",
        "version": "1",
        "description": "What runs where: the environment repo's compositions, open promotions "
        "and histories. Read-only. When read protection is on, send `Authorization: Bearer "
        "<PROMOBOT_READ_TOKEN>` (or `?token=`), or come through the authenticating proxy.",
    },
    "paths": {
        f"{PREFIX}/status": {
            "get": {
                "operationId": "status",
                "summary": "Every app × environment, as `promobot status --format json` prints it",
                "responses": _ok("Status", "the matrix at the default branch's head"),
            }
        },
        f"{PREFIX}/promotions": {
            "get": {
                "operationId": "promotions",
                "summary": "Every open promotion PR: what it changes, its gates, its impact",
                "responses": _ok("Promotions", "the open promotions"),
            }
        },
        f"{PREFIX}/apps/{{app}}": {
            "get": {
                "operationId": "app",
                "summary": "One app in every environment, its open promotions and its history",
                "parameters": [_in_path("app")],
                "responses": {**_ok("App", "the app"), "404": _not_found("app")},
            }
        },
        f"{PREFIX}/apps/{{app}}/inventory": {
            "get": {
                "operationId": "appInventory",
                "summary": "What each environment of an app renders to (Helm, Kustomize or "
                "plain manifests), in promotion order, as far as rendering got",
                "parameters": [
                    _in_path("app"),
                    {
                        "name": "env",
                        "in": "query",
                        "required": False,
                        "description": "only these environments (repeatable); all by default",
                        "schema": {"type": "array", "items": {"type": "string"}},
                        "style": "form",
                        "explode": True,
                    },
                ],
                "responses": {
                    **_ok("Inventory", "the rendered cells"),
                    "400": _error("a bad query parameter"),
                    "404": _not_found("app, or environment of the app"),
                    "503": _error(
                        "the environment repo cannot be read, or nothing is rendered yet"
                    ),
                },
            }
        },
        f"{PREFIX}/envs/{{env}}/history": {
            "get": {
                "operationId": "envHistory",
                "summary": "What changed in one environment, newest commit first",
                "parameters": [_in_path("env")],
                "responses": {**_ok("EnvHistory", "the history"), "404": _not_found("environment")},
            }
        },
        f"{PREFIX}/metrics/delivery": {
            "get": {
                "operationId": "deliveryMetrics",
                "summary": "Delivery (DORA) metrics per environment, from the histories the "
                "overview reads: at most `history_limit` commits per environment",
                "parameters": [
                    {
                        "name": "days",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 365, "default": 30},
                    }
                ],
                "responses": {
                    **_ok("Delivery", "the figures over the window"),
                    "400": _error("a bad query parameter"),
                },
            }
        },
        f"{PREFIX}/audit": {
            "get": {
                "operationId": "audit",
                "summary": "The audit log: every decision promobot made, oldest first, a page at "
                "a time (`next` is the cursor of the following page, null on the last)",
                "parameters": [
                    {"name": "app", "in": "query", "schema": {"type": "string"}},
                    {"name": "env", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "since",
                        "in": "query",
                        "description": "an ISO date or time (UTC unless it says), or a "
                        "duration ago: 7d, 24h",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    **_ok("AuditPage", "a page of records"),
                    "400": _error("a bad query parameter"),
                },
            }
        },
        f"{PREFIX}/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {
                    "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}
                },
            }
        },
    },
    "components": {
        "securitySchemes": {"readToken": {"type": "http", "scheme": "bearer"}},
        "responses": {
            "Unauthorized": _error(
                "read protection is on and no valid token (or proxy header) came"
            ),
            "Unavailable": _error("the environment repo or the forge cannot be read"),
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}},
            },
            "Composition": _COMPOSITION,
            "AuditPage": {
                "type": "object",
                "required": ["records", "next"],
                "properties": {
                    "records": {"type": "array", "items": _ref("AuditRecord")},
                    "next": {"type": ["string", "null"]},
                },
            },
            "AuditRecord": {
                "type": "object",
                "description": "one decision (bot/audit.py `Record.to_json`); v is the format",
                "required": ["v", "id", "at", "repo", "kind"],
                "properties": {
                    "v": {"const": 1},
                    "id": {"type": "string"},
                    "at": _TIME,
                    "repo": {"type": "string"},
                    "kind": {"enum": list(audit.KINDS)},
                    "env": {"type": ["string", "null"]},
                    "apps": _STRINGS,
                    "pr": {"type": ["integer", "null"]},
                    "url": {"type": ["string", "null"]},
                    "title": {"type": ["string", "null"]},
                    "head": {"type": ["string", "null"]},
                    "sha": {"type": ["string", "null"], "description": "merged: the merge commit"},
                    "changes": _objects(
                        {
                            "app": {"type": "string"},
                            "component": {"type": "string"},
                            "from": {"type": ["string", "null"]},
                            "to": {"type": ["string", "null"]},
                        }
                    ),
                    "cause": {"type": ["string", "null"]},
                    "actor": {"type": ["string", "null"]},
                    "approvers": _STRINGS,
                    "requested_by": _STRINGS,
                    "outcome": {"type": "string"},
                    "reason": {"type": "string"},
                    "command": {"type": ["string", "null"]},
                    "inputs": {"type": "object"},
                    "delivery": {"type": ["string", "null"]},
                    "job": {"type": ["string", "null"]},
                    "impact": {
                        "type": ["array", "null"],
                        "items": {"type": "string"},
                        "description": "opened, merged: what the promotion changes in the "
                        "cluster (crd, rbac, …, image, other); null: unknown",
                    },
                },
            },
            "Status": {
                "type": "object",
                "required": ["ref", "environments", "apps"],
                "properties": {
                    "ref": {"type": "string", "description": "the commit read"},
                    "environments": _STRINGS,
                    "apps": {
                        "type": "object",
                        "description": "app → environment → composition",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": _ref("Composition"),
                        },
                    },
                    "live": {
                        "type": "object",
                        "description": "only when an environment has live: — app → "
                        "environment → what its cluster reports",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": _ref("Live"),
                        },
                    },
                },
            },
            "Live": {
                "type": "object",
                "properties": {
                    "source": {"type": "string"},
                    "sync": {"enum": ["synced", "out-of-sync", "unknown"]},
                    "health": {
                        "enum": [
                            "healthy",
                            "progressing",
                            "degraded",
                            "suspended",
                            "missing",
                            "unknown",
                        ]
                    },
                    "revision": {"type": ["string", "null"], "description": "env-repo commit"},
                    "since": {"type": ["string", "null"], "format": "date-time"},
                    "observed": _TIME,
                    "images": _STRINGS,
                    "message": {"type": "string"},
                    "rollout": {"type": ["object", "null"]},
                    "unresolved": {
                        "type": "string",
                        "description": "an abbreviated commit the source named that is not one "
                        "env-repo commit (revision is then null)",
                    },
                    "drift": {
                        "type": "object",
                        "description": "component → {git, running} where they differ",
                    },
                },
            },
            "Promotion": {
                "type": "object",
                "properties": {
                    "number": {"type": "integer"},
                    "url": {"type": ["string", "null"]},
                    "title": {"type": "string"},
                    "env": {"type": "string"},
                    "name": {"type": "string", "description": "the app or group"},
                    "state": _GATE_STATE,
                    "gates": _objects(
                        {
                            "state": _GATE_STATE,
                            "text": {"type": "string"},
                        }
                    ),
                    "changes": _objects(
                        {
                            "app": {"type": "string"},
                            "component": {"type": "string"},
                            "before": {"type": ["string", "null"]},
                            "after": {"type": ["string", "null"]},
                        }
                    ),
                    "impact": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "what it changes in the cluster: impact classes (crd, "
                        "rbac, namespace, data, exposure, secret, scale, config, image, other; "
                        "unknown where it could not be rendered), as promobot labelled the PR",
                    },
                },
            },
            "Promotions": {
                "type": "object",
                "required": ["ref", "promotions"],
                "properties": {
                    "ref": {"type": "string"},
                    "promotions": {"type": "array", "items": _ref("Promotion")},
                },
            },
            "App": {
                "type": "object",
                "required": ["app", "ref", "environments", "promotions", "history"],
                "properties": {
                    "app": {"type": "string"},
                    "ref": {"type": "string"},
                    "environments": {
                        "type": "object",
                        "additionalProperties": {
                            "allOf": [
                                _ref("Composition"),
                                {
                                    "type": "object",
                                    "properties": {
                                        "upstream": {"type": ["string", "null"]},
                                        "differs": {
                                            **_STRING_MAP,
                                            "description": "component → what upstream runs",
                                        },
                                        "promotion": {"type": ["integer", "null"]},
                                    },
                                },
                            ]
                        },
                    },
                    "promotions": {"type": "array", "items": _ref("Promotion")},
                    "history": {
                        "type": "object",
                        "description": "environment → compositions over time, newest first",
                        "additionalProperties": {
                            "type": "array",
                            "items": {
                                "allOf": [
                                    _ref("Composition"),
                                    {"type": "object", "properties": _COMMIT},
                                ]
                            },
                        },
                    },
                },
            },
            "Inventory": {
                "type": "object",
                "required": ["app", "commit", "pending", "cells"],
                "properties": {
                    "app": {"type": "string"},
                    "commit": {"type": "string", "description": "the env-repo commit rendered"},
                    "pending": {
                        "type": "integer",
                        "description": "cells (of every app) still being rendered; a cell "
                        "missing from `cells` may come later",
                    },
                    "cells": {"type": "array", "items": _ref("Cell")},
                },
            },
            "Cell": {
                "type": "object",
                "description": "one app × environment (bot/manifests/model.py `Cell.to_json`): "
                "its inventory, or why there is none. No Secret's data, ever: Secrets are named",
                "required": ["app", "env", "origin", "rendered_id", "error", "caveat"],
                "properties": {
                    "app": {"type": "string"},
                    "env": {"type": "string"},
                    "origin": {"type": "string", "description": "how it was rendered"},
                    "rendered_id": {
                        "type": ["string", "null"],
                        "description": "a hash of the normalised objects: equal ids, equal "
                        "objects; null when not rendered",
                    },
                    "error": {
                        "type": ["string", "null"],
                        "description": "not rendered: why, and what would fix it",
                    },
                    "caveat": {
                        "type": ["string", "null"],
                        "description": "rendered, but not exactly as the cluster gets it",
                    },
                    "warnings": _STRINGS,
                    "counts": {
                        "type": "object",
                        "description": "kind → number of objects",
                        "additionalProperties": {"type": "integer"},
                    },
                    "highlights": _objects(
                        {
                            "class": {
                                "enum": [
                                    "workload",
                                    "exposure",
                                    "data",
                                    "crd",
                                    "rbac",
                                    "network",
                                    "secret",
                                ]
                            },
                            "kind": {"type": "string"},
                            "name": {"type": "string"},
                            "detail": {"type": "string"},
                        }
                    ),
                    "objects": _objects(
                        {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "namespace": {"type": ["string", "null"]},
                            "name": {"type": "string"},
                            "images": _STRINGS,
                        }
                    ),
                },
            },
            "Durations": {
                "type": "object",
                "required": ["count", "median_seconds", "p90_seconds"],
                "properties": {
                    "count": {"type": "integer"},
                    "median_seconds": {"type": ["number", "null"]},
                    "p90_seconds": {
                        "type": ["number", "null"],
                        "description": "nearest rank: a value that occurred",
                    },
                },
            },
            "Delivery": {
                "type": "object",
                "required": ["ref", "history_limit", "now", "window_days", "environments"],
                "properties": {
                    "ref": {"type": "string"},
                    "history_limit": {
                        "type": "integer",
                        "description": "commits read per environment, newest first",
                    },
                    "now": _TIME,
                    "window_days": {"type": "number"},
                    "environments": {
                        "type": "array",
                        "description": "in promotion order",
                        "items": {
                            "type": "object",
                            "properties": {
                                "env": {"type": "string"},
                                "upstream": {"type": ["string", "null"]},
                                "since": {
                                    "type": "string",
                                    "format": "date-time",
                                    "description": "what is counted starts here: the window's "
                                    "start, or the oldest commit read if later",
                                },
                                "days": {"type": "number"},
                                "deployments": {
                                    "type": "integer",
                                    "description": "commits that changed what it runs",
                                },
                                "deployments_per_day": {"type": "number"},
                                "deployments_per_week": {"type": "number"},
                                "weeks": _objects(
                                    {
                                        "start": _TIME,
                                        "deployments": {"type": "integer"},
                                        "read": {
                                            "type": "boolean",
                                            "description": "false: older than the "
                                            "history read, may count short",
                                        },
                                    }
                                ),
                                "lead_time": {
                                    "oneOf": [_ref("Durations"), {"type": "null"}],
                                    "description": "null for a source-fed environment",
                                },
                                "changes": {
                                    "type": "integer",
                                    "description": "deployments that are not rollbacks",
                                },
                                "failed_changes": {"type": "integer"},
                                "change_failure_rate": {"type": ["number", "null"]},
                                "time_to_restore": _ref("Durations"),
                                "rollbacks": _objects(
                                    {
                                        "commit": {"type": "string"},
                                        "time": _TIME,
                                        "apps": _STRINGS,
                                        "undone": _STRINGS,
                                        "restore_seconds": {"type": "number"},
                                    }
                                ),
                            },
                        },
                    },
                },
            },
            "EnvHistory": {
                "type": "object",
                "required": ["env", "ref", "entries"],
                "properties": {
                    "env": {"type": "string"},
                    "ref": {"type": "string"},
                    "upstream": {"type": ["string", "null"]},
                    "entries": _objects(
                        {
                            **_COMMIT,
                            "pr": {"type": ["integer", "null"]},
                            "first": {"type": "boolean"},
                            "changes": _objects(
                                {
                                    "app": {"type": "string"},
                                    "before": _or_null(_ref("Composition")),
                                    "after": _or_null(_ref("Composition")),
                                    "changed": _STRINGS,
                                }
                            ),
                        }
                    ),
                },
            },
        },
    },
    "security": [{}, {"readToken": []}],
}
