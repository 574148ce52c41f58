"""What the overview shows: the matrix, open promotions with their gates, histories, comparisons.

The builders are pure (values in, values out). `Overview` at the bottom is their I/O edge and
their cache: the environment repo is read once per commit (`Engine.state()`), open promotions
once per relevant event, histories once per head commit. `invalidate()` is called for every
queued webhook and after every job; between events a page view asks the forge nothing, except
that the default branch's head is re-checked (a conditional request: a 304 costs nothing) when
the last look is older than `head_ttl`, and open PRs are re-read after `pr_ttl` — the safety
nets for a lost webhook, or for jobs that run in other processes.
"""

from __future__ import annotations

import difflib
import html
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from bot import composition, delivery, metrics, names, render, source_pages, versions
from bot.composition import Commit, Composition, HistoryEntry, Snapshot, State, Status
from bot.config import Config, Source
from bot.engine import LABEL, Engine
from bot.errors import PromobotError
from bot.forges.base import Forge, PullRequest
from bot.live.reader import LiveReader
from bot.live.state import Live
from bot.names import matches

GateState = Literal["pass", "pending", "fail"]
Difference = Literal["same", "newer", "older", "different", "only-from", "only-to"]

log = logging.getLogger("promobot.overview")

HISTORY_LIMIT = 20  # commits read per history: each costs a snapshot (a tarball) once per head
HEAD_TTL = 10.0  # seconds; the default branch's head is re-checked at most this often
PR_TTL = 300.0  # seconds; open PRs are re-read at least this often even without events
LIVE_TTL = 10.0  # seconds; what clusters run is asked again at most this often
RUNNING_KEPT = 8  # commits whose compositions are kept, for the commits clusters run

# --- open promotions and their gates --------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    state: GateState
    text: str


@dataclass(frozen=True)
class Change:
    app: str
    component: str
    before: str | None
    after: str | None
    change: str  # up, down, changed (the planner's words)


@dataclass(frozen=True)
class OpenPromotion:
    """An open promotion PR, read back from its body: the plan and the gate checklist."""

    number: int
    url: str | None  # only http(s) links: the local forge's "URL" is a path on disk
    title: str
    env: str
    upstream: str | None
    name: str  # the app, or the group promoted together
    apps: tuple[str, ...]
    changes: tuple[Change, ...]
    gates: tuple[Gate, ...]

    @property
    def state(self) -> GateState:
        states = {g.state for g in self.gates}
        return "fail" if "fail" in states else "pending" if "pending" in states else "pass"

    @property
    def summary(self) -> str:
        """The first failing gate, else the first pending one, else that all pass."""
        for state in ("fail", "pending"):
            gate = next((g for g in self.gates if g.state == state), None)
            if gate is not None:
                return gate.text
        return "all gates pass"

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "url": self.url,
            "title": self.title,
            "env": self.env,
            "name": self.name,
            "state": self.state,
            "gates": [{"state": g.state, "text": g.text} for g in self.gates],
            "changes": [
                {"app": c.app, "component": c.component, "before": c.before, "after": c.after}
                for c in self.changes
            ],
        }


_GATES = re.compile(r"^Gates\n((?:- .*(?:\n|$))*)", re.MULTILINE)
_ITEM = re.compile(r"^- \[(?P<mark>[ xX])\] (?P<text>.*)$")
_FAIL = "❌ "
_UNVERIFIED = Gate(
    "pending", "the gate checklist was edited; promobot rewrites it at its next look"
)


def parse_gates(checklist: str) -> tuple[Gate, ...]:
    """The gate checklist promobot keeps in a PR body (see `render.replace_gates`)."""
    found = _GATES.search(checklist)
    if found is None:
        return (Gate("pending", "gates not evaluated yet"),)
    gates = []
    for line in found.group(1).splitlines():
        item = _ITEM.match(line)
        if item is None:
            continue
        text = html.unescape(item["text"]).replace("`", "")
        if item["mark"] != " ":
            gates.append(Gate("pass", text))
        elif text.startswith(_FAIL):
            gates.append(Gate("fail", text.removeprefix(_FAIL)))
        else:
            gates.append(Gate("pending", text))
    return tuple(gates) or (Gate("pending", "gates not evaluated yet"),)


