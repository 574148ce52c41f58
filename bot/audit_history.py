"""`promobot audit` on a checkout: the audit log rebuilt from what the repo and its PRs keep.

The service writes its records as it decides (`bot.audit`); a checkout has no such log, but it
has what those decisions left behind, and promobot signed the parts people could have edited:

- the default branch's merge commits of promotion PRs (the local forge's `Merge #N: …`,
  GitHub's `Merge pull request #N from …/promobot/<env>/<name>`, GitLab's `… See merge request
  …!N`): the merge SHA, its time, the PR number;
- each such PR's signed metadata block (`bot.render.parse_meta`): the environment, the apps,
  the versions before and after, who asked for it;
- the approvals on the head that merged: the forge's reviews, and the signed `/approve`
  records in promobot's own replies; those that count are the approvers the configuration
  named just before the merge, asked of the forge today (it keeps no history of teams);
- promobot's signed acknowledgements of commands: the comment they answer (its author and
  text, as the forge has it) and the answer (refused or not).

A block or a reply whose signature does not verify is left out, never believed. On the local
forge every PR is read (also those never merged); on GitHub and GitLab (PROMOBOT_FORGE and its
credentials set) the merged ones the history names, three calls each. What the history cannot
tell — gate verdicts, refusals of merges, verification — is only in the service's log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from bot import audit, render
from bot.engine import read_state
from bot.errors import NotFound, PromobotError
from bot.forges.base import Comment, Forge, PullRequest, Review
from bot.forges.local import LocalForge
from bot.signing import Signer

_MERGES = (
    re.compile(r"^Merge #(?P<n>\d+): "),  # the local forge
    re.compile(r"^Merge pull request #(?P<n>\d+) from \S+"),  # GitHub
    re.compile(r"See merge request \S+!(?P<n>\d+)\s*$", re.MULTILINE),  # GitLab
)


@dataclass(frozen=True)
class Merge:
    number: int
    sha: str
    at: datetime
    head: str | None  # the second parent: the PR head that merged


def merges(forge: LocalForge, ref: str = "HEAD") -> list[Merge]:
    """The promotion-looking merge commits on `ref`'s first-parent history, oldest first."""
    out = forge.git.text(
        "log", "--first-parent", "--merges", "--format=%H%x1f%P%x1f%cI%x1f%B%x1e", ref
    )
    found = []
    for entry in out.split("\x1e"):
        if not entry.strip():
            continue
        sha, parents, when, message = entry.strip("\n").split("\x1f", 3)
        for pattern in _MERGES:
            match = pattern.search(message)
            if match:
                second = parents.split()[1] if len(parents.split()) > 1 else None
                found.append(Merge(int(match["n"]), sha, datetime.fromisoformat(when), second))
                break
    return found[::-1]


def records(
    forge: Forge,
    signer: Signer,
    repo: str,
    merged: Iterable[Merge],
    numbers: Iterable[int] = (),
) -> Iterator[audit.Record]:
    """The records the PRs `numbers` and the merges `merged` left behind, in no set order."""
    by_number = {m.number: m for m in merged}
    me = forge.identity()
    for number in dict.fromkeys([*numbers, *by_number]):
        try:
            pr = forge.get_pr(number)
        except NotFound:
            continue
        promotion = render.parse_meta(pr.body, signer, pr.branch)
        if promotion is None or (pr.author_id is not None and pr.author_id != me.id):
            continue  # not promobot's, or its record does not verify: not evidence
        about = audit.about(promotion, pr)
        comments = forge.comments(number)
        mine = [c for c in comments if c.user_id is not None and c.user_id == me.id]
        yield audit.Record(
            kind="rollback-opened" if promotion.reason == "rollback" else "opened",
            repo=repo,
            at=_opened_at(comments, by_number.get(number)),
            id=f"pr-{number}-opened",
            **about,
            outcome="opened",
            reason="from the signed metadata of the PR's description",
        )
        yield from _commands(repo, pr, promotion, comments, mine, signer)
        merge = by_number.get(number)
        if merge is not None:
            head = merge.head or promotion.commit or pr.head_sha
            approved = _approvers(forge, signer, pr, mine, head)
            wanted = _approvers_configured(forge, promotion.env, merge)
            counted = tuple(
                user
                for user in approved
                if user.casefold() not in {r.casefold() for r in promotion.requested_by}
                and _eligible(forge, wanted, user)
            )
            yield audit.Record(
                kind="merged",
                repo=repo,
                at=merge.at,
                id=f"pr-{number}-merged",
                **{**about, "head": head},
                sha=merge.sha,
                approvers=counted,
                outcome="merged",
                reason="from the merge commit and the approvals on the head that merged",
                inputs={"approved": list(approved), "approvers": list(wanted or ())},
            )


