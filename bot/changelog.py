"""Changelogs: what changed in every version a promotion skips, for the PR body.

A reviewer approving "api 1.3.0 → 1.7.2" needs the notes of 1.4.0, 1.5.0, 1.6.x and 1.7.x,
not only a compare link. For each changed component this module finds them, newest first:

- where the notes live: the component's `changelog:` setting, else (images) the
  `org.opencontainers.image.source` annotation or label of the new image at its registry,
  (charts) `artifacthub.io/changes` of each chart version, else the chart's `sources:`, and
  (git sources) the source repository itself;
- in that repository, for every tag between the two versions: its release (GitHub or GitLab
  Releases), else its section of `CHANGELOG.md` (Keep a Changelog headings, read with
  markdown-it-py), else the subjects of the commits since the tag before it.

Everything found is written by whoever pushes images, charts or tags, so two rules hold:
promobot only ever asks the forges it is configured for, or github.com and gitlab.com through
their APIs (anonymously unless they are the configured forge): a repository named anywhere
else is "not a forge promobot reads", and no URL from an annotation is ever fetched (`Hosts`);
and the text is neutralised where it is rendered (`bot.render`), never trusted here.

Cost: each answer is kept (`Store`: the queue's store in the service, a folder beside the
repo on the command line), per version, so rebuilding or superseding the same PR asks nothing
again. A PR waits at most `budget` seconds for its changelogs; what is not found by then is
said ("not fetched in time") and found in the background for the next rebuild. A missing,
slow or broken changelog never stops a promotion: it is a line in the body saying why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol, cast
from urllib.parse import urlsplit

import yaml
from markdown_it import MarkdownIt

from bot import versions
from bot.config import Component, Config, Source
from bot.errors import NotFound, PromobotError
from bot.forges.base import Release
from bot.logs import redact_urls
from bot.planner import Promotion, Row
from bot.references import NotARepository, Where, parse_reference, shown

log = logging.getLogger("promobot.changelog")

BUDGET = 5.0  # seconds a PR body waits for its changelogs
# After a body's wait ran out, the next ones do not wait for this long: a forge that hangs
# costs a sync of many PRs one budget, not one budget for every PR it writes.
IMPATIENT = 60.0
WORKERS = 4  # lookups at once, all PRs together: a hung forge holds at most these threads
NOTE_MAX = 16_384  # characters of one version's notes kept (the body shows fewer)
FILE_MAX = 1_048_576  # a CHANGELOG.md larger than this is read only this far
RELEASES = 100  # releases listed per lookup (one page)
SUBJECTS = 50  # commit subjects per version
MISSING_TTL = 3600.0  # a version without notes is asked again after this (notes come late)
RANGE_TTL = 86_400.0  # the tags between two versions are listed again after a day
MEMO_MAX = 4096  # answers held in memory in front of the store
CHANGELOG_FILES = ("CHANGELOG.md",)  # Keep a Changelog's name: each other name tried costs a call
SOURCE_ANNOTATION = "org.opencontainers.image.source"
CHART_CHANGES = "artifacthub.io/changes"

Kind = Literal["release", "changelog", "chart", "commits"]
KIND_NAMES: dict[str, str] = {
    "release": "release notes",
    "changelog": "CHANGELOG.md",
    "chart": "artifacthub.io/changes",
    "commits": "commits",
}


# --- what is found ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """One version's notes, as their author wrote them (markdown, not yet neutralised)."""

    version: str
    text: str
    kind: Kind
    url: str | None = None  # the release, tag or compare page


@dataclass(frozen=True)
class Changelog:
    """The notes of every version one component moves across, newest first."""

    app: str
    component: str
    before: str
    after: str
    notes: tuple[Note, ...] = ()
    where: str = ""  # the repository read ("github.com/acme/api"), or the chart
    link: str | None = None  # the compare page between the two versions
    late: tuple[str, ...] = ()  # versions whose notes were not fetched in time
    missing: tuple[str, ...] = ()  # versions in between for which no notes exist
    problem: str | None = None  # why nothing was found ("<host> is not a forge promobot reads")
    rollback: bool = False  # a downgrade: these are the versions taken out

    @property
    def pending(self) -> bool:
        """Nothing could be said yet: the lookup did not finish in time."""
        return not self.notes and not self.problem and bool(self.late)


