"""The HTTP face of `promobot serve`: webhooks, health, readiness, metrics, and the overview
(pages in `pages`, the JSON API in `api`, optionally behind `access`).

Each webhook is checked in the same order: credentials first (401 and nothing else happens),
then the size (413) and the time the body takes to arrive (408), then the body (400 with a
one-line reason), then whether it was seen before (200) and whether it concerns this repo at
all (200), and only then is a job queued (202). Nothing here talks to the forge: answers stay
fast, and bad input never reaches it. Parsing and the queue's store run in a worker thread, so
one large or slow body never holds up the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import events, metrics
from bot.engine import State
from bot.service import Service
from bot.web import overview, verify
from bot.web.access import ReadAccess
from bot.web.api import Api
from bot.web.pages import Pages, Site

log = logging.getLogger("promobot.web")


class TooLarge(Exception):
    pass


async def read_body(request: Request, limit: int, seconds: float) -> bytes:
    """The body, refusing to buffer more than `limit` bytes whatever Content-Length says, or to
    wait longer than `seconds` for all of it (TimeoutError)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async with asyncio.timeout(seconds):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge
            chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class Relevance:
    """What this service cares about, kept in memory so webhooks never wait on the forge."""

    repo: str
    default_branch: str | None = None
    source_keys: set[str] | None = None  # None: not known yet, so everything is relevant
    loaded: bool = False
    problems: list[str] = field(default_factory=list)

    def refresh(self, service: Service, state: State | None = None) -> None:
        try:
            self.default_branch = service.forge.default_branch()
            state = state or service.engine.state()
            self.source_keys = {
                c.source.key
                for app in state.config.apps.values()
                for c in app.components.values()
                if c.source is not None
            }
            self.problems = []
            self.loaded = True
        except Exception as exc:  # readiness reports it; webhooks keep being accepted
            self.problems = [f"{type(exc).__name__}: {exc}"]
            log.warning("not ready", extra={"error": self.problems[0]})

    def why_not(self, event: events.Event) -> str | None:
        """None when the event may need work; otherwise why it needs none."""
        if isinstance(event, events.Ping | events.Ignored):
            return event.reason if isinstance(event, events.Ignored) else "ping"
        repo = getattr(event, "repo", None)
        if isinstance(event, events.Artifact):
            if self.source_keys is not None and event.source_key not in self.source_keys:
                return f"no app takes versions from {event.source_key}"
            return None
        if repo is not None and repo.lower() != self.repo.lower():
            return f"{repo} is not the environment repo {self.repo}"
        if (
            isinstance(event, events.Push)
            and self.default_branch
            and event.branch
            not in (
                self.default_branch,
                None,
            )
        ):
            return f"a push to {event.branch}, not to {self.default_branch}"
        return None


Parser = Callable[[Request, bytes], list[tuple[str, events.Event]]]


