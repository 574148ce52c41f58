"""The gate checklist of a PR body, with what the environment's cluster runs above it.

Both are rewritten on their own as the gates and the cluster change (`replace_gates`). The
checklist is signed for its branch: a box ticked by hand makes it promobot's no more
(`signed_checklist`)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from bot.gates import GateResult
from bot.live.state import Running
from bot.planner import Promotion
from bot.render.markup import _code, _reason, _text
from bot.signing import Signer


def gates_section(
    promotion: Promotion,
    gates: Sequence[GateResult],
    signer: Signer,
    running: Sequence[Running] = (),
) -> str:
    before = running_section(promotion.env, running) + "\n\n" if running else ""
    if not gates:
        checklist = f"Gates\n- [ ] gates for {_text(promotion.env)} not evaluated yet"
    else:
        marks = {"pass": "- [x] ", "pending": "- [ ] ", "fail": "- [ ] ❌ "}
        checklist = "Gates\n" + "\n".join(marks[g.state] + _reason(g.reason) for g in gates)
    return before + checklist + "\n" + _gates_mark(promotion.branch, checklist, signer)


RUNNING_SHOWN = 10  # apps named one by one; a batch's others are counted


def running_section(env: str, running: Sequence[Running]) -> str:
    """What the environment's cluster runs, above the checklist, rewritten with it (so a
    change the cluster reports costs a body edit only when the line it shows changes)."""
    lines = [f"What **{_text(env)}** runs"]
    apps = [r for r in running if not r.error]
    lines += [f"- {_reason(r.error)}" for r in running if r.error]
    lines += [f"- {_running_line(env, r)}" for r in apps[:RUNNING_SHOWN]]
    rest = apps[RUNNING_SHOWN:]
    if rest:
        counts: dict[str, int] = {}
        for r in rest:
            state = "no report" if r.live is None else r.live.health
            counts[state] = counts.get(state, 0) + 1
        tally = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        lines.append(f"- … and {len(rest)} more: {tally}")
    return "\n".join(lines)


def _running_line(env: str, running: Running) -> str:
    """`api image 1.4.2, config v11 — healthy since Tue 2026-11-24 10:42 UTC at `1a2b3c4d5e``,
    or what the cluster says instead."""
    live, app = running.live, _text(running.app)
    if live is None:
        return f"{app}: no report from {_text(env)}'s cluster yet"
    if not live.settled or running.versions is None:
        return f"{app}: {_reason(live.describe())}"
    shown = running.git or running.versions
    versions = ", ".join(
        f"{_text(c)} {_code(running.versions[c])}" for c in shown if c in running.versions
    )
    since = f" since {live.since:%a %Y-%m-%d %H:%M} UTC" if live.since else ""
    at = f" at `{live.revision[:10]}`" if live.revision else ""
    line = f"{app} {versions} — healthy{since}{at}"
    drift = running.drift
    if drift:
        wanted = ", ".join(f"{_text(c)} {_code(git)}" for c, (git, _) in drift.items())
        line += f"; git asks for {wanted}"
    return line


def _gates_mark(branch: str, checklist: str, signer: Signer) -> str:
    digest = hashlib.sha256(checklist.encode()).hexdigest()[:32]
    return signer.mark("gates", branch=branch, digest=digest)


_GATES = re.compile(
    r"^(?:What \*\*.*\*\* runs\n(?:- .*\n)*\n)?"  # what the cluster runs, if shown
    r"Gates\n(?:- .*\n?)*(?:<!-- promobot:gates .*-->\n?)?",
    re.MULTILINE,
)
_CHECKLIST = re.compile(r"^Gates\n(?:- .*(?:\n|$))*", re.MULTILINE)


def replace_gates(
    body: str,
    promotion: Promotion,
    gates: Sequence[GateResult],
    signer: Signer,
    running: Sequence[Running] = (),
) -> str:
    """The body with its gate checklist (and what the cluster runs) replaced, everything
    else (diffs too) as it was."""
    section = gates_section(promotion, gates, signer, running)
    found = _GATES.search(body)
    if found is None:
        return body
    tail = "\n" if found.group(0).endswith("\n") else ""
    return body[: found.start()] + section + tail + body[found.end() :]


def signed_checklist(body: str, branch: str, signer: Signer) -> str | None:
    """The gate checklist in a PR body, if promobot wrote it for this branch as it stands."""
    found = _CHECKLIST.search(body)
    if found is None:
        return None
    checklist = found.group(0).rstrip("\n")
    wanted = _gates_mark(branch, checklist, signer)
    after = body[found.start() + len(checklist) :].lstrip("\n")
    return checklist if after.startswith(wanted) else None
