"""The engine: turns "something happened" into forge actions by recomputing, never by remembering.

Every call re-reads the environment repo at the default branch's head (cached by commit SHA),
re-plans, and then changes only what differs from what the forge already shows: one open PR
per (environment, app or group) on `promobot/<env>/<name>`, and one per rollback on a branch of
its own (`Promotion.branch`), found by its branch and read back from the metadata block in its
body. Running the same sync twice does nothing the second time.

A PR is promobot's only when promobot's own account opened it and its metadata carries
promobot's signature for that branch (`bot.signing`); anything else on a `promobot/` branch is
left alone with one comment saying why. A branch is promobot's to replace only while its head
is a commit promobot made for it (`made_by_promobot`); one that is not is never written, and
said once. One promotion that cannot be computed or written is reported (log, metric,
`Engine.problems`, a comment on its PR) and the others go on.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from bot import composition, config, gates, planner, render
from bot.changelog.notes import Changelog
from bot.composition import Snapshot, State, Status
from bot.config import Config
from bot.errors import (
    ConfigError,
    Moved,
    Problem,
    PromobotError,
    RateLimited,
    Taken,
    Unavailable,
)
from bot.forges.base import Account, Comment, Forge, Head, PullRequest
from bot.gates import IMPACT_LABEL, GateResult
from bot.live.state import Running
from bot.logs import redact_urls
from bot.manifests.model import IMPACTS, AppDiff
from bot.signing import Signer

log = logging.getLogger("promobot.engine")

LABEL = "promotion"
# what a promotion's commit changes in the cluster: (state, the promotion made, its changes)
Diffing = Callable[[State, planner.Promotion, Mapping[str, bytes | None]], Sequence[AppDiff] | None]
Published = tuple[str, str, str | None]  # (source key, version, digest) of a new artifact
CLOSED_LABEL = "promobot:closed"  # promobot closed it (a no-op); a human close has no such label


def load_config(snapshot: Snapshot) -> Config:
    return config.load_at(snapshot.files.get(config.FILENAME), snapshot.commit)


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
    what = "batch" if promotion.batched else f"app:{promotion.name}"
    return (LABEL, f"env:{promotion.env}", what)


def impact_labels(diffs: Sequence[AppDiff] | None) -> tuple[str, ...]:
    """The labels of what a promotion changes in the cluster (`gates.impact_labels`); none
    when it was not rendered at all (promobot renders nothing here)."""
    if diffs is None:
        return ()
    present = {each for d in diffs for each in d.impact}
    known = all(d.known for d in diffs)
    return gates.impact_labels(tuple(c for c in IMPACTS if c in present) if known else None)


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
            lines = difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                f"a/{path}",
                f"b/{path}" if changes[path] is not None else "/dev/null",
            )
            parts.extend(_terminated(lines))
        diffs[edit.file] = "".join(parts)
    return diffs


def _terminated(lines: Iterable[str]) -> Iterator[str]:
    """difflib's lines, each ending in a newline: a file's last line without one is followed
    by git's marker, instead of running into the next line of the diff."""
    for line in lines:
        if line.endswith("\n"):
            yield line
        else:
            yield line + "\n\\ No newline at end of file\n"


@dataclass(frozen=True)
class Prepared:
    """A promotion made concrete: its commit on the forge and the PR text that goes with it."""

    promotion: planner.Promotion
    commit: str
    title: str
    body: str
    diffs: Mapping[str, str] = field(default_factory=dict)  # of copied files, by copied path
    impact: Sequence[AppDiff] | None = None  # what it changes in the cluster, when rendered

    @property
    def labels(self) -> tuple[str, ...]:
        """promobot's labels for it: its kind, its environment, and its impact classes."""
        return labels(self.promotion) + impact_labels(self.impact)


def made_by_promobot(
    head: Head, branch: str, signer: Signer, vouched: Iterable[str | None] = ()
) -> bool:
    """Whether the commit at a branch's head is one promobot made for that branch: its message
    ends with promobot's trailer for the branch and the commit's parent and nobody committed it
    again (an amend keeps the trailer), or a signed promotion record names it (`vouched`: the
    commits of promobot's PRs on the branch, which also covers branches made before commits
    carried the trailer)."""
    if head.sha in vouched:
        return True
    return not head.recommitted and signer.made(head.message, branch, head.parent)


