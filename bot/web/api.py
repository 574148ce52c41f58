"""The JSON API: what the overview pages show, for scripts and dashboards.

    GET /api/v1/status               exactly `promobot status --format json` (`Status.to_json()`)
    GET /api/v1/apps/{app}           one app in every environment, its open promotions, history
    GET /api/v1/envs/{env}/history   what changed in one environment, commit by commit
    GET /api/v1/metrics/delivery     delivery (DORA) metrics per environment; ?days= (30)
    GET /api/v1/audit                the audit log, oldest first: ?app= &env= &since= &limit=
                                     &cursor= (the `next` of the page before)
    GET /api/v1/openapi.json         the OpenAPI 3.1 description of the above

Same cache and the same read protection as the pages; errors are `{"error": "…"}`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot import audit, delivery
from bot.errors import PromobotError
from bot.web.access import ReadAccess
from bot.web.overview.cache import Overview

log = logging.getLogger("promobot.web")
PREFIX = "/api/v1"
AUDIT_LIMIT = 100  # records a page holds unless ?limit= says (at most bot.queue.AUDIT_PAGE_MAX)
_CURSOR = re.compile(r"\d{1,20}(-\d{1,20})?")  # a row number (SQLite) or a stream id (Redis)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class AuditRead(Protocol):
    def __call__(
        self,
        *,
        after: str = "",
        since: datetime | None = None,
        app: str | None = None,
        env: str | None = None,
        limit: int = 100,
    ) -> tuple[list[audit.Record], str | None]: ...


class Api:
    def __init__(
        self,
        overview: Overview,
        read: ReadAccess,
        prefix: str = PREFIX,
        *,
        audit: AuditRead | None = None,
    ) -> None:
        self.overview = overview
        self.read = read
        self.prefix = prefix  # "" under /api/v1/repos/<repo>, when several repos are served
        self.audit_read = audit  # the queue's store, which every process writes

    def routes(self) -> list[BaseRoute]:
        prefix = self.prefix
        return [
            Route(f"{prefix}/status", self.guard(self.status)),
            Route(f"{prefix}/apps/{{app}}", self.guard(self.app)),
            Route(f"{prefix}/envs/{{env}}/history", self.guard(self.env_history)),
            Route(f"{prefix}/metrics/delivery", self.guard(self.delivery)),
            Route(f"{prefix}/audit", self.guard(self.audit)),
            Route(f"{prefix}/openapi.json", self.guard(self.openapi)),
        ]

    def guard(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            if not self.read.check(request).allowed:
                return JSONResponse(
                    {"error": "a read token is needed (Authorization: Bearer …, or ?token=…)"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="promobot"'},
                )
            try:
                return handler(request)
            except PromobotError as exc:
                log.warning("overview unavailable", extra={"error": str(exc)})
                return error(503, f"the environment repo cannot be read: {exc}")

        return endpoint

    def status(self, request: Request) -> Response:
        state = self.overview.state()
        data = state.status.to_json()
        live: dict[str, dict[str, Any]] = {}
        for row in self.overview.matrix(state).rows:
            for cell in row.cells:
                found = cell.live_json()
                if found is not None:
                    live.setdefault(cell.app, {})[cell.env] = found
        watched = any(env.live is not None for env in state.config.environments.values())
        return JSONResponse({**data, "live": live} if watched else data)

    def app(self, request: Request) -> Response:
        state = self.overview.state()
        name = request.path_params["app"]
        if name not in state.config.apps:
            return error(404, f"unknown app {name!r}; known: {', '.join(state.config.apps)}")
        matrix = self.overview.matrix(state).of_app(name)
        environments: dict[str, Any] = {}
        for cell in matrix.rows[0].cells:
            if cell.composition is None:
                continue
            environments[cell.env] = {
                **cell.composition.to_json(),
                "upstream": cell.upstream,
                "differs": {v.component: v.upstream for v in cell.versions if v.upstream},
                "promotion": cell.promotion.number if cell.promotion else None,
                "live": cell.live_json(),
            }
        history = self.overview.app_history(state, name)
        return JSONResponse(
            {
                "app": name,
                "ref": state.snapshot.commit,
                "environments": environments,
                "promotions": [p.to_json() for p in matrix.promotions],
                "history": {
                    env: [e.to_json() for e in entries] for env, entries in history.items()
                },
            }
        )

    def env_history(self, request: Request) -> Response:
        state = self.overview.state()
        name = request.path_params["env"]
        if name not in state.config.environments:
            known = ", ".join(state.config.order)
            return error(404, f"unknown environment {name!r}; known: {known}")
        entries = self.overview.env_history(state, name)
        return JSONResponse(
            {
                "env": name,
                "ref": state.snapshot.commit,
                "upstream": state.config.environments[name].upstream,
                "entries": [e.to_json() for e in entries],
            }
        )

    def delivery(self, request: Request) -> Response:
        unknown = sorted(set(request.query_params) - {"days", "token"})
        if unknown:
            return error(400, f"unknown query parameter {unknown[0]!r}; known: days")
        try:
            window = delivery.window(request.query_params.get("days", ""))
        except ValueError as exc:
            return error(400, str(exc))
        state = self.overview.state()
        report = self.overview.delivery(state, datetime.now(UTC), window)
        return JSONResponse(
            {
                "ref": state.snapshot.commit,
                "history_limit": self.overview.history_limit,
                **report.to_json(),
            }
        )

    def audit(self, request: Request) -> Response:
        """The audit log, oldest first, a page at a time. Asks neither the forge nor the repo:
        only the queue's store. A bad parameter is a 400 saying which and why."""
        params = request.query_params
        known = ("app", "env", "since", "limit", "cursor")
        unknown = sorted(set(params) - {*known, "token"})
        if unknown:
            return error(400, f"unknown query parameter {unknown[0]!r}; known: {', '.join(known)}")
        for name in known:
            if len(params.getlist(name)) > 1:
                return error(400, f"{name}: give it once")
        app, env = params.get("app") or None, params.get("env") or None
        for name, value in (("app", app), ("env", env)):
            if value is not None and not _NAME.fullmatch(value):
                return error(400, f"{name}: {value[:100]!r} is not an app or environment name")
        try:
            since = audit.since(params["since"]) if params.get("since") else None
        except ValueError as exc:
            return error(400, str(exc))
        raw_limit = params.get("limit") or str(AUDIT_LIMIT)
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
            return error(400, f"limit: {raw_limit[:20]!r} is not a number from 1 to 1000")
        cursor = params.get("cursor") or ""
        if cursor and not _CURSOR.fullmatch(cursor):
            return error(400, "cursor: not one this API gave; use the `next` of a page")
        if self.audit_read is None:
            return error(404, "this process keeps no audit log")
        records, following = self.audit_read(
            after=cursor, since=since, app=app, env=env, limit=int(raw_limit)
        )
        return JSONResponse(
            {
                "records": [r.to_json() for r in records],
                "next": following,
            }
        )

    def openapi(self, request: Request) -> Response:
        if self.prefix == PREFIX:
            return JSONResponse(OPENAPI)
        # one repo of several (/api/v1/repos/<repo>/…): the same operations, under its base
        base = request.url.path.removesuffix("/openapi.json")
        paths = {path.removeprefix(PREFIX): item for path, item in OPENAPI["paths"].items()}
        return JSONResponse({**OPENAPI, "servers": [{"url": base}], "paths": paths})


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# --- the OpenAPI description ----------------------------------------------------------------------


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


