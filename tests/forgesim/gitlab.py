"""GitLab v4 as the simulator serves it, under /api/v4, and GitLab-format webhooks.

Projects are addressed by URL-encoded path (`acme%2Fenv-repo`) or numeric id. Bodies carry the
fields of the real API (a test compares them with tests/fixtures/gitlab-api), lists are
paginated with GitLab's headers (`Link`, `X-Total`, `X-Page`, `X-Next-Page`, `X-Per-Page`),
and refusals use GitLab's status codes and messages, quirks included:

- `POST /repository/commits` makes the branch and the commit in one call; `create` on an
  existing file and `update` on a missing one are refused, as GitLab does.
- An open merge request for the same source and target branch answers 409 with GitLab's
  `["Another open merge request already exists for this source branch: !N"]`.
- Merging with a `sha` other than the head answers 409; a closed MR 405; a conflict 406.
- Approvals (Free tier) list `approved_by` with `approved_at`, and the MR's versions say which
  head it had when: that is how a client binds an approval to a SHA. `ce_approvals` answers in
  the shape of GitLab CE before `approved_at`; either way approving writes the system note
  "approved this merge request", as GitLab does.
- Posting a commit status in the state it already has while pending or running answers 400
  "Cannot transition status via :enqueue from :pending".
- Awarding an emoji twice answers 404 "Award Emoji Name has already been taken".

Uvicorn decodes `%2F`, so routes match the decoded path: `{project:path}` spans `acme/env-repo`
and the literal segments after it (`/repository/…`, `/merge_requests/…`) anchor the match.
"""

from __future__ import annotations

import json
import math
import weakref
import zlib
from base64 import b64decode
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.forgesim.app import endpoint
from tests.forgesim.git import GitError
from tests.forgesim.world import Comment, Pull, Release, Repo, Status, World, real_time

T = TypeVar("T")
ZERO = "0" * 40
STATUS_STATES = {"pending", "running", "success", "failed", "canceled", "skipped"}
ACCESS = {
    "admin": 40,
    "maintain": 40,
    "write": 30,
    "push": 30,
    "triage": 20,
    "read": 20,
    "pull": 20,
}


# --- state the shared World does not hold --------------------------------------------------


@dataclass
class Version:
    """One MR diff version: the head the MR had from `created_at` on."""

    id: int
    head: str
    base: str
    start: str
    created_at: datetime


@dataclass
class GitLabState:
    versions: dict[tuple[int, int], list[Version]] = field(default_factory=dict)
    system_notes: dict[tuple[int, int], list[Comment]] = field(default_factory=dict)
    labels: dict[tuple[int, str], int] = field(default_factory=dict)
    pipelines: dict[tuple[int, str], tuple[int, int]] = field(default_factory=dict)  # id, iid
    # GitLab 17.x added `approved_at` to `approved_by`; False imitates an older GitLab.
    approved_at: bool = True
    # GitLab CE before `approved_at`: the approvals answer holds only `user_has_approved`,
    # `user_can_approve`, `approved` and `approved_by` (users, no times, no `updated_at`).
    ce_approvals: bool = False
    # The Premium project setting; None is the Free tier, where `/projects/:id/approvals` is 404.
    reset_approvals_on_push: bool | None = None


_STATES: weakref.WeakKeyDictionary[World, GitLabState] = weakref.WeakKeyDictionary()


def state(world: World) -> GitLabState:
    """The GitLab-only state of a world (tests flip `approved_at`, `ce_approvals`,
    `reset_approvals_on_push`)."""
    with world.lock:
        return _STATES.setdefault(world, GitLabState())


def stamp() -> datetime:
    # Sub-second precision, as GitLab's own timestamps: an approval and a push in the same
    # second must still be ordered.
    return real_time()


def iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hook_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- helpers -------------------------------------------------------------------------------


def fail(status: int, message: Any, key: str = "message") -> JSONResponse:
    return JSONResponse({key: message}, status_code=status)


def not_found(what: str) -> JSONResponse:
    return fail(404, f"404 {what} Not Found")


async def params(request: Request) -> dict[str, Any]:
    """Query string and body together, as GitLab's API (Grape) reads them."""
    data: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if body:
        if "json" in request.headers.get("content-type", ""):
            parsed = json.loads(body)
            if isinstance(parsed, dict):
                data.update(parsed)
        else:
            data.update(parse_qsl(body.decode(errors="replace")))
    return data


def flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")


