"""The local forge: a git repository on disk, no server, no credentials.

Promotions become local branches `promobot/<env>/<app>` holding exactly one commit on top of
the base; the working tree and the index of the checkout are never touched (the commit is
built in a private index file with git's plumbing commands). What a server would keep — pull
requests, comments, reviews, statuses — lives in `.git/promobot/forge.json`, so the local forge
behaves like the others (a dry run you can inspect), as Renovate's local platform does.

`LocalForge` (`forge`: the records in forge.json) is built on `checkout.Checkout` (branches,
commits, snapshots, history), which runs git through `git.Git`.
"""

from bot.forges.local.forge import LocalForge

__all__ = ["LocalForge"]
