"""`batch:` and `propose: commit`: fewer PRs and fewer writes, on a real git repo (local forge)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from bot import config, planner, render
from bot.composition import status
from bot.engine import Engine
from bot.errors import ConfigError, Moved
from bot.forges.local import LocalForge
from bot.queue import Queue
from bot.settings import Settings
from tests import redis_server
from tests.conftest import MakeRepo, commit_all, git, local_engine

APPS = ("api", "web", "worker")
REDIS = redis_server.url(13)


def repo_files(envs: str, versions: dict[str, dict[str, str]]) -> dict[str, str]:
    files = {".promobot.yaml": CONFIG_HEAD + envs + APPS_YAML}
    for env, by_app in versions.items():
        for app, tag in by_app.items():
            files[f"envs/{env}/{app}.yaml"] = f"image:\n  tag: {tag}\n"
    return files


CONFIG_HEAD = "version: 1\nenvironments:\n"
APPS_YAML = "apps:\n" + "".join(
    f"  {app}:\n    components:\n      image:\n"
    f"        source: {{image: ghcr.io/acme/{app}}}\n"
    f'        target: {{file: "envs/{{env}}/{app}.yaml", field: image.tag}}\n'
    for app in APPS
)
BATCHED = """\
  dev: {propose: commit}
  staging: {from: dev, batch: 1h}
"""


def window_of(tmp_path: Path) -> Queue:
    """The service's store of windows: the SQLite queue a single process uses."""
    return Queue(Settings(data_dir=tmp_path / "queue"), "acme/env", lambda job: None)


def engine_for(forge: LocalForge, queue: Queue, clock: list[float] | None = None) -> Engine:
    """The engine of the service, its windows in `queue`; on the clock `clock[0]` if given (a
    window of seconds then ends when the test says, however long the syncs take)."""
    engine: Engine = local_engine(forge)
    if clock is None:
        engine.window = queue.window
    else:
        engine.window = lambda key, seconds: queue.window(key, seconds, clock[0])
    return engine


# --- configuration -------------------------------------------------------------------------------


def test_propose_commit_refuses_gates_with_the_line_that_asks_for_them() -> None:
    text = CONFIG_HEAD + "  dev:\n    propose: commit\n    gates: {approvals: 1}\n" + APPS_YAML
    with pytest.raises(ConfigError) as error:
        config.load(text)
    (problem,) = error.value.problems
    assert (problem.line, problem.column) == (4, 14)  # the value `commit`
    assert "propose: commit writes to the default branch with no PR" in problem.message


def test_a_batch_window_longer_than_a_day_or_on_a_manual_environment_is_refused() -> None:
    with pytest.raises(ConfigError, match=r":3:\d+: batch: 2d is longer than a day"):
        config.load(CONFIG_HEAD + "  dev: {batch: 2d}\n" + APPS_YAML)
    with pytest.raises(ConfigError, match=r":3:\d+: batch: gathers automatic promotions"):
        config.load(CONFIG_HEAD + "  dev: {propose: manual, batch: 10m}\n" + APPS_YAML)
    cfg = config.load(CONFIG_HEAD + BATCHED + APPS_YAML)
    assert cfg.environments["staging"].batch_window is not None
    assert cfg.environments["staging"].batch_window.total_seconds() == 3600


# --- planning ------------------------------------------------------------------------------------


def test_batch_gathers_an_environments_promotions_but_leaves_open_prs_alone(
    make_repo: MakeRepo,
) -> None:
    files = repo_files(
        BATCHED + "  prod: {from: staging}\n",
        {
            "dev": dict.fromkeys(APPS, "2.0.0"),
            "staging": dict.fromkeys(APPS, "1.0.0"),
            "prod": dict.fromkeys(APPS, "0.9.0"),
        },
    )
    forge = LocalForge(make_repo(files=files))
    snapshot = forge.snapshot("HEAD")
    cfg = config.load(snapshot.files[".promobot.yaml"].decode())
    due = planner.plan(cfg, status(cfg, snapshot, list(cfg.apps)))
    assert [(p.env, p.name) for p in due] == [("staging", a) for a in APPS] + [
        ("prod", a) for a in APPS
    ]
    gathered = planner.batch(cfg, due, alone={"promobot/staging/web"})
    names = [(p.env, p.name) for p in gathered]
    # web has its own open PR (a /promote): it stays there; prod is not batched
    assert names == [("staging", "web"), *[("prod", a) for a in APPS], ("staging", "_batch")]
    batch = gathered[-1]
    assert batch.branch == "promobot/staging/_batch" and batch.display == "2 apps"
    assert [plan.app for plan in batch.apps] == ["api", "worker"]
    assert [edit.file for edit in batch.edits] == [
        "envs/staging/api.yaml",
        "envs/staging/worker.yaml",
    ]
    assert (
        render.title(batch)
        == "Promote 2 apps to staging: api image 1.0.0 → 2.0.0, worker image 1.0.0 → 2.0.0"
    )


