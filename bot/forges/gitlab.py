"""The GitLab forge: python-gitlab over HTTP, for gitlab.com and self-managed GitLab.

API calls are the budget, so:
- the repository at a commit is one archive download, cached by commit SHA (the cache also
  tells `commit_files` which paths exist, as the commits API needs `create` or `update`);
- a promotion branch is one call to the commits API with `actions` and `start_sha`, which
  makes the branch with exactly one commit on the base (with `force`, resets it to that: at
  once over a head promobot knows is its own, else only after reading the head it replaces);
- objects under the project are made with `lazy=True`, so a sub-resource costs one request.

Approvals are bound to the head they were given on without the Premium approval rules: the
Free-tier approvals API says who approved and, since GitLab 17.x, when (`approved_at`), and the
MR's versions say which head it had at that moment. An older GitLab (CE answers only
`user_has_approved`, `user_can_approve`, `approved` and `approved_by`) gives no time; then the
time is that of the approver's last "approved this merge request" system note. Without one, an
approval is bound to the current head only if the project resets approvals on push (they cannot
be older than the head), and otherwise to no SHA at all, so gates do not count it blindly.

Errors: python-gitlab's own retries and rate-limit sleeps are off; `retrying` owns the policy.
Its exceptions drop response headers, so 429s (and 403s with no rate limit left) are turned
into `RateLimited` by a response hook that can still read `Retry-After` / `RateLimit-Reset`;
everything else is translated where each call is made. No message carries the token.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import gitlab
import requests
from gitlab.v4.objects import ProjectMergeRequest

from bot.composition import Commit, Snapshot, newest_first
from bot.errors import (
    Conflict,
    ForgeError,
    MergeRefused,
    Moved,
    NotFound,
    RateLimited,
    Taken,
    Unavailable,
)
from bot.forges import observe
from bot.forges.archive import Archives
from bot.forges.base import (
    Account,
    Check,
    CheckState,
    Comment,
    Head,
    Mine,
    Permission,
    PRState,
    PullRequest,
    Release,
    Review,
    StatusState,
    quote_first_line,
)
from bot.forges.retry import DEFAULT, Policy, retry_after, retrying

log = logging.getLogger("promobot.forges.gitlab")

T = TypeVar("T")

# GitHub's reaction names (what promobot speaks) → GitLab's emoji names.
EMOJI = {"+1": "thumbsup", "-1": "thumbsdown", "laugh": "laughing", "hooray": "tada"}
PR_STATES: dict[str, PRState] = {
    "opened": "open",
    "locked": "open",
    "closed": "closed",
    "merged": "merged",
}
CHECK_STATES: dict[str, CheckState] = {
    "success": "success",
    # GitHub counts a skipped check as passing; so do we, so a skipped job cannot block forever.
    "skipped": "success",
    "failed": "failure",
    "canceled": "failure",
}
STATUS_STATES = {"success": "success", "pending": "pending", "failure": "failed", "error": "failed"}
MERGE_REFUSED = frozenset({405, 406, 409, 422})


class _Client(gitlab.Gitlab):
    """python-gitlab with its retries and rate-limit sleeps off on every request, paginated
    ones included: `retrying` applies promobot's one policy instead."""

    def http_request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["obey_rate_limit"] = False
        kwargs["retry_transient_errors"] = False
        return super().http_request(*args, **kwargs)


def _wait(headers: Mapping[str, str], now: float) -> float:
    """Seconds a rate limit asks to wait: its `Retry-After`, else until `RateLimit-Reset`."""
    asked = retry_after(headers.get("Retry-After"), now)
    if asked is not None:
        return asked
    reset = headers.get("RateLimit-Reset")
    if reset and reset.strip().isdigit():
        return max(float(reset) - now, 0.0)
    return 60.0  # GitLab's rate-limit windows are a minute long


