"""OCI registries: tags through the Distribution API, manifest digests, and registry auth.

Tags come from `GET /v2/<name>/tags/list`, following `Link: <…>; rel="next"` pages. Auth is
what `docker pull` does: a 401 names a scheme in `WWW-Authenticate`; for `Bearer` we fetch a
token from the realm (anonymously, or with the host's basic credentials) and keep it until it
expires, for `Basic` we send the credentials. Credentials and tokens never appear in errors or
logs.

What a poll of N repositories on one registry costs: N tag-list requests (one per page), and
about N / SCOPES_PER_TOKEN token requests when the tokens have expired (Docker Hub's live 300 s,
the reconcile interval, so in practice every poll). `expect()` tells the registry which
repositories the poll will read; the first token it then needs asks for up to SCOPES_PER_TOKEN
of their pull scopes at once (the token spec's repeated `scope=` parameter, which Docker Hub,
Harbor, Quay and Distribution's token servers read; a server grants the subset it allows). A
realm that grants fewer than it was asked is asked one scope per token, as before.

Tag lists are asked with `If-None-Match` / `If-Modified-Since` when the last answer carried
an `ETag` / `Last-Modified`, and a 304 reuses the remembered page. Of the registries checked,
none sends them on tag lists: Distribution 2.8 (Debian's `docker-registry`, tested in
tests/sources/test_oci.py), Harbor and Quay (their tag-list handlers, read) — for GHCR and
Docker Hub it is unknown. So today this saves bodies only where a registry (or a caching proxy
in front of it) adds validators; it never costs a request.

What cannot change is asked once: a manifest named by its digest, a config blob (at most
`KEPT_MAX` bytes each) and the labels of an image, kept by (repository, digest) in bounded LRUs.
`labels(image, tag)` asked again resolves the tag with a HEAD (which Docker Hub does not count
as a pull) and reads nothing more while the digest has not moved; within `FRESH` seconds of
learning the tag's digest (from `digest()`, `pin()` or a manifest read by tag) it asks nothing
at all, a tag being allowed to move only that much behind. A service shares one registry
between its pollers, its changelog finder and its chart fetcher (`sharing()`: one set of
connections, tokens and caches, each with its own retries and timeout), so what one learns the
others do not ask again. Every map is behind one lock: those parts run in threads of their own.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import ipaddress
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlencode, urljoin, urlsplit

import httpx

from bot.config import Source
from bot.download import fetch
from bot.errors import RateLimited, Unavailable
from bot.forges.retry import DEFAULT, Policy, retrying
from bot.sources.base import SourceError

log = logging.getLogger(__name__)

Credentials = Mapping[str, tuple[str, str]]  # registry host → (user, password)

DOCKER_HUB = "registry-1.docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry.hub.docker.com", DOCKER_HUB}
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
PAGE_SIZE = 1000
MAX_PAGES = 1000
TOKEN_MIN_LIFETIME = 60  # seconds; the token spec's default when `expires_in` is missing
TOKEN_MARGIN = 10  # renew this long before a token expires
# Pull scopes asked in one token request: ~60 bytes each keeps the URL near 3 KB, well under
# the 8 KB that common proxies and servers accept in a request line.
SCOPES_PER_TOKEN = 50
# How long a realm that granted fewer scopes than asked is asked one scope per token; then
# batches are tried again (a server restart that voids tokens looks the same from here).
ONE_SCOPE_FOR = 3600.0
MAX_LISTINGS = 10_000  # remembered tag lists, whatever `expect()` was told
# Seconds a tag's digest, once learnt, is trusted without asking: a poll and the changelog of
# what it found are seconds apart, and a tag moved meanwhile is seen at the next look.
FRESH = 60.0
KEPT_MAX = 1024 * 1024  # bytes: a manifest or config blob larger than this is not kept
MANIFESTS_KEPT = 16 * 1024 * 1024  # bytes of manifests kept, least recently used out first
BLOBS_KEPT = 16 * 1024 * 1024  # bytes of config blobs kept
LABELS_KEPT = 8 * 1024 * 1024  # bytes (roughly) of images' labels kept
TAGS_KEPT = 20_000  # tag → digest answers kept, for FRESH seconds of use each

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]*))')

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A map that forgets its least recently used entries past `capacity` (in the weights
    given to `put`); safe across threads."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._data.get(key)
            if found is None:
                return None
            self._data.move_to_end(key)
            return found[0]

    def put(self, key: K, value: V, weight: int = 1) -> None:
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._weight -= old[1]
            if weight > self._capacity:
                return
            self._data[key] = (value, weight)
            self._weight += weight
            while self._weight > self._capacity:
                self._weight -= self._data.popitem(last=False)[1][1]


def registry_host(host: str) -> str:
    """The host as promobot reaches it: lower case, Docker Hub's aliases as its API host."""
    host = host.lower()
    return DOCKER_HUB if host in _HUB_ALIASES else host


