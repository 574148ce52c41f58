"""The planner: from configuration and compositions to the promotions that are due. Pure.

A promotion makes some components of an app (or of a group of apps) in one environment equal
to its upstream's, or to a newly published version for an environment fed by sources. Plans
are pydantic models so the PR's hidden metadata block can carry them and parse back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from bot import fields, versions
from bot.composition import (
    Composition,
    HistoryEntry,
    Snapshot,
    Status,
    composition_id,
    link_problem,
)
from bot.config import Config, Source
from bot.errors import FieldError, PlanError

Change = Literal["up", "down", "changed", "same"]
# The name of an environment's batch (`batch:`): promobot/ENV/_batch. Names in .promobot.yaml
# start with a letter or digit, so no app or group can be called this.
BATCH = "_batch"
# Rollbacks have branches of their own, promobot/ENV/_rollback/APP-ID (ID: the composition it
# restores), beside the app's forward one: `_rollback` too is no app's or group's name, and git
# could not hold promobot/ENV/APP and a branch under it at once (a ref is a file, not a folder).
ROLLBACK = "_rollback"
Reason = Literal["upstream", "artifact", "manual", "set", "rollback"]


class _Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Row(_Plan):
    """One component of one app: what the environment runs now, after merge, and upstream."""

    component: str
    source: str
    before: str | None
    after: str | None
    upstream: str | None
    change: Change


class Edit(_Plan):
    """A file change: a version written at a field, or a path copied from upstream."""

    app: str
    component: str
    file: str
    field: str | None = None  # a selector or "marker NAME"; None for a copy
    copy_from: str | None = None
    copy_commit: str | None = None  # copy from this older commit (a rollback), not from the base
    before: str | None
    after: str | None


class AppPlan(_Plan):
    app: str
    before: str | None  # composition ids (None: not known, which is never planned; old PRs)
    after: str
    upstream: str | None
    rows: tuple[Row, ...]

    @property
    def changed(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.change != "same")


class Promotion(_Plan):
    env: str
    upstream: str | None  # the upstream environment; None when versions come from sources
    name: str  # the app, or the group of apps promoted together
    reason: Reason
    apps: tuple[AppPlan, ...]
    edits: tuple[Edit, ...]
    base: str | None = None  # the default-branch commit the plan was computed on
    commit: str | None = None  # the promotion commit promobot made for it, once made
    # who asked (/promote, /rollback, /refresh), kept through supersedes: never approvers
    requested_by: tuple[str, ...] = ()
    # other environments whose values change too: their component lives where this one's
    # does (a base, a file without {env}); only ever when a person said so (--shared)
    shared: tuple[str, ...] = ()
    # a rollback on its own branch (`ROLLBACK`); False in the records of rollbacks proposed
    # before rollbacks had one, which stay on promobot/ENV/NAME
    own_branch: bool = False

    @field_validator("requested_by", mode="before")
    @classmethod
    def _people(cls, value: object) -> object:
        return () if value is None else (value,) if isinstance(value, str) else value

    def asked_by(self, *people: str) -> Promotion:
        """This promotion, with `people` among those who asked for it."""
        asked = tuple(dict.fromkeys((*self.requested_by, *people)))
        return self.model_copy(update={"requested_by": asked})

    @property
    def branch(self) -> str:
        if self.own_branch:
            plan = self.apps[0]
            return f"promobot/{self.env}/{ROLLBACK}/{plan.app}-{plan.after}"
        return f"promobot/{self.env}/{self.name}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.env, self.name)

    @property
    def batched(self) -> bool:
        """Whether this gathers an environment's automatic promotions (`batch:`)."""
        return self.name == BATCH

    @property
    def display(self) -> str:
        """How people read the promotion's name: the app or group, or "N apps" for a batch."""
        if not self.batched:
            return self.name
        return f"{len(self.apps)} app" + ("" if len(self.apps) == 1 else "s")

    def same_change(self, other: Promotion) -> bool:
        """Whether two plans write the same versions (wherever they were computed)."""
        return self.key == other.key and self.edits == other.edits


def _order(config: Config, app: str, component: str) -> versions.Strategy | None:
    source = config.apps[app].components[component].source
    return None if source is None else source.sort


