"""The JSON API: what the overview pages show, for scripts and dashboards.

    GET /api/v1/status               exactly `promobot status --format json` (`Status.to_json()`)
    GET /api/v1/promotions           every open promotion: changes, gates, impact
    GET /api/v1/apps/{app}           one app in every environment, its open promotions, history
    GET /api/v1/apps/{app}/inventory what each environment of an app renders to; ?env= (repeatable)
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
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot import audit, delivery
from bot.errors import PromobotError
from bot.queue import RepoQueue
from bot.web.access import ReadAccess
from bot.web.openapi import OPENAPI, PREFIX
from bot.web.overview.cache import Overview

log = logging.getLogger("promobot.web")
AUDIT_LIMIT = 100  # records a page holds unless ?limit= says (at most bot.queue.AUDIT_PAGE_MAX)
_CURSOR = re.compile(r"\d{1,20}(-\d{1,20})?")  # a row number (SQLite) or a stream id (Redis)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class Refused(Exception):
    """A request answered with an error status and `{"error": message}` (raised by a handler or
    its helpers, answered by `Api.guard`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Api:
    def __init__(
        self,
        overview: Overview,
        read: ReadAccess,
        prefix: str = PREFIX,
        *,
        audit: RepoQueue | None = None,
    ) -> None:
        self.overview = overview
        self.read = read
        self.prefix = prefix  # "" under /api/v1/repos/<repo>, when several repos are served
        self.audit_store = audit  # the queue's store, which every process writes

    def routes(self) -> list[BaseRoute]:
        prefix = self.prefix
        return [
            Route(f"{prefix}/status", self.guard(self.status)),
            Route(f"{prefix}/promotions", self.guard(self.promotions)),
            Route(f"{prefix}/apps/{{app}}", self.guard(self.app)),
            Route(f"{prefix}/apps/{{app}}/inventory", self.guard(self.inventory)),
            Route(f"{prefix}/envs/{{env}}/history", self.guard(self.env_history)),
            Route(f"{prefix}/metrics/delivery", self.guard(self.delivery)),
            Route(f"{prefix}/audit", self.guard(self.audit)),
            Route(f"{prefix}/openapi.json", self.guard(self.openapi)),
        ]

    def guard(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            if not self.read.check(request).allowed:
                return unauthorized()
            try:
                return handler(request)
            except Refused as exc:
                return error(exc.status, str(exc))
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

    def promotions(self, request: Request) -> Response:
        state = self.overview.state()
        matrix = self.overview.matrix(state)
        return JSONResponse(
            {
                "ref": state.snapshot.commit,
                "promotions": [p.to_json() for p in matrix.promotions],
            }
        )

    def app(self, request: Request) -> Response:
        state = self.overview.state()
        name = _known(request.path_params["app"], "app", state.config.apps)
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

    def inventory(self, request: Request) -> Response:
        """What each environment of an app renders to (`Cell.to_json()`, in promotion order),
        as far as rendering got: `pending` cells are still being rendered."""
        _only(request.query_params, ("env",))
        state = self.overview.state()
        config = state.config
        name = _known(request.path_params["app"], "app", config.apps)
        deployed = [e for e in config.order if e in config.app_environments(name)]
        wanted = request.query_params.getlist("env")
        for env in wanted:
            if env in config.order and env not in deployed:
                raise Refused(
                    404, f"{name} is not deployed to {env}; it is in: {', '.join(deployed)}"
                )
            _known(env, "environment", config.order)
        sheet = self.overview.sheet()
        if sheet is None:
            why = (
                "this promobot renders no manifests"
                if self.overview.inventory is None
                else "nothing is rendered yet: promobot renders every app × environment after "
                "it reads the repo; ask again in a minute"
            )
            return error(503, why)
        envs = [e for e in deployed if not wanted or e in wanted]
        cells = [c for c in (sheet.get(name, e) for e in envs) if c is not None]
        return JSONResponse(
            {
                "app": name,
                "commit": sheet.commit,
                "pending": sheet.pending,
                "cells": [c.to_json() for c in cells],
            }
        )

    def env_history(self, request: Request) -> Response:
        state = self.overview.state()
        name = _known(request.path_params["env"], "environment", state.config.order)
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
        _only(request.query_params, ("days",))
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
        _only(params, known)
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
        if self.audit_store is None:
            return error(404, "this process keeps no audit log")
        records, following = self.audit_store.audit_read(
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


def unauthorized() -> JSONResponse:
    """The answer to a request that read protection turns away (the repos' list too)."""
    return JSONResponse(
        {"error": "a read token is needed (Authorization: Bearer …, or ?token=…)"},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="promobot"'},
    )


def _known(name: str, what: str, known: Collection[str]) -> str:
    """`name` when it is one of `known` (the apps, or the environments); else a 404 naming them."""
    if name not in known:
        raise Refused(404, f"unknown {what} {name!r}; known: {', '.join(known)}")
    return name


def _only(params: QueryParams, known: Sequence[str]) -> None:
    """A 400 for the first unknown query parameter, in sorted order (`token` is access's)."""
    unknown = sorted(set(params) - {*known, "token"})
    if unknown:
        raise Refused(400, f"unknown query parameter {unknown[0]!r}; known: {', '.join(known)}")
