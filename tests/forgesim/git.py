"""Bare git repositories: the simulator's storage, driven by git's plumbing commands."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

IDENTITY = {
    "GIT_AUTHOR_NAME": "Forge Simulator",
    "GIT_AUTHOR_EMAIL": "sim@forge.invalid",
    "GIT_COMMITTER_NAME": "Forge Simulator",
    "GIT_COMMITTER_EMAIL": "sim@forge.invalid",
}


class GitError(Exception):
    pass


class BareRepo:
    def __init__(self, path: Path) -> None:
        self.path = path
        # full ids known to name commits: an object never changes, so asking git once is enough
        # (the API resolves the same heads over and over; each answer is a git process)
        self._commits: set[str] = set()
        # when a ref last moved: what GitHub shows as a repository's pushed_at and updated_at
        self.pushed_at = datetime.now(UTC).replace(microsecond=0)

    @classmethod
    def create(cls, path: Path, files: Mapping[str, bytes], branch: str = "main") -> BareRepo:
        path.mkdir(parents=True, exist_ok=True)
        repo = cls(path)
        repo.git("init", "-q", "--bare", "-b", branch)
        commit = repo.commit(
            None, files, "Initial commit", author=("Ada Lovelace", "ada@example.com")
        )
        repo.set_ref(f"refs/heads/{branch}", commit)
        return repo

    def git(self, *args: str, input: bytes | None = None, env: Mapping[str, str] = {}) -> bytes:
        done = subprocess.run(
            ["git", "--git-dir", str(self.path), *args],
            input=input,
            capture_output=True,
            env={**os.environ, **IDENTITY, **env},
            check=False,
        )
        if done.returncode != 0:
            raise GitError(done.stderr.decode(errors="replace").strip())
        return done.stdout

    def text(self, *args: str, env: Mapping[str, str] = {}) -> str:
        return self.git(*args, env=env).decode().strip()

    def resolve(self, ref: str) -> str | None:
        if ref in self._commits:
            return ref
        try:
            sha = self.text("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except GitError:
            return None
        if sha == ref:
            self._commits.add(sha)
        return sha

    def object_type(self, sha: str) -> str | None:
        try:
            return self.text("cat-file", "-t", sha)
        except GitError:
            return None

    def branches(self) -> dict[str, str]:
        out = self.text("for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads")
        return dict(line.split(" ", 1) for line in out.splitlines())  # type: ignore[misc]

    def tags(self) -> dict[str, str]:
        out = self.text("for-each-ref", "--format=%(refname:short) %(objectname)", "refs/tags")
        return dict(line.split(" ", 1) for line in out.splitlines())  # type: ignore[misc]

    def set_ref(self, ref: str, sha: str, old: str | None = None) -> None:
        self.git("update-ref", ref, sha, *([old] if old else []))
        self.pushed_at = datetime.now(UTC).replace(microsecond=0)

    def delete_ref(self, ref: str) -> None:
        self.git("update-ref", "-d", ref)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        try:
            self.git("merge-base", "--is-ancestor", ancestor, descendant)
            return True
        except GitError:
            return False

    def tree_entries(
        self, treeish: str, recursive: bool = False
    ) -> list[tuple[str, str, str, str, int]]:
        """(mode, type, sha, path, size) for a tree."""
        args = ["ls-tree", "-l", "-z", *(["-r", "-t"] if recursive else []), treeish]
        entries = []
        for raw in self.git(*args).split(b"\0"):
            if not raw:
                continue
            meta, _, path = raw.partition(b"\t")
            mode, kind, sha, size = meta.decode().split()
            entries.append((mode, kind, sha, path.decode(), 0 if size == "-" else int(size)))
        return entries

    def read_blob(self, sha: str) -> bytes:
        return self.git("cat-file", "blob", sha)

    def read_path(self, commit: str, path: str) -> bytes | None:
        try:
            return self.git("cat-file", "blob", f"{commit}:{path}")
        except GitError:
            return None

    def commit_info(self, sha: str) -> dict[str, str]:
        fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
        fields = self.git("show", "-s", f"--format={fmt}", sha).decode().split("\0")
        keys = [
            "sha",
            "tree",
            "parents",
            "author_name",
            "author_email",
            "author_date",
            "committer_name",
            "committer_email",
            "committer_date",
            "message",
        ]
        return dict(zip(keys, fields, strict=True))

    def write_blob(self, content: bytes) -> str:
        return self.text_in("hash-object", "-w", "--stdin", input=content)

    def text_in(self, *args: str, input: bytes, env: Mapping[str, str] = {}) -> str:
        return self.git(*args, input=input, env=env).decode().strip()

    def build_tree(
        self, base_tree: str | None, changes: Mapping[str, tuple[str, str] | None]
    ) -> str:
        """A new tree: base_tree with path -> (mode, blob sha) set, or removed when None."""
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if base_tree:
                self.git("read-tree", base_tree, env=env)
            else:
                self.git("read-tree", "--empty", env=env)
            lines = []
            for path, entry in changes.items():
                if entry is None:
                    lines.append(f"0 {'0' * 40}\t{path}")
                else:
                    lines.append(f"{entry[0]} {entry[1]}\t{path}")
            if lines:
                self.git(
                    "update-index",
                    "-z",
                    "--index-info",
                    input="".join(line + "\0" for line in lines).encode(),
                    env=env,
                )
            return self.text("write-tree", env=env)

    def write_commit(
        self,
        tree: str,
        parents: list[str],
        message: str,
        author: tuple[str, str] | None = None,
        committer: tuple[str, str] | None = None,
        authored: str | None = None,
    ) -> str:
        """A commit whose committer is its author unless said otherwise, at one time: what
        GitHub's Git Data API and GitLab's commits API make when no committer is given, and
        what a person's own commit is. `authored`: an older author date (an amend keeps it)."""
        env = {}
        if author:
            committer = committer or author
            env = {"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1]}
        if committer:
            env |= {"GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1]}
        if authored:
            env["GIT_AUTHOR_DATE"] = authored
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.text_in(*args, input=message.encode(), env=env)

    def commit(
        self,
        parent: str | None,
        files: Mapping[str, bytes | None],
        message: str,
        author: tuple[str, str] | None = None,
    ) -> str:
        """One commit on `parent` that changes `files` (None deletes)."""
        changes: dict[str, tuple[str, str] | None] = {}
        for path, content in files.items():
            changes[path] = None if content is None else ("100644", self.write_blob(content))
        base_tree = self.commit_info(parent)["tree"] if parent else None
        tree = self.build_tree(base_tree, changes)
        return self.write_commit(tree, [parent] if parent else [], message, author)

    def merge(self, base: str, head: str, message: str) -> str | None:
        """A merge commit of head into base, or None on conflict."""
        try:
            tree = self.text("merge-tree", "--write-tree", base, head)
        except GitError:
            return None
        return self.write_commit(tree.splitlines()[0], [base, head], message)

    def archive(self, sha: str, prefix: str, fmt: str = "tar.gz") -> bytes:
        return self.git("archive", f"--format={fmt}", f"--prefix={prefix}", sha)

    def changed_paths(self, old: str | None, new: str) -> tuple[list[str], list[str], list[str]]:
        """(added, removed, modified) between two commits, for push webhooks."""
        if old is None:
            return [e[3] for e in self.tree_entries(new, recursive=True) if e[1] == "blob"], [], []
        added, removed, modified = [], [], []
        out = self.text("diff-tree", "-r", "--name-status", "--no-renames", old, new)
        for line in out.splitlines():
            status, path = line.split("\t", 1)
            {"A": added, "D": removed}.get(status, modified).append(path)
        return added, removed, modified
