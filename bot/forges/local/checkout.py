"""The checkout side of the local forge: commits, branches, snapshots and history, made and read
with git's plumbing, without touching the working tree or the index (but for `--write`)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.composition import Commit, Snapshot
from bot.errors import Conflict, ForgeError, Moved, Taken
from bot.forges.base import Account, Head, Mine, Release
from bot.forges.local.git import BOT_IDENTITY, SYMLINK, Blobs, Git

ME = Account(0, "promobot")  # whoever runs promobot on the checkout acts as this account


class Checkout:
    """A git checkout: its branches, commits and files."""

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
        files = Blobs(self.git, blobs)
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
                oid = self.git.text("hash-object", "-w", "--stdin", input=content)
                index_info.append(f"{mode} {oid}\t{path}")
            self.git.run(
                "update-index",
                "-z",
                "--index-info",
                input="".join(line + "\0" for line in index_info).encode(),
                env=env,
            )
            tree = self.git.text("write-tree", env=env)
            commit = self.git.text(
                "commit-tree", tree, "-p", base, "-F", "-", input=message.encode(), env=env
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
