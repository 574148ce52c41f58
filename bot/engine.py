"""The engine: turns "something happened" into forge actions by recomputing, never by remembering.

Every call re-reads the environment repo at the default branch's head (cached by commit SHA),
re-plans, and then changes only what differs from what the forge already shows: one open PR
per (environment, app or group) on `promobot/<env>/<name>`, found by its branch and read back
from the metadata block in its body. Running the same sync twice does nothing the second time.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot import composition, config, planner, render
from bot.composition import Snapshot, Status
from bot.config import Config
from bot.errors import ConfigError, Problem
from bot.forges.base import Forge, PullRequest

LABEL = "promotion"
Published = tuple[str, str, str | None]  # (source key, version, digest) of a new artifact
CLOSED_LABEL = "promobot:closed"  # promobot closed it (a no-op); a human close has no such label
HUMAN_PUSH_MARKER = "<!-- promobot:human-push -->"


@dataclass(frozen=True)
class State:
    """The environment repo at one commit: its configuration, files and compositions."""

    config: Config
    snapshot: Snapshot
    status: Status


def load_config(snapshot: Snapshot) -> Config:
    raw = snapshot.files.get(config.FILENAME)
    if raw is None:
        where = snapshot.commit[:12]
        raise ConfigError(
            [
                Problem(
                    config.FILENAME, 0, 0, f"not found at {where}; create it (see config/README.md)"
                )
            ]
        )
    return config.load(raw.decode("utf-8", errors="replace"))


def config_at(forge: Forge, ref: str) -> Config:
    snapshot = forge.snapshot(ref)
    snapshot.prefetch([config.FILENAME])
    return load_config(snapshot)


def read_state(
    forge: Forge,
    ref: str = "HEAD",
    apps: Iterable[str] | None = None,
    environments: Iterable[str] | None = None,
) -> State:
    snapshot = forge.snapshot(ref)
    snapshot.prefetch([config.FILENAME])
    cfg = load_config(snapshot)
    app_list = list(cfg.apps) if apps is None else list(apps)
    snapshot.prefetch(composition.required_paths(cfg, app_list))
    return State(cfg, snapshot, composition.status(cfg, snapshot, app_list, environments))


def labels(promotion: planner.Promotion) -> tuple[str, ...]:
    return (LABEL, f"env:{promotion.env}", f"app:{promotion.name}")


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


@dataclass(frozen=True)
class Prepared:
    """A promotion made concrete: its commit on the forge and the PR text that goes with it."""

    promotion: planner.Promotion
    commit: str
    title: str
    body: str


def prepare(
    forge: Forge,
    state: State,
    promotion: planner.Promotion,
    older: Mapping[str, Snapshot] | None = None,
) -> Prepared:
    """Write the promotion's commit on its branch (exactly one commit on the state's commit)."""
    changes = planner.apply(state.config, promotion, state.snapshot, older)
    title = render.title(promotion)
    commit = forge.commit_files(promotion.branch, state.snapshot.commit, changes, title)
    made = promotion.model_copy(update={"commit": commit, "base": state.snapshot.commit})
    diffs = copy_diffs(promotion, state.snapshot, changes)
    return Prepared(made, commit, title, render.body(made, state.config, diffs=diffs))


def history(
    forge: Forge, cfg: Config, app: str, env: str, ref: str = "HEAD", limit: int = 50
) -> list[composition.HistoryEntry]:
    """The app's compositions in one environment over the git log, newest first.

    One snapshot per commit that touched the app's files (a tarball each on GitHub and
    GitLab), so callers keep `limit` small: this serves /history, rollbacks and soak timers.
    """
    paths = sorted({cfg.target(app, c, env).path for c in cfg.apps[app].components})
    commits = forge.log(ref, paths, limit)[::-1]

    def snapshots() -> Iterator[tuple[composition.Commit, Snapshot]]:
        for commit in commits:
            snapshot = forge.snapshot(commit.sha)
            snapshot.prefetch(paths)
            yield commit, snapshot

    return composition.history(cfg, app, env, snapshots())


def running_since(
    entries: Sequence[composition.HistoryEntry], versions: Mapping[str, str]
) -> datetime | None:
    """Since when the environment has run exactly `versions` (its history, newest first)."""
    since = None
    for entry in entries:
        if any(entry.composition.components.get(c) != v for c, v in versions.items()):
            break
        since = entry.commit.time
    return since


# --- syncing with a forge -------------------------------------------------------------------------

Outcome = Literal["opened", "superseded", "unchanged", "closed", "human-closed", "human-pushed"]


@dataclass(frozen=True)
class Action:
    outcome: Outcome
    branch: str
    number: int | None
    detail: str = ""


def still_changes(promotion: planner.Promotion, status: Status) -> bool:
    """Whether merging the promotion would still change anything in the environment."""
    for plan in promotion.apps:
        current = status.get(plan.app, promotion.env)
        if current is None:
            continue
        for row in plan.changed:
            if current.components.get(row.component) != row.after:
                return True
    return False


class Engine:
    """Keeps a forge's promotion PRs in step with what the environment repo says is due."""

    def __init__(self, forge: Forge) -> None:
        self.forge = forge
        self._states: dict[str, State] = {}

    def state(self, sha: str | None = None) -> State:
        """The repo at the default branch's head (or `sha`), read once per commit."""
        sha = sha or self.forge.head()
        if sha is None:
            raise ConfigError([Problem(config.FILENAME, 0, 0, "the default branch has no commits")])
        if sha not in self._states:
            self._states = {sha: read_state(self.forge, sha)}  # keep only the newest
        return self._states[sha]

    @property
    def latest(self) -> State | None:
        """The last state read, without asking the forge."""
        return next(iter(self._states.values()), None)

    def due(self, state: State, artifacts: Sequence[Published] = ()) -> list[planner.Promotion]:
        """Cascades from upstream environments, and new versions for the first environments."""
        promotions = planner.plan(state.config, state.status)
        if artifacts:
            promotions += planner.plan_artifacts(state.config, state.status, artifacts)
        return promotions

    def sync(self, artifacts: Sequence[Published] = ()) -> list[Action]:
        state = self.state()
        actions = [self.ensure(state, p) for p in self.due(state, artifacts)]
        actions += self.close_no_ops(state, {a.branch for a in actions})
        return actions

    def ensure(
        self,
        state: State,
        promotion: planner.Promotion,
        *,
        rebuild: bool = False,
        older: Mapping[str, Snapshot] | None = None,
    ) -> Action:
        """Make the forge show exactly this promotion: open, supersede, or leave it be.

        `rebuild` remakes the commit on the current base even when the change is the same
        (`/refresh`, or an explicit request that should take over an automatic PR).
        """
        pr = self.forge.find_pr(promotion.branch)
        if pr is None:
            return self._open(state, promotion, older)
        meta = render.parse_meta(pr.body)
        if meta is not None and meta.commit is not None and pr.head_sha != meta.commit:
            return self._human_pushed(pr)
        if not rebuild and meta is not None and meta.same_change(promotion):
            return Action("unchanged", promotion.branch, pr.number)
        prepared = prepare(self.forge, state, promotion, older)
        self.forge.update_pr(
            pr.number, title=prepared.title, body=prepared.body, labels=_keep(pr, promotion)
        )
        return Action("superseded", promotion.branch, pr.number, prepared.title)

    def _open(
        self,
        state: State,
        promotion: planner.Promotion,
        older: Mapping[str, Snapshot] | None = None,
    ) -> Action:
        closed = self.forge.find_pr(promotion.branch, state="closed")
        if closed is not None and closed.state == "closed" and CLOSED_LABEL not in closed.labels:
            meta = render.parse_meta(closed.body)
            if meta is not None and meta.same_change(promotion):
                return Action("human-closed", promotion.branch, closed.number)
        prepared = prepare(self.forge, state, promotion, older)
        pr = self.forge.open_pr(promotion.branch, prepared.title, prepared.body, labels(promotion))
        if pr.body != prepared.body:  # an adopted PR (made by a run that died half-way)
            self.forge.update_pr(pr.number, title=prepared.title, body=prepared.body)
        return Action("opened", promotion.branch, pr.number, prepared.title)

    def _human_pushed(self, pr: PullRequest) -> Action:
        if not any(HUMAN_PUSH_MARKER in c.body for c in self.forge.comments(pr.number)):
            self.forge.comment(
                pr.number,
                f"{HUMAN_PUSH_MARKER}Someone pushed to `{pr.branch}`, so promobot will not "
                "rewrite it any more: newer versions will not supersede this PR. Close it to let "
                "promobot open a fresh one, or merge it as it is.",
            )
        return Action("human-pushed", pr.branch, pr.number)

    def close_no_ops(self, state: State, keep: set[str]) -> list[Action]:
        """Close open promotion PRs whose change the environment already has."""
        actions = []
        for pr in self.forge.list_prs(label=LABEL):
            if pr.branch in keep:
                continue
            meta = render.parse_meta(pr.body)
            if meta is None or still_changes(meta, state.status):
                continue
            self.forge.comment(
                pr.number,
                f"Closing: {meta.env} already runs these versions (as of "
                f"{state.snapshot.commit[:12]}), so this promotion would change nothing.",
            )
            self.forge.update_pr(pr.number, labels=(*pr.labels, CLOSED_LABEL))
            self.forge.close_pr(pr.number)
            actions.append(Action("closed", pr.branch, pr.number))
        return actions


def _keep(pr: PullRequest, promotion: planner.Promotion) -> tuple[str, ...]:
    """promobot's labels plus whatever people added (a hold, a team label)."""
    return tuple(dict.fromkeys((*labels(promotion), *pr.labels)))
