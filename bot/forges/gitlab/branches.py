"""Writing a branch on GitLab: a promotion branch is one call to the commits API with `actions`
and `start_sha`, which makes the branch with exactly one commit on the base (with `force`,
resets it to that: at once over a head promobot knows is its own, else only after reading the
head it replaces)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping

from bot.errors import ForgeError, Moved, Taken
from bot.forges.base import Mine
from bot.forges.gitlab.repository import Reads

log = logging.getLogger("promobot.forges.gitlab")


class Branches(Reads):
    """Promotion branches and commits on the default branch, through the commits API (which
    cannot compare-and-swap a branch: each method says what it does instead)."""

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
