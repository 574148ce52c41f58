"""Container registry notifications: CNCF Distribution (and registries that send its envelope),
Docker Hub, Harbor and Quay. Only pushes of a tagged manifest count."""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.events.model import Artifact, Event, EventError, checked
from bot.events.payload import Obj, body_key, hash_of, manifest_digest, read_body, split_reference

_ENVELOPE_TYPES = (
    "application/vnd.docker.distribution.events.v1+json",
    "application/vnd.docker.distribution.events.v2+json",
)
_MANIFEST_TYPES = {
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
}
_HARBOR_PUSH = {"PUSH_ARTIFACT", "pushImage"}  # Harbor 2, Harbor 1


def parse_registry(content_type: str | None, body: bytes) -> list[tuple[str, Event]]:
    """A registry notification: CNCF Distribution envelope, Docker Hub, Harbor or Quay.

    Only pushes of a tagged manifest count; an empty list means nothing to do.
    """
    doc = read_body(body)
    with checked():
        if doc.has("events"):
            return _distribution(doc)
        if doc.has("push_data"):
            return [_dockerhub(doc, body)]
        if doc.has("event_data"):
            return _harbor(doc)
        if doc.has("docker_url") or doc.has("updated_tags"):
            return _quay(doc, body)
    if (content_type or "").split(";")[0].strip().lower() in _ENVELOPE_TYPES:
        raise EventError("missing field events")
    raise EventError("body is not a Distribution, Docker Hub, Harbor or Quay notification")


def _image_reference(obj: Obj, key: str) -> tuple[str, str]:
    split = split_reference(obj.string(key))
    if split is None:
        raise EventError(f"field {obj.where(key)} names no registry host and repository")
    return split


def _distribution(doc: Obj) -> list[tuple[str, Event]]:
    found: list[tuple[str, Event]] = []
    for item in doc.objects("events"):
        if item.opt_string("action") != "push":
            continue
        target = item.obj("target")
        media_type = (target.opt_string("mediaType") or "").split(";")[0].strip()
        tag = target.opt_string("tag")
        if media_type not in _MANIFEST_TYPES or tag is None:  # blobs, and manifests by digest
            continue
        host = (
            item.optional("request").opt_string("host")
            or urlsplit(target.opt_string("url") or "").netloc
        )
        if not host:
            raise EventError(f"missing field {item.where('request.host')}")
        repository = target.string("repository").strip("/").lower()
        artifact = Artifact(
            source_key=f"image:{host.lower()}/{repository}",
            version=tag,
            digest=manifest_digest(target.opt_string("digest")),
        )
        found.append((f"registry:{item.string('id')}", artifact))
    return found


def _dockerhub(doc: Obj, body: bytes) -> tuple[str, Event]:
    push, repository = doc.obj("push_data"), doc.obj("repository")
    name = repository.opt_string("repo_name") or (
        f"{repository.string('namespace')}/{repository.string('name')}"
    )
    tag = push.string("tag")
    pushed_at = push.data.get("pushed_at")
    # Every push of the tag is its own delivery; a retry of one push has the same pushed_at.
    if isinstance(pushed_at, int | float) and not isinstance(pushed_at, bool):
        key = f"dockerhub:{hash_of(name, tag, repr(pushed_at))}"
    else:
        key = f"dockerhub:{hash_of(doc.opt_string('callback_url') or body_key(body))}"
    return key, Artifact(source_key=f"image:docker.io/{name.lower()}", version=tag)


def _harbor(doc: Obj) -> list[tuple[str, Event]]:
    if doc.string("type") not in _HARBOR_PUSH:
        return []
    data = doc.obj("event_data")
    occurred = doc.data.get("occur_at")
    found: list[tuple[str, Event]] = []
    for resource in data.objects("resources"):
        tag = resource.opt_string("tag")
        if tag is None:  # pushed by digest
            continue
        host, path = _image_reference(resource, "resource_url")
        digest = manifest_digest(resource.opt_string("digest"))
        key = f"harbor:{hash_of(repr(occurred), host, path, tag, digest or '')}"
        artifact = Artifact(source_key=f"image:{host}/{path}", version=tag, digest=digest)
        found.append((key, artifact))
    return found


def _quay(doc: Obj, body: bytes) -> list[tuple[str, Event]]:
    # Quay sends no id and no time: the body is all there is to tell deliveries apart.
    host, path = _image_reference(doc, "docker_url")
    delivery = body_key(body)
    return [
        (f"quay:{hash_of(delivery, tag)}", Artifact(source_key=f"image:{host}/{path}", version=tag))
        for tag in doc.strings("updated_tags")
        if tag
    ]
