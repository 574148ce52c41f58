"""The generic endpoint for CI: a pipeline says it published a version."""

from __future__ import annotations

from bot.events.model import Artifact, EventError, checked
from bot.events.payload import body_key, manifest_digest, read_body


def parse_artifact(body: bytes) -> tuple[str, Artifact]:
    """`{"image"|"chart"+"repo"|"git": …, "version": …, "digest"?: …, "id"?: …}`."""
    doc = read_body(body)
    kinds = [k for k in ("image", "chart", "git") if doc.has(k)]
    if len(kinds) > 1:
        raise EventError(f"name one of image, chart or git, not {' and '.join(kinds)}")
    missing = [
        k for k in ("repo", "version") if not doc.has(k) and (k == "version" or kinds == ["chart"])
    ]
    missing += [] if kinds else ["image, chart or git"]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise EventError(f"missing field{plural} {' and '.join(missing)}")
    version = doc.data["version"]
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)  # a CI template may drop the quotes: 2004 means "2004"
    elif not isinstance(version, str) or not version:
        raise EventError("field version must be a non-empty string")
    if kinds == ["image"]:
        image = doc.string("image")
        if "@" in image or ":" in image.rsplit("/", 1)[-1]:
            raise EventError("field image must name a repository without tag or digest")
        source_key = f"image:{image}"
    elif kinds == ["chart"]:
        source_key = f"chart:{doc.string('repo').rstrip('/')}/{doc.string('chart')}"
    else:
        source_key = f"git:{doc.string('git')}"
    digest = doc.opt_string("digest")
    if digest is not None and manifest_digest(digest) is None:
        raise EventError("field digest must be sha256: and 64 hex digits")
    key = f"artifact:{doc.opt_string('id') or body_key(body)}"
    with checked():
        return key, Artifact(source_key=source_key, version=version, digest=digest)