def _change(before: str | None, after: str, strategy: versions.Strategy | None) -> Change:
    if before == after:
        return "same"
    if strategy is None or before is None:
        return "changed"
    cmp = versions.compare(after, before, strategy)
    if cmp is None:
        return "changed"
    return "up" if cmp > 0 else "down" if cmp < 0 else "changed"


def _cell(
    current: Composition, app: str, env: str, only: Iterable[str] | None = None
) -> str | None:
    """Why the app's composition in `env` cannot take part in a plan, or None. A person who
    names only components that were read (`--only image`) may promote those."""
    if current.readable or (only is not None and not current.unreadable & set(only)):
        return None
    return f"{app} in {env} cannot be read: {current.why()}"


def _sharing(config: Config, app: str, component: str, env: str) -> tuple[str, ...]:
    """The other environments whose `component` of `app` lives where `env`'s does."""
    return tuple(e for e in config.shared(app, component, env) if e != env)


def shared_problem(config: Config, app: str, component: str, env: str) -> str | None:
    """Why changing `component` in `env` alone is refused, or None when it is `env`'s own."""
    others = _sharing(config, app, component, env)
    if not others:
        return None
    target = config.target(app, component, env)
    names = ", ".join(others)
    return (
        f"{app}.{component} in {env} lives in {target.describe}, which {names} "
        f"{'shares' if len(others) == 1 else 'share'}: changing it changes {names} too; say "
        "--shared to change it in all of them"
    )


def range_problem(before: str | None, after: str | None) -> bool:
    """Whether a change writes a range of versions over another value, or a version over a
    range: a policy changes, which only a person may ask for by name (--only)."""
    return before != after and any(v is not None and versions.is_range(v) for v in (before, after))


def held_back(
    config: Config, status: Status, env: str | None = None, apps: Iterable[str] | None = None
) -> list[str]:
    """What automatic plans leave alone, and why: cells that cannot be read, values shared
    with other environments, ranges that differ from upstream's."""
    notes = []
    for target_env in [env] if env else config.order:
        upstream = config.environments[target_env].upstream
        for app in config.apps if apps is None else apps:
            current = status.get(app, target_env)
            if current is None:
                continue
            why = _cell(current, app, target_env)
            if why is not None:
                notes.append(why)
                continue
            source = status.get(app, upstream) if upstream is not None else None
            if source is None or not source.readable:
                continue
            for component, version in source.components.items():
                before = current.components.get(component)
                if before == version:
                    continue
                if range_problem(before, version):
                    notes.append(
                        f"{app}.{component} in {target_env} is {before}, {upstream} has "
                        f"{version}: a range is a policy, promoted only when asked "
                        f"(--only {component})"
                    )
                elif (problem := shared_problem(config, app, component, target_env)) is not None:
                    notes.append(problem)
    return notes


def _source_label(config: Config, app: str, component: str) -> str:
    source = config.apps[app].components[component].source
    return source.label if source is not None else "files"


def _app_plan(
    config: Config,
    app: str,
    env: str,
    current: Composition,
    wanted: Mapping[str, str],
    upstream: Mapping[str, str] | None,
    upstream_id: str | None,
) -> AppPlan:
    rows = []
    for component in config.promoted(app):
        before = current.components.get(component)
        after = wanted.get(component, before)
        rows.append(
            Row(
                component=component,
                source=_source_label(config, app, component),
                before=before,
                after=after,
                upstream=(upstream or {}).get(component),
                change="same"
                if after is None
                else _change(before, after, _order(config, app, component)),
            )
        )
    after_components = {r.component: r.after for r in rows if r.after is not None}
    return AppPlan(
        app=app,
        before=current.id,
        # a component not read stays unknown after the merge too: no id stands for it
        after="?" if current.unreadable else composition_id(after_components),
        upstream=upstream_id,
        rows=tuple(rows),
    )


def _edits(config: Config, env: str, upstream: str | None, plans: Iterable[AppPlan]) -> list[Edit]:
    edits = []
    for plan in plans:
        for row in plan.changed:
            target = config.target(plan.app, row.component, env)
            if target.field is None:
                if upstream is None:
                    raise PlanError(
                        f"{plan.app}.{row.component} is a copy component and {env} has no "
                        "upstream to copy it from"
                    )
                source = config.target(plan.app, row.component, upstream).path
                edits.append(
                    Edit(
                        app=plan.app,
                        component=row.component,
                        file=target.path,
                        copy_from=source,
                        before=row.before,
                        after=row.after,
                    )
                )
            else:
                where = target.field.selector.text if target.field.selector else None
                edits.append(
                    Edit(
                        app=plan.app,
                        component=row.component,
                        file=target.path,
                        field=where or f"marker {target.field.marker}",
                        before=row.before,
                        after=row.after,
                    )
                )
    return edits