@dataclass(frozen=True)
class ImageRef:
    """An image repository: where its registry API is (`host`) and its path there (`name`)."""

    host: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """`nginx`, `docker.io/library/nginx`, `ghcr.io/acme/api`, `127.0.0.1:5000/team/api`."""
        ref = text.strip().removeprefix("oci://").rstrip("/")
        first, _, rest = ref.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            host, name = registry_host(first), rest
        else:
            host, name = DOCKER_HUB, ref
        if host == DOCKER_HUB and "/" not in name:
            name = f"library/{name}"
        if "@" in name or ":" in name:
            raise SourceError(
                f"image {text!r} names a tag or digest; name only the repository, "
                f"like '{host}/{name.split('@')[0].rsplit(':', 1)[0]}'"
            )
        if not _NAME.fullmatch(name):
            raise SourceError(
                f"image {text!r} is not a repository name; write e.g. 'ghcr.io/acme/api' "
                "(lower case letters, digits and . _ - between slashes)"
            )
        return cls(host, name)

    def __str__(self) -> str:
        return f"{'docker.io' if self.host == DOCKER_HUB else self.host}/{self.name}"


@dataclass(frozen=True)
class _Challenge:
    scheme: str  # "bearer" or "basic"
    realm: str = ""
    service: str = ""
    scope: str = ""


_TokenKey = tuple[str, str, str, str | None]  # realm, service, scope, user
_Held = tuple[str, str, str]  # host, repository, a digest or tag


@dataclass(frozen=True)
class _Token:
    value: str
    expires: float  # on the poller's clock
    scopes: int = 1  # how many scopes it was asked for: more than one is a batch


@dataclass(frozen=True)
class _Page:
    """One page of a tag list as last answered, with the validators to ask again with."""

    etag: str | None
    modified: str | None
    tags: tuple[str, ...]
    next: str | None  # the `Link: rel="next"` target, as sent


