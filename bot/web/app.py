"""The HTTP face of `promobot serve`: webhooks, health, readiness, metrics, and the overview
(pages in `pages`, the JSON API in `api`, optionally behind `access`).

Each webhook is checked in the same order: credentials first (401 and nothing else happens),
then the size (413) and the time the body takes to arrive (408), and the verified delivery is
appended to the queue as it came (202; 503 when the queue's store is down, so the sender
retries). Parsing, relevance and deduplication happen in a worker (`bot.intake`): the answer
costs one write, whatever the body says and however busy the workers are. Nothing here talks
to the forge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bot import metrics
from bot.fleet import Fleet
from bot.live import argocd_webhook, flux
from bot.service import Service
from bot.web import fleet as many
from bot.web import verify
from bot.web.access import ReadAccess
from bot.web.api import Api
from bot.web.gauges import DeliveryGauges
from bot.web.openapi import PREFIX
from bot.web.overview.cache import Overview
from bot.web.pages import Pages, Renderer, Site, label

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


def create_app(service: Service | Fleet) -> Starlette:
    """The app for one repo (`Service`: every page at the root) or several (`Fleet`: a list
    of repos at the root, each repo's pages under /repos/<repo>/, its API under
    /api/v1/repos/<repo>/)."""
    settings = service.settings
    read = ReadAccess.from_settings(settings)
    views: list[BaseRoute]
    if isinstance(service, Fleet):
        fleet = service
        apps = many.RepoApps(fleet, read)
        home = Renderer(Site.of(settings), read)
        views = [
            Route("/", many.home(fleet, apps, read)),
            Route(f"{PREFIX}/repos", many.repos_json(fleet, apps, read)),
            Mount(f"{PREFIX}/repos", app=many.RepoRouter(fleet, apps, "api", home.not_found)),
            Mount("/repos", app=many.RepoRouter(fleet, apps, "pages", home.not_found)),
            home.static(),
        ]
        invalidate = apps.invalidate
        not_found = home.not_found
        gauges = DeliveryGauges(apps.overviews)
    else:
        relevance = service.intake.relevance
        # what the pages show, cached
        seen = Overview(
            service.engine,
            live=service.live,
            deployed=service.gatekeeper.deployed,
            repo=label(settings),
            inventory=service.rendering.sheet if service.rendering else None,
        )
        diffs = service.impacts.of if service.impacts is not None else None
        pages = Pages(seen, Site.of(settings), read, diffs)
        key = service.budget_key
        gauges = DeliveryGauges(lambda: [(seen, key)])
        views = [*pages.routes(), *Api(seen, read, audit=service.queue).routes()]
        invalidate = seen.invalidate
        not_found = pages.not_found

    def secret(value: object) -> str:
        return value.get_secret_value() if value is not None else ""  # type: ignore[attr-defined]

    webhook_secret = secret(settings.webhook_secret)
    registry_token = secret(settings.registry_token)
    flux_secret = secret(settings.flux_webhook_secret)
    argocd_secret = secret(settings.argocd_webhook_secret)

    def webhook(
        source: str,
        authorized: Callable[[Request, bytes | None], bool],
        needs_body_to_verify: bool = False,
        max_body: int | None = None,
    ) -> Callable[[Request], Awaitable[Response]]:
        # a source whose deliveries are known to be small says so: a larger body is not one
        limit = min(settings.max_body, max_body) if max_body is not None else settings.max_body

        def answer(outcome: str, status: int, extra: dict[str, object] | None = None) -> Response:
            metrics.WEBHOOKS.labels(source, outcome).inc()
            return JSONResponse({"status": outcome, **(extra or {})}, status_code=status)

        async def handler(request: Request) -> Response:
            if not needs_body_to_verify and not authorized(request, None):
                return answer("unauthorized", 401, {"error": "missing or wrong credentials"})
            try:
                body = await read_body(request, limit, settings.body_seconds)
            except TooLarge:
                too_large = f"body larger than {limit} bytes"
                return answer("too-large", 413, {"error": too_large})
            except TimeoutError:
                return answer(
                    "too-slow", 408, {"error": f"body not sent within {settings.body_timeout}"}
                )
            except ClientDisconnect:
                return answer("disconnected", 400, {"error": "the client went away"})
            if needs_body_to_verify and not authorized(request, body):
                return answer("unauthorized", 401, {"error": "missing or wrong signature"})
            try:  # the durable append, and nothing else: a worker parses and filters it
                await asyncio.to_thread(service.submit_delivery, source, request.headers, body)
            except Exception as exc:  # the queue's store is down: ask the sender to retry
                log.error("queue unavailable", extra={"source": source, "error": str(exc)})
                return answer("unavailable", 503, {"error": "the queue is unavailable; retry"})
            invalidate()  # it may move the head or change the open promotions
            return answer("accepted", 202)

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

    def flux_ok(request: Request, body: bytes | None) -> bool:
        header = request.headers.get("x-signature")
        return body is not None and flux.signature_ok(flux_secret, body, header)

    def argocd_ok(request: Request, _: bytes | None) -> bool:
        return argocd_webhook.token_ok(argocd_secret, request.headers.get("x-promobot-token"))

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        # Unauthenticated: it says ready or not, nothing about the repo or the machine (the
        # problems go to the log). Several repos: ready once they are found; a repo whose
        # configuration is broken is shown on the overview and stops none of the others.
        if isinstance(service, Fleet):
            return JSONResponse({"ready": True})
        if not relevance.loaded:
            await asyncio.to_thread(relevance.refresh)
        if relevance.problems:
            return JSONResponse({"ready": False}, status_code=503)
        return JSONResponse({"ready": True})

    async def metrics_endpoint(request: Request) -> Response:
        metrics.QUEUE_DEPTH.set(service.queue.depth())
        gauges.scraped()  # the delivery figures, if due, for the next scrape
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/webhooks/github", webhook("github", github_ok, True), methods=["POST"]),
        Route("/webhooks/gitlab", webhook("gitlab", gitlab_ok), methods=["POST"]),
        Route("/webhooks/registry", webhook("registry", bearer_ok), methods=["POST"]),
        Route("/webhooks/artifact", webhook("artifact", bearer_ok), methods=["POST"]),
        Route("/webhooks/flux", webhook("flux", flux_ok, True, flux.MAX_BODY), methods=["POST"]),
        Route("/webhooks/argocd", webhook("argocd", argocd_ok), methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        *views,
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if isinstance(service, Fleet):
            await asyncio.to_thread(service.check)  # logs each misconfigured repo
        else:
            await asyncio.to_thread(relevance.refresh)
            service.after_job.append(invalidate)
        yield

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found})
    app.add_middleware(GZipMiddleware, minimum_size=1024)  # the overview of 500 apps is ~1 MB
    if isinstance(service, Service):
        app.state.relevance = relevance
        app.state.overview = seen
    return app
