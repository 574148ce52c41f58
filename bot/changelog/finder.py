"""Finding the notes of a promotion: the edge of `bot.changelog` that asks forges, image
registries and chart repositories, within a time budget.

For each changed component, newest first:

- where the notes live: the component's `changelog:` setting, else (images) the
  `org.opencontainers.image.source` annotation or label of the new image at its registry,
  (charts) `artifacthub.io/changes` of each chart version, else the chart's `sources:`, and
  (git sources) the source repository itself;
- in that repository, for every tag between the two versions: its release (GitHub or GitLab
  Releases), else its section of `CHANGELOG.md` (Keep a Changelog headings, read with
  markdown-it-py), else the subjects of the commits since the tag before it.

A PR waits at most `budget` seconds for its changelogs; what is not found by then is said
("not fetched in time") and found in the background for the next rebuild. A missing, slow or
broken changelog never stops a promotion: it is a line in the body saying why.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any, Protocol

from bot import versions
from bot.changelog.hosts import Hosts, NotesRepo
from bot.changelog.notes import (
    FILE_MAX,
    Changelog,
    NoChangelog,
    Note,
    Spec,
    canonical,
    changelog_sections,
    chart_changes,
    public_error,
    specs,
)
from bot.changelog.store import Cache, FileStore, Store
from bot.config import Config, Source
from bot.errors import NotFound, PromobotError
from bot.forges.local import LocalForge
from bot.planner import Promotion
from bot.references import NotARepository, Where, parse_reference

log = logging.getLogger("promobot.changelog")

BUDGET = 5.0  # seconds a PR body waits for its changelogs
# After a body's wait ran out, the next ones do not wait for this long: a forge that hangs
# costs a sync of many PRs one budget, not one budget for every PR it writes.
IMPATIENT = 60.0
WORKERS = 4  # lookups at once, all PRs together: a hung forge holds at most these threads
NOTE_MAX = 16_384  # characters of one version's notes kept (the body shows fewer)
RELEASES = 100  # releases listed per lookup (one page)
SUBJECTS = 50  # commit subjects per version
MISSING_TTL = 3600.0  # a version without notes is asked again after this (notes come late)
RANGE_TTL = 86_400.0  # the tags between two versions are listed again after a day
CHANGELOG_FILES = ("CHANGELOG.md",)  # Keep a Changelog's name: each other name tried costs a call
SOURCE_ANNOTATION = "org.opencontainers.image.source"
CHART_CHANGES = "artifacthub.io/changes"


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
        self._cache = Cache(store, clock)
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


def for_command(forge: LocalForge) -> Finder:
    """The finder of `promobot promote` on a checkout: only repositories on this machine
    (`changelog: ../api`), so a command never waits on the network; answers kept beside the
    checkout's other promobot files."""
    hosts = Hosts({}, None, LocalForge, forge.root)
    return Finder(hosts, FileStore(forge.store.parent / "changelog"))