def _promotion(
    config: Config,
    status: Status,
    env: str,
    upstream: str | None,
    name: str,
    reason: Reason,
    plans: list[AppPlan],
) -> Promotion | None:
    plans = [p for p in plans if p.changed]
    if not plans:
        return None
    return Promotion(
        env=env,
        upstream=upstream,
        name=name,
        reason=reason,
        apps=tuple(plans),
        edits=tuple(_edits(config, env, upstream, plans)),
        base=status.ref,
    )


def _units(config: Config, apps: Iterable[str]) -> dict[str, list[str]]:
    """Promotion units: a group's apps go together; other apps alone."""
    units: dict[str, list[str]] = {}
    for app in apps:
        group = config.group_of(app)
        units.setdefault(group or app, []).append(app)
    return units


def resolve_name(config: Config, name: str) -> list[str]:
    """An app or group name → the apps it promotes (an app in a group promotes its group)."""
    if name in config.groups:
        return list(config.groups[name])
    if name not in config.apps:
        known = ", ".join([*config.apps, *config.groups])
        raise PlanError(f"unknown app {name!r}; known apps and groups: {known}")
    group = config.group_of(name)
    return list(config.groups[group]) if group else [name]


def plan(
    config: Config,
    status: Status,
    *,
    env: str | None = None,
    apps: Iterable[str] | None = None,
    only: Iterable[str] | None = None,
    explicit: bool = False,
    shared: bool = False,
) -> list[Promotion]:
    """Promotions that bring environments up to their upstream.

    Automatic plans only move forward and skip `propose: manual` environments; an explicit
    request (`/promote`, `promobot promote`) also proposes downgrades and manual environments.
    No plan involves a cell that cannot be read, a value other environments share (unless
    `shared`: a person said so), a range whose component was not named in `only`, or a
    `promote: never` value; a copy `with:` another component moves only with it.
    """
    if env is not None and env not in config.environments:
        raise PlanError(f"unknown environment {env!r}; known: {', '.join(config.order)}")
    only_set = None if only is None else set(only)
    if only_set is not None:
        known = {c for a in config.apps.values() for c in a.components}
        unknown = only_set - known
        if unknown:
            raise PlanError(
                f"unknown component {sorted(unknown)[0]!r} in --only; "
                f"components: {', '.join(sorted(known))}"
            )
    if env is not None and config.environments[env].upstream is None:
        raise PlanError(
            f"{env} has no upstream (no from:); it receives versions from sources — use "
            "`promobot set APP COMPONENT VERSION --env " + env + "`"
        )
    promotions = []
    for target_env in [env] if env else config.order:
        settings = config.environments[target_env]
        upstream = settings.upstream
        if upstream is None or (settings.propose == "manual" and not explicit):
            continue
        app_names = [
            a
            for a in (config.apps if apps is None else apps)
            if target_env in config.app_environments(a) and upstream in config.app_environments(a)
        ]
        for name, members in _units(config, app_names).items():
            plans: list[AppPlan] = []
            others: set[str] = set()
            for app in members:
                current = status.get(app, target_env)
                source = status.get(app, upstream)
                if current is None or source is None:
                    continue
                named = only_set if explicit else None
                unread = _cell(current, app, target_env, named) or _cell(
                    source, app, upstream, named
                )
                if unread is not None:
                    if explicit:
                        raise PlanError(f"cannot promote {app} to {target_env}: {unread}")
                    continue  # said by held_back() and everywhere the cell is shown
                wanted = {}
                for component, version in source.components.items():
                    if only_set is not None and component not in only_set:
                        continue
                    if component in current.linked:
                        if explicit:
                            raise PlanError(_linked(current, app, component, target_env))
                        continue  # never planned, so one link cannot stall every sync
                    before = current.components.get(component)
                    change = _change(before, version, _order(config, app, component))
                    if not (
                        change == "up" or (change != "same" and (explicit or change == "changed"))
                    ):
                        continue
                    if range_problem(before, version) and (only_set is None or not explicit):
                        continue  # a policy: only `--only COMPONENT` asks to change it
                    problem = shared_problem(config, app, component, target_env)
                    if problem is not None:
                        if not explicit:
                            continue
                        if not shared:
                            raise PlanError(problem)
                        others.update(_sharing(config, app, component, target_env))
                    wanted[component] = version
                wanted = _followers(config, app, wanted)
                plans.append(
                    _app_plan(
                        config, app, target_env, current, wanted, source.components, source.id
                    )
                )
            promotion = _promotion(config, status, target_env, upstream, name, "upstream", plans)
            if promotion is not None:
                update: dict[str, object] = {"shared": _in_order(config, others)}
                if explicit:
                    update["reason"] = "manual"
                promotions.append(promotion.model_copy(update=update))
    return promotions


