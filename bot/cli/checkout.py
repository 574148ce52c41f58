"""The checkout a command reads: its `.promobot.yaml` at a ref, read and validated once a run,
and the versions of its apps through the version cache in the git directory."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot import composition, config
from bot.composition import Snapshot, State, Status
from bot.errors import PromobotError
from bot.forges.local import LocalForge
from bot.versioncache import VersionCache

if TYPE_CHECKING:
    from bot.planner import Promotion


def _open(repo: Path, ref: str) -> tuple[LocalForge, Snapshot, config.Config]:
    """The checkout at `ref` and its configuration, read and validated once for the run.

    A commit from before `.promobot.yaml` existed is read with today's (HEAD's, or the working
    tree's when HEAD has none yet), which a line on stderr says: its environments are what the
    repo's files were then, even if nobody had written down their order."""
    forge = LocalForge(repo)
    snapshot = forge.snapshot(ref)
    raw = snapshot.files.get(config.FILENAME)
    if raw is None and ref != "HEAD":
        raw, where = _todays_config(forge, repo)
        if raw is not None:
            click.secho(
                f"note: {ref} ({snapshot.commit[:12]}) has no {config.FILENAME}; "
                f"reading it with today's, from {where}",
                fg="yellow",
                err=True,
            )
    return forge, snapshot, config.load_at(raw, snapshot.commit)


def _todays_config(forge: LocalForge, repo: Path) -> tuple[bytes | None, str]:
    head = forge.snapshot("HEAD")
    raw = head.files.get(config.FILENAME)
    if raw is not None:
        return raw, f"HEAD ({head.commit[:12]})"
    path = repo / config.FILENAME
    return (path.read_bytes(), "the working tree") if path.is_file() else (None, "")


def _status(
    forge: LocalForge,
    snapshot: Snapshot,
    cfg: config.Config,
    apps: Iterable[str] | None = None,
    envs: Iterable[str] | None = None,
) -> Status:
    """Every app × environment asked for, parsing only files whose versions are not cached."""
    apps = None if apps is None else list(apps)
    envs = None if envs is None else list(envs)
    cache = VersionCache.of(forge.store.parent)
    snapshot.prefetch(composition.unread(cfg, snapshot, cache.memo, apps, envs))
    result = composition.status(cfg, snapshot, apps, envs, cache.memo)
    if cache.changed:
        objects = snapshot.objects
        cache.save([objects[p] for p in composition.required_paths(cfg, apps) if p in objects])
    return result


def _state(forge: LocalForge, snapshot: Snapshot, cfg: config.Config, apps: Iterable[str]) -> State:
    return State(cfg, snapshot, _status(forge, snapshot, cfg, apps))


def _due(
    forge: LocalForge,
    snapshot: Snapshot,
    cfg: config.Config,
    app: str,
    env: str,
    only: list[str] | None,
    shared: bool = False,
) -> tuple[State, list[str], list[Promotion]]:
    """What a person asks for with APP (or a group) and ENV: the repo's state for those apps,
    the apps, and the promotions due into ENV (`promote` makes them, `diff` shows them)."""
    from bot import planner

    apps = planner.resolve_name(cfg, app)
    state = _state(forge, snapshot, cfg, apps)
    promotions = planner.plan(
        state.config, state.status, env=env, apps=apps, only=only, explicit=True, shared=shared
    )
    return state, apps, promotions


def _check_names(cfg: config.Config, apps: Iterable[str], envs: Iterable[str]) -> None:
    for app in apps:
        if app not in cfg.apps:
            raise PromobotError(f"unknown app {app!r}; known: {', '.join(cfg.apps)}")
    for env in envs:
        if env not in cfg.environments:
            raise PromobotError(f"unknown environment {env!r}; known: {', '.join(cfg.order)}")