class NoChangelog(PromobotError):
    """Why a component has no changelog: said in the body as "no changelog found: …"."""


# --- where the notes live --------------------------------------------------------------------


class NotesRepo(Protocol):
    """A repository read for notes: GitHubForge, GitLabForge and LocalForge implement it."""

    def tags(self) -> list[str]: ...

    def releases(self, limit: int = 100) -> list[Release]: ...

    def read_file(self, ref: str, path: str) -> bytes | None: ...

    def subjects(self, base: str, head: str, limit: int = 100) -> list[str]: ...

    def compare_url(self, base: str, head: str) -> str | None: ...

    def tag_url(self, tag: str) -> str | None: ...


Opener = Callable[[str], NotesRepo]


@dataclass
class Hosts:
    """The only places notes are read from: each host with how its repositories are opened.

    A host not in `forges` is never contacted: a repository there is "not a forge promobot
    reads". Openers for promobot's own forge carry its credentials; those for github.com and
    gitlab.com (when they are not the configured forge) carry none.
    """

    forges: Mapping[str, tuple[str, Opener]]  # host → (kind, repository path → reader)
    own: str | None = None  # the host `changelog: owner/name` means
    local: Opener | None = None  # the local forge: paths on this machine
    root: Path | None = None  # relative local paths start here (the environment repo)
    _open: dict[Where, NotesRepo] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def parse(self, text: str) -> Where:
        where = parse_reference(text, self.own)
        if not where.host and self.local is None:
            raise NoChangelog(
                f"{shown(text)} is a path on promobot's machine; only the local forge reads "
                "repositories there"
            )
        return where

    def open(self, where: Where) -> tuple[Where, NotesRepo]:
        """The reader of a repository, and the repository as that forge names it (a local
        one as the setting wrote it: a PR body names no path of promobot's machine that the
        repo did not already hold)."""
        key = where
        if not where.host:
            assert self.local is not None
            path = Path(where.path)
            if not path.is_absolute() and self.root is not None:
                path = self.root / path
            key = Where("", str(path.resolve()))
        else:
            if where.host not in self.forges:
                raise NoChangelog(f"{where.host} is not a forge promobot reads")
            kind = self.forges[where.host][0]
            parts = where.path.split("/")
            if kind == "github":
                where = Where(where.host, "/".join(parts[:2]))  # …/tree/main/x is the repo
            elif "-" in parts:  # GitLab: group/sub/project/-/tree/main
                where = Where(where.host, "/".join(parts[: parts.index("-")]))
            key = where
        with self._lock:
            reader = self._open.get(key)
            if reader is None:
                reader = self._make(key)
                self._open[key] = reader
        return where, reader

    def _make(self, where: Where) -> NotesRepo:
        try:
            if not where.host:
                assert self.local is not None
                return self.local(where.path)
            return self.forges[where.host][1](where.path)
        except PromobotError as exc:
            raise NoChangelog(f"{where} cannot be read: {redact_urls(str(exc))}") from None


def hosts_for(settings: Any, forge: Any, *, offline: bool = False) -> Hosts:
    """The hosts a service (or a command) reads notes from: its own forge with its own
    credentials, and github.com and gitlab.com anonymously. `offline` (the command line):
    only repositories on this machine, so a command never waits on the network."""
    from bot.forges.github import GitHubForge
    from bot.forges.gitlab import GitLabForge
    from bot.forges.local import LocalForge
    from bot.forges.retry import Policy

    light = Policy(attempts=2, backoff_base=0.2, backoff_max=1.0, rate_limit_max_wait=5.0)
    forges: dict[str, tuple[str, Opener]] = {}
    own: str | None = None
    local: Opener | None = None
    root: Path | None = None
    if isinstance(forge, LocalForge):
        local, root = LocalForge, forge.root
    if offline:
        return Hosts({}, None, local, root)
    if settings.forge == "github":
        own = github_host(settings.github_url)

        def own_github(repo: str) -> NotesRepo:
            from bot.service import build_forge

            made = cast(GitHubForge, build_forge(settings.model_copy(update={"repo": repo})))
            made.policy, made.timeout, made.pacer = light, BUDGET, None
            return made

        forges[own] = ("github", own_github)
    elif settings.forge == "gitlab":
        own = (urlsplit(settings.gitlab_url).netloc or "gitlab.com").lower()
        token = settings.gitlab_token.get_secret_value() if settings.gitlab_token else None
        url = settings.gitlab_url

        def own_gitlab(repo: str) -> NotesRepo:
            return GitLabForge(repo, token=token, url=url, policy=light, timeout=BUDGET)

        forges[own] = ("gitlab", own_gitlab)
    forges.setdefault(
        "github.com",
        ("github", lambda repo: GitHubForge(repo, public=True, policy=light, timeout=BUDGET)),
    )
    forges.setdefault(
        "gitlab.com",
        ("gitlab", lambda repo: GitLabForge(repo, token=None, policy=light, timeout=BUDGET)),
    )
    return Hosts(forges, own, local, root)


