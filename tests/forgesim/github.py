"""GitHub REST v3 in the forge simulator: the endpoints promobot reaches through PyGithub.

Bodies, status codes and headers follow the real API (checked against the recorded responses
in tests/fixtures/github-api): `Location` on every 201, a weak `ETag` on every JSON GET
(`If-None-Match` answers 304, which GitHub does not charge against the rate limit), `Link`
pagination with `per_page`/`page`, and the validation errors GitHub sends (422 with `errors`).

GitHub Apps: `world.apps[app_id] = {"public_key": pem, "installation": id, "slug": name}`,
optionally `"token_ttl": seconds` (default 3600) so tests can watch installation tokens expire,
and `"installations": {id: [full_name, …]}` for an app installed more than once, each
installation on some repos (without it: one installation, on every repo). `/app/installations`
lists them (with the JWT), `/installation/repositories` an installation's repos (with its token).
Tarballs redirect (302) to `/_codeload/...` at the server's root, which is not an API call.
Webhooks are built by `emit()`, registered as `World.emitters["github"]`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.forgesim.app import endpoint, error
from tests.forgesim.git import GitError
from tests.forgesim.world import (
    CheckRun,
    Comment,
    Pull,
    Release,
    Repo,
    Review,
    Status,
    World,
    now,
)

BODY_LIMIT = 65536
DESCRIPTION_LIMIT = 140
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
REVIEW_EVENTS = {
    "APPROVE": "APPROVED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "COMMENT": "COMMENTED",
}
ZERO = "0" * 40
FULL_SHA = re.compile(r"[0-9a-f]{40}")
CREATED = "2024-01-02T03:04:05Z"  # when every simulated repository was "created"
JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class _State:
    """What the GitHub face keeps beyond the shared World."""

    codeload: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (repo, expiry)
    issued: list[str] = field(default_factory=list)  # installation tokens, in order of issue
    installation_of: dict[str, int] = field(default_factory=dict)  # token -> installation


_states: weakref.WeakKeyDictionary[World, _State] = weakref.WeakKeyDictionary()


def state(world: World) -> _State:
    return _states.setdefault(world, _State())


def installation_tokens(world: World) -> list[str]:
    """Installation access tokens issued so far, oldest first (for tests of token refresh)."""
    return list(state(world).issued)


def add_check_run(
    world: World,
    full_name: str,
    sha: str,
    name: str,
    status: str = "completed",
    conclusion: str | None = "success",
    app: str = "ci",
) -> CheckRun:
    """A check run from some CI app (apps create them; promobot only reads them)."""
    run = CheckRun(world.next_id(), sha, name, status, conclusion, now(), app)
    with world.lock:
        world.repos[full_name].check_runs.append(run)
    return run


# --- formatting --------------------------------------------------------------------------------


def iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def api(world: World, path: str) -> str:
    return f"{world.base_url}/api/v3{path}"


def web(world: World, path: str) -> str:
    return f"{world.base_url}/{path}"


def node_id(kind: str, ident: int | str) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def stable_id(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)


def respond(
    request: Request,
    world: World,
    body: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """JSON with a weak ETag; a GET whose If-None-Match matches gets 304, free of charge."""
    raw = json.dumps(body).encode()
    tag = f'W/"{hashlib.sha1(raw).hexdigest()}"'
    out = {
        "ETag": tag,
        "Cache-Control": "private, max-age=60, s-maxage=60",
        "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
        **(headers or {}),
    }
    if request.method == "GET" and status == 200 and matches(request, tag):
        return not_modified(world, tag)
    return Response(raw, status_code=status, headers=out, media_type=JSON_TYPE)


def matches(request: Request, tag: str) -> bool:
    wanted = request.headers.get("if-none-match")
    if not wanted:
        return False

    def strip(t: str) -> str:  # a weak comparison, as GitHub makes
        return t.strip().removeprefix("W/")

    return wanted.strip() == "*" or strip(tag) in {strip(t) for t in wanted.split(",")}


def not_modified(world: World, tag: str) -> Response:
    # endpoint() charged this request before the handler ran; GitHub does not charge a 304.
    with world.lock:
        world.rate_remaining = min(world.rate_limit, world.rate_remaining + 1)
    return Response(status_code=304, headers={"ETag": tag})


def created(request: Request, world: World, body: Any, location: str) -> Response:
    return respond(request, world, body, 201, {"Location": location})


def invalid(message: str = "Validation Failed", *errors: dict[str, Any]) -> JSONResponse:
    extra: dict[str, Any] = {"errors": list(errors)} if errors else {}
    return error(422, message, **extra)


def too_long(resource: str, name: str, limit: int) -> JSONResponse:
    return invalid(
        "Validation Failed",
        {
            "resource": resource,
            "code": "custom",
            "field": name,
            "message": f"{name} is too long (maximum is {limit} characters)",
        },
    )


def not_found() -> JSONResponse:
    return error(404, "Not Found")


async def body_of(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw.strip() else {}


def paginate(request: Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """One page of `items` and the Link header GitHub would send with it."""
    query = request.query_params
    per_page = min(max(int(query.get("per_page", 30)), 1), 100)
    page = max(int(query.get("page", 1)), 1)
    last = max(math.ceil(len(items) / per_page), 1)
    links = []

    def link(number: int, rel: str) -> str:
        return f'<{request.url.include_query_params(page=number, per_page=per_page)}>; rel="{rel}"'

    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links += [link(1, "first"), link(min(page - 1, last), "prev")]
    chunk = items[(page - 1) * per_page : page * per_page]
    return chunk, ({"Link": ", ".join(links)} if links else {})


# --- resources ---------------------------------------------------------------------------------


def user_json(world: World, login: str) -> dict[str, Any]:
    user = world.users.get(login) or world.add_user(login)
    return account_json(world, login, user.id, "Bot" if user.bot else "User")


def owner_json(world: World, login: str) -> dict[str, Any]:
    if login in world.users:
        return user_json(world, login)
    return account_json(world, login, stable_id(login), "Organization")


def account_json(world: World, login: str, ident: int, kind: str) -> dict[str, Any]:
    """A user, bot or organization, in the shape every GitHub payload embeds."""
    url = api(world, f"/users/{login}")
    return {
        "login": login,
        "id": ident,
        "node_id": node_id("User" if kind == "Bot" else kind, ident),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{ident}?v=4",
        "gravatar_id": "",
        "url": url,
        "html_url": web(world, login),
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": kind,
        "site_admin": False,
    }


def repo_json(world: World, repo: Repo, *, for_push: bool = False) -> dict[str, Any]:
    url = api(world, f"/repos/{repo.full_name}")
    html = web(world, repo.full_name)
    open_pulls = sum(1 for p in repo.pulls.values() if p.state == "open")
    data: dict[str, Any] = {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": True,
        "owner": owner_json(world, repo.owner),
        "html_url": html,
        "description": None,
        "fork": False,
        "url": url,
        "forks_url": f"{url}/forks",
        "keys_url": f"{url}/keys{{/key_id}}",
        "collaborators_url": f"{url}/collaborators{{/collaborator}}",
        "teams_url": f"{url}/teams",
        "hooks_url": f"{url}/hooks",
        "issue_events_url": f"{url}/issues/events{{/number}}",
        "events_url": f"{url}/events",
        "assignees_url": f"{url}/assignees{{/user}}",
        "branches_url": f"{url}/branches{{/branch}}",
        "tags_url": f"{url}/tags",
        "blobs_url": f"{url}/git/blobs{{/sha}}",
        "git_tags_url": f"{url}/git/tags{{/sha}}",
        "git_refs_url": f"{url}/git/refs{{/sha}}",
        "trees_url": f"{url}/git/trees{{/sha}}",
        "statuses_url": f"{url}/statuses/{{sha}}",
        "languages_url": f"{url}/languages",
        "stargazers_url": f"{url}/stargazers",
        "contributors_url": f"{url}/contributors",
        "subscribers_url": f"{url}/subscribers",
        "subscription_url": f"{url}/subscription",
        "commits_url": f"{url}/commits{{/sha}}",
        "git_commits_url": f"{url}/git/commits{{/sha}}",
        "comments_url": f"{url}/comments{{/number}}",
        "issue_comment_url": f"{url}/issues/comments{{/number}}",
        "contents_url": f"{url}/contents/{{+path}}",
        "compare_url": f"{url}/compare/{{base}}...{{head}}",
        "merges_url": f"{url}/merges",
        "archive_url": f"{url}/{{archive_format}}{{/ref}}",
        "downloads_url": f"{url}/downloads",
        "issues_url": f"{url}/issues{{/number}}",
        "pulls_url": f"{url}/pulls{{/number}}",
        "milestones_url": f"{url}/milestones{{/number}}",
        "notifications_url": f"{url}/notifications{{?since,all,participating}}",
        "labels_url": f"{url}/labels{{/name}}",
        "releases_url": f"{url}/releases{{/id}}",
        "deployments_url": f"{url}/deployments",
        "created_at": CREATED,
        "updated_at": iso(repo.git.pushed_at),  # not the clock: answers stay the same (304)
        "pushed_at": iso(repo.git.pushed_at),
        "git_url": f"git://{world.base_url.split('://', 1)[-1]}/{repo.full_name}.git",
        "ssh_url": f"git@{world.base_url.split('://', 1)[-1]}:{repo.full_name}.git",
        "clone_url": f"{html}.git",
        "svn_url": html,
        "homepage": None,
        "size": 1,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": None,
        "has_issues": True,
        "has_projects": False,
        "has_downloads": True,
        "has_wiki": False,
        "has_pages": False,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "disabled": False,
        "open_issues_count": open_pulls,
        "license": None,
        "allow_forking": False,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [],
        "visibility": "private",
        "forks": 0,
        "open_issues": open_pulls,
        "watchers": 0,
        "default_branch": repo.default_branch,
        "custom_properties": {},
    }
    if for_push:  # push payloads carry timestamps as epoch seconds, and a few extras
        data["created_at"] = int(datetime.fromisoformat(CREATED).timestamp())
        data["pushed_at"] = int(time.time())
        data["stargazers"] = 0
        data["master_branch"] = repo.default_branch
        user = world.users.get(repo.owner)
        data["owner"] = {
            "name": repo.owner,
            "email": user.email if user else None,
            **data["owner"],
        }
    return data


def label_json(world: World, repo: Repo, name: str) -> dict[str, Any]:
    ident = stable_id(f"{repo.full_name}:{name}")
    return {
        "id": ident,
        "node_id": node_id("Label", ident),
        "url": api(world, f"/repos/{repo.full_name}/labels/{name}"),
        "name": name,
        "color": hashlib.sha1(name.encode()).hexdigest()[:6],
        "default": False,
        "description": None,
    }


def pull_head(repo: Repo, pull: Pull) -> str:
    """The head commit: the live branch while open, frozen in refs/pull/N/head once closed."""
    live = repo.git.resolve(f"refs/heads/{pull.branch}") if pull.state == "open" else None
    return live or repo.git.resolve(f"refs/pull/{pull.number}/head") or ZERO


def freeze_head(repo: Repo, pull: Pull) -> None:
    sha = repo.git.resolve(f"refs/heads/{pull.branch}")
    if sha:
        repo.git.set_ref(f"refs/pull/{pull.number}/head", sha)


def association(repo: Repo, login: str) -> str:
    if login == repo.owner:
        return "OWNER"
    return "MEMBER" if repo.permissions.get(login) else "NONE"


def pull_json(world: World, repo: Repo, pull: Pull, *, full: bool = True) -> dict[str, Any]:
    """A pull request; list endpoints send the shorter form (`full=False`), as GitHub does."""
    url = api(world, f"/repos/{repo.full_name}/pulls/{pull.number}")
    issue = api(world, f"/repos/{repo.full_name}/issues/{pull.number}")
    html = web(world, f"{repo.full_name}/pull/{pull.number}")
    head_sha = pull_head(repo, pull)
    base_sha = repo.git.resolve(f"refs/heads/{pull.base}") or ZERO
    head_owner = pull.user if pull.from_fork else repo.owner
    head_repo = repo_json(world, repo)
    if pull.from_fork:
        head_repo = {**head_repo, "full_name": f"{head_owner}/{repo.name}", "fork": True}
        head_repo["owner"] = owner_json(world, head_owner)
        head_repo["id"] = stable_id(head_repo["full_name"])
    data: dict[str, Any] = {
        "url": url,
        "id": pull.id or stable_id(f"{repo.full_name}#{pull.number}"),
        "node_id": node_id("PullRequest", pull.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue,
        "number": pull.number,
        "state": pull.state,
        "locked": False,
        "title": pull.title,
        "user": user_json(world, pull.user),
        "body": pull.body or None,
        "created_at": iso(pull.created_at),
        "updated_at": iso(pull.updated_at),
        "closed_at": iso(pull.closed_at),
        "merged_at": iso(pull.closed_at) if pull.merged else None,
        "merge_commit_sha": pull.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": [label_json(world, repo, name) for name in pull.labels],
        "milestone": None,
        "draft": False,
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "review_comment_url": api(world, f"/repos/{repo.full_name}/pulls/comments{{/number}}"),
        "comments_url": f"{issue}/comments",
        "statuses_url": api(world, f"/repos/{repo.full_name}/statuses/{head_sha}"),
        "head": {
            "label": f"{head_owner}:{pull.branch}",
            "ref": pull.branch,
            "sha": head_sha,
            "user": owner_json(world, head_owner),
            "repo": head_repo,
        },
        "base": {
            "label": f"{repo.owner}:{pull.base}",
            "ref": pull.base,
            "sha": base_sha,
            "user": owner_json(world, repo.owner),
            "repo": repo_json(world, repo),
        },
        "_links": {
            "self": {"href": url},
            "html": {"href": html},
            "issue": {"href": issue},
            "comments": {"href": f"{issue}/comments"},
            "review_comments": {"href": f"{url}/comments"},
            "review_comment": {
                "href": api(world, f"/repos/{repo.full_name}/pulls/comments{{/number}}")
            },
            "commits": {"href": f"{url}/commits"},
            "statuses": {"href": api(world, f"/repos/{repo.full_name}/statuses/{head_sha}")},
        },
        "author_association": association(repo, pull.user),
        "auto_merge": None,
        "active_lock_reason": None,
    }
    if not full:
        return data
    commits, additions, deletions, changed = diff_stats(repo, base_sha, head_sha)
    mergeable = can_merge(repo, base_sha, head_sha) if pull.state == "open" else None
    data.update(
        {
            "merged": pull.merged,
            "mergeable": mergeable,
            "rebaseable": mergeable,
            "mergeable_state": {True: "clean", False: "dirty", None: "unknown"}[mergeable],
            "merged_by": user_json(world, pull.merged_by) if pull.merged_by else None,
            "comments": sum(1 for c in repo.comments.values() if c.number == pull.number),
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": commits,
            "additions": additions,
            "deletions": deletions,
            "changed_files": changed,
        }
    )
    return data


def diff_stats(repo: Repo, base: str, head: str) -> tuple[int, int, int, int]:
    try:
        commits = int(repo.git.text("rev-list", "--count", f"{base}..{head}"))
        lines = repo.git.text("diff", "--numstat", f"{base}...{head}").splitlines()
    except (GitError, ValueError):
        return 0, 0, 0, 0
    added = removed = 0
    for line in lines:
        plus, minus, _ = line.split("\t", 2)
        added += int(plus) if plus.isdigit() else 0
        removed += int(minus) if minus.isdigit() else 0
    return commits, added, removed, len(lines)


def can_merge(repo: Repo, base: str, head: str) -> bool:
    try:
        repo.git.git("merge-tree", "--write-tree", base, head)
        return True
    except GitError:
        return False


def review_json(world: World, repo: Repo, review: Review) -> dict[str, Any]:
    pull_url = api(world, f"/repos/{repo.full_name}/pulls/{review.number}")
    html = web(world, f"{repo.full_name}/pull/{review.number}#pullrequestreview-{review.id}")
    data: dict[str, Any] = {
        "id": review.id,
        "node_id": node_id("PullRequestReview", review.id),
        "user": user_json(world, review.user),
        "body": review.body,
        "state": review.state,
        "html_url": html,
        "pull_request_url": pull_url,
        "author_association": association(repo, review.user),
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
        "commit_id": review.commit_id,
    }
    if review.state != "PENDING":
        data["submitted_at"] = iso(review.submitted_at)
    return data


def reactions_json(world: World, repo: Repo, comment: Comment) -> dict[str, Any]:
    counts: dict[str, Any] = {name: 0 for name in REACTIONS}
    for _, content in comment.reactions:
        counts[content] += 1
    return {
        "url": api(world, f"/repos/{repo.full_name}/issues/comments/{comment.id}/reactions"),
        "total_count": len(comment.reactions),
        **counts,
    }


def comment_json(world: World, repo: Repo, comment: Comment) -> dict[str, Any]:
    return {
        "url": api(world, f"/repos/{repo.full_name}/issues/comments/{comment.id}"),
        "html_url": web(world, f"{repo.full_name}/pull/{comment.number}#issuecomment-{comment.id}"),
        "issue_url": api(world, f"/repos/{repo.full_name}/issues/{comment.number}"),
        "id": comment.id,
        "node_id": node_id("IssueComment", comment.id),
        "user": user_json(world, comment.user),
        "created_at": iso(comment.created_at),
        "updated_at": iso(comment.updated_at or comment.created_at),
        "author_association": association(repo, comment.user),
        "body": comment.body,
        "reactions": reactions_json(world, repo, comment),
        "performed_via_github_app": None,
    }


def issue_json(world: World, repo: Repo, pull: Pull) -> dict[str, Any]:
    """A pull request seen through the Issues API (GitHub numbers them together)."""
    url = api(world, f"/repos/{repo.full_name}/issues/{pull.number}")
    html = web(world, f"{repo.full_name}/pull/{pull.number}")
    comments = sum(1 for c in repo.comments.values() if c.number == pull.number)
    return {
        "url": url,
        "repository_url": api(world, f"/repos/{repo.full_name}"),
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": html,
        "id": pull.id,
        "node_id": node_id("Issue", pull.id),
        "number": pull.number,
        "title": pull.title,
        "user": user_json(world, pull.user),
        "labels": [label_json(world, repo, name) for name in pull.labels],
        "state": pull.state,
        "locked": False,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": comments,
        "created_at": iso(pull.created_at),
        "updated_at": iso(pull.updated_at),
        "closed_at": iso(pull.closed_at),
        "author_association": association(repo, pull.user),
        "active_lock_reason": None,
        "draft": False,
        "pull_request": {
            "url": api(world, f"/repos/{repo.full_name}/pulls/{pull.number}"),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": iso(pull.closed_at) if pull.merged else None,
        },
        "body": pull.body or None,
        "reactions": {
            "url": f"{url}/reactions",
            "total_count": 0,
            **{name: 0 for name in REACTIONS},
        },
    }


def app_id(world: World, slug: str) -> int:
    """The id of the GitHub App `slug`: a registered one's, else a stable one of its own."""
    found = [ident for ident, app in world.apps.items() if app.get("slug", "promobot") == slug]
    return found[0] if found else stable_id(f"app:{slug}")


