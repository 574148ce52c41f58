"""An environment of `.promobot.yaml`: where it takes versions from, how promotions into it are
proposed and merged, the gates they pass, and the watch on its cluster after a merge."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any, Literal, get_args

from pydantic import ConfigDict, Discriminator, Field, Tag, model_validator

from bot.config.live import LiveSource
from bot.config.values import Duration, Freeze, Model, parse_duration

# What a promotion changes in the cluster, as `bot.manifests.model.Impact` names it. The
# configuration sits below the core and cannot import it; a test keeps the two the same.
ImpactClass = Literal[
    "crd", "rbac", "namespace", "data", "exposure", "secret", "scale", "config", "image", "other"
]
IMPACT_CLASSES: tuple[ImpactClass, ...] = get_args(ImpactClass)


def _or_manual(schema: dict[str, Any]) -> None:
    """The JSON schema of an impact rule: `manual`, or a mapping of approvals."""
    mapping = {k: schema.pop(k) for k in list(schema) if k not in ("title", "description")}
    mapping["properties"].pop("manual", None)
    schema["anyOf"] = [{"const": "manual"}, mapping]


class ImpactRule(Model):
    model_config = ConfigDict(**Model.model_config, json_schema_extra=_or_manual)

    manual: bool = Field(
        False, description="manual: a person merges the PR while this class is in the diff."
    )
    approvals: int = Field(
        0,
        ge=0,
        description="Approvals this class needs when it is in the diff, besides the "
        "environment's own approvals: gate.",
    )
    approvers: tuple[str, ...] = Field(
        (),
        description="Who may give them: users, @org/team or @group; empty: anyone with write "
        "access.",
    )

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        if data == "manual":
            return {"manual": True}
        if not isinstance(data, dict):
            raise ValueError(
                f"an impact rule is manual or {{approvals: N, approvers: [...]}}, got {data!r}"
            )
        return data

    @model_validator(mode="after")
    def _check(self) -> ImpactRule:
        if not self.manual and self.approvals < 1:
            raise ValueError(
                "an impact rule needs approvals: 1 or more (or is manual: a person merges)"
            )
        return self


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
    impact: dict[ImpactClass, ImpactRule] = Field(
        {},
        description="Per class of what the promotion changes in the cluster (crd, rbac, "
        "namespace, data, exposure, secret, scale, config, image, other): manual, or "
        "{approvals: N, approvers: [...]} needed while that class is in the diff. A promotion "
        "that could not be rendered needs every rule's approvals and is merged by a person.",
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


class AutoMerge(Model):
    unless: tuple[ImpactClass, ...] | None = Field(
        None, description="Auto-merge unless one of these classes is in the diff."
    )
    only: tuple[ImpactClass, ...] | None = Field(
        None,
        description="Auto-merge only when every class in the diff is listed (no rendered "
        "change counts as within).",
    )

    @model_validator(mode="after")
    def _check(self) -> AutoMerge:
        if (self.unless is None) == (self.only is None):
            raise ValueError(
                "takes one of unless: or only: (not both), e.g. {only: [image]}; or true or false"
            )
        return self

    def forbids(self, impact: Sequence[str]) -> str:
        """Why this rule stops an auto-merge of a diff of these classes ("" if it does not)."""
        if self.unless is not None:
            found = [c for c in impact if c in self.unless]
            listed = ", ".join(self.unless)
            return f"{', '.join(found)} in the diff (auto_merge: unless {listed})" if found else ""
        only = self.only or ()
        beyond = [c for c in impact if c not in only]
        listed = ", ".join(only) or "nothing"
        return f"{', '.join(beyond)} in the diff (auto_merge: only {listed})" if beyond else ""


def _auto_merge_form(data: Any) -> str | None:
    if isinstance(data, bool):
        return "tag-bool"
    if isinstance(data, dict | AutoMerge):
        return "tag-rule"
    return None  # neither: the custom error below


AutoMergeSetting = Annotated[
    Annotated[bool, Tag("tag-bool")] | Annotated[AutoMerge, Tag("tag-rule")],
    Discriminator(
        _auto_merge_form,
        custom_error_type="auto_merge",
        custom_error_message="should be true, false, {unless: [classes]} or {only: [classes]}",
    ),
]


class Environment(Model):
    upstream: str | None = Field(
        None, alias="from", description="The upstream environment; none: fed by sources."
    )
    auto_merge: AutoMergeSetting = Field(
        False,
        description="Merge promotion PRs as soon as every gate passes: true, false, "
        "{unless: [crd, data]} (not while one of these classes of change is in the diff) or "
        "{only: [image]} (only while every class in the diff is listed). A promotion that "
        "could not be rendered is not auto-merged under unless:, only: or gates.impact.",
    )
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

    @property
    def auto_merges(self) -> bool:
        """Auto-merge is configured (always, or depending on what the promotion changes)."""
        return self.auto_merge is not False

    @property
    def impact_rules(self) -> bool:
        """Whether anything here depends on what a promotion changes in the cluster."""
        return isinstance(self.auto_merge, AutoMerge) or bool(self.gates.impact)

    def merges_itself(self, impact: Sequence[str] | None, unknown: str = "") -> tuple[bool, str]:
        """Whether promobot merges a promotion with this impact on its own once the gates
        pass, and why not (see `merges_itself`)."""
        if not self.auto_merges:
            return False, "auto_merge is off"
        return merges_itself(self.auto_merge, self.gates, impact, unknown)


def merges_itself(
    auto_merge: bool | AutoMerge, gates: Gates, impact: Sequence[str] | None, unknown: str = ""
) -> tuple[bool, str]:
    """Whether what a promotion changes in the cluster lets it auto-merge, and why not, for
    an environment that auto-merges. `impact` None: it could not be rendered (`unknown` says
    why); with any rule that depends on the impact, a person merges it (fail safe)."""
    manual = [c for c in IMPACT_CLASSES if c in gates.impact and gates.impact[c].manual]
    if impact is None:
        if not (isinstance(auto_merge, AutoMerge) or gates.impact):
            return True, ""
        return False, f"impact unknown: {unknown or 'the promotion could not be rendered'}"
    present = [c for c in manual if c in impact]
    if present:
        return False, f"{', '.join(present)} in the diff (gates.impact: manual)"
    if isinstance(auto_merge, AutoMerge):
        why = auto_merge.forbids(impact)
        if why:
            return False, why
    return True, ""