def github_host(api_url: str) -> str:
    """The host people see for a GitHub API URL: github.com for api.github.com."""
    host = (urlsplit(api_url).netloc or "api.github.com").lower()
    return "github.com" if host == "api.github.com" else host


# --- the store ---------------------------------------------------------------------------------


class Store(Protocol):
    """Where answers are kept between PR builds: `RepoQueue` (remember/recall) is one."""

    def remember(self, name: str, value: str) -> None: ...

    def recall(self, name: str) -> str | None: ...


class FileStore:
    """A folder of small files, one per answer (the command line's store: no queue there).
    Only ever a shortcut: a file that is missing, torn or foreign is simply not an answer."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def remember(self, name: str, value: str) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(value)
            Path(tmp).replace(self.folder / name)
        except OSError:
            return  # a read-only checkout: the next build asks again

    def recall(self, name: str) -> str | None:
        try:
            return (self.folder / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None


class MemoryStore:
    """Answers kept in this process only (tests, benchmarks)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def remember(self, name: str, value: str) -> None:
        self.values[name] = value

    def recall(self, name: str) -> str | None:
        return self.values.get(name)


class _Cache:
    """JSON answers by key, in memory in front of a `Store`; some expire (`ttl`)."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._memo: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(*parts: str) -> str:
        digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:40]
        return f"changelog.{digest}"

    def get(self, *parts: str) -> Any:
        name = self.key(*parts)
        with self._lock:
            raw = self._memo.get(name)
        if raw is None:
            try:
                raw = self._store.recall(name)
            except Exception as exc:  # a store that is down costs a lookup, nothing more
                log.warning("changelog store unreadable", extra={"error": public_error(exc)})
                raw = None
            if raw is None:
                return None
            self._keep(name, raw)
        try:
            entry = json.loads(raw)
            until = entry.get("until")
            if until is not None and float(until) < self._clock():
                return None
            return entry["value"]
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def put(self, *parts: str, value: Any, ttl: float | None = None) -> None:
        name = self.key(*parts)
        until = self._clock() + ttl if ttl is not None else None
        raw = json.dumps({"value": value, "until": until}, separators=(",", ":"))
        self._keep(name, raw)
        try:
            self._store.remember(name, raw)
        except Exception as exc:
            log.warning("changelog store unwritable", extra={"error": public_error(exc)})

    def _keep(self, name: str, raw: str) -> None:
        with self._lock:
            self._memo[name] = raw
            self._memo.move_to_end(name)
            while len(self._memo) > MEMO_MAX:
                self._memo.popitem(last=False)


def public_error(exc: BaseException) -> str:
    """What may be said of a failure in a PR body: promobot's own message, or its kind."""
    if isinstance(exc, PromobotError):
        return redact_urls(str(exc))
    return f"an internal error ({type(exc).__name__})"


# --- parsing notes -------------------------------------------------------------------------------


_HEADING_VERSION = re.compile(
    r"\[?\s*(?:version\s+|release\s+)?[vV]?"
    r"(\d+(?:\.\d+)*(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)\s*\]?",
    re.IGNORECASE,
)


def canonical(version: str, strategy: versions.Strategy = "semver") -> str:
    """One spelling per version, so `v1.4.0`, `1.4.0` and `1.4` name the same one (and, for
    numeric or lexical versions, `v12` and `12`)."""
    tag = versions.split_digest(version.strip())[0]
    parsed = versions.parse_semver(tag) if strategy == "semver" else None
    return str(parsed) if parsed is not None else tag.removeprefix("v").removeprefix("V")