def prepare(
    forge: Forge,
    state: State,
    promotion: planner.Promotion,
    signer: Signer,
    older: Mapping[str, Snapshot] | None = None,
    gates: Sequence[GateResult] = (),
    running: Sequence[Running] = (),
    changelogs: Sequence[Changelog] = (),
    *,
    over: str | None = None,
    vouched: Iterable[str | None] = (),
    impact: Diffing | None = None,
    diff_link: str | None = None,
) -> Prepared:
    """Write the promotion's commit on its branch (exactly one commit on the state's commit);
    `gates`, what the environment runs and the changelogs, when known, go into the body, and
    what the commit changes in the cluster (`impact`, given the promotion made and its
    changes) into the body and the labels.

    A branch that exists is replaced only over `over` (its head, known to be promobot's) or a
    head `made_by_promobot`; else Taken, and nothing is written."""
    changes = planner.apply(state.config, promotion, state.snapshot, older)
    title = render.title(promotion)
    branch, base = promotion.branch, state.snapshot.commit
    known = tuple(vouched)
    commit = forge.commit_files(
        branch,
        base,
        changes,
        f"{title}\n\n{signer.trailer(branch, base)}",
        over=over,
        mine=lambda head: made_by_promobot(head, branch, signer, known),
    )
    made = promotion.model_copy(update={"commit": commit, "base": state.snapshot.commit})
    diffs = copy_diffs(promotion, state.snapshot, changes)
    rendered = impact(state, made, changes) if impact is not None else ()
    body = render.body(
        made,
        state.config,
        gates,
        signer=signer,
        diffs=diffs,
        running=running,
        changelogs=changelogs,
        # (): nothing renders here, so nothing is said; None: not ready yet, and said so
        impact=render.UNSAID if rendered == () else rendered,
        diff_link=diff_link,
    )
    return Prepared(made, commit, title, body, diffs, rendered or None)


def written_paths(promotion: planner.Promotion) -> tuple[set[str], tuple[str, ...]]:
    """The files a promotion writes, and the folders whose files it may add, change or delete
    (copy components of a folder)."""
    files = {edit.file for edit in promotion.edits}
    folders = tuple(f"{e.file.rstrip('/')}/" for e in promotion.edits if e.copy_from is not None)
    return files, folders


def outside(promotion: planner.Promotion, paths: Iterable[str]) -> list[str]:
    """The paths among `paths` that the promotion does not write."""
    files, folders = written_paths(promotion)
    return sorted(p for p in paths if p not in files and not p.startswith(folders))


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

Outcome = Literal[
    "opened",
    "superseded",
    "unchanged",
    "closed",
    "human-closed",
    "human-pushed",
    "not-ours",
    "failed",
    "committed",  # straight to the default branch (`propose: commit`)
    "moved",  # not committed: the default branch moved meanwhile; the next pass retries
    "deferred",  # a batched environment was written less than its window ago
    "taken",  # not written: the branch's head is a commit promobot did not make for it
]


@dataclass(frozen=True)
class Action:
    outcome: Outcome
    branch: str
    number: int | None
    detail: str = ""
    pr: PullRequest | None = None  # the PR as it is now, when this action changed it
    wait: float = 0.0  # deferred: seconds until the environment's window lets it be written


@contextmanager
def isolated(what: str, **fields: object) -> Iterator[None]:
    """One item of a batch (a PR to evaluate, a comment to run): a failure is logged and the
    batch goes on. The forge being down or out of budget still ends the job, to be retried."""
    try:
        yield
    except (Unavailable, RateLimited):
        raise
    except Exception as exc:
        log.warning(what, extra={**fields, "error": public(exc)}, exc_info=_is_bug(exc))


def public(exc: Exception) -> str:
    """What may be said of an error in a log, a PR comment or a page: never a credential, and
    nothing of an internal error but that it happened (its traceback goes to the log)."""
    return "an internal error" if _is_bug(exc) else redact_urls(str(exc))


def _is_bug(exc: Exception) -> bool:
    return not isinstance(exc, PromobotError)


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


@dataclass(frozen=True)
class Failure:
    """A promotion that could not be computed or written, and why (shown in the overview)."""

    branch: str
    error: str


