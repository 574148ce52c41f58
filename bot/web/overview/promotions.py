"""Open promotions and their gates, read back from a promotion PR's signed body."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any, Literal

from bot import audit, render
from bot.engine import Engine
from bot.forges.base import PullRequest
from bot.gates import IMPACT_LABEL

GateState = Literal["pass", "pending", "fail"]


@dataclass(frozen=True)
class Gate:
    state: GateState
    text: str


@dataclass(frozen=True)
class Change(audit.Change):
    """A component an open promotion changes, as the audit log says it, and in which way."""

    change: str  # up, down, changed (the planner's words)


@dataclass(frozen=True)
class OpenPromotion:
    """An open promotion PR, read back from its body: the plan and the gate checklist."""

    number: int
    url: str | None  # only http(s) links: the local forge's "URL" is a path on disk
    title: str
    env: str
    upstream: str | None
    name: str  # the app, or the group promoted together
    apps: tuple[str, ...]
    changes: tuple[Change, ...]
    gates: tuple[Gate, ...]
    # what it changes in the cluster, as promobot labelled the PR (shown, never gated on: the
    # gates compute it from the promotion itself); "unknown" where it could not be rendered
    impact: tuple[str, ...] = ()

    @property
    def state(self) -> GateState:
        states = {g.state for g in self.gates}
        return "fail" if "fail" in states else "pending" if "pending" in states else "pass"

    @property
    def summary(self) -> str:
        """The first failing gate, else the first pending one, else that all pass."""
        for state in ("fail", "pending"):
            gate = next((g for g in self.gates if g.state == state), None)
            if gate is not None:
                return gate.text
        return "all gates pass"

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "url": self.url,
            "title": self.title,
            "env": self.env,
            "name": self.name,
            "state": self.state,
            "gates": [{"state": g.state, "text": g.text} for g in self.gates],
            "impact": list(self.impact),
            "changes": [
                {"app": c.app, "component": c.component, "before": c.before, "after": c.after}
                for c in self.changes
            ],
        }


_GATES = re.compile(r"^Gates\n((?:- .*(?:\n|$))*)", re.MULTILINE)
_ITEM = re.compile(r"^- \[(?P<mark>[ xX])\] (?P<text>.*)$")
_FAIL = "❌ "
_UNVERIFIED = Gate(
    "pending", "the gate checklist was edited; promobot rewrites it at its next look"
)


def parse_gates(checklist: str) -> tuple[Gate, ...]:
    """The gate checklist promobot keeps in a PR body (see `render.replace_gates`)."""
    found = _GATES.search(checklist)
    if found is None:
        return (Gate("pending", "gates not evaluated yet"),)
    gates = []
    for line in found.group(1).splitlines():
        item = _ITEM.match(line)
        if item is None:
            continue
        text = html.unescape(item["text"]).replace("`", "")
        if item["mark"] != " ":
            gates.append(Gate("pass", text))
        elif text.startswith(_FAIL):
            gates.append(Gate("fail", text.removeprefix(_FAIL)))
        else:
            gates.append(Gate("pending", text))
    return tuple(gates) or (Gate("pending", "gates not evaluated yet"),)


def open_promotion(pr: PullRequest, engine: Engine) -> OpenPromotion | None:
    """None for a PR without promobot's signed metadata (someone else's, or an edited body).
    The checklist is shown only as promobot signed it: an edited one shows as unknown."""
    promotion = engine.promotion_of(pr)
    if promotion is None:
        return None
    checklist = render.signed_checklist(pr.body, pr.branch, engine.signer)
    changes = tuple(
        Change(plan.app, row.component, row.before, row.after, row.change)
        for plan in promotion.apps
        for row in plan.changed
    )
    return OpenPromotion(
        number=pr.number,
        url=pr.url if pr.url.startswith(("https://", "http://")) else None,
        title=pr.title,
        env=promotion.env,
        upstream=promotion.upstream,
        name=promotion.display,
        apps=tuple(plan.app for plan in promotion.apps),
        changes=changes,
        gates=parse_gates(checklist) if checklist is not None else (_UNVERIFIED,),
        impact=tuple(
            label.removeprefix(IMPACT_LABEL)
            for label in pr.labels
            if label.startswith(IMPACT_LABEL)
        ),
    )
