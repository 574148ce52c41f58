"""The simulator's HTTP face: GitHub REST v3 under /api/v3, GitLab v4 under /api/v4.

Every API route goes through `endpoint()`, which counts the call, applies injected faults and
latency, authenticates the caller and adds the rate-limit headers each forge sends.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from tests.forgesim.world import World

Handler = Callable[[Request], Awaitable[Response]]


def error(status: int, message: str, forge: str = "github", **extra: Any) -> JSONResponse:
    if forge == "gitlab":
        return JSONResponse({"message": message, **extra}, status_code=status)
    return JSONResponse(
        {"message": message, "documentation_url": "https://docs.github.com/rest", **extra},
        status_code=status,
    )


def rate_headers(world: World, forge: str) -> dict[str, str]:
    if forge == "gitlab":
        return {
            "RateLimit-Limit": str(world.rate_limit),
            "RateLimit-Remaining": str(world.rate_remaining),
            "RateLimit-Reset": str(world.rate_reset),
            "RateLimit-Observed": str(world.rate_limit - world.rate_remaining),
        }
    return {
        "X-RateLimit-Limit": str(world.rate_limit),
        "X-RateLimit-Remaining": str(world.rate_remaining),
        "X-RateLimit-Reset": str(world.rate_reset),
        "X-RateLimit-Used": str(world.rate_limit - world.rate_remaining),
        "X-RateLimit-Resource": "core",
        "X-GitHub-Media-Type": "github.v3; format=json",
    }


def caller(world: World, request: Request, forge: str) -> str | None:
    header = request.headers.get("authorization", "")
    token = None
    if header.lower().startswith(("token ", "bearer ")):
        token = header.split(" ", 1)[1].strip()
    elif forge == "gitlab":
        token = request.headers.get("private-token") or request.headers.get("job-token")
    if not token:
        return None
    login = world.tokens.get(token)
    expiry = world.token_expiry.get(token)
    if expiry is not None and time.time() >= expiry:
        return None
    return login


def endpoint(
    world: World, forge: str, method: str, path: str, handler: Handler, *, auth: bool = True
) -> Route:
    name = f"{forge} {method} {path}"

    async def wrapped(request: Request) -> Response:
        world.count(name)
        if world.requests is not None:
            world.requests.append((time.time(), name, caller(world, request, forge)))
        if world.latency:
            await asyncio.sleep(world.latency)
        fault = world.take_fault(method, request.url.path)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status:
                body = fault.body or {"message": "simulated failure"}
                return JSONResponse(
                    body,
                    status_code=fault.status,
                    headers={**rate_headers(world, forge), **fault.headers},
                )
        if auth:
            login = caller(world, request, forge)
            if login is None:
                message = "401 Unauthorized" if forge == "gitlab" else "Bad credentials"
                return error(401, message, forge)
            request.state.user = login
        if world.rate_remaining <= 0:
            refused = error(403, "API rate limit exceeded", forge)
            refused.headers.update(rate_headers(world, forge))  # remaining 0, and the reset
            return refused
        try:
            response = await handler(request)
        except json.JSONDecodeError:
            return error(400, "Problems parsing JSON", forge)
        if response.status_code == 304:
            world.count_not_modified(name)
        for key, value in rate_headers(world, forge).items():
            response.headers.setdefault(key, value)
        return response

    return Route(path, wrapped, methods=[method], name=name)


def create_app(world: World) -> Starlette:
    from tests.forgesim import github, github_graphql, gitlab

    routes = [
        Mount("/api/v3", routes=github.routes(world)),
        # GitHub Enterprise Server's place for GraphQL, beside /api/v3
        endpoint(world, "github", "POST", "/api/graphql", github_graphql.endpoint(world)),
        Mount("/api/v4", routes=gitlab.routes(world)),
        *github.extra_routes(world),
    ]
    return Starlette(routes=routes)
