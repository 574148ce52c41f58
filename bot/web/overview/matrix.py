"""The matrix: every app × environment, each cell against its upstream, with the open promotion
that changes it and what its cluster runs. Pure: values in, values out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot import names, versions
from bot.composition import Composition, Status
from bot.config import Config
from bot.live.state import Live
from bot.names import matches
from bot.web.overview.promotions import OpenPromotion


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
    if settings.auto_merges:
        out.append("auto-merge" if settings.auto_merge is True else "auto-merge (by impact)")
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