def open_promotion(pr: PullRequest, engine: Engine) -> OpenPromotion | None:
    """None for a PR without promobot's signed metadata (someone else's, or an edited body).
    The checklist is shown only as promobot signed it: an edited one shows as unknown."""
    promotion = engine.promotion_of(pr)
    if promotion is None:
        return None
    checklist = render.signed_checklist(pr.body, pr.branch, engine.signer)
    changes = tuple(
        Change(plan.app, row.component, row.before, row.after, row.change)
        for plan in promotion.apps
        for row in plan.changed
    )
    return OpenPromotion(
        number=pr.number,
        url=pr.url if pr.url.startswith(("https://", "http://")) else None,
        title=pr.title,
        env=promotion.env,
        upstream=promotion.upstream,
        name=promotion.display,
        apps=tuple(plan.app for plan in promotion.apps),
        changes=changes,
        gates=parse_gates(checklist) if checklist is not None else (_UNVERIFIED,),
    )


# --- the matrix ---------------------------------------------------------------------------------


def short(version: str) -> str:
    """`1.4.2@sha256:0123456789ab…`: a pinned digest, shortened for reading."""
    tag, digest = versions.split_digest(version)
    if digest is None:
        return version
    algorithm, _, encoded = digest.partition(":")
    return f"{tag}@{algorithm}:{encoded[:12]}…" if len(encoded) > 12 else version


@dataclass(frozen=True)
class Version:
    component: str
    value: str
    upstream: str | None = None  # what the upstream environment runs, when that differs
    kept: bool = False  # `promote: never`: shown and compared, never promoted
    shared: tuple[str, ...] = ()  # the other environments whose value this one is
    range: bool = False  # a range of versions (a policy), not one version

    @property
    def shown(self) -> str:
        return short(self.value)


@dataclass(frozen=True)
class Cell:
    app: str
    env: str
    composition: Composition | None  # None: the app is not deployed to this environment
    upstream: str | None = None  # the upstream environment, when it runs the app too
    versions: tuple[Version, ...] = ()
    promotion: OpenPromotion | None = None  # the open PR that changes this app here
    live: Live | None = None  # what the environment's cluster reports, when `live:` says where
    running: Mapping[str, str] | None = None  # the versions at the commit the cluster runs
    # the upstream's name as (start, middle, end): a label cut for room keeps the start and
    # the end, which tell it from the other environments (`names.ends`)
    upstream_ends: tuple[str, str, str] = ("", "", "")

    @property
    def differs(self) -> bool:
        """Whether upstream runs something else that promotions move (a value kept apart on
        purpose differs without making the cell differ)."""
        return any(v.upstream is not None and not v.kept for v in self.versions)

    @property
    def drift(self) -> tuple[tuple[str, str, str], ...]:
        """(component, in git, running) where the cluster runs something else than git asks."""
        if self.composition is None or self.running is None:
            return ()
        asked = self.composition.components
        return tuple(
            (name, asked[name], self.running.get(name) or "none")
            for name in asked
            if self.running.get(name) != asked[name]
        )

    @property
    def live_text(self) -> str:
        return self.live.describe() if self.live is not None else ""

    def live_json(self) -> dict[str, Any] | None:
        if self.live is None:
            return None
        return {
            **self.live.to_json(),
            "drift": {name: {"git": git, "running": ran} for name, git, ran in self.drift},
        }


@dataclass(frozen=True)
class Row:
    app: str
    cells: tuple[Cell, ...]

    @property
    def differs(self) -> bool:
        return any(c.differs or c.promotion is not None for c in self.cells)