def number(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def paginate(request: Request, items: Sequence[T], render: Callable[[T], Any]) -> Response:
    query = request.query_params
    per_page = min(max(number(query.get("per_page"), 20), 1), 100)
    page = max(number(query.get("page"), 1), 1)
    total = len(items)
    pages = max(math.ceil(total / per_page), 1)
    chunk = items[(page - 1) * per_page : page * per_page]
    path = request.scope.get("raw_path", request.url.path.encode()).decode()
    base = f"{request.url.scheme}://{request.url.netloc}{path}"

    def link(to: int) -> str:
        pairs = [(k, v) for k, v in query.multi_items() if k != "page"] + [("page", str(to))]
        return f"{base}?{urlencode(pairs)}"

    rels = []
    if page > 1:
        rels.append(("prev", page - 1))
    if page < pages:
        rels.append(("next", page + 1))
    rels += [("first", 1), ("last", pages)]
    headers = {
        "Link": ", ".join(f'<{link(to)}>; rel="{rel}"' for rel, to in rels),
        "X-Total": str(total),
        "X-Total-Pages": str(pages),
        "X-Per-Page": str(per_page),
        "X-Page": str(page),
        "X-Next-Page": str(page + 1) if page < pages else "",
        "X-Prev-Page": str(page - 1) if page > 1 else "",
    }
    return JSONResponse([render(item) for item in chunk], headers=headers)


def find_repo(world: World, ref: str) -> Repo | None:
    if ref.isdigit():
        return world.repo_by_id(int(ref))
    return world.repo(ref)


def user_by_id(world: World, user_id: int) -> str | None:
    return next((u.login for u in world.users.values() if u.id == user_id), None)


def access_level(world: World, repo: Repo, login: str) -> int:
    level = repo.permissions.get(login, "")
    return int(level) if level.isdigit() else ACCESS.get(level, 0)


def labels_of(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return sorted({str(item).strip() for item in items if str(item).strip()})


def git_ok(repo: Repo, *args: str) -> bool:
    try:
        repo.git.git(*args)
        return True
    except GitError:
        return False


def merge_base(repo: Repo, a: str, b: str) -> str:
    try:
        return repo.git.text("merge-base", a, b) or a
    except GitError:
        return a


# --- JSON shapes ---------------------------------------------------------------------------


def user_basic(world: World, login: str) -> dict[str, Any]:
    user = world.add_user(login)
    return {
        "id": user.id,
        "username": user.login,
        "name": user.name or user.login,
        "state": "active",
        "locked": False,
        "avatar_url": f"{world.base_url}/uploads/-/system/user/avatar/{user.id}/avatar.png",
        "web_url": f"{world.base_url}/{user.login}",
    }


def user_full(world: World, login: str) -> dict[str, Any]:
    user = world.add_user(login)
    return {
        **user_basic(world, login),
        "created_at": "2024-01-01T00:00:00.000Z",
        "bio": "",
        "bot": user.bot,
        "location": "",
        "public_email": "",
        "skype": "",
        "linkedin": "",
        "twitter": "",
        "discord": "",
        "website_url": "",
        "organization": "",
        "job_title": "",
        "pronouns": None,
        "work_information": None,
        "followers": 0,
        "following": 0,
        "is_followed": False,
        "local_time": None,
    }


def project_json(world: World, repo: Repo, login: str | None) -> dict[str, Any]:
    level = access_level(world, repo, login) if login else 0
    web = f"{world.base_url}/{repo.full_name}"
    return {
        "id": repo.id,
        "description": "",
        "name": repo.name,
        "name_with_namespace": f"{repo.owner} / {repo.name}",
        "path": repo.name,
        "path_with_namespace": repo.full_name,
        "created_at": "2024-01-01T00:00:00.000Z",
        "default_branch": repo.default_branch,
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": f"git@127.0.0.1:{repo.full_name}.git",
        "http_url_to_repo": f"{web}.git",
        "web_url": web,
        "readme_url": None,
        "forks_count": 0,
        "avatar_url": None,
        "star_count": 0,
        "last_activity_at": iso(stamp()),
        "namespace": {
            "id": zlib.crc32(repo.owner.encode()) % 100000,
            "name": repo.owner,
            "path": repo.owner.rsplit("/", 1)[-1],
            "kind": "group",
            "full_path": repo.owner,
            "parent_id": None,
            "avatar_url": None,
            "web_url": f"{world.base_url}/groups/{repo.owner}",
        },
        "visibility": "private",
        "archived": False,
        "empty_repo": repo.git.resolve(f"refs/heads/{repo.default_branch}") is None,
        "merge_method": "merge",
        "remove_source_branch_after_merge": False,
        "only_allow_merge_if_pipeline_succeeds": False,
        "permissions": {
            "project_access": {"access_level": level, "notification_level": 3} if level else None,
            "group_access": None,
        },
    }


def commit_json(world: World, repo: Repo, sha: str, *, detail: bool = False) -> dict[str, Any]:
    info = repo.git.commit_info(sha)
    message = info["message"]
    data: dict[str, Any] = {
        "id": sha,
        "short_id": sha[:8],
        "created_at": info["committer_date"],
        "parent_ids": info["parents"].split(),
        "title": message.splitlines()[0] if message else "",
        "message": message,
        "author_name": info["author_name"],
        "author_email": info["author_email"],
        "authored_date": info["author_date"],
        "committer_name": info["committer_name"],
        "committer_email": info["committer_email"],
        "committed_date": info["committer_date"],
        "trailers": {},
        "extended_trailers": {},
        "web_url": f"{world.base_url}/{repo.full_name}/-/commit/{sha}",
    }
    if detail:
        statuses = [s for s in repo.statuses if s.sha == sha]
        data.update(
            stats=stats(repo, sha),
            status=gitlab_state(statuses[-1].state) if statuses else None,
            project_id=repo.id,
            last_pipeline=None,
        )
    return data


def stats(repo: Repo, sha: str) -> dict[str, int]:
    out = repo.git.text("diff-tree", "--root", "--numstat", "-r", "--no-commit-id", sha)
    added = deleted = 0
    for line in out.splitlines():
        plus, minus, _ = line.split("\t", 2)
        added += int(plus) if plus.isdigit() else 0
        deleted += int(minus) if minus.isdigit() else 0
    return {"additions": added, "deletions": deleted, "total": added + deleted}


def branch_json(world: World, repo: Repo, name: str, sha: str) -> dict[str, Any]:
    default = repo.git.resolve(f"refs/heads/{repo.default_branch}")
    return {
        "name": name,
        "merged": name != repo.default_branch
        and default is not None
        and repo.git.is_ancestor(sha, default),
        "protected": name == repo.default_branch,
        "default": name == repo.default_branch,
        "developers_can_push": False,
        "developers_can_merge": False,
        "can_push": True,
        "web_url": f"{world.base_url}/{repo.full_name}/-/tree/{name}",
        "commit": commit_json(world, repo, sha),
    }


def gitlab_state(state: str) -> str:
    # The shared World speaks GitHub's words too (a test may add a `failure` directly).
    return {"failure": "failed", "error": "failed"}.get(state, state)


def release_json(world: World, repo: Repo, release: Release) -> dict[str, Any]:
    """A release as `GET /projects/:id/releases` lists it (checked against the documented
    answer in tests/fixtures/gitlab-api/list_releases.json)."""
    sha = repo.git.resolve(f"refs/tags/{release.tag}") or ZERO
    archive = f"{world.base_url}/{repo.full_name}/-/archive/{release.tag}/{repo.name}-{release.tag}"
    return {
        "tag_name": release.tag,
        "description": release.body,
        "name": release.name or release.tag,
        "created_at": iso(release.created_at),
        "released_at": iso(release.created_at),
        "upcoming_release": False,
        "author": user_basic(world, release.author),
        "commit": commit_json(world, repo, sha) if sha != ZERO else None,
        "milestones": [],
        "commit_path": f"/{repo.full_name}/-/commit/{sha}",
        "tag_path": f"/{repo.full_name}/-/tags/{release.tag}",
        "assets": {
            "count": 4,
            "sources": [
                {"format": fmt, "url": f"{archive}.{fmt}"}
                for fmt in ("zip", "tar.gz", "tar.bz2", "tar")
            ],
            "links": [],
            "evidence_file_path": f"{world.base_url}/{repo.full_name}/-/releases/"
            f"{release.tag}/evidence.json",
        },
        "evidences": [],
        "_links": {
            "self": f"{world.base_url}/{repo.full_name}/-/releases/{release.tag}",
            "edit_url": f"{world.base_url}/{repo.full_name}/-/releases/{release.tag}/edit",
        },
    }


def mr_identity(repo: Repo, pull: Pull) -> dict[str, Any]:
    """The fields that open both a merge request and its approvals, as GitLab sends them."""
    return {
        "id": pull.id,
        "iid": pull.number,
        "project_id": repo.id,
        "title": pull.title,
        "description": pull.body,
        "state": mr_state(pull),
        "created_at": iso(pull.created_at),
        "updated_at": iso(pull.updated_at),
    }


def mr_state(pull: Pull) -> str:
    return "merged" if pull.merged else "opened" if pull.state == "open" else "closed"


def is_draft(pull: Pull) -> bool:
    return pull.title.lower().startswith(("draft:", "[draft]", "(draft)"))


def mr_head(world: World, repo: Repo, pull: Pull) -> str | None:
    """The MR's head, recording a new version when its source branch moved (GitLab does so on
    push; the simulator notices on the next request, before anything can depend on it)."""
    st = state(world)
    with world.lock:
        versions = st.versions.setdefault((repo.id, pull.number), [])
        head = repo.git.resolve(f"refs/heads/{pull.branch}") if pull.state == "open" else None
        if head is None:
            return versions[-1].head if versions else None
        if not versions or versions[-1].head != head:
            start = repo.git.resolve(f"refs/heads/{pull.base}") or head
            base = merge_base(repo, start, head)
            versions.append(Version(world.next_id(), head, base, start, stamp()))
            if len(versions) > 1:
                system_note(world, repo, pull, "ada", "added 1 commit")
                if st.reset_approvals_on_push:
                    pull.approvals.clear()
        return head


def has_conflicts(repo: Repo, target: str | None, head: str | None) -> bool:
    if target is None or head is None:
        return False
    return not git_ok(repo, "merge-tree", "--write-tree", "--no-messages", target, head)


def mr_json(world: World, repo: Repo, pull: Pull) -> dict[str, Any]:
    head = mr_head(world, repo, pull)
    target = repo.git.resolve(f"refs/heads/{pull.base}")
    opened = pull.state == "open"
    conflicts = opened and has_conflicts(repo, target, head)
    base = merge_base(repo, target, head) if target and head else target
    changed = (
        len(repo.git.text("diff", "--name-only", base, head).splitlines()) if base and head else 0
    )
    detailed = (
        "not_open"
        if not opened
        else "draft_status"
        if is_draft(pull)
        else "broken_status"
        if conflicts
        else "mergeable"
    )
    web = f"{world.base_url}/{repo.full_name}/-/merge_requests/{pull.number}"
    notes = [c for c in repo.comments.values() if c.number == pull.number]
    merged_by = user_basic(world, pull.merged_by) if pull.merged_by else None
    return {
        **mr_identity(repo, pull),
        "merged_by": merged_by,
        "merge_user": merged_by,
        "merged_at": iso(pull.closed_at) if pull.merged else None,
        "closed_by": None if opened or pull.merged else user_basic(world, pull.user),
        "closed_at": None if opened or pull.merged else iso(pull.closed_at),
        "target_branch": pull.base,
        "source_branch": pull.branch,
        "user_notes_count": len(notes),
        "upvotes": 0,
        "downvotes": 0,
        "author": user_basic(world, pull.user),
        "assignees": [],
        "assignee": None,
        "reviewers": [],
        "source_project_id": repo.id + 1 if pull.from_fork else repo.id,
        "target_project_id": repo.id,
        "labels": sorted(pull.labels),
        "draft": is_draft(pull),
        "work_in_progress": is_draft(pull),
        "milestone": None,
        "merge_when_pipeline_succeeds": False,
        "merge_status": "cannot_be_merged" if conflicts else "can_be_merged",
        "detailed_merge_status": detailed,
        "sha": head,
        "merge_commit_sha": pull.merge_commit_sha,
        "squash_commit_sha": None,
        "discussion_locked": None,
        "should_remove_source_branch": None,
        "force_remove_source_branch": False,
        "prepared_at": iso(pull.created_at),
        "reference": f"!{pull.number}",
        "references": {
            "short": f"!{pull.number}",
            "relative": f"!{pull.number}",
            "full": f"{repo.full_name}!{pull.number}",
        },
        "web_url": web,
        "time_stats": {
            "time_estimate": 0,
            "total_time_spent": 0,
            "human_time_estimate": None,
            "human_total_time_spent": None,
        },
        "squash": False,
        "squash_on_merge": False,
        "task_completion_status": {"count": 0, "completed_count": 0},
        "has_conflicts": conflicts,
        "blocking_discussions_resolved": True,
        "approvals_before_merge": None,
        "subscribed": True,
        "changes_count": str(changed),
        "latest_build_started_at": None,
        "latest_build_finished_at": None,
        "first_deployed_to_production_at": None,
        "pipeline": None,
        "head_pipeline": None,
        "diff_refs": {"base_sha": base, "head_sha": head, "start_sha": target},
        "merge_error": None,
        "first_contribution": False,
        "user": {"can_merge": True},
    }


def note_json(world: World, repo: Repo, pull: Pull, note: Comment, system: bool) -> dict[str, Any]:
    return {
        "id": note.id,
        "type": None,
        "body": note.body,
        "attachment": None,
        "author": user_basic(world, note.user),
        "created_at": iso(note.created_at),
        "updated_at": iso(note.updated_at or note.created_at),
        "system": system,
        "noteable_id": pull.id,
        "noteable_type": "MergeRequest",
        "project_id": repo.id,
        "resolvable": False,
        "confidential": False,
        "internal": False,
        "imported": False,
        "imported_from": "none",
        "noteable_iid": pull.number,
        "commands_changes": {},
    }


def emoji_json(world: World, note: Comment, index: int) -> dict[str, Any]:
    user, name = note.reactions[index]
    return {
        "id": note.id * 100 + index,
        "name": name,
        "user": user_basic(world, user),
        "created_at": iso(note.created_at),
        "updated_at": iso(note.created_at),
        "awardable_id": note.id,
        "awardable_type": "Note",
        "url": None,
    }


def status_json(world: World, repo: Repo, status: Status) -> dict[str, Any]:
    pipeline_id, _ = pipeline(world, repo, status.sha)
    return {
        "id": status.id,
        "sha": status.sha,
        "ref": branch_containing(repo, status.sha),
        "status": gitlab_state(status.state),
        "name": status.context,
        "target_url": status.target_url,
        "description": status.description,
        "created_at": iso(status.created_at),
        "started_at": iso(status.created_at),
        "finished_at": None
        if status.state in ("pending", "running", "created")
        else iso(status.created_at),
        "allow_failure": False,
        "coverage": None,
        "pipeline_id": pipeline_id,
        "author": user_basic(world, status.creator),
    }


def pipeline(world: World, repo: Repo, sha: str) -> tuple[int, int]:
    st = state(world)
    with world.lock:
        if (repo.id, sha) not in st.pipelines:
            iid = 1 + sum(1 for key in st.pipelines if key[0] == repo.id)
            st.pipelines[(repo.id, sha)] = (world.next_id(), iid)
        return st.pipelines[(repo.id, sha)]


def branch_containing(repo: Repo, sha: str) -> str | None:
    out = repo.git.text(
        "for-each-ref", "--contains", sha, "--format=%(refname:short)", "refs/heads"
    )
    names = out.splitlines()
    return repo.default_branch if repo.default_branch in names else (names[0] if names else None)


def approvals_json(world: World, repo: Repo, pull: Pull, login: str) -> dict[str, Any]:
    st = state(world)
    versions = st.versions.get((repo.id, pull.number), [])
    approved_by = []
    for user, sha, when in pull.approvals:
        entry: dict[str, Any] = {"user": user_basic(world, user)}
        if st.approved_at and not st.ce_approvals:
            # An approval is never older than the version it was given on (tests may record
            # one with a whole-second clock).
            given = next((v.created_at for v in versions if v.head == sha), when)
            entry["approved_at"] = iso(max(when, given))
        approved_by.append(entry)
    if st.ce_approvals:
        return {
            "user_has_approved": any(user == login for user, _, _ in pull.approvals),
            "user_can_approve": login != pull.user,
            "approved": bool(pull.approvals),
            "approved_by": approved_by,
        }
    return {
        **mr_identity(repo, pull),
        "merge_status": "can_be_merged",
        "approved": bool(pull.approvals),
        "approvals_required": 0,
        "approvals_left": 0,
        "require_password_to_approve": False,
        "approved_by": approved_by,
        "suggested_approvers": [],
        "approvers": [],
        "approver_groups": [],
        "user_has_approved": any(user == login for user, _, _ in pull.approvals),
        "user_can_approve": login != pull.user,
        "approval_rules_left": [],
        "has_approval_rules": False,
        "merge_request_approvers_available": False,
        "multiple_approval_rules_available": False,
        "invalid_approvers_rules": [],
    }


def system_note(world: World, repo: Repo, pull: Pull, user: str, body: str) -> None:
    with world.lock:
        notes = state(world).system_notes.setdefault((repo.id, pull.number), [])
        notes.append(Comment(world.next_id(), pull.number, user, body, stamp()))


# --- routes --------------------------------------------------------------------------------


def routes(world: World) -> list[Route]:
    def repo_of(request: Request) -> Repo | None:
        return find_repo(world, request.path_params["project"])

    def pull_of(request: Request) -> tuple[Repo | None, Pull | None]:
        repo = repo_of(request)
        if repo is None:
            return None, None
        return repo, repo.pulls.get(request.path_params["iid"])

    def login(request: Request) -> str:
        return str(request.state.user)

    # users and groups

    async def current_user(request: Request) -> Response:
        return JSONResponse(user_full(world, login(request)))

    async def list_users(request: Request) -> Response:
        wanted = request.query_params.get("username")
        users = [u.login for u in world.users.values() if wanted is None or u.login == wanted]
        return paginate(request, users, lambda name: user_basic(world, name))

    async def get_user(request: Request) -> Response:
        name = user_by_id(world, request.path_params["user_id"])
        return JSONResponse(user_full(world, name)) if name else not_found("User")

    async def group_member(request: Request) -> Response:
        group = request.path_params["group"]
        if group not in world.teams:
            return not_found("Group")
        name = user_by_id(world, request.path_params["user_id"])
        if name is None or name not in world.teams[group]:
            return not_found("")
        return JSONResponse(member_json(name, 30))

    def member_json(name: str, level: int) -> dict[str, Any]:
        return {
            **user_basic(world, name),
            "access_level": level,
            "created_at": "2024-01-01T00:00:00.000Z",
            "expires_at": None,
            "membership_state": "active",
        }

    # projects, branches, tags, archives

    async def get_project(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        return JSONResponse(project_json(world, repo, login(request)))

    async def project_member(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        name = user_by_id(world, request.path_params["user_id"])
        level = access_level(world, repo, name) if name else 0
        if name is None or not level:
            return not_found("")
        return JSONResponse(member_json(name, level))

    async def project_approval_settings(request: Request) -> Response:
        repo = repo_of(request)
        reset = state(world).reset_approvals_on_push
        if repo is None or reset is None:  # the Free tier has no such endpoint
            return fail(404, "404 Not Found", key="error")
        return JSONResponse(
            {
                "approvals_before_merge": 0,
                "reset_approvals_on_push": reset,
                "disable_overriding_approvers_per_merge_request": False,
                "merge_requests_author_approval": False,
                "merge_requests_disable_committers_approval": False,
                "require_password_to_approve": False,
            }
        )

    async def get_branch(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        name = request.path_params["branch"]
        sha = repo.git.resolve(f"refs/heads/{name}")
        if sha is None:
            return not_found("Branch")
        return JSONResponse(branch_json(world, repo, name, sha))

    async def list_branches(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        search = request.query_params.get("search", "")
        items = sorted((n, s) for n, s in repo.git.branches().items() if search in n)
        return paginate(request, items, lambda item: branch_json(world, repo, *item))

    async def list_tags(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        names = sorted(repo.git.tags(), reverse=request.query_params.get("sort") != "asc")

        def render(name: str) -> dict[str, Any]:
            sha = repo.git.resolve(f"refs/tags/{name}") or ZERO
            return {
                "name": name,
                "message": "",
                "target": repo.git.tags()[name],
                "commit": commit_json(world, repo, sha),
                "release": None,
                "protected": False,
                "created_at": None,
            }

        return paginate(request, names, render)

    async def archive(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        ref = request.query_params.get("sha") or repo.default_branch
        sha = repo.git.resolve(ref)
        if sha is None:
            return not_found("File")
        fmt = "tar" if request.url.path.endswith(".tar") else "tar.gz"
        prefix = f"{repo.name}-{sha}-{sha}"
        return Response(
            repo.git.archive(sha, prefix + "/", fmt),
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{prefix}.{fmt}"'},
        )

    # commits and statuses

    async def list_commits(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        ref = request.query_params.get("ref_name") or repo.default_branch
        sha = repo.git.resolve(ref)
        path = request.query_params.get("path")
        args = ["rev-list", sha, *(["--", path] if path else [])] if sha else []
        shas = repo.git.text(*args).splitlines() if sha else []
        return paginate(request, shas, lambda s: commit_json(world, repo, s))

    async def get_commit(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        sha = repo.git.resolve(request.path_params["sha"])
        if sha is None:
            return not_found("Commit")
        return JSONResponse(commit_json(world, repo, sha, detail=True))

    async def create_commit(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        p = await params(request)
        for key in ("branch", "commit_message", "actions"):
            if not p.get(key):
                return fail(400, f"{key} is missing", key="error")
        if p.get("start_branch") and p.get("start_sha"):
            return fail(400, "start_branch, start_sha are mutually exclusive", key="error")
        branch = str(p["branch"])
        current = repo.git.resolve(f"refs/heads/{branch}")
        if p.get("start_sha"):
            start = repo.git.resolve(str(p["start_sha"]))
            if start is None or not str(p["start_sha"]).startswith(start[:7]):
                return fail(400, "Invalid start_sha")
        elif p.get("start_branch"):
            start = repo.git.resolve(f"refs/heads/{p['start_branch']}")
            if start is None:
                return fail(400, f"Failed to find start branch {p['start_branch']}")
        else:
            start = current
            if start is None:
                return fail(400, "You can only create or edit files when you are on a branch")
        # Commits::CreateService#validate_branch_existence!: a start other than the branch
        # itself (start_sha always counts) onto a branch that exists needs `force`
        elsewhere = p.get("start_sha") or start != current
        if current is not None and elsewhere and not flag(p.get("force")):
            return fail(
                400,
                f"A branch called '{branch}' already exists. "
                "Switch to that branch in order to make changes",
            )
        try:
            built = apply_actions(repo, start, p["actions"])
        except Refused as exc:
            return fail(400, str(exc))
        author = world.add_user(login(request))
        identity = (
            str(p.get("author_name") or author.name),
            str(p.get("author_email") or author.email),
        )
        # the committer is always the token's user (gitaly's UserCommitFiles)
        sha = repo.git.write_commit(
            built, [start], str(p["commit_message"]), identity, (author.name, author.email)
        )
        repo.git.set_ref(f"refs/heads/{branch}", sha)
        for pull in list(repo.pulls.values()):
            if pull.branch == branch and pull.state == "open":
                mr_head(world, repo, pull)
        emit_gitlab(world, "push", repo=repo, ref=f"refs/heads/{branch}", before=current,
                    after=sha, user=author.login)  # fmt: skip
        data = commit_json(world, repo, sha, detail=flag(p.get("stats", True)))
        return JSONResponse(data, status_code=201)

    async def list_statuses(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        sha = repo.git.resolve(request.path_params["sha"])
        if sha is None:
            return not_found("Commit")
        q = request.query_params
        items = [
            s
            for s in sorted(repo.statuses, key=lambda s: s.id)
            if s.sha == sha and q.get("name") in (None, s.context)
        ]
        if not flag(q.get("all")):
            latest = {s.context: s for s in items}
            items = sorted(latest.values(), key=lambda s: s.id)
        return paginate(request, items, lambda s: status_json(world, repo, s))

    async def create_status(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        sha = repo.git.resolve(request.path_params["sha"])
        if sha is None:
            return not_found("Commit")
        p = await params(request)
        new = str(p.get("state", ""))
        if new not in STATUS_STATES:
            return fail(400, "state does not have a valid value", key="error")
        name = str(p.get("name") or p.get("context") or "default")
        user = login(request)
        with world.lock:
            # GitLab updates a running status of the same name only for the same user
            # (Ci::CreateCommitStatusService: `.by_name(name).for_user(current_user)`)
            current = next(
                (
                    s
                    for s in reversed(repo.statuses)
                    if s.sha == sha and s.context == name and s.creator == user
                ),
                None,
            )
            running = current is not None and gitlab_state(current.state) in ("pending", "running")
            if current is not None and running:
                was = gitlab_state(current.state)
                if was == new:  # GitLab's state machine has no pending → pending
                    event = {"pending": "enqueue", "running": "run"}[new]
                    return fail(400, f"Cannot transition status via :{event} from :{was}")
                # a running status is updated in place, not duplicated
                current.state, current.created_at = new, stamp()
                current.description = str(p.get("description") or "")
                current.target_url = p.get("target_url")
                status = current
            else:
                status = Status(world.next_id(), sha, name, new, str(p.get("description") or ""),
                                p.get("target_url"), user, stamp())  # fmt: skip
                repo.statuses.append(status)
        emit_gitlab(world, "pipeline", repo=repo, status=status, user=user)
        return JSONResponse(status_json(world, repo, status), status_code=201)

    # merge requests

    async def list_mrs(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        q = request.query_params
        wanted = q.get("state", "all")
        labels = set(labels_of(q.get("labels")))
        items = [
            pull
            for pull in sorted(repo.pulls.values(), key=lambda p: p.number, reverse=True)
            if wanted in ("all", mr_state(pull))
            and q.get("source_branch") in (None, pull.branch)
            and q.get("target_branch") in (None, pull.base)
            and labels <= set(pull.labels)
        ]
        if q.get("sort") == "asc":
            items.reverse()
        return paginate(request, items, lambda pull: mr_json(world, repo, pull))

    async def create_mr(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        p = await params(request)
        for key in ("source_branch", "target_branch", "title"):
            if not p.get(key):
                return fail(400, f"{key} is missing", key="error")
        source, target = str(p["source_branch"]), str(p["target_branch"])
        if source == target:
            return fail(400, ["You can't use same project/branch for source and target"])
        for kind, name in (("Source", source), ("Target", target)):
            if repo.git.resolve(f"refs/heads/{name}") is None:
                return fail(400, [f'{kind} branch "{name}" does not exist'])
        with world.lock:
            for other in repo.pulls.values():
                if (other.branch, other.base, other.state) == (source, target, "open"):
                    return fail(
                        409,
                        [
                            "Another open merge request already exists for this source "
                            f"branch: !{other.number}"
                        ],
                    )
            iid = max(repo.pulls, default=0) + 1
            when = stamp()
            pull = Pull(iid, repo.full_name, source, target, str(p["title"]),
                        str(p.get("description") or ""), login(request), labels_of(p.get("labels")),
                        "open", False, when, when, id=world.next_id())  # fmt: skip
            repo.pulls[iid] = pull
            mr_head(world, repo, pull)
        emit_gitlab(
            world, "merge_request", repo=repo, pull=pull, action="open", user=login(request)
        )
        return JSONResponse(mr_json(world, repo, pull), status_code=201)

    async def get_mr(request: Request) -> Response:
        repo, pull = pull_of(request)
        if repo is None or pull is None:
            return not_found("Project" if repo is None else "")
        return JSONResponse(mr_json(world, repo, pull))

    async def update_mr(request: Request) -> Response:
        repo, pull = pull_of(request)
        if repo is None or pull is None:
            return not_found("Project" if repo is None else "")
        p = await params(request)
        changes: dict[str, Any] = {}
        action = "update"
        with world.lock:
            before = {"title": pull.title, "description": pull.body, "labels": list(pull.labels)}
            if "title" in p:
                pull.title = str(p["title"])
            if "description" in p:
                pull.body = str(p["description"] or "")
            if "labels" in p:
                pull.labels = labels_of(p["labels"])
            if "add_labels" in p:
                pull.labels = labels_of(pull.labels + labels_of(p["add_labels"]))
            if "remove_labels" in p:
                gone = set(labels_of(p["remove_labels"]))
                pull.labels = [label for label in pull.labels if label not in gone]
            if "target_branch" in p:
                pull.base = str(p["target_branch"])
            event = p.get("state_event")
            if event == "close" and pull.state == "open":
                pull.state, pull.closed_at, action = "closed", stamp(), "close"
                system_note(world, repo, pull, login(request), "closed")
            elif event == "reopen" and pull.state == "closed" and not pull.merged:
                pull.state, pull.closed_at, action = "open", None, "reopen"
            after = {"title": pull.title, "description": pull.body, "labels": list(pull.labels)}
            for key, old in before.items():
                if after[key] != old:
                    changes[key] = {"previous": old, "current": after[key]}
            pull.updated_at = stamp()
        emit_gitlab(world, "merge_request", repo=repo, pull=pull, action=action,
                    user=login(request), changes=changes)  # fmt: skip
        return JSONResponse(mr_json(world, repo, pull))

    async def merge_mr(request: Request) -> Response:
        repo, pull = pull_of(request)
        if repo is None or pull is None:
            return not_found("Project" if repo is None else "")
        p = await params(request)
        with world.lock:
            head = mr_head(world, repo, pull)
            target = repo.git.resolve(f"refs/heads/{pull.base}")
            if pull.state != "open" or is_draft(pull) or head is None or target is None:
                return fail(405, "405 Method Not Allowed")
            if p.get("sha") and p["sha"] != head:
                return fail(409, f"SHA does not match HEAD of source branch: {head}")
            message = str(
                p.get("merge_commit_message")
                or f"Merge branch '{pull.branch}' into '{pull.base}'\n\n{pull.title}\n\n"
                f"See merge request {repo.full_name}!{pull.number}"
            )
            merged = repo.git.merge(target, head, message)
            if merged is None:
                return fail(406, "Branch cannot be merged")
            repo.git.set_ref(f"refs/heads/{pull.base}", merged, old=target)
            pull.state, pull.merged, pull.merge_commit_sha = "closed", True, merged
            pull.merged_by, pull.closed_at, pull.updated_at = login(request), stamp(), stamp()
            if flag(p.get("should_remove_source_branch")):
                repo.git.delete_ref(f"refs/heads/{pull.branch}")
            system_note(world, repo, pull, login(request), f"merged\n\n{merged[:8]}")
        emit_gitlab(
            world, "merge_request", repo=repo, pull=pull, action="merge", user=login(request)
        )
        emit_gitlab(world, "push", repo=repo, ref=f"refs/heads/{pull.base}", before=target,
                    after=merged, user=login(request))  # fmt: skip
        return JSONResponse(mr_json(world, repo, pull))

    # notes and award emoji

    def all_notes(repo: Repo, pull: Pull) -> list[tuple[Comment, bool]]:
        mine = [(c, False) for c in repo.comments.values() if c.number == pull.number]
        system = state(world).system_notes.get((repo.id, pull.number), [])
        return mine + [(c, True) for c in system]

    async def list_notes(request: Request) -> Response:
        repo, pull = pull_of(request)
        if repo is None or pull is None:
            return not_found("Project" if repo is None else "")
        mr_head(world, repo, pull)
        notes = sorted(all_notes(repo, pull), key=lambda n: (n[0].created_at, n[0].id))
        if request.query_params.get("sort", "desc") == "desc":
            notes.reverse()
        return paginate(request, notes, lambda n: note_json(world, repo, pull, *n))

    async def get_note(request: Request) -> Response:
        repo, pull = pull_of(request)
        if repo is None or pull is None:
            return not_found("Project" if repo is None else "")
        found = next(
            (n for n in all_notes(repo, pull) if n[0].id == request.path_params["note_id"]), None
        )
        return JSONResponse(note_json(world, repo, pull, *found)) if found else not_found("Note")

    async def create_note(request: Request) -> Response:
        repo, pull = pull_of(request)
        if repo is None or pull is None:
            return not_found("Project" if repo is None else "")
        p = await params(request)
        if not p.get("body"):
            return fail(400, "body is missing", key="error")
        with world.lock:
            note = Comment(world.next_id(), pull.number, login(request), str(p["body"]), stamp())
            repo.comments[note.id] = note
            pull.updated_at = stamp()  # GitLab touches an MR on every note
        emit_gitlab(world, "note", repo=repo, pull=pull, comment=note, user=login(request))
        return JSONResponse(note_json(world, repo, pull, note, False), status_code=201)

    async def edit_note(request: Request) -> Response:
        repo, pull = pull_of(request)
        if repo is None or pull is None:
            return not_found("Project" if repo is None else "")
        note = repo.comments.get(request.path_params["note_id"])
        if note is None or note.number != pull.number:
            return not_found("Note")
        p = await params(request)
        if not p.get("body"):
            return fail(400, "body is missing", key="error")
        with world.lock:
            note.edit(login(request), str(p["body"]), stamp())
        return JSONResponse(note_json(world, repo, pull, note, False))

    async def list_diffs(request: Request) -> Response:
        repo, pull = pull_of(request)
        if repo is None or pull is None:
            return not_found("Project" if repo is None else "")
        head = mr_head(world, repo, pull)
        target = repo.git.resolve(f"refs/heads/{pull.base}")
        if head is None or target is None:
            return paginate(request, [], lambda d: d)
        added, removed, modified = repo.git.changed_paths(merge_base(repo, target, head), head)
        changes = sorted(
            [(p, "new") for p in added] + [(p, "deleted") for p in removed]
            + [(p, "") for p in modified]
        )  # fmt: skip

        def render(change: tuple[str, str]) -> dict[str, Any]:
            path, kind = change
            return {
                "old_path": path,
                "new_path": path,
                "a_mode": "0" if kind == "new" else "100644",
                "b_mode": "0" if kind == "deleted" else "100644",
                "diff": "",
                "new_file": kind == "new",
                "renamed_file": False,
                "deleted_file": kind == "deleted",
                "generated_file": False,
            }

        return paginate(request, changes, render)

    def user_note(request: Request) -> tuple[Repo | None, Comment | None]:
        repo, pull = pull_of(request)
        if repo is None or pull is None:
            return repo, None
        note = repo.comments.get(request.path_params["note_id"])
        return repo, note if note is not None and note.number == pull.number else None

    async def list_note_emoji(request: Request) -> Response:
        _, note = user_note(request)
        if note is None:
            return not_found("Note")
        indexes = list(range(len(note.reactions)))
        return paginate(request, indexes, lambda i: emoji_json(world, note, i))

    async def award_note_emoji(request: Request) -> Response:
        _, note = user_note(request)
        if note is None:
            return not_found("Note")
        p = await params(request)
        name = str(p.get("name") or "")
        if not name:
            return fail(400, "name is missing", key="error")
        with world.lock:
            if (login(request), name) in note.reactions:
                return fail(404, "404 Award Emoji Name has already been taken Not Found")
            note.reactions.append((login(request), name))
        return JSONResponse(emoji_json(world, note, len(note.reactions) - 1), status_code=201)

    # groups and files: what finds the projects promobot serves

    async def group_projects(request: Request) -> Response:
        group = unquote(request.path_params["group"]).strip("/")
        subgroups = request.query_params.get("include_subgroups") == "true"
        found = [
            r
            for name, r in sorted(world.repos.items())
            if r.owner == group or (subgroups and r.owner.startswith(group + "/"))
        ]
        if not found and not any(r.owner.startswith(group) for r in world.repos.values()):
            return not_found("Group")
        return paginate(request, found, lambda r: project_json(world, r, login(request)))

    async def file_head(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        ref = request.query_params.get("ref")
        if not ref:
            return fail(400, "ref is missing, ref is empty", key="error")
        path = unquote(request.path_params["file_path"])
        try:
            blob = repo.git.text("rev-parse", "--verify", "--quiet", f"{ref}:{path}")
        except GitError:
            return Response(status_code=404)
        return Response(
            status_code=200, headers={"X-Gitlab-File-Path": path, "X-Gitlab-Blob-Id": blob}
        )

    async def file_raw(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        ref = request.query_params.get("ref") or repo.default_branch
        sha = repo.git.resolve(ref)
        data = repo.git.read_path(sha, unquote(request.path_params["file_path"])) if sha else None
        if data is None:
            return not_found("File")
        return Response(data, media_type="text/plain; charset=utf-8")

    # releases and comparisons

    async def list_releases(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        ordered = sorted(repo.releases, key=lambda r: (r.created_at, r.id), reverse=True)
        return paginate(request, ordered, lambda r: release_json(world, repo, r))

    async def compare(request: Request) -> Response:
        repo = repo_of(request)
        if repo is None:
            return not_found("Project")
        base = repo.git.resolve(request.query_params.get("from", ""))
        head = repo.git.resolve(request.query_params.get("to", ""))
        if base is None or head is None:
            return not_found("Ref")
        shas = repo.git.text("rev-list", "--reverse", f"{base}..{head}").splitlines()
        commits = [commit_json(world, repo, sha) for sha in shas]
        return JSONResponse(
            {
                "commit": commits[-1] if commits else None,
                "commits": commits,
                "diffs": [],
                "compare_timeout": False,
                "compare_same_ref": base == head,
                "web_url": f"{world.base_url}/{repo.full_name}/-/compare/{base}...{head}",
            }
        )

    # approvals and versions

    async def get_approvals(request: Request) -> Response:
        repo, pull = pull_of(request)
        if repo is None or pull is None:
            return not_found("Project" if repo is None else "")
        mr_head(world, repo, pull)
        return JSONResponse(approvals_json(world, repo, pull, login(request)))

    async def approve(request: Request) -> Response:
        repo, pull = pull_of(request)
        if repo is None or pull is None:
            return not_found("Project" if repo is None else "")
        p = await params(request)
        user = login(request)
        with world.lock:
            head = mr_head(world, repo, pull)
            if p.get("sha") and p["sha"] != head:
                return fail(409, f"SHA does not match HEAD of source branch: {head}")
            if pull.state != "open" or head is None or user == pull.user:
                return fail(401, "401 Unauthorized")
            if any(who == user for who, _, _ in pull.approvals):
                return fail(401, "401 Unauthorized")
            pull.approvals.append((user, head, stamp()))
            pull.updated_at = stamp()
            system_note(world, repo, pull, user, "approved this merge request")
        emit_gitlab(world, "merge_request", repo=repo, pull=pull, action="approval", user=user)
        return JSONResponse(approvals_json(world, repo, pull, user), status_code=201)

    async def unapprove(request: Request) -> Response:
        repo, pull = pull_of(request)
        if repo is None or pull is None:
            return not_found("Project" if repo is None else "")
        user = login(request)
        with world.lock:
            kept = [a for a in pull.approvals if a[0] != user]
            if len(kept) == len(pull.approvals):
                return not_found("")
            pull.approvals[:] = kept
            system_note(world, repo, pull, user, "unapproved this merge request")
        emit_gitlab(world, "merge_request", repo=repo, pull=pull, action="unapproval", user=user)
        return JSONResponse(approvals_json(world, repo, pull, user), status_code=201)

    async def list_versions(request: Request) -> Response:
        repo, pull = pull_of(request)
        if repo is None or pull is None:
            return not_found("Project" if repo is None else "")
        mr_head(world, repo, pull)
        versions = list(reversed(state(world).versions.get((repo.id, pull.number), [])))

        def render(v: Version) -> dict[str, Any]:
            return {
                "id": v.id,
                "head_commit_sha": v.head,
                "base_commit_sha": v.base,
                "start_commit_sha": v.start,
                "created_at": iso(v.created_at),
                "merge_request_id": pull.id,
                "state": "collected",
                "real_size": "1",
                "patch_id_sha": None,
            }

        return paginate(request, versions, render)

    project = "/projects/{project:path}"
    mr = project + "/merge_requests/{iid:int}"
    table: list[tuple[str, str, Callable[[Request], Any]]] = [
        ("GET", "/user", current_user),
        ("GET", "/users", list_users),
        ("GET", "/users/{user_id:int}", get_user),
        ("GET", "/groups/{group:path}/members/all/{user_id:int}", group_member),
        ("GET", "/groups/{group:path}/projects", group_projects),
        ("HEAD", project + "/repository/files/{file_path:path}", file_head),
        ("GET", project + "/repository/files/{file_path:path}/raw", file_raw),
        ("GET", project + "/repository/compare", compare),
        ("GET", project + "/releases", list_releases),
        ("GET", project + "/repository/branches/{branch:path}", get_branch),
        ("GET", project + "/repository/branches", list_branches),
        ("GET", project + "/repository/tags", list_tags),
        ("GET", project + "/repository/archive.tar.gz", archive),
        ("GET", project + "/repository/archive.tar", archive),
        ("GET", project + "/repository/archive", archive),
        ("GET", project + "/repository/commits/{sha:path}/statuses", list_statuses),
        ("GET", project + "/repository/commits/{sha:path}", get_commit),
        ("GET", project + "/repository/commits", list_commits),
        ("POST", project + "/repository/commits", create_commit),
        ("POST", project + "/statuses/{sha}", create_status),
        ("GET", project + "/merge_requests", list_mrs),
        ("POST", project + "/merge_requests", create_mr),
        ("GET", mr + "/notes/{note_id:int}/award_emoji", list_note_emoji),
        ("POST", mr + "/notes/{note_id:int}/award_emoji", award_note_emoji),
        ("GET", mr + "/notes/{note_id:int}", get_note),
        ("PUT", mr + "/notes/{note_id:int}", edit_note),
        ("GET", mr + "/diffs", list_diffs),
        ("GET", mr + "/notes", list_notes),
        ("POST", mr + "/notes", create_note),
        ("GET", mr + "/approvals", get_approvals),
        ("POST", mr + "/approve", approve),
        ("POST", mr + "/unapprove", unapprove),
        ("GET", mr + "/versions", list_versions),
        ("PUT", mr + "/merge", merge_mr),
        ("GET", mr, get_mr),
        ("PUT", mr, update_mr),
        ("GET", project + "/approvals", project_approval_settings),
        ("GET", project + "/members/all/{user_id:int}", project_member),
        ("GET", project, get_project),  # last: `{project:path}` alone would swallow the rest
    ]
    return [endpoint(world, "gitlab", method, path, handler) for method, path, handler in table]


class Refused(Exception):
    """A request GitLab would answer with 400 and this message."""


def apply_actions(repo: Repo, start: str, actions: Any) -> str:
    """The tree after a commit's `actions`; Refused with GitLab's message if one is invalid."""
    if not isinstance(actions, list) or not actions:
        raise Refused("actions is empty")
    entries = {
        e[3]: (e[0], e[2]) for e in repo.git.tree_entries(start, recursive=True) if e[1] == "blob"
    }
    changes: dict[str, tuple[str, str] | None] = {}

    def exists(path: str) -> bool:
        return changes[path] is not None if path in changes else path in entries

    for action in actions:
        if not isinstance(action, dict):
            raise Refused("actions is invalid")
        kind, path = action.get("action"), str(action.get("file_path") or "")
        if not path:
            raise Refused("file_path is missing")
        content = str(action.get("content") or "")
        data = b64decode(content) if action.get("encoding") == "base64" else content.encode()
        mode = (changes.get(path) or entries.get(path) or ("100644", ""))[0]
        if action.get("execute_filemode") is not None:
            mode = "100755" if flag(action["execute_filemode"]) else "100644"
        if kind == "create":
            if exists(path):
                raise Refused("A file with this name already exists")
            changes[path] = (mode, repo.git.write_blob(data))
        elif kind in ("update", "chmod"):
            if not exists(path):
                raise Refused("A file with this name doesn't exist")
            oid = (changes.get(path) or entries[path])[1] if kind == "chmod" else None
            changes[path] = (mode, oid or repo.git.write_blob(data))
        elif kind == "delete":
            if not exists(path):
                raise Refused("A file with this name doesn't exist")
            changes[path] = None
        elif kind == "move":
            previous = str(action.get("previous_path") or "")
            if not exists(previous):
                raise Refused("A file with this name doesn't exist")
            if exists(path):
                raise Refused("A file with this name already exists")
            old = changes.get(previous) or entries[previous]
            blob = repo.git.write_blob(data) if action.get("content") is not None else old[1]
            changes[previous], changes[path] = None, (old[0], blob)
        else:
            raise Refused("action does not have a valid value")
    return repo.git.build_tree(repo.git.commit_info(start)["tree"], changes)


# --- webhooks ------------------------------------------------------------------------------


def emit_gitlab(world: World, kind: str, **data: Any) -> None:
    """GitLab API actions send GitLab webhooks only; a GitHub-format world gets none of them."""
    if world.webhook_format == "gitlab":
        world.emit(kind, **data)


def hook_user(world: World, login: str) -> dict[str, Any]:
    user = world.add_user(login)
    basic = user_basic(world, login)
    return {k: basic[k] for k in ("id", "name", "username", "avatar_url")} | {"email": user.email}


def hook_project(world: World, repo: Repo) -> dict[str, Any]:
    web = f"{world.base_url}/{repo.full_name}"
    ssh = f"git@127.0.0.1:{repo.full_name}.git"
    return {
        "id": repo.id,
        "name": repo.name,
        "description": "",
        "web_url": web,
        "avatar_url": None,
        "git_ssh_url": ssh,
        "git_http_url": f"{web}.git",
        "namespace": repo.owner,
        "visibility_level": 0,
        "path_with_namespace": repo.full_name,
        "default_branch": repo.default_branch,
        "ci_config_path": None,
        "homepage": web,
        "url": ssh,
        "ssh_url": ssh,
        "http_url": f"{web}.git",
    }


def hook_repository(world: World, repo: Repo) -> dict[str, Any]:
    project = hook_project(world, repo)
    return {
        "name": repo.name,
        "url": project["url"],
        "description": "",
        "homepage": project["homepage"],
        "git_http_url": project["git_http_url"],
        "git_ssh_url": project["git_ssh_url"],
        "visibility_level": 0,
    }


def hook_commit(world: World, repo: Repo, sha: str) -> dict[str, Any]:
    info = repo.git.commit_info(sha)
    message = info["message"]
    return {
        "id": sha,
        "message": message,
        "title": message.splitlines()[0] if message else "",
        "timestamp": info["author_date"],
        "url": f"{world.base_url}/{repo.full_name}/-/commit/{sha}",
        "author": {"name": info["author_name"], "email": info["author_email"]},
    }


def hook_label(world: World, repo: Repo, title: str) -> dict[str, Any]:
    st = state(world)
    with world.lock:
        label_id = st.labels.setdefault((repo.id, title), world.next_id())
    return {
        "id": label_id,
        "title": title,
        "color": "#6699cc",
        "project_id": repo.id,
        "created_at": "2024-01-01 00:00:00 UTC",
        "updated_at": "2024-01-01 00:00:00 UTC",
        "template": False,
        "description": None,
        "type": "ProjectLabel",
        "group_id": None,
    }


def hook_mr(world: World, repo: Repo, pull: Pull) -> dict[str, Any]:
    """`object_attributes` of a Merge Request Hook, and `merge_request` of a Note Hook."""
    head = mr_head(world, repo, pull)
    project = hook_project(world, repo)
    draft = is_draft(pull)
    return {
        "id": pull.id,
        "iid": pull.number,
        "target_branch": pull.base,
        "source_branch": pull.branch,
        "source_project_id": repo.id,
        "author_id": world.add_user(pull.user).id,
        "assignee_ids": [],
        "assignee_id": None,
        "assignee": None,
        "reviewer_ids": [],
        "title": pull.title,
        "created_at": hook_time(pull.created_at),
        "updated_at": hook_time(pull.updated_at),
        "milestone_id": None,
        "state": mr_state(pull),
        "blocking_discussions_resolved": True,
        "work_in_progress": draft,
        "draft": draft,
        "first_contribution": False,
        "merge_status": "can_be_merged",
        "target_project_id": repo.id,
        "description": pull.body,
        "url": f"{world.base_url}/{repo.full_name}/-/merge_requests/{pull.number}",
        "source": project,
        "target": project,
        "last_edited_at": None,
        "last_edited_by_id": None,
        "state_id": {"opened": 1, "closed": 2, "merged": 3}[mr_state(pull)],
        "last_commit": hook_commit(world, repo, head) if head else None,
        "merge_commit_sha": pull.merge_commit_sha,
        "total_time_spent": 0,
        "time_change": 0,
        "human_total_time_spent": None,
        "human_time_change": None,
        "human_time_estimate": None,
        "labels": [hook_label(world, repo, label) for label in sorted(pull.labels)],
        "detailed_merge_status": "not_open" if pull.state != "open" else "mergeable",
        "position": 0,
    }


def push_hook(
    world: World, repo: Repo, ref: str, before: str | None, after: str, login: str
) -> dict[str, Any]:
    user = hook_user(world, login)
    if before and repo.git.is_ancestor(before, after):
        shas = repo.git.text("rev-list", "--reverse", f"{before}..{after}").splitlines()
    else:
        shas = [after]
    commits = []
    for sha in shas[-20:]:  # GitLab lists at most 20 commits
        parent = repo.git.commit_info(sha)["parents"].split()
        added, removed, modified = repo.git.changed_paths(parent[0] if parent else None, sha)
        commits.append(hook_commit(world, repo, sha) | {"added": added, "modified": modified,
                                                         "removed": removed})  # fmt: skip
    tag = ref.startswith("refs/tags/")
    return {
        "object_kind": "tag_push" if tag else "push",
        "event_name": "tag_push" if tag else "push",
        "before": before or ZERO,
        "after": after,
        "ref": ref,
        "ref_protected": ref == f"refs/heads/{repo.default_branch}",
        "checkout_sha": after,
        "message": None,
        "user_id": user["id"],
        "user_name": user["name"],
        "user_username": user["username"],
        "user_email": user["email"],
        "user_avatar": user["avatar_url"],
        "project_id": repo.id,
        "project": hook_project(world, repo),
        "repository": hook_repository(world, repo),
        "commits": commits,
        "total_commits_count": len(shas),
    }


def mr_hook(
    world: World,
    repo: Repo,
    pull: Pull,
    action: str,
    login: str,
    changes: dict[str, Any] | None = None,
    oldrev: str | None = None,
) -> dict[str, Any]:
    attributes = hook_mr(world, repo, pull) | {"action": action}
    if oldrev:
        attributes["oldrev"] = oldrev
    if changes and "labels" in changes:
        changes = changes | {
            "labels": {
                side: [hook_label(world, repo, t) for t in changes["labels"][side]]
                for side in ("previous", "current")
            }
        }
    return {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": hook_user(world, login),
        "project": hook_project(world, repo),
        "repository": hook_repository(world, repo),
        "object_attributes": attributes,
        "labels": attributes["labels"],
        "changes": (changes or {})
        | {"updated_at": {"previous": None, "current": hook_time(pull.updated_at)}},
        "assignees": [],
        "reviewers": [],
    }


def note_hook(world: World, repo: Repo, pull: Pull, note: Comment, login: str) -> dict[str, Any]:
    return {
        "object_kind": "note",
        "event_type": "note",
        "user": hook_user(world, login),
        "project_id": repo.id,
        "project": hook_project(world, repo),
        "repository": hook_repository(world, repo),
        "object_attributes": {
            "id": note.id,
            "note": note.body,
            "noteable_type": "MergeRequest",
            "author_id": world.add_user(note.user).id,
            "created_at": hook_time(note.created_at),
            "updated_at": hook_time(note.created_at),
            "project_id": repo.id,
            "attachment": None,
            "line_code": None,
            "commit_id": "",
            "noteable_id": pull.id,
            "system": False,
            "st_diff": None,
            "action": "create",
            "url": f"{world.base_url}/{repo.full_name}/-/merge_requests/{pull.number}#note_{note.id}",
            "discussion_id": f"{note.id:040x}",
            "type": None,
        },
        "merge_request": hook_mr(world, repo, pull),
    }


def pipeline_hook(world: World, repo: Repo, status: Status, login: str) -> dict[str, Any]:
    pipeline_id, iid = pipeline(world, repo, status.sha)
    statuses = [s for s in repo.statuses if s.sha == status.sha]
    latest = {s.context: s for s in sorted(statuses, key=lambda s: s.id)}
    states = {gitlab_state(s.state) for s in latest.values()}
    overall = next(
        (s for s in ("failed", "running", "pending", "canceled") if s in states), "success"
    )
    user = hook_user(world, login)
    builds = [
        {
            "id": s.id,
            "stage": "external",
            "name": s.context,
            "status": gitlab_state(s.state),
            "created_at": hook_time(s.created_at),
            "started_at": hook_time(s.created_at),
            "finished_at": None if s.state in ("pending", "running") else hook_time(s.created_at),
            "duration": None,
            "queued_duration": None,
            "failure_reason": None,
            "when": "on_success",
            "manual": False,
            "allow_failure": False,
            "user": user,
            "runner": None,
            "artifacts_file": {"filename": None, "size": None},
            "environment": None,
        }
        for s in latest.values()
    ]
    return {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": pipeline_id,
            "iid": iid,
            "name": None,
            "ref": branch_containing(repo, status.sha),
            "tag": False,
            "sha": status.sha,
            "before_sha": ZERO,
            "source": "external",
            "status": overall,
            "detailed_status": overall,
            "stages": ["external"],
            "created_at": hook_time(status.created_at),
            "finished_at": None,
            "duration": None,
            "queued_duration": None,
            "variables": [],
            "url": f"{world.base_url}/{repo.full_name}/-/pipelines/{pipeline_id}",
        },
        "merge_request": None,  # external statuses make branch pipelines, not MR pipelines
        "user": user,
        "project": hook_project(world, repo),
        "commit": hook_commit(world, repo, status.sha),
        "builds": builds,
    }


def emit(world: World, kind: str, **data: Any) -> tuple[str, dict[str, Any]] | None:
    """World.emitters["gitlab"]: what GitLab would send for something that happened."""
    repo = data.get("repo")
    if not isinstance(repo, Repo):
        return None
    login = str(data.get("user") or "promobot[bot]")
    if kind == "push":
        ref, before, after = str(data["ref"]), data.get("before"), str(data["after"])
        if ref.startswith("refs/tags/"):
            return "Tag Push Hook", push_hook(world, repo, ref, before, after, login)
        branch = ref.removeprefix("refs/heads/")
        for pull in list(repo.pulls.values()):  # a push to an MR's branch updates the MR
            if pull.branch == branch and pull.state == "open":
                mr_head(world, repo, pull)
                world.deliver("Merge Request Hook",
                              mr_hook(world, repo, pull, "update", login, oldrev=before))  # fmt: skip
        return "Push Hook", push_hook(world, repo, ref, before, after, login)
    if kind == "merge_request":
        payload = mr_hook(
            world, repo, data["pull"], str(data["action"]), login, data.get("changes")
        )
        return "Merge Request Hook", payload
    if kind == "note":
        return "Note Hook", note_hook(world, repo, data["pull"], data["comment"], login)
    if kind == "pipeline":
        return "Pipeline Hook", pipeline_hook(world, repo, data["status"], login)
    return None


World.emitters["gitlab"] = emit
