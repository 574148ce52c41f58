"""Compositions: the versions of every component of an app in an environment, read from a repo.

Pure: the repository state comes in as a `Snapshot` (made by a forge), values come out. A
`Memo` of versions already read, by git blob id, may come in too and is added to (a caller
keeps it across runs: `bot.versioncache`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot import fields
from bot.config import Config
from bot.errors import FieldError


@dataclass(frozen=True)
class Snapshot:
    """An environment repo at one commit: every path's object id, and file contents on demand."""

    commit: str
    objects: Mapping[str, str]  # path -> git object id, for files and folders
    files: Mapping[str, bytes]  # path -> content; may load lazily
    trees: frozenset[str] = frozenset()  # the paths in `objects` that are folders
    links: frozenset[str] = frozenset()  # the paths in `objects` that are symbolic links

    def link_on(self, path: str) -> str | None:
        """The symbolic link that `path` is, passes through, or (a folder) holds, if any.

        promobot reads and writes only regular files: a link is never followed (its target
        may be outside the repo) and never replaced with content, on any forge.
        """
        if not self.links:
            return None
        path = path.rstrip("/")
        parts = path.split("/")
        for end in range(1, len(parts) + 1):
            if "/".join(parts[:end]) in self.links:
                return "/".join(parts[:end])
        inside = sorted(link for link in self.links if link.startswith(path + "/"))
        return inside[0] if inside else None

    def prefetch(self, paths: Iterable[str]) -> None:
        """Load many files at once where contents load lazily (the local forge's git store)."""
        load = getattr(self.files, "prefetch", None)
        if load is not None:
            load(paths)

    def blobs_under(self, folder: str) -> dict[str, str]:
        """Files below a folder, by path relative to it, with their object ids."""
        prefix = folder.rstrip("/") + "/"
        return {
            path[len(prefix) :]: oid
            for path, oid in self.objects.items()
            if path.startswith(prefix) and path not in self.trees
        }

    def with_changes(self, changes: Mapping[str, bytes | None]) -> Snapshot:
        """This snapshot as it would be after writing `changes` (path → content; None:
        deleted) on top of it: what a promotion's commit holds, before it is made. Its
        commit names the base and the changes; files and their blob ids are exact, the ids
        of folders above a change are not (nothing that reads one may depend on it: the
        renderer keys folders by their files)."""
        if not changes:
            return self
        digest = hashlib.sha256()
        for path in sorted(changes):
            content = changes[path]
            digest.update(f"{path}\0{blob_id(content) if content is not None else '-'}\0".encode())
        objects = dict(self.objects)
        trees = set(self.trees)
        for path, content in changes.items():
            if content is None:
                objects.pop(path, None)
                continue
            objects[path] = blob_id(content)
            parent = path.rpartition("/")[0]
            while parent and parent not in trees:
                trees.add(parent)
                objects.setdefault(parent, "0" * 40)
                parent = parent.rpartition("/")[0]
        return Snapshot(
            commit=f"{self.commit}+{digest.hexdigest()[:12]}",
            objects=objects,
            files=_Changed(self.files, changes),
            trees=frozenset(trees),
            links=self.links - set(changes),
        )


