"""The gatekeeper: gathers what the gates need from the forge, publishes the verdict, merges.

Gates themselves are pure (`bot.gates`); this module is their I/O edge. For one promotion PR
it reads reviews, `/approve` records, checks and labels, works out since when the upstream
environment has run the promoted versions (from the git history), evaluates, then sets the
`promobot/gates` commit status and the checklist in the body — each only if it changed — and
merges with the head SHA when the environment auto-merges (or someone said `/merge`).

It believes only what promobot can authenticate: the promotion comes from the signed metadata
of a PR promobot's account opened, `/approve` records from signed markers in promobot's own
comments, and a merge happens only when the head is the commit promobot made and the PR's
files are the files that promotion writes.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot import audit, gates, render
from bot.composition import State
from bot.config import ImpactClass as Impact  # bot.manifests.model.Impact, the same classes
from bot.deployed import Deployed
from bot.engine import Engine, history, isolated, outside, running_since
from bot.errors import MergeRefused, SourceError
from bot.forges.base import Check, Forge, PullRequest, Review
from bot.live.reader import LiveReader
from bot.live.state import Live, Running
from bot.planner import Promotion

log = logging.getLogger("promobot.gates")

STATUS = "promobot/gates"
MEMBERSHIP_TTL = 60.0  # seconds a team membership answer is reused (a removal counts after it)
SINCE_KEPT = 20_000  # apps × environments whose soak start is remembered
SETTLE_SECONDS = 3.0  # a PR changed this recently may have changed again in the same second
SWEEP = 10  # PRs a reconcile re-evaluates although nothing says they changed (oldest first)
Wake = Callable[[int, datetime], None]  # look at PR `number` again at that instant
# what a promotion changes in the cluster, in IMPACTS order; None: it could not be rendered
ImpactOf = Callable[[State, Promotion], tuple[Impact, ...] | None]


@dataclass
class _Look:
    """What an evaluation saw of a PR, so a reconcile can tell whether to look again."""

    seen: tuple[object, ...]
    at: datetime
    wake: datetime | None
    # Forges give `updated_at` in whole seconds: a comment in the same second as what this look
    # saw would not move it. A look taken that soon after the PR's last change is not trusted
    # to say "unchanged": the next reconcile looks once more.
    settled: bool = True


def _env_of(pr: PullRequest) -> str:
    """The environment a promotion branch names: promobot/<env>/<name>. Only which PRs to look
    at again is chosen by it; the evaluation itself trusts the signed metadata alone."""
    return pr.branch.split("/")[1] if pr.branch.count("/") >= 2 else ""


def _instant(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z") if when else None


def _fingerprint(pr: PullRequest) -> tuple[object, ...]:
    # a review, a comment, a label or a push moves `updated_at` (GitHub and GitLab)
    return (pr.updated_at, pr.head_sha, pr.labels)


@dataclass
class Verdict:
    promotion: Promotion
    pr: PullRequest
    results: list[gates.GateResult]
    overall: gates.GateResult
    merged: str | None = None
    next_look: datetime | None = None
    notes: list[str] = field(default_factory=list)
    running: list[Running] = field(default_factory=list)  # what the env's cluster runs


class Gatekeeper:
    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wake: Wake | None = None,
        live: LiveReader | None = None,
    ) -> None:
        self.engine = engine
        self.live = live  # what clusters run, for healthy: gates
        self.on_merge: Callable[[int, Promotion], None] | None = None  # verification starts
        self.record: audit.Recorder | None = None  # verdicts that changed, merges, refusals
        self.forge: Forge = engine.forge
        self.clock = clock
        self.wake = wake  # soak timers and freeze windows end without an event: be woken then
        self._teams: dict[tuple[str, str], tuple[bool, float]] = {}
        self._looks: dict[int, _Look] = {}
        # (env, app) → (its files' blob ids, versions, since when env has run them): see
        # _running_since; replaced when the files change under the app
        self._since: OrderedDict[tuple[str, str], tuple[tuple[str, ...], dict[str, str], datetime]]
        self._since = OrderedDict()
        self._commit_times: OrderedDict[str, datetime] = OrderedDict()
        self.deployed = Deployed(self.forge)  # the versions at the commit a cluster runs
        self.sweep = SWEEP
        # what a promotion changes in the cluster, for gates.impact and auto_merge: {unless,
        # only}; None: rendering is not wired, so every promotion's impact is unknown
        self.impact: ImpactOf | None = None

    # --- inputs --------------------------------------------------------------------------------

    def approve_marker(self, number: int, user: str, sha: str) -> str:
        """Written into promobot's reply to `/approve`: the record that the approval happened."""
        return self.engine.signer.mark("approve", pr=number, user=user, sha=sha)

    def reviews(self, pr: PullRequest) -> list[Review]:
        """Forge reviews, and the `/approve` records promobot signed in its own replies."""
        found = list(self.forge.reviews(pr.number))
        for comment in self.forge.comments(pr.number):
            if not self.engine.mine(comment):
                continue
            for mark in self.engine.signer.marks("approve", comment.body):
                if mark.get("pr") == str(pr.number) and mark.get("user") and mark.get("sha"):
                    found.append(Review(mark["user"], "approved", mark["sha"], comment.created_at))
        return sorted(found, key=lambda r: r.submitted_at)

    def member(self, user: str, team: str) -> bool:
        """The forge's answer, asked again after `MEMBERSHIP_TTL`: someone taken out of a team
        stops counting within a minute, not at the next restart."""
        key, now = (user, team), time.monotonic()
        known = self._teams.get(key)
        if known is None or now - known[1] >= MEMBERSHIP_TTL:
            known = (self.forge.is_member(user, team), now)
            self._teams[key] = known
        return known[0]

    def eligible(self, approvers: tuple[str, ...], users: set[str]) -> frozenset[str]:
        """Who among `users` may approve: listed, in a listed team, or (no list) can write."""
        out = set()
        for user in users:
            if not approvers:
                if self.forge.permission(user) in ("admin", "write"):
                    out.add(user)
                continue
            for entry in approvers:
                name = entry.removeprefix("@")
                if name.lower() == user.lower() or ("/" in name and self.member(user, name)):
                    out.add(user)
                    break
                if entry.startswith("@") and "/" not in name and self.member(user, name):
                    out.add(user)  # a GitLab group without a subgroup
                    break
        return frozenset(out)

    def upstream_since(self, state: State, promotion: Promotion) -> datetime | None:
        """Since when the upstream has run exactly the versions this promotion brings (for a
        group or a batch: since the last of its apps got them)."""
        if promotion.upstream is None:
            return None
        since: datetime | None = None
        for plan in promotion.apps:
            versions = {r.component: r.after for r in plan.changed if r.after is not None}
            started = self._running_since(state, plan.app, promotion.upstream, versions)
            if started is None:
                return None
            since = started if since is None else max(since, started)
        return since

    def _running_since(
        self, state: State, app: str, env: str, versions: Mapping[str, str]
    ) -> datetime | None:
        """From the app's history in `env` (a log and a snapshot per commit: dear), kept while
        the app's files there are the same blobs — so a batch of hundreds of apps reads the
        history of the apps that moved, not of all of them, at each evaluation."""
        paths = sorted(
            {state.config.target(app, c, env).path for c in state.config.apps[app].components}
        )
        blobs = tuple(state.snapshot.objects.get(path, "") for path in paths)
        key = (env, app)
        known = self._since.get(key)
        if known is not None and known[0] == blobs and known[1] == dict(versions):
            self._since.move_to_end(key)
            return known[2]
        entries = history(self.forge, state.config, app, env, state.snapshot.commit, limit=20)
        started = running_since(entries, versions)
        if started is not None:
            self._since[key] = (blobs, dict(versions), started)
            while len(self._since) > SINCE_KEPT:
                self._since.popitem(last=False)
        return started

    def upstream_healthy(self, state: State, promotion: Promotion) -> tuple[datetime | None, str]:
        """Since when the upstream's cluster has run exactly the promoted versions synced and
        healthy (for several apps: since the last of them did) — or None, and what its live
        source says instead."""
        upstream = promotion.upstream
        if upstream is None:
            return None, ""
        reports, error = self._read(state, upstream, [plan.app for plan in promotion.apps])
        if error:
            return None, error
        since: datetime | None = None
        for plan in promotion.apps:
            live = reports.get(plan.app)
            if live is not None and live.revision is None and live.unresolved:
                return None, (
                    f"{plan.app}: it runs {live.unresolved}, which names no one commit of the "
                    "env repo (unresolved)"
                )
            if live is None or live.revision is None or live.since is None:
                return None, f"{plan.app}: no report from {upstream}'s cluster yet"
            if not live.settled:
                said = f": {live.message}" if live.message else ""
                # a rollout under way is what holds a healthy cluster: said beside it
                return None, f"{plan.app}: {live.health_shown} at {live.revision[:10]}{said}"
            wanted = {r.component: r.after for r in plan.changed if r.after is not None}
            running = self.deployed.versions(state, plan.app, upstream, live.revision)
            if running is None or any(running.get(c) != v for c, v in wanted.items()):
                return None, f"{plan.app}: it runs {live.revision[:10]}, not these versions yet"
            # a cluster cannot have run a commit before it was made (Fleet before v0.16 can
            # report the old time for one status write, and a status can be posted late)
            started = max(live.since, self._made(live.revision))
            since = started if since is None else max(since, started)
        return since, ""

    def _read(self, state: State, env: str, apps: list[str]) -> tuple[dict[str, Live], str]:
        """What `env`'s live source says of `apps`, or why it cannot be asked."""
        source = state.config.environments[env].live
        if self.live is None or source is None:
            return {}, f"{env}'s live state is not read here"
        if source.argocd is not None and self.live.argocd is None:
            return {}, "Argo CD is not configured (PROMOBOT_ARGOCD_URL, PROMOBOT_ARGOCD_TOKEN)"
        try:
            return self.live.read(state, env, apps), ""
        except SourceError as exc:  # an unreachable Argo CD: unknown, the others go on
            return {}, f"{env}'s cluster is unknown: {exc}"

    def running(self, state: State, promotion: Promotion) -> list[Running]:
        """What the target environment's cluster runs of the promotion's apps, for the body
        (nothing where the environment has no `live:`). The versions at the running commit
        are looked up for the apps the body names one by one only."""
        if state.config.environments[promotion.env].live is None or self.live is None:
            return []
        reports, error = self._read(state, promotion.env, [p.app for p in promotion.apps])
        if error:
            return [Running("", None, error=error)]
        found = []
        for i, plan in enumerate(promotion.apps):
            live = reports.get(plan.app)
            git = {r.component: r.before for r in plan.changed if r.before is not None}
            versions = None
            if live is not None and live.revision and live.settled and i < render.RUNNING_SHOWN:
                versions = self.deployed.versions(state, plan.app, promotion.env, live.revision)
            found.append(Running(plan.app, live, versions, git))
        return found

    def _made(self, revision: str) -> datetime:
        """When an env-repo commit was made: asked once per commit (one call), then kept."""
        if revision not in self._commit_times:
            found = self.forge.log(revision, [], 1)
            made = found[0].time if found else datetime.min.replace(tzinfo=UTC)
            self._commit_times[revision] = made
            while len(self._commit_times) > SINCE_KEPT:
                self._commit_times.popitem(last=False)
        return self._commit_times[revision]

    # --- evaluation ----------------------------------------------------------------------------

    def evaluate(
        self, pr: PullRequest, *, merge: bool | None = None, fresh: bool = False
    ) -> Verdict | None:
        """Evaluate one promotion PR, publish the result, and merge when allowed.

        `merge`: None merges only where the environment auto-merges; True is `/merge`.
        `fresh`: promobot made the head a moment ago (the PR was just opened or rebuilt), so no
        review, approval or check can be on it yet: none is read. If CI is quicker than that,
        its status event brings the PR back.
        """
        promotion = self.engine.promotion_of(pr)
        if promotion is None or pr.state != "open":
            return None
        state = self.engine.state()
        env = state.config.environments.get(promotion.env)
        if env is None:
            return None
        on_head = [] if fresh else self.forge.checks(pr.head_sha)
        checks = [c for c in on_head if c.name != STATUS]
        inputs = self._inputs(state, promotion, pr, checks, fresh=fresh)
        impact = inputs.impact
        now = inputs.now
        results = gates.evaluate(inputs)
        overall = gates.overall(results)
        verdict = Verdict(
            promotion,
            pr,
            results,
            overall,
            next_look=gates.next_change(inputs),
            running=self.running(state, promotion),
        )
        last = self._looks.get(pr.number)
        wake = verdict.next_look
        if self.wake is not None and wake is not None and (last is None or last.wake != wake):
            self.wake(pr.number, wake)
        changed = pr.updated_at.timestamp() if pr.updated_at is not None else 0.0
        settled = time.time() - changed >= SETTLE_SECONDS  # wall clocks: the forge's and ours
        self._looks[pr.number] = _Look(_fingerprint(pr), now, verdict.next_look, settled)
        self.publish(verdict, next((c for c in on_head if c.name == STATUS), None))
        # a `manual` rule or auto_merge: {unless, only} keeps it for a person (the checklist
        # says so: gates.evaluate adds the line)
        wants_merge = env.merges_itself(impact, inputs.unknown)[0] if merge is None else merge
        self._record_verdict(verdict, inputs, wants_merge)
        if wants_merge and overall.state == "pass":
            try:
                self.check_what_merges(pr, promotion)
                verdict.merged = self.forge.merge(pr.number, pr.head_sha)
                log.info("merged", extra={"number": pr.number, "branch": pr.branch})
                if self.record is not None:
                    self.record(
                        "merged",
                        **audit.about(promotion, pr),
                        sha=verdict.merged,
                        approvers=gates.approved_by(inputs),
                        outcome="merged" if merge else "auto-merged",
                        reason=overall.reason,
                        impact=inputs.impact,
                    )
                if self.on_merge is not None:
                    self.on_merge(pr.number, promotion)
            except MergeRefused as exc:
                log.warning("merge refused", extra={"number": pr.number, "error": str(exc)})
                verdict.notes.append(str(exc))
                # once per PR head and reason: an auto-merging PR someone pushed to is refused
                # at every look
                if self.record is not None and self.record.changed(
                    f"refused.{pr.number}", [pr.head_sha, str(exc)]
                ):
                    self.record(
                        "refused", **audit.about(promotion, pr), outcome="refused", reason=str(exc)
                    )
        return verdict

    def _record_verdict(self, verdict: Verdict, inputs: gates.Inputs, wants_merge: bool) -> None:
        """The verdict and what it was made from, when it differs from the last one recorded
        for the PR (the reconcile evaluates often; an unchanged verdict is no decision)."""
        if self.record is None:
            return
        results = [{"gate": r.name, "state": r.state, "reason": r.reason} for r in verdict.results]
        # whether a merge was wanted is part of it: a /merge stopped by a freeze is a decision
        seen = [verdict.pr.head_sha, results, wants_merge]
        if not self.record.changed(f"gate.{verdict.pr.number}", seen):
            return
        self.record(
            "gate",
            **audit.about(verdict.promotion, verdict.pr),
            approvers=gates.approved_by(inputs),
            outcome=verdict.overall.state,
            reason=verdict.overall.reason,
            inputs={
                "gates": results,
                "merge_wanted": wants_merge,
                "reviews": [
                    {"user": r.user, "state": r.state, "sha": r.sha, "at": _instant(r.submitted_at)}
                    for r in inputs.reviews
                ],
                "eligible": sorted(inputs.eligible),
                "checks": [{"name": c.name, "state": c.state} for c in inputs.checks],
                "labels": sorted(inputs.labels),
                "upstream": inputs.upstream,
                "upstream_since": _instant(inputs.upstream_since),
                "upstream_healthy_since": _instant(inputs.upstream_healthy_since),
                "now": _instant(inputs.now),
                **self._impact_field(inputs),
            },
        )

    def _impact_field(self, inputs: gates.Inputs) -> dict[str, list[str] | None]:
        """The audit's `impact`: the classes, or null (unknown) — only once rendering is wired,
        so records stay as they were without it."""
        if self.impact is None:
            return {}
        return {"impact": None if inputs.impact is None else list(inputs.impact)}

    def impact_of(
        self, state: State, promotion: Promotion
    ) -> tuple[tuple[Impact, ...] | None, str]:
        """What the promotion changes in the cluster, or None and why it is unknown."""
        where = f"{', '.join(plan.app for plan in promotion.apps)} in {promotion.env}"
        if self.impact is None:
            return None, f"{where} is not rendered here"
        impact = self.impact(state, promotion)
        return impact, "" if impact is not None else f"{where} could not be rendered"

    def preview(
        self, state: State, promotion: Promotion
    ) -> tuple[list[gates.GateResult], list[Running]]:
        """The gates of a promotion about to be proposed (no reviews, checks or labels yet) and
        what its environment runs, so its PR opens with what its first evaluation would write."""
        env = state.config.environments.get(promotion.env)
        if env is None:
            return [], []
        results = gates.evaluate(self._inputs(state, promotion, None, []))
        return results, self.running(state, promotion)

    def _inputs(
        self,
        state: State,
        promotion: Promotion,
        pr: PullRequest | None,
        checks: list[Check],
        fresh: bool = False,
    ) -> gates.Inputs:
        env = state.config.environments[promotion.env]
        configured = env.gates
        impact, unknown = self.impact_of(state, promotion)
        rules = {
            cls: rule
            for cls, rule in configured.impact.items()
            if not rule.manual and (impact is None or cls in impact)
        }
        asks = pr is not None and (configured.approvals or rules) and not fresh
        reviews = self.reviews(pr) if pr is not None and asks else []
        reviewers = {r.user for r in reviews}
        # the same membership answers (kept MEMBERSHIP_TTL) as the approvals gate's
        impact_eligible = {
            cls: self.eligible(rule.approvers, reviewers) if reviewers else frozenset[str]()
            for cls, rule in rules.items()
        }
        versions = ", ".join(
            f"{r.component} {r.after}" for plan in promotion.apps for r in plan.changed
        )
        healthy_since, live_note = (
            self.upstream_healthy(state, promotion) if configured.healthy else (None, "")
        )
        return gates.Inputs(
            env=promotion.env,
            gates=configured,
            head_sha=pr.head_sha if pr is not None else "",
            now=self.clock(),
            reviews=reviews,
            eligible=self.eligible(configured.approvers, reviewers) if reviewers else frozenset(),
            requesters=frozenset(promotion.requested_by),
            bots=frozenset({self.engine.me.login}),
            upstream=promotion.upstream,
            upstream_since=self.upstream_since(state, promotion) if configured.soak else None,
            upstream_healthy_since=healthy_since,
            upstream_live=live_note,
            versions=versions,
            checks=checks,
            labels=frozenset(pr.labels) if pr is not None else frozenset(),
            impact=impact,
            impact_eligible=impact_eligible,
            unknown=unknown,
            auto_merge=env.auto_merge,
        )

    def check_what_merges(self, pr: PullRequest, promotion: Promotion) -> None:
        """Refuse unless the PR is exactly what promobot wrote: its head is the commit promobot
        made (named in the signed metadata) and it changes only the promotion's files."""
        if promotion.commit is None or pr.head_sha != promotion.commit:
            made = promotion.commit[:10] if promotion.commit else "none"
            raise MergeRefused(
                f"not merged: the head `{pr.head_sha[:10]}` is not the commit promobot made "
                f"(`{made}`)"
            )
        extra = outside(promotion, self.forge.pr_files(pr.number))
        if extra:
            shown = ", ".join(f"`{p}`" for p in extra[:5]) + (" …" if len(extra) > 5 else "")
            raise MergeRefused(
                f"not merged: the PR changes files this promotion does not write: {shown}"
            )

    def publish(self, verdict: Verdict, current: Check | None) -> None:
        """The commit status and the body's checklist, each written only when it changed
        (`current`: the status promobot set on the head before, if any)."""
        pr, overall = verdict.pr, verdict.overall
        status_state = {"pass": "success", "pending": "pending", "fail": "failure"}[overall.state]
        if current is None or current.state != status_state:
            self.forge.set_status(pr.head_sha, STATUS, status_state, overall.reason[:140])  # type: ignore[arg-type]
        body = render.replace_gates(
            pr.body, verdict.promotion, verdict.results, self.engine.signer, verdict.running
        )
        if body != pr.body:
            self.forge.update_pr(pr.number, body=body)

    def evaluate_all(self) -> list[Verdict]:
        """The open promotion PRs that may have changed since their last evaluation — the
        reconcile's safety net for lost webhooks, costing nothing for PRs that did not: those
        whose reviews, comments, labels or head moved, whose soak or freeze ends by now, that
        were never evaluated here, and, among those into environments with a `checks:` gate,
        the `sweep` evaluated longest ago (a lost status webhook moves nothing on the PR)."""
        now = self.clock()
        prs = self.forge.list_prs(label="promotion")
        self._looks = {n: look for n, look in self._looks.items() if n in {p.number for p in prs}}
        due = [pr for pr in prs if self._due(pr, now)]
        # A status, or a cluster's report, moves nothing on the PR; only `checks:` and
        # `healthy:` gates read them: the sweep goes round the PRs into environments with one.
        environments = self.engine.state().config.environments
        checked = {
            name for name, env in environments.items() if env.gates.checks or env.gates.healthy
        }
        rest = sorted(
            (p for p in prs if p not in due and _env_of(p) in checked),
            key=lambda p: self._looks[p.number].at,
        )
        verdicts = []
        for pr in due + rest[: self.sweep]:
            with isolated("gate evaluation failed", number=pr.number):  # the others go on
                verdict = self.evaluate(pr)
                if verdict is not None:
                    verdicts.append(verdict)
        return verdicts

    def _due(self, pr: PullRequest, now: datetime) -> bool:
        look = self._looks.get(pr.number)
        if look is None or pr.updated_at is None or look.seen != _fingerprint(pr):
            return True
        if not look.settled:
            return True
        return look.wake is not None and look.wake <= now
