"""`Live`: what one environment's cluster reports for one app, whatever reported it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

# Argo CD's health statuses, which Flux's and Fleet's conditions map onto.
Health = Literal["healthy", "progressing", "degraded", "suspended", "missing", "unknown"]
# Synced: the cluster applied the revision it names; out-of-sync: git asks for something else.
Sync = Literal["synced", "out-of-sync", "unknown"]


@dataclass(frozen=True)
class Rollout:
    """A canary or blue-green rollout in progress (Argo Rollouts, Flagger), or `unknown` when
    the environment has one that could not be read (it then counts as still rolling)."""

    strategy: Literal["canary", "blue-green", "unknown"]
    phase: Literal[
        "progressing", "paused", "promoting", "succeeded", "aborted", "failed", "unknown"
    ]
    step: int | None = None  # canary: the current step, 1-based
    steps: int | None = None  # canary: how many steps there are
    weight: int | None = None  # canary: the share of traffic on the new version, percent

    @property
    def failed(self) -> bool:
        return self.phase in ("aborted", "failed")

    def describe(self) -> str:
        """`canary 20%, step 2 of 5`, `blue-green: preview`, `rollout unknown`."""
        if self.phase == "unknown" or self.strategy == "unknown":
            return "rollout unknown"
        if self.strategy == "blue-green":
            return "blue-green: " + ("preview" if self.phase != "succeeded" else "promoted")
        parts = [f"canary {self.weight}%" if self.weight is not None else "canary"]
        if self.step is not None and self.steps is not None:
            parts.append(f"step {self.step} of {self.steps}")
        if self.phase in ("paused", "aborted", "failed"):
            parts.append(self.phase)
        return ", ".join(parts)


@dataclass(frozen=True)
class Live:
    """What a source last said about one app in one environment."""

    source: str  # where it came from: "argocd https://argocd.example.com", "flux", …
    sync: Sync
    health: Health
    revision: str | None  # the env-repo commit the cluster is synced to, when it says
    since: datetime | None  # since when it has been in this state at this revision
    observed: datetime  # when promobot learned it
    images: tuple[str, ...] = ()  # the images it runs, when the source lists them
    message: str = ""  # the source's own words for a problem ("Deployment … exceeded …")
    rollout: Rollout | None = None
    # an abbreviated commit the source named (Flux of 2020: `master/a1afe267b`) that is not
    # resolved to one env-repo commit: `revision` is then None; the reader resolves it
    unresolved: str = ""

    @classmethod
    def unknown(cls, source: str, observed: datetime, message: str) -> Live:
        """What a source that says nothing of an object reports: unknown, and why."""
        return cls(source, "unknown", "unknown", None, None, observed, message=message)

    def describe(self) -> str:
        """One line: `healthy at 1a2b3c4d5e since 2026-11-30 10:42 UTC`, with the sync state,
        a rollout under way and the source's own words when it is not settled; an
        abbreviation nothing resolved is shown as `at a1afe267b (unresolved)`."""
        state = self.health if self.sync == "synced" else f"{self.health}, {self.sync}"
        state += self._rolling
        at = f" at {self.revision[:10]}" if self.revision else ""
        if not at and self.unresolved:
            at = f" at {self.unresolved} (unresolved)"
        since = f" since {self.since:%Y-%m-%d %H:%M} UTC" if self.since else ""
        said = f": {self.message}" if self.message and not self.settled else ""
        return f"{state}{at}{since}{said}"

    def to_json(self) -> dict[str, Any]:
        """For the queue's store (a pushed report, such as Flux's, kept between processes)."""
        data = asdict(self)
        for key in ("since", "observed"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Live:
        fields = dict(data)
        for key in ("since", "observed"):
            fields[key] = datetime.fromisoformat(fields[key]) if fields.get(key) else None
        fields["images"] = tuple(fields.get("images") or ())
        rollout = fields.get("rollout")
        fields["rollout"] = Rollout(**rollout) if rollout else None
        return cls(**fields)

    @property
    def health_shown(self) -> str:
        """The health, with a rollout under way beside it: `healthy (canary 20%, step 2 of 5)`."""
        return self.health + self._rolling

    @property
    def rolling(self) -> bool:
        """A canary or blue-green rollout is under way (or stopped short of success)."""
        return self.rollout is not None and self.rollout.phase != "succeeded"

    @property
    def _rolling(self) -> str:
        return f" ({self.rollout.describe()})" if self.rollout and self.rolling else ""

    @property
    def settled(self) -> bool:
        """Synced and healthy, with no rollout still under way: it runs `revision`."""
        return self.sync == "synced" and self.health == "healthy" and not self.rolling

    @property
    def failed(self) -> bool:
        """What verification after a merge counts as a failure."""
        return self.health == "degraded" or (self.rollout is not None and self.rollout.failed)


@dataclass(frozen=True)
class Running:
    """What an app's cluster runs in the environment a PR promotes into, for the PR's body:
    the report, the versions at the commit it runs, and what git asks for there now."""

    app: str
    live: Live | None  # None: the source said nothing of the app (yet)
    versions: Mapping[str, str] | None = None  # component → version at live.revision
    git: Mapping[str, str] | None = None  # component → version git asks for now
    error: str = ""  # the source could not be read: why (then `app` is "")

    @property
    def drift(self) -> dict[str, tuple[str, str]]:
        """component → (git's version, the running one), where they differ."""
        if self.versions is None or self.git is None or self.live is None:
            return {}
        return {
            component: (wanted, self.versions[component])
            for component, wanted in self.git.items()
            if component in self.versions and self.versions[component] != wanted
        }