def _raise_rate_limited(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    status = response.status_code
    if status == 429 or (status == 403 and response.headers.get("RateLimit-Remaining") == "0"):
        wait = _wait(response.headers, time.time())
        response.close()
        raise RateLimited(f"GitLab's rate limit was reached; it asks to wait {wait:.0f} s", wait)


def _detail(message: object) -> str:
    """GitLab's error message (a string, a list, or field → errors) as one short line."""
    if isinstance(message, bytes):
        message = message.decode(errors="replace")
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message)
    elif isinstance(message, dict):
        message = "; ".join(f"{k} {v}" for k, v in message.items())
    line = " ".join(str(message).split())
    return line if len(line) <= 300 else line[:297] + "..."


def _time(value: str) -> datetime:
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _time_or_none(value: object) -> datetime | None:
    """A time GitLab may leave out (or send in a form this does not read): None then."""
    try:
        return _time(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _is_sha(ref: str) -> bool:
    return len(ref) == 40 and all(c in "0123456789abcdef" for c in ref)


def _pr(data: Mapping[str, Any]) -> PullRequest:
    return PullRequest(
        number=int(data["iid"]),
        branch=str(data["source_branch"]),
        base=str(data["target_branch"]),
        title=str(data["title"]),
        body=str(data.get("description") or ""),
        labels=tuple(data.get("labels") or ()),
        head_sha=str(data.get("sha") or ""),
        state=PR_STATES.get(str(data["state"]), "closed"),
        author=str((data.get("author") or {}).get("username", "")),
        url=str(data.get("web_url") or ""),
        from_fork=data.get("source_project_id") != data.get("target_project_id"),
        author_id=_id((data.get("author") or {}).get("id")),
        updated_at=_time(str(data["updated_at"])) if data.get("updated_at") else None,
    )


def _id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _note(n: Mapping[str, Any]) -> Comment:
    created = _time(n["created_at"])
    updated = _time(n["updated_at"]) if n.get("updated_at") else created
    return Comment(
        id=int(n["id"]),
        user=str(n["author"]["username"]),
        body=str(n["body"]),
        created_at=created,
        user_id=_id(n["author"].get("id")),
        # GitLab's times have milliseconds and a new note's two are the same. They part for
        # an edit and for other changes too (a thread resolved): the notes API does not say
        # which, so any difference counts as an edit (its commands do not run).
        edited=updated != created,
    )


class GitLabForge:
    name = "gitlab"

    def __init__(
        self,
        project: str,
        *,
        token: str | None,  # None: anonymous, for public projects on gitlab.com (changelogs)
        url: str = "https://gitlab.com",
        policy: Policy = DEFAULT,
        timeout: float = 15,
    ) -> None:
        self.project = project
        self.url = url.rstrip("/")
        self.policy = policy
        self.timeout = timeout
        session = requests.Session()
        session.hooks["response"].append(_raise_rate_limited)
        session.hooks["response"].append(observe.gitlab_hook)
        self._gl = _Client(
            self.url,
            private_token=token,
            timeout=timeout,
            retry_transient_errors=False,
            user_agent="promobot",
            session=session,
        )
        self._project = self._gl.projects.get(project, lazy=True)
        self._default: str | None = None
        self._resets_approvals: bool | None = None
        self._user_ids: dict[str, int | None] = {}
        self._identity: Account | None = None
        self._archives = Archives()

    def __repr__(self) -> str:
        return f"GitLabForge({self.project!r}, url={self.url!r})"

    # --- the boundary ---------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], T], *, refused: Collection[int] = ()) -> T:
        """One API request (or one paginated listing), translated and retried."""

        def attempt() -> T:
            try:
                return call()
            except gitlab.GitlabError as exc:
                raise self._translate(what, exc, refused) from None
            except requests.Timeout:
                raise Unavailable(
                    f"GitLab did not answer {what} within {self.timeout:g} s"
                ) from None
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                raise Unavailable(f"cannot reach GitLab at {self.url} for {what}") from None
            except requests.RequestException as exc:
                raise ForgeError(f"{what} failed: {type(exc).__name__}") from None

        return retrying(attempt, self.policy)

    def _translate(
        self, what: str, exc: gitlab.GitlabError, refused: Collection[int]
    ) -> ForgeError:
        code = exc.response_code
        detail = _detail(exc.error_message)
        if code in refused:
            return MergeRefused(f"GitLab refused {what}: {detail}")
        if code is None:
            return ForgeError(f"GitLab gave an unreadable answer to {what}: {detail}")
        if code >= 500:
            return Unavailable(f"GitLab failed {what} ({code}); try again later")
        if code == 429:  # only if the hook did not see it first
            return RateLimited(f"GitLab's rate limit was reached during {what}", 60.0)
        if code == 401:
            return ForgeError(
                f"GitLab rejected the token during {what} (401): check that it is valid, "
                "not expired, and has the api scope"
            )
        if code == 403:
            return ForgeError(
                f"GitLab forbade {what} (403): the token's user lacks permission on {self.project}"
            )
        if code == 404:
            return NotFound(f"{what}: not found on GitLab, or not visible to the token ({detail})")
        if code in (409, 422):
            return Conflict(f"GitLab refused {what}: {detail}")
        return ForgeError(f"GitLab refused {what} ({code}): {detail}")

    def _mr(self, number: int) -> ProjectMergeRequest:
        return self._project.mergerequests.get(number, lazy=True)

    def identity(self) -> Account:
        if self._identity is None:
            data = self._call("reading the token's user", lambda: self._gl.http_get("/user"))
            if not isinstance(data, dict):
                raise ForgeError("GitLab gave an unreadable answer to reading the token's user")
            self._identity = Account(int(data["id"]), str(data["username"]))
        return self._identity

    # --- reading --------------------------------------------------------------------------

    def default_branch(self) -> str:
        if self._default is None:
            data = self._call(
                f"reading project {self.project}", lambda: self._gl.projects.get(self.project)
            ).attributes
            if not data.get("default_branch"):
                raise ForgeError(f"{self.project} has no default branch: is the repository empty?")
            self._default = str(data["default_branch"])
        return self._default

    def head(self, branch: str | None = None) -> str | None:
        if branch is None:
            # Without `ref_name` GitLab lists the default branch: its name costs no extra call.
            commits = self._call(
                f"reading the default branch of {self.project}",
                lambda: self._project.commits.list(per_page=1, get_all=False),
            )
            return str(commits[0].attributes["id"]) if commits else None
        found = self.branch_head(branch)
        return found.sha if found is not None else None

    def branch_head(self, branch: str) -> Head | None:
        try:
            data = self._call(
                f"reading branch {branch} of {self.project}",
                lambda: self._project.branches.get(branch).attributes,
            )
        except NotFound as exc:
            if "Project Not Found" in str(exc):
                raise
            return None
        commit = data["commit"]
        epoch = "1970-01-01T00:00:00+00:00"
        return Head(
            sha=str(commit["id"]),
            parents=tuple(str(p) for p in commit.get("parent_ids") or ()),
            message=str(commit.get("message") or ""),
            author=f"{commit.get('author_name', '')} <{commit.get('author_email', '')}>",
            authored_at=_time_or_none(commit.get("authored_date")) or _time(epoch),
            committer=f"{commit.get('committer_name', '')} <{commit.get('committer_email', '')}>",
            committed_at=_time_or_none(commit.get("committed_date")) or _time(epoch),
        )

    def snapshot(self, ref: str) -> Snapshot:
        commit = ref if _is_sha(ref) else self._resolve(ref)

        def download() -> bytes:
            return self._call(
                f"downloading {self.project} at {commit[:12]}",
                lambda: self._project.repository_archive(sha=commit, format="tar.gz"),
            )

        return self._archives.get(commit, download).snapshot

    def _resolve(self, ref: str) -> str:
        data = self._call(
            f"resolving {ref} in {self.project}", lambda: self._project.commits.get(ref).attributes
        )
        return str(data["id"])

    def tags(self) -> list[str]:
        tags = self._call(
            f"listing tags of {self.project}",
            lambda: self._project.tags.list(get_all=True, per_page=100),
        )
        return [str(tag.attributes["name"]) for tag in tags]

    def log(self, ref: str, paths: Sequence[str], limit: int = 50) -> list[Commit]:
        commits: dict[str, Commit] = {}
        for path in paths or [""]:  # one path at a time; none: the whole branch

            def fetch(path: str = path) -> list[Any]:
                # `path=` is python-gitlab's own keyword (the URL); the filter goes as a query
                query = {"ref_name": ref, **({"path": path} if path else {})}
                return list(
                    self._project.commits.list(
                        query_parameters=query, per_page=min(limit, 100), get_all=False
                    )
                )

            for item in self._call(f"listing the commits of {path} in {self.project}", fetch):
                a = item.attributes
                when = datetime.fromisoformat(str(a["committed_date"]).replace("Z", "+00:00"))
                commits[str(a["id"])] = Commit(
                    str(a["id"]), when.astimezone(UTC), str(a["author_name"]), str(a["title"])
                )
        return newest_first(commits.values(), limit)

    # --- changelogs (bot.changelog): releases, a file at a tag, commits between tags --------

    def releases(self, limit: int = 100) -> list[Release]:
        """Releases, newest first (GitLab sorts them by `released_at`, descending)."""
        found = self._call(
            f"listing the releases of {self.project}",
            lambda: self._project.releases.list(per_page=min(limit, 100), get_all=False),
        )
        releases = []
        for item in found[:limit]:
            a = item.attributes
            tag = str(a.get("tag_name") or "")
            links = a.get("_links")
            page = links.get("self") if isinstance(links, dict) else None
            url = page if isinstance(page, str) else self.tag_url(tag)
            releases.append(
                Release(tag, str(a.get("name") or ""), str(a.get("description") or ""), url)
            )
        return releases

    def read_file(self, ref: str, path: str) -> bytes | None:
        """A file's content at `ref`; None when the file (or the ref) is not there."""
        try:
            raw = self._call(
                f"reading {path} at {ref} in {self.project}",
                lambda: self._project.files.raw(file_path=path, ref=ref),
            )
        except NotFound:
            return None
        return raw if isinstance(raw, bytes) else None

    def subjects(self, base: str, head: str, limit: int = 100) -> list[str]:
        """The subjects of the commits in `head` and not in `base`, newest first."""
        data = self._call(
            f"comparing {base}...{head} in {self.project}",
            lambda: self._project.repository_compare(base, head),
        )
        commits = data.get("commits") if isinstance(data, dict) else None
        titles = [str(c.get("title") or "") for c in commits or [] if isinstance(c, dict)]
        return titles[::-1][:limit]  # GitLab lists them oldest first

    @property
    def web_url(self) -> str:
        return f"{self.url}/{self.project}"

    def compare_url(self, base: str, head: str) -> str | None:
        return f"{self.web_url}/-/compare/{quote(base, safe='')}...{quote(head, safe='')}"

    def tag_url(self, tag: str) -> str | None:
        return f"{self.web_url}/-/releases/{quote(tag, safe='')}"

    # --- writing --------------------------------------------------------------------------

    def commit_files(
        self,
        branch: str,
        base: str,
        changes: Mapping[str, bytes | None],
        message: str,
        *,
        over: str | None = None,
        mine: Mine | None = None,
    ) -> str:
        actions = self._actions(branch, base, changes)

        def commit(force: bool) -> str:
            # `force` resets the branch onto `base` (one commit, never a stack); without it,
            # GitLab refuses a branch that exists ("A branch called … already exists")
            data = {
                "branch": branch,
                "start_sha": base,
                "force": force,
                "commit_message": message,
                "actions": actions,
            }
            made = self._call(
                f"committing {len(actions)} file(s) to {branch}",
                lambda: self._project.commits.create(data).attributes,
            )
            return str(made["id"])

        if over is not None:  # no compare-and-swap in the commits API: `over` is trusted
            return commit(force=True)
        try:
            return commit(force=False)
        except ForgeError as exc:
            said = str(exc)
            if not ("A branch called" in said and "already exists" in said):
                raise
        head = self.branch_head(branch)
        if head is not None and not (mine is not None and mine(head)):
            raise Taken(branch, head.sha, head.maker)
        return commit(force=True)

    def commit_on_default(
        self, base: str, changes: Mapping[str, bytes | None], message: str
    ) -> str:
        branch = self.default_branch()
        actions = self._actions(branch, base, changes)
        # GitLab's commits API has no compare-and-swap on a branch (start_sha with force would
        # reset it, dropping what came after `base`): the head is checked just before, and the
        # commit's parent after — a push in between is reported, though it cannot be undone.
        if self.head() != base:
            raise Moved(f"{branch} moved since {base[:12]}; not committed")
        data = {"branch": branch, "commit_message": message, "actions": actions}
        commit = self._call(
            f"committing {len(actions)} file(s) to {branch}",
            lambda: self._project.commits.create(data).attributes,
        )
        parents = commit.get("parent_ids") or []
        if parents and parents[0] != base:
            log.warning(
                "default branch moved during a commit",
                extra={
                    "branch": branch,
                    "base": base,
                    "parent": parents[0],
                    "commit": commit["id"],
                },
            )
        return str(commit["id"])

    def _actions(
        self, branch: str, base: str, changes: Mapping[str, bytes | None]
    ) -> list[dict[str, str]]:
        existing = self.snapshot(base)
        actions: list[dict[str, str]] = []
        for path, content in sorted(changes.items()):
            exists = path in existing.objects and path not in existing.trees
            if content is None:
                if exists:
                    actions.append({"action": "delete", "file_path": path})
                continue
            actions.append(
                {
                    "action": "update" if exists else "create",
                    "file_path": path,
                    "encoding": "base64",  # any bytes, not only UTF-8 text
                    "content": base64.b64encode(content).decode(),
                }
            )
        if not actions:
            raise ForgeError(
                f"nothing to commit on {branch}: the changes are already in {base[:12]}"
            )
        return actions

    # --- merge requests -------------------------------------------------------------------

    def find_pr(self, branch: str, state: Literal["open", "closed"] = "open") -> PullRequest | None:
        target = self.default_branch()
        # GitLab lists newest first; "closed" means closed or merged, two GitLab states, so
        # that asks for all and keeps the newest of those (at most one MR per branch is open).
        wanted = {"open"} if state == "open" else {"closed", "merged"}
        filters: dict[str, Any] = {"source_branch": branch, "target_branch": target}
        if state == "open":
            filters["state"] = "opened"
        found = self._call(
            f"looking for the {state} merge request from {branch}",
            lambda: self._project.mergerequests.list(get_all=False, **filters),
        )
        prs = [_pr(mr.attributes) for mr in found]
        return next((pr for pr in prs if pr.state in wanted and not pr.from_fork), None)

    def list_prs(self, label: str | None = None) -> list[PullRequest]:
        target = self.default_branch()
        filters: dict[str, Any] = {"state": "opened", "target_branch": target}
        if label:
            filters["labels"] = [label]
        found = self._call(
            f"listing open merge requests into {target}",
            lambda: self._project.mergerequests.list(get_all=True, per_page=100, **filters),
        )
        return [pr for pr in (_pr(mr.attributes) for mr in found) if not pr.from_fork]

    def open_pr(self, branch: str, title: str, body: str, labels: tuple[str, ...]) -> PullRequest:
        data = {
            "source_branch": branch,
            "target_branch": self.default_branch(),
            "title": title,
            "description": body,
            "labels": ",".join(labels),
        }
        try:
            created = self._call(
                f"opening a merge request from {branch}",
                lambda: self._project.mergerequests.create(data).attributes,
            )
        except Conflict:
            # "Another open merge request already exists for this source branch": make it ours.
            existing = self.find_pr(branch)
            if existing is None:
                raise
            if (existing.title, existing.body, set(existing.labels)) == (title, body, set(labels)):
                return existing
            self.update_pr(existing.number, title=title, body=body, labels=labels)
            return replace(existing, title=title, body=body, labels=tuple(sorted(labels)))
        return _pr(created)

    def update_pr(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        labels: tuple[str, ...] | None = None,
    ) -> None:
        data: dict[str, str] = {}
        if title is not None:
            data["title"] = title
        if body is not None:
            data["description"] = body
        if labels is not None:
            data["labels"] = ",".join(labels)  # replaces them all; "" removes them all
        if data:
            self._call(
                f"updating merge request !{number}",
                lambda: self._project.mergerequests.update(number, data),
            )

    def close_pr(self, number: int) -> None:
        self._call(
            f"closing merge request !{number}",
            lambda: self._project.mergerequests.update(number, {"state_event": "close"}),
        )

    def get_pr(self, number: int) -> PullRequest:
        return _pr(self._mr_data(number))

    def pr_files(self, number: int) -> list[str]:
        what = f"listing the files of !{number}"
        path = f"/projects/{self._project.encoded_id}/merge_requests/{number}"
        try:
            diffs = self._call(
                what, lambda: list(self._gl.http_list(f"{path}/diffs", get_all=True, per_page=100))
            )
        except NotFound:  # GitLab before 15.7 has only the older /changes
            answer = self._call(what, lambda: self._gl.http_get(f"{path}/changes"))
            diffs = answer.get("changes", []) if isinstance(answer, dict) else []
        paths = {str(d[k]) for d in diffs for k in ("old_path", "new_path") if d.get(k)}
        return sorted(paths)

    def _mr_data(self, number: int) -> dict[str, Any]:
        return self._call(
            f"reading merge request !{number}",
            lambda: self._project.mergerequests.get(number).attributes,
        )

    def merge(self, number: int, sha: str) -> str:
        try:
            merged = self._call(
                f"merging !{number} at {sha[:12]}",
                lambda: self._mr(number).merge(sha=sha),
                refused=MERGE_REFUSED,
            )
        except MergeRefused:
            # A merge whose answer was lost (a 502 after the fact) is refused on the retry:
            # if the MR is merged at exactly this head, that was us.
            data = self._mr_data(number)
            if (
                data.get("state") == "merged"
                and data.get("sha") == sha
                and data.get("merge_commit_sha")
            ):
                return str(data["merge_commit_sha"])
            raise
        return str(
            merged.get("merge_commit_sha") or merged.get("squash_commit_sha") or merged["sha"]
        )

    # --- notes, award emoji ---------------------------------------------------------------

    def comments(self, number: int) -> list[Comment]:
        notes = self._call(
            f"reading the comments on !{number}",
            lambda: self._mr(number).notes.list(
                get_all=True, per_page=100, sort="asc", order_by="created_at"
            ),
        )
        return [
            _note(n)
            for n in (note.attributes for note in notes)
            if not n.get("system")  # "approved this merge request", "added 1 commit", …
        ]

    def get_comment(self, number: int, comment_id: int) -> Comment:
        note = self._call(
            f"reading comment {comment_id} on !{number}",
            lambda: self._mr(number).notes.get(comment_id).attributes,
        )
        if note.get("system"):
            raise NotFound(f"comment {comment_id} on !{number} is a system note")
        return _note(note)

    def unedited(self, number: int, comments: Sequence[Comment]) -> set[int]:
        return {c.id for c in comments if c.edited is False}  # the timestamps tell: no call

    def comment(self, number: int, body: str, *, reply_to: int | None = None) -> int:
        if reply_to is not None:
            # A quote works on every note; a discussion reply would need the discussion's id,
            # which the notes API does not give (one more listing to find it).
            original = self._call(
                f"reading comment {reply_to} on !{number}",
                lambda: self._mr(number).notes.get(reply_to).attributes,
            )
            body = quote_first_line(str(original["body"]), body)
        note = self._call(
            f"commenting on !{number}", lambda: self._mr(number).notes.create({"body": body})
        )
        return int(note.attributes["id"])

    def react(self, number: int, comment_id: int, reaction: str) -> None:
        name = EMOJI.get(reaction, reaction)
        try:
            self._call(
                f"reacting to comment {comment_id} on !{number}",
                lambda: (
                    self._mr(number)
                    .notes.get(comment_id, lazy=True)
                    .awardemojis.create({"name": name})
                ),
            )
        except NotFound as exc:
            if "already been taken" not in str(exc):  # GitLab's 404 for an emoji already there
                raise

    # --- approvals, statuses --------------------------------------------------------------

    def reviews(self, number: int) -> list[Review]:
        approvals = self._call(
            f"reading the approvals of !{number}", lambda: self._mr(number).approvals.get()
        ).attributes
        given = [
            (str(user["username"]), entry.get("approved_at"))
            for entry in approvals.get("approved_by") or []
            if isinstance(entry, dict)
            and isinstance(user := entry.get("user"), dict)
            and user.get("username")
        ]
        if not given:
            return []
        when = {user: _time(at) for user, at in given if at}
        if len(when) < len(given):  # GitLab CE before `approved_at`: see the module docstring
            noted = self._approval_notes(number)
            when |= {user: noted[user] for user, at in given if not at and user in noted}
        heads = self._heads(number) if when else []
        reviews = []
        for user, _ in given:
            if user in when:
                sha = next((head for at, head in reversed(heads) if at <= when[user]), None)
                reviews.append(Review(user, "approved", sha, when[user]))
                continue
            # When it was given is unknown: it counts only if it cannot be older than the head.
            sha = self.get_pr(number).head_sha if self._approvals_reset_on_push() else None
            updated = approvals.get("updated_at")
            at = _time(updated) if isinstance(updated, str) else datetime.fromtimestamp(0, UTC)
            reviews.append(Review(user, "approved", sha, at))
        return reviews

    def _heads(self, number: int) -> list[tuple[datetime, str]]:
        """The MR's heads, oldest first, each with the time it became the head (its versions)."""
        versions = self._call(
            f"reading the versions of !{number}",
            lambda: self._mr(number).diffs.list(get_all=True, per_page=100),
        )
        return sorted(
            (_time(v.attributes["created_at"]), str(v.attributes["head_commit_sha"]))
            for v in versions
        )

    def _approval_notes(self, number: int) -> dict[str, datetime]:
        """Each person's last "approved this merge request" system note: when they approved.

        Only GitLab writes system notes, so a comment saying the same counts for nothing. Notes
        that cannot be read leave the approvals without a time (stale), not the gates broken.
        """
        try:
            notes = self._call(
                f"reading the notes on !{number}",
                lambda: self._mr(number).notes.list(
                    get_all=True, per_page=100, sort="asc", order_by="created_at"
                ),
            )
        except (Unavailable, RateLimited):
            raise
        except ForgeError:
            return {}
        found: dict[str, datetime] = {}
        for note in (n.attributes for n in notes):
            author = note.get("author")
            user = author.get("username") if isinstance(author, dict) else None
            body, at = note.get("body"), note.get("created_at")
            if (
                note.get("system") is True
                and isinstance(body, str)
                and body.strip().startswith("approved this merge request")
                and isinstance(at, str)
                and user
            ):
                found[str(user)] = max(found.get(str(user), _time(at)), _time(at))
        return found

    def _approvals_reset_on_push(self) -> bool:
        if self._resets_approvals is None:
            try:
                settings = self._call(
                    f"reading the approval settings of {self.project}",
                    lambda: self._project.approvals.get(),
                ).attributes
                self._resets_approvals = bool(settings.get("reset_approvals_on_push"))
            except (Unavailable, RateLimited):
                raise
            except ForgeError:  # 404 on the Free tier, 403 on an unlicensed Enterprise Edition
                self._resets_approvals = False
        return self._resets_approvals

    def checks(self, sha: str, by: frozenset[str] | None = None) -> list[Check]:
        # Without `all`, GitLab lists the latest status per name whoever posted it, so another
        # user's newer status of that name would hide the named account's.
        every = {"all": True} if by is not None else {}
        statuses = self._call(
            f"reading the statuses of {sha[:12]}",
            lambda: self._project.commits.get(sha, lazy=True).statuses.list(
                get_all=True, per_page=100, **every
            ),
        )
        latest: dict[str, dict[str, Any]] = {}
        for status in sorted((s.attributes for s in statuses), key=lambda s: int(s["id"])):
            if by is None or f"user:{(status.get('author') or {}).get('id')}" in by:
                latest[str(status["name"])] = status
        return [
            Check(
                name,
                CHECK_STATES.get(str(s["status"]), "pending"),
                s.get("target_url"),
                _time_or_none(s.get("finished_at") or s.get("started_at") or s.get("created_at")),
            )
            for name, s in latest.items()
        ]

    def set_status(
        self, sha: str, context: str, state: StatusState, description: str, url: str | None = None
    ) -> None:
        data = {"state": STATUS_STATES[state], "name": context, "description": description[:255]}
        if url:
            data["target_url"] = url
        try:
            self._call(
                f"setting status {context} on {sha[:12]}",
                lambda: self._project.commits.get(sha, lazy=True).statuses.create(data),
            )
        except ForgeError as exc:
            # GitLab refuses pending → pending ("Cannot transition status via :enqueue from
            # :pending"): the status already says so (its description stays as it was).
            if "Cannot transition status" not in str(exc):
                raise

    # --- people ---------------------------------------------------------------------------

    def _user_id(self, user: str) -> int | None:
        username = user.removeprefix("@")
        if username not in self._user_ids:
            found = self._call(
                f"looking up user {username}",
                lambda: self._gl.users.list(username=username, get_all=False),
            )
            self._user_ids[username] = int(found[0].attributes["id"]) if found else None
        return self._user_ids[username]

    def identities(self, account: str) -> frozenset[str]:
        user_id = self._user_id(account)  # project and group bots are users too
        return frozenset() if user_id is None else frozenset({f"user:{user_id}"})

    def permission(self, user: str) -> Permission:
        user_id = self._user_id(user)
        if user_id is None:
            return "none"
        try:
            member = self._call(
                f"reading {user}'s access to {self.project}",
                lambda: self._project.members_all.get(user_id).attributes,
            )
        except NotFound:
            return "none"
        level = int(member.get("access_level") or 0)
        if level >= 40:  # Maintainer, Owner
            return "admin"
        if level >= 30:  # Developer
            return "write"
        if level >= 10:  # Guest, Planner, Reporter
            return "read"
        return "none"  # Minimal access

    def is_member(self, user: str, team: str) -> bool:
        user_id = self._user_id(user)
        if user_id is None:
            return False
        group = team.removeprefix("@")
        try:
            self._call(
                f"checking {user}'s membership of {group}",
                lambda: self._gl.groups.get(group, lazy=True).members_all.get(user_id),
            )
        except NotFound:
            return False
        return True