def changelog_sections(text: str, strategy: versions.Strategy = "semver") -> dict[str, str]:
    """Version → its section of a changelog file, Keep a Changelog style (`## [1.4.0] - 2024-01-02`,
    with `### Added` inside): the headings are found by a CommonMark parser, so a `## 1.4.0`
    in a code block is not one, and the text between them is taken as written."""
    text = text[:FILE_MAX]
    tokens = MarkdownIt("commonmark").parse(text)
    lines = text.splitlines()
    headings: list[tuple[int, str | None, int, int]] = []  # level, version, first, after
    for i, token in enumerate(tokens):
        if token.type != "heading_open" or token.map is None or i + 1 >= len(tokens):
            continue
        match = _HEADING_VERSION.match(tokens[i + 1].content.strip())
        version = canonical(match.group(1), strategy) if match else None
        headings.append((int(token.tag[1:]), version, token.map[0], token.map[1]))
    levels = [level for level, version, _, _ in headings if version is not None]
    if not levels:
        return {}
    top = min(levels)  # the level versions are written at; deeper headings are inside them
    sections: dict[str, str] = {}
    for j, (level, version, _, after) in enumerate(headings):
        if level != top or version is None:
            continue
        end = next((h[2] for h in headings[j + 1 :] if h[0] <= top), len(lines))
        sections.setdefault(version, "\n".join(lines[after:end]).strip())
    return sections


def chart_changes(value: object) -> str | None:
    """`artifacthub.io/changes` as a markdown list: YAML holding either plain strings or
    `{kind, description, links}` items (Artifact Hub's two forms). None if it is neither."""
    if isinstance(value, str):
        try:
            value = yaml.load(value, Loader=yaml.CBaseLoader)  # strings, lists, maps only
        except yaml.YAMLError:
            return None
    if not isinstance(value, list):
        return None
    lines = []
    for item in value:
        if isinstance(item, str) and item.strip():
            lines.append(f"- {' '.join(item.split())}")
        elif isinstance(item, dict) and isinstance(item.get("description"), str):
            kind = item.get("kind")
            head = f"**{kind.strip().capitalize()}**: " if isinstance(kind, str) else ""
            links = [
                f"[{' '.join(str(link.get('name') or 'link').split())}]({link['url']})"
                for link in item.get("links") or []
                if isinstance(link, dict)
                and isinstance(link.get("url"), str)
                and link["url"].startswith(("https://", "http://"))
                and not any(c in link["url"] for c in " ()<>")
            ]
            more = f" ({', '.join(links)})" if links else ""
            lines.append(f"- {head}{' '.join(item['description'].split())}{more}")
    return "\n".join(lines) or None


# --- finding ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One component's move, as the finder needs it."""

    app: str
    component: str
    source: Source | None
    setting: str | None
    before: str  # tags, without digests
    after: str

    @property
    def strategy(self) -> versions.Strategy:
        return self.source.sort if self.source is not None else "semver"

    @property
    def rollback(self) -> bool:
        return versions.compare(self.after, self.before, self.strategy) == -1

    @property
    def span(self) -> tuple[str, str]:
        """(older, newer): the versions after `older` up to `newer` are the ones to describe."""
        return (self.after, self.before) if self.rollback else (self.before, self.after)

    def key(self) -> tuple[str, ...]:
        source = self.source.key if self.source is not None else ""
        return (self.app, self.component, source, self.setting or "", self.before, self.after)


def specs(config: Config, promotion: Promotion) -> list[Spec]:
    """The components of a promotion that moved from one version to another."""
    found = []
    for plan in promotion.apps:
        app = config.apps.get(plan.app)
        for row in plan.changed:
            component = app.components.get(row.component) if app is not None else None
            spec = _spec(plan.app, row, component)
            if spec is not None:
                found.append(spec)
    return found


def _spec(app: str, row: Row, component: Component | None) -> Spec | None:
    if component is None or component.target.copy_ is not None:
        return None  # copied files: their diff is the changelog, and render summarises it
    if row.before is None or row.after is None:
        return None
    before, after = versions.split_digest(row.before)[0], versions.split_digest(row.after)[0]
    if before == after:
        return None  # a new digest of the same tag: nothing in between
    return Spec(app, row.component, component.source, component.changelog, before, after)


class Registry(Protocol):
    """What the finder asks of a registry (`bot.sources.oci.OciRegistry`)."""

    def labels(self, image: str, tag: str) -> dict[str, str]: ...