def app_json(world: World, slug: str) -> dict[str, Any]:
    ident = app_id(world, slug)
    return {
        "id": ident,
        "slug": slug,
        "node_id": node_id("Integration", ident),
        "owner": owner_json(world, "acme"),
        "name": slug.title(),
        "description": "",
        "external_url": web(world, slug),
        "html_url": web(world, f"apps/{slug}"),
        "created_at": CREATED,
        "updated_at": CREATED,
        "permissions": {"checks": "write", "statuses": "write", "metadata": "read"},
        "events": [],
    }


def combined_status_json(world: World, repo: Repo, status: Status) -> dict[str, Any]:
    """A status as the combined status lists it (`simple-commit-status`): it does not say who
    posted it; only the list of statuses does."""
    data = status_json(world, repo, status)
    del data["creator"]
    return data


def status_json(world: World, repo: Repo, status: Status) -> dict[str, Any]:
    return {
        "url": api(world, f"/repos/{repo.full_name}/statuses/{status.sha}"),
        "avatar_url": user_json(world, status.creator)["avatar_url"],
        "id": status.id,
        "node_id": node_id("StatusContext", status.id),
        "state": status.state,
        "description": status.description or None,
        "target_url": status.target_url,
        "context": status.context,
        "created_at": iso(status.created_at),
        "updated_at": iso(status.created_at),
        "creator": user_json(world, status.creator),
    }


def check_run_json(world: World, repo: Repo, run: CheckRun) -> dict[str, Any]:
    url = api(world, f"/repos/{repo.full_name}/check-runs/{run.id}")
    html = web(world, f"{repo.full_name}/runs/{run.id}")
    return {
        "id": run.id,
        "name": run.name,
        "node_id": node_id("CheckRun", run.id),
        "head_sha": run.sha,
        "external_id": "",
        "url": url,
        "html_url": html,
        "details_url": html,
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": iso(run.created_at),
        "completed_at": iso(run.created_at) if run.status == "completed" else None,
        "output": {
            "title": None,
            "summary": None,
            "text": None,
            "annotations_count": 0,
            "annotations_url": f"{url}/annotations",
        },
        "check_suite": {"id": stable_id(f"suite:{run.id}")},
        "app": app_json(world, run.app),
        "pull_requests": [],
    }


