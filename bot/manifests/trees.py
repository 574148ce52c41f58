"""Kustomize trees on disk: the files a `kustomize build` of a folder can read (its *closure*),
keyed by what they hold, and written out with every remote base fetched beforehand, so that
kustomize never reaches the network and a render is redone only when something it reads
changed."""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml

from bot.composition import Snapshot, link_problem
from bot.errors import RenderError
from bot.manifests.recipe import KUSTOMIZATION_NAMES, kustomization_in

REMOTES = "_remote"  # the folder of `into` that holds fetched remote bases
# how deep remote bases may name further remote bases: a loop between two repos ends here
MAX_REMOTE_DEPTH = 8

# git@host:org/repo.git//path?ref=…, https://host/org/repo(.git)//path?ref=…, and the bare
# host/org/repo//path?ref=… that kustomize reads as https
_REMOTE = re.compile(
    r"^(?:(?P<scheme>https?|ssh|git)://(?:[^@/]+@)?|git@)?"
    # a name with a dot and a top-level domain, or an address (a forge on this network)
    r"(?P<host>(?:[A-Za-z0-9.-]+\.[A-Za-z]{2,}|\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?)[/:]"
    r"(?P<repo>[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)+?)(?:\.git)?"
    r"(?://(?P<path>[^?]*))?(?:\?(?P<query>.*))?$"
)
_SAFE = re.compile(r"^[A-Za-z0-9._~+-]+(?:/[A-Za-z0-9._~+-]+)*$")


@dataclass(frozen=True)
class Remote:
    """A remote base (`github.com/org/repo//path?ref=v2.4.0`), pinned to a ref."""

    url: str  # as the kustomization writes it
    host: str  # github.com
    repo: str  # org/repo (without .git)
    path: str  # the folder inside that repo ("" for its root)
    ref: str  # the tag, branch or commit asked for

    @property
    def checkout(self) -> str:
        """Where `materialize` writes the remote repository, relative to `into` (a port's
        colon made a plain character)."""
        return f"{REMOTES}/{self.host.replace(':', '_')}/{self.repo}/{self.ref}"

    @property
    def local(self) -> str:
        """Where `materialize` writes the base, relative to `into`."""
        return f"{self.checkout}/{self.path}" if self.path else self.checkout


@dataclass(frozen=True)
class Closure:
    """What a `kustomize build` of one folder reads: repo files and remote bases."""

    root: str  # the folder built
    paths: tuple[str, ...]  # repo files, sorted
    remotes: tuple[Remote, ...]
    key: str  # sha256 over (path, object id) of every file and each remote's url: equal, equal


def parse_remote(entry: str) -> Remote | None:
    """The remote base an entry names, or None for a path of the repo. A URL kustomize would
    download, or a remote without `?ref=`, is a RenderError: the render must not depend on what
    a branch or a web server says today."""
    looks_remote = "://" in entry or entry.startswith("git@")
    first = entry.split("/", 1)[0]
    if not looks_remote and not ("." in first and "/" in entry and first not in ("..", ".")):
        return None
    match = _REMOTE.match(entry)
    if match is None or (match["path"] is None and "://" in entry and "?" not in entry):
        raise RenderError(
            f"{entry}: kustomize would download this; promobot renders offline, so vendor it "
            "into the repository or write it as a remote base (host/org/repo//path?ref=TAG)"
        )
    query = parse_qs(match["query"] or "")
    ref = (query.get("ref") or query.get("version") or [""])[0]
    if not ref:
        raise RenderError(
            f"remote base {entry} has no ?ref=: it follows a branch, so the render would change "
            "without a commit here; pin it to a tag or commit (?ref=v1.2.3)"
        )
    path = (match["path"] or "").strip("/")
    for part, what in ((match["repo"], "repository"), (ref, "ref")):
        if not _SAFE.match(part) or any(p in ("..", ".") for p in part.split("/")):
            raise RenderError(f"remote base {entry}: its {what} {part!r} is not a plain name")
    if path and (not _SAFE.match(path) or ".." in path.split("/")):
        raise RenderError(f"remote base {entry}: its path {path!r} is not a plain folder")
    return Remote(entry, match["host"].lower(), match["repo"].removesuffix(".git"), path, ref)