class Engine:
    """Keeps a forge's promotion PRs in step with what the environment repo says is due."""

    def __init__(self, forge: Forge, signer: Signer) -> None:
        self.forge = forge
        self.signer = signer
        # the gates a promotion will meet, so its PR opens with the checklist already written
        # (the service sets the gatekeeper's; without one the checklist says "not evaluated")
        # the gates and what the cluster runs, for a PR's body as it opens (the gatekeeper's)
        self.preview: (
            Callable[[State, planner.Promotion], tuple[Sequence[GateResult], Sequence[Running]]]
            | None
        ) = None
        # Batched environments (`batch:`) are written at most once per window: given a key and
        # the window in seconds, the seconds left to wait, or 0 when a write may start the next
        # window now (the service keeps windows in the queue's store; None: never wait).
        self.window: Callable[[str, float], float] | None = None
        # why automatic promotions from an environment wait (its verification after a merge
        # failed), or None: the service reads it from the queue's store
        self.holds: Callable[[str], str | None] | None = None
        # the changelogs of the versions a promotion skips, for its body (bot.changelog's
        # Finder: it answers within its time budget and never raises; None: no changelogs)
        self.changelogs: Callable[[Config, planner.Promotion], Sequence[Changelog]] | None = None
        # what a promotion's commit changes in the cluster (bot.impacts; it never raises),
        # and what it found for a commit since, computing nothing
        self.impact: Diffing | None = None
        self.impact_known: Callable[[planner.Promotion], Sequence[AppDiff] | None] | None = None
        self.diff_link: str | None = None  # the overview's address, where full diffs are
        # the versions whose verification failed in an environment (app → component →
        # version): automatic promotions do not bring them there again; /promote still can
        self.refused: Callable[[str], list[dict[str, dict[str, str]]]] | None = None
        # told of every PR promobot opened, superseded or closed, with its promotion (the
        # service writes the audit record)
        self.on_action: Callable[[Action, planner.Promotion, PullRequest | None], None] | None = (
            None
        )
        self._states: dict[str, State] = {}
        self._me: Account | None = None
        self.problems: dict[str, Failure] = {}  # by branch; the last sync's failures
        # branches whose newest PR a person closed: asked of the forge once, not every sync
        self._closed: dict[str, PullRequest] = {}
        # branches found holding someone else's head, by branch: that head, said once and
        # looked at again (one read) before anything is written there
        self._taken: dict[str, str] = {}

    @property
    def me(self) -> Account:
        """promobot's own account, as the forge reports it."""
        if self._me is None:
            self._me = self.forge.identity()
        return self._me

    def mine(self, comment: Comment) -> bool:
        """Whether promobot's own account wrote a comment (by id, never by name)."""
        return comment.user_id is not None and comment.user_id == self.me.id

    def promotion_of(self, pr: PullRequest) -> planner.Promotion | None:
        """The promotion a PR carries, if promobot opened it and signed it for its branch."""
        if pr.author_id is not None and pr.author_id != self.me.id:
            return None
        if pr.author_id is None and pr.author != self.me.login:
            return None
        return render.parse_meta(pr.body, self.signer, pr.branch)

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
        if self.holds is not None:  # an environment whose verification failed holds its own
            held = {e for e in state.config.environments if self.holds(e)}
            promotions = [p for p in promotions if p.upstream not in held]
        if self.refused is not None:  # and what failed there is not proposed there again
            promotions = [p for p in promotions if not _refused(p, self.refused(p.env))]
        return promotions

    def open_prs(self) -> dict[str, PullRequest]:
        """The open promotion PRs by branch: a page per hundred."""
        return {pr.branch: pr for pr in self.forge.list_prs(label=LABEL)}

    def sync(
        self, artifacts: Sequence[Published] = (), open_prs: Mapping[str, PullRequest] | None = None
    ) -> list[Action]:
        """Open, supersede or close promotion PRs until the forge shows what is due.

        The open promotion PRs are listed once (or given: what the caller's last listing and
        promobot's own actions since say), so a promotion whose PR already proposes it costs no
        call at all, however many PRs are open."""
        state = self.state()
        if open_prs is None:
            open_prs = self.open_prs()
        for branch in open_prs:
            self._closed.pop(branch, None)
        problems: dict[str, Failure] = {}
        actions = []
        due = planner.batch(state.config, self.due(state, artifacts), alone=open_prs.keys())
        direct = []
        for promotion in due:
            try:
                open_pr = open_prs.get(promotion.branch)
                deferred = self._deferred(state, promotion, open_pr)
                if deferred is not None:
                    actions.append(deferred)
                elif state.config.environments[promotion.env].propose == "commit":
                    direct.append(promotion)
                else:
                    action = self.ensure(state, promotion, open_pr=open_pr)
                    if action.outcome == "taken":
                        problems[promotion.branch] = Failure(promotion.branch, action.detail)
                    actions.append(action)
            except (Unavailable, RateLimited):
                raise  # the forge, not the promotion: the job is retried
            except Exception as exc:  # one promotion never stalls the others
                action = self._failed(promotion, exc)
                problems[promotion.branch] = Failure(promotion.branch, action.detail)
                actions.append(action)
        if direct:
            actions += self.commit(state, direct, problems)
        self.problems = problems
        keep = {a.branch for a in actions}
        actions += self.close_no_ops(
            state, [pr for pr in open_prs.values() if pr.branch not in keep]
        )
        return actions

    def _deferred(
        self, state: State, promotion: planner.Promotion, open_pr: PullRequest | None
    ) -> Action | None:
        """A batched environment's promotion that must wait for its window, if it would write
        now: its PR, when there is one, proposes something else (or nothing is open)."""
        window = state.config.environments[promotion.env].batch_window
        if window is None or self.window is None or not promotion.batched:
            return None
        if open_pr is not None:
            meta = self.promotion_of(open_pr)
            if meta is None or meta.commit != open_pr.head_sha or meta.same_change(promotion):
                return None  # nothing to write: ensure() says why (or that it is unchanged)
        wait = self.window(f"batch:{promotion.env}", window.total_seconds())
        if wait <= 0:
            return None
        number = open_pr.number if open_pr is not None else None
        return Action("deferred", promotion.branch, number, f"in {wait:.0f}s", wait=wait)

    def commit(
        self,
        state: State,
        promotions: Sequence[planner.Promotion],
        problems: dict[str, Failure] | None = None,
    ) -> list[Action]:
        """Promotions into `propose: commit` environments, as one commit on the default branch
        made only if the branch is still at the state's commit. Two that write one file wait
        for the next pass (on the new head), so every change is computed on what it replaces."""
        changes: dict[str, bytes | None] = {}
        taken: list[planner.Promotion] = []
        actions: list[Action] = []
        for promotion in promotions:
            try:
                mine = planner.apply(state.config, promotion, state.snapshot)
            except Exception as exc:  # one promotion never stalls the others
                action = self._failed(promotion, exc)
                if problems is not None:
                    problems[promotion.branch] = Failure(promotion.branch, action.detail)
                actions.append(action)
                continue
            if changes.keys() & mine.keys():
                continue
            changes.update(mine)
            taken.append(promotion)
        if not taken:
            return actions
        message = render.commit_message(taken, state.config)
        try:
            sha = self.forge.commit_on_default(state.snapshot.commit, changes, message)
        except Moved as exc:
            log.info("default branch moved", extra={"error": str(exc)})
            return actions + [Action("moved", p.branch, None, str(exc)) for p in taken]
        except (Unavailable, RateLimited):
            raise
        except Exception as exc:  # refused (a protected branch?): reported, the others go on
            failed = [self._failed(p, exc) for p in taken]
            if problems is not None:
                problems.update((a.branch, Failure(a.branch, a.detail)) for a in failed)
            return actions + failed
        return actions + [Action("committed", p.branch, None, sha) for p in taken]

    def ensure(
        self,
        state: State,
        promotion: planner.Promotion,
        *,
        rebuild: bool = False,
        older: Mapping[str, Snapshot] | None = None,
        open_pr: PullRequest | Literal["ask"] | None = "ask",
    ) -> Action:
        """Make the forge show exactly this promotion: open, supersede, or leave it be.

        `rebuild` remakes the commit on the current base even when the change is the same
        (`/refresh`, or an explicit request that should take over an automatic PR).
        `open_pr` is the branch's open PR when the caller listed them already.
        """
        pr = self.forge.find_pr(promotion.branch) if open_pr == "ask" else open_pr
        if pr is None:
            return self._open(state, promotion, older)
        meta = self.promotion_of(pr)
        if meta is None:
            return self._not_ours(pr)
        if meta.commit is not None and pr.head_sha != meta.commit:
            return self._human_pushed(pr)
        promotion = promotion.asked_by(*meta.requested_by)  # a requester never becomes approver
        if not rebuild and meta.same_change(promotion):
            return self._late_impact(state, pr, meta) or Action(
                "unchanged", promotion.branch, pr.number
            )
        try:  # over the commit the PR's record names (its head, checked just above)
            prepared = self._prepare(state, promotion, older, over=meta.commit)
        except Taken:  # someone pushed since the PR was read
            return self._human_pushed(pr)
        labels = _keep(pr, prepared)
        self.forge.update_pr(pr.number, title=prepared.title, body=prepared.body, labels=labels)
        now = replace(
            pr, title=prepared.title, body=prepared.body, labels=labels, head_sha=prepared.commit
        )
        return self._did(Action("superseded", promotion.branch, pr.number, prepared.title, now))

    def _late_impact(self, state: State, pr: PullRequest, meta: planner.Promotion) -> Action | None:
        """A PR that opened before its diff was ready (or with an app that could not be
        rendered) gets it written in once it is: the body and the labels, nothing else."""
        if self.impact_known is None or any(
            label.startswith(IMPACT_LABEL) and label != f"{IMPACT_LABEL}unknown"
            for label in pr.labels
        ):
            return None
        found = self.impact_known(meta)
        if not found or any(not d.known for d in found):
            return None
        changes = planner.apply(state.config, meta, state.snapshot)
        gates, running = self.preview(state, meta) if self.preview is not None else ((), ())
        body = render.body(
            meta,
            state.config,
            gates,
            signer=self.signer,
            diffs=copy_diffs(meta, state.snapshot, changes),
            running=running,
            changelogs=self._changelogs(state, meta),
            impact=found,
            diff_link=self.diff_link,
        )
        prepared = Prepared(meta, pr.head_sha, pr.title, body, impact=found)
        labels = _keep(pr, prepared)
        self.forge.update_pr(pr.number, body=body, labels=labels)
        now = replace(pr, body=body, labels=labels)
        return Action("unchanged", meta.branch, pr.number, pr.title, now)

    def _open(
        self,
        state: State,
        promotion: planner.Promotion,
        older: Mapping[str, Snapshot] | None = None,
    ) -> Action:
        branch = promotion.branch
        if branch in self._taken:  # still someone else's? one read, and no write if so
            head = self.forge.branch_head(branch)
            if head is not None and head.sha == self._taken[branch]:
                return Action("taken", branch, None, str(Taken(branch, head.sha, head.maker)))
            del self._taken[branch]
        closed = self._closed.get(branch) or self.forge.find_pr(branch, state="closed")
        meta = self.promotion_of(closed) if closed is not None else None
        if closed is not None and closed.state == "closed" and CLOSED_LABEL not in closed.labels:
            self._closed[branch] = closed
            if meta is not None and meta.same_change(promotion):
                return Action("human-closed", branch, closed.number)
        try:  # the commit of promobot's last PR there is its own, trailer or not
            vouched = [meta.commit] if meta is not None else []
            prepared = self._prepare(state, promotion, older, vouched=vouched)
        except Taken as exc:
            self._taken[branch] = exc.sha
            fields = {"branch": branch, "head": exc.sha, "maker": exc.maker}
            log.warning("branch not promobot's", extra=fields)
            return Action("taken", branch, None, str(exc))
        pr = self.forge.open_pr(promotion.branch, prepared.title, prepared.body, prepared.labels)
        if pr.body != prepared.body:  # an adopted PR (made by a run that died half-way)
            self.forge.update_pr(pr.number, title=prepared.title, body=prepared.body)
            pr = replace(pr, title=prepared.title, body=prepared.body)
        self._closed.pop(promotion.branch, None)
        return self._did(Action("opened", promotion.branch, pr.number, prepared.title, pr))

    def _did(
        self,
        action: Action,
        promotion: planner.Promotion | None = None,
        pr: PullRequest | None = None,
    ) -> Action:
        """Tell `on_action` (the audit log) of a PR promobot changed; the action, as it was."""
        if self.on_action is not None:
            pr = pr or action.pr
            meta = promotion or (self.promotion_of(pr) if pr is not None else None)
            if meta is not None:
                self.on_action(action, meta, pr)
        return action

    def _prepare(
        self,
        state: State,
        promotion: planner.Promotion,
        older: Mapping[str, Snapshot] | None,
        *,
        over: str | None = None,
        vouched: Iterable[str | None] = (),
    ) -> Prepared:
        gates, running = self.preview(state, promotion) if self.preview is not None else ((), ())
        changelogs = self._changelogs(state, promotion)
        return prepare(
            self.forge,
            state,
            promotion,
            self.signer,
            older,
            gates,
            running,
            changelogs,
            over=over,
            vouched=vouched,
            impact=self.impact,
            diff_link=self.diff_link,
        )

    def _changelogs(self, state: State, promotion: planner.Promotion) -> Sequence[Changelog]:
        """What changed in the versions the promotion skips; a failure here is only logged:
        a changelog never stops a promotion."""
        if self.changelogs is None:
            return ()
        try:
            return self.changelogs(state.config, promotion)
        except Exception as exc:
            log.warning(
                "changelogs failed", extra={"branch": promotion.branch, "error": public(exc)}
            )
            return ()

    def say_once(self, number: int, kind: str, text: str) -> None:
        """Comment `text` on a PR unless promobot already said it (found by a signed marker
        naming `kind` and the text, in a comment of promobot's own)."""
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        for comment in self.forge.comments(number):
            if self.mine(comment) and any(
                m.get("digest") == digest for m in self.signer.marks(kind, comment.body)
            ):
                return
        self.forge.comment(number, text + "\n\n" + self.signer.mark(kind, digest=digest))

    def _human_pushed(self, pr: PullRequest) -> Action:
        self.say_once(
            pr.number,
            "human-push",
            f"Someone pushed to `{pr.branch}`, so promobot will not rewrite it any more: newer "
            "versions will not supersede this PR, and promobot will not merge it. Close it to "
            "let promobot open a fresh one.",
        )
        return Action("human-pushed", pr.branch, pr.number)

    def _not_ours(self, pr: PullRequest) -> Action:
        self.say_once(
            pr.number,
            "not-ours",
            f"promobot did not open this PR, or cannot verify the promotion record in its "
            f"description (edited by someone?), so it will not update or merge it. Close it "
            f"and promobot opens a fresh promotion on `{pr.branch}`.",
        )
        return Action("not-ours", pr.branch, pr.number)

    def _failed(self, promotion: planner.Promotion, exc: Exception) -> Action:
        error = public(exc)
        log.warning(
            "promotion failed",
            extra={"branch": promotion.branch, "error": error},
            exc_info=_is_bug(exc),
        )
        pr = self.forge.find_pr(promotion.branch)
        number = pr.number if pr is not None else None
        if pr is not None and self.promotion_of(pr) is not None:
            self.say_once(
                pr.number,
                "failed",
                f"promobot could not update this promotion: {error}\n\nThe other promotions "
                "go on; this one is tried again at the next change or reconcile.",
            )
        return Action("failed", promotion.branch, number, error)

    def close_no_ops(self, state: State, open_prs: Iterable[PullRequest]) -> list[Action]:
        """Close open promotion PRs whose change the environment already has."""
        actions = []
        for pr in open_prs:
            meta = self.promotion_of(pr)
            if meta is None or still_changes(meta, state.status):
                continue
            self.forge.comment(
                pr.number,
                f"Closing: {meta.env} already runs these versions (as of "
                f"{state.snapshot.commit[:12]}), so this promotion would change nothing.",
            )
            self.forge.update_pr(pr.number, labels=(*pr.labels, CLOSED_LABEL))
            self.forge.close_pr(pr.number)
            actions.append(self._did(Action("closed", pr.branch, pr.number), meta, pr))
        return actions


def _refused(promotion: planner.Promotion, refused: list[dict[str, dict[str, str]]]) -> bool:
    """Whether everything the promotion brings is one set of versions that failed there."""
    brings = {(plan.app, r.component, r.after) for plan in promotion.apps for r in plan.changed}
    return any(
        all(versions.get(app, {}).get(component) == after for app, component, after in brings)
        for versions in refused
    )


def _keep(pr: PullRequest, prepared: Prepared) -> tuple[str, ...]:
    """promobot's labels plus whatever people added (a hold, a team label); impact labels
    are promobot's alone, so those of an earlier commit go."""
    theirs = (label for label in pr.labels if not label.startswith(IMPACT_LABEL))
    return tuple(dict.fromkeys((*prepared.labels, *theirs)))
