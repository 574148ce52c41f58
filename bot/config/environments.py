"""An environment of `.promobot.yaml`: where it takes versions from, how promotions into it are
proposed and merged, the gates they pass, and the watch on its cluster after a merge."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from bot.config.live import LiveSource
from bot.config.values import Duration, Freeze, Model, parse_duration


class Gates(Model):
    approvals: int = Field(
        0,
        ge=0,
        description="Distinct approvals needed on the PR head, never from the requester or a bot.",
    )
    approvers: tuple[str, ...] = Field(
        (),
        description="Who may approve: users, @org/team (GitHub) or @group (GitLab); "
        "empty: anyone with write access.",
    )
    soak: Duration | None = Field(
        None,
        description="How long the upstream environment must have run the promoted versions, "
        "e.g. 30m, 24h; at most 365d.",
    )
    healthy: Duration | None = Field(
        None,
        description="How long the upstream's cluster must have run the promoted versions synced "
        "and healthy, as its live: source reports, e.g. 30m; at most 365d.",
    )
    checks: tuple[str, ...] = Field(
        (), description="Commit statuses or check runs that must succeed on the PR head."
    )
    freeze: tuple[Freeze, ...] = Field(
        (), description="Weekly windows without merges, e.g. 'Fri 16:00 - Mon 08:00 Europe/Zurich'."
    )

    @property
    def soak_time(self) -> timedelta:
        return parse_duration(self.soak) if self.soak else timedelta(0)

    @property
    def healthy_time(self) -> timedelta:
        return parse_duration(self.healthy) if self.healthy else timedelta(0)


class Verify(Model):
    """After a promotion merges into the environment, its cluster must run the promoted
    versions synced and healthy within a while (read from the environment's live:)."""

    within: Duration = Field("15m", description="How long the cluster may take, e.g. 15m.")
    on_failure: Literal["comment", "rollback"] = Field(
        "comment",
        description="comment: say so on the PR and hold automatic promotions from here; "
        "rollback: also open a rollback PR to what ran before (merged at once if the "
        "environment auto-merges and its gates pass).",
    )

    @property
    def within_time(self) -> timedelta:
        return parse_duration(self.within)


class Environment(Model):
    upstream: str | None = Field(
        None, alias="from", description="The upstream environment; none: fed by sources."
    )
    auto_merge: bool = Field(False, description="Merge promotion PRs as soon as every gate passes.")
    propose: Literal["auto", "manual", "commit"] = Field(
        "auto",
        description="manual: PRs only on /promote, not on every upstream change; commit: no PR, "
        "the promotion is committed straight to the default branch (an environment without "
        "gates).",
    )
    batch: Duration | None = Field(
        None,
        description="Gather the automatic promotions into this environment into one PR (or one "
        "commit) written at most once per window, e.g. 10m; /promote still opens its own PR.",
    )
    gates: Gates = Field(
        Gates(), description="What must hold before a promotion into this environment merges."
    )
    live: LiveSource | None = Field(
        None, description="Where to learn what the environment's cluster runs."
    )
    verify: Verify | None = Field(
        None, description="Watch the cluster after a promotion merges here (needs live:)."
    )

    @property
    def batch_window(self) -> timedelta | None:
        return parse_duration(self.batch) if self.batch else None