def _followers(config: Config, app: str, wanted: dict[str, str]) -> dict[str, str]:
    """`wanted` without the copy components that follow (`with:`) one that does not move."""
    components = config.apps[app].components
    return {
        c: v
        for c, v in wanted.items()
        if components[c].with_ is None or components[c].with_ in wanted
    }


def _in_order(config: Config, envs: Iterable[str]) -> tuple[str, ...]:
    chosen = set(envs)
    return tuple(e for e in config.order if e in chosen)


AUTOMATIC = ("upstream", "artifact")  # the reasons a promotion is made without being asked


def batch(
    config: Config, promotions: Sequence[Promotion], alone: Iterable[str] = ()
) -> list[Promotion]:
    """Gather the automatic promotions into each environment with `batch:` into one.

    The promotions on `alone` branches stay as they are: an open PR already proposes them
    there (an explicit /promote, or a PR from before the environment was batched).
    """
    kept = set(alone)
    out: list[Promotion] = []
    gathered: dict[str, list[Promotion]] = {}
    for promotion in promotions:
        batched = config.environments[promotion.env].batch is not None
        if not batched or promotion.branch in kept or promotion.reason not in AUTOMATIC:
            out.append(promotion)
        else:
            gathered.setdefault(promotion.env, []).append(promotion)
    for members in gathered.values():
        apps = sorted((plan for p in members for plan in p.apps), key=lambda plan: plan.app)
        by_app: dict[str, list[Edit]] = {}
        for member in members:
            for edit in member.edits:
                by_app.setdefault(edit.app, []).append(edit)
        edits = [edit for plan in apps for edit in by_app.get(plan.app, [])]
        first = members[0]
        out.append(
            first.model_copy(update={"name": BATCH, "apps": tuple(apps), "edits": tuple(edits)})
        )
    return out


def plan_artifact(
    config: Config, status: Status, source_key: str, version: str, digest: str | None = None
) -> list[Promotion]:
    """A new version was published: promotions for every environment fed by that source."""
    return plan_artifacts(config, status, [(source_key, version, digest)])


def plan_artifacts(
    config: Config, status: Status, published: Sequence[tuple[str, str, str | None]]
) -> list[Promotion]:
    """New versions were published (or found by polling): promotions for the first environments.

    A component takes the newest published version its source selects that is newer than what
    the environment runs; sources with `digest: true` get it pinned as `tag@digest`.
    """
    by_key: dict[str, list[tuple[str, str | None]]] = {}
    for key, version, digest in published:
        by_key.setdefault(key, []).append((version, digest))
    promotions = []
    for env in config.order:
        if config.environments[env].upstream is not None:
            continue
        app_names = [a for a in config.apps if env in config.app_environments(a)]
        for name, members in _units(config, app_names).items():
            plans = []
            for app in members:
                current = status.get(app, env)
                if current is None or not current.readable:
                    continue  # a cell that cannot be read takes no version (held_back says so)
                wanted = {}
                for component, spec in config.apps[app].components.items():
                    source = spec.source
                    if source is None or source.key not in by_key or component in current.linked:
                        continue
                    if _sharing(config, app, component, env) or versions.is_range(
                        current.components.get(component, "")
                    ):
                        continue  # shared with other environments, or a range: a person's call
                    chosen = _newest_selected(
                        source, by_key[source.key], current.components.get(component)
                    )
                    if chosen is not None:
                        wanted[component] = chosen
                if wanted:
                    plans.append(_app_plan(config, app, env, current, wanted, wanted, None))
            promotion = _promotion(config, status, env, None, name, "artifact", plans)
            if promotion is not None:
                promotions.append(promotion)
    return promotions