@dataclass(frozen=True)
class Column:
    env: str
    upstream: str | None
    rules: tuple[str, ...]  # "auto-merge", "soak 30m", "2 approvals", … — why PRs wait
    held: str | None = None  # why automatic promotions from here wait (a failed verification)


@dataclass(frozen=True)
class Matrix:
    ref: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    promotions: tuple[OpenPromotion, ...]
    apps_total: int

    @property
    def differing_cells(self) -> int:
        return sum(c.differs for r in self.rows for c in r.cells)

    def select(
        self, apps: str = "", envs: Sequence[str] = (), only_differing: bool = False
    ) -> Matrix:
        """The rows whose app matches `apps` (see `matches`), the columns in `envs` (all when
        empty), and only rows with a difference or an open promotion when asked."""
        keep = [i for i, c in enumerate(self.columns) if not envs or c.env in envs]
        rows = []
        for row in self.rows:
            if apps and not matches(row.app, apps):
                continue
            narrowed = Row(row.app, tuple(row.cells[i] for i in keep))
            if only_differing and not narrowed.differs:
                continue
            rows.append(narrowed)
        shown_envs = {self.columns[i].env for i in keep}
        shown_apps = {r.app for r in rows}
        promotions = tuple(
            p
            for p in self.promotions
            if p.env in shown_envs and (not apps or any(a in shown_apps for a in p.apps))
        )
        return replace(
            self,
            columns=tuple(self.columns[i] for i in keep),
            rows=tuple(rows),
            promotions=promotions,
        )

    def of_app(self, app: str) -> Matrix:
        """One app's row and the promotions that change it."""
        rows = tuple(r for r in self.rows if r.app == app)
        promotions = tuple(p for p in self.promotions if app in p.apps)
        return replace(self, rows=rows, promotions=promotions)

    def into(self, env: str) -> tuple[OpenPromotion, ...]:
        """The open promotions into one environment."""
        return tuple(p for p in self.promotions if p.env == env)


def rules(config: Config, env: str) -> tuple[str, ...]:
    settings = config.environments[env]
    gates = settings.gates
    out = []
    if settings.auto_merge:
        out.append("auto-merge")
    if settings.propose == "manual":
        out.append("manual (/promote)")
    if settings.propose == "commit":
        out.append("direct commits")
    if settings.batch:
        out.append(f"batch {settings.batch}")
    if gates.approvals:
        out.append(f"{gates.approvals} approval{'s' if gates.approvals != 1 else ''}")
    if gates.soak:
        out.append(f"soak {gates.soak}")
    if gates.checks:
        out.append("checks: " + ", ".join(gates.checks))
    if gates.freeze:
        out.append("freeze windows")
    return tuple(out)


def cell(
    config: Config,
    app: str,
    env: str,
    by_env: Mapping[str, Composition],
    pr: OpenPromotion | None,
    live: Live | None = None,
    running: Mapping[str, str] | None = None,
    name_ends: Mapping[str, tuple[str, str, str]] = {},
) -> Cell:
    current = by_env.get(env)
    if current is None:
        return Cell(app, env, None)
    upstream = config.environments[env].upstream
    source = by_env.get(upstream) if upstream is not None else None
    shown = []
    for name, value in current.components.items():
        theirs = source.components.get(name) if source is not None else None
        others = tuple(e for e in config.shared(app, name, env) if e != env)
        differs = theirs not in (None, value) and not others
        shown.append(
            Version(
                name, value, theirs if differs else None, shared=others,
                range=versions.is_range(value),
            )
        )  # fmt: skip
    for name, value in current.shown.items():
        theirs = source.shown.get(name) if source is not None else None
        shown.append(Version(name, value, theirs if theirs not in (None, value) else None, True))
    upstream = upstream if source is not None else None
    split = name_ends.get(upstream, (upstream, "", "")) if upstream is not None else ("", "", "")
    return Cell(app, env, current, upstream, tuple(shown), pr, live, running, split)


