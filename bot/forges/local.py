"""The local forge: a git repository on disk, no server, no credentials.

Promotions become local branches `promobot/<env>/<app>` holding exactly one commit on top of
the base; the working tree and the index of the checkout are never touched (the commit is
built in a private index file with git's plumbing commands).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from bot.composition import Commit, Snapshot
from bot.errors import ForgeError

BOT_IDENTITY = {
    "GIT_AUTHOR_NAME": "promobot",
    "GIT_AUTHOR_EMAIL": "promobot@localhost",
    "GIT_COMMITTER_NAME": "promobot",
    "GIT_COMMITTER_EMAIL": "promobot@localhost",
}


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
        blobs: dict[str, str] = {}
        for entry in listing.split(b"\0"):
            if not entry:
                continue
            meta, _, raw_path = entry.partition(b"\t")
            _, kind, oid = meta.decode().split()
            path = raw_path.decode()
            objects[path] = oid
            if kind == "tree":
                trees.add(path)
            elif kind == "blob":
                blobs[path] = oid
        files = _Blobs(self.git, blobs)
        files.prefetch(prefetch)
        return Snapshot(commit=commit, objects=objects, files=files, trees=frozenset(trees))

    def read_file(self, ref: str, path: str) -> bytes | None:
        try:
            return self.git.run("cat-file", "blob", f"{ref}:{path}")
        except ForgeError:
            return None

    def commit_branch(
        self, branch: str, base: str, changes: Mapping[str, bytes | None], message: str
    ) -> str:
        """Create or reset `branch` to exactly one commit on `base` with `changes`."""
        with tempfile.TemporaryDirectory(prefix="promobot-") as tmp:
            env = {**BOT_IDENTITY, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self.git.run("read-tree", base, env=env)
            index_info = []
            for path, content in sorted(changes.items()):
                if content is None:
                    index_info.append(f"0 {'0' * 40}\t{path}")
                    continue
                oid = self.git.run("hash-object", "-w", "--stdin", input=content).decode().strip()
                mode = self._mode(base, path)
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
        self.git.run("update-ref", f"refs/heads/{branch}", commit)
        return commit

    def _mode(self, ref: str, path: str) -> str:
        out = self.git.text("ls-tree", ref, "--", path)
        return out.split()[0] if out else "100644"

    def log(self, ref: str, paths: Iterable[str], limit: int = 200) -> list[Commit]:
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
        """Write changed files into the checkout (for `--write`); deletions remove files."""
        for path, content in changes.items():
            target = self.root / path
            if content is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
