"""Live state from commit statuses, the common denominator of deploying systems.

Argo CD Notifications (its `github` or `gitlab` service with a commit-status template) and
Flux's github/gitlab providers post a status on the env-repo commit they deployed. With
`live: {status: {context: "argocd/{app}-{env}"}}` the newest of the default branch's recent
commits that carries an app's context says what its cluster runs: that commit, synced; the
status's state its health — success: healthy, pending: progressing, failure or error:
degraded — since the status took that state.

A status is what anyone allowed to post statuses says (SECURITY.md), unless the source names
who posts it (`from:`): then only that account's statuses and check runs count, told apart by
the forge's id. Only such a source, or one promobot authenticates (Argo CD's API, Flux's signed
events, Fleet's Kubernetes API), may open a rollback or merge on its word (`bot.config`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from bot.composition import State
from bot.errors import PromobotError
from bot.forges.base import CheckState, Forge
from bot.live import objects
from bot.live.state import Health, Live

DEPTH = 20  # the default branch's newest commits looked at for a deployment's status
HEALTH: dict[CheckState, Health] = {
    "success": "healthy",
    "pending": "progressing",
    "failure": "degraded",
}


def read(
    forge: Forge, state: State, env: str, apps: Iterable[str], clock: Callable[[], datetime]
) -> dict[str, Live]:
    """What the statuses say of each app in `env` (apps without one in `DEPTH` commits are
    left out: unknown). Walks back from the head and stops once every app is found, so a
    deployment that reports on the newest commits costs a read of those only."""
    source = state.config.environments[env].live
    if source is None or source.status is None:
        return {}
    wanted = {app: objects.name(source, app, env) for app in apps}
    author = source.status.author
    by = None if author is None else forge.identities(author)
    if by is not None and not by:
        raise PromobotError(f"live: {env}'s statuses come from {author}, who is not on the forge")
    found: dict[str, Live] = {}
    for commit in forge.log(state.snapshot.commit, [], DEPTH):
        checks = {check.name: check for check in forge.checks(commit.sha, by)}
        for app, context in wanted.items():
            check = checks.get(context)
            if app in found or check is None:
                continue
            found[app] = Live(
                source=f"status {context}",
                sync="synced",
                health=HEALTH[check.state],
                revision=commit.sha,
                since=check.at or commit.time,
                observed=clock(),
            )
        if len(found) == len(wanted):
            break
    return found