def build_matrix(
    config: Config,
    status: Status,
    promotions: Sequence[OpenPromotion],
    lives: Mapping[tuple[str, str], Live] = {},
    running: Mapping[tuple[str, str], Mapping[str, str]] = {},
    held: Mapping[str, str] = {},
) -> Matrix:
    """Every app × environment (promotion order), each cell against its upstream, and what
    its cluster runs where the environment says how to learn it."""
    pending = {(p.env, app): p for p in promotions for app in p.apps}
    name_ends = names.ends(config.environments)
    columns = tuple(
        Column(e, config.environments[e].upstream, rules(config, e), held.get(e))
        for e in status.environments
    )
    rows = tuple(
        Row(
            app,
            tuple(
                cell(
                    config,
                    app,
                    c.env,
                    by_env,
                    pending.get((c.env, app)),
                    lives.get((app, c.env)),
                    running.get((app, c.env)),
                    name_ends,
                )
                for c in columns
            ),
        )
        for app, by_env in status.apps.items()
    )
    ordered = sorted(
        promotions,
        key=lambda p: (
            status.environments.index(p.env) if p.env in status.environments else 99,
            p.name,
        ),
    )
    return Matrix(status.ref, columns, rows, tuple(ordered), len(status.apps))


# --- comparing two environments ------------------------------------------------------------------


@dataclass(frozen=True)
class Compared:
    component: str
    left: str | None  # in `from`
    right: str | None  # in `to`
    difference: Difference
    kept: bool = False  # `promote: never`: a difference on purpose, never promoted
    content: str = ""  # a copied file or folder that differs: its unified diff, not its hash


@dataclass(frozen=True)
class AppComparison:
    app: str
    left: Composition | None
    right: Composition | None
    rows: tuple[Compared, ...]

    @property
    def same(self) -> bool:
        return all(r.difference == "same" for r in self.rows)


def difference(
    left: str | None, right: str | None, strategy: versions.Strategy | None
) -> Difference:
    """How `left` (in `from`) stands to `right` (in `to`)."""
    if left == right:
        return "same"
    if right is None:
        return "only-from"
    if left is None:
        return "only-to"
    order = versions.compare(left, right, strategy) if strategy is not None else None
    return "newer" if order == 1 else "older" if order == -1 else "different"


def compare(
    config: Config, status: Status, left: str, right: str, snapshot: Snapshot | None = None
) -> list[AppComparison]:
    """The version-diff table between two environments, for the apps either one runs; with
    the snapshot, a copied file or folder that differs shows its content's diff."""
    out = []
    for app, by_env in status.apps.items():
        a, b = by_env.get(left), by_env.get(right)
        if a is None and b is None:
            continue
        spec = config.apps[app].components
        rows = []
        for name in spec:
            kept = spec[name].shown
            ours, theirs = _value(a, name, kept), _value(b, name, kept)
            if ours is None and theirs is None:
                continue
            source = spec[name].source
            found = difference(ours, theirs, source.sort if source else None)
            content = ""
            if found != "same" and spec[name].target.copy_ is not None and snapshot is not None:
                content = content_diff(
                    snapshot,
                    config.target(app, name, left).path,
                    config.target(app, name, right).path,
                )
            rows.append(Compared(name, ours, theirs, found, spec[name].shown, content))
        out.append(AppComparison(app, a, b, tuple(rows)))
    return out


def _value(composition: Composition | None, name: str, kept: bool) -> str | None:
    if composition is None:
        return None
    return (composition.shown if kept else composition.components).get(name)


DIFF_LINES = 200  # of one copied path's diff on the compare page; the rest is counted


