"""Slash commands, carried out: one comment in, reactions, replies and forge actions out.

`bot.commands` parses and authorizes (pure); this module reads the comment back from the forge
(a webhook payload is only a hint: the text, the author and whether it was edited come from the
forge's answer), asks the forge who the author is (repo permission, team membership),
acknowledges with 👀, runs each command through the engine and the gatekeeper, and answers each
with a reply that quotes it.

A comment runs only as its author posted it, since people who may edit others' comments (a
writer on GitHub, a maintainer on GitLab) could otherwise put words in an approver's mouth.
From a webhook: the text read back must be the text the delivery of its creation carried, and
the forge must not say it was edited since; at the reconcile, which has no delivery, the forge
must say it was never edited (`Forge.unedited`, one question for all of a PR's candidates). A
comment that fails either runs nothing and gets one reply saying why.

A comment's commands run at most once: its id is claimed in a ledger (the queue's store) before
anything runs, and every reply carries a signed ack marker naming the comment, so the reconcile
loop can tell which commands were already handled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot import audit, budget, commands, composition, planner, render
from bot.commands import Who
from bot.composition import State
from bot.engine import Action, Engine, history
from bot.errors import PromobotError
from bot.events import CommentEvent
from bot.forges.base import Comment, PullRequest
from bot.gatekeeper import Gatekeeper
from bot.gates import HOLD_LABEL
from bot.manifests import text
from bot.manifests.model import AppDiff, Sheet
from bot.planner import Promotion
from bot.render.impact import impact_markdown
from bot.render.markup import _text

REPLY_LIMIT = 60_000  # characters of a /diff reply: under GitHub's 65,536 for a comment
log = logging.getLogger("promobot.commands")
Claim = Callable[[str], bool]  # True the first time a key is claimed, False ever after
EDITED = (
    "❌ Not run: this comment was edited after it was posted (or changed in a way the forge "
    "does not tell apart from an edit), and promobot runs commands only as their author "
    "posted them. Post the command again in a new comment."
)


def in_memory() -> Claim:
    """A ledger for one process (tests, and the CLI); the service passes the queue's."""
    seen: set[str] = set()

    def claim(key: str) -> bool:
        first = key not in seen
        seen.add(key)
        return first

    return claim


def inert(text: str) -> str:
    """Text from a comment, safe to echo in promobot's reply: no hidden marker survives."""
    return text.replace("<", "&lt;")


@dataclass(frozen=True)
class Context:
    who: Who
    pr: PullRequest | None
    promotion: Promotion | None  # the promotion the PR carries, when it is one of ours


