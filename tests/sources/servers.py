"""Small stand-ins on 127.0.0.1 that speak the real protocols: a token-auth registry, a Helm repo.

Distribution's own token auth needs certificates, so the token flow is tested against
`TokenRegistry`, which answers like Docker Hub or GHCR: 401 with a `Bearer` challenge, a token
service at the realm, tag lists in pages linked by `Link: <…>; rel="next"`. Its token service
grants every `scope=` asked in one token, as Docker Hub's, Harbor's, Quay's and Distribution's
token servers do (or at most `max_scopes` of them), as a JWT whose `access` claims list what it
grants (or, with `opaque`, a token that says nothing). Tag lists carry an `ETag` or
`Last-Modified` only when `validator` asks for one: Distribution 2.8, Harbor and Quay send
neither, so by default neither does the stand-in. Manifests and blobs put in `manifests` and
`blobs` are served as they are (with their digest), other tags as empty manifests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: Starlette, port: int = 0) -> Iterator[str]:
    """Run `app` on 127.0.0.1 in a thread; yields its base URL and stops it afterwards."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class TokenRegistry:
    """A registry behind a token service, with faults to inject."""

    repos: dict[str, list[str]] = field(default_factory=dict)
    page_size: int = 2  # caps `n`, as Docker Hub and GHCR do
    credentials: tuple[str, str] | None = None  # required by the token service when set
    url: str = ""
    # "token", "401", "tags", "tags unchanged" (answered 304), "manifest" (a GET),
    # "manifest HEAD", "blob"
    hits: Counter[str] = field(default_factory=Counter)
    token_auth: list[str | None] = field(default_factory=list)  # Authorization seen by /token
    token_scopes: list[list[str]] = field(default_factory=list)  # scopes asked, per request
    issued: dict[str, set[str]] = field(default_factory=dict)  # token → the scopes it grants
    faults: list[int] = field(default_factory=list)  # statuses to answer first, one per request
    expires_in: int = 300
    max_scopes: int | None = None  # grant at most this many of the scopes asked (None: all)
    opaque: bool = False  # tokens that are not JWTs: the client cannot read what they grant
    private: set[str] = field(default_factory=set)  # repositories no token grants pull on
    validator: Literal["etag", "last-modified"] | None = None  # sent with tag lists
    _stamps: dict[str, str] = field(default_factory=dict)  # tag page → its Last-Modified
    manifests: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (name, tag) → body
    blobs: dict[str, bytes] = field(default_factory=dict)  # digest → content, in every repo

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self.token),
                Route("/v2/{name:path}/tags/list", self.tags),
                Route("/v2/{name:path}/manifests/{ref}", self.manifest, methods=["GET", "HEAD"]),
                Route("/v2/{name:path}/blobs/{digest}", self.blob),
            ]
        )

    def digest_of(self, name: str, tag: str) -> str:
        return "sha256:" + hashlib.sha256(f"{name}:{tag}".encode()).hexdigest()

    async def token(self, request: Request) -> Response:
        self.hits["token"] += 1
        auth = request.headers.get("Authorization")
        self.token_auth.append(auth)
        if self.credentials is not None:
            wanted = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
            if auth != wanted:
                return JSONResponse({"details": "incorrect username or password"}, 401)
        # Harbor also splits a parameter on spaces; Docker sends one parameter per scope.
        asked = [s for p in request.query_params.getlist("scope") for s in p.split(" ") if s]
        self.token_scopes.append(asked)
        parsed = [(scope, _parse_scope(scope)) for scope in asked]
        granted = [s for s, (_, name, _) in parsed if name and name not in self.private]
        granted = granted[: self.max_scopes]
        number = self.hits["token"]
        if self.opaque:
            token = f"opaque-{number}"
        else:  # a JWT as Docker Hub's: unsigned here, since the client only reads it
            access = [
                {"type": kind, "name": name, "actions": actions.split(",")}
                for kind, name, actions in map(_parse_scope, granted)
            ]
            claims = {"iss": "stand-in", "aud": "stand-in", "jti": str(number), "access": access}
            token = ".".join(
                (_b64(json.dumps({"alg": "none", "typ": "JWT"})), _b64(json.dumps(claims)), "")
            )
        self.issued[token] = set(granted)
        return JSONResponse({"token": token, "expires_in": self.expires_in})

    def _denied(self, request: Request, name: str) -> Response | None:
        if self.faults:
            status = self.faults.pop(0)
            return JSONResponse({"errors": [{"message": "injected"}]}, status, {"Retry-After": "0"})
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if f"repository:{name}:pull" in self.issued.get(token, ()):
            return None
        self.hits["401"] += 1
        challenge = (
            f'Bearer realm="{self.url}/token",service="stand-in",scope="repository:{name}:pull"'
        )
        return JSONResponse(
            {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
            401,
            {"WWW-Authenticate": challenge},
        )

    async def tags(self, request: Request) -> Response:
        name = request.path_params["name"]
        denied = self._denied(request, name)
        if denied is not None:
            return denied
        if name not in self.repos:
            return JSONResponse({"errors": [{"code": "NAME_UNKNOWN", "message": "no repo"}]}, 404)
        tags = sorted(self.repos[name])
        last = request.query_params.get("last")
        n = min(int(request.query_params.get("n", self.page_size)), self.page_size)
        rest = [t for t in tags if last is None or t > last]
        page, more = rest[:n], rest[n:]
        headers = {}
        if more:  # a relative link, as Distribution sends
            headers["Link"] = f'</v2/{name}/tags/list?n={n}&last={page[-1]}>; rel="next"'
        body = {"name": name, "tags": page}
        digest = hashlib.sha256(json.dumps([body, headers]).encode()).hexdigest()[:16]
        if self.validator == "etag":
            headers["ETag"] = f'"{digest}"'
            fresh = request.headers.get("If-None-Match") == headers["ETag"]
        elif self.validator == "last-modified":
            # a later second for each new content, as a registry's last-push time would be
            stamp = self._stamps.setdefault(
                digest, formatdate(1_800_000_000 + len(self._stamps), usegmt=True)
            )
            headers["Last-Modified"] = stamp
            fresh = request.headers.get("If-Modified-Since") == stamp
        else:
            fresh = False
        if fresh:
            self.hits["tags unchanged"] += 1
            return Response(status_code=304, headers=headers)
        self.hits["tags"] += 1
        return JSONResponse(body, headers=headers)

    async def manifest(self, request: Request) -> Response:
        name, ref = request.path_params["name"], request.path_params["ref"]
        denied = self._denied(request, name)
        if denied is not None:
            return denied
        self.hits["manifest HEAD" if request.method == "HEAD" else "manifest"] += 1
        served = {
            (n, f"sha256:{hashlib.sha256(body).hexdigest()}"): body
            for (n, _), body in self.manifests.items()
        }
        body = self.manifests.get((name, ref)) or served.get((name, ref))
        if body is not None:
            digest = f"sha256:{hashlib.sha256(body).hexdigest()}"
            media = json.loads(body).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
            headers = {"Docker-Content-Digest": digest, "Content-Type": media}
            return Response(b"" if request.method == "HEAD" else body, headers=headers)
        if ref not in self.repos.get(name, []):
            return JSONResponse({"errors": [{"code": "MANIFEST_UNKNOWN"}]}, 404)
        return Response(b"", headers={"Docker-Content-Digest": self.digest_of(name, ref)})

    async def blob(self, request: Request) -> Response:
        name, digest = request.path_params["name"], request.path_params["digest"]
        denied = self._denied(request, name)
        if denied is not None:
            return denied
        self.hits["blob"] += 1
        if digest not in self.blobs:
            return JSONResponse({"errors": [{"code": "BLOB_UNKNOWN"}]}, 404)
        return Response(self.blobs[digest], media_type="application/octet-stream")


def _parse_scope(scope: str) -> tuple[str, str, str]:
    """`repository:team/api:pull` → ("repository", "team/api", "pull"); blanks if malformed."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return kind, name, actions


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@contextmanager
def token_registry(**kwargs: Any) -> Iterator[TokenRegistry]:
    registry = TokenRegistry(**kwargs)
    port = free_port()
    registry.url = f"http://127.0.0.1:{port}"
    with serve(registry.app(), port):
        yield registry


@dataclass
class HelmServer:
    """Serves `index` at /index.yaml with an ETag (or only Last-Modified), honouring both."""

    index: str = ""
    etag: bool = True
    url: str = ""
    requests: list[dict[str, str]] = field(default_factory=list)
    full: int = 0  # responses that carried the whole index

    LAST_MODIFIED = "Wed, 21 Oct 2026 07:28:00 GMT"

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/charts/index.yaml", self.serve_index)])

    async def serve_index(self, request: Request) -> Response:
        self.requests.append(dict(request.headers))
        tag = '"' + hashlib.sha256(self.index.encode()).hexdigest()[:16] + '"'
        headers = {"ETag": tag} if self.etag else {"Last-Modified": self.LAST_MODIFIED}
        if self.etag and request.headers.get("If-None-Match") == tag:
            return Response(status_code=304, headers=headers)
        if not self.etag and request.headers.get("If-Modified-Since") == self.LAST_MODIFIED:
            return Response(status_code=304, headers=headers)
        self.full += 1
        return Response(self.index, headers=headers, media_type="application/x-yaml")


@contextmanager
def helm_server(index: str, etag: bool = True) -> Iterator[HelmServer]:
    server = HelmServer(index, etag)
    with serve(server.app()) as url:
        server.url = url
        yield server