def content_diff(snapshot: Snapshot, left: str, right: str) -> str:
    """The unified diff from `left`'s content (a file, or the files of a folder) to
    `right`'s, paths shown relative to each; at most DIFF_LINES lines."""

    def files(path: str) -> dict[str, str]:
        path = path.rstrip("/")
        if path in snapshot.trees:
            return {rel: _text_of(snapshot, f"{path}/{rel}") for rel in snapshot.blobs_under(path)}
        return {"": _text_of(snapshot, path)} if path in snapshot.objects else {}

    ours, theirs = files(left), files(right)
    lines: list[str] = []
    for rel in sorted(ours.keys() | theirs.keys()):
        name_a = f"{left.rstrip('/')}/{rel}" if rel else left
        name_b = f"{right.rstrip('/')}/{rel}" if rel else right
        lines += difflib.unified_diff(
            ours.get(rel, "").splitlines(),
            theirs.get(rel, "").splitlines(),
            name_a if rel in ours else "/dev/null",
            name_b if rel in theirs else "/dev/null",
            lineterm="",
        )
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"… {len(lines) - DIFF_LINES} more lines"]
    return "\n".join(lines)


def _text_of(snapshot: Snapshot, path: str) -> str:
    data = snapshot.files.get(path)
    return "" if data is None else data.decode("utf-8", errors="replace")


# --- histories -----------------------------------------------------------------------------------

_PR_REFERENCES = (
    re.compile(r"^Merge pull request #(\d+)\b"),  # GitHub merge commit
    re.compile(r"^Merge #(\d+)\b"),  # the local forge
    re.compile(r"\(#(\d+)\)\s*$"),  # GitHub squash merge: "title (#12)"
    re.compile(r"(?:^|\s)!(\d+)\b"),  # GitLab: "… !12"
)


def pr_number(subject: str) -> int | None:
    for pattern in _PR_REFERENCES:
        found = pattern.search(subject)
        if found is not None:
            return int(found.group(1))
    return None


@dataclass(frozen=True)
class AppChange:
    app: str
    before: Composition | None
    after: Composition | None  # None: the app left the environment

    @property
    def changed(self) -> tuple[str, ...]:
        before = self.before.components if self.before else {}
        after = self.after.components if self.after else {}
        return tuple(composition.changed_components(before, after))


@dataclass(frozen=True)
class EnvEntry:
    commit: Commit
    changes: tuple[AppChange, ...]
    first: bool = False  # the oldest commit that touched the environment: where it starts

    @property
    def pr(self) -> int | None:
        return pr_number(self.commit.subject)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.commit.to_json(),
            "pr": self.pr,
            "first": self.first,
            "changes": [
                {
                    "app": c.app,
                    "before": c.before.to_json() if c.before else None,
                    "after": c.after.to_json() if c.after else None,
                    "changed": list(c.changed),
                }
                for c in self.changes
            ],
        }


def env_paths(config: Config, app: str, env: str) -> list[str]:
    return sorted(
        {config.target(app, c, env).path.rstrip("/") for c in config.apps[app].components}
    )


def env_history(
    config: Config, env: str, commits: Iterable[tuple[Commit, Snapshot]], baseline: bool = False
) -> list[EnvEntry]:
    """The compositions that changed in one environment, commit by commit (oldest in, newest
    out). An app is only re-read where the object ids of its files changed. `baseline`: the
    oldest commit only sets the starting point (the log was cut there), it is not an entry."""
    apps = [a for a in config.apps if env in config.app_environments(a)]
    paths = {app: env_paths(config, app, env) for app in apps}
    seen: dict[str, tuple[str | None, ...]] = {}
    current: dict[str, Composition] = {}
    entries = []
    for index, (commit, snapshot) in enumerate(commits):
        moved = []
        for app in apps:
            key = tuple(snapshot.objects.get(p) for p in paths[app])
            if seen.get(app) != key:
                seen[app] = key
                moved.append(app)
        snapshot.prefetch(p for app in moved for p in paths[app])
        reader = composition.Reader(config, snapshot)
        changes = []
        for app in moved:
            read = reader.composition(app, env)
            after = read if read.components else None
            before = current.get(app)
            if _components(before) == _components(after):
                continue
            changes.append(AppChange(app, before, after))
            if after is None:
                current.pop(app, None)
            else:
                current[app] = after
        if changes and not (baseline and index == 0):
            entries.append(EnvEntry(commit, tuple(changes), first=index == 0))
    return entries[::-1]