class Runner:
    def __init__(
        self,
        engine: Engine,
        gatekeeper: Gatekeeper,
        cascade: Callable[[], object] | None = None,
        claim: Claim | None = None,
    ) -> None:
        self.engine = engine
        self.gatekeeper = gatekeeper
        self.forge = engine.forge
        # after a merge: the service's sync, which also evaluates the PRs it opens
        self.cascade = cascade or engine.sync
        self.claim = claim or in_memory()
        self.record: audit.Recorder | None = None  # every command run: who, allowed or not
        # what each environment is made of, as rendered last (the service's background)
        self.contents: Callable[[], Sheet | None] | None = None
        # what a promotion changes in the cluster (bot.impacts), for /diff
        self.diffs: Callable[[Promotion], Sequence[AppDiff] | None] | None = None

    def handle(self, event: CommentEvent) -> list[str]:
        """Carry out the commands in one new comment; the replies posted, in order."""
        if event.action != "created" or event.author_is_bot or event.from_fork:
            return []
        if event.author.endswith("[bot]") or not commands.parse(event.body):
            return []  # the payload says there is nothing to run: no need to ask the forge
        comment = self.forge.get_comment(event.number, event.comment_id)
        if str(comment.id) in self._answered(self.forge.comments(event.number)):
            return []  # answered before: a redelivery the ledger lost (a Redis without its data)
        changed = comment.body != event.body  # edited before promobot read it, or forged
        if changed:
            fields = {"comment": comment.id, "number": event.number, "user": comment.user}
            log.warning("comment changed since it was delivered", extra=fields)
        if not self._may_run(comment):
            return []
        # the same text can still be an edit's: GitLab's token is no signature
        as_posted = not changed and comment.id in self.forge.unedited(event.number, [comment])
        return self.run_comment(event.number, comment, event.on_pull_request, as_posted)

    def pick_up(self, number: int) -> list[str]:
        """Commands on a PR that were never answered (promobot was down when they came)."""
        found = self.forge.comments(number)
        answered = self._answered(found)
        waiting = [c for c in found if str(c.id) not in answered and self._may_run(c)]
        vouched = self.forge.unedited(number, waiting) if waiting else set()
        replies = []
        for comment in waiting:
            replies += self.run_comment(number, comment, True, comment.id in vouched)
        return replies

    def _may_run(self, comment: Comment) -> bool:
        """A comment with something to run or answer, by a person (not promobot, not a bot)."""
        if self.engine.mine(comment) or comment.user.endswith("[bot]"):
            return False
        return "/" in comment.body and bool(commands.parse(comment.body))

    def _answered(self, comments: list[Comment]) -> set[str]:
        """The ids of the comments promobot's own, signed replies say it answered."""
        return {
            mark["comment"]
            for comment in comments
            if self.engine.mine(comment)
            for mark in self.engine.signer.marks("ack", comment.body)
            if "comment" in mark
        }

    def run_comment(
        self, number: int, comment: Comment, on_pull_request: bool, as_posted: bool
    ) -> list[str]:
        """Run a comment as the forge has it, once; one that is not `as_posted` (its author's
        text as they posted it) runs nothing and gets a reply saying so."""
        if not self._may_run(comment):
            return []
        parsed = commands.parse(comment.body)
        pr = self.forge.get_pr(number) if on_pull_request else None
        if pr is not None and pr.from_fork:
            return []
        if not self.claim(f"comment:{self.engine.signer.scope}:{comment.id}"):
            log.info("command already handled", extra={"comment": comment.id, "number": number})
            return []
        ack = self.engine.signer.mark("ack", comment=comment.id)
        # claimed: it runs now or never, so its writes take the room kept for commands even
        # when a reconcile's sync found it (a sync's writes would be put back for later)
        with budget.acting_as("command"):
            if not as_posted:
                fields = {"comment": comment.id, "number": number, "user": comment.user}
                log.warning("edited comment not run", extra=fields)
                quoted = "".join(f"> {inert(c.line)}\n" for c in parsed.commands)
                reply = f"{quoted}\n{EDITED}" if quoted else EDITED
                self.forge.comment(number, f"{reply}\n\n{ack}", reply_to=comment.id)
                return [reply]
            self.forge.react(number, comment.id, "eyes")
            replies = list(parsed.replies)
            if parsed.commands:
                promotion = self.engine.promotion_of(pr) if pr is not None else None
                context = Context(self.who(comment.user), pr, promotion)
                for command in parsed.commands:
                    # what the command does (a merge, a PR opened) is recorded as its author's
                    with audit.context(actor=comment.user, comment=str(comment.id)):
                        replies.append(self.run(command, context))
            for text in replies:
                self.forge.comment(number, f"{text}\n\n{ack}", reply_to=comment.id)
        return replies

    def who(self, login: str) -> Who:
        """The forge's view of the commenter: repo permission, and the teams permissions name."""
        config = self.engine.state().config
        teams = {
            principal
            for rules in config.permissions.values()
            for principals in rules.values()
            for principal in principals
            if principal.startswith("@")
        } | {a for env in config.environments.values() for a in env.gates.approvers if "/" in a}
        member = frozenset(t for t in teams if self.gatekeeper.member(login, t.removeprefix("@")))
        return Who(login, self.forge.permission(login), member)

    def run(self, command: commands.Command, context: Context) -> str:
        quoted = f"> {inert(command.line)}\n\n"
        state = self.engine.state()
        env = self._env(command, context)
        refused = commands.authorize(command, env, context.who, state.config.permissions)
        if refused is not None:
            log.info("command refused", extra={"command": command.name, "user": context.who.login})
            self._record(command, context, env, "refused", refused)
            return f"{quoted}❌ {refused}. Nothing was changed."
        try:
            answer = self._run(command, context, env)
        except PromobotError as exc:
            self._record(command, context, env, "failed", str(exc))
            return f"{quoted}❌ {exc}"
        self._record(command, context, env, "allowed", answer)
        return quoted + answer

    def _record(
        self, command: commands.Command, context: Context, env: str | None, outcome: str, said: str
    ) -> None:
        """The command, its author, whether they were allowed (and on what: the forge's view
        of them) and what came of it, in the first line of the reply."""
        if self.record is None:
            return
        about = audit.about(context.promotion, context.pr) if context.promotion else {}
        if context.pr is not None and not about:
            about = {"pr": context.pr.number, "url": context.pr.url, "head": context.pr.head_sha}
        named = (
            command.apps
            if isinstance(command, commands.Promote)
            else (command.app,)
            if isinstance(command, commands.Rollback | commands.History)
            else ()
        )
        if named:  # the apps the command names, rather than the PR's it was written in
            about = {**about, "apps": tuple(named), "changes": ()}
        first = said.strip().splitlines()[0] if said.strip() else ""
        self.record(
            "command",
            **{**about, "env": env or about.get("env")},
            actor=context.who.login,
            command=command.line,
            outcome=outcome,
            reason=first[:300],
            inputs={
                "command": command.name,
                "permission": context.who.permission,
                "teams": sorted(context.who.teams),
                "comment": audit.current("comment"),
            },
        )

    def _env(self, command: commands.Command, context: Context) -> str | None:
        if isinstance(command, commands.Promote) and command.to:
            return command.to
        if isinstance(command, commands.Status):
            return command.env  # the whole matrix unless one environment is named
        if isinstance(command, commands.Rollback | commands.History) and command.env:
            return command.env
        return context.promotion.env if context.promotion else None

    def _run(self, command: commands.Command, context: Context, env: str | None) -> str:
        if isinstance(command, commands.Help):
            return commands.HELP
        if isinstance(command, commands.Status):
            state = self.engine.state()
            status = state.status
            if env is not None:
                status = composition.Status(status.ref, (env,), status.apps)
            reply = render.status_markdown(status, state.config, self._live(state, status))
            return reply + self._contents(status)
        if isinstance(command, commands.History):
            if env is None:
                raise PromobotError(f"name the environment: /history {command.app} --env ENV")
            state = self.engine.state()
            self._check_app(command.app, env)
            entries = history(
                self.forge, state.config, command.app, env, state.snapshot.commit, limit=30
            )
            return render.history_markdown(command.app, env, entries)
        if isinstance(command, commands.Diff):
            return self._diff(command, context)
        if isinstance(command, commands.Promote):
            return self._promote(command, context, env)
        if isinstance(command, commands.Rollback):
            return self._rollback(command, context, env)
        pr, promotion = context.pr, context.promotion
        if pr is not None and promotion is None and pr.branch.startswith("promobot/"):
            raise PromobotError(
                "promobot did not open this PR, or cannot verify the promotion record in its "
                f"description (edited by someone?), so it will not /{command.name} it. Close it "
                "and promobot opens a fresh promotion."
            )
        if pr is None or promotion is None:
            raise PromobotError(f"/{command.name} works in a promotion PR's comments")
        if isinstance(command, commands.Approve):
            return self._approve(context, pr)
        if isinstance(command, commands.Merge):
            return self._merge(pr)
        if isinstance(command, commands.Hold | commands.Unhold):
            return self._hold(pr, command)
        if isinstance(command, commands.Refresh):
            return self._refresh(pr, promotion, context)
        raise PromobotError(f"/{command.name} is not handled")  # unreachable: parse() knows all

    # --- the commands -------------------------------------------------------------------------

    def _diff(self, command: commands.Diff, context: Context) -> str:
        """What the PR's promotion changes in the cluster, computed by promobot from its signed
        record (never from the PR's text)."""
        promotion = context.promotion
        if context.pr is None or promotion is None:
            raise PromobotError("/diff works in a promotion PR's comments")
        if command.app is not None and command.app not in [p.app for p in promotion.apps]:
            apps = ", ".join(p.app for p in promotion.apps)
            raise PromobotError(f"{command.app} is not promoted by this PR; it promotes {apps}")
        found = self.diffs(promotion) if self.diffs is not None else None
        if found is None:
            return "promobot renders no manifests here, or could not yet; try again in a minute"
        chosen = [d for d in found if command.app is None or d.app == command.app]
        return impact_markdown(chosen, limit=REPLY_LIMIT)

    def _contents(self, status: composition.Status) -> str:
        """What each cell of the reply is made of, from the last rendering: nothing when the
        service renders nothing yet."""
        sheet = self.contents() if self.contents is not None else None
        if sheet is None:
            return ""
        lines = []
        for app, by_env in status.apps.items():
            for env in by_env:
                cell = sheet.get(app, env)
                if cell is None:
                    continue
                lines.append(f"- **{_text(app)}** in **{_text(env)}**: {_text(text.line(cell))}")
                lines += [f"  - {each}" for each in text.highlights(cell)]
        if not lines:
            return ""
        at = f" (rendered at `{sheet.commit[:12]}`)" if sheet.commit != status.ref else ""
        return "\n\n**What each environment is made of**" + at + "\n\n" + "\n".join(lines)

    def _live(self, state: State, status: composition.Status) -> dict[tuple[str, str], str]:
        """A line per cell whose environment says where to learn what its cluster runs."""
        reader = self.gatekeeper.live
        lines: dict[tuple[str, str], str] = {}
        for env in status.environments:
            if reader is None or state.config.environments[env].live is None:
                continue
            try:
                found = reader.read(state, env, list(status.apps))
            except PromobotError as exc:
                lines.update(((app, env), f"unknown: {exc}") for app in status.apps)
                continue
            for app, live in found.items():
                lines[(app, env)] = live.describe()
        return lines

    def _check_app(self, app: str, env: str) -> None:
        config = self.engine.state().config
        if app not in config.apps:
            raise PromobotError(f"unknown app {app!r}; known: {', '.join(config.apps)}")
        if env not in config.app_environments(app):
            raise PromobotError(f"{app} is not deployed to {env}")

    def _promote(self, command: commands.Promote, context: Context, env: str | None) -> str:
        state = self.engine.state()
        here = context.promotion
        names = list(command.apps) or ([here.name] if here and not here.batched else [])
        if not names or env is None:
            raise PromobotError("name the app and the environment: /promote APP --to ENV")
        done = []
        for name in names:
            apps = planner.resolve_name(state.config, name)
            if command.version is not None:
                only = list(command.only or [])
                if len(only) != 1:
                    raise PromobotError("--version needs exactly one component: --only image")
                set_ = planner.plan_set(
                    state.config,
                    state.status,
                    name,
                    only[0],
                    command.version,
                    env,
                    shared=command.shared,
                )
                promotions = [set_] if set_ is not None else []
            else:
                promotions = planner.plan(
                    state.config,
                    state.status,
                    env=env,
                    apps=apps,
                    only=command.only,
                    explicit=True,
                    shared=command.shared,
                )
            if not promotions:
                done.append(f"Nothing to promote: {name} in {env} already runs that.")
                continue
            for promotion in promotions:
                mine = promotion.asked_by(context.who.login)
                done.append(self._describe(self.engine.ensure(state, mine, rebuild=True)))
        return "\n".join(done)

    def _rollback(self, command: commands.Rollback, context: Context, env: str | None) -> str:
        if env is None:
            raise PromobotError(f"name the environment: /rollback {command.app} --env ENV")
        self._check_app(command.app, env)
        state = self.engine.state()
        entries = history(
            self.forge, state.config, command.app, env, state.snapshot.commit, limit=30
        )
        target = planner.pick_rollback(entries, command.to, command.app, env)
        promotion = planner.plan_rollback(
            state.config, state.status, command.app, env, target, command.only, command.shared
        )
        if promotion is None:
            running = target.composition.id
            return f"Nothing to roll back: {command.app} in {env} already runs {running}."
        mine = promotion.asked_by(context.who.login)
        older = {target.commit.sha: self.forge.snapshot(target.commit.sha)}
        action = self.engine.ensure(state, mine, rebuild=True, older=older)
        return (
            f"Rolling back {command.app} in {env} to `{target.composition.id}` "
            f"(from {target.commit.time:%Y-%m-%d %H:%M} UTC, {target.commit.sha[:10]}): "
            + self._describe(action)
        )

    def _approve(self, context: Context, pr: PullRequest) -> str:
        reply = (
            f"Approval by @{context.who.login} recorded for `{pr.head_sha[:10]}`; it counts "
            "if they are an approver for this environment and stops counting if the PR changes."
            f"{self.gatekeeper.approve_marker(pr.number, context.who.login, pr.head_sha)}"
        )
        return reply

    def _merge(self, pr: PullRequest) -> str:
        verdict = self.gatekeeper.evaluate(self.forge.get_pr(pr.number), merge=True)
        if verdict is None:
            raise PromobotError("this PR is not an open promotion")
        if verdict.merged:
            self.cascade()  # downstream environments get their PRs now
            return f"✅ Merged `{pr.head_sha[:10]}` as `{verdict.merged[:10]}`."
        blocking = [r.reason for r in verdict.results if r.state != "pass"] + verdict.notes
        return "Not merged — " + "; ".join(blocking) + "."

    def _hold(self, pr: PullRequest, command: commands.Command) -> str:
        current = self.forge.get_pr(pr.number)
        if isinstance(command, commands.Hold):
            labels = tuple(dict.fromkeys((*current.labels, HOLD_LABEL)))
            self.forge.update_pr(pr.number, labels=labels)
            reason = f": {inert(command.reason)}" if command.reason else ""
            answer = f"⏸ On hold{reason}. `/unhold` to release it."
        else:
            labels = tuple(label for label in current.labels if label != HOLD_LABEL)
            self.forge.update_pr(pr.number, labels=labels)
            answer = "▶ Released: the gates decide again."
        self.gatekeeper.evaluate(self.forge.get_pr(pr.number))
        return answer

    def _refresh(self, pr: PullRequest, promotion: Promotion, context: Context) -> str:
        state = self.engine.state()
        apps = [plan.app for plan in promotion.apps]
        if promotion.upstream is None:
            fresh = [promotion]  # a set, artifact or rollback: its versions stay as asked
        elif promotion.batched:  # what is due into the environment now, gathered again
            due = [p for p in self.engine.due(state) if p.env == promotion.env]
            fresh = planner.batch(state.config, due)
        else:
            fresh = planner.plan(
                state.config,
                state.status,
                env=promotion.env,
                apps=apps,
                explicit=True,
                shared=bool(promotion.shared),  # asked once, and the PR says so
            )
        if not fresh:
            return f"Nothing left to promote: {promotion.env} already runs what it would bring."
        action = self.engine.ensure(state, fresh[0], rebuild=True)
        self.gatekeeper.evaluate(self.forge.get_pr(pr.number))
        return "Recomputed on the current base: " + self._describe(action)

    @staticmethod
    def _describe(action: Action) -> str:
        number = f"#{action.number}" if action.number is not None else action.branch
        return {
            "opened": f"opened {number}.",
            "superseded": f"updated {number}.",
            "unchanged": f"{number} already proposes this.",
            "human-closed": f"{number} was closed by a person; reopen it to go on.",
            "human-pushed": f"{number} has commits from a person; promobot leaves it alone.",
            "not-ours": f"{number} is not promobot's; promobot leaves it alone.",
            "taken": f"nothing written: {action.detail}.",
            "closed": f"closed {number}.",
        }[action.outcome]
