"""The local forge: a git repository on disk, no server, no credentials.

Promotions become local branches `promobot/<env>/<app>` holding exactly one commit on top of
the base; the working tree and the index of the checkout are never touched (the commit is
built in a private index file with git's plumbing commands). What a server would keep — pull
requests, comments, reviews, statuses — lives in `.git/promobot/forge.json`, so the local forge
behaves like the others (a dry run you can inspect), as Renovate's local platform does.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bot.composition import Commit, Snapshot
from bot.errors import Conflict, ForgeError, MergeRefused, Moved, NotFound, Taken
from bot.forges.base import (
    Account,
    Check,
    Comment,
    Head,
    Mine,
    Permission,
    PullRequest,
    Release,
    Review,
    StatusState,
    quote_first_line,
)

ME = Account(0, "promobot")  # whoever runs promobot on the checkout acts as this account
BOT_IDENTITY = {
    "GIT_AUTHOR_NAME": "promobot",
    "GIT_AUTHOR_EMAIL": "promobot@localhost",
    "GIT_COMMITTER_NAME": "promobot",
    "GIT_COMMITTER_EMAIL": "promobot@localhost",
}
SYMLINK = "120000"  # git's mode for a symbolic link


class Git:
    """Runs git in one repository and turns its failures into ForgeError."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(self, *args: str, input: bytes | None = None, env: Mapping[str, str] = {}) -> bytes:
        try:
            done = subprocess.run(
                ["git", "-C", str(self.path), *args],
                input=input,
                capture_output=True,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **env},
                check=False,
            )
        except FileNotFoundError:
            raise ForgeError("git is not installed; install it and try again") from None
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip().splitlines()
            detail = message[-1] if message else f"exit code {done.returncode}"
            raise ForgeError(f"git {args[0]} failed in {self.path}: {detail}")
        return done.stdout

    def text(self, *args: str, env: Mapping[str, str] = {}) -> str:
        return self.run(*args, env=env).decode().strip()


class _Blobs(Mapping[str, bytes]):
    """File contents of one commit, read with one `git cat-file --batch` per batch of paths."""

    def __init__(self, git: Git, blobs: Mapping[str, str]) -> None:
        self._git = git
        self._oids = blobs
        self._cache: dict[str, bytes] = {}

    def prefetch(self, paths: Iterable[str]) -> None:
        missing = [p for p in paths if p in self._oids and p not in self._cache]
        if not missing:
            return
        request = "".join(self._oids[p] + "\n" for p in missing).encode()
        out = self._git.run("cat-file", "--batch", input=request)
        offset = 0
        for path in missing:
            header_end = out.index(b"\n", offset)
            size = int(out[offset:header_end].split()[2])
            start = header_end + 1
            self._cache[path] = out[start : start + size]
            offset = start + size + 1

    def __getitem__(self, path: str) -> bytes:
        if path not in self._cache:
            if path not in self._oids:
                raise KeyError(path)
            self.prefetch([path])
        return self._cache[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._oids)

    def __len__(self) -> int:
        return len(self._oids)