# --- batched PRs -----------------------------------------------------------------------------------


def test_a_batched_environment_gets_one_pr_rewritten_at_most_once_per_window(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    envs = "  dev: {}\n  staging: {from: dev, batch: 2s}\n"
    files = repo_files(
        envs,
        {
            "dev": {"api": "2.0.0", "web": "1.0.0", "worker": "1.0.0"},
            "staging": dict.fromkeys(APPS, "1.0.0"),
        },
    )
    repo = make_repo(files=files)
    forge = LocalForge(repo)
    queue = window_of(tmp_path)
    clock = [time.time()]

    actions = engine_for(forge, queue, clock).sync()
    assert [(a.outcome, a.branch) for a in actions] == [("opened", "promobot/staging/_batch")]
    pr = forge.find_pr("promobot/staging/_batch")
    assert pr is not None and set(pr.labels) == {"promotion", "env:staging", "batch"}
    assert pr.title == "Promote 1 app to staging: api image 1.0.0 → 2.0.0"

    # two more versions arrive in dev within the window: nothing is written, the sync says when
    for app in ("web", "worker"):
        (repo / f"envs/dev/{app}.yaml").write_text("image:\n  tag: 2.0.0\n")
        commit_all(repo, f"dev: {app} 2.0.0")
        (action,) = engine_for(forge, queue, clock).sync()
        assert action.outcome == "deferred" and action.number == pr.number
        assert 0 < action.wait <= 2
    unchanged = forge.find_pr("promobot/staging/_batch")
    assert unchanged is not None and unchanged.head_sha == pr.head_sha

    clock[0] += action.wait + 0.1
    (action,) = engine_for(forge, queue, clock).sync()
    assert (action.outcome, action.number) == ("superseded", pr.number)
    after = forge.find_pr("promobot/staging/_batch")
    assert after is not None
    assert after.title.startswith("Promote 3 apps to staging: api image 1.0.0 → 2.0.0, web image")
    for app in APPS:
        assert f"### {app}" in after.body
        assert (
            git(repo, "show", f"{after.head_sha}:envs/staging/{app}.yaml") == "image:\n  tag: 2.0.0"
        )
    assert git(repo, "rev-list", "--count", f"main..{after.head_sha}") == "1"


def test_promote_still_opens_its_own_pr_in_a_batched_environment(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    envs = "  dev: {}\n  staging: {from: dev, batch: 1h}\n"
    files = repo_files(
        envs, {"dev": dict.fromkeys(APPS, "2.0.0"), "staging": dict.fromkeys(APPS, "1.0.0")}
    )
    forge = LocalForge(make_repo(files=files))
    engine = engine_for(forge, window_of(tmp_path))
    state = engine.state()
    (explicit,) = planner.plan(
        state.config, state.status, env="staging", apps=["web"], explicit=True
    )
    assert engine.ensure(state, explicit.asked_by("alice")).outcome == "opened"
    actions = engine_for(forge, window_of(tmp_path)).sync()
    assert sorted((a.outcome, a.branch) for a in actions) == [
        ("opened", "promobot/staging/_batch"),
        ("unchanged", "promobot/staging/web"),
    ]
    batch = forge.find_pr("promobot/staging/_batch")
    assert batch is not None and "### web" not in batch.body and "### worker" in batch.body


# --- direct commits --------------------------------------------------------------------------------


def test_propose_commit_writes_the_promotion_to_main_with_its_table_in_the_message(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    envs = "  dev: {propose: commit}\n  qa: {from: dev, propose: commit}\n  staging: {from: qa}\n"
    files = repo_files(envs, {e: dict.fromkeys(APPS, "1.0.0") for e in ("dev", "qa", "staging")})
    repo = make_repo(files=files)
    forge = LocalForge(repo)
    before = git(repo, "rev-parse", "main")

    actions = engine_for(forge, window_of(tmp_path)).sync(
        [("image:ghcr.io/acme/api", "1.1.0", None), ("image:ghcr.io/acme/web", "1.1.0", None)]
    )
    assert [(a.outcome, a.branch) for a in actions] == [
        ("committed", "promobot/dev/api"),
        ("committed", "promobot/dev/web"),
    ]
    main = git(repo, "rev-parse", "main")
    assert actions[0].detail == main and git(repo, "rev-parse", "main^") == before
    assert (repo / "envs/dev/api.yaml").read_text() == "image:\n  tag: 1.1.0\n"  # checkout follows
    assert git(repo, "status", "--porcelain") == ""
    message = git(repo, "log", "-1", "--format=%B", "main")
    assert message.startswith("Promote api to dev, web to dev\n\n")
    assert (
        "| image | [ghcr.io/acme/api](https://ghcr.io/acme/api) | 1.0.0 | **1.1.0** | 1.1.0 | 1.0.0 → 1.1.0 |"
        in message
    )
    assert message.endswith("Promoted-by: promobot")
    assert forge.list_prs() == []

    # the next pass takes qa from dev (a second commit); staging gets a PR
    actions = engine_for(forge, window_of(tmp_path)).sync()
    assert [(a.outcome, a.branch) for a in actions] == [
        ("committed", "promobot/qa/api"),
        ("committed", "promobot/qa/web"),
    ]
    actions = engine_for(forge, window_of(tmp_path)).sync()
    assert [(a.outcome, a.branch) for a in actions] == [
        ("opened", "promobot/staging/api"),
        ("opened", "promobot/staging/web"),
    ]


@pytest.mark.parametrize("checkout", ["main", "detached"])
def test_a_direct_commit_never_overwrites_a_branch_that_moved(
    checkout: str, make_repo: MakeRepo
) -> None:
    files = repo_files("  dev: {propose: commit}\n", {"dev": dict.fromkeys(APPS, "1.0.0")})
    repo = make_repo(files=files)
    forge = LocalForge(repo)
    change = {"envs/dev/api.yaml": b"image:\n  tag: 9.9.9\n"}
    base = git(repo, "rev-parse", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "a person's commit")
    if checkout == "detached":  # main is not checked out: its ref moves only if still at base
        git(repo, "checkout", "-q", "--detach", "main~1")
    moved = git(repo, "rev-parse", "main")
    with pytest.raises(Moved, match="main moved since"):
        forge.commit_on_default(base, change, "promote")
    assert git(repo, "rev-parse", "main") == moved
    sha = forge.commit_on_default(moved, change, "promote")
    assert git(repo, "rev-parse", "main") == sha and git(repo, "rev-parse", "main^") == moved
    assert git(repo, "show", "main:envs/dev/api.yaml") == "image:\n  tag: 9.9.9"
    if checkout == "main":
        assert (repo / "envs/dev/api.yaml").read_text() == "image:\n  tag: 9.9.9\n"


# --- the windows' store ----------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_a_window_lets_one_write_through_then_says_how_long_to_wait(
    store: str, tmp_path: Path
) -> None:
    url = REDIS if store == "redis" else None
    settings = Settings(data_dir=tmp_path, queue_url=url)
    queue = Queue(settings, f"acme/{uuid.uuid4().hex}", lambda job: None)
    now = time.time()  # the caller's clock, which moves when the test says
    assert queue.window("batch:staging", 1.0, now) == 0
    wait = queue.window("batch:staging", 1.0, now + 0.2)
    assert 0 < wait <= 1.0
    assert queue.window("batch:prod", 1.0, now + 0.2) == 0  # each environment has its own window
    assert queue.window("batch:staging", 1.0, now + 0.2 + wait + 0.05) == 0
