"""The engine: carries out plans against a forge.

It reads the configuration from the base branch (so a promotion cannot change its own gates),
reads compositions, asks the planner what is due and turns a promotion into one commit.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot import composition, config, planner, render
from bot.composition import Snapshot, Status
from bot.config import Config
from bot.errors import ConfigError, Problem
from bot.forges.local import LocalForge


@dataclass(frozen=True)
class State:
    """The environment repo at one commit: its configuration, files and compositions."""

    config: Config
    snapshot: Snapshot
    status: Status


def load_config(forge: LocalForge, ref: str) -> Config:
    raw = forge.read_file(ref, config.FILENAME)
    if raw is None:
        raise ConfigError(
            [
                Problem(
                    config.FILENAME, 0, 0, f"not found at {ref}; create it (see config/README.md)"
                )
            ]
        )
    return config.load(raw.decode("utf-8", errors="replace"))


def read_state(
    forge: LocalForge,
    ref: str = "HEAD",
    apps: Iterable[str] | None = None,
    environments: Iterable[str] | None = None,
) -> State:
    cfg = load_config(forge, ref)
    app_list = list(cfg.apps) if apps is None else list(apps)
    snapshot = forge.snapshot(ref, prefetch=composition.required_paths(cfg, app_list))
    return State(cfg, snapshot, composition.status(cfg, snapshot, app_list, environments))


@dataclass(frozen=True)
class Opened:
    promotion: planner.Promotion
    commit: str
    title: str
    body: str


def open_local(forge: LocalForge, state: State, promotion: planner.Promotion) -> Opened:
    """Create the promotion branch with one commit on the state's commit."""
    changes = planner.apply(state.config, promotion, state.snapshot)
    title = render.title(promotion)
    body = render.body(
        promotion, state.config, diffs=copy_diffs(promotion, state.snapshot, changes)
    )
    commit = forge.commit_branch(promotion.branch, state.snapshot.commit, changes, title)
    return Opened(promotion, commit, title, body)


def history(
    forge: LocalForge, cfg: Config, app: str, env: str, ref: str = "HEAD", limit: int = 200
) -> list[composition.HistoryEntry]:
    """The app's compositions in one environment over the git log, newest first."""
    paths = sorted({cfg.target(app, c, env).path for c in cfg.apps[app].components})
    commits = forge.log(ref, paths, limit)[::-1]
    snapshots = ((c, forge.snapshot(c.sha, prefetch=paths, paths=paths)) for c in commits)
    return composition.history(cfg, app, env, snapshots)


def copy_diffs(
    promotion: planner.Promotion, snapshot: Snapshot, changes: Mapping[str, bytes | None]
) -> dict[str, str]:
    """Unified diffs of the files a copy component changes, keyed by the copied path."""
    diffs: dict[str, str] = {}
    for edit in promotion.edits:
        if edit.copy_from is None:
            continue
        parts: list[str] = []
        for path in sorted(p for p in changes if p == edit.file or p.startswith(edit.file + "/")):
            old = snapshot.files.get(path, b"").decode("utf-8", errors="replace")
            new = (changes[path] or b"").decode("utf-8", errors="replace")
            parts.extend(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    f"a/{path}",
                    f"b/{path}" if changes[path] is not None else "/dev/null",
                )
            )
        diffs[edit.file] = "".join(parts)
    return diffs
