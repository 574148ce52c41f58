"""GitHub through PyGithub: a token or a GitHub App installation, on github.com or GHES.

The rate limit is the budget (5,000 calls an hour for an installation), so every method makes
as few calls as the REST API allows: a repository's state is one commit lookup plus one
tarball, a multi-file change is one tree, one commit and one ref update, and the head of a
branch is a conditional request that costs nothing while it has not moved. PyGithub runs lazy
(objects are built by URL and never completed behind our back) and without retries of its
own: `retrying` applies one policy, and every PyGithub, requests or httpx error is translated
into `bot.errors` here, with messages that name what promobot was doing and never a secret.

`GitHubForge` (`forge`) joins one class per concept, each over `api.Api` (the client and the
boundary every call crosses): `repository` (branches, snapshots, history, what changelogs
read), `branches` (commits through the Git Data API), `pulls`, `conversation` (comments,
reactions, reviews), `graphql` (whether comments were edited), `checks` (statuses and check
runs) and `people` (promobot's account, identities, permissions, teams).
"""

from bot.forges.github.forge import GitHubForge

__all__ = ["GitHubForge"]
