"""Which cluster objects the configuration reads, and for which app and environment.

An environment's `live:` names, per app, one object of its source: an Argo CD Application, a
Flux object (`Kind namespace/name`), a Fleet Bundle (`namespace/name`), a commit status
context, or a Rollout or Canary (`namespace/name`, beside any of them). This is the one place
that turns those settings into names and back: the reader polls the names, the watches and the
deploying systems' reports wake the environments that read them, and the gatekeeper reads an
app's cluster by them. Only environments an app is deployed to are asked about it.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.config import Config, LiveSource

Kind = str  # "argocd", "flux", "fleet", "status", "rollout"
Pair = tuple[str, str]  # (app, env)


def name(source: LiveSource, app: str, env: str) -> str:
    """What `source` calls `app` in `env`; a Flux object with its kind in front
    (`HelmRelease apps/api`), as Flux's events name it."""
    prefix = f"{source.flux.kind} " if source.flux is not None else ""
    return prefix + source.name(app, env)


def rollout_name(source: LiveSource, app: str, env: str) -> str | None:
    """The `namespace/name` of the Rollout or Canary `app` moves through in `env`, if any."""
    rollout = source.rollout
    if rollout is None:
        return None
    namespace = rollout.expand(rollout.namespace, app, env)
    return f"{namespace}/{rollout.expand(rollout.name, app, env)}"


def speakers(config: Config, kind: Kind) -> dict[str, list[Pair]]:
    """Every name the configuration reads from `kind` → the (app, env) pairs it speaks for
    (two environments may name one object)."""
    found: dict[str, list[Pair]] = {}
    for app in config.apps:
        for env in config.app_environments(app):
            source = config.environments[env].live
            if source is None:
                continue
            if kind == "rollout":
                named = rollout_name(source, app, env)
            else:
                named = name(source, app, env) if source.kind == kind else None
            if named is not None:
                found.setdefault(named, []).append((app, env))
    return found


def environments(config: Config, kind: Kind, names: Iterable[str]) -> set[str]:
    """The environments that read one of `names` from `kind` for some app: those a report
    or a watch about these objects concerns."""
    reads = speakers(config, kind)
    return {env for named in names for _, env in reads.get(named, ())}
