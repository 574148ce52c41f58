"""The signed metadata block that ends a PR body: the promotion as JSON in an HTML comment
(zlib-compressed when long), so promobot can rebuild its state from the forge alone.
`parse_meta` takes only a block that verifies, and only for the PR's own branch."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping
from typing import Any

from bot.planner import Promotion
from bot.signing import Signer

META_VERSION = 1


_META_OPEN = "<!-- promobot:meta "
_META_CLOSE = " -->"
_META_PLAIN_MAX = 16_384  # a longer plan (a group of hundreds of apps) is zlib-compressed
_META_MAX_INFLATED = 64 * 1024 * 1024


def _meta(promotion: Promotion, signer: Signer) -> str:
    data: dict[str, Any] = {
        "v": META_VERSION,
        **promotion.model_dump(mode="json", exclude_defaults=True),
    }
    text = _json(data)
    if len(text) > _META_PLAIN_MAX:
        packed = zlib.compress(text.encode("utf-8"), 9)
        text = _json({"v": META_VERSION, "zlib": base64.b64encode(packed).decode("ascii")})
    return f"{_META_OPEN}{text} sig={signer.sign('meta', text)}{_META_CLOSE}"


def _json(data: Mapping[str, Any]) -> str:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    # Only inside strings, where \u escapes are equivalent: nothing can close the comment.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def parse_meta(body: str, signer: Signer, branch: str | None = None) -> Promotion | None:
    """The promotion in the last metadata block of a PR body that promobot signed (for
    `branch`, when given: a block copied from another PR is not this PR's); else None."""
    end = len(body)
    while (start := body.rfind(_META_OPEN, 0, end)) >= 0:
        end = start
        close = body.find("-->", start)
        if close < 0:
            continue
        text, _, signature = body[start + len(_META_OPEN) : close].rstrip().rpartition(" sig=")
        if not signer.verify("meta", text, signature):
            continue
        promotion = _promotion(text)
        if promotion is not None and (branch is None or promotion.branch == branch):
            return promotion
    return None


def _promotion(text: str) -> Promotion | None:
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.pop("v", None) != META_VERSION:
            return None
        if "zlib" in data:
            inflater = zlib.decompressobj()
            packed = base64.b64decode(data["zlib"], validate=True)
            raw = inflater.decompress(packed, _META_MAX_INFLATED)
            if inflater.unconsumed_tail:
                return None
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict) or data.pop("v", None) != META_VERSION:
                return None
        return Promotion.model_validate(data)
    except (ValueError, TypeError, zlib.error, binascii.Error):  # pydantic errors are ValueErrors
        return None