def _components(found: Composition | None) -> Mapping[str, str] | None:
    return found.components if found is not None else None


def app_history(
    config: Config, app: str, commits: Sequence[tuple[Commit, Snapshot]]
) -> dict[str, list[HistoryEntry]]:
    """The app's compositions over time in each of its environments, newest first."""
    return {
        env: composition.history(config, app, env, commits) for env in config.app_environments(app)
    }


def covering(paths: Iterable[str], most: int = 8) -> list[str]:
    """At most about `most` paths (folders where needed) whose commits include every commit that
    touched `paths`: GitHub's commits API filters by one path per call."""
    current = sorted(set(paths))
    while len(current) > most:
        parents = sorted({p.rsplit("/", 1)[0] if "/" in p else p for p in current})
        if parents == current:
            break
        current = parents
    return [p for p in current if not any(p.startswith(q + "/") for q in current)]


def _delivery_change(entry: EnvEntry) -> delivery.Change:
    return delivery.Change(
        entry.commit.sha,
        entry.commit.time,
        entry.commit.subject,
        {c.app: (_components(c.before), _components(c.after)) for c in entry.changes},
        entry.first,
    )


# --- links to the forge --------------------------------------------------------------------------


@dataclass(frozen=True)
class Links:
    """Web links into the forge, where they can be known without asking it."""

    repo: str | None  # https://github.com/acme/env-repo; None for the local forge
    kind: str
    web: str | None = None  # the forge's web root, https://github.com; None for the local forge

    def source(self, source: Source) -> source_pages.Shown:
        """A component's source as written, with its page (a `git:` repo on this forge)."""
        return source_pages.shown(source, self.web)

    def commit(self, sha: str) -> str | None:
        if self.repo is None:
            return None
        return (
            f"{self.repo}/-/commit/{sha}" if self.kind == "gitlab" else f"{self.repo}/commit/{sha}"
        )

    def pull(self, number: int) -> str | None:
        if self.repo is None:
            return None
        if self.kind == "gitlab":
            return f"{self.repo}/-/merge_requests/{number}"
        return f"{self.repo}/pull/{number}"


def links(kind: str, repo: str, github_url: str, gitlab_url: str) -> Links:
    if kind == "github":
        api = github_url.rstrip("/")
        web = (
            "https://github.com" if api == "https://api.github.com" else api.removesuffix("/api/v3")
        )
        return Links(f"{web}/{repo}", kind, web)
    if kind == "gitlab":
        web = gitlab_url.rstrip("/")
        return Links(f"{web}/{repo}", kind, web)
    return Links(None, kind)


# --- the cache: the I/O edge ---------------------------------------------------------------------

T = TypeVar("T")