def person(info: dict[str, str], who: str) -> dict[str, str]:
    return {
        "name": info[f"{who}_name"],
        "email": info[f"{who}_email"],
        "date": iso(datetime.fromisoformat(info[f"{who}_date"])) or "",
    }


def verification() -> dict[str, Any]:
    return {
        "verified": False,
        "reason": "unsigned",
        "signature": None,
        "payload": None,
        "verified_at": None,
    }


def git_commit_json(world: World, repo: Repo, sha: str) -> dict[str, Any]:
    """A commit as the Git Data API shows it (`/git/commits/{sha}`)."""
    info = repo.git.commit_info(sha)
    base = api(world, f"/repos/{repo.full_name}/git")
    return {
        "sha": sha,
        "node_id": node_id("Commit", sha),
        "url": f"{base}/commits/{sha}",
        "html_url": web(world, f"{repo.full_name}/commit/{sha}"),
        "author": person(info, "author"),
        "committer": person(info, "committer"),
        "tree": {"sha": info["tree"], "url": f"{base}/trees/{info['tree']}"},
        "message": info["message"].rstrip("\n"),
        "parents": [
            {
                "sha": p,
                "url": f"{base}/commits/{p}",
                "html_url": web(world, f"{repo.full_name}/commit/{p}"),
            }
            for p in info["parents"].split()
        ],
        "verification": verification(),
    }


def commit_json(world: World, repo: Repo, sha: str) -> dict[str, Any]:
    """A commit as the Commits API shows it (`/commits/{ref}`), with its files."""
    info = repo.git.commit_info(sha)
    url = api(world, f"/repos/{repo.full_name}/commits/{sha}")
    git_base = api(world, f"/repos/{repo.full_name}/git")
    parents = info["parents"].split()
    files = []
    additions = deletions = 0
    out = repo.git.text(
        "diff-tree", "-r", "--no-renames", "--numstat", "--root", *parents[:1], sha
    ).splitlines()
    statuses = dict(
        line.split("\t", 1)[::-1]
        for line in repo.git.text(
            "diff-tree", "-r", "--no-renames", "--name-status", "--root", *parents[:1], sha
        ).splitlines()
        if "\t" in line
    )
    for line in out:
        if "\t" not in line:
            continue  # diff-tree --root prints the commit id first
        plus, minus, path = line.split("\t", 2)
        add, rem = (int(plus) if plus.isdigit() else 0), (int(minus) if minus.isdigit() else 0)
        additions, deletions = additions + add, deletions + rem
        kind = {"A": "added", "D": "removed"}.get(statuses.get(path, "M"), "modified")
        files.append(
            {
                "sha": "",
                "filename": path,
                "status": kind,
                "additions": add,
                "deletions": rem,
                "changes": add + rem,
                "blob_url": web(world, f"{repo.full_name}/blob/{sha}/{path}"),
                "raw_url": web(world, f"{repo.full_name}/raw/{sha}/{path}"),
                "contents_url": api(world, f"/repos/{repo.full_name}/contents/{path}?ref={sha}"),
            }
        )
    return {
        "sha": sha,
        "node_id": node_id("Commit", sha),
        "commit": {
            "author": person(info, "author"),
            "committer": person(info, "committer"),
            "message": info["message"].rstrip("\n"),
            "tree": {"sha": info["tree"], "url": f"{git_base}/trees/{info['tree']}"},
            "url": f"{git_base}/commits/{sha}",
            "comment_count": 0,
            "verification": verification(),
        },
        "url": url,
        "html_url": web(world, f"{repo.full_name}/commit/{sha}"),
        "comments_url": f"{url}/comments",
        "author": None,
        "committer": None,
        "parents": [
            {
                "sha": p,
                "url": api(world, f"/repos/{repo.full_name}/commits/{p}"),
                "html_url": web(world, f"{repo.full_name}/commit/{p}"),
            }
            for p in parents
        ],
        "stats": {"total": additions + deletions, "additions": additions, "deletions": deletions},
        "files": files,
    }


def tree_json(world: World, repo: Repo, tree: str, recursive: bool = False) -> dict[str, Any]:
    base = api(world, f"/repos/{repo.full_name}/git")
    entries = []
    for mode, kind, sha, path, size in repo.git.tree_entries(tree, recursive):
        entry: dict[str, Any] = {"path": path, "mode": mode, "type": kind, "sha": sha}
        if kind == "blob":
            entry["size"] = size
        entry["url"] = f"{base}/{'blobs' if kind == 'blob' else 'trees'}/{sha}"
        entries.append(entry)
    return {"sha": tree, "url": f"{base}/trees/{tree}", "tree": entries, "truncated": False}


def release_json(world: World, repo: Repo, release: Release) -> dict[str, Any]:
    """A release as `GET /repos/{owner}/{repo}/releases` lists it (checked against the
    recorded tests/fixtures/github-api/get-release.json)."""
    url = api(world, f"/repos/{repo.full_name}/releases/{release.id}")
    return {
        "url": url,
        "assets_url": f"{url}/assets",
        "upload_url": f"{url}/assets{{?name,label}}",
        "html_url": web(world, f"{repo.full_name}/releases/tag/{release.tag}"),
        "id": release.id,
        "node_id": node_id("Release", release.id),
        "tag_name": release.tag,
        "target_commitish": repo.default_branch,
        "name": release.name,
        "draft": release.draft,
        "author": user_json(world, release.author),
        "prerelease": release.prerelease,
        "created_at": iso(release.created_at),
        "published_at": None if release.draft else iso(release.created_at),
        "assets": [],
        "tarball_url": api(world, f"/repos/{repo.full_name}/tarball/{release.tag}"),
        "zipball_url": api(world, f"/repos/{repo.full_name}/zipball/{release.tag}"),
        "body": release.body,
    }


def ref_json(world: World, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
    kind = repo.git.object_type(sha) or "commit"
    return {
        "ref": ref,
        "node_id": node_id("Ref", f"{repo.id}:{ref}"),
        "url": api(world, f"/repos/{repo.full_name}/git/{ref}"),
        "object": {
            "sha": sha,
            "type": kind,
            "url": api(world, f"/repos/{repo.full_name}/git/{kind}s/{sha}"),
        },
    }


def content_json(world: World, repo: Repo, ref: str, path: str, sha: str, data: bytes) -> Any:
    encoded = base64.encodebytes(data).decode()  # GitHub wraps the base64 at 60-76 columns too
    url = api(world, f"/repos/{repo.full_name}/contents/{path}?ref={ref}")
    git_url = api(world, f"/repos/{repo.full_name}/git/blobs/{sha}")
    html = web(world, f"{repo.full_name}/blob/{ref}/{path}")
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(data),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "content": encoded,
        "sha": sha,
        "url": url,
        "git_url": git_url,
        "html_url": html,
        "download_url": web(world, f"{repo.full_name}/raw/{ref}/{path}"),
        "_links": {"self": url, "git": git_url, "html": html},
    }


# --- webhooks ----------------------------------------------------------------------------------


def _installation(world: World) -> dict[str, Any] | None:
    for app in world.apps.values():
        ident = int(app["installation"])
        return {"id": ident, "node_id": node_id("Installation", ident)}
    return None


def _envelope(world: World, repo: Repo, user: str, payload: dict[str, Any]) -> dict[str, Any]:
    payload.setdefault("repository", repo_json(world, repo))
    payload["sender"] = user_json(world, user)
    installation = _installation(world)
    if installation:
        payload["installation"] = installation
    return payload


def emit(world: World, kind: str, **data: Any) -> tuple[str, dict[str, Any]] | None:
    """Build the GitHub webhook for something that happened (`World.emit` calls this)."""
    repo: Repo = data["repo"]
    user: str = data.get("user") or "promobot[bot]"
    payload: dict[str, Any]
    if kind == "push":
        _synchronize(world, repo, user, data)
        payload = push_payload(
            world,
            repo,
            user,
            ref=data["ref"],
            before=data.get("before"),
            after=data.get("after"),
            forced=bool(data.get("forced", False)),
        )
    elif kind == "pull_request":
        pull: Pull = data["pull"]
        payload = {
            "action": data["action"],
            "number": pull.number,
            "pull_request": pull_json(world, repo, pull),
        }
        if "label" in data:
            payload["label"] = label_json(world, repo, data["label"])
    elif kind == "pull_request_review":
        review: Review = data["review"]
        payload = {
            "action": "submitted",
            "review": review_json(world, repo, review),
            "pull_request": pull_json(world, repo, repo.pulls[review.number], full=False),
        }
    elif kind == "issue_comment":
        comment: Comment = data["comment"]
        payload = {
            "action": data.get("action", "created"),
            "issue": issue_json(world, repo, repo.pulls[comment.number]),
            "comment": comment_json(world, repo, comment),
        }
    elif kind == "status":
        payload = status_payload(world, repo, data["status"])
    else:
        return None
    return kind, _envelope(world, repo, user, payload)


def _synchronize(world: World, repo: Repo, user: str, push: dict[str, Any]) -> None:
    """A push to a PR's branch also tells the PR (`pull_request` `synchronize`)."""
    if not push.get("after"):
        return
    for pull in list(repo.pulls.values()):
        if pull.state == "open" and push["ref"] == f"refs/heads/{pull.branch}":
            payload = {
                "action": "synchronize",
                "number": pull.number,
                "before": push.get("before") or ZERO,
                "after": push["after"],
                "pull_request": pull_json(world, repo, pull),
            }
            world.deliver("pull_request", _envelope(world, repo, user, payload))


def status_payload(world: World, repo: Repo, status: Status) -> dict[str, Any]:
    commit = commit_json(world, repo, status.sha)
    commit.pop("stats")
    commit.pop("files")
    branches = [
        {
            "name": name,
            "commit": {"sha": sha, "url": api(world, f"/repos/{repo.full_name}/commits/{sha}")},
            "protected": False,
        }
        for name, sha in repo.git.branches().items()
        if sha == status.sha
    ]
    return {
        "id": status.id,
        "sha": status.sha,
        "name": repo.full_name,
        "target_url": status.target_url,
        "context": status.context,
        "description": status.description or None,
        "state": status.state,
        "commit": commit,
        "branches": branches,
        "created_at": iso(status.created_at),
        "updated_at": iso(status.created_at),
        "avatar_url": user_json(world, status.creator)["avatar_url"],
    }


