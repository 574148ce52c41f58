"""The GitLab forge: python-gitlab over HTTP, for gitlab.com and self-managed GitLab.

API calls are the budget, so:
- the repository at a commit is one archive download, cached by commit SHA (the cache also
  tells `commit_files` which paths exist, as the commits API needs `create` or `update`);
- a promotion branch is one call to the commits API with `actions` and `start_sha`, which
  makes the branch with exactly one commit on the base (with `force`, resets it to that: at
  once over a head promobot knows is its own, else only after reading the head it replaces);
- objects under the project are made with `lazy=True`, so a sub-resource costs one request.

`GitLabForge` (`forge`) joins one class per concept, each over `api.Api` (the client and the
boundary every call crosses): `repository` (branches, snapshots, history, what changelogs
read), `branches` (commits), `merge_requests`, `approvals` (reviews bound to a head), `notes`
(comments, reactions), `checks` (commit statuses) and `people` (users, access, groups).
"""

from bot.forges.gitlab.forge import GitLabForge

__all__ = ["GitLabForge"]