class Overview:
    """Reads what the pages show, each thing as seldom as it can change."""

    def __init__(
        self,
        engine: Engine,
        *,
        live: LiveReader | None = None,
        repo: str = "",
        head_ttl: float = HEAD_TTL,
        pr_ttl: float = PR_TTL,
        history_limit: int = HISTORY_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.forge: Forge = engine.forge
        self.live = live
        self.repo = repo  # what metrics call it (bot.web.pages.label)
        self.head_ttl = head_ttl
        self.pr_ttl = pr_ttl
        self.history_limit = history_limit
        self.clock = clock
        # one reader per kind of thing at a time, so two first views do not download twice
        self._state_lock = threading.Lock()
        self._pr_lock = threading.Lock()
        self._history_lock = threading.Lock()
        self._state: tuple[float, State] | None = None  # when the head was last checked
        self._prs: tuple[float, int, tuple[OpenPromotion, ...]] | None = None
        self._generation = 0
        self._matrix: tuple[tuple[str, int, int], Matrix] | None = None
        self._running: OrderedDict[str, Status] = OrderedDict()  # by the commit clusters run
        self._histories: OrderedDict[tuple[str, str, str], Any] = OrderedDict()

    def invalidate(self) -> None:
        """Something happened that may have moved the head or changed the open promotions."""
        self._state = None
        self._prs = None

    def recheck_head(self) -> None:
        """The next view asks the forge for the head again (its last look is too old)."""
        self._state = None

    def state(self) -> State:
        """The repo at the default branch's head; read once per commit (`Engine.state()`), and
        the head itself looked up at most once per `head_ttl` between events."""
        cached = self._state
        if cached is not None and self.clock() - cached[0] < self.head_ttl:
            return cached[1]
        with self._state_lock:
            cached = self._state
            if cached is not None and self.clock() - cached[0] < self.head_ttl:
                return cached[1]
            checked = self.clock()
            state = self.engine.state()
            self._state = (checked, state)
            return state

    def promotions(self) -> tuple[tuple[OpenPromotion, ...], int]:
        """Open promotion PRs with their gates, and a number that changes when they are re-read."""
        cached = self._prs
        if cached is not None and self.clock() - cached[0] < self.pr_ttl:
            return cached[2], cached[1]
        with self._pr_lock:
            cached = self._prs
            if cached is not None and self.clock() - cached[0] < self.pr_ttl:
                return cached[2], cached[1]
            started = self.clock()
            found = [open_promotion(pr, self.engine) for pr in self.forge.list_prs(label=LABEL)]
            prs = tuple(sorted((p for p in found if p is not None), key=lambda p: p.number))
            self._generation += 1
            self._prs = (started, self._generation, prs)
            return prs, self._generation

    def matrix(self, state: State) -> Matrix:
        prs, generation = self.promotions()
        watched = [e for e, env in state.config.environments.items() if env.live is not None]
        # a cluster changes without an event here: its state is asked again every LIVE_TTL
        epoch = int(self.clock() // LIVE_TTL) if watched and self.live is not None else 0
        key = (state.snapshot.commit, generation, epoch)
        cached = self._matrix
        if cached is not None and cached[0] == key:
            return cached[1]
        lives, running = self._clusters(state, watched)
        held = {}
        if self.engine.holds is not None:
            for env in watched:
                why = self.engine.holds(env)
                if why is not None:
                    held[env] = why
        built = build_matrix(state.config, state.status, prs, lives, running, held)
        self._matrix = (key, built)
        return built

    def _clusters(
        self, state: State, watched: Sequence[str]
    ) -> tuple[dict[tuple[str, str], Live], dict[tuple[str, str], Mapping[str, str]]]:
        """What each watched environment's cluster reports, and the versions at the commit it
        runs (one snapshot per distinct commit: clusters mostly run the same few)."""
        lives: dict[tuple[str, str], Live] = {}
        running: dict[tuple[str, str], Mapping[str, str]] = {}
        if self.live is None:
            return lives, running
        for env in watched:
            apps = [a for a in state.config.apps if env in state.config.app_environments(a)]
            try:
                found = self.live.read(state, env, apps)
            except PromobotError as exc:  # that environment shows unknown; the rest goes on
                log.warning("live state unavailable", extra={"env": env, "error": str(exc)})
                continue
            for app, live in found.items():
                lives[(app, env)] = live
                if live.revision is None:
                    continue
                at = self._status_at(state, live.revision)
                composition = at.get(app, env) if at is not None else None
                if composition is not None:
                    running[(app, env)] = composition.components
        return lives, running

    def _status_at(self, state: State, commit: str) -> Status | None:
        if commit == state.snapshot.commit:
            return state.status
        if commit not in self._running:
            try:
                snapshot = self.forge.snapshot(commit)
                config = state.config
                snapshot.prefetch(composition.required_paths(config, list(config.apps)))
                self._running[commit] = composition.status(config, snapshot, list(config.apps))
            except PromobotError:  # a commit the repo does not have (a force-push): unknown
                return None
            while len(self._running) > RUNNING_KEPT:
                self._running.popitem(last=False)
        return self._running[commit]

    def env_history(self, state: State, env: str) -> list[EnvEntry]:
        return self._env_log(state, env)[0]

    def _env_log(self, state: State, env: str) -> tuple[list[EnvEntry], datetime | None]:
        """The environment's history, and the time of the oldest commit read when the log was
        cut at the limit (what is older is not known)."""
        config = state.config

        def compute() -> tuple[list[EnvEntry], datetime | None]:
            paths = [
                p
                for app in config.apps
                if env in config.app_environments(app)
                for p in env_paths(config, app, env)
            ]
            commits, cut = self._commits(state.snapshot.commit, paths)
            oldest: list[datetime] = []

            def noted() -> Iterator[tuple[Commit, Snapshot]]:
                for commit, snapshot in commits:
                    if not oldest:
                        oldest.append(commit.time)
                    yield commit, snapshot

            entries = env_history(config, env, noted(), baseline=cut)
            return entries, oldest[0] if cut and oldest else None

        return self._cached(state, "env", env, compute)

    def delivery(
        self, state: State, now: datetime, window: timedelta = delivery.WINDOW
    ) -> delivery.Report:
        """Delivery metrics from the histories the environment pages read (and cache): no
        commit more. The gauges follow the default window's figures."""
        config = state.config
        logs = {}
        for env in config.order:
            entries, since = self._env_log(state, env)
            logs[env] = delivery.Log(tuple(map(_delivery_change, entries)), since)
        upstreams = {e: config.environments[e].upstream for e in config.order}
        report = delivery.measure(config.order, upstreams, logs, now, window)
        if window == delivery.WINDOW:
            for figures in report.environments:
                lead = figures.lead_time.median if figures.lead_time is not None else None
                for gauge, value in (
                    (metrics.DELIVERY_PER_DAY, figures.per_day),
                    (metrics.DELIVERY_LEAD_TIME, lead),
                    (metrics.DELIVERY_FAILURE_RATE, figures.change_failure_rate),
                    (metrics.DELIVERY_RESTORE, figures.restore.median),
                ):
                    # nothing to measure is no sample, not a zero that reads as instant
                    if value is None:
                        gauge.remove(self.repo, figures.env)
                    else:
                        gauge.labels(self.repo, figures.env).set(value)
        return report

    def app_history(self, state: State, app: str) -> dict[str, list[HistoryEntry]]:
        config = state.config

        def compute() -> dict[str, list[HistoryEntry]]:
            paths = [p for env in config.app_environments(app) for p in env_paths(config, app, env)]
            commits, _ = self._commits(state.snapshot.commit, paths)
            return app_history(config, app, list(commits))

        return self._cached(state, "app", app, compute)

    def _commits(
        self, ref: str, paths: Sequence[str]
    ) -> tuple[Iterator[tuple[Commit, Snapshot]], bool]:
        """The newest commits that touched `paths` (oldest first), each with its snapshot read as
        it is needed; and whether the log was cut at the limit."""
        log = self.forge.log(ref, covering(paths), self.history_limit + 1) if paths else []
        cut = len(log) > self.history_limit

        def snapshots() -> Iterator[tuple[Commit, Snapshot]]:
            for commit in reversed(log):
                yield commit, self.forge.snapshot(commit.sha)

        return snapshots(), cut

    def _cached(self, state: State, kind: str, name: str, compute: Callable[[], T]) -> T:
        key = (state.snapshot.commit, kind, name)
        with self._history_lock:
            if key in self._histories:
                self._histories.move_to_end(key)
                return self._histories[key]  # type: ignore[no-any-return]
            value = compute()
            for old in [k for k in self._histories if k[0] != key[0]]:  # the head moved on
                del self._histories[old]
            self._histories[key] = value
            while len(self._histories) > 64:
                self._histories.popitem(last=False)
            return value
