"""Reading a JSON body with errors that name the field, and the small readings every parser
shares (digests, image references, delivery keys)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from bot.events.model import EventError

_SURROGATE = re.compile("[\ud800-\udfff]")
_DIGEST = re.compile(r"(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})\Z")


def _clean(text: str) -> str:
    """JSON may escape lone surrogates ("\\ud800"); they are not text and cannot be encoded."""
    return _SURROGATE.sub("\ufffd", text)


def show(text: str, limit: int = 60) -> str:
    """A payload value safe to put in a one-line message."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


class Obj:
    """A JSON object and its path; each getter names the field that is missing or mistyped."""

    def __init__(self, data: Mapping[str, Any], path: str = "") -> None:
        self.data = data
        self.path = path

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _get(self, key: str, kind: type | tuple[type, ...], what: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None:
            if required:
                raise EventError(f"missing field {self.where(key)}")
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise EventError(f"field {self.where(key)} must be {what}")
        return _clean(value) if isinstance(value, str) else value

    def obj(self, key: str) -> Obj:
        return Obj(self._get(key, dict, "an object", True), self.where(key))

    def opt_obj(self, key: str) -> Obj | None:
        value = self._get(key, dict, "an object", False)
        return None if value is None else Obj(value, self.where(key))

    def optional(self, key: str) -> Obj:
        """The object at `key`, empty when missing or null: what is read from it through the
        optional getters is then None (or empty), as when the object leaves the field out."""
        return self.opt_obj(key) or Obj({}, self.where(key))

    def objects(self, key: str) -> list[Obj]:
        """A list of objects; missing means none."""
        items = self._get(key, list, "a list", False) or []
        where = self.where(key)
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise EventError(f"field {where}[{i}] must be an object")
        return [Obj(item, f"{where}[{i}]") for i, item in enumerate(items)]

    def strings(self, key: str) -> list[str]:
        items = self._get(key, list, "a list", False) or []
        if not all(isinstance(item, str) for item in items):
            raise EventError(f"field {self.where(key)} must be a list of strings")
        return [_clean(item) for item in items]

    def string(self, key: str) -> str:
        """A required, non-empty string."""
        value: str = self._get(key, str, "a string", True)
        if not value:
            raise EventError(f"field {self.where(key)} is empty")
        return value

    def opt_string(self, key: str) -> str | None:
        """A string, None when missing, null or empty."""
        value: str | None = self._get(key, str, "a string", False)
        return value or None

    def text(self, key: str) -> str:
        """Free text: null reads as empty."""
        value: str | None = self._get(key, str, "a string", False)
        return value or ""

    def integer(self, key: str) -> int:
        value: int = self._get(key, int, "an integer", True)
        return value

    def opt_integer(self, key: str) -> int | None:
        value: int | None = self._get(key, int, "an integer", False)
        return value

    def boolean(self, key: str) -> bool:
        """A flag: missing or null reads as False."""
        value: bool | None = self._get(key, bool, "true or false", False)
        return bool(value)


def read_body(body: bytes) -> Obj:
    """The body as the JSON object every notification is."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # bad UTF-8 is a ValueError too
        raise EventError("body is not JSON") from None
    if not isinstance(data, dict):
        raise EventError("body is not a JSON object")
    return Obj(data)


def hash_of(*parts: str) -> str:
    """A delivery key made of the values that tell one delivery from another."""
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def body_key(body: bytes) -> str:
    """A delivery key from the bytes alone, for senders that give no id (or none to trust)."""
    return "sha256-" + hashlib.sha256(body).hexdigest()


def manifest_digest(value: str | None) -> str | None:
    """A manifest digest fit to pin `tag@digest`, or None (GitHub sends some that are not)."""
    return value if value is not None and _DIGEST.match(value) else None


def split_reference(reference: str) -> tuple[str, str] | None:
    """`host[:port]/path[:tag][@digest]` → (host, path), lower case; None without a host."""
    name = reference.split("@", 1)[0]
    host, _, path = name.partition("/")
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path = path[: len(path) - len(last)] + last.split(":", 1)[0]
    path = path.strip("/")
    if not path or not ("." in host or ":" in host or host == "localhost"):
        return None
    return host.lower(), path.lower()
