"""Writing a branch on GitHub through the Git Data API: a multi-file change is one tree, one
commit and one ref update (and a blob for each file that is not UTF-8 text)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from urllib.parse import quote

from github.GitCommit import GitCommit
from github.GitRef import GitRef
from github.GitTree import GitTree
from github.InputGitTreeElement import InputGitTreeElement

from bot.errors import Conflict, Moved, Taken
from bot.forges.base import Mine
from bot.forges.github.repository import Reads


class Branches(Reads):
    """Promotion branches (one commit on a base) and commits on the default branch."""

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


def _utf8(content: bytes) -> str | None:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None
