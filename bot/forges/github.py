"""GitHub through PyGithub: a token or a GitHub App installation, on github.com or GHES.

The rate limit is the budget (5,000 calls an hour for an installation), so every method makes
as few calls as the REST API allows: a repository's state is one commit lookup plus one
tarball, a multi-file change is one tree, one commit and one ref update, and the head of a
branch is a conditional request that costs nothing while it has not moved. PyGithub runs lazy
(objects are built by URL and never completed behind our back) and without retries of its
own: `retrying` applies one policy, and every PyGithub, requests or httpx error is translated
into `bot.errors` here, with messages that name what promobot was doing and never a secret.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
import requests
from github import Auth, Github
from github.Consts import DEFAULT_BASE_URL
from github.GitCommit import GitCommit
from github.GithubException import BadAttributeException, GithubException
from github.GithubIntegration import GithubIntegration
from github.GithubObject import NotSet
from github.GitRef import GitRef
from github.GitTree import GitTree
from github.InputGitTreeElement import InputGitTreeElement
from github.Issue import Issue
from github.IssueComment import IssueComment
from github.PullRequest import PullRequest as GitHubPull
from github.Repository import Repository

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
from bot.forges import httpcache, observe
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
    ReviewState,
    StatusState,
    quote_first_line,
)
from bot.forges.retry import DEFAULT, Policy, retry_after, retrying
from bot.pacing import Pacer

T = TypeVar("T")

USER_AGENT = "promobot"
SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
DEFAULT_BRANCH_TTL = 600.0  # seconds before the default branch's name is revalidated (304: free)
STATUS_DESCRIPTION_LIMIT = 140  # GitHub refuses longer commit status descriptions
SECONDARY_LIMIT_WAIT = 60.0  # GitHub asks for at least a minute when it says no more
GRAPHQL_NODES = 100  # ids GitHub takes in one `nodes(ids:)`
# Whether comments were edited, for those whose REST times (whole seconds) cannot tell: the
# text too, so that what GitHub vouches for is the text promobot read.
EDITS = """
query($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename
    ... on IssueComment {
      body
      lastEditedAt
      includesCreatedEdit
      userContentEdits(first: 1) { totalCount }
    }
  }
}
"""

REVIEW_STATES: dict[str, ReviewState] = {
    "APPROVED": "approved",
    "CHANGES_REQUESTED": "changes_requested",
    "COMMENTED": "commented",
    "DISMISSED": "dismissed",
}
ROLES: dict[str, Permission] = {
    "admin": "admin",
    "maintain": "admin",
    "write": "write",
    "triage": "read",  # triage may label and close, not push: no more than read for promobot
    "read": "read",
    "none": "none",
}
STATUS_STATES: dict[str, CheckState] = {
    "success": "success",
    "pending": "pending",
    "failure": "failure",
    "error": "failure",
}
CONCLUSIONS: dict[str, CheckState] = {  # what GitHub's own required checks accept as passing
    "success": "success",
    "neutral": "success",
    "skipped": "success",
    "failure": "failure",
    "cancelled": "failure",
    "timed_out": "failure",
    "action_required": "failure",
    "startup_failure": "failure",
    "stale": "pending",
}


@dataclass(frozen=True)
class _Head:
    sha: str
    tree: str
    etag: str | None
    commit: Head  # its message and people: whether promobot made it


class GitHubForge:
    name = "github"

    def __init__(
        self,
        repo: str,
        *,
        token: str | None = None,
        app_id: int | None = None,
        private_key: str | None = None,
        installation_id: int | None = None,
        base_url: str = DEFAULT_BASE_URL,
        policy: Policy = DEFAULT,
        timeout: float = 15,
        pacer: Pacer | None = None,
        public: bool = False,
    ) -> None:
        """`public`: no credentials at all, for reading public repositories on github.com
        (changelogs): promobot's token is never sent to a host it was not configured for."""
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name:
            raise ForgeError(f"{repo!r} is not a GitHub repository; write it as owner/name")
        self.repo = repo
        self.owner = owner
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.timeout = timeout
        self.pacer = pacer  # spaces writes (the service gives one; tests and tools go unpaced)
        self._auth = None if public else _authentication(token, app_id, private_key)
        self._installation_id = installation_id
        self._client: Github | None = None
        self._repository: Repository | None = None
        self._default: tuple[str, float] | None = None
        self._heads: dict[str, _Head] = {}
        self._trees: dict[str, str] = {}  # commit -> its tree, learnt for free along the way
        self._archives = Archives()
        self._identity: Account | None = None
        self._identities: dict[str, frozenset[str]] = {}  # account → ids, asked once

    # --- the client ----------------------------------------------------------------------------

    @property
    def _gh(self) -> Github:
        return self._connect()

    def _connect(self) -> Github:
        """The client, made on first use (an app without installation id looks it up)."""
        if self._client is None:
            observe.watch_github()
            httpcache.install()  # every GET conditional: a 304 costs no rate limit
            auth: Auth.Auth | None = self._auth
            if isinstance(auth, Auth.AppAuth):
                installation = self._installation_id or self._find_installation(auth)
                # PyGithub fetches an installation token on first use and a new one shortly
                # before it expires (AppInstallationAuth.token).
                auth = auth.get_installation_auth(installation)
            self._client = Github(
                auth=auth,
                base_url=self.base_url,
                timeout=_whole_seconds(self.timeout),
                user_agent=USER_AGENT,
                per_page=100,
                retry=None,  # ours: bot.forges.retry
                # PyGithub's own pacing would sleep a second before every write; we rely on
                # Retry-After instead, which GitHub sends with its secondary rate limits.
                seconds_between_requests=None,
                seconds_between_writes=None,
                lazy=True,
            )
        return self._client

    @property
    def _repo(self) -> Repository:
        if self._repository is None:
            self._repository = self._gh.get_repo(self.repo)  # lazy: no call
        return self._repository

    def _integration(self, app: Auth.AppAuth) -> GithubIntegration:
        """The App itself, authenticated with its JWT (not an installation token)."""
        return GithubIntegration(
            auth=app,
            base_url=self.base_url,
            timeout=_whole_seconds(self.timeout),
            user_agent=USER_AGENT,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

    def _find_installation(self, app: Auth.AppAuth) -> int:
        integration = self._integration(app)
        name = self.repo.partition("/")[2]
        return self._retry(
            f"find the GitHub App's installation on {self.repo}",
            lambda: int(integration.get_repo_installation(self.owner, name).id),
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def identity(self) -> Account:
        """The token's user, or the App's bot user (`slug[bot]`): installation tokens cannot
        read /user, so an App asks /app for its slug (with its JWT), then /users for the id."""
        if self._identity is None:
            requester = self._gh.requester

            def fetch() -> Account:
                if isinstance(self._auth, Auth.AppAuth):
                    slug = self._integration(self._auth).get_app().slug
                    _, user = requester.requestJsonAndCheck(
                        "GET", f"{self.base_url}/users/{quote(f'{slug}[bot]', safe='')}"
                    )
                else:
                    _, user = requester.requestJsonAndCheck("GET", f"{self.base_url}/user")
                return Account(int(user["id"]), str(user["login"]))

            self._identity = self._call("find out which GitHub account promobot is", fetch)
        return self._identity

    # --- reading -------------------------------------------------------------------------------

    def default_branch(self) -> str:
        if self._default and time.monotonic() - self._default[1] < DEFAULT_BRANCH_TTL:
            return self._default[0]

        def fetch() -> str:
            self._repo.update()  # conditional once the repo is known: a 304 costs nothing
            return self._repo.default_branch

        name = self._call(f"read the settings of {self.repo}", fetch)
        self._default = (name, time.monotonic())
        return name

    def head(self, branch: str | None = None) -> str | None:
        found = self._head(branch or "HEAD")
        return found.sha if found else None

    def _head(self, ref: str) -> _Head | None:
        """The commit `ref` names, and its tree; asked with If-None-Match after the first time."""
        name = "the default branch" if ref == "HEAD" else ref

        def fetch() -> _Head | None:
            cached = self._heads.get(ref)
            headers = {"If-None-Match": cached.etag} if cached and cached.etag else {}
            requester = self._gh.requester
            url = f"{self._repo.url}/commits/{quote(ref, safe='')}"
            status, response_headers, output = requester.requestJson("GET", url, headers=headers)
            if status == 304 and cached:
                return cached
            data: Any = json.loads(output) if output else {}
            if status in (409, 422):  # "No commit found for SHA", "Git Repository is empty"
                self._heads.pop(ref, None)
                return None
            if status >= 400:
                raise requester.createException(status, response_headers, data)
            found = _Head(
                sha=str(data["sha"]),
                tree=str(data["commit"]["tree"]["sha"]),
                etag=response_headers.get("etag"),
                commit=_commit_head(data),
            )
            self._heads[ref] = found
            self._trees[found.sha] = found.tree
            return found

        return self._call(f"read the head of {name} in {self.repo}", fetch)

    def branch_head(self, branch: str) -> Head | None:
        found = self._head(branch)
        return found.commit if found else None

    def _resolve(self, ref: str) -> str:
        if SHA.fullmatch(ref):
            return ref
        sha = self.head(ref)
        if sha is None:
            raise NotFound(f"{ref} is not a branch, tag or commit of {self.repo}")
        return sha

    def snapshot(self, ref: str) -> Snapshot:
        sha = self._resolve(ref)
        what = f"download {self.repo} at {sha[:12]}"
        return self._archives.get(
            sha, lambda: self._call(what, lambda: self._tarball(sha))
        ).snapshot

    def _tarball(self, sha: str) -> bytes:
        """One API call gets a short-lived codeload link; downloading it is not an API call."""
        link = self._repo.get_archive_link("tarball", sha)
        what = f"the archive of {self.repo} at {sha[:12]}"
        try:  # the link carries its own token: send no credentials, and never show the link
            response = httpx.get(link, timeout=self.timeout, follow_redirects=True)
        except httpx.TimeoutException:
            raise Unavailable(f"{what} did not arrive within {self.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise Unavailable(f"{what} could not be downloaded ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise Unavailable(f"{what} could not be downloaded (HTTP {response.status_code})")
        if response.status_code != 200:
            raise ForgeError(f"{what} could not be downloaded (HTTP {response.status_code})")
        return response.content

    def tags(self) -> list[str]:
        found = self._call(f"list the tags of {self.repo}", lambda: list(self._repo.get_tags()))
        return [tag.name for tag in found]

    def log(self, ref: str, paths: Sequence[str], limit: int = 50) -> list[Commit]:
        commits: dict[str, Commit] = {}
        for path in paths or [""]:  # one path at a time; none: the whole branch

            def fetch(path: str = path) -> list[Any]:
                pages = self._repo.get_commits(sha=ref, path=path or NotSet)
                return list(itertools.islice(pages, limit))

            for item in self._call(f"list the commits of {path} in {self.repo}", fetch):
                info = item.commit
                commits[item.sha] = Commit(
                    item.sha,
                    info.committer.date.astimezone(UTC),
                    info.author.name,
                    info.message.splitlines()[0] if info.message else "",
                )
        return newest_first(commits.values(), limit)

    # --- changelogs (bot.changelog): releases, a file at a tag, commits between tags --------

    def releases(self, limit: int = 100) -> list[Release]:
        """Published releases, newest first (drafts, which only writers see, are left out)."""

        def fetch() -> list[Any]:
            return list(itertools.islice(self._repo.get_releases(), limit))

        found = self._call(f"list the releases of {self.repo}", fetch)
        return [
            Release(r.tag_name or "", r.name or "", r.body or "", r.html_url or None)
            for r in found
            if not r.draft
        ]

    def read_file(self, ref: str, path: str) -> bytes | None:
        """A file's content at `ref`; None when the file (or the ref) is not there."""

        def fetch() -> bytes | None:
            found = self._repo.get_contents(path, ref=ref)
            return None if isinstance(found, list) else found.decoded_content

        try:
            return self._call(f"read {path} at {ref} in {self.repo}", fetch)
        except NotFound:
            return None

    def subjects(self, base: str, head: str, limit: int = 100) -> list[str]:
        """The subjects of the commits in `head` and not in `base` (GitHub's compare lists
        them oldest first, one page of `limit`), newest first."""

        def fetch() -> list[Any]:
            pages = self._repo.compare(base, head).get_commits(comparison_commits_per_page=limit)
            return list(itertools.islice(pages, limit))

        found = self._call(f"compare {base}...{head} in {self.repo}", fetch)
        return [(c.commit.message or "").partition("\n")[0] for c in reversed(found)]

    @property
    def web_url(self) -> str:
        """The repository's page (GitHub Enterprise Server: the API host without /api/v3)."""
        root = self.base_url.removesuffix("/api/v3")
        if root == DEFAULT_BASE_URL:
            root = "https://github.com"
        return f"{root}/{self.repo}"

    def compare_url(self, base: str, head: str) -> str | None:
        return f"{self.web_url}/compare/{quote(base, safe='')}...{quote(head, safe='')}"

    def tag_url(self, tag: str) -> str | None:
        return f"{self.web_url}/releases/tag/{quote(tag, safe='')}"

    # --- writing a branch ----------------------------------------------------------------------

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
        sha = self._make_commit(branch, base, changes, message)
        self._point(branch, sha, over, mine)
        return sha

    def commit_on_default(
        self, base: str, changes: Mapping[str, bytes | None], message: str
    ) -> str:
        branch = self.default_branch()
        sha = self._make_commit(branch, base, changes, message)
        ref = GitRef(self._gh.requester, url=f"{self._repo.url}/git/refs/heads/{quote(branch)}")
        # Without force GitHub moves the ref only forward, and the commit's parent is `base`:
        # so it lands only if the branch is still at `base` (422 "not a fast forward": Conflict).
        try:
            self._write(f"advance {branch} to {sha[:12]} in {self.repo}", lambda: ref.edit(sha))
        except Conflict as exc:
            if "fast forward" not in str(exc):
                raise  # a protected branch, say: not something a retry on a new head fixes
            raise Moved(f"{branch} moved since {base[:12]}; not committed") from None
        return sha

    def _make_commit(
        self, branch: str, base: str, changes: Mapping[str, bytes | None], message: str
    ) -> str:
        base_sha = self._resolve(base)
        stored = self._archives.peek(base_sha)
        modes = stored.modes if stored else {}
        elements = []
        for path, content in sorted(changes.items()):
            mode = modes.get(path, "100644")
            if content is None:
                if stored is None or path in stored.snapshot.objects:  # GitHub refuses otherwise
                    elements.append(InputGitTreeElement(path, mode, "blob", sha=None))
            elif (text := _utf8(content)) is not None:
                elements.append(InputGitTreeElement(path, mode, "blob", content=text))
            else:  # the Git Data API takes inline content as UTF-8 text only
                blob = self._upload(path, content)
                elements.append(InputGitTreeElement(path, mode, "blob", sha=blob))
        tree = self._tree(self._tree_of(base_sha))
        if elements:
            tree = self._write(
                f"write the files for {branch} in {self.repo}",
                lambda: self._repo.create_git_tree(elements, tree),
            )
        commit = self._write(
            f"commit to {branch} in {self.repo}",
            lambda: self._repo.create_git_commit(message, tree, [self._commit(base_sha)]),
        )
        self._trees[commit.sha] = tree.sha
        return str(commit.sha)

    def _upload(self, path: str, content: bytes) -> str:
        encoded = base64.b64encode(content).decode()
        blob = self._write(
            f"upload {path} to {self.repo}", lambda: self._repo.create_git_blob(encoded, "base64")
        )
        return blob.sha

    def _tree_of(self, commit: str) -> str:
        if commit not in self._trees:
            self._trees[commit] = self._call(
                f"read commit {commit[:12]} of {self.repo}",
                lambda: self._repo.get_git_commit(commit).tree.sha,
            )
        return self._trees[commit]

    def _tree(self, sha: str) -> GitTree:
        # Built from what we know, so PyGithub sends the SHA without fetching the tree.
        url = f"{self._repo.url}/git/trees/{sha}"
        return GitTree(self._gh.requester, {}, {"sha": sha, "url": url}, completed=True)

    def _commit(self, sha: str) -> GitCommit:
        url = f"{self._repo.url}/git/commits/{sha}"
        return GitCommit(self._gh.requester, {}, {"sha": sha, "url": url}, completed=True)

    def _point(self, branch: str, sha: str, over: str | None, mine: Mine | None) -> None:
        """Create the branch at `sha`; force it there only over a head that is promobot's
        (`over`, or one `mine` accepts: read when the branch turns out to exist)."""
        ref = GitRef(self._gh.requester, url=f"{self._repo.url}/git/refs/heads/{quote(branch)}")

        def update() -> None:
            ref.edit(sha, force=True)

        def create() -> None:
            self._repo.create_git_ref(f"refs/heads/{branch}", sha)

        what = f"point {branch} at {sha[:12]} in {self.repo}"
        if over is not None:
            try:  # GitHub has no compare-and-swap for a forced update: `over` is trusted
                self._write(what, update)
                return
            except Conflict:  # deleted since the caller looked: created below
                pass
        try:
            self._write(what, create)
            return
        except Conflict:  # "Reference already exists": whose is it?
            pass
        head = self.branch_head(branch)
        if head is None:  # deleted in between
            self._write(what, create)
            return
        if head.sha != over and not (mine is not None and mine(head)):
            raise Taken(branch, head.sha, head.maker)
        self._write(what, update)

    # --- pull requests -------------------------------------------------------------------------

    def find_pr(self, branch: str, state: Literal["open", "closed"] = "open") -> PullRequest | None:
        head = f"{self.owner}:{branch}"  # the repo's own branch: never a fork's

        def newest() -> GitHubPull | None:
            # Newest first; pages are fetched only as far as the loop goes.
            pulls = self._repo.get_pulls(state=state, head=head, sort="created", direction="desc")
            for pull in pulls:
                if pull.base.ref == self._learn_default(pull):
                    return pull
            return None

        found = self._call(
            f"look for the {state} pull request from {branch} in {self.repo}", newest
        )
        if found is None:
            return None
        return self._pull(found)

    def list_prs(self, label: str | None = None) -> list[PullRequest]:
        base = self.default_branch()
        # The pulls API cannot filter by label (the issues API can, but without heads): filter here.
        found = self._call(
            f"list the open pull requests into {base} in {self.repo}",
            lambda: list(self._repo.get_pulls(state="open", base=base)),
        )
        prs = (self._pull(pull) for pull in found)
        return [pr for pr in prs if not pr.from_fork and (label is None or label in pr.labels)]

    def _learn_default(self, pull: GitHubPull) -> str:
        """Each PR carries its repository, so the default branch comes free with a list."""
        default = pull.base.repo.default_branch
        self._default = (default, time.monotonic())
        return default

    def open_pr(self, branch: str, title: str, body: str, labels: tuple[str, ...]) -> PullRequest:
        base = self.default_branch()

        def create() -> GitHubPull | None:
            try:
                return self._repo.create_pull(base=base, head=branch, title=title, body=body)
            except GithubException as exc:
                if exc.status == 422 and "already exists" in _reason(exc.data):
                    return None  # adopted below
                raise

        created = self._write(f"open a pull request from {branch} in {self.repo}", create)
        if created is None:
            existing = self.find_pr(branch)
            if existing is None:
                raise Conflict(
                    f"GitHub says a pull request from {branch} exists in {self.repo}, "
                    f"but none is open into {base}"
                )
            return self._ensure(existing, title, body, labels)
        opened = self._pull(created)
        if labels:
            self._write(
                f"label pull request #{opened.number} in {self.repo}",
                lambda: created.set_labels(*labels),
            )
            opened = replace(opened, labels=labels)
        return opened

    def _ensure(
        self, pr: PullRequest, title: str, body: str, labels: tuple[str, ...]
    ) -> PullRequest:
        """An adopted PR gets the title, body and labels this attempt meant to give it."""
        wanted = replace(pr, title=title, body=body, labels=labels)
        if wanted != pr:
            self.update_pr(
                pr.number,
                title=title if title != pr.title else None,
                body=body if body != pr.body else None,
                labels=labels if set(labels) != set(pr.labels) else None,
            )
        return wanted

    def update_pr(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        labels: tuple[str, ...] | None = None,
    ) -> None:
        if title is None and body is None and labels is None:
            return
        # The Issues API edits title, body and labels of a PR in a single call.
        issue = Issue(self._gh.requester, url=f"{self._repo.url}/issues/{number}")
        self._write(
            f"update pull request #{number} in {self.repo}",
            lambda: issue.edit(
                title=NotSet if title is None else title,
                body=NotSet if body is None else body,
                labels=NotSet if labels is None else list(labels),
            ),
        )

    def close_pr(self, number: int) -> None:
        pull = self._repo.get_pull(number)  # lazy: no call
        self._write(
            f"close pull request #{number} in {self.repo}", lambda: pull.edit(state="closed")
        )

    def get_pr(self, number: int) -> PullRequest:
        pull = self._call(
            f"read pull request #{number} in {self.repo}",
            lambda: self._repo.get_pull(number).complete(),
        )
        return self._pull(pull)

    def _pull(self, pr: GitHubPull) -> PullRequest:
        # Only fields that list answers carry too: anything else would cost a GET per PR.
        head_repo = pr.head.repo
        state: PRState = "merged" if pr.merged_at else "closed" if pr.state == "closed" else "open"
        return PullRequest(
            number=pr.number,
            branch=pr.head.ref,
            base=pr.base.ref,
            title=pr.title,
            body=pr.body or "",
            labels=tuple(label.name for label in pr.labels),
            head_sha=pr.head.sha,
            state=state,
            author=pr.user.login if pr.user else "ghost",
            url=pr.html_url,
            from_fork=head_repo is None or head_repo.full_name.lower() != self.repo.lower(),
            author_id=pr.user.id if pr.user else None,
            updated_at=pr.updated_at,
        )

    def pr_files(self, number: int) -> list[str]:
        pull = self._repo.get_pull(number)  # lazy: no call
        found = self._call(
            f"list the files of pull request #{number} in {self.repo}",
            lambda: list(pull.get_files()),
        )
        paths = {f.filename for f in found} | {f.previous_filename for f in found}
        return sorted(p for p in paths if p)

    def merge(self, number: int, sha: str) -> str:
        pull = self._repo.get_pull(number)  # lazy: no call

        def attempt() -> str:
            try:
                status = pull.merge(sha=sha, merge_method="merge")
            except GithubException as exc:
                if exc.status in (405, 409):  # not mergeable; the head moved
                    raise MergeRefused(
                        f"GitHub refused to merge #{number} in {self.repo}: {_reason(exc.data)}"
                    ) from exc
                raise
            if not status.merged:
                raise MergeRefused(f"GitHub did not merge #{number} in {self.repo}")
            return status.sha

        return self._write(f"merge pull request #{number} in {self.repo}", attempt)

    # --- conversation --------------------------------------------------------------------------

    def comments(self, number: int) -> list[Comment]:
        issue = self._repo.get_issue(number)  # lazy: no call
        found = self._call(
            f"read the comments on #{number} in {self.repo}",
            lambda: list(issue.get_comments()),
        )
        return [_comment(c) for c in found]

    def get_comment(self, number: int, comment_id: int) -> Comment:
        found = self._call(
            f"read comment {comment_id} in {self.repo}",
            lambda: self._issue_comment(comment_id).complete(),
        )
        if not found.issue_url.endswith(f"/issues/{number}"):
            raise NotFound(f"comment {comment_id} is not on #{number} in {self.repo}")
        return _comment(found)

    def unedited(self, number: int, comments: Sequence[Comment]) -> set[int]:
        """REST's whole seconds cannot tell a comment edited in the second it was posted from
        one never edited; GraphQL's edit history can: one query for up to 100 comments."""
        vouched = {c.id for c in comments if c.edited is False}
        asked = [c for c in comments if c.edited is None and c.node_id]
        what = f"ask whether comments on #{number} in {self.repo} were edited"
        for start in range(0, len(asked), GRAPHQL_NODES):
            chunk = asked[start : start + GRAPHQL_NODES]
            ask = partial(self._graphql, what, EDITS, ids=[c.node_id for c in chunk])
            nodes = self._call(what, ask).get("nodes")
            if not isinstance(nodes, list) or len(nodes) != len(chunk):
                raise ForgeError(f"GitHub sent an answer promobot cannot read to {what}")
            # `nodes` answers in the order of `ids`
            vouched |= {c.id for c, node in zip(chunk, nodes, strict=True) if _unedited(node, c)}
        return vouched

    def _graphql(self, what: str, query: str, **variables: Any) -> dict[str, Any]:
        """`data` of a GraphQL query; an id that names nothing (deleted since) is a null."""
        requester = self._gh.requester
        _, answer = requester.requestJsonAndCheck(
            "POST", self._graphql_url, input={"query": query, "variables": variables}
        )
        errors = [e for e in answer.get("errors") or [] if not _not_found(e)]
        if errors:
            first = errors[0] if isinstance(errors[0], dict) else {}
            if first.get("type") == "RATE_LIMITED":
                raise RateLimited(
                    f"GitHub's GraphQL rate limit stopped promobot from trying to {what}",
                    SECONDARY_LIMIT_WAIT,
                )
            reason = " ".join(str(first.get("message") or "an error").split())
            raise ForgeError(f"GitHub's GraphQL API refused to {what}: {reason}")
        data = answer.get("data")
        return data if isinstance(data, dict) else {}

    @property
    def _graphql_url(self) -> str:
        # api.github.com/graphql; GitHub Enterprise Server: /api/graphql beside /api/v3
        return self.base_url.removesuffix("/v3") + "/graphql"

    def comment(self, number: int, body: str, *, reply_to: int | None = None) -> int:
        if reply_to is not None:  # issue comments have no threads: quote what we answer
            original = self._call(
                f"read comment {reply_to} in {self.repo}",
                lambda: self._issue_comment(reply_to).complete(),
            )
            body = quote_first_line(original.body or "", body)
        issue = self._repo.get_issue(number)  # lazy: no call
        created = self._write(
            f"comment on #{number} in {self.repo}", lambda: issue.create_comment(body)
        )
        return created.id

    def react(self, number: int, comment_id: int, reaction: str) -> None:
        # Comment ids are unique in a repository: the issue number is not needed on GitHub.
        comment = self._issue_comment(comment_id)
        self._write(
            f"react to comment {comment_id} in {self.repo}",
            lambda: comment.create_reaction(reaction),
        )

    def _issue_comment(self, comment_id: int) -> IssueComment:
        return IssueComment(
            self._gh.requester, url=f"{self._repo.url}/issues/comments/{comment_id}"
        )

    def reviews(self, number: int) -> list[Review]:
        pull = self._repo.get_pull(number)  # lazy: no call
        found = self._call(
            f"read the reviews of #{number} in {self.repo}", lambda: list(pull.get_reviews())
        )
        reviews = []
        for review in found:
            state = REVIEW_STATES.get(review.state)
            if state is None or review.user is None:
                continue  # PENDING: not submitted yet (and has no submitted_at to read)
            reviews.append(Review(review.user.login, state, review.commit_id, review.submitted_at))
        return reviews

    # --- statuses and checks -------------------------------------------------------------------

    def checks(self, sha: str, by: frozenset[str] | None = None) -> list[Check]:
        commit = self._repo.get_commit(sha)  # lazy: no call
        where = f"{sha[:12]} in {self.repo}"
        # The list of statuses, not the combined status: only the list says who posted each
        # (`creator`), as one page of 100 does for the usual few contexts per commit.
        statuses = self._call(f"read the statuses of {where}", lambda: list(commit.get_statuses()))
        runs = self._call(f"read the check runs of {where}", lambda: list(commit.get_check_runs()))
        latest: dict[str, tuple[datetime, Check]] = {}

        def keep(when: datetime | None, check: Check) -> None:
            when = when or datetime.min.replace(tzinfo=UTC)
            if check.name not in latest or when >= latest[check.name][0]:
                latest[check.name] = (when, check)

        for status in reversed(statuses):  # newest first: oldest first, so the newest wins a tie
            if by is not None and f"user:{status.creator.id if status.creator else ''}" not in by:
                continue
            state = STATUS_STATES.get(status.state, "pending")
            at = status.updated_at
            keep(at, Check(status.context, state, status.target_url, at))
        for run in runs:
            if by is not None and f"app:{run.app.id if run.app else ''}" not in by:
                continue  # a check run's app is the one whose token created it
            conclusion = CONCLUSIONS.get(run.conclusion or "", "pending")
            state = conclusion if run.status == "completed" else "pending"
            at = run.completed_at or run.started_at
            keep(at, Check(run.name, state, run.html_url, at))
        return [check for _, check in latest.values()]

    def identities(self, account: str) -> frozenset[str]:
        if account not in self._identities:
            requester = self._gh.requester

            def fetch(path: str) -> int | None:
                try:
                    _, found = requester.requestJsonAndCheck("GET", f"{self.base_url}{path}")
                except GithubException as exc:
                    if exc.status == 404:
                        return None
                    raise
                return int(found["id"])

            found = set()
            login = quote(account, safe="")
            user = self._call(f"look up {account}", lambda: fetch(f"/users/{login}"))
            if user is not None:
                found.add(f"user:{user}")  # statuses: an App posts them as its bot user
            if account.endswith("[bot]"):
                slug = quote(account.removesuffix("[bot]"), safe="")
                app = self._call(f"look up the app {slug}", lambda: fetch(f"/apps/{slug}"))
                if app is not None:
                    found.add(f"app:{app}")  # check runs: they name the App that made them
            self._identities[account] = frozenset(found)
        return self._identities[account]

    def set_status(
        self, sha: str, context: str, state: StatusState, description: str, url: str | None = None
    ) -> None:
        if len(description) > STATUS_DESCRIPTION_LIMIT:
            description = description[: STATUS_DESCRIPTION_LIMIT - 1] + "…"
        commit = self._repo.get_commit(sha)  # lazy: no call
        self._write(
            f"set the {context} status on {sha[:12]} in {self.repo}",
            lambda: commit.create_status(
                state,
                target_url=NotSet if url is None else url,
                description=description,
                context=context,
            ),
        )

    # --- people --------------------------------------------------------------------------------

    def permission(self, user: str) -> Permission:
        url = f"{self._repo.url}/collaborators/{quote(user, safe='')}/permission"

        def fetch() -> Permission:
            try:
                _, data = self._gh.requester.requestJsonAndCheck("GET", url)
            except GithubException as exc:
                if exc.status == 404:  # not a GitHub user
                    return "none"
                raise
            # role_name tells maintain and triage apart; `permission` is the legacy fallback
            # (older GHES, custom roles).
            role = ROLES.get(str(data.get("role_name")))
            return role or ROLES.get(str(data.get("permission")), "none")

        return self._call(f"read {user}'s permission on {self.repo}", fetch)

    def is_member(self, user: str, team: str) -> bool:
        org, _, slug = team.removeprefix("@").partition("/")
        if not org or not slug:
            raise ForgeError(f"{team!r} is not a GitHub team; write it as org/team")
        found = self._gh.get_organization(org).get_team_by_slug(slug)  # lazy: no call

        def fetch() -> bool:
            try:
                return found.get_team_membership(user).state == "active"
            except GithubException as exc:
                if exc.status == 404:  # not a member (or no such team)
                    return False
                raise

        return self._call(f"check whether {user} is in {team}", fetch)

    # --- errors --------------------------------------------------------------------------------

    def _write(self, what: str, call: Callable[[], T]) -> T:
        """A content-creating request: paced under GitHub's secondary limits, each attempt
        (a write retried after a timeout may well have been made)."""
        pacer = self.pacer
        if pacer is None:
            return self._call(what, call)

        def paced() -> T:
            pacer.take()
            return call()

        return self._call(what, paced)

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """Run one API interaction under the retry policy, translating library errors."""
        self._connect()  # before retrying: connecting retries on its own
        return self._retry(what, call)

    def _retry(self, what: str, call: Callable[[], T]) -> T:
        def attempt() -> T:
            try:
                return call()
            except GithubException as exc:
                raise self._translate(exc, what) from exc
            except requests.Timeout:
                raise Unavailable(
                    f"GitHub did not answer within {self.timeout:g}s when promobot tried to {what}"
                ) from None
            except requests.RequestException as exc:
                # The request's URL stays out of the message: a codeload link carries a token.
                raise Unavailable(
                    f"GitHub is unreachable ({type(exc).__name__}); promobot could not {what}"
                ) from None
            except (BadAttributeException, json.JSONDecodeError):
                raise ForgeError(
                    f"GitHub sent an answer promobot cannot read when it tried to {what}"
                ) from None

        return retrying(attempt, self.policy)

    def _translate(self, exc: GithubException, what: str) -> ForgeError:
        status = exc.status
        headers = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
        reason = _reason(exc.data) or f"HTTP {status}"
        if status in (403, 429):
            wait = _rate_limit_wait(status, headers, reason, time.time())
            if wait is not None:
                return RateLimited(
                    f"GitHub's rate limit stopped promobot from trying to {what} "
                    f"(it allows more in {math.ceil(wait)}s)",
                    wait,
                )
        if status >= 500:
            return Unavailable(f"GitHub failed (HTTP {status}) when promobot tried to {what}")
        if status == 401:
            return ForgeError(
                f"GitHub rejected promobot's credentials ({reason}) when it tried to {what}; "
                "check the token or the GitHub App's id, key and installation"
            )
        if status == 403:
            return ForgeError(f"GitHub does not allow promobot to {what}: {reason}")
        if status == 404:
            return NotFound(
                f"GitHub found nothing when promobot tried to {what} "
                f"(missing, or promobot has no access to {self.repo})"
            )
        if status in (409, 422):
            if _invalid_fields(exc.data) & {"body", "title", "description"}:
                return ForgeError(f"GitHub refused to {what}: {reason}")  # retrying won't help
            return Conflict(f"GitHub refused to {what}: {reason}")
        return ForgeError(f"GitHub refused to {what}: {reason} (HTTP {status})")


def _commit_head(data: Any) -> Head:
    """A commit as `GET /commits/{ref}` shows it (`commit.author`, `commit.committer`)."""
    commit = data["commit"]

    def person(who: str) -> tuple[str, datetime]:
        found = commit.get(who) or {}
        when = datetime.fromisoformat(str(found.get("date") or "1970-01-01T00:00:00Z"))
        return f"{found.get('name', '')} <{found.get('email', '')}>", when

    author, authored = person("author")
    committer, committed = person("committer")
    parents = tuple(str(p["sha"]) for p in data.get("parents") or ())
    message = str(commit.get("message") or "")
    return Head(str(data["sha"]), parents, message, author, authored, committer, committed)


def _comment(found: IssueComment) -> Comment:
    created, updated = found.created_at, found.updated_at
    return Comment(
        found.id,
        found.user.login if found.user else "ghost",
        found.body or "",
        created,
        user_id=found.user.id if found.user else None,
        # Whole seconds: a later second is an edit (or another change: either way it does not
        # run); the same second may hide one, which only GraphQL can tell (`unedited`).
        edited=None if updated is None or updated == created else True,
        node_id=found.node_id,
    )


def _unedited(node: Any, comment: Comment) -> bool:
    """Whether GraphQL's answer says the comment holds the text it was posted with."""
    if not isinstance(node, dict) or node.get("__typename") != "IssueComment":
        return False
    edits = node.get("userContentEdits")
    return (
        node.get("body") == comment.body
        and node.get("lastEditedAt") is None
        and node.get("includesCreatedEdit") is False
        and (edits is None or (isinstance(edits, dict) and edits.get("totalCount") == 0))
    )


def _not_found(error: Any) -> bool:
    return isinstance(error, dict) and error.get("type") == "NOT_FOUND"


def _authentication(token: str | None, app_id: int | None, private_key: str | None) -> Auth.Auth:
    if token and (app_id is not None or private_key):
        raise ForgeError("give GitHub either a token or a GitHub App id and key, not both")
    if token:
        return Auth.Token(token)
    if app_id is not None and private_key:
        app = Auth.AppAuth(app_id, private_key)
        try:
            app.create_jwt()  # fail now, not at the first request, on a key that cannot sign
        except Exception:
            raise ForgeError(
                "the GitHub App private key cannot sign a token; give the app's RSA key in PEM"
            ) from None
        return app
    raise ForgeError("GitHub needs a token, or a GitHub App id and private key")


def _whole_seconds(timeout: float) -> int:
    return max(1, math.ceil(timeout))  # PyGithub insists on an int


def _utf8(content: bytes) -> str | None:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _reason(data: Any) -> str:
    """GitHub's error message and its validation errors, on one line."""
    if not isinstance(data, dict):
        return ""
    parts = [str(data.get("message") or "")]
    for item in data.get("errors") or []:
        if isinstance(item, dict):
            field = item.get("field")
            parts.append(str(item.get("message") or f"{field} is {item.get('code', 'invalid')}"))
        else:
            parts.append(str(item))
    return " ".join("; ".join(p for p in parts if p).split())


def _invalid_fields(data: Any) -> set[str]:
    if not isinstance(data, dict):
        return set()
    return {str(e.get("field")) for e in data.get("errors") or [] if isinstance(e, dict)}


def _rate_limit_wait(
    status: int, headers: Mapping[str, str], reason: str, now: float
) -> float | None:
    """Seconds to wait when a 403/429 is a rate limit, None when it is a plain refusal."""
    asked = retry_after(headers.get("retry-after"), now)
    if asked is not None:
        return asked
    if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
        try:
            reset = float(headers["x-ratelimit-reset"])
        except ValueError:
            reset = now + SECONDARY_LIMIT_WAIT
        # GitHub's reset is in whole seconds by its clock: half a second spares an early retry.
        return reset - now + 0.5 if reset > now else 0.0
    if status == 429 or "rate limit" in reason.lower():
        return SECONDARY_LIMIT_WAIT
    return None