def closure(snapshot: Snapshot, path: str) -> Closure:
    """Every repo file `kustomize build path` can read, and the remote bases it names."""
    walk = _Walk(snapshot)
    root = path.strip("/")
    walk.folder(root, f"{root or '.'} (the folder built)")
    digest = hashlib.sha256()
    for each in sorted(walk.files):
        digest.update(f"{each}\0{snapshot.objects[each]}\n".encode())
    for remote in sorted(walk.remotes.values(), key=lambda r: r.url):
        digest.update(f"remote\0{remote.url}\n".encode())
    return Closure(
        root,
        tuple(sorted(walk.files)),
        tuple(sorted(walk.remotes.values(), key=lambda r: r.url)),
        digest.hexdigest(),
    )


class _Walk:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.files: set[str] = set()
        self.remotes: dict[str, Remote] = {}
        self.folders: set[str] = set()

    def folder(self, folder: str, why: str) -> None:
        if folder in self.folders:
            return
        self.folders.add(folder)
        self._no_link(folder)
        kustomization = kustomization_in(self.snapshot, folder)
        if kustomization is None:
            raise RenderError(
                f"{folder or '.'}: no kustomization.yaml there ({why}); add one, or point at "
                "a folder that has one"
            )
        self.files.add(kustomization)
        data = _yaml(self.snapshot, kustomization)
        for field, entry, kind in entries(data):
            remote = parse_remote(entry) if kind in ("resource", "any") else None
            if remote is not None:
                self.remotes[remote.url] = remote
                continue
            target = _inside(folder, entry, kustomization, field)
            self._no_link(target)
            if target in self.snapshot.trees:
                if kind == "file":
                    raise RenderError(
                        f"{kustomization}: {field} names {entry}, a folder; it takes a file"
                    )
                self.folder(target, f"{field} of {kustomization}")
            elif target in self.snapshot.objects:
                self.files.add(target)
            else:
                raise RenderError(
                    f"{kustomization}: {field} names {entry}, which is not in the repository "
                    f"({target}); kustomize build would fail"
                )
        if isinstance(data.get("helmCharts"), list):
            # charts kustomize inflates from the chart home (default: charts/ beside it)
            globals_ = data.get("helmGlobals")
            home = globals_.get("chartHome") if isinstance(globals_, dict) else None
            charts = _inside(folder, home or "charts", kustomization, "helmGlobals.chartHome")
            if charts in self.snapshot.trees:
                self._no_link(charts)
                self.files.update(f"{charts}/{p}" for p in self.snapshot.blobs_under(charts))

    def _no_link(self, path: str) -> None:
        link = self.snapshot.link_on(path) if path else None
        if link is not None:
            raise RenderError(link_problem(path, link))


