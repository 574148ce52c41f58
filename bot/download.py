"""Bounded downloads: every answer from a registry, token service or chart repository is read
as a stream and decompressed here, so no body takes more than `MAX_BYTES` of memory (a body
within the cap is joined into one `bytes` at the end, which copies it once).

httpx inflates `Content-Encoding: gzip` by itself and without a limit: a 2 MB gzip bomb of an
`index.yaml` becomes 2 GB. Here the raw bytes are read in chunks and inflated with zlib's
`max_length`, and a body past the cap (before or after decompression) is a `SourceError` that
names the URL and the cap; the caller's other sources go on.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import httpx

from bot.errors import SourceError

MAX_BYTES = 32 * 1024 * 1024  # 32 MiB: large public Helm indexes are a few MiB to ~20 MiB
CHUNK = 64 * 1024  # read from the network at a time
PIECE = 1024 * 1024  # inflated at a time
ACCEPT_ENCODING = "gzip, deflate"  # what `_Inflate` reads; no br or zstd, whatever is installed
_DROPPED = {"content-encoding", "content-length", "transfer-encoding"}


def fetch(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    params: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    limit: int = MAX_BYTES,
    timeout: float | None = None,
) -> httpx.Response:
    """One request, its body read whole but never past `limit` bytes, decompressed.

    httpx's own errors (timeouts, broken connections) pass through for the caller to translate.
    The answer is a complete `httpx.Response` (status, headers, links, `.json()`) whose body is
    already decoded, so it carries no Content-Encoding. `timeout` (seconds) replaces the
    client's own for this request, for callers that share one client with different patience.
    """
    sent = {**headers, "Accept-Encoding": ACCEPT_ENCODING}
    # the client's own defaults unless given: httpx reads a passed None as "no timeout"
    options: dict[str, Any] = {}
    if auth is not None:
        options["auth"] = auth
    if timeout is not None:
        options["timeout"] = timeout
    stream = client.stream(method, url, headers=sent, params=params, **options)
    with stream as response:
        body = _read(response, limit)
    kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _DROPPED]
    return httpx.Response(
        response.status_code,
        headers=kept,
        content=body,
        request=response.request,
        extensions=response.extensions,
    )


def shown(url: httpx.URL) -> str:
    """A URL fit for an error message: no user, password or query."""
    return str(url.copy_with(username=None, password=None, query=None, fragment=None))


def _read(response: httpx.Response, limit: int) -> bytes:
    url = shown(response.request.url)
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    inflate = None if encoding in ("", "identity") else _Inflate(encoding, url)
    declared = response.headers.get("Content-Length", "")
    if inflate is None and declared.isdigit() and int(declared) > limit:
        raise _too_large(url, limit, False)
    body = _Body(url, limit, decompressed=inflate is not None)
    raw = 0
    try:
        for chunk in response.iter_raw(CHUNK):
            raw += len(chunk)
            if raw > limit:  # compressed data that inflates to little can still be endless
                raise _too_large(url, limit, False)
            if inflate is None:
                body.add(chunk)
            else:
                inflate.feed(chunk, body)
        if inflate is not None and raw:  # a HEAD or a 304 may name an encoding and nothing
            inflate.finish(body)
    except BaseException:
        # the error's traceback keeps this frame alive (pollers remember failures for the rest
        # of a poll): let go of what was read
        body.parts.clear()
        raise
    return b"".join(body.parts)


class _Body:
    """The pieces read so far; one past the limit ends the download. Pieces are joined only
    once the whole body is in, so a refused body never costs more than the limit."""

    def __init__(self, url: str, limit: int, decompressed: bool) -> None:
        self.url, self.limit, self.decompressed = url, limit, decompressed
        self.parts: list[bytes] = []
        self.size = 0

    @property
    def room(self) -> int:
        """How much more to inflate at once: one byte past the limit tells it is too large."""
        return min(max(self.limit - self.size, 0) + 1, PIECE)

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.limit:
            raise _too_large(self.url, self.limit, self.decompressed)
        self.parts.append(piece)


def _too_large(url: str, limit: int, decompressed: bool) -> SourceError:
    how = " decompressed" if decompressed else ""
    return SourceError(
        f"{url} is larger than {limit // (1024 * 1024)} MiB{how}, the most promobot reads from "
        "a registry or chart repository; not read"
    )


class _Inflate:
    """gzip or deflate, inflated a piece at a time with zlib's `max_length`."""

    def __init__(self, encoding: str, url: str) -> None:
        if encoding in ("gzip", "x-gzip"):
            wbits = zlib.MAX_WBITS | 16
        elif encoding == "deflate":
            wbits = zlib.MAX_WBITS  # zlib-wrapped, as the standard says; raw deflate below
        else:
            raise SourceError(
                f"{url} answered in Content-Encoding {encoding!r}; promobot reads only "
                f"{ACCEPT_ENCODING} (what it asked for)"
            )
        self.url = url
        self.raw_fallback = encoding == "deflate"
        self.zlib = zlib.decompressobj(wbits)
        self.started = False

    def feed(self, data: bytes, body: _Body) -> None:
        while data and not self.zlib.eof:
            try:
                piece = self.zlib.decompress(data, body.room)
            except zlib.error as exc:
                if self.raw_fallback and not self.started:  # servers that send raw deflate
                    self.raw_fallback = False
                    self.zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise SourceError(f"{self.url} sent a body that does not inflate: {exc}") from None
            self.started = True
            body.add(piece)
            data = self.zlib.unconsumed_tail

    def finish(self, body: _Body) -> None:
        try:
            while not self.zlib.eof and (piece := self.zlib.flush(body.room)):
                body.add(piece)
        except zlib.error as exc:
            raise SourceError(f"{self.url} sent a body that does not inflate: {exc}") from None
        if not self.zlib.eof:
            raise SourceError(f"{self.url} sent a compressed body that ends early")
