"""What the clusters run: live state from Argo CD, Flux, Fleet or commit statuses.

git says what each environment *asks for*; a cluster says what it *runs*. Each source turns
its own answers (an Argo CD Application, a Flux event, a Fleet BundleDeployment, a commit
status) into `Live`, one per app and environment, keyed the same way as compositions. The
rest of promobot reads only `Live`: the deployed composition, drift, the `healthy:` gate,
verification after a merge. Pure data here; the sources do the I/O.
"""

from bot.live.state import Health, Live, Rollout, Sync

__all__ = ["Health", "Live", "Rollout", "Sync"]
