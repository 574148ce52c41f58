"""What the clusters run: live state from Argo CD, Flux, Fleet or commit statuses.

git says what each environment *asks for*; a cluster says what it *runs*. Each source turns
its own answers (an Argo CD Application, a Flux event, a Fleet BundleDeployment, a commit
status) into `Live`, one per app and environment, keyed the same way as compositions. The
rest of promobot reads only `Live`: the deployed composition, drift, the `healthy:` gate,
verification after a merge.

The room: `state` is that data (pure, read by the core); `objects` turns `live:` settings into
the names a source knows and back; one module per source does its I/O (`argocd` with
`argocd_webhook`, `flux`, `rancher_fleet`, `statuses`, `rollouts` for Argo Rollouts and
Flagger, over `kube`'s watches); `reader` asks the right one for an environment and keeps what
was polled or pushed.
"""

from bot.live.state import Health, Live, Rollout, Sync

__all__ = ["Health", "Live", "Rollout", "Sync"]