class _Changed(Mapping[str, bytes]):
    """Files with some written over and some deleted, the rest read from the base (lazily,
    as the base reads them)."""

    def __init__(self, base: Mapping[str, bytes], changes: Mapping[str, bytes | None]) -> None:
        self._base = base
        self._changes = changes

    def prefetch(self, paths: Iterable[str]) -> None:
        load = getattr(self._base, "prefetch", None)
        if load is not None:
            load([p for p in paths if p not in self._changes])

    def __getitem__(self, path: str) -> bytes:
        if path in self._changes:
            content = self._changes[path]
            if content is None:
                raise KeyError(path)
            return content
        return self._base[path]

    def __iter__(self) -> Iterator[str]:
        yield from (p for p, c in self._changes.items() if c is not None)
        yield from (p for p in self._base if p not in self._changes)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def blob_id(content: bytes) -> str:
    """The id git gives a file of this content."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def link_problem(path: str, link: str) -> str:
    where = (
        f"{path} is a symbolic link"
        if link == path.rstrip("/")
        else f"{path}: {link} is a symbolic link"
    )
    return (
        f"{where}; promobot neither follows links (they may point outside the repository) nor "
        "replaces them, so make it a regular file or folder"
    )


def composition_id(components: Mapping[str, str]) -> str:
    """First 12 hex digits of sha256 over sorted `name=version` lines joined by newlines."""
    lines = "\n".join(f"{name}={components[name]}" for name in sorted(components))
    return hashlib.sha256(lines.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Composition:
    components: Mapping[str, str]  # what promotions move: the composition id's inputs
    problems: tuple[str, ...] = ()  # components that could not be read, and why
    linked: frozenset[str] = frozenset()  # components on a symbolic link: never to be written
    unreadable: frozenset[str] = frozenset()  # promoted components that could not be read
    shown: Mapping[str, str] = field(default_factory=dict)  # `promote: never`: only shown

    @property
    def id(self) -> str | None:
        """The composition id; None when a promoted component could not be read, since an id
        over the rest would make two environments look equal that may not be."""
        return None if self.unreadable else composition_id(self.components)

    @property
    def readable(self) -> bool:
        return not self.unreadable

    def why(self) -> str:
        """Why the composition is not known, for people: the first problem, and how many more."""
        unread = [p for p in self.problems if p.split(":", 1)[0] in self.unreadable]
        more = f" (and {len(unread) - 1} more)" if len(unread) > 1 else ""
        return f"{unread[0]}{more}" if unread else ""

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"composition": self.id, "components": dict(self.components)}
        if self.shown:
            result["shown"] = dict(self.shown)
        if self.problems:
            result["problems"] = list(self.problems)
        return result


def required_paths(config: Config, apps: Iterable[str] | None = None) -> set[str]:
    """The files whose contents composition reads (copy components only need object ids)."""
    paths = set()
    for app in config.apps if apps is None else apps:
        for env in config.app_environments(app):
            for component in config.apps[app].components:
                target = config.target(app, component, env)
                if target.field is not None:
                    paths.add(target.path)
    return paths


# (git blob id, what is read from it: fields.Target.reads) -> the version read; a blob's
# content never changes, so neither does the version
Memo = MutableMapping[tuple[str, str], str]


def unread(
    config: Config,
    snapshot: Snapshot,
    memo: Mapping[tuple[str, str], str],
    apps: Iterable[str] | None = None,
    environments: Iterable[str] | None = None,
) -> set[str]:
    """The files whose contents a status needs because `memo` lacks a version they hold."""
    wanted = None if environments is None else set(environments)
    paths = set()
    for app in config.apps if apps is None else apps:
        for env in config.app_environments(app):
            if wanted is not None and env not in wanted:
                continue
            for component in config.apps[app].components:
                target = config.target(app, component, env)
                if target.field is None or target.path in paths:
                    continue
                oid = snapshot.objects.get(target.path)
                if oid is None or (oid, target.field.reads) not in memo:
                    paths.add(target.path)
    return paths


class _Linked(FieldError):
    """A target on a symbolic link: reading it is refused, and so is writing it."""


class Reader:
    """Reads compositions from one snapshot, parsing each file at most once, and no file whose
    versions `memo` already holds."""

    def __init__(self, config: Config, snapshot: Snapshot, memo: Memo | None = None) -> None:
        self.config = config
        self.snapshot = snapshot
        self.memo = memo
        self._documents: dict[str, fields.Document | None] = {}

    def document(self, path: str) -> fields.Document | None:
        if path not in self._documents:
            content = self.snapshot.files.get(path)
            self._documents[path] = (
                None if content is None else fields.Document(path, content.decode("utf-8"))
            )
        return self._documents[path]

    def version(self, app: str, component: str, env: str, shown: bool = False) -> str:
        target = self.config.target(app, component, env)
        link = self.snapshot.link_on(target.path)
        if link is not None:
            raise _Linked(link_problem(target.path, link))
        if target.field is None:
            oid = self.snapshot.objects.get(target.path.rstrip("/"))
            if oid is None:
                raise FieldError(f"{target.path}: not in the repository")
            return oid[:12]
        memo, key = self.memo, None
        if memo is not None and target.path not in self.snapshot.trees:
            oid = self.snapshot.objects.get(target.path)
            if oid is not None:
                key = (oid, target.field.reads + (" shown" if shown else ""))
                known = memo.get(key)
                if known is not None:
                    return known
        document = self.document(target.path)
        if document is None:
            raise FieldError(f"{target.path}: not in the repository")
        version = document.show(target.field) if shown else document.read(target.field)
        if memo is not None and key is not None:
            # only versions: a problem is read again (its message names the path, not the blob)
            memo[key] = version
        return version

    def composition(self, app: str, env: str) -> Composition:
        components: dict[str, str] = {}
        shown: dict[str, str] = {}
        problems: list[str] = []
        linked: set[str] = set()
        unreadable: set[str] = set()
        for component, spec in self.config.apps[app].components.items():
            into = shown if spec.shown else components
            if spec.shown and self._absent(app, component, env):
                continue  # a value some environments have and others not: a difference too
            try:
                into[component] = self.version(app, component, env, shown=spec.shown)
            except (FieldError, UnicodeDecodeError) as exc:
                problems.append(f"{component}: {_reason(exc)}")
                if isinstance(exc, _Linked):
                    linked.add(component)
                if not spec.shown:
                    unreadable.add(component)
        return Composition(
            components, tuple(problems), frozenset(linked), frozenset(unreadable), shown
        )

    def _absent(self, app: str, component: str, env: str) -> bool:
        path = self.config.target(app, component, env).path.rstrip("/")
        return path not in self.snapshot.objects and self.snapshot.link_on(path) is None


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "the file is not UTF-8 text"
    return str(exc)


@dataclass(frozen=True)
class Status:
    """Every app × environment at one commit."""

    ref: str
    environments: tuple[str, ...]
    apps: Mapping[str, Mapping[str, Composition]]

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "environments": list(self.environments),
            "apps": {
                app: {env: c.to_json() for env, c in envs.items()}
                for app, envs in self.apps.items()
            },
        }

    def get(self, app: str, env: str) -> Composition | None:
        return self.apps.get(app, {}).get(env)


def status(
    config: Config,
    snapshot: Snapshot,
    apps: Iterable[str] | None = None,
    environments: Iterable[str] | None = None,
    memo: Memo | None = None,
) -> Status:
    reader = Reader(config, snapshot, memo)
    wanted_envs = None if environments is None else set(environments)
    envs = tuple(e for e in config.order if wanted_envs is None or e in wanted_envs)
    result: dict[str, dict[str, Composition]] = {}
    for app in config.apps if apps is None else apps:
        result[app] = {
            env: reader.composition(app, env) for env in config.app_environments(app) if env in envs
        }
    return Status(snapshot.commit, envs, result)


@dataclass(frozen=True)
class State:
    """The environment repo at one commit: its configuration, files and compositions."""

    config: Config
    snapshot: Snapshot
    status: Status


@dataclass(frozen=True)
class Commit:
    sha: str
    time: datetime
    author: str
    subject: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.sha,
            "time": self.time.isoformat(),
            "author": self.author,
            "subject": self.subject,
        }


def newest_first(commits: Iterable[Commit], limit: int) -> list[Commit]:
    """Commits merged from several listings (one per path), newest first, each once; within
    one second the listings' own (topological) order decides."""
    order: dict[str, int] = {}
    unique: dict[str, Commit] = {}
    for i, commit in enumerate(commits):
        order.setdefault(commit.sha, i)
        unique.setdefault(commit.sha, commit)
    ranked = sorted(unique.values(), key=lambda c: (-c.time.timestamp(), order[c.sha]))
    return ranked[:limit]


@dataclass(frozen=True)
class HistoryEntry:
    commit: Commit
    composition: Composition
    previous: Composition | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        return {**self.commit.to_json(), **self.composition.to_json()}


def history(
    config: Config, app: str, env: str, commits: Iterable[tuple[Commit, Snapshot]]
) -> list[HistoryEntry]:
    """The commits (oldest first in, newest first out) that changed the app's composition."""
    entries: list[HistoryEntry] = []
    previous: Composition | None = None
    for commit, snapshot in commits:
        current = Reader(config, snapshot).composition(app, env)
        if not current.components:
            previous = None
            continue
        if previous is None or current.components != previous.components:
            entries.append(HistoryEntry(commit, current, previous))
        previous = current
    return entries[::-1]


def changed_components(before: Mapping[str, str], after: Mapping[str, str]) -> Iterator[str]:
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            yield name