def _newest_selected(
    source: Source, candidates: Sequence[tuple[str, str | None]], running: str | None
) -> str | None:
    best: str | None = None
    for version, digest in candidates:
        tag, pinned = versions.split_digest(version)
        if not versions.allowed(tag, source.policy):
            continue
        if running is not None and versions.is_newer(tag, running, source.sort) is False:
            continue
        if best is not None and versions.is_newer(tag, best, source.sort) is not True:
            continue
        pin = pinned or digest
        best = f"{tag}@{pin}" if source.digest and pin else tag
    return best


def plan_set(
    config: Config,
    status: Status,
    app: str,
    component: str,
    version: str,
    env: str,
    shared: bool = False,
) -> Promotion | None:
    """Set one component of one app in one environment to a given version."""
    if app not in config.apps:
        raise PlanError(f"unknown app {app!r}; known: {', '.join(config.apps)}")
    if component not in config.apps[app].components:
        known = ", ".join(config.apps[app].components)
        raise PlanError(f"{app} has no component {component!r}; components: {known}")
    if env not in config.app_environments(app):
        raise PlanError(
            f"{app} is not deployed to {env!r}; its environments: "
            f"{', '.join(config.app_environments(app))}"
        )
    spec = config.apps[app].components[component]
    if spec.target.copy_ is not None:
        raise PlanError(f"{app}.{component} is a copy component; promote it from upstream instead")
    if spec.shown:
        raise PlanError(f"{app}.{component} is promote: never: it is shown, never written")
    current = status.get(app, env) or Composition({})
    if component in current.linked:
        raise PlanError(_linked(current, app, component, env))
    unread = _cell(current, app, env, [component])
    if unread is not None:
        raise PlanError(f"cannot set {app}.{component} in {env}: {unread}")
    others = _shared_edits(config, app, env, [component], shared)
    plan = _app_plan(config, app, env, current, {component: version}, {component: version}, None)
    name = config.group_of(app) or app
    promotion = _promotion(config, status, env, None, name, "set", [plan])
    return None if promotion is None else promotion.model_copy(update={"shared": others})


def _linked(current: Composition, app: str, component: str, env: str) -> str:
    why = next((p for p in current.problems if p.startswith(f"{component}: ")), component)
    return f"cannot change {app}.{component} in {env}: {why.removeprefix(component + ': ')}"


def pick_rollback(history: Sequence[HistoryEntry], to: str, app: str, env: str) -> HistoryEntry:
    """The earlier composition `to` names: `previous`, a composition id, or a version."""
    if not history:
        raise PlanError(f"no history for {app} in {env} to roll back to")
    current = history[0].composition
    # a composition that could not be read is no place to go back to: what it was is unknown
    known = [e for e in history[1:] if e.composition.readable]
    if to == "previous":
        for entry in known:
            if entry.composition.id != current.id:
                return entry
        raise PlanError(f"{app} in {env} has run only {current.id}; there is no previous one")
    for entry in [history[0], *known]:
        if entry.composition.id == to or to in entry.composition.components.values():
            if entry.composition.id == current.id:
                raise PlanError(f"{app} in {env} already runs {to} ({current.id})")
            return entry
    ids = ", ".join(e.composition.id or "?" for e in history[:5])
    raise PlanError(
        f"{to!r} is not a composition id or version {app} ran in {env}; recent compositions: {ids}"
    )