def push_payload(
    world: World,
    repo: Repo,
    user: str,
    *,
    ref: str,
    before: str | None,
    after: str | None,
    forced: bool = False,
) -> dict[str, Any]:
    account = world.users.get(user) or world.add_user(user)
    commits = []
    if after:
        added, removed, modified = repo.git.changed_paths(before, after)
        info = repo.git.commit_info(after)
        commits.append(
            {
                "id": after,
                "tree_id": info["tree"],
                "distinct": True,
                "message": info["message"].rstrip("\n"),
                "timestamp": iso(datetime.fromisoformat(info["committer_date"])),
                "url": web(world, f"{repo.full_name}/commit/{after}"),
                "author": {
                    "name": info["author_name"],
                    "email": info["author_email"],
                    "username": user,
                },
                "committer": {
                    "name": info["committer_name"],
                    "email": info["committer_email"],
                    "username": user,
                },
                "added": added,
                "removed": removed,
                "modified": modified,
            }
        )
    compare = (
        web(world, f"{repo.full_name}/commit/{after}")
        if not before
        else web(world, f"{repo.full_name}/compare/{before[:12]}...{(after or ZERO)[:12]}")
    )
    return {
        "ref": ref,
        "before": before or ZERO,
        "after": after or ZERO,
        "repository": repo_json(world, repo, for_push=True),
        "pusher": {"name": user, "email": account.email},
        "created": before is None,
        "deleted": after is None,
        "forced": forced,
        "base_ref": None,
        "compare": compare,
        "commits": commits,
        "head_commit": commits[-1] if commits else None,
    }


World.emitters["github"] = emit


def emit_github(world: World, kind: str, **data: Any) -> None:
    """GitHub API actions send GitHub webhooks only; a GitLab-format world gets none of them."""
    if world.webhook_format == "github":
        world.emit(kind, **data)


# --- the API -----------------------------------------------------------------------------------

RepoHandler = Callable[[Request, Repo], Awaitable[Response]]


