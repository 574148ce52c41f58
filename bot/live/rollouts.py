"""Progressive delivery read from the cluster: Argo Rollouts `Rollout`s and Flagger `Canary`s.

An environment's `live:` may name, beside its one source, the object that rolls each app out:
`rollout: {kind: argo-rollouts | flagger, name: "{app}", namespace: "{app}", context: ""}`.
Its state becomes the `Rollout` of that app's `Live` (`overlay`): a rollout still under way is
not settled, so a `healthy:` gate downstream waits, and an aborted or failed one fails
verification. tests/fixtures/rollouts/README.md lists the recorded examples and the sources of
every rule below.

Argo Rollouts, `argoproj.io/v1alpha1` `rollouts` (pkg/apis/rollouts/v1alpha1/types.go; the
phase as `utils/rollout/rolloututil.go` GetRolloutPhase computes it for clients):

- strategy: `spec.strategy.blueGreen` → blue-green, else canary.
- phase: a status whose numeric `observedGeneration` is behind `metadata.generation` speaks of
  an older spec → progressing; `controllerPause` without `pauseConditions` (a resume not yet
  seen) → progressing. Else `status.phase` (v1.0 and later: Healthy, Progressing, Paused,
  Degraded), or for older controllers the phase CalculateRolloutPhase would give (an
  InvalidSpec condition or a RolloutAborted or ProgressDeadlineExceeded reason → Degraded;
  `spec.paused` or a pause condition → Paused; …). Then: `status.abort` → aborted; Degraded →
  failed; Paused → paused; Healthy and done → succeeded; anything else → progressing. Done is
  `status.stableRS == status.currentPodHash` (IsFullyPromoted).
- canary step: `status.currentStepIndex` (0-based, absent = 0) of `spec.strategy.canary.steps`,
  shown 1-based and at most the number of steps (the index equals it once every step ran).
- canary weight: `status.canary.weights.canary.weight` when traffic routing reports it, else
  the last `setWeight` at or before the current step (GetCurrentSetWeight), as a percentage of
  `trafficRouting.maxTrafficWeight` (default 100); done → all of it; aborted → none shown
  (traffic is back on the stable version: the step it stopped at is what matters).
- blue-green: preview until done (`status.blueGreen.activeSelector` is the new pod hash and
  it is marked stable); BlueGreenPause is the preview awaiting promotion.
- message: `status.message`, else the aborting or failing condition's reason and message.
- since (when done): the `Completed` condition's `lastTransitionTime`, set when the rollout
  became fully promoted.

Flagger, `flagger.app/v1beta1` `canaries` (pkg/apis/flagger/v1beta1/canary.go, status.go;
pkg/controller/scheduler.go):

- strategy: `spec.analysis.iterations` without `match` → blue-green (DeploymentStrategy), else
  canary (A/B testing, iterations with `match`, counts iterations as steps and has no weight).
- phase: `status.phase`, else the `Promoted` condition's reason (Flagger's docs show a status
  without the phase). Initializing, Progressing, Terminating, none → progressing; Waiting,
  WaitingPromotion (a confirm-rollout or confirm-promotion webhook holds it) → paused;
  Promoting, Finalising → promoting; Initialized (the first version, nothing to analyse),
  Succeeded, Terminated (Flagger let go of the Deployment) → succeeded; Failed → failed.
- weight: `status.canaryWeight` in Progressing, Waiting and Promoting (Flagger resets it to 0
  in the other phases, so there none is shown); steps from `spec.analysis`: `stepWeights` →
  their number, the step is the position of the weight among them; `stepWeight` →
  `maxWeight` (default 100) / `stepWeight` steps, the step is `canaryWeight / stepWeight`.
  Succeeded → all of it, at the last step.
- message: the `Promoted` condition's message, with `status.failedChecks` when there are any.
- since (when succeeded): `status.lastTransitionTime`, which Flagger sets at every phase
  change, else the `Promoted` condition's.

Reading: one list call per (kubeconfig context, kind, namespace) a poll, shared for 10 s by
`bot.live.reader` as Argo CD's and Fleet's are. When an environment's namespace template holds
`{app}` or `{env}` (one namespace per app: the default `{app}`), one cluster-wide list
(`/apis/GROUP/VERSION/PLURAL`) replaces the list per namespace, so the credentials need `list`
on the kind in every namespace (a ClusterRole). An object that is not listed, a context that
cannot be read, or no `PROMOBOT_KUBECONFIG`: that app's rollout is unknown and says why; the
other apps, environments and contexts go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, NamedTuple

from bot.config import Config, RolloutLive
from bot.forges.retry import DEFAULT, Policy
from bot.live import kube
from bot.live.kube import Kube, KubeError, Resource, integer, mapping, timestamp
from bot.live.state import Live, Rollout

SETTING = "PROMOBOT_KUBECONFIG"
ARGO_ROLLOUTS = Resource("argoproj.io", "v1alpha1", "rollouts", "Argo Rollouts")
FLAGGER = Resource("flagger.app", "v1beta1", "canaries", "Flagger")
RESOURCES = {"argo-rollouts": ARGO_ROLLOUTS, "flagger": FLAGGER}
KINDS = {"argo-rollouts": "Rollout", "flagger": "Canary"}

Phase = Literal["progressing", "paused", "promoting", "succeeded", "aborted", "failed"]


class Ask(NamedTuple):
    """One object to read: where, which kind, which one, and whether its namespace comes from
    a template (many namespaces: read with one cluster-wide list)."""

    context: str
    kind: str  # "argo-rollouts", "flagger"
    namespace: str
    name: str
    wide: bool


@dataclass(frozen=True)
class Found:
    """What the cluster says of one rollout."""

    rollout: Rollout
    since: datetime | None = None  # when it completed (succeeded only)
    message: str = ""

    @classmethod
    def unknown(cls, why: str) -> Found:
        return cls(Rollout("unknown", "unknown"), None, f"rollout unknown: {why}")


@dataclass(frozen=True)
class Poll:
    found: dict[Ask, Found]  # every Ask asked for
    calls: int  # list requests it took, retries included


def ask(rollout: RolloutLive, app: str, env: str) -> Ask:
    """The object `rollout:` names for this app in this environment."""
    namespace = rollout.expand(rollout.namespace, app, env)
    name = rollout.expand(rollout.name, app, env)
    return Ask(rollout.context, rollout.kind, namespace, name, rollout.wide)


def wanted(config: Config) -> dict[Ask, list[tuple[str, str]]]:
    """Every rollout the configuration reads → the (app, env) pairs it speaks for."""
    asks: dict[Ask, list[tuple[str, str]]] = {}
    for app in config.apps:
        for env in config.app_environments(app):  # as bot.live.objects: where it is deployed
            live = config.environments[env].live
            if live is not None and live.rollout is not None:
                asks.setdefault(ask(live.rollout, app, env), []).append((app, env))
    return asks


def overlay(live: Live, found: Found) -> Live:
    """The main source's answer with the cluster's rollout in it (replacing any guess of the
    source's own, such as Argo CD's paused Rollout). A completed rollout counts from when it
    completed; one still under way, failed or unknown says why in the message."""
    since = live.since
    if found.rollout.phase == "succeeded" and found.since is not None and since is not None:
        since = max(since, found.since)
    message = live.message
    if found.rollout.phase != "succeeded" and found.message:
        message = f"{message}; {found.message}" if message else found.message
    return replace(live, rollout=found.rollout, since=since, message=message[:500])


class Rollouts:
    """The clusters of PROMOBOT_KUBECONFIG's contexts, asked for Rollouts and Canaries."""

    def __init__(
        self,
        kubeconfig: str | None,
        *,
        policy: Policy = DEFAULT,
        timeout: float = 30.0,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.policy = policy
        self.timeout = timeout
        self.on_change = on_change  # a Rollout or Canary a watch heard change, `namespace/name`
        self._kubes: dict[str, Kube] = {}  # by context ("" = the kubeconfig's current one)

    def close(self) -> None:
        for kube_api in self._kubes.values():
            kube_api.close()

    def poll(self, asks: Iterable[Ask], now: datetime | None = None) -> Poll:
        """A `Found` for every Ask: one list per (context, kind, namespace), or one
        cluster-wide list per (context, kind) when a namespace comes from a template."""
        wanted_asks = list(dict.fromkeys(asks))
        if self.kubeconfig is None:
            why = f"{SETTING} is not set (the kubeconfig whose contexts live: rollout: reads)"
            return Poll({a: Found.unknown(why) for a in wanted_asks}, 0)
        groups: dict[tuple[str, str], list[Ask]] = {}
        for one in wanted_asks:
            groups.setdefault((one.context, one.kind), []).append(one)
        found: dict[Ask, Found] = {}
        calls = 0
        for (context, kind), group in groups.items():
            resource = RESOURCES[kind]
            namespaces: list[str | None] = [None]
            if not any(a.wide for a in group):
                namespaces = [*sorted({a.namespace for a in group})]
            api = self._kube(context)
            for namespace in namespaces:
                asked = [a for a in group if namespace is None or a.namespace == namespace]
                try:
                    body, took = api.watched(resource, namespace)
                    calls += took
                    listed = kube.items(body, f"{api.source}: the {resource.name} list")
                except KubeError as exc:
                    found.update((a, Found.unknown(str(exc))) for a in asked)
                    continue
                by_name: dict[tuple[str, str], Mapping[str, Any]] = {}
                for item in listed:
                    meta = mapping(item, "metadata")
                    by_name[(str(meta.get("namespace") or namespace), str(meta.get("name")))] = item
                for one in asked:
                    obj = by_name.get((one.namespace, one.name))
                    if obj is None:
                        where = f"{api.source}" + (f" (context {context})" if context else "")
                        found[one] = Found.unknown(
                            f"no {KINDS[kind]} {one.namespace}/{one.name} in {where}"
                        )
                    else:
                        found[one] = read(kind, obj)
        return Poll(found, calls)

    def _kube(self, context: str) -> Kube:
        if context not in self._kubes:
            assert self.kubeconfig is not None
            self._kubes[context] = Kube(
                self.kubeconfig,
                context,
                label="kubernetes",
                setting=SETTING,
                forbidden=_grant,
                policy=self.policy,
                timeout=self.timeout,
                on_change=self._changed,
            )
        return self._kubes[context]

    def _changed(self, resource: Resource, key: str) -> None:
        if self.on_change is not None:
            self.on_change(key)


def _grant(resource: Resource, namespace: str | None) -> str:
    if namespace is None:
        return (
            f"grant get, list and watch on {resource.name} in every namespace (a ClusterRole: the "
            "rollout: namespace has {app} or {env}, so one cluster-wide list is made)"
        )
    return f"grant get, list and watch on {resource.name} in that namespace (a Role)"


def read(kind: str, obj: Mapping[str, Any]) -> Found:
    return argo_rollout(obj) if kind == "argo-rollouts" else flagger_canary(obj)


# --- Argo Rollouts ------------------------------------------------------------------------------


def argo_rollout(obj: Mapping[str, Any]) -> Found:
    """One Argo Rollouts Rollout → `Found` (the rules are in the module's docstring)."""
    spec, status = mapping(obj, "spec"), mapping(obj, "status")
    strategy = mapping(spec, "strategy")
    canary = mapping(strategy, "canary")
    blue_green = "blueGreen" in strategy and isinstance(strategy.get("blueGreen"), dict)
    done = bool(status.get("stableRS")) and status.get("stableRS") == status.get("currentPodHash")
    argo_phase, message = _argo_phase(obj)
    phase: Phase
    if status.get("abort") is True:
        phase = "aborted"
    elif argo_phase == "Degraded":
        phase = "failed"
    elif argo_phase == "Paused":
        phase = "paused"
    elif argo_phase == "Healthy" and done:
        phase = "succeeded"
    else:
        phase = "progressing"
    since = timestamp(_condition(status, "Completed", "True").get("lastTransitionTime"))
    since = since if phase == "succeeded" else None
    if blue_green:
        return Found(Rollout("blue-green", phase), since, message)
    steps = [s for s in canary.get("steps") or [] if isinstance(s, dict)]
    index = min(max(integer(status.get("currentStepIndex")), 0), len(steps))
    most = integer(mapping(canary, "trafficRouting").get("maxTrafficWeight")) or 100
    weight: int | None
    if phase == "aborted":
        weight = None
    elif done or index >= len(steps):
        weight = 100
    else:
        reported = mapping(mapping(mapping(status, "canary"), "weights"), "canary").get("weight")
        if isinstance(reported, int) and not isinstance(reported, bool):
            weight = reported * 100 // most
        else:
            set_weights = [
                integer(s.get("setWeight")) for s in steps[: index + 1] if "setWeight" in s
            ]
            weight = set_weights[-1] * 100 // most if set_weights else 0
    step = (min(index + 1, len(steps)), len(steps)) if steps else (None, None)
    return Found(Rollout("canary", phase, step[0], step[1], weight), since, message)


def _argo_phase(obj: Mapping[str, Any]) -> tuple[str, str]:
    """GetRolloutPhase: the phase and message a client should believe."""
    meta, spec, status = mapping(obj, "metadata"), mapping(obj, "spec"), mapping(obj, "status")
    if not status:
        return "Progressing", "Argo Rollouts has not reported on this Rollout yet"
    observed = str(status.get("observedGeneration") or "")
    generation = integer(meta.get("generation"))
    # a numeric observedGeneration (v0.10 and later) behind the spec: an older spec's status
    if observed.isdigit() and generation and int(observed) < generation:
        return "Progressing", "waiting for rollout spec update to be observed"
    if status.get("controllerPause") is True and not status.get("pauseConditions"):
        return "Progressing", "waiting for rollout to unpause"
    if isinstance(status.get("phase"), str) and status["phase"]:
        return str(status["phase"]), str(status.get("message") or "")
    # before v1.0 the phase was the client's to compute (CalculateRolloutPhase)
    for condition in _conditions(status):
        if condition.get("type") == "InvalidSpec":
            return "Degraded", f"InvalidSpec: {condition.get('message') or ''}"
        if condition.get("reason") in ("RolloutAborted", "ProgressDeadlineExceeded"):
            return "Degraded", f"{condition['reason']}: {condition.get('message') or ''}"
    if spec.get("paused") is True:
        return "Paused", "manually paused"
    for pause in status.get("pauseConditions") or []:
        if isinstance(pause, dict):
            return "Paused", str(pause.get("reason") or "")
    replicas = integer(spec.get("replicas")) if "replicas" in spec else 1
    if integer(status.get("updatedReplicas")) < replicas:
        return "Progressing", "more replicas need to be updated"
    if integer(status.get("availableReplicas")) < integer(status.get("updatedReplicas")):
        return "Progressing", "updated replicas are still becoming available"
    stable, current = status.get("stableRS"), status.get("currentPodHash")
    if "blueGreen" in mapping(spec, "strategy"):
        active = mapping(status, "blueGreen").get("activeSelector")
        if not active or active != current:
            return "Progressing", "active service cutover pending"
    elif not mapping(mapping(spec, "strategy"), "canary").get("trafficRouting") and integer(
        status.get("replicas")
    ) > integer(status.get("updatedReplicas")):
        return "Progressing", "old replicas are pending termination"
    if not stable or stable != current:
        return "Progressing", "waiting for all steps to complete"
    return "Healthy", ""


# --- Flagger ------------------------------------------------------------------------------------

_FLAGGER: dict[str, Phase] = {
    "Initializing": "progressing",
    "Initialized": "succeeded",
    "Waiting": "paused",
    "Progressing": "progressing",
    "WaitingPromotion": "paused",
    "Promoting": "promoting",
    "Finalising": "promoting",
    "Succeeded": "succeeded",
    "Failed": "failed",
    "Terminating": "progressing",
    "Terminated": "succeeded",
}


# the phases in which Flagger keeps `canaryWeight` (setStatusPhase resets it in the others)
_WEIGHTED = {"Progressing", "Waiting", "Promoting"}


def flagger_canary(obj: Mapping[str, Any]) -> Found:
    """One Flagger Canary → `Found` (the rules are in the module's docstring)."""
    spec, status = mapping(obj, "spec"), mapping(obj, "status")
    analysis = mapping(spec, "analysis") or mapping(spec, "canaryAnalysis")  # v1alpha3's name
    promoted = _condition(status, "Promoted")
    named = str(status.get("phase") or promoted.get("reason") or "")
    phase = _FLAGGER.get(named, "progressing")
    message = str(promoted.get("message") or "")
    if not named:
        message = "Flagger has not reported on this Canary yet"
    elif named not in _FLAGGER:
        message = f"Flagger phase {named}" + (f": {message}" if message else "")
    failed_checks = integer(status.get("failedChecks"))
    if failed_checks:
        threshold = integer(analysis.get("threshold")) or 1
        message = f"{message} ({failed_checks} failed checks, threshold {threshold})".strip()
    since = None
    if phase == "succeeded":
        since = timestamp(status.get("lastTransitionTime")) or timestamp(
            promoted.get("lastTransitionTime")
        )
    iterations = integer(analysis.get("iterations"))
    if iterations > 0 and not analysis.get("match"):
        return Found(Rollout("blue-green", phase), since, message)
    if iterations > 0:  # A/B testing: by header or cookie, no weight; iterations are the steps
        done = phase == "succeeded"
        ran = iterations if done else integer(status.get("iterations")) or None
        return Found(Rollout("canary", phase, ran, iterations), since, message)
    weight = integer(status.get("canaryWeight"))
    step_weights = [w for w in analysis.get("stepWeights") or [] if isinstance(w, int)]
    step_weight = integer(analysis.get("stepWeight"))
    steps: int | None = None
    step: int | None = None
    if step_weights:
        steps = len(step_weights)
        step = sum(1 for w in step_weights if w <= weight)
    elif step_weight > 0:
        most = integer(analysis.get("maxWeight")) or 100
        steps = -(-most // step_weight)
        step = min(-(-weight // step_weight), steps)
    if phase == "succeeded":
        return Found(Rollout("canary", phase, steps, steps, 100), since, message)
    if named not in _WEIGHTED:  # Flagger has put the weight back to 0: not a canary's share
        return Found(Rollout("canary", phase), since, message)
    return Found(Rollout("canary", phase, step or None, steps, weight), since, message)


# --- helpers ------------------------------------------------------------------------------------


def _conditions(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = status.get("conditions")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _condition(status: Mapping[str, Any], kind: str, state: str | None = None) -> Mapping[str, Any]:
    for condition in _conditions(status):
        if condition.get("type") == kind and (state is None or condition.get("status") == state):
            return condition
    return {}