def entries(data: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(field, entry, kind) for every path a kustomization names: kind is "resource" (a file,
    a folder or a remote base), "any" (a file or a folder) or "file"."""

    def strings(field: str, value: Any, kind: str) -> Iterator[tuple[str, str, str]]:
        for item in value if isinstance(value, list) else []:
            if isinstance(item, str) and item and "\n" not in item:
                yield field, item, kind

    for field in ("resources", "bases", "components"):
        yield from strings(field, data.get(field), "resource")
    for field in ("crds", "patchesStrategicMerge"):
        yield from strings(field, data.get(field), "file")
    for field in ("transformers", "generators", "validators"):
        yield from strings(field, data.get(field), "any")
    for field in ("patches", "patchesJson6902", "replacements"):
        for item in data.get(field) or []:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                yield f"{field}[].path", item["path"], "file"
    for field in ("configMapGenerator", "secretGenerator"):
        for item in data.get(field) or []:
            if not isinstance(item, dict):
                continue
            for each in item.get("files") or []:
                if isinstance(each, str):
                    # `key=path` names the key of the file's content
                    yield f"{field}[].files", each.split("=", 1)[-1], "file"
            yield from strings(f"{field}[].envs", item.get("envs"), "file")
            if isinstance(item.get("env"), str):
                yield f"{field}[].env", item["env"], "file"
    for item in data.get("helmCharts") or []:
        if isinstance(item, dict) and isinstance(item.get("valuesFile"), str):
            yield "helmCharts[].valuesFile", item["valuesFile"], "file"
        for each in (item.get("additionalValuesFiles") or []) if isinstance(item, dict) else []:
            if isinstance(each, str):
                yield "helmCharts[].additionalValuesFiles", each, "file"
    openapi = data.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        yield "openapi.path", openapi["path"], "file"


def _inside(folder: str, entry: str, kustomization: str, field: str) -> str:
    if entry.startswith("/"):
        raise RenderError(
            f"{kustomization}: {field} names {entry}, an absolute path; kustomize would read "
            "outside the repository, so write a path relative to the kustomization"
        )
    joined = posixpath.normpath(posixpath.join(folder, entry))
    if joined == ".." or joined.startswith("../"):
        raise RenderError(
            f"{kustomization}: {field} names {entry}, which leaves the repository; write a "
            "path inside it"
        )
    return "" if joined == "." else joined


def _yaml(snapshot: Snapshot, path: str) -> dict[str, Any]:
    raw = snapshot.files.get(path)
    try:
        data = yaml.safe_load(raw or b"")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise RenderError(f"{path}{where}: not valid YAML, so kustomize cannot read it") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RenderError(f"{path}: a kustomization is a mapping (resources:, patches: …)")
    return data


def materialize(
    snapshot: Snapshot,
    closure: Closure,
    into: Path,
    remote: Callable[[Remote], Snapshot],
) -> None:
    """Write the closure's files at their repo paths under `into`, each remote base (from the
    snapshot `remote` gives for it) under `into/_remote/<host>/<repo>/<ref>/`, and point the
    kustomizations that name a remote at its local copy. `into` should be empty."""
    _write(snapshot, closure, into, "", remote, 0)


def _write(
    snapshot: Snapshot,
    tree: Closure,
    into: Path,
    prefix: str,
    remote: Callable[[Remote], Snapshot],
    depth: int,
) -> None:
    if depth > MAX_REMOTE_DEPTH:
        raise RenderError(
            f"remote bases name remote bases more than {MAX_REMOTE_DEPTH} deep (at "
            f"{prefix}); is there a loop between repositories?"
        )
    kustomizations = {p for p in tree.paths if posixpath.basename(p) in KUSTOMIZATION_NAMES}
    for path in tree.paths:
        content = snapshot.files.get(path)
        if content is None:
            raise RenderError(f"{path}: in the tree but its content could not be read")
        if path in kustomizations and tree.remotes:
            content = _pointed(content, f"{prefix}{path}")
        target = into / f"{prefix}{path}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    for each in tree.remotes:
        fetched = remote(each)
        _write(
            fetched,
            closure(fetched, each.path),
            into,
            f"{each.checkout}/",
            remote,
            depth + 1,
        )


def _pointed(content: bytes, written_at: str) -> bytes:
    """A kustomization with its remote entries replaced by relative paths to their copies."""
    data = yaml.safe_load(content)
    here = posixpath.dirname(written_at) or "."
    for field in ("resources", "bases", "components", "transformers", "generators", "validators"):
        items = data.get(field)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            found = parse_remote(item) if isinstance(item, str) and "\n" not in item else None
            if found is not None:
                items[i] = posixpath.relpath(found.local, here)
    return yaml.safe_dump(data, sort_keys=False).encode()