def _approvers_configured(forge: Forge, env: str, merge: Merge) -> tuple[str, ...] | None:
    """`gates.approvers` of `env` as configured just before the merge (its first parent);
    None when that configuration cannot be read."""
    try:
        parent = forge.log(merge.sha, [], 2)
        state = read_state(forge, parent[1].sha if len(parent) > 1 else merge.sha, apps=[])
    except PromobotError:
        return None
    env_config = state.config.environments.get(env)
    return env_config.gates.approvers if env_config is not None else None


def _eligible(forge: Forge, approvers: tuple[str, ...] | None, user: str) -> bool:
    """As the gatekeeper decides it, but with the forge's answer of today on teams and
    permissions (it keeps no history of them): listed, in a listed team or group, or — no
    list — write access."""
    if approvers is None:
        return True  # the configuration of the day is unknown: who approved is what is known
    if not approvers:
        return forge.permission(user) in ("admin", "write")
    for entry in approvers:
        name = entry.removeprefix("@")
        if name.casefold() == user.casefold():
            return True
        if entry.startswith("@") and forge.is_member(user, name):
            return True
    return False


def _opened_at(comments: list[Comment], merge: Merge | None) -> datetime:
    """When a PR opened is not in the metadata: its first comment, else its merge, else now."""
    times = [c.created_at for c in comments] + ([merge.at] if merge else [])
    return min(times) if times else datetime.now().astimezone()


def _approvers(
    forge: Forge, signer: Signer, pr: PullRequest, mine: list[Comment], head: str
) -> tuple[str, ...]:
    """Who approved the head that merged: forge reviews on it (their last word) and promobot's
    signed `/approve` records for it. Whether each one counted under the gates of the day is in
    the service's log; the history says who approved."""
    latest: dict[str, Review] = {}  # each person's last word; a comment changes nothing
    for review in sorted(forge.reviews(pr.number), key=lambda r: r.submitted_at):
        if review.state != "commented":
            latest[review.user.casefold()] = review
    found = [r.user for r in latest.values() if r.state == "approved" and r.sha == head]
    for comment in mine:
        for mark in signer.marks("approve", comment.body):
            if mark.get("pr") == str(pr.number) and mark.get("sha") == head and mark.get("user"):
                found.append(mark["user"])
    return tuple(dict.fromkeys(found))


def _commands(
    repo: str,
    pr: PullRequest,
    promotion: object,
    comments: list[Comment],
    mine: list[Comment],
    signer: Signer,
) -> Iterator[audit.Record]:
    """A record per command promobot acknowledged, from its signed replies."""
    by_id = {c.id: c for c in comments}
    about = audit.about(promotion, pr)
    for reply in mine:
        for mark in signer.marks("ack", reply.body):
            original = (
                by_id.get(int(mark["comment"])) if mark.get("comment", "").isdigit() else None
            )
            if original is None:
                continue
            line = next(
                (ln[2:].strip() for ln in reply.body.splitlines() if ln.startswith("> /")), None
            )
            refused = "❌" in reply.body and " may not /" in reply.body
            yield audit.Record(
                kind="command",
                repo=repo,
                at=reply.created_at,
                id=f"pr-{pr.number}-reply-{reply.id}",
                **about,
                actor=original.user,
                command=line,
                outcome="refused" if refused else "failed" if "❌" in reply.body else "allowed",
                reason=_answer(reply.body),
                inputs={"comment": str(original.id)},
            )


def _answer(body: str) -> str:
    """The first line of promobot's answer (after the quoted command, before the marker)."""
    for line in body.splitlines():
        if line.strip() and not line.startswith(">") and not line.startswith("<!--"):
            return line.strip()[:300]
    return ""


def local_numbers(forge: LocalForge) -> list[int]:
    """Every PR of the local forge, merged or not."""
    return forge.pull_numbers()