class Charts(Protocol):
    """What the finder asks of chart repositories (`bot.sources.helm.HelmRepository`)."""

    def versions(self, source: Source) -> list[str]: ...

    def chart_metadata(self, source: Source, version: str) -> dict[str, Any]: ...

    def chart_entries(self, source: Source) -> list[dict[str, Any]]: ...


class _Late(Exception):
    """An answer needed is not in the cache, and this pass may not ask for it."""


class Finder:
    """Finds the changelogs of a promotion within a time budget; `finder(config, promotion)`."""

    def __init__(
        self,
        hosts: Hosts,
        store: Store,
        *,
        registry: Registry | None = None,
        charts: Charts | None = None,
        budget: float = BUDGET,
        workers: int = WORKERS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hosts = hosts
        self.registry = registry
        self.charts = charts
        self.budget = budget
        self._cache = _Cache(store, clock)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="changelog")
        self._running: dict[tuple[str, ...], Future[Changelog]] = {}
        self._lock = threading.Lock()
        self._patient_from = 0.0  # monotonic: before it, a body does not wait (IMPATIENT)

    def __call__(self, config: Config, promotion: Promotion) -> list[Changelog]:
        return self.find(specs(config, promotion))

    def find(self, wanted: Sequence[Spec]) -> list[Changelog]:
        """Each spec's changelog: looked up in the background, waited for at most `budget`
        seconds in all (not at all for `IMPATIENT` seconds after a wait ran out); one not
        finished by then is what the cache holds so far."""
        futures = [self._submit(spec) for spec in wanted]
        if futures:
            patient = time.monotonic() >= self._patient_from
            _, pending = wait(futures, timeout=self.budget if patient else 0.0)
            if pending and patient:
                self._patient_from = time.monotonic() + IMPATIENT
        out = []
        for spec, future in zip(wanted, futures, strict=True):
            if future.done():
                out.append(future.result())  # _safe never raises
            else:
                out.append(self._safe(spec, fetch=False))
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self, spec: Spec) -> Future[Changelog]:
        # One lookup per component move at a time: a rebuild while the last one still runs
        # (a slow forge) waits on it rather than asking the same things again.
        with self._lock:
            running = self._running.get(spec.key())
            if running is not None and not running.done():
                return running
            future = self._pool.submit(self._safe, spec, True)
            self._running[spec.key()] = future
            for key in [k for k, f in self._running.items() if f.done()]:
                del self._running[key]
            return future

    def _safe(self, spec: Spec, fetch: bool) -> Changelog:
        """The changelog, or one saying why there is none: never an exception."""
        empty = Changelog(spec.app, spec.component, spec.before, spec.after)
        empty = replace(empty, rollback=spec.rollback)
        try:
            return replace(self._lookup(spec, fetch), rollback=spec.rollback)
        except _Late:
            return replace(empty, late=(spec.span[1],))
        except (NoChangelog, NotARepository) as exc:
            return replace(empty, problem=str(exc))
        except PromobotError as exc:
            return replace(empty, problem=public_error(exc))
        except Exception as exc:  # a bug: said as such, its traceback logged
            log.warning(
                "changelog lookup failed",
                extra={"app": spec.app, "component": spec.component, "error": repr(exc)},
                exc_info=True,
            )
            return replace(empty, problem=public_error(exc))

    # --- per kind of source ----------------------------------------------------------------

    def _lookup(self, spec: Spec, fetch: bool) -> Changelog:
        source = spec.source
        if spec.setting is not None:
            return self._from_repo(spec, self.hosts.parse(spec.setting), fetch)
        if source is None:
            raise NoChangelog("the component names no source and no changelog: setting")
        if source.chart:
            return self._from_chart(spec, source, fetch)
        if source.git:
            own = self.hosts.own
            if own is None and self.hosts.local is not None and self.hosts.root is not None:
                # the local forge reads git sources from the checkout itself
                return self._from_repo(spec, Where("", str(self.hosts.root)), fetch)
            return self._from_repo(spec, parse_reference(source.git, own), fetch)
        assert source.image is not None
        return self._from_repo(spec, self._image_repo(source.image, spec.span[1], fetch), fetch)

    def _image_repo(self, image: str, tag: str, fetch: bool) -> Where:
        """The repository the image says it was built from (its source annotation)."""
        found = self._cache.get("image-source", image, tag)
        if found is None:
            if not fetch:
                raise _Late
            if self.registry is None:
                raise NoChangelog(
                    "images are not read here; give the component a changelog: setting"
                )
            labels = self.registry.labels(image, tag)
            found = labels.get(SOURCE_ANNOTATION, "")
            self._cache.put("image-source", image, tag, value=found, ttl=RANGE_TTL)
        if not found:
            raise NoChangelog(
                f"the image {image}:{tag} has no {SOURCE_ANNOTATION} annotation or label, and "
                "the component no changelog: setting"
            )
        return self.hosts.parse(found)

    def _from_chart(self, spec: Spec, source: Source, fetch: bool) -> Changelog:
        """`artifacthub.io/changes` of every chart version in between, else its sources."""
        label = source.repo_url
        older, newer = spec.span
        entries = self._chart_entries(source, spec, fetch)
        oci = (source.repo or "").startswith("oci://")
        notes: list[Note] = []
        late: list[str] = []
        for version in entries["between"]:
            try:
                meta = self._oci_chart_meta(source, version, fetch) if oci else entries[version]
            except _Late:
                late.append(canonical(version, spec.strategy))
                continue
            text = chart_changes(meta.get("annotations", {}).get(CHART_CHANGES))
            if text:
                notes.append(Note(canonical(version, spec.strategy), text, "chart"))
        if notes or late:
            shown = {n.version for n in notes} | set(late)
            return Changelog(
                spec.app,
                spec.component,
                spec.before,
                spec.after,
                tuple(notes),
                where=label,
                late=tuple(late),
                missing=tuple(
                    canonical(v, spec.strategy)
                    for v in entries["between"]
                    if canonical(v, spec.strategy) not in shown
                ),
            )
        meta = self._oci_chart_meta(source, newer, fetch) if oci else entries.get(newer) or {}
        sources = [s for s in meta.get("sources") or [] if isinstance(s, str)]
        home = meta.get("home")
        candidates = [*sources, *([home] if isinstance(home, str) else [])]
        for candidate in candidates:  # the first on a forge promobot reads
            with contextlib.suppress(NoChangelog, NotARepository):
                where = self.hosts.parse(candidate)
                if where.host in self.hosts.forges:
                    return self._from_repo(spec, where, fetch)
        if candidates:
            return self._from_repo(spec, self.hosts.parse(candidates[0]), fetch)  # says why not
        raise NoChangelog(
            f"no version of {label} between {older} and {newer} has {CHART_CHANGES}, and the "
            "chart names no sources"
        )

    def _chart_entries(self, source: Source, spec: Spec, fetch: bool) -> dict[str, Any]:
        """The chart versions in between, newest first (`between`), and what an HTTP
        repository's index says of each of them and of the newer end (changes, sources)."""
        older, newer = spec.span
        key = ("chart", source.key, older, newer)
        cached = self._cache.get(*key)
        if isinstance(cached, dict):
            return cached
        if not fetch:
            raise _Late
        if self.charts is None:
            raise NoChangelog("charts are not read here; give the component a changelog: setting")
        found: dict[str, Any] = {}
        if (source.repo or "").startswith("oci://"):
            listed: dict[str, Any] = {v: {} for v in self.charts.versions(source)}
        else:
            listed = {
                entry["version"]: entry
                for entry in self.charts.chart_entries(source)
                if isinstance(entry.get("version"), str)
            }
        between = _between(listed, older, newer, spec.strategy, source.prerelease)
        for version in {*between, newer} & listed.keys():
            found[version] = _chart_meta(listed[version])
        found["between"] = between
        self._cache.put(*key, value=found, ttl=MISSING_TTL)
        return found

    def _oci_chart_meta(self, source: Source, version: str, fetch: bool) -> dict[str, Any]:
        cached = self._cache.get("chart-version", source.key, version)
        if isinstance(cached, dict):
            return cached
        if not fetch:
            raise _Late
        assert self.charts is not None
        meta = _chart_meta(self.charts.chart_metadata(source, version))
        self._cache.put("chart-version", source.key, version, value=meta)
        return meta

    # --- a repository: releases, CHANGELOG.md, commits -------------------------------------

    def _from_repo(self, spec: Spec, where: Where, fetch: bool) -> Changelog:
        where, repo = self.hosts.open(where)
        older, newer = spec.span
        name = str(where)
        tags = self._range(name, repo, older, newer, spec, fetch)
        link = repo.compare_url(tags["older"], tags["newer"]) if tags["older"] else None
        between: list[list[str]] = tags["between"]
        if not between:
            raise NoChangelog(f"{name} has no tag between {older} and {newer}")
        notes: dict[str, Note] = {}
        missing: list[str] = []
        late: list[str] = []
        wanted: list[tuple[str, str, str]] = []  # version, tag, the tag before it
        for version, tag, previous in between:
            found = self._cache.get("note", name, tag)
            if isinstance(found, dict) and "kind" in found:
                notes[version] = Note(version, found["text"], found["kind"], found.get("url"))
            elif found == "none":
                missing.append(version)
            else:
                wanted.append((version, tag, previous))
        if wanted and fetch:
            for version, note in self._fetch(name, repo, wanted, spec.strategy).items():
                if note is None:
                    missing.append(version)
                else:
                    notes[version] = note
        elif wanted:
            late = [version for version, _, _ in wanted]
        order = [version for version, _, _ in between]
        return Changelog(
            spec.app,
            spec.component,
            spec.before,
            spec.after,
            tuple(notes[v] for v in order if v in notes),
            where=name,
            link=link,
            late=tuple(v for v in order if v in late),
            missing=tuple(v for v in order if v in missing),
        )

    def _range(
        self, name: str, repo: NotesRepo, older: str, newer: str, spec: Spec, fetch: bool
    ) -> dict[str, Any]:
        """The repository's tags after `older` up to `newer`, newest first, each with the tag
        before it (whose commits it adds), and the tags of the two ends."""
        prerelease = spec.source.prerelease if spec.source is not None else False
        key = ("range", name, older, newer, spec.strategy, str(prerelease))
        cached = self._cache.get(*key)
        if isinstance(cached, dict):
            return cached
        if not fetch:
            raise _Late
        tags = repo.tags()
        by_version: dict[str, str] = {}
        for tag in tags:
            by_version.setdefault(canonical(tag, spec.strategy), tag)
        ordered = sorted(
            (v for v in by_version if versions.compare(v, v, spec.strategy) == 0),
            key=lambda v: _Order(v, spec.strategy),
        )
        low, high = canonical(older, spec.strategy), canonical(newer, spec.strategy)
        chain = [
            v
            for v in ordered
            if versions.compare(v, low, spec.strategy) == 1
            and versions.compare(v, high, spec.strategy) in (0, -1)
            and (prerelease or not _prerelease(v, spec.strategy))
        ]
        below = [v for v in ordered if versions.compare(v, low, spec.strategy) in (0, -1)]
        between = []
        previous = by_version.get(low) or (by_version[below[-1]] if below else "")
        for version in chain:
            between.append([version, by_version[version], previous])
            previous = by_version[version]
        found = {
            "between": between[::-1],
            "older": by_version.get(low, ""),
            "newer": by_version.get(high, ""),
        }
        self._cache.put(*key, value=found, ttl=RANGE_TTL)
        return found

    def _fetch(
        self,
        name: str,
        repo: NotesRepo,
        wanted: list[tuple[str, str, str]],
        strategy: versions.Strategy,
    ) -> dict[str, Note | None]:
        """Notes for the versions not in the cache: releases (one listing), then the changelog
        file at the newest tag (one read), then each remaining version's commits (one compare
        each). Every answer is kept, those without notes for an hour."""
        found: dict[str, Note | None] = {}
        left = list(wanted)
        # A forge that fails (not one that says "none") makes this lookup incomplete: what it
        # shows is kept only where a failure cannot have hidden better notes.
        complete = True
        try:
            listed = repo.releases(RELEASES)
        except NotFound:
            listed = []  # releases switched off, or none: a real answer
        except PromobotError as exc:
            log.info("releases unreadable", extra={"repo": name, "error": public_error(exc)})
            listed, complete = [], False
        releases = {canonical(r.tag, strategy): r for r in listed if r.tag}
        for version, tag, _ in list(left):
            release = releases.get(version)
            if release is not None and release.body.strip():
                text = release.body.strip()
                if release.name.strip() and canonical(release.name, strategy) != version:
                    text = f"**{' '.join(release.name.split())}**\n\n{text}"
                found[version] = Note(version, text[:NOTE_MAX], "release", release.url)
                left.remove((version, tag, _))
        if left:
            try:
                sections = self._changelog_file(repo, left[0][1], strategy)
            except PromobotError as exc:
                log.info("changelog unreadable", extra={"repo": name, "error": public_error(exc)})
                sections, complete = {}, False
            for version, tag, previous in list(left):
                if sections.get(version):
                    text = sections[version][:NOTE_MAX]
                    found[version] = Note(version, text, "changelog", repo.tag_url(tag))
                    left.remove((version, tag, previous))
        for version, tag, previous in left:
            subjects: list[str] = []
            if previous:
                try:
                    subjects = repo.subjects(previous, tag, SUBJECTS)
                except NotFound:
                    pass  # a tag that is not there: no commits to tell
                except PromobotError as exc:
                    log.info(
                        "no commits between tags",
                        extra={"repo": name, "tag": tag, "error": public_error(exc)},
                    )
                    complete = False
            text = "\n".join(f"- {' '.join(s.split())}" for s in subjects if s.strip())
            url = repo.compare_url(previous, tag) if previous else None
            found[version] = Note(version, text, "commits", url) if text else None
        for version, tag, _ in wanted:
            note = found.get(version)
            if note is not None and (complete or note.kind == "release"):
                self._cache.put("note", name, tag, value=_note_json(note))
            elif note is None and complete:
                self._cache.put("note", name, tag, value="none", ttl=MISSING_TTL)
        return found

    def _changelog_file(
        self, repo: NotesRepo, ref: str, strategy: versions.Strategy
    ) -> dict[str, str]:
        for path in CHANGELOG_FILES:
            raw = repo.read_file(ref, path)
            if raw is not None:
                text = raw[:FILE_MAX].decode("utf-8", errors="replace")
                return changelog_sections(text, strategy)
        return {}


