from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

SIGNING_KEY = (
    "promobot-test-signing-key-0123456789"  # PROMOBOT_SIGNING_KEY of the services the tests start
)
EXAMPLES = Path(__file__).resolve().parent.parent / "config" / "examples"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}


def git(repo: Path, *args: str, env: Mapping[str, str] = {}) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV, **env},
    )
    return done.stdout.strip()


def commit_all(repo: Path, message: str, when: str | None = None) -> str:
    env = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when} if when else {}
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, env=env)
    return git(repo, "rev-parse", "HEAD")


MakeRepo = Callable[..., Path]


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    """A git repository from an example folder and/or files, with one commit on main."""

    def make(example: str | None = None, files: Mapping[str, str] = {}) -> Path:
        repo = tmp_path / (example or "repo")
        if example:
            shutil.copytree(EXAMPLES / example, repo)
        repo.mkdir(exist_ok=True)
        for path, text in files.items():
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_text(text)
        git(repo, "init", "-q", "-b", "main")
        commit_all(repo, "Initial environments", "2026-01-05T10:00:00Z")
        return repo

    return make


def local_engine(forge: Any) -> Any:
    """The engine a checkout's promobot runs: signing with the key kept in its git directory."""
    from bot import signing
    from bot.engine import Engine

    return Engine(forge, signing.local(forge.key_path))


def taken(service: Any) -> list[tuple[str, str]]:
    """Run the intake on the deliveries waiting in a service's queue, as a worker would: what
    became of each (`queued`, `ignored`, `duplicate`, `malformed`, with the detail). The event
    jobs it queues stay in the queue."""
    import json

    tasks = []
    while (task := service.queue.huey.dequeue()) is not None:
        tasks.append(task)
    outcomes: list[tuple[str, str]] = []
    for task in tasks:
        job = json.loads(task.args[0])
        if job["kind"] == "delivery":
            outcomes += service.intake.take(job)
        else:  # other work waiting (a timer for later, say): left for the workers, as it was
            service.queue.huey.enqueue(task)
    return outcomes


@pytest.fixture(autouse=True)
def fresh_budgets() -> None:
    """Each test starts with forges whose rate limit nobody has reported yet (the budgets are
    per process, and simulators of earlier tests spent theirs)."""
    from bot import budget

    budget.BUDGETS.clear()


@pytest.fixture(autouse=True)
def patient_changelogs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PR body waits at most `changelog.BUDGET` (5 s) for its changelogs, then goes without
    them; on a loaded machine a few lookups on the simulators can take that long. Tests wait
    for what they look up (a Finder returns as soon as its lookups are done): only the tests
    of the budget give one."""
    from bot.changelog.finder import Finder

    monkeypatch.setitem(Finder.__init__.__kwdefaults__, "budget", 600.0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On pytest-xdist workers (`--dist worksteal`), each worker is first sent an equal,
    contiguous share of the collection. The tests marked `slow` (a minute or so each) go to the
    heads of those shares, one share after the other, so that no worker starts one of them last
    and keeps the whole run waiting. Every worker computes the same order, as xdist requires."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    slow = [item for item in items if item.get_closest_marker("slow")]
    if workers < 2 or not slow:
        return
    rest = [item for item in items if not item.get_closest_marker("slow")]
    ordered: list[pytest.Item] = []
    for share in range(workers):  # the sizes worksteal gives: what is left // workers left
        size = (len(items) - len(ordered)) // (workers - share)
        heads = slow[share::workers]
        ordered += heads + rest[: size - len(heads)]
        del rest[: size - len(heads)]
    items[:] = ordered + rest