class OciRegistry:
    """Tags and digests from any registry speaking the OCI Distribution API."""

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        insecure: Iterable[str] = (),
        client: httpx.Client | None = None,
        retry: Policy = DEFAULT,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 30.0,
    ) -> None:
        self._credentials = {registry_host(h): c for h, c in (credentials or {}).items()}
        self._insecure = {registry_host(h) for h in insecure}
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=True)
        self._retry = retry
        self._clock = clock
        self._schemes: dict[str, _Challenge] = {}  # host → how it last asked us to log in
        self._tokens: dict[_TokenKey, _Token] = {}  # a batch token sits under each of its scopes
        self._one_scope: dict[tuple[str, str], float] = {}  # (realm, service) → until when
        self._alone: set[tuple[str, str, str]] = set()  # (realm, service, scope) not batched
        self._expected: dict[str, tuple[str, ...]] = {}  # host → repositories the poll reads
        self._listings: dict[ImageRef, dict[str, _Page]] = {}  # tag list pages by URL
        # The maps above change in place only (never rebound): `sharing()` copies share them.
        self._lock = threading.RLock()
        self._timeout: float | None = None  # the client's own, unless `sharing()` says
        self._manifests: _Lru[_Held, bytes] = _Lru(MANIFESTS_KEPT)  # by digest
        self._blobs: _Lru[_Held, bytes] = _Lru(BLOBS_KEPT)  # by digest
        self._labels: _Lru[_Held, dict[str, str]] = _Lru(LABELS_KEPT)  # by manifest digest
        self._tag_digests: _Lru[_Held, tuple[str, float]] = _Lru(TAGS_KEPT)  # by tag: when

    def sharing(self, *, retry: Policy, timeout: float) -> OciRegistry:
        """This registry for another part of the service: the same connections, tokens and
        caches, its own retries and timeout (a poll can wait longer than a PR body). Closing
        it closes nothing: the registry it came from owns the client."""
        view = copy.copy(self)
        view._retry, view._timeout, view._owns_client = retry, timeout, False
        return view

    # --- the Poller interface ----------------------------------------------------------------

    def versions(self, source: Source) -> list[str]:
        return self.tags(_image(source))

    def pin(self, source: Source, version: str) -> str:
        return self.digest(_image(source), version)

    # --- the registry ------------------------------------------------------------------------

    def expect(self, images: Iterable[ImageRef]) -> None:
        """The repositories the coming poll reads (and only those: earlier ones are forgotten).

        Their tokens are then asked for in batches, and remembered tag lists of repositories
        not named here are dropped, so what is kept follows the configuration.
        """
        by_host: dict[str, dict[str, None]] = {}
        for ref in images:
            by_host.setdefault(ref.host, {})[ref.name] = None
        named = {_pull_scope(ImageRef(h, n)) for h, names in by_host.items() for n in names}
        with self._lock:
            self._expected.clear()
            self._expected.update((host, tuple(names)) for host, names in by_host.items())
            self._alone.intersection_update(e for e in self._alone if e[2] in named)
            for ref in list(self._listings):
                if ref.name not in by_host.get(ref.host, {}):
                    del self._listings[ref]

    def tags(self, image: str | ImageRef) -> list[str]:
        """Every tag of the repository, in the registry's order, across all pages."""
        ref = image if isinstance(image, ImageRef) else ImageRef.parse(image)
        url: str | None = f"{self.base_url(ref.host)}/v2/{ref.name}/tags/list?n={PAGE_SIZE}"
        known = self._listings.get(ref, {})
        pages: dict[str, _Page] = {}
        tags: list[str] = []
        while url is not None:
            if url in pages or len(pages) >= MAX_PAGES:
                raise SourceError(f"{ref.host} pages the tags of {ref} in a loop; giving up")
            response = self._request(ref, "GET", url, _conditional(known.get(url)))
            if response.status_code == 400 and not pages:
                # A registry that rejects our page size: take its own pages instead.
                url = url.partition("?")[0]
                response = self._request(ref, "GET", url, _conditional(known.get(url)))
            page = known.get(url) if response.status_code == 304 else None
            if page is None:
                page = _read_page(response, ref)
            pages[url] = page
            tags.extend(page.tags)
            url = urljoin(url, page.next) if page.next else None
        self._remember(ref, pages)
        return tags

    def digest(self, image: str | ImageRef, tag: str) -> str:
        """The digest of the manifest (or index) `tag` points at, as `docker pull` resolves it."""
        ref = image if isinstance(image, ImageRef) else ImageRef.parse(image)
        url = f"{self.base_url(ref.host)}/v2/{ref.name}/manifests/{quote(tag, safe='')}"
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        response = self._request(ref, "HEAD", url, headers)
        digest = response.headers.get("Docker-Content-Digest")
        if response.status_code == 200 and digest is None:  # some registries only send it on GET
            response = self._request(ref, "GET", url, headers)
            if response.status_code == 200:
                digest = response.headers.get(
                    "Docker-Content-Digest",
                    f"sha256:{hashlib.sha256(response.content).hexdigest()}",
                )
        if response.status_code == 404:
            raise SourceError(f"no tag {tag!r} in {ref} on {ref.host}")
        _expect_ok(response, f"reading the manifest of {ref}:{tag}")
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise SourceError(f"{ref.host} sent no usable digest for {ref}:{tag}")
        self._tag_digests.put((ref.host, ref.name, tag), (digest, self._clock()))
        return digest

    def manifest(self, image: str | ImageRef, reference: str) -> dict[str, Any]:
        """The manifest (or index) a tag or digest names, as JSON; by a digest (or a tag whose
        digest was learnt within FRESH seconds) read once."""
        ref = image if isinstance(image, ImageRef) else ImageRef.parse(image)
        return self._manifest(ref, reference)[1]

    def _manifest(self, ref: ImageRef, reference: str) -> tuple[str, dict[str, Any]]:
        """The manifest `reference` names and its digest (for a tag, the registry's word)."""
        by_digest = ":" in reference  # a tag never holds one
        asked = reference if by_digest else self._fresh(ref, reference) or reference
        kept = self._manifests.get((ref.host, ref.name, asked))
        if kept is not None:
            return asked, _parsed(kept)
        url = f"{self.base_url(ref.host)}/v2/{ref.name}/manifests/{quote(asked, safe=':')}"
        response = self._request(ref, "GET", url, {"Accept": ", ".join(MANIFEST_TYPES)})
        if response.status_code == 404:
            raise SourceError(f"no manifest {reference!r} in {ref} on {ref.host}")
        _expect_ok(response, f"reading the manifest of {ref}:{reference}")
        manifest = _json(response, f"{ref.host}'s manifest of {ref}:{reference}")
        body = response.content
        computed = f"sha256:{hashlib.sha256(body).hexdigest()}"
        digest = asked
        if ":" not in asked:
            sent = response.headers.get("Docker-Content-Digest")
            digest = sent if isinstance(sent, str) and _DIGEST.fullmatch(sent) else computed
            self._tag_digests.put((ref.host, ref.name, asked), (digest, self._clock()))
        if digest == computed and len(body) <= KEPT_MAX:  # only what matches its digest
            self._manifests.put((ref.host, ref.name, digest), body, len(body))
        return digest, manifest

    def _fresh(self, ref: ImageRef, tag: str) -> str | None:
        """The digest `tag` was seen pointing at less than FRESH seconds ago, if it was."""
        seen = self._tag_digests.get((ref.host, ref.name, tag))
        return seen[0] if seen is not None and self._clock() - seen[1] < FRESH else None

    def blob(self, image: str | ImageRef, digest: str) -> bytes:
        """A blob (a config) by digest, checked against it; at most `MAX_BYTES`."""
        ref = image if isinstance(image, ImageRef) else ImageRef.parse(image)
        if not _DIGEST.fullmatch(digest) or not digest.startswith("sha256:"):
            raise SourceError(f"{ref} names a blob by an unusable digest")
        kept = self._blobs.get((ref.host, ref.name, digest))
        if kept is not None:
            return kept
        url = f"{self.base_url(ref.host)}/v2/{ref.name}/blobs/{digest}"
        response = self._request(ref, "GET", url, {})
        _expect_ok(response, f"reading a blob of {ref}")
        if f"sha256:{hashlib.sha256(response.content).hexdigest()}" != digest:
            raise SourceError(f"{ref.host} sent a blob of {ref} that does not match its digest")
        if len(response.content) <= KEPT_MAX:  # a config; a chart's archive is kept on disk
            self._blobs.put((ref.host, ref.name, digest), response.content, len(response.content))
        return response.content

    def labels(self, image: str | ImageRef, tag: str) -> dict[str, str]:
        """What an image says about itself: the annotations of its index and manifest, then
        its config's labels (`docker build --label`, where docker/metadata-action puts
        org.opencontainers.image.source); the first found of each name wins. Two or three
        requests (an index adds one) the first time, for changelogs: never for choosing
        versions. Kept by the image's digest: asked again, a HEAD for the tag's digest (none
        within FRESH seconds of learning it), and nothing more while that has not moved."""
        ref = image if isinstance(image, ImageRef) else ImageRef.parse(image)
        seen = self._tag_digests.get((ref.host, ref.name, tag))
        digest = None
        if seen is not None:  # read before: a HEAD tells whether it moved, a GET would not
            digest = self._fresh(ref, tag) or self.digest(ref, tag)
            kept = self._labels.get((ref.host, ref.name, digest))
            if kept is not None:
                return dict(kept)
        digest, manifest = self._manifest(ref, digest or tag)
        found = self._read_labels(ref, manifest)
        weight = 64 + sum(len(k) + len(v) for k, v in found.items())
        self._labels.put((ref.host, ref.name, digest), dict(found), weight)
        return found

    def _read_labels(self, ref: ImageRef, manifest: dict[str, Any]) -> dict[str, str]:
        found: dict[str, str] = {}

        def add(values: object) -> None:
            if isinstance(values, dict):
                for key, value in values.items():
                    if isinstance(key, str) and isinstance(value, str):
                        found.setdefault(key, value)

        add(manifest.get("annotations"))
        listed = manifest.get("manifests")
        if isinstance(listed, list):  # an index: the linux/amd64 image, else the first
            images = [m for m in listed if isinstance(m, dict) and isinstance(m.get("digest"), str)]
            chosen = next(
                (
                    m
                    for m in images
                    if isinstance(m.get("platform"), dict)
                    and m["platform"].get("os") == "linux"
                    and m["platform"].get("architecture") == "amd64"
                ),
                images[0] if images else None,
            )
            if chosen is None:
                return found
            add(chosen.get("annotations"))
            manifest = self.manifest(ref, chosen["digest"])
            add(manifest.get("annotations"))
        config = manifest.get("config")
        if isinstance(config, dict) and isinstance(config.get("digest"), str):
            try:
                data = json.loads(self.blob(ref, config["digest"]))
            except ValueError:
                return found
            if isinstance(data, dict):
                inner = data.get("config")
                add(inner.get("Labels") if isinstance(inner, dict) else None)
        return found

    def _remember(self, ref: ImageRef, pages: dict[str, _Page]) -> None:
        """Keep a tag list for next time only if the registry sent a way to ask if it changed."""
        with self._lock:
            self._listings.pop(ref, None)
            if not any(p.etag or p.modified for p in pages.values()):
                return  # nothing to send If-None-Match with: keeping it would cost for naught
            if len(self._listings) >= MAX_LISTINGS:
                del self._listings[next(iter(self._listings))]  # the least recently listed
            self._listings[ref] = pages

    def base_url(self, host: str) -> str:
        plain = host in self._insecure or _is_loopback(host)
        return f"{'http' if plain else 'https'}://{host}"

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> OciRegistry:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- auth and transport ------------------------------------------------------------------

    def _request(
        self, ref: ImageRef, method: str, url: str, headers: Mapping[str, str]
    ) -> httpx.Response:
        """One request with whatever auth the host wants; 401s end here, 5xx are retried."""
        return retrying(lambda: self._authorized(ref, method, url, headers), self._retry)

    def _authorized(
        self, ref: ImageRef, method: str, url: str, headers: Mapping[str, str]
    ) -> httpx.Response:
        sent, token = self._authorization(ref, self._schemes.get(ref.host))
        response = self._send(ref.host, method, url, {**headers, **sent})
        if response.status_code != 401:
            return _transient(response, ref.host)
        challenge = _parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            raise SourceError(f"{ref.host} refused access to {ref} and named no way to log in")
        self._schemes[ref.host] = challenge
        if token is not None:  # the registry no longer takes the token we sent
            self._forget(ref, token)
        again, _ = self._authorization(ref, challenge)
        if again and again != sent:
            response = self._send(ref.host, method, url, {**headers, **again})
        if response.status_code == 401:
            raise self._denied(ref)
        return _transient(response, ref.host)

    def _authorization(
        self, ref: ImageRef, challenge: _Challenge | None
    ) -> tuple[dict[str, str], _TokenKey | None]:
        """The Authorization header for the host's scheme, and which cached token it uses."""
        if challenge is None:
            return {}, None
        user = self._credentials.get(ref.host)
        if challenge.scheme == "basic":
            return ({"Authorization": _basic(*user)} if user else {}), None
        if not (challenge.scope and ref.name in challenge.scope.split(":")):
            # A token is per repository: ask for this one's pull scope, as the registry would.
            challenge = _Challenge("bearer", challenge.realm, challenge.service, _pull_scope(ref))
        key = (challenge.realm, challenge.service, challenge.scope, user[0] if user else None)
        return {"Authorization": f"Bearer {self._token(ref, challenge, key)}"}, key

    def _token(self, ref: ImageRef, challenge: _Challenge, key: _TokenKey) -> str:
        with self._lock:  # not held while the token service is asked
            cached = self._tokens.get(key)
            if cached is not None and cached.expires > self._clock():
                return cached.value
            scopes = self._batch(ref, challenge, key)
        token, lifetime = self._fetch_token(ref, challenge, scopes)
        granted = _granted(token, scopes)
        refused = [scope for scope in scopes if scope not in granted]
        if len(scopes) > 1 and refused:
            # The spec lets a token service grant a subset (no access to a private repository,
            # or a server that reads one scope): those scopes are asked alone from now on.
            with self._lock:
                self._alone.update((challenge.realm, challenge.service, s) for s in refused)
            log.info(
                "registry token service granted fewer scopes than asked",
                extra={"host": ref.host, "asked": len(scopes), "granted": len(granted)},
            )
            if challenge.scope in refused:
                scopes = [challenge.scope]
                token, lifetime = self._fetch_token(ref, challenge, scopes)
                granted = scopes
        now = self._clock()
        expires = now + max(lifetime - TOKEN_MARGIN, 1)
        with self._lock:
            for stale in [k for k, t in self._tokens.items() if t.expires <= now]:
                del self._tokens[stale]  # what is kept: the tokens still alive
            # An opaque token (or claims not read) is trusted with every scope asked and shown
            # wrong by a 401 (`_forget`); its own scope is always kept: the registry decides.
            for scope in {challenge.scope, *granted}:
                self._tokens[(*key[:2], scope, key[3])] = _Token(token, expires, len(scopes))
        log.debug(
            "registry token fetched",
            extra={"host": ref.host, "scope": challenge.scope, "scopes": len(scopes)},
        )
        return token

    def _batch(self, ref: ImageRef, challenge: _Challenge, key: _TokenKey) -> list[str]:
        """The scopes to ask with this one: the pull scopes of expected repositories without
        a live token, when the realm grants several; at most SCOPES_PER_TOKEN in all."""
        realm = (challenge.realm, challenge.service)
        now = self._clock()
        if (
            challenge.scope != _pull_scope(ref)
            or self._one_scope.get(realm, 0.0) > now
            or (*realm, challenge.scope) in self._alone
        ):
            return [challenge.scope]
        scopes = [challenge.scope]
        for name in self._expected.get(ref.host, ()):
            if len(scopes) >= SCOPES_PER_TOKEN:
                break
            scope = _pull_scope(ImageRef(ref.host, name))
            held = self._tokens.get((*key[:2], scope, key[3]))
            if (
                name != ref.name
                and (held is None or held.expires <= now)
                and (*realm, scope) not in self._alone
            ):
                scopes.append(scope)
        return scopes

    def _forget(self, ref: ImageRef, key: _TokenKey) -> None:
        """Drop a token the registry refused. An opaque batch token does not say what it
        granted, so a refusal cannot be pinned on one scope: it is dropped for all its scopes
        and its realm is asked one scope per token for a while."""
        with self._lock:
            refused = self._tokens.pop(key, None)
            if refused is None or refused.scopes == 1:
                return
            for other in [k for k, t in self._tokens.items() if t.value == refused.value]:
                del self._tokens[other]
            self._one_scope[key[:2]] = self._clock() + ONE_SCOPE_FOR
        log.info(
            "registry refused a multi-scope token; asking one scope per token",
            extra={"host": ref.host, "scopes": refused.scopes},
        )

    def _fetch_token(
        self, ref: ImageRef, challenge: _Challenge, scopes: list[str]
    ) -> tuple[str, int]:
        """A token for `scopes` from the realm, and its lifetime in seconds."""
        query = [("service", challenge.service)] if challenge.service else []
        query += [("scope", scope) for scope in scopes if scope]
        url = challenge.realm  # a realm may carry its own query: keep it, add ours
        if query:
            url += ("&" if urlsplit(url).query else "?") + urlencode(query)
        user = self._credentials.get(ref.host)
        headers = {"Authorization": _basic(*user)} if user else {}
        realm_host = urlsplit(challenge.realm).netloc or ref.host
        response = self._send(realm_host, "GET", url, headers)
        if response.status_code in (401, 403):
            who = f"the credentials of {user[0]!r}" if user else "anonymous access"
            raise SourceError(
                f"the token service of {ref.host} ({realm_host}) refused {who} to {ref}"
                + ("" if user else f"; configure credentials for {ref.host}")
            )
        _expect_ok(_transient(response, realm_host), f"getting a token for {ref}")
        body = _json(response, f"the token service of {ref.host}")
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise SourceError(f"the token service of {ref.host} answered without a token")
        lifetime = body.get("expires_in")
        seconds = lifetime if isinstance(lifetime, int) and lifetime > 0 else TOKEN_MIN_LIFETIME
        return token, seconds

    def _denied(self, ref: ImageRef) -> SourceError:
        user = self._credentials.get(ref.host)
        if user is None:
            return SourceError(
                f"{ref.host} wants credentials for {ref} and none are configured for that host"
                " (or the repository does not exist)"
            )
        return SourceError(
            f"{ref.host} refused the credentials of {user[0]!r} for {ref} "
            "(wrong user or password, no pull access, or no such repository)"
        )

    def _send(
        self,
        host: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
    ) -> httpx.Response:
        try:  # tag lists, manifests and token answers alike: at most MAX_BYTES
            return fetch(self._client, method, url, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise Unavailable(f"registry {host} timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise Unavailable(
                f"registry {host} is unreachable: {exc or type(exc).__name__}"
            ) from exc


def _image(source: Source) -> ImageRef:
    if source.image is None:
        raise SourceError(f"{source.label} is not an image source")
    return ImageRef.parse(source.image)


def _pull_scope(ref: ImageRef) -> str:
    return f"repository:{ref.name}:pull"


def _granted(token: str, asked: list[str]) -> list[str]:
    """The asked scopes a JWT's `access` claims grant pull on; all of them if it is opaque.

    The claims are read, not verified: they only decide which repositories this token is
    tried for; the registry verifies it and a 401 undoes a wrong guess.
    """
    parts = token.split(".")
    if len(parts) != 3 or len(asked) == 1:
        return asked
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        access = claims["access"]
        pullable = {
            f"{entry['type']}:{entry['name']}:pull"
            for entry in access
            if {"pull", "*"} & set(entry.get("actions") or ())
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return asked  # not a JWT we can read: the 401 fallback still holds
    return [scope for scope in asked if scope in pullable]


def _parsed(kept: bytes) -> dict[str, Any]:
    """A kept manifest as JSON: it was an object when it was kept, and a fresh copy each time
    so no caller changes what the next one reads."""
    body: dict[str, Any] = json.loads(kept)
    return body


def _conditional(page: _Page | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if page is not None and page.etag:
        headers["If-None-Match"] = page.etag
    if page is not None and page.modified:
        headers["If-Modified-Since"] = page.modified
    return headers


def _read_page(response: httpx.Response, ref: ImageRef) -> _Page:
    if response.status_code == 404:
        raise SourceError(f"no repository {ref} on {ref.host} ({_reason(response)})")
    _expect_ok(response, f"listing the tags of {ref}")
    if response.status_code != 200:  # a 304 we did not ask for, or a stray 2xx
        raise SourceError(
            f"{ref.host} answered {response.status_code} while listing the tags of {ref}"
        )
    return _Page(
        response.headers.get("ETag"),
        response.headers.get("Last-Modified"),
        tuple(_tag_page(response, ref)),
        response.links.get("next", {}).get("url"),
    )


def _is_loopback(host: str) -> bool:
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _parse_challenge(header: str) -> _Challenge | None:
    scheme, _, rest = header.strip().partition(" ")
    params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(rest)}
    if scheme.lower() == "basic":
        return _Challenge("basic")
    if scheme.lower() == "bearer" and params.get("realm"):
        return _Challenge(
            "bearer", params["realm"], params.get("service", ""), params.get("scope", "")
        )
    return None


def _transient(response: httpx.Response, host: str) -> httpx.Response:
    """Turn what is worth retrying into Unavailable / RateLimited; pass anything else on."""
    status = response.status_code
    if status == 429:
        raise RateLimited(f"registry {host} is rate limiting us", _retry_after(response))
    if status >= 500 or status == 408:
        raise Unavailable(f"registry {host} answered {status} ({_reason(response)})")
    return response


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("Retry-After", "30"))
    except ValueError:
        return 30.0


def _expect_ok(response: httpx.Response, doing: str) -> None:
    host = response.url.netloc.decode()
    if response.status_code == 403:
        raise SourceError(f"{host} denied access while {doing}")
    if response.status_code >= 400:
        raise SourceError(
            f"{host} answered {response.status_code} while {doing}: {_reason(response)}"
        )


def _reason(response: httpx.Response) -> str:
    """The registry's own error text (Distribution's `errors[].message`), else the status."""
    try:
        errors = response.json().get("errors") or []
        message = errors[0].get("message") or errors[0].get("code")
        if message:
            return str(message)[:200]
    except (ValueError, AttributeError, IndexError, TypeError):
        pass
    return response.reason_phrase or f"HTTP {response.status_code}"


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise SourceError(f"{what} answered with something that is not JSON") from None
    if not isinstance(body, dict):
        raise SourceError(f"{what} answered JSON that is not an object")
    return body


def _tag_page(response: httpx.Response, ref: ImageRef) -> list[str]:
    tags = _json(response, f"{ref.host}'s tag list of {ref}").get("tags") or []  # null: no tags
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise SourceError(f"{ref.host} sent a malformed tag list for {ref}")
    return tags


def load_docker_config(path: str | Path) -> dict[str, tuple[str, str]]:
    """Registry credentials from a docker `config.json` (`auths`), keyed by registry host.

    Credential helpers (`credsStore`, `credHelpers`) run programs and are not read.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text())
    except OSError as exc:
        raise SourceError(f"cannot read {file}: {exc.strerror}") from None
    except ValueError:
        raise SourceError(f"{file} is not valid JSON") from None
    auths = data.get("auths", {}) if isinstance(data, dict) else None
    if not isinstance(auths, dict):
        raise SourceError(f"{file}: 'auths' must be a mapping of registry → credentials")
    credentials: dict[str, tuple[str, str]] = {}
    for key, entry in auths.items():
        if not isinstance(entry, dict):
            continue
        host = registry_host(urlsplit(key if "//" in key else f"//{key}").netloc or key)
        if entry.get("auth"):
            try:
                user, sep, password = (
                    base64.b64decode(entry["auth"], validate=True).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError, TypeError):
                sep = ""
            if not sep:
                raise SourceError(f"{file}: auths[{key!r}].auth is not base64 of 'user:password'")
            credentials[host] = (user, password)
        elif isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
            credentials[host] = (entry["username"], entry["password"])
    return credentials
