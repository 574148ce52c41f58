"""bot.download against a real HTTP server on 127.0.0.1: bodies are capped after decompression."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from bot.download import fetch
from bot.sources import SourceError
from tests.sources.servers import serve

TEXT = b"entries:\n" + b"  api: [{version: 1.0.0}]\n" * 1000  # 26 KB


async def body(request: Request) -> Response:
    kind = request.path_params["kind"]
    if kind == "plain":
        return Response(TEXT)
    if kind == "chunked":  # no Content-Length: only counting stops it

        async def chunks() -> Iterator[bytes]:  # type: ignore[misc]
            for _ in range(100):
                yield TEXT

        return StreamingResponse(chunks())
    encoded = {
        "gzip": gzip.compress(TEXT),
        "deflate": zlib.compress(TEXT),
        "raw-deflate": zlib.compress(TEXT, wbits=-zlib.MAX_WBITS),
        "broken": gzip.compress(TEXT)[:10] + b"\xff" * 100,
        "truncated": gzip.compress(TEXT)[:-20],
        "br": b"\x0b\x02\x80hello\x03",
    }[kind]
    encoding = {"raw-deflate": "deflate", "broken": "gzip", "truncated": "gzip"}.get(kind, kind)
    return Response(encoded, headers={"Content-Encoding": encoding})


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(Starlette(routes=[Route("/{kind}", body)])) as base:
        yield base


@pytest.mark.parametrize("kind", ["plain", "gzip", "deflate", "raw-deflate"])
def test_a_body_within_the_cap_arrives_whole_and_decoded(url: str, kind: str) -> None:
    with httpx.Client() as client:
        response = fetch(client, "GET", f"{url}/{kind}", headers={}, limit=len(TEXT))
    assert response.status_code == 200
    assert response.content == TEXT
    assert "content-encoding" not in response.headers
    assert response.url == f"{url}/{kind}"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("plain", r"/plain is larger than 0 MiB, the most promobot reads"),
        ("chunked", r"/chunked is larger than 0 MiB, the most"),
        ("gzip", r"/gzip is larger than 0 MiB decompressed"),
        ("deflate", r"/deflate is larger than 0 MiB decompressed"),
    ],
)
def test_a_body_past_the_cap_is_a_source_error_naming_the_url(
    url: str, kind: str, message: str
) -> None:
    with httpx.Client() as client, pytest.raises(SourceError, match=message):
        fetch(client, "GET", f"{url}/{kind}?token=secret", headers={}, limit=len(TEXT) - 1)


def test_a_body_that_does_not_inflate_or_comes_in_another_encoding_is_refused(url: str) -> None:
    with httpx.Client() as client:
        with pytest.raises(SourceError, match="/broken sent a body that does not inflate"):
            fetch(client, "GET", f"{url}/broken", headers={})
        with pytest.raises(SourceError, match="/truncated sent a compressed body that ends early"):
            fetch(client, "GET", f"{url}/truncated", headers={})
        with pytest.raises(SourceError, match="answered in Content-Encoding 'br'"):
            fetch(client, "GET", f"{url}/br", headers={})
