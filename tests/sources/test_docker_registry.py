"""The `tests.registry` helper itself: what later end-to-end tests rely on."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.registry import Registry, needs_registry
from tests.sources.servers import serve

pytestmark = needs_registry


def test_the_registry_notifies_a_tagged_manifest_push_with_the_bearer_token() -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: Request) -> Response:
        received.append((request.headers.get("Authorization"), json.loads(await request.body())))
        return Response(status_code=202)

    app = Starlette(routes=[Route("/webhooks/registry", hook, methods=["POST"])])
    with (
        serve(app) as url,
        Registry(notify_url=f"{url}/webhooks/registry", notify_token="t0ken") as registry,
    ):
        digest = registry.push("team/api", "1.4.2")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            events = [e for _, body in received for e in body["events"]]
            tagged = [e for e in events if e["action"] == "push" and e["target"].get("tag")]
            if tagged:
                break
            time.sleep(0.02)
    assert {auth for auth, _ in received} == {"Bearer t0ken"}
    (event,) = tagged
    assert event["target"]["repository"] == "team/api"
    assert event["target"]["tag"] == "1.4.2"
    assert event["target"]["digest"] == digest