class LocalForge:
    """A git checkout as a forge; `user` is who comments and reviews come from."""

    name = "local"

    def __init__(self, path: Path | str = ".") -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise ForgeError(f"{self.path}: no such directory")
        self.git = Git(self.path)
        try:
            self.root = Path(self.git.text("rev-parse", "--show-toplevel"))
        except ForgeError:
            raise ForgeError(
                f"{self.path} is not a git repository; run promobot inside your environment "
                "repo's checkout or pass --repo PATH"
            ) from None
        self.git = Git(self.root)
        self.store = Path(self.git.text("rev-parse", "--git-common-dir"))
        if not self.store.is_absolute():
            self.store = self.root / self.store
        self.store = self.store / "promobot" / "forge.json"
        # promobot's signing key for this checkout, made on first use (bot.signing.load_key)
        self.key_path = self.store.parent / "signing-key"

    def resolve(self, ref: str = "HEAD") -> str:
        try:
            return self.git.text("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except ForgeError:
            raise ForgeError(f"{ref!r} is not a commit in {self.root}") from None

    def current_branch(self) -> str | None:
        try:
            return self.git.text("symbolic-ref", "--quiet", "--short", "HEAD")
        except ForgeError:
            return None  # detached HEAD

    def snapshot(
        self, ref: str = "HEAD", prefetch: Iterable[str] = (), paths: Iterable[str] = ()
    ) -> Snapshot:
        """The repository at `ref`; `paths` limits the listing, `prefetch` reads files at once."""
        commit = self.resolve(ref)
        listing = self.git.run("ls-tree", "-r", "-t", "-z", "--full-tree", commit, "--", *paths)
        objects: dict[str, str] = {}
        trees: set[str] = set()
        links: set[str] = set()
        blobs: dict[str, str] = {}
        for entry in listing.split(b"\0"):
            if not entry:
                continue
            meta, _, raw_path = entry.partition(b"\t")
            mode, kind, oid = meta.decode().split()
            path = raw_path.decode()
            objects[path] = oid
            if kind == "tree":
                trees.add(path)
            elif kind == "blob":
                blobs[path] = oid
                if mode == SYMLINK:
                    links.add(path)
        files = _Blobs(self.git, blobs)
        files.prefetch(prefetch)
        return Snapshot(
            commit=commit,
            objects=objects,
            files=files,
            trees=frozenset(trees),
            links=frozenset(links),
        )

    def read_file(self, ref: str, path: str) -> bytes | None:
        try:
            return self.git.run("cat-file", "blob", f"{ref}:{path}")
        except ForgeError:
            return None

    def commit_on_default(
        self, base: str, changes: Mapping[str, bytes | None], message: str
    ) -> str:
        branch = self.default_branch()
        commit = self._commit(base, changes, message)
        moved = Moved(f"{branch} moved since {base[:12]}; not committed")
        if self.current_branch() == branch:  # the checkout follows, as after `git pull`
            if self.resolve("HEAD") != base:
                raise moved
            if self.git.text("status", "--porcelain", "--untracked-files=no"):
                raise Conflict(f"the checkout of {branch} has uncommitted changes; not committed")
            self.git.run("merge", "--ff-only", "--quiet", commit, env=BOT_IDENTITY)
            return commit
        try:  # compare-and-swap: only if the branch is still at `base`
            self.git.run("update-ref", f"refs/heads/{branch}", commit, base)
        except ForgeError:
            raise moved from None
        return commit

    def _commit(self, base: str, changes: Mapping[str, bytes | None], message: str) -> str:
        """A commit of `changes` on `base`, on no branch yet."""
        # one time for author and committer, whatever the environment says: a commit made in
        # one go looks it (`Head.recommitted`)
        when = f"{int(time.time())} +0000"
        dated = {**BOT_IDENTITY, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
        with tempfile.TemporaryDirectory(prefix="promobot-") as tmp:
            env = {**dated, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self.git.run("read-tree", base, env=env)
            index_info = []
            for path, content in sorted(changes.items()):
                if content is None:
                    index_info.append(f"0 {'0' * 40}\t{path}")
                    continue
                mode = self._mode(base, path)
                if mode == SYMLINK:  # its content would become the link's target
                    raise ForgeError(f"{path} is a symbolic link in {base[:12]}; not replaced")
                oid = self.git.run("hash-object", "-w", "--stdin", input=content).decode().strip()
                index_info.append(f"{mode} {oid}\t{path}")
            self.git.run(
                "update-index",
                "-z",
                "--index-info",
                input="".join(line + "\0" for line in index_info).encode(),
                env=env,
            )
            tree = self.git.text("write-tree", env=env)
            commit = (
                self.git.run(
                    "commit-tree", tree, "-p", base, "-F", "-", input=message.encode(), env=env
                )
                .decode()
                .strip()
            )
        return commit

    def _mode(self, ref: str, path: str) -> str:
        out = self.git.text("ls-tree", ref, "--", path)
        return out.split()[0] if out else "100644"

    def log(self, ref: str, paths: Sequence[str], limit: int = 50) -> list[Commit]:
        """Commits that touched any of `paths`, newest first."""
        out = self.git.text(
            "log", f"--max-count={limit}", "--format=%H%x00%at%x00%an%x00%s", ref, "--", *paths
        )
        commits = []
        for line in out.splitlines():
            sha, when, author, subject = line.split("\0", 3)
            commits.append(Commit(sha, datetime.fromtimestamp(int(when), UTC), author, subject))
        return commits

    def write_worktree(self, changes: Mapping[str, bytes | None]) -> None:
        """Write changed files into the checkout (for `--write`); deletions remove files.

        Every path is checked before anything is written: one that is or passes through a
        symbolic link, or whose real location is outside the checkout, is refused, since
        writing it would change a file somewhere else (the working tree may hold links that
        no commit has).
        """
        root = Path(os.path.realpath(self.root))
        for path in changes:
            self._inside(root, path)
        for path, content in changes.items():
            target = self.root / path
            if content is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)

    def _inside(self, root: Path, path: str) -> None:
        parts = Path(path).parts
        if not parts or Path(path).is_absolute() or ".." in parts or parts[0] == ".git":
            raise ForgeError(f"{path}: not a path inside {self.root}; nothing was written")
        for end in range(1, len(parts) + 1):
            here = root.joinpath(*parts[:end])
            if here.is_symlink():
                link = "/".join(parts[:end])
                where = path if link == path else f"{path}: {link}"
                raise ForgeError(
                    f"{where} is a symbolic link in the checkout; promobot does not write "
                    "through links, so nothing was written"
                )
        real = Path(os.path.realpath(root / path))
        if not real.is_relative_to(root):
            raise ForgeError(f"{path} is really {real}, outside {root}; nothing was written")

    # --- the Forge protocol ----------------------------------------------------------------------

    def identity(self) -> Account:
        return ME

    def default_branch(self) -> str:
        return self.current_branch() or "main"

    def head(self, branch: str | None = None) -> str | None:
        try:
            return self.resolve(f"refs/heads/{branch or self.default_branch()}")
        except ForgeError:
            return None

    def tags(self) -> list[str]:
        return self.git.text("tag", "--list").splitlines()

    # --- changelogs (bot.changelog): a checkout has tags and files, but no releases ----------

    def releases(self, limit: int = 100) -> list[Release]:
        return []

    def subjects(self, base: str, head: str, limit: int = 100) -> list[str]:
        """The subjects of the commits in `head` and not in `base`, newest first."""
        for ref in (base, head):
            self.resolve(ref)  # a missing tag is said as such, not as git's usage text
        out = self.git.text("log", f"--max-count={limit}", "--format=%s", f"{base}..{head}", "--")
        return out.splitlines()

    def compare_url(self, base: str, head: str) -> str | None:
        return None  # a checkout has no web page

    def tag_url(self, tag: str) -> str | None:
        return None

    def branch_head(self, branch: str) -> Head | None:
        fields = "%H%x00%P%x00%an <%ae>%x00%aI%x00%cn <%ce>%x00%cI%x00%B"
        try:
            out = self.git.text("log", "-1", f"--format={fields}", f"refs/heads/{branch}", "--")
        except ForgeError:
            return None
        sha, parents, author, authored, committer, committed, message = out.split("\0", 6)
        return Head(
            sha,
            tuple(parents.split()),
            message,
            author,
            datetime.fromisoformat(authored),
            committer,
            datetime.fromisoformat(committed),
        )

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
        # the head is read first (it costs nothing here): a branch that is not promobot's gets
        # not even an object written for it
        head = self.branch_head(branch)
        old = head.sha if head is not None else "0" * 40
        if head is not None and head.sha != over and not (mine is not None and mine(head)):
            raise Taken(branch, head.sha, head.maker)
        commit = self._commit(base, changes, message)
        try:  # compare-and-swap: only over the head just judged (or none: a new branch)
            self.git.run("update-ref", f"refs/heads/{branch}", commit, old)
        except ForgeError:
            raise Conflict(f"{branch} moved while promobot wrote it; not written") from None
        return commit

    @contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        """The store, locked for the duration and written back atomically."""
        self.store.parent.mkdir(parents=True, exist_ok=True)
        with (self.store.parent / "lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state: dict[str, Any] = {
                "next": 1,
                "pulls": {},
                "comments": {},
                "reviews": [],
                "statuses": [],
            }
            if self.store.exists():
                state = json.loads(self.store.read_text())
            yield state
            tmp = self.store.with_suffix(".tmp")
            tmp.write_text(json.dumps(state, indent=1))
            tmp.replace(self.store)

    def _pull(self, data: dict[str, Any]) -> PullRequest:
        head = self.head(data["branch"]) or data["head_sha"]
        return PullRequest(
            number=data["number"],
            branch=data["branch"],
            base=data["base"],
            title=data["title"],
            body=data["body"],
            labels=tuple(data["labels"]),
            head_sha=head,
            state=data["state"],
            author=data["author"],
            url=f"{self.root}#pr-{data['number']}",
            author_id=ME.id if data["author"] == ME.login else None,
        )

    def find_pr(self, branch: str, state: Literal["open", "closed"] = "open") -> PullRequest | None:
        wanted = {"open"} if state == "open" else {"closed", "merged"}
        with self._state() as data:
            found = [
                p for p in data["pulls"].values() if p["branch"] == branch and p["state"] in wanted
            ]
            return self._pull(max(found, key=lambda p: p["number"])) if found else None

    def list_prs(self, label: str | None = None) -> list[PullRequest]:
        with self._state() as data:
            return [
                self._pull(p)
                for p in data["pulls"].values()
                if p["state"] == "open" and (label is None or label in p["labels"])
            ]

    def pull_numbers(self) -> list[int]:
        """Every PR's number, whatever its state (`promobot audit` reads them all)."""
        with self._state() as data:
            return sorted(int(n) for n in data["pulls"])

    def open_pr(self, branch: str, title: str, body: str, labels: tuple[str, ...]) -> PullRequest:
        head = self.head(branch)
        if head is None:
            raise NotFound(f"branch {branch} does not exist; create it before opening a PR")
        existing = self.find_pr(branch)
        if existing is not None:
            return existing
        with self._state() as state:
            number = state["next"]
            state["next"] += 1
            state["pulls"][str(number)] = {
                "number": number,
                "branch": branch,
                "base": self.default_branch(),
                "title": title,
                "body": body,
                "labels": list(labels),
                "head_sha": head,
                "state": "open",
                "author": "promobot",
            }
            return self._pull(state["pulls"][str(number)])

    def _data(self, state: dict[str, Any], number: int) -> dict[str, Any]:
        data: dict[str, Any] | None = state["pulls"].get(str(number))
        if data is None:
            raise NotFound(f"no pull request #{number} in {self.root}")
        return data

    def get_pr(self, number: int) -> PullRequest:
        with self._state() as state:
            return self._pull(self._data(state, number))

    def update_pr(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        labels: tuple[str, ...] | None = None,
    ) -> None:
        with self._state() as state:
            data = self._data(state, number)
            for key, value in (("title", title), ("body", body), ("labels", labels)):
                if value is not None:
                    data[key] = list(value) if key == "labels" else value

    def close_pr(self, number: int) -> None:
        with self._state() as state:
            data = self._data(state, number)
            if data["state"] == "open":
                data["state"] = "closed"

    def comments(self, number: int) -> list[Comment]:
        with self._state() as state:
            return [_comment(c) for c in state["comments"].values() if c["number"] == number]

    def get_comment(self, number: int, comment_id: int) -> Comment:
        with self._state() as state:
            found = state["comments"].get(str(comment_id))
            if found is None or found["number"] != number:
                raise NotFound(f"no comment {comment_id} on #{number}")
            return _comment(found)

    def unedited(self, number: int, comments: Sequence[Comment]) -> set[int]:
        return {c.id for c in comments if c.edited is False}

    def comment(self, number: int, body: str, *, reply_to: int | None = None) -> int:
        with self._state() as state:
            if reply_to is not None:
                original = state["comments"].get(str(reply_to))
                if original is not None:
                    body = quote_first_line(original["body"], body)
        return self.add_comment(number, ME.login, body)

    def add_comment(self, number: int, user: str, body: str) -> int:
        """Post a comment as `user` (the local forge has no web UI; tests and people use this)."""
        with self._state() as state:
            comment_id: int = state["next"]
            state["next"] += 1
            state["comments"][str(comment_id)] = {
                "id": comment_id,
                "number": number,
                "user": user,
                "body": body,
                "created_at": datetime.now(UTC).isoformat(),
                "reactions": [],
            }
            return comment_id

    def pr_files(self, number: int) -> list[str]:
        pull = self.get_pr(number)
        base = self.resolve(f"refs/heads/{pull.base}")
        out = self.git.text("diff", "--name-only", "--no-renames", f"{base}...{pull.head_sha}")
        return sorted(out.splitlines())

    def react(self, number: int, comment_id: int, reaction: str) -> None:
        with self._state() as state:
            comment = state["comments"].get(str(comment_id))
            if comment is None or comment["number"] != number:
                raise NotFound(f"no comment {comment_id} on #{number}")
            if reaction not in comment["reactions"]:
                comment["reactions"].append(reaction)

    def edit_comment(self, comment_id: int, user: str, body: str) -> None:
        """`user` rewrites a comment (as a writer may on GitHub): from then on it never runs."""
        with self._state() as state:
            found = state["comments"].get(str(comment_id))
            if found is None:
                raise NotFound(f"no comment {comment_id}")
            found["body"] = body
            found["edited_at"] = datetime.now(UTC).isoformat()
            found["edited_by"] = user

    def add_review(self, number: int, user: str, state_: str, sha: str | None = None) -> None:
        """Record a review (the local forge has no web UI; tests and `promobot` use this)."""
        with self._state() as state:
            head = sha or self._pull(self._data(state, number)).head_sha
            state["reviews"].append(
                {
                    "number": number,
                    "user": user,
                    "state": state_,
                    "sha": head,
                    "at": datetime.now(UTC).isoformat(),
                }
            )

    def reviews(self, number: int) -> list[Review]:
        with self._state() as state:
            return [
                Review(r["user"], r["state"], r["sha"], datetime.fromisoformat(r["at"]))
                for r in state["reviews"]
                if r["number"] == number
            ]

    def checks(self, sha: str, by: frozenset[str] | None = None) -> list[Check]:
        # `by` is not asked: the local forge has no people, whoever writes the checkout is
        # trusted (SECURITY.md), so every status is as good as its named author's.
        latest: dict[str, Check] = {}
        with self._state() as state:
            for status in state["statuses"]:
                if status["sha"] == sha:
                    mapped = {"error": "failure"}.get(status["state"], status["state"])
                    at = datetime.fromisoformat(status["at"]) if status.get("at") else None
                    latest[status["context"]] = Check(status["context"], mapped, status["url"], at)
        return list(latest.values())

    def identities(self, account: str) -> frozenset[str]:
        return frozenset({f"user:{account}"})

    def set_status(
        self, sha: str, context: str, state: StatusState, description: str, url: str | None = None
    ) -> None:
        with self._state() as data:
            data["statuses"].append(
                {
                    "sha": sha,
                    "context": context,
                    "state": state,
                    "description": description,
                    "url": url,
                    "at": datetime.now(UTC).isoformat(),
                }
            )

    def merge(self, number: int, sha: str) -> str:
        pull = self.get_pr(number)
        if pull.state != "open":
            raise MergeRefused(f"#{number} is {pull.state}, not open")
        if pull.head_sha != sha:
            raise MergeRefused(
                f"#{number} moved to {pull.head_sha[:12]} since {sha[:12]} was checked; not merged"
            )
        base = self.default_branch()
        base_sha = self.resolve(f"refs/heads/{base}")
        if self.current_branch() == base:
            if self.git.text("status", "--porcelain", "--untracked-files=no"):
                raise MergeRefused(f"the checkout of {base} has uncommitted changes; not merged")
            self.git.run(
                "merge",
                "--no-ff",
                "--no-edit",
                "-m",
                f"Merge #{number}: {pull.title}",
                sha,
                env=BOT_IDENTITY,
            )
            merged = self.resolve("HEAD")
        else:
            try:
                tree = self.git.text("merge-tree", "--write-tree", base_sha, sha).splitlines()[0]
            except ForgeError:
                raise Conflict(f"#{number} conflicts with {base}; not merged") from None
            merged = (
                self.git.run(
                    "commit-tree",
                    tree,
                    "-p",
                    base_sha,
                    "-p",
                    sha,
                    "-m",
                    f"Merge #{number}: {pull.title}",
                    env=BOT_IDENTITY,
                )
                .decode()
                .strip()
            )
            self.git.run("update-ref", f"refs/heads/{base}", merged, base_sha)
        with self._state() as state:
            state["pulls"][str(number)]["state"] = "merged"
        return merged

    def permission(self, user: str) -> Permission:
        # whoever runs promobot on a checkout owns it; there is no one else to ask
        return "admin"

    def is_member(self, user: str, team: str) -> bool:
        return False


def _comment(data: Mapping[str, Any]) -> Comment:
    return Comment(
        data["id"],
        data["user"],
        data["body"],
        datetime.fromisoformat(data["created_at"]),
        user_id=ME.id if data["user"] == ME.login else None,
        edited="edited_at" in data,
    )
