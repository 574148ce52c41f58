"""Histories: what changed in an environment, or in an app's environments, commit by commit."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot import composition, delivery
from bot.composition import Commit, Composition, HistoryEntry, Snapshot
from bot.config import Config

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


def delivery_change(entry: EnvEntry) -> delivery.Change:
    """One history entry as the delivery metrics count it."""
    return delivery.Change(
        entry.commit.sha,
        entry.commit.time,
        entry.commit.subject,
        {c.app: (_components(c.before), _components(c.after)) for c in entry.changes},
        entry.first,
    )