def plan_rollback(
    config: Config,
    status: Status,
    app: str,
    env: str,
    target: HistoryEntry,
    only: Iterable[str] | None = None,
    shared: bool = False,
) -> Promotion | None:
    """Restore an earlier composition of one app in one environment (or only some components)."""
    only_set = None if only is None else set(only)
    current = status.get(app, env) or Composition({})
    unread = _cell(current, app, env, only_set)
    if unread is not None:
        raise PlanError(f"cannot roll back {app} in {env}: {unread}")
    wanted = {
        c: v
        for c, v in target.composition.components.items()
        if (only_set is None or c in only_set) and current.components.get(c) != v
    }
    linked = sorted(current.linked & wanted.keys())
    if linked:
        raise PlanError(_linked(current, app, linked[0], env))
    others = _shared_edits(config, app, env, wanted, shared)
    back = target.composition
    plan = _app_plan(config, app, env, current, wanted, back.components, back.id)
    if not plan.changed:
        return None
    # copy components are restored from the old commit: the environment is its own source
    edits = tuple(
        e.model_copy(update={"copy_commit": target.commit.sha}) if e.copy_from is not None else e
        for e in _edits(config, env, env, [plan])
    )
    return Promotion(
        env=env,
        upstream=None,
        name=config.group_of(app) or app,
        reason="rollback",
        apps=(plan,),
        edits=edits,
        base=status.ref,
        shared=others,
        own_branch=True,
    )


def _shared_edits(
    config: Config, app: str, env: str, wanted: Iterable[str], shared: bool
) -> tuple[str, ...]:
    """The other environments that changing `wanted` components in `env` changes too; a
    PlanError when there are some and the person did not say --shared."""
    others: set[str] = set()
    for component in wanted:
        problem = shared_problem(config, app, component, env)
        if problem is not None and not shared:
            raise PlanError(problem)
        others.update(_sharing(config, app, component, env))
    return _in_order(config, others)


def apply(
    config: Config,
    promotion: Promotion,
    snapshot: Snapshot,
    older: Mapping[str, Snapshot] | None = None,
) -> dict[str, bytes | None]:
    """The new content of every file the promotion touches (None: delete). Confirms each write.

    `older` holds the snapshots of earlier commits a rollback copies files back from.
    """
    out: dict[str, bytes | None] = {}

    def content(path: str) -> str:
        data = out[path] if path in out else snapshot.files.get(path)
        if data is None:
            raise FieldError(f"{path}: not in the repository")
        return data.decode("utf-8")

    for edit in promotion.edits:
        _no_link(snapshot, edit.file)
        if edit.copy_from is not None:
            if edit.copy_commit is not None:
                if older is None or edit.copy_commit not in older:
                    raise PlanError(f"the files of {edit.copy_commit[:12]} are needed to roll back")
                _no_link(older[edit.copy_commit], edit.copy_from)
                _restore(older[edit.copy_commit], snapshot, edit.file, out)
            else:
                _no_link(snapshot, edit.copy_from)
                _copy(snapshot, edit.copy_from, edit.file, out)
            continue
        assert edit.after is not None
        target = config.target(edit.app, edit.component, promotion.env).field
        assert target is not None
        out[edit.file] = fields.write(content(edit.file), target, edit.after).encode("utf-8")
    return out


def _no_link(snapshot: Snapshot, path: str) -> None:
    """Refuse a path that is, passes through or holds a symbolic link (a plan made elsewhere,
    or the repo moved since): writing it would follow the link or replace it."""
    link = snapshot.link_on(path)
    if link is not None:
        raise PlanError(link_problem(path, link))


def _restore(old: Snapshot, now: Snapshot, path: str, out: dict[str, bytes | None]) -> None:
    """Make `path` (a file or folder) in `now` what it was in `old`."""
    path = path.rstrip("/")
    if path not in old.trees and path not in now.trees:
        out[path] = old.files.get(path)
        return
    wanted, existing = old.blobs_under(path), now.blobs_under(path)
    for rel, oid in sorted(wanted.items()):
        if existing.get(rel) != oid:
            out[f"{path}/{rel}"] = old.files[f"{path}/{rel}"]
    for rel in sorted(existing.keys() - wanted.keys()):
        out[f"{path}/{rel}"] = None


def _copy(snapshot: Snapshot, source: str, dest: str, out: dict[str, bytes | None]) -> None:
    """Make dest equal to source: a file, or a folder with files added, changed and deleted."""
    source, dest = source.rstrip("/"), dest.rstrip("/")
    if source not in snapshot.trees:
        out[dest] = snapshot.files[source]
        return
    wanted = snapshot.blobs_under(source)
    existing = snapshot.blobs_under(dest)
    for rel, oid in sorted(wanted.items()):
        if existing.get(rel) != oid:
            out[f"{dest}/{rel}"] = snapshot.files[f"{source}/{rel}"]
    for rel in sorted(existing.keys() - wanted.keys()):
        out[f"{dest}/{rel}"] = None