class _GitHub:
    """The handlers; each takes the request and the repository its path names."""

    def __init__(self, world: World) -> None:
        self.world = world

    def login(self, request: Request) -> str:
        return str(getattr(request.state, "user", "promobot[bot]"))

    # repository, branches, refs, commits ----------------------------------------------------

    async def get_repo(self, request: Request, repo: Repo) -> Response:
        data = repo_json(self.world, repo)
        role = self.role(repo, self.login(request))
        data["permissions"] = {
            "admin": role == "admin",
            "maintain": role in ("admin", "maintain"),
            "push": role in ("admin", "maintain", "write"),
            "triage": role in ("admin", "maintain", "write", "triage"),
            "pull": True,
        }
        return respond(request, self.world, data)

    async def get_branch(self, request: Request, repo: Repo) -> Response:
        name = request.path_params["branch"]
        sha = repo.git.resolve(f"refs/heads/{name}")
        if sha is None:
            return error(404, "Branch not found")
        url = api(self.world, f"/repos/{repo.full_name}/branches/{name}")
        commit = commit_json(self.world, repo, sha)
        commit.pop("stats")
        commit.pop("files")
        data = {
            "name": name,
            "commit": commit,
            "_links": {"self": url, "html": web(self.world, f"{repo.full_name}/tree/{name}")},
            "protected": False,
            "protection": {"enabled": False, "required_status_checks": {"contexts": []}},
            "protection_url": f"{url}/protection",
        }
        return respond(request, self.world, data)

    async def get_commit(self, request: Request, repo: Repo) -> Response:
        ref = request.path_params["ref"]
        sha = self.resolve(repo, ref)
        if sha is None:
            return invalid(f"No commit found for SHA: {ref}")
        if "application/vnd.github.sha" in request.headers.get("accept", ""):
            # The documented cheap check: the SHA alone, with the SHA as its ETag.
            tag = f'"{sha}"'
            if matches(request, tag):
                return not_modified(self.world, tag)
            return Response(sha, headers={"ETag": tag}, media_type="application/vnd.github.sha")
        return respond(request, self.world, commit_json(self.world, repo, sha))

    def resolve(self, repo: Repo, ref: str) -> str | None:
        if ref == "HEAD":
            ref = repo.default_branch
        if FULL_SHA.fullmatch(ref) and (sha := repo.git.resolve(ref)):
            return sha  # a full commit id names that commit, as git reads it, whatever the refs
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            sha = repo.git.resolve(candidate)
            if sha and (candidate != ref or len(ref) >= 7):
                return sha
        return None

    async def get_ref(self, request: Request, repo: Repo) -> Response:
        ref = "refs/" + request.path_params["ref"]
        sha = repo.git.resolve(ref) if repo.git.object_type(ref) else None
        if request.url.path.split("/git/", 1)[1].startswith("refs/") and sha is None:
            # the old /git/refs/{prefix} form lists every ref under a prefix
            found = [
                ref_json(self.world, repo, f"refs/heads/{n}", s)
                for n, s in repo.git.branches().items()
                if f"refs/heads/{n}".startswith(ref)
            ] + [
                ref_json(self.world, repo, f"refs/tags/{n}", s)
                for n, s in repo.git.tags().items()
                if f"refs/tags/{n}".startswith(ref)
            ]
            return respond(request, self.world, found) if found else not_found()
        if sha is None:
            return not_found()
        return respond(request, self.world, ref_json(self.world, repo, ref, sha))

    async def matching_refs(self, request: Request, repo: Repo) -> Response:
        prefix = "refs/" + request.path_params["ref"]
        found = [
            ref_json(self.world, repo, f"refs/heads/{n}", s)
            for n, s in sorted(repo.git.branches().items())
            if f"refs/heads/{n}".startswith(prefix)
        ] + [
            ref_json(self.world, repo, f"refs/tags/{n}", s)
            for n, s in sorted(repo.git.tags().items())
            if f"refs/tags/{n}".startswith(prefix)
        ]
        chunk, headers = paginate(request, found)
        return respond(request, self.world, chunk, headers=headers)

    async def create_ref(self, request: Request, repo: Repo) -> Response:
        body = await body_of(request)
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            return invalid("Reference name must start with 'refs/' and have at least two slashes.")
        if not isinstance(sha, str) or repo.git.object_type(sha) is None:
            return invalid("Object does not exist")
        with self.world.lock:
            if repo.git.resolve(ref) is not None:
                return invalid("Reference already exists")
            repo.git.set_ref(ref, sha)
        emit_github(
            self.world, "push", repo=repo, ref=ref, before=None, after=sha, user=self.login(request)
        )
        data = ref_json(self.world, repo, ref, sha)
        return created(request, self.world, data, data["url"])

    async def update_ref(self, request: Request, repo: Repo) -> Response:
        ref = "refs/" + request.path_params["ref"]
        body = await body_of(request)
        sha, force = body.get("sha"), bool(body.get("force", False))
        if not isinstance(sha, str) or repo.git.object_type(sha) != "commit":
            return invalid("Object does not exist")
        with self.world.lock:
            old = repo.git.resolve(ref)
            if old is None:
                return invalid("Reference does not exist")
            fast_forward = repo.git.is_ancestor(old, sha)
            if not fast_forward and not force:
                return invalid("Update is not a fast forward")
            repo.git.set_ref(ref, sha, old)
        if old != sha:
            emit_github(
                self.world,
                "push",
                repo=repo,
                ref=ref,
                before=old,
                after=sha,
                user=self.login(request),
                forced=not fast_forward,
            )
        return respond(request, self.world, ref_json(self.world, repo, ref, sha))

    async def delete_ref(self, request: Request, repo: Repo) -> Response:
        ref = "refs/" + request.path_params["ref"]
        with self.world.lock:
            old = repo.git.resolve(ref)
            if old is None:
                return invalid("Reference does not exist")
            repo.git.delete_ref(ref)
        emit_github(
            self.world, "push", repo=repo, ref=ref, before=old, after=None, user=self.login(request)
        )
        return Response(status_code=204)

    async def get_git_commit(self, request: Request, repo: Repo) -> Response:
        sha = request.path_params["sha"]
        if repo.git.object_type(sha) != "commit":
            return not_found()
        return respond(request, self.world, git_commit_json(self.world, repo, sha))

    async def create_commit(self, request: Request, repo: Repo) -> Response:
        body = await body_of(request)
        tree, parents, message = body.get("tree"), body.get("parents", []), body.get("message")
        if not isinstance(message, str):
            return invalid('Invalid request.\n\n"message" wasn\'t supplied.')
        if not isinstance(tree, str) or repo.git.object_type(tree) != "tree":
            return invalid("Tree SHA does not exist")
        if not all(isinstance(p, str) and repo.git.object_type(p) == "commit" for p in parents):
            return invalid("Parent SHA does not exist or is not a commit object")
        login = self.login(request)
        user = self.world.users.get(login) or self.world.add_user(login)
        author = body.get("author") or {"name": user.name or login, "email": user.email}
        sha = repo.git.write_commit(tree, parents, message, (author["name"], author["email"]))
        data = git_commit_json(self.world, repo, sha)
        return created(request, self.world, data, data["url"])

    async def get_tree(self, request: Request, repo: Repo) -> Response:
        sha = request.path_params["sha"]
        try:
            tree = repo.git.text("rev-parse", "--verify", "--quiet", f"{sha}^{{tree}}")
        except GitError:
            return not_found()
        recursive = request.query_params.get("recursive") not in (None, "", "0", "false")
        return respond(request, self.world, tree_json(self.world, repo, tree, recursive))

    async def create_tree(self, request: Request, repo: Repo) -> Response:
        body = await body_of(request)
        base_tree = body.get("base_tree")
        if base_tree is not None and repo.git.object_type(base_tree) != "tree":
            return invalid("base_tree is not a valid tree oid")
        entries = body.get("tree")
        if not isinstance(entries, list):
            return invalid('Invalid request.\n\n"tree" wasn\'t supplied.')
        changes: dict[str, tuple[str, str] | None] = {}
        for entry in entries:
            path, mode, kind = entry.get("path"), entry.get("mode"), entry.get("type", "blob")
            if not isinstance(path, str) or mode not in ("100644", "100755", "120000"):
                return invalid("Must supply a valid tree.mode and tree.path")
            if kind != "blob":
                return invalid(f"tree.type {kind!r} is not supported by the simulator")
            if "content" in entry and isinstance(entry["content"], str):
                changes[path] = (mode, repo.git.write_blob(entry["content"].encode()))
            elif entry.get("sha") is None:
                if not base_tree or not repo.git.text("ls-tree", base_tree, "--", path):
                    return invalid("GitRPC::BadObjectState")  # GitHub's answer: nothing to delete
                changes[path] = None
            elif repo.git.object_type(entry["sha"]) == "blob":
                changes[path] = (mode, entry["sha"])
            else:
                return invalid(f"tree.sha {entry['sha']} is not a valid blob")
        tree = repo.git.build_tree(base_tree, changes)
        data = tree_json(self.world, repo, tree)
        return created(request, self.world, data, data["url"])

    async def create_blob(self, request: Request, repo: Repo) -> Response:
        body = await body_of(request)
        content = body.get("content")
        if not isinstance(content, str):
            return invalid('Invalid request.\n\n"content" wasn\'t supplied.')
        raw = base64.b64decode(content) if body.get("encoding") == "base64" else content.encode()
        sha = repo.git.write_blob(raw)
        url = api(self.world, f"/repos/{repo.full_name}/git/blobs/{sha}")
        return created(request, self.world, {"sha": sha, "url": url}, url)

    async def get_blob(self, request: Request, repo: Repo) -> Response:
        sha = request.path_params["sha"]
        if repo.git.object_type(sha) != "blob":
            return not_found()
        raw = repo.git.read_blob(sha)
        data = {
            "sha": sha,
            "node_id": node_id("Blob", sha),
            "size": len(raw),
            "url": api(self.world, f"/repos/{repo.full_name}/git/blobs/{sha}"),
            "content": base64.encodebytes(raw).decode(),
            "encoding": "base64",
        }
        return respond(request, self.world, data)

    async def list_commits(self, request: Request, repo: Repo) -> Response:
        """`GET /commits?sha=&path=`: newest first, only those touching `path` when given."""
        sha = self.resolve(repo, request.query_params.get("sha") or repo.default_branch)
        if sha is None:
            return not_found()
        path = request.query_params.get("path")
        shas = repo.git.text("rev-list", sha, *(["--", path] if path else [])).splitlines()
        chunk, headers = paginate(request, shas)
        body = [
            {
                k: v
                for k, v in commit_json(self.world, repo, c).items()
                if k not in ("files", "stats")
            }
            for c in chunk
        ]
        return respond(request, self.world, body, headers=headers)

    async def list_tags(self, request: Request, repo: Repo) -> Response:
        tags = []
        for name in sorted(repo.git.tags(), reverse=True):
            sha = repo.git.resolve(f"refs/tags/{name}") or ZERO
            tags.append(
                {
                    "name": name,
                    "zipball_url": api(
                        self.world, f"/repos/{repo.full_name}/zipball/refs/tags/{name}"
                    ),
                    "tarball_url": api(
                        self.world, f"/repos/{repo.full_name}/tarball/refs/tags/{name}"
                    ),
                    "commit": {
                        "sha": sha,
                        "url": api(self.world, f"/repos/{repo.full_name}/commits/{sha}"),
                    },
                    "node_id": node_id("Ref", f"{repo.id}:refs/tags/{name}"),
                }
            )
        chunk, headers = paginate(request, tags)
        return respond(request, self.world, chunk, headers=headers)

    async def list_releases(self, request: Request, repo: Repo) -> Response:
        """Newest first; drafts only for those who may push (as GitHub shows them)."""
        writer = self.role(repo, self.login(request)) in ("admin", "write")
        shown = [r for r in reversed(repo.releases) if writer or not r.draft]
        chunk, headers = paginate(request, [release_json(self.world, repo, r) for r in shown])
        return respond(request, self.world, chunk, headers=headers)

    async def compare(self, request: Request, repo: Repo) -> Response:
        """`GET /compare/{base}...{head}`: the commits in head and not in base, oldest first
        (paged with `per_page`/`page`, as GitHub pages the commits of a comparison)."""
        base, dots, head = request.path_params["basehead"].partition("...")
        if not dots:
            return not_found()
        old, new = self.resolve(repo, base), self.resolve(repo, head)
        if old is None or new is None:
            return not_found()
        shas = repo.git.text("rev-list", "--reverse", f"{old}..{new}").splitlines()
        behind = repo.git.text("rev-list", "--count", f"{new}..{old}")
        chunk, headers = paginate(request, shas)
        commits = [
            {
                k: v
                for k, v in commit_json(self.world, repo, c).items()
                if k not in ("files", "stats")
            }
            for c in chunk
        ]
        data = {
            "url": api(self.world, f"/repos/{repo.full_name}/compare/{base}...{head}"),
            "html_url": web(self.world, f"{repo.full_name}/compare/{base}...{head}"),
            "permalink_url": web(self.world, f"{repo.full_name}/compare/{old[:7]}...{new[:7]}"),
            "diff_url": web(self.world, f"{repo.full_name}/compare/{base}...{head}.diff"),
            "patch_url": web(self.world, f"{repo.full_name}/compare/{base}...{head}.patch"),
            "base_commit": commit_json(self.world, repo, old),
            "merge_base_commit": commit_json(self.world, repo, old),
            "status": "ahead" if shas else "identical",
            "ahead_by": len(shas),
            "behind_by": int(behind or 0),
            "total_commits": len(shas),
            "commits": commits,
            "files": [],
        }
        return respond(request, self.world, data, headers=headers)

    async def tarball(self, request: Request, repo: Repo) -> Response:
        ref = request.path_params.get("ref") or repo.default_branch
        if self.resolve(repo, ref) is None:
            return not_found()
        token = secrets.token_urlsafe(24)
        with self.world.lock:
            state(self.world).codeload[token] = (repo.full_name, time.time() + 300)
        location = (
            f"{self.world.base_url}/_codeload/{repo.full_name}/legacy.tar.gz/{ref}?token={token}"
        )
        return Response(status_code=302, headers={"Location": location})

    async def contents(self, request: Request, repo: Repo) -> Response:
        ref = request.query_params.get("ref") or repo.default_branch
        sha = self.resolve(repo, ref)
        path = request.path_params.get("path", "").strip("/")
        if sha is None:
            return error(404, f"No commit found for the ref {ref}")
        if not path:  # the root folder
            entries = repo.git.tree_entries(sha)
        else:
            entries = [e for e in repo.git.tree_entries(sha, recursive=True) if e[3] == path]
        if not entries:
            return not_found()
        if path and entries[0][1] == "blob":
            _, _, blob, _, _ = entries[0]
            data = content_json(self.world, repo, ref, path, blob, repo.git.read_blob(blob))
            return respond(request, self.world, data)
        if path:
            entries = [
                (m, k, s, p.removeprefix(path + "/"), z)
                for m, k, s, p, z in repo.git.tree_entries(f"{sha}:{path}")
            ]
        listing = []
        for _, kind, blob, name, size in entries:
            full = f"{path}/{name}" if path else name
            url = api(self.world, f"/repos/{repo.full_name}/contents/{full}?ref={ref}")
            listing.append(
                {
                    "type": "file" if kind == "blob" else "dir",
                    "size": size,
                    "name": name,
                    "path": full,
                    "sha": blob,
                    "url": url,
                    "git_url": api(self.world, f"/repos/{repo.full_name}/git/{kind}s/{blob}"),
                    "html_url": web(self.world, f"{repo.full_name}/blob/{ref}/{full}"),
                    "download_url": None,
                    "_links": {"self": url},
                }
            )
        return respond(request, self.world, listing)

    async def readme(self, request: Request, repo: Repo) -> Response:
        ref = request.query_params.get("ref") or repo.default_branch
        sha = self.resolve(repo, ref)
        for _, kind, blob, path, _ in repo.git.tree_entries(sha) if sha else []:
            if kind == "blob" and path.lower().startswith("readme"):
                data = content_json(self.world, repo, ref, path, blob, repo.git.read_blob(blob))
                return respond(request, self.world, data)
        return not_found()

    # pull requests --------------------------------------------------------------------------

    def pull(self, repo: Repo, request: Request) -> Pull | None:
        try:
            return repo.pulls.get(int(request.path_params["number"]))
        except ValueError:
            return None

    async def list_pulls(self, request: Request, repo: Repo) -> Response:
        query = request.query_params
        wanted = query.get("state", "open")
        head = query.get("head")
        pulls = sorted(repo.pulls.values(), key=lambda p: p.number, reverse=True)
        if wanted != "all":
            pulls = [p for p in pulls if p.state == wanted]
        if head:
            owner, _, branch = head.rpartition(":")
            pulls = [
                p
                for p in pulls
                if p.branch == branch
                and (not owner or owner == (p.user if p.from_fork else repo.owner))
            ]
        if query.get("base"):
            pulls = [p for p in pulls if p.base == query["base"]]
        if query.get("direction") == "asc":
            pulls.reverse()
        chunk, headers = paginate(request, pulls)
        data = [pull_json(self.world, repo, p, full=False) for p in chunk]
        return respond(request, self.world, data, headers=headers)

    async def create_pull(self, request: Request, repo: Repo) -> Response:
        body = await body_of(request)
        title, head, base = body.get("title"), body.get("head"), body.get("base")
        text = body.get("body") or ""
        if not isinstance(title, str) or not title:
            return invalid(
                "Validation Failed",
                {"resource": "PullRequest", "code": "missing_field", "field": "title"},
            )
        if len(text) > BODY_LIMIT:
            return too_long("Issue", "body", BODY_LIMIT)
        if not isinstance(head, str) or not isinstance(base, str):
            return invalid(
                "Validation Failed",
                {"resource": "PullRequest", "code": "missing_field", "field": "head"},
            )
        owner, _, branch = head.rpartition(":")
        if owner and owner != repo.owner:
            return invalid(
                "Validation Failed", {"resource": "PullRequest", "field": "head", "code": "invalid"}
            )
        login = self.login(request)
        with self.world.lock:
            head_sha = repo.git.resolve(f"refs/heads/{branch}")
            base_sha = repo.git.resolve(f"refs/heads/{base}")
            if head_sha is None:
                return invalid(
                    "Validation Failed",
                    {"resource": "PullRequest", "field": "head", "code": "invalid"},
                )
            if base_sha is None:
                return invalid(
                    "Validation Failed",
                    {"resource": "PullRequest", "field": "base", "code": "invalid"},
                )
            for other in repo.pulls.values():
                if other.state == "open" and other.branch == branch and other.base == base:
                    return invalid(
                        "Validation Failed",
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {repo.owner}:{branch}.",
                        },
                    )
            if repo.git.is_ancestor(head_sha, base_sha):
                return invalid(
                    "Validation Failed",
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"No commits between {base} and {branch}",
                    },
                )
            number = max(repo.pulls, default=0) + 1
            when = now()
            pull = Pull(
                number=number,
                repo=repo.full_name,
                branch=branch,
                base=base,
                title=title,
                body=text,
                user=login,
                labels=[],
                state="open",
                merged=False,
                created_at=when,
                updated_at=when,
                id=self.world.next_id(),
            )
            repo.pulls[number] = pull
            freeze_head(repo, pull)
        emit_github(self.world, "pull_request", repo=repo, pull=pull, action="opened", user=login)
        data = pull_json(self.world, repo, pull)
        return created(request, self.world, data, data["url"])

    async def pull_files(self, request: Request, repo: Repo) -> Response:
        pull = self.pull(repo, request)
        if pull is None:
            return not_found()
        base = repo.git.resolve(f"refs/heads/{pull.base}")
        head = repo.git.resolve(f"refs/heads/{pull.branch}") or pull.head_sha
        assert base is not None and head is not None
        fork = repo.git.text("merge-base", base, head)
        added, removed, modified = repo.git.changed_paths(fork, head)
        files = [(p, "added") for p in added] + [(p, "removed") for p in removed]
        files = sorted(files + [(p, "modified") for p in modified])
        chunk, headers = paginate(request, files)
        data = [
            {
                "sha": repo.git.resolve(f"{head}:{path}") if status != "removed" else None,
                "filename": path,
                "status": status,
                "additions": 1,
                "deletions": 1,
                "changes": 2,
                "blob_url": web(self.world, f"{repo.full_name}/blob/{head}/{path}"),
                "raw_url": web(self.world, f"{repo.full_name}/raw/{head}/{path}"),
                "contents_url": api(
                    self.world, f"/repos/{repo.full_name}/contents/{path}?ref={head}"
                ),
                "patch": "",
            }
            for path, status in chunk
        ]
        return respond(request, self.world, data, headers=headers)

    async def get_pull(self, request: Request, repo: Repo) -> Response:
        pull = self.pull(repo, request)
        if pull is None:
            return not_found()
        return respond(request, self.world, pull_json(self.world, repo, pull))

    async def update_pull(self, request: Request, repo: Repo) -> Response:
        pull = self.pull(repo, request)
        if pull is None:
            return not_found()
        body = await body_of(request)
        return self.edit(request, repo, pull, body, pull_json)

    async def update_issue(self, request: Request, repo: Repo) -> Response:
        pull = self.pull(repo, request)
        if pull is None:
            return not_found()
        body = await body_of(request)
        return self.edit(request, repo, pull, body, issue_json)

    def edit(
        self,
        request: Request,
        repo: Repo,
        pull: Pull,
        body: dict[str, Any],
        shape: Callable[[World, Repo, Pull], dict[str, Any]],
    ) -> Response:
        """PATCH a pull request (pulls or issues API): title, body, state, base, labels."""
        login = self.login(request)
        if isinstance(body.get("body"), str) and len(body["body"]) > BODY_LIMIT:
            return too_long("Issue", "body", BODY_LIMIT)
        if "title" in body and not body["title"]:
            return invalid(
                "Validation Failed",
                {"resource": "Issue", "code": "missing_field", "field": "title"},
            )
        actions: list[tuple[str, dict[str, Any]]] = []
        with self.world.lock:
            if body.get("state") not in (None, "open", "closed"):
                return invalid(
                    "Validation Failed", {"resource": "Issue", "code": "invalid", "field": "state"}
                )
            reopen = body.get("state") == "open" and pull.state == "closed"
            if reopen and (pull.merged or repo.git.resolve(f"refs/heads/{pull.branch}") is None):
                return invalid(
                    "Validation Failed",
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": "state cannot be changed. The head branch no longer exists.",
                    },
                )
            edited = False
            for key in ("title", "body"):
                if isinstance(body.get(key), str) and body[key] != getattr(pull, key):
                    setattr(pull, key, body[key])
                    edited = True
            if isinstance(body.get("base"), str) and body["base"] != pull.base:
                if repo.git.resolve(f"refs/heads/{body['base']}") is None:
                    return invalid(
                        "Validation Failed",
                        {"resource": "PullRequest", "field": "base", "code": "invalid"},
                    )
                pull.base = body["base"]
                edited = True
            if edited:
                actions.append(("edited", {}))
            if isinstance(body.get("labels"), list):
                wanted = [str(name) for name in body["labels"]]
                actions += [("unlabeled", {"label": n}) for n in pull.labels if n not in wanted]
                actions += [("labeled", {"label": n}) for n in wanted if n not in pull.labels]
                pull.labels = list(dict.fromkeys(wanted))
            if body.get("state") in ("open", "closed") and body["state"] != pull.state:
                if body["state"] == "closed":
                    freeze_head(repo, pull)
                    pull.closed_at = now()
                else:
                    pull.closed_at = None
                pull.state = body["state"]
                actions.append(("closed" if pull.state == "closed" else "reopened", {}))
            pull.updated_at = now()
        for action, extra in actions:
            emit_github(
                self.world, "pull_request", repo=repo, pull=pull, action=action, user=login, **extra
            )
        return respond(request, self.world, shape(self.world, repo, pull))

    async def merged(self, request: Request, repo: Repo) -> Response:
        pull = self.pull(repo, request)
        if pull is None or not pull.merged:
            return not_found()
        return Response(status_code=204)

    async def merge(self, request: Request, repo: Repo) -> Response:
        pull = self.pull(repo, request)
        if pull is None:
            return not_found()
        body = await body_of(request)
        method = body.get("merge_method", "merge")
        if method not in ("merge", "squash", "rebase"):
            return invalid(
                "Validation Failed",
                {"resource": "PullRequest", "code": "invalid", "field": "merge_method"},
            )
        login = self.login(request)
        with self.world.lock:
            if pull.state != "open":
                return error(405, "Pull Request is not mergeable")
            head = pull_head(repo, pull)
            if body.get("sha") and body["sha"] != head:
                return error(409, "Head branch was modified. Review and try the merge again.")
            base = repo.git.resolve(f"refs/heads/{pull.base}")
            if base is None or not can_merge(repo, base, head):
                return error(405, "Pull Request is not mergeable")
            title = body.get("commit_title") or (
                f"Merge pull request #{pull.number} from {repo.owner}/{pull.branch}"
                if method == "merge"
                else f"{pull.title} (#{pull.number})"
            )
            message = f"{title}\n\n{body.get('commit_message') or pull.title}\n"
            if method == "merge":
                sha = repo.git.merge(base, head, message)
            else:  # squash and rebase both leave one commit on the base here
                tree = repo.git.text("merge-tree", "--write-tree", base, head).splitlines()[0]
                sha = repo.git.write_commit(tree, [base], message)
            if sha is None:
                return error(405, "Pull Request is not mergeable")
            repo.git.set_ref(f"refs/heads/{pull.base}", sha, base)
            freeze_head(repo, pull)
            pull.state, pull.merged, pull.merge_commit_sha = "closed", True, sha
            pull.merged_by, pull.closed_at, pull.updated_at = login, now(), now()
        emit_github(
            self.world,
            "push",
            repo=repo,
            ref=f"refs/heads/{pull.base}",
            before=base,
            after=sha,
            user=login,
        )
        emit_github(self.world, "pull_request", repo=repo, pull=pull, action="closed", user=login)
        data = {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
        return respond(request, self.world, data)

    # reviews ----------------------------------------------------------------------------------

    async def list_reviews(self, request: Request, repo: Repo) -> Response:
        pull = self.pull(repo, request)
        if pull is None:
            return not_found()
        login = self.login(request)
        reviews = sorted(
            (
                r
                for r in repo.reviews.values()
                if r.number == pull.number and (r.state != "PENDING" or r.user == login)
            ),
            key=lambda r: r.id,
        )
        chunk, headers = paginate(request, reviews)
        data = [review_json(self.world, repo, r) for r in chunk]
        return respond(request, self.world, data, headers=headers)

    async def get_review(self, request: Request, repo: Repo) -> Response:
        review = repo.reviews.get(int(request.path_params["review"]))
        if review is None or review.number != int(request.path_params["number"]):
            return not_found()
        return respond(request, self.world, review_json(self.world, repo, review))

    async def create_review(self, request: Request, repo: Repo) -> Response:
        pull = self.pull(repo, request)
        if pull is None:
            return not_found()
        body = await body_of(request)
        login = self.login(request)
        event = body.get("event")
        if event is not None and event not in REVIEW_EVENTS:
            return invalid(
                "Validation Failed",
                {"resource": "PullRequestReview", "code": "invalid", "field": "event"},
            )
        if event == "APPROVE" and login == pull.user:
            return invalid(
                "Unprocessable Entity", {"message": "Can not approve your own pull request"}
            )
        if event in ("REQUEST_CHANGES", "COMMENT") and not body.get("body"):
            return invalid("Unprocessable Entity", {"message": "Body is required for this review"})
        review = Review(
            id=self.world.next_id(),
            number=pull.number,
            user=login,
            state=REVIEW_EVENTS[event] if event else "PENDING",
            commit_id=body.get("commit_id") or pull_head(repo, pull),
            body=body.get("body") or "",
            submitted_at=now(),
        )
        with self.world.lock:
            repo.reviews[review.id] = review
            pull.updated_at = now()  # GitHub touches a PR on every review and comment
        if event:
            emit_github(self.world, "pull_request_review", repo=repo, review=review, user=login)
        # GitHub answers 200 here, not 201 (see fixtures/github-api/get-pull-reviews.json)
        return respond(request, self.world, review_json(self.world, repo, review))

    # issues: labels, comments, reactions ----------------------------------------------------

    async def get_issue(self, request: Request, repo: Repo) -> Response:
        pull = self.pull(repo, request)
        if pull is None:
            return not_found()
        return respond(request, self.world, issue_json(self.world, repo, pull))

    async def labels(self, request: Request, repo: Repo) -> Response:
        pull = self.pull(repo, request)
        if pull is None:
            return not_found()
        if request.method == "GET":
            data = [label_json(self.world, repo, n) for n in pull.labels]
            return respond(request, self.world, data)
        body = await body_of(request)
        names = body.get("labels", []) if isinstance(body, dict) else body
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return invalid("Invalid request.\n\nFor 'links/0/schema', nil is not an array.")
        wanted = list(dict.fromkeys(names if request.method == "PUT" else [*pull.labels, *names]))
        response = self.edit(request, repo, pull, {"labels": wanted}, issue_json)
        if response.status_code != 200:
            return response
        return respond(request, self.world, [label_json(self.world, repo, n) for n in pull.labels])

    async def delete_label(self, request: Request, repo: Repo) -> Response:
        pull = self.pull(repo, request)
        name = request.path_params["name"]
        if pull is None or name not in pull.labels:
            return error(404, "Label does not exist")
        wanted = [n for n in pull.labels if n != name]
        self.edit(request, repo, pull, {"labels": wanted}, issue_json)
        return respond(request, self.world, [label_json(self.world, repo, n) for n in pull.labels])

    async def list_comments(self, request: Request, repo: Repo) -> Response:
        pull = self.pull(repo, request)
        if pull is None:
            return not_found()
        since = request.query_params.get("since")
        comments = sorted(
            (c for c in repo.comments.values() if c.number == pull.number), key=lambda c: c.id
        )
        if since:
            after = datetime.fromisoformat(since.replace("Z", "+00:00"))
            comments = [c for c in comments if c.created_at >= after]
        chunk, headers = paginate(request, comments)
        data = [comment_json(self.world, repo, c) for c in chunk]
        return respond(request, self.world, data, headers=headers)

    async def create_comment(self, request: Request, repo: Repo) -> Response:
        pull = self.pull(repo, request)
        if pull is None:
            return not_found()
        body = await body_of(request)
        text = body.get("body")
        if not isinstance(text, str) or not text:
            return invalid(
                "Validation Failed",
                {"resource": "IssueComment", "code": "missing_field", "field": "body"},
            )
        if len(text) > BODY_LIMIT:
            return too_long("IssueComment", "body", BODY_LIMIT)
        login = self.login(request)
        comment = Comment(self.world.next_id(), pull.number, login, text, now())
        with self.world.lock:
            repo.comments[comment.id] = comment
            if comment.number in repo.pulls:
                repo.pulls[comment.number].updated_at = now()
        emit_github(self.world, "issue_comment", repo=repo, comment=comment, user=login)
        data = comment_json(self.world, repo, comment)
        return created(request, self.world, data, data["url"])

    def comment(self, repo: Repo, request: Request) -> Comment | None:
        try:
            return repo.comments.get(int(request.path_params["comment"]))
        except ValueError:
            return None

    async def get_comment(self, request: Request, repo: Repo) -> Response:
        comment = self.comment(repo, request)
        if comment is None:
            return not_found()
        return respond(request, self.world, comment_json(self.world, repo, comment))

    async def edit_comment(self, request: Request, repo: Repo) -> Response:
        comment = self.comment(repo, request)
        if comment is None:
            return not_found()
        body = await body_of(request)
        text = body.get("body")
        if not isinstance(text, str) or len(text) > BODY_LIMIT:
            return too_long("IssueComment", "body", BODY_LIMIT)
        with self.world.lock:
            comment.edit(self.login(request), text, now())
        emit_github(
            self.world,
            "issue_comment",
            repo=repo,
            comment=comment,
            action="edited",
            user=self.login(request),
        )
        return respond(request, self.world, comment_json(self.world, repo, comment))

    async def reactions(self, request: Request, repo: Repo) -> Response:
        comment = self.comment(repo, request)
        if comment is None:
            return not_found()
        login = self.login(request)
        if request.method == "GET":
            listed = [
                self.reaction_json(comment, i, user, content)
                for i, (user, content) in enumerate(comment.reactions)
            ]
            return respond(request, self.world, listed)
        content = (await body_of(request)).get("content")
        if content not in REACTIONS:
            return invalid(
                "Validation Failed", {"resource": "Reaction", "code": "invalid", "field": "content"}
            )
        with self.world.lock:
            if (login, content) in comment.reactions:
                index = comment.reactions.index((login, content))
                return respond(
                    request, self.world, self.reaction_json(comment, index, login, content)
                )
            comment.reactions.append((login, content))
            index = len(comment.reactions) - 1
        data = self.reaction_json(comment, index, login, content)
        return created(request, self.world, data, data["url"])

    def reaction_json(
        self, comment: Comment, index: int, user: str, content: str
    ) -> dict[str, Any]:
        ident = stable_id(f"{comment.id}:{index}")
        return {
            "id": ident,
            "node_id": node_id("Reaction", ident),
            "user": user_json(self.world, user),
            "content": content,
            "created_at": iso(comment.created_at),
            "url": api(self.world, f"/reactions/{ident}"),
        }

    # statuses and check runs ----------------------------------------------------------------

    async def create_status(self, request: Request, repo: Repo) -> Response:
        sha = request.path_params["sha"]
        body = await body_of(request)
        state_ = body.get("state")
        if repo.git.object_type(sha) != "commit":
            return invalid(f"No commit found for SHA: {sha}")
        if state_ not in ("error", "failure", "pending", "success"):
            return invalid(
                "Validation Failed",
                {
                    "resource": "Status",
                    "code": "custom",
                    "field": "state",
                    "message": "state is not included in the list",
                },
            )
        description = body.get("description") or ""
        if len(description) > DESCRIPTION_LIMIT:
            return too_long("Status", "description", DESCRIPTION_LIMIT)
        login = self.login(request)
        status = Status(
            id=self.world.next_id(),
            sha=sha,
            context=body.get("context") or "default",
            state=state_,
            description=description,
            target_url=body.get("target_url"),
            creator=login,
            created_at=now(),
        )
        with self.world.lock:
            repo.statuses.append(status)
        emit_github(self.world, "status", repo=repo, status=status, user=login)
        data = status_json(self.world, repo, status)
        return created(request, self.world, data, data["url"])

    async def combined_status(self, request: Request, repo: Repo) -> Response:
        ref = request.path_params["ref"]
        sha = self.resolve(repo, ref)
        if sha is None:
            return invalid(f"No commit found for SHA: {ref}")
        latest: dict[str, Status] = {}
        for status in sorted(repo.statuses, key=lambda s: s.id):
            if status.sha == sha:
                latest[status.context] = status
        states = {s.state for s in latest.values()}
        combined = (
            "failure"
            if states & {"failure", "error"}
            else "pending"
            if "pending" in states or not states
            else "success"
        )
        statuses = sorted(latest.values(), key=lambda s: s.id, reverse=True)
        chunk, headers = paginate(request, statuses)
        data = {
            "state": combined,
            "statuses": [combined_status_json(self.world, repo, s) for s in chunk],
            "sha": sha,
            "total_count": len(statuses),
            "repository": repo_json(self.world, repo),
            "commit_url": api(self.world, f"/repos/{repo.full_name}/commits/{sha}"),
            "url": api(self.world, f"/repos/{repo.full_name}/commits/{sha}/status"),
        }
        return respond(request, self.world, data, headers=headers)

    async def list_statuses(self, request: Request, repo: Repo) -> Response:
        ref = request.path_params["ref"]
        sha = self.resolve(repo, ref)
        found = sorted((s for s in repo.statuses if s.sha == sha), key=lambda s: s.id, reverse=True)
        chunk, headers = paginate(request, found)
        data = [status_json(self.world, repo, s) for s in chunk]
        return respond(request, self.world, data, headers=headers)

    async def check_runs(self, request: Request, repo: Repo) -> Response:
        ref = request.path_params["ref"]
        sha = self.resolve(repo, ref)
        if sha is None:
            return invalid(f"No commit found for SHA: {ref}")
        runs = sorted(
            (r for r in repo.check_runs if r.sha == sha), key=lambda r: r.id, reverse=True
        )
        if request.query_params.get("filter", "latest") == "latest":
            newest: dict[str, CheckRun] = {}
            for run in runs:
                newest.setdefault(run.name, run)
            runs = list(newest.values())
        if request.query_params.get("check_name"):
            runs = [r for r in runs if r.name == request.query_params["check_name"]]
        chunk, headers = paginate(request, runs)
        data = {
            "total_count": len(runs),
            "check_runs": [check_run_json(self.world, repo, r) for r in chunk],
        }
        return respond(request, self.world, data, headers=headers)

    async def create_check_run(self, request: Request, repo: Repo) -> Response:
        body = await body_of(request)
        sha, name = body.get("head_sha"), body.get("name")
        if not isinstance(name, str) or not isinstance(sha, str):
            return invalid('Invalid request.\n\n"name" and "head_sha" are required.')
        if repo.git.object_type(sha) != "commit":
            return invalid(f"No commit found for SHA: {sha}")
        login = self.login(request)
        if not login.endswith("[bot]"):
            return error(403, "You must authenticate via a GitHub App.")
        status = body.get("status") or ("completed" if body.get("conclusion") else "queued")
        run = add_check_run(
            self.world, repo.full_name, sha, name, status, body.get("conclusion"),
            login.removesuffix("[bot]"),
        )  # fmt: skip
        data = check_run_json(self.world, repo, run)
        return created(request, self.world, data, data["url"])

    # people -----------------------------------------------------------------------------------

    def role(self, repo: Repo, login: str) -> str:
        if login == repo.owner:
            return "admin"
        return repo.permissions.get(login, "none")

    async def permission(self, request: Request, repo: Repo) -> Response:
        login = request.path_params["user"]
        if login not in self.world.users:
            return error(404, f"{login} is not a user")
        role = self.role(repo, login)
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        data = {"permission": legacy, "role_name": role, "user": user_json(self.world, login)}
        return respond(request, self.world, data)

    async def membership(self, request: Request) -> Response:
        org, team, login = (request.path_params[k] for k in ("org", "team", "user"))
        if login not in self.world.teams.get(f"{org}/{team}", set()):
            return not_found()
        data = {
            "url": api(
                self.world,
                f"/organizations/{stable_id(org)}/team/{stable_id(team)}/memberships/{login}",
            ),
            "role": "member",
            "state": "active",
        }
        return respond(request, self.world, data)

    async def user(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        if token in state(self.world).issued:  # installation tokens cannot read /user
            return error(403, "Resource not accessible by integration")
        return respond(request, self.world, user_json(self.world, self.login(request)))

    async def named_user(self, request: Request) -> Response:
        login = request.path_params["login"]
        if login not in self.world.users:
            return not_found()
        return respond(request, self.world, user_json(self.world, login))

    async def named_app(self, request: Request) -> Response:
        """GET /apps/{slug}: an App that exists (registered, has a bot user, or made a run)."""
        slug = request.path_params["slug"]
        known = {app.get("slug", "promobot") for app in self.world.apps.values()}
        known |= {u.removesuffix("[bot]") for u in self.world.users if u.endswith("[bot]")}
        known |= {run.app for repo in self.world.repos.values() for run in repo.check_runs}
        if slug not in known:
            return not_found()
        return respond(request, self.world, app_json(self.world, slug))

    async def app(self, request: Request) -> Response:
        found = self.app_from_jwt(request)
        if isinstance(found, Response):
            return found
        _, app = found
        data = app_json(self.world, app.get("slug", "promobot"))
        data["permissions"] = {"contents": "write", "pull_requests": "write", "metadata": "read"}
        data["events"] = ["pull_request", "pull_request_review", "issue_comment", "push", "status"]
        return respond(request, self.world, data)

    # GitHub Apps ------------------------------------------------------------------------------

    def app_from_jwt(self, request: Request) -> tuple[int, dict[str, Any]] | JSONResponse:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return error(401, "A JSON web token could not be decoded")
        token = header.split(" ", 1)[1].strip()
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
            app_id = int(claims["iss"])
        except (jwt.PyJWTError, KeyError, ValueError):
            return error(401, "A JSON web token could not be decoded")
        app = self.world.apps.get(app_id)
        if app is None:
            return error(401, f"Integration not found ({app_id})")
        try:
            claims = jwt.decode(
                token,
                app["public_key"],
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            return error(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
            )
        except jwt.PyJWTError:
            return error(401, "A JSON web token could not be decoded")
        if claims["exp"] - time.time() > 660:
            return error(401, "'Expiration time' claim ('exp') is too far in the future")
        return app_id, app

    async def access_token(self, request: Request) -> Response:
        found = self.app_from_jwt(request)
        if isinstance(found, Response):
            return found
        _, app = found
        ident = int(request.path_params["installation"])
        if ident not in installations_of(app):
            return not_found()
        token = "ghs_" + secrets.token_urlsafe(27)
        expires = int(time.time()) + int(app.get("token_ttl", 3600))
        login = f"{app.get('slug', 'promobot')}[bot]"
        with self.world.lock:
            self.world.add_user(login, bot=True, token=token)
            self.world.token_expiry[token] = expires
            state(self.world).issued.append(token)
            state(self.world).installation_of[token] = ident
        data = {
            "token": token,
            "expires_at": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "permissions": {
                "checks": "read",
                "contents": "write",
                "issues": "write",
                "members": "read",
                "metadata": "read",
                "pull_requests": "write",
                "statuses": "write",
            },
            "repository_selection": "all",
        }
        return created(request, self.world, data, api(self.world, f"/app/installations/{ident}"))

    def installation_json(self, app_id: int, app: dict[str, Any], ident: int) -> dict[str, Any]:
        owner = "acme"
        return {
            "id": ident,
            "account": owner_json(self.world, owner),
            "repository_selection": "all" if installations_of(app)[ident] is None else "selected",
            "access_tokens_url": api(self.world, f"/app/installations/{ident}/access_tokens"),
            "repositories_url": api(self.world, "/installation/repositories"),
            "html_url": web(self.world, f"organizations/{owner}/settings/installations/{ident}"),
            "app_id": app_id,
            "app_slug": app.get("slug", "promobot"),
            "target_id": stable_id(owner),
            "target_type": "Organization",
            "permissions": {"contents": "write", "pull_requests": "write", "metadata": "read"},
            "events": ["pull_request", "pull_request_review", "issue_comment", "push", "status"],
            "created_at": CREATED,
            "updated_at": CREATED,
            "single_file_name": None,
            "suspended_at": None,
            "suspended_by": None,
        }

    async def list_installations(self, request: Request) -> Response:
        found = self.app_from_jwt(request)
        if isinstance(found, Response):
            return found
        app_id, app = found
        items = [self.installation_json(app_id, app, i) for i in sorted(installations_of(app))]
        page, links = paginate(request, items)
        return respond(request, self.world, page, headers=links)

    async def installation_repositories(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        ident = state(self.world).installation_of.get(token)
        if ident is None:  # a user's token, or an app's JWT: not an installation
            return error(403, "Resource not accessible by integration")
        app = next((a for a in self.world.apps.values() if ident in installations_of(a)), None)
        if app is None:
            return error(401, "Bad credentials")  # uninstalled since the token was issued
        names = installations_of(app).get(ident)
        repos = [
            repo_json(self.world, r)
            for n, r in sorted(self.world.repos.items())
            if names is None or n in names
        ]
        page, links = paginate(request, repos)
        data = {"total_count": len(repos), "repository_selection": "selected", "repositories": page}
        return respond(request, self.world, data, headers=links)

    async def installation(self, request: Request) -> Response:
        found = self.app_from_jwt(request)
        if isinstance(found, Response):
            return found
        app_id, app = found
        full_name = f"{request.path_params['owner']}/{request.path_params['repo']}"
        repo = self.world.repo(full_name)
        if repo is None:
            return not_found()
        ident = int(app["installation"])
        data = {
            "id": ident,
            "account": owner_json(self.world, repo.owner),
            "repository_selection": "all",
            "access_tokens_url": api(self.world, f"/app/installations/{ident}/access_tokens"),
            "repositories_url": api(self.world, "/installation/repositories"),
            "html_url": web(
                self.world, f"organizations/{repo.owner}/settings/installations/{ident}"
            ),
            "app_id": app_id,
            "app_slug": app.get("slug", "promobot"),
            "target_id": stable_id(repo.owner),
            "target_type": "Organization",
            "permissions": {"contents": "write", "pull_requests": "write", "metadata": "read"},
            "events": ["pull_request", "pull_request_review", "issue_comment", "push", "status"],
            "created_at": CREATED,
            "updated_at": CREATED,
            "single_file_name": None,
            "suspended_at": None,
            "suspended_by": None,
        }
        return respond(request, self.world, data)


def installations_of(app: dict[str, Any]) -> dict[int, list[str] | None]:
    """An app's installations: id -> the repos it is on (None: every repo)."""
    listed = app.get("installations")
    if listed is None:
        return {int(app["installation"]): None}
    return {int(k): v for k, v in listed.items()}


def routes(world: World) -> list[Route]:
    """The GitHub API, mounted under /api/v3 (the GitHub Enterprise Server layout)."""
    gh = _GitHub(world)
    repo = "/repos/{owner}/{repo}"

    def on_repo(handler: RepoHandler) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            found = world.repo(f"{request.path_params['owner']}/{request.path_params['repo']}")
            if found is None:
                return not_found()
            return await handler(request, found)

        return wrapped

    table: list[tuple[str, str, RepoHandler]] = [
        ("GET", "", gh.get_repo),
        ("GET", "/branches/{branch:path}", gh.get_branch),
        ("GET", "/commits", gh.list_commits),
        ("GET", "/commits/{ref:path}/status", gh.combined_status),
        ("GET", "/commits/{ref:path}/statuses", gh.list_statuses),
        ("GET", "/commits/{ref:path}/check-runs", gh.check_runs),
        ("GET", "/commits/{ref:path}", gh.get_commit),
        ("GET", "/git/ref/{ref:path}", gh.get_ref),
        ("GET", "/git/refs/{ref:path}", gh.get_ref),
        ("GET", "/git/matching-refs/{ref:path}", gh.matching_refs),
        ("POST", "/git/refs", gh.create_ref),
        ("PATCH", "/git/refs/{ref:path}", gh.update_ref),
        ("PATCH", "/git/ref/{ref:path}", gh.update_ref),  # the form older PyGithub used
        ("DELETE", "/git/refs/{ref:path}", gh.delete_ref),
        ("GET", "/git/commits/{sha}", gh.get_git_commit),
        ("POST", "/git/commits", gh.create_commit),
        ("GET", "/git/trees/{sha}", gh.get_tree),
        ("POST", "/git/trees", gh.create_tree),
        ("GET", "/git/blobs/{sha}", gh.get_blob),
        ("POST", "/git/blobs", gh.create_blob),
        ("GET", "/tags", gh.list_tags),
        ("GET", "/releases", gh.list_releases),
        ("GET", "/compare/{basehead:path}", gh.compare),
        ("GET", "/tarball", gh.tarball),
        ("GET", "/tarball/{ref:path}", gh.tarball),
        ("GET", "/contents", gh.contents),
        ("GET", "/contents/{path:path}", gh.contents),
        ("GET", "/readme", gh.readme),
        ("GET", "/pulls", gh.list_pulls),
        ("POST", "/pulls", gh.create_pull),
        ("GET", "/pulls/{number}", gh.get_pull),
        ("PATCH", "/pulls/{number}", gh.update_pull),
        ("GET", "/pulls/{number}/files", gh.pull_files),
        ("GET", "/pulls/{number}/merge", gh.merged),
        ("PUT", "/pulls/{number}/merge", gh.merge),
        ("GET", "/pulls/{number}/reviews", gh.list_reviews),
        ("POST", "/pulls/{number}/reviews", gh.create_review),
        ("GET", "/pulls/{number}/reviews/{review}", gh.get_review),
        ("GET", "/issues/comments/{comment}", gh.get_comment),
        ("PATCH", "/issues/comments/{comment}", gh.edit_comment),
        ("GET", "/issues/comments/{comment}/reactions", gh.reactions),
        ("POST", "/issues/comments/{comment}/reactions", gh.reactions),
        ("GET", "/issues/{number}", gh.get_issue),
        ("PATCH", "/issues/{number}", gh.update_issue),
        ("GET", "/issues/{number}/labels", gh.labels),
        ("POST", "/issues/{number}/labels", gh.labels),
        ("PUT", "/issues/{number}/labels", gh.labels),
        ("DELETE", "/issues/{number}/labels/{name}", gh.delete_label),
        ("GET", "/issues/{number}/comments", gh.list_comments),
        ("POST", "/issues/{number}/comments", gh.create_comment),
        ("POST", "/statuses/{sha}", gh.create_status),
        # the older path of the same list, which PyGithub's Commit.get_statuses() asks
        ("GET", "/statuses/{ref:path}", gh.list_statuses),
        ("POST", "/check-runs", gh.create_check_run),
        ("GET", "/collaborators/{user}/permission", gh.permission),
    ]
    found = [endpoint(world, "github", m, repo + path, on_repo(h)) for m, path, h in table]
    return [
        *found,
        endpoint(
            world, "github", "GET", "/orgs/{org}/teams/{team}/memberships/{user}", gh.membership
        ),
        endpoint(world, "github", "GET", "/user", gh.user),
        endpoint(world, "github", "GET", "/users/{login}", gh.named_user),
        endpoint(world, "github", "GET", "/apps/{slug}", gh.named_app),
        # App endpoints authenticate with the app's JWT, which endpoint() does not know.
        endpoint(world, "github", "GET", "/app", gh.app, auth=False),
        # App endpoints authenticate with the app's JWT, which endpoint() does not know.
        endpoint(
            world,
            "github",
            "POST",
            "/app/installations/{installation}/access_tokens",
            gh.access_token,
            auth=False,
        ),
        endpoint(world, "github", "GET", repo + "/installation", gh.installation, auth=False),
        endpoint(world, "github", "GET", "/app/installations", gh.list_installations, auth=False),
        endpoint(
            world, "github", "GET", "/installation/repositories", gh.installation_repositories
        ),
    ]


def extra_routes(world: World) -> list[Route]:
    """Outside the API: codeload, where tarball links lead (not an API call, never counted)."""

    async def codeload(request: Request) -> Response:
        full_name = f"{request.path_params['owner']}/{request.path_params['repo']}"
        with world.lock:
            grant = state(world).codeload.get(request.query_params.get("token", ""))
        repo = world.repo(full_name)
        if repo is None or grant is None or grant[0] != full_name or grant[1] < time.time():
            return Response("Not Found", status_code=404, media_type="text/plain")
        ref = request.path_params["ref"]
        sha = _GitHub(world).resolve(repo, ref)
        if sha is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        prefix = f"{repo.owner}-{repo.name}-{sha[:7]}/"
        data = repo.git.archive(sha, prefix)
        return Response(
            data,
            media_type="application/x-gzip",
            headers={"Content-Disposition": f"attachment; filename={prefix[:-1]}.tar.gz"},
        )

    return [
        Route(
            "/_codeload/{owner}/{repo}/legacy.tar.gz/{ref:path}",
            codeload,
            methods=["GET"],
            name="github codeload",
        )
    ]