@dataclass(frozen=True)
class _Order:
    """A sort key for versions under a strategy (those it cannot order are filtered out)."""

    version: str
    strategy: versions.Strategy

    def __lt__(self, other: _Order) -> bool:
        return versions.compare(self.version, other.version, self.strategy) == -1


def _prerelease(version: str, strategy: versions.Strategy) -> bool:
    parsed = versions.parse_semver(version) if strategy == "semver" else None
    return bool(parsed is not None and parsed.prerelease)


def _between(
    entries: Mapping[str, Any],
    older: str,
    newer: str,
    strategy: versions.Strategy,
    prerelease: bool,
) -> list[str]:
    """The versions after `older` up to `newer`, newest first."""
    chosen = [
        v
        for v in entries
        if versions.compare(v, older, strategy) == 1
        and versions.compare(v, newer, strategy) in (0, -1)
        and (prerelease or not _prerelease(v, strategy))
    ]
    return sorted(chosen, key=lambda v: _Order(v, strategy), reverse=True)


def _chart_meta(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What a chart version says of its changes and sources, and nothing else (an index
    entry carries digests and URLs the finder has no use for)."""
    annotations = entry.get("annotations")
    changes = annotations.get(CHART_CHANGES) if isinstance(annotations, dict) else None
    sources = entry.get("sources")
    return {
        "annotations": {CHART_CHANGES: changes} if isinstance(changes, str | list) else {},
        "sources": [s for s in sources if isinstance(s, str)] if isinstance(sources, list) else [],
        "home": entry.get("home") if isinstance(entry.get("home"), str) else None,
    }


def _note_json(note: Note) -> dict[str, Any]:
    return {"text": note.text, "kind": note.kind, "url": note.url}


def for_service(settings: Any, forge: Any, store: Store) -> Finder:
    """The finder a service's engine uses: its forge and github.com/gitlab.com, registries and
    chart repositories read with light retries, answers kept in the queue's store."""
    from bot.forges.retry import Policy
    from bot.sources.helm import HelmRepository
    from bot.sources.oci import OciRegistry

    policy = Policy(attempts=2, backoff_base=0.2, backoff_max=1.0, rate_limit_max_wait=5.0)
    registry = OciRegistry(retry=policy, timeout=BUDGET)
    charts = HelmRepository(registry, retry=policy, timeout=BUDGET)
    return Finder(hosts_for(settings, forge), store, registry=registry, charts=charts)


def for_command(forge: Any) -> Finder:
    """The finder of `promobot promote` on a checkout: only repositories on this machine
    (`changelog: ../api`), answers kept beside the checkout's other promobot files."""
    return Finder(hosts_for(None, forge, offline=True), FileStore(forge.store.parent / "changelog"))
