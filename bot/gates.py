"""Gates: the conditions a promotion must meet before it merges.

This module holds the result type that the renderer and the forges' status share; evaluation
of each gate (approvals, soak, checks, freeze, hold) takes values and a clock and returns these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["pass", "pending", "fail"]


@dataclass(frozen=True)
class GateResult:
    name: str  # approvals, soak, checks, freeze, hold
    state: State
    reason: str  # one line a person understands: "soak: qa has run 1.4.2 for 12m of 30m"

    @property
    def passed(self) -> bool:
        return self.state == "pass"