def create_app(service: Service) -> Starlette:
    settings = service.settings
    relevance = Relevance(settings.repo)
    seen = overview.Overview(service.engine)  # what the pages show, cached
    read = ReadAccess.from_settings(settings)
    pages = Pages(seen, Site.of(settings), read)

    def secret(value: object) -> str:
        return value.get_secret_value() if value is not None else ""  # type: ignore[attr-defined]

    webhook_secret = secret(settings.webhook_secret)
    registry_token = secret(settings.registry_token)

    def webhook(
        source: str,
        authorized: Callable[[Request, bytes | None], bool],
        parse: Parser,
        needs_body_to_verify: bool = False,
    ) -> Callable[[Request], Awaitable[Response]]:
        def answer(outcome: str, status: int, extra: dict[str, object] | None = None) -> Response:
            metrics.WEBHOOKS.labels(source, outcome).inc()
            return JSONResponse({"status": outcome, **(extra or {})}, status_code=status)

        async def handler(request: Request) -> Response:
            if not needs_body_to_verify and not authorized(request, None):
                return answer("unauthorized", 401, {"error": "missing or wrong credentials"})
            try:
                body = await read_body(request, settings.max_body, settings.body_seconds)
            except TooLarge:
                too_large = f"body larger than {settings.max_body} bytes"
                return answer("too-large", 413, {"error": too_large})
            except TimeoutError:
                return answer(
                    "too-slow", 408, {"error": f"body not sent within {settings.body_timeout}"}
                )
            except ClientDisconnect:
                return answer("disconnected", 400, {"error": "the client went away"})
            if needs_body_to_verify and not authorized(request, body):
                return answer("unauthorized", 401, {"error": "missing or wrong signature"})
            return answer(*await asyncio.to_thread(take, request, body))

        def take(request: Request, body: bytes) -> tuple[str, int, dict[str, object]]:
            """Parse, filter, dedupe and queue one verified delivery (in a worker thread)."""
            try:
                parsed = parse(request, body)
            except events.EventError as exc:
                return "malformed", 400, {"error": str(exc)}
            queued, reasons = [], []
            for key, event in parsed:
                reason = relevance.why_not(event)
                if reason is not None:
                    reasons.append(reason)
                    continue
                try:
                    if service.queue.seen(key):
                        reasons.append("duplicate delivery")
                        continue
                    service.submit_event(event)
                except Exception as exc:  # the queue's store is down: ask the sender to retry
                    log.error("queue unavailable", extra={"delivery": key, "error": str(exc)})
                    service.queue.forget(key)
                    return "unavailable", 503, {"error": "the queue is unavailable; retry"}
                queued.append(key)
                log.info(
                    "webhook queued", extra={"source": source, "delivery": key, "event": event.kind}
                )
            if queued:
                seen.invalidate()  # it may move the head or change the open promotions
                return "queued", 202, {"deliveries": queued}
            if not parsed:
                reasons.append("nothing to do")
            outcome = "duplicate" if reasons == ["duplicate delivery"] else "ignored"
            return outcome, 200, {"reason": "; ".join(dict.fromkeys(reasons))}

        return handler

    def github_ok(request: Request, body: bytes | None) -> bool:
        return body is not None and verify.github_signature_ok(
            webhook_secret, body, request.headers.get("x-hub-signature-256")
        )

    def gitlab_ok(request: Request, _: bytes | None) -> bool:
        return verify.gitlab_token_ok(webhook_secret, request.headers.get("x-gitlab-token"))

    def bearer_ok(request: Request, _: bytes | None) -> bool:
        # Docker Hub and Quay cannot send headers: they may carry the token as ?token=
        query = request.query_params.get("token")
        header = request.headers.get("authorization") or (f"Bearer {query}" if query else None)
        return verify.bearer_ok(registry_token, header)

    def parse_github(request: Request, body: bytes) -> list[tuple[str, events.Event]]:
        h = request.headers
        return [
            events.parse_github(
                h.get("x-github-event"), h.get("x-github-delivery"), body, h.get("x-github-hook-id")
            )
        ]

    def parse_gitlab(request: Request, body: bytes) -> list[tuple[str, events.Event]]:
        h = request.headers
        return [
            events.parse_gitlab(
                h.get("x-gitlab-event"),
                h.get("idempotency-key"),
                h.get("x-gitlab-event-uuid"),
                body,
            )
        ]

    def parse_registry(request: Request, body: bytes) -> list[tuple[str, events.Event]]:
        return list(events.parse_registry(request.headers.get("content-type"), body))

    def parse_artifact(request: Request, body: bytes) -> list[tuple[str, events.Event]]:
        return [events.parse_artifact(body)]

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        # Unauthenticated: it says ready or not, nothing about the repo or the machine (the
        # problems go to the log).
        if not relevance.loaded:
            await asyncio.to_thread(relevance.refresh, service)
        if relevance.problems:
            return JSONResponse({"ready": False}, status_code=503)
        return JSONResponse({"ready": True})

    async def metrics_endpoint(request: Request) -> Response:
        metrics.QUEUE_DEPTH.set(service.queue.depth())
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route(
            "/webhooks/github", webhook("github", github_ok, parse_github, True), methods=["POST"]
        ),
        Route("/webhooks/gitlab", webhook("gitlab", gitlab_ok, parse_gitlab), methods=["POST"]),
        Route(
            "/webhooks/registry", webhook("registry", bearer_ok, parse_registry), methods=["POST"]
        ),
        Route(
            "/webhooks/artifact", webhook("artifact", bearer_ok, parse_artifact), methods=["POST"]
        ),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        *pages.routes(),
        *Api(seen, read).routes(),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(relevance.refresh, service)
        # after every job, take what the worker just read (no extra forge call)
        service.after_job.append(lambda: relevance.refresh(service, service.engine.latest))
        service.after_job.append(seen.invalidate)
        yield

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: pages.not_found})
    app.add_middleware(GZipMiddleware, minimum_size=1024)  # the overview of 500 apps is ~1 MB
    app.state.relevance = relevance
    app.state.overview = seen
    return app
