"""`LocalForge`: the checkout, and what a server would keep (pull requests, comments, reviews,
statuses) in `.git/promobot/forge.json`, read and written under a lock."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

from bot.errors import Conflict, ForgeError, MergeRefused, NotFound
from bot.forges.base import (
    Check,
    Comment,
    Permission,
    PullRequest,
    Review,
    StatusState,
    quote_first_line,
)
from bot.forges.local.checkout import ME, Checkout
from bot.forges.local.git import BOT_IDENTITY


class LocalForge(Checkout):
    """A git checkout as a forge; `user` is who comments and reviews come from."""

    name = "local"

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
            return _comment(_comment_on(state, number, comment_id))

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
            comment = _comment_on(state, number, comment_id)
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
            merged = self.git.text(
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


def _comment_on(state: dict[str, Any], number: int, comment_id: int) -> dict[str, Any]:
    """A comment's record in the store, if it is on PR or issue `number`."""
    found: dict[str, Any] | None = state["comments"].get(str(comment_id))
    if found is None or found["number"] != number:
        raise NotFound(f"no comment {comment_id} on #{number}")
    return found