def _not_found(what: str) -> dict[str, Any]:
    return {
        "description": f"no such {what} in .promobot.yaml",
        "content": {"application/json": {"schema": _ref("Error")}},
    }


_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
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
        "problems": {"type": "array", "items": {"type": "string"}},
    },
}
_COMMIT = {
    "commit": {"type": "string"},
    "time": {"type": "string", "format": "date-time"},
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
        f"{PREFIX}/apps/{{app}}": {
            "get": {
                "operationId": "app",
                "summary": "One app in every environment, its open promotions and its history",
                "parameters": [
                    {"name": "app", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {**_ok("App", "the app"), "404": _not_found("app")},
            }
        },
        f"{PREFIX}/envs/{{env}}/history": {
            "get": {
                "operationId": "envHistory",
                "summary": "What changed in one environment, newest commit first",
                "parameters": [
                    {"name": "env", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
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
                    "400": {
                        "description": "a bad query parameter",
                        "content": {"application/json": {"schema": _ref("Error")}},
                    },
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
                    "400": {
                        "description": "a bad query parameter",
                        "content": {"application/json": {"schema": _ref("Error")}},
                    },
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
            "Unauthorized": {
                "description": "read protection is on and no valid token (or proxy header) came",
                "content": {"application/json": {"schema": _ref("Error")}},
            },
            "Unavailable": {
                "description": "the environment repo or the forge cannot be read",
                "content": {"application/json": {"schema": _ref("Error")}},
            },
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
                    "at": {"type": "string", "format": "date-time"},
                    "repo": {"type": "string"},
                    "kind": {"enum": list(audit.KINDS)},
                    "env": {"type": ["string", "null"]},
                    "apps": {"type": "array", "items": {"type": "string"}},
                    "pr": {"type": ["integer", "null"]},
                    "url": {"type": ["string", "null"]},
                    "title": {"type": ["string", "null"]},
                    "head": {"type": ["string", "null"]},
                    "sha": {"type": ["string", "null"], "description": "merged: the merge commit"},
                    "changes": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "app": {"type": "string"},
                                "component": {"type": "string"},
                                "from": {"type": ["string", "null"]},
                                "to": {"type": ["string", "null"]},
                            },
                        },
                    },
                    "cause": {"type": ["string", "null"]},
                    "actor": {"type": ["string", "null"]},
                    "approvers": {"type": "array", "items": {"type": "string"}},
                    "requested_by": {"type": "array", "items": {"type": "string"}},
                    "outcome": {"type": "string"},
                    "reason": {"type": "string"},
                    "command": {"type": ["string", "null"]},
                    "inputs": {"type": "object"},
                    "delivery": {"type": ["string", "null"]},
                    "job": {"type": ["string", "null"]},
                },
            },
            "Status": {
                "type": "object",
                "required": ["ref", "environments", "apps"],
                "properties": {
                    "ref": {"type": "string", "description": "the commit read"},
                    "environments": {"type": "array", "items": {"type": "string"}},
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
                    "observed": {"type": "string", "format": "date-time"},
                    "images": {"type": "array", "items": {"type": "string"}},
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
                    "state": {"enum": ["pass", "pending", "fail"]},
                    "gates": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "state": {"enum": ["pass", "pending", "fail"]},
                                "text": {"type": "string"},
                            },
                        },
                    },
                    "changes": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "app": {"type": "string"},
                                "component": {"type": "string"},
                                "before": {"type": ["string", "null"]},
                                "after": {"type": ["string", "null"]},
                            },
                        },
                    },
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
                    "now": {"type": "string", "format": "date-time"},
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
                                "weeks": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "start": {"type": "string", "format": "date-time"},
                                            "deployments": {"type": "integer"},
                                            "read": {
                                                "type": "boolean",
                                                "description": "false: older than the "
                                                "history read, may count short",
                                            },
                                        },
                                    },
                                },
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
                                "rollbacks": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "commit": {"type": "string"},
                                            "time": {"type": "string", "format": "date-time"},
                                            "apps": {"type": "array", "items": {"type": "string"}},
                                            "undone": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                            },
                                            "restore_seconds": {"type": "number"},
                                        },
                                    },
                                },
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
                    "entries": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                **_COMMIT,
                                "pr": {"type": ["integer", "null"]},
                                "first": {"type": "boolean"},
                                "changes": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "app": {"type": "string"},
                                            "before": {
                                                "oneOf": [_ref("Composition"), {"type": "null"}]
                                            },
                                            "after": {
                                                "oneOf": [_ref("Composition"), {"type": "null"}]
                                            },
                                            "changed": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "security": [{}, {"readToken": []}],
}
