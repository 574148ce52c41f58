"""Verification after a merge: did the environment's cluster take the promotion?

When a promotion merges into an environment with `verify:`, promobot watches its cluster (the
environment's `live:`) until it runs the promoted versions synced and healthy — verified — or
turns degraded on them, or the time runs out — failed. A failed environment holds automatic
promotions *from* it until the next merge into it (a fix, a rollback), and says why on the PR
and the overview. `Watch` is what is watched (kept in the queue's store, so every process sees
it); `judge` is the decision, pure: the time is passed in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal

from bot.live.state import Live

State = Literal["watching", "verified", "failed"]


@dataclass(frozen=True)
class Watch:
    env: str
    number: int  # the promotion PR that merged
    merged_at: datetime
    deadline: datetime
    wanted: Mapping[str, Mapping[str, str]]  # app → component → the version it brought
    state: State = "watching"
    reason: str = ""

    def to_text(self) -> str:
        data: dict[str, Any] = asdict(self)
        data["merged_at"] = self.merged_at.isoformat()
        data["deadline"] = self.deadline.isoformat()
        return json.dumps(data)

    @classmethod
    def from_text(cls, text: str) -> Watch:
        data = json.loads(text)
        data["merged_at"] = datetime.fromisoformat(data["merged_at"])
        data["deadline"] = datetime.fromisoformat(data["deadline"])
        return cls(**data)

    @property
    def holds(self) -> bool:
        """Whether automatic promotions from this environment wait."""
        return self.state == "failed"


def judge(
    watch: Watch,
    lives: Mapping[str, Live],
    running: Mapping[str, Mapping[str, str]],
    now: datetime,
) -> Watch:
    """The watch after a look at the cluster: `lives` per app and `running`, the versions at
    the commit each app's cluster runs. Verified once every app runs what the promotion
    brought, synced and healthy; failed when one is degraded on it (or its rollout aborted),
    or when the deadline passes first."""
    if watch.state != "watching":
        return watch
    waiting = []
    for app, versions in watch.wanted.items():
        live, ran = lives.get(app), running.get(app) or {}
        took = all(ran.get(c) == v for c, v in versions.items())
        if live is not None and took and live.failed:
            said = f": {live.message}" if live.message else ""
            if live.rollout is not None and live.rollout.failed:  # say what the rollout did
                return replace(
                    watch, state="failed", reason=f"{app}'s {live.rollout.describe()}{said}"
                )
            return replace(watch, state="failed", reason=f"{app} is {live.health}{said}")
        if live is None or not took or not live.settled:
            state = "no report" if live is None else live.health if took else "an older commit"
            waiting.append(f"{app} ({state})")
    if not waiting:
        return replace(watch, state="verified", reason="every app runs it synced and healthy")
    if now >= watch.deadline:
        late = ", ".join(waiting)
        return replace(watch, state="failed", reason=f"not healthy in time: {late}")
    return watch
