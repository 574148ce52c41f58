"""Paths: what promobot reads and writes stays inside the environment repo.

Each test plays one attacker: a config author who writes `.promobot.yaml`, or a pusher who
commits files (symbolic links) to the environment repo, and shows that nothing outside the
repository is read or written and that the refusal is one clear line.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import engine, planner
from bot.cli import main
from bot.engine import Engine
from bot.errors import PlanError
from bot.forges.base import Forge
from bot.forges.local import LocalForge
from bot.forges.retry import Policy
from bot.signing import Signer
from tests.conftest import SIGNING_KEY, MakeRepo, commit_all, git
from tests.forgesim import Server

SIGNER = Signer(SIGNING_KEY.encode(), "acme/env-repo")
REPO = "acme/env-repo"
TOKEN = "promobot-token"
FAST = Policy(attempts=3, backoff_base=0.01, backoff_max=0.05, rate_limit_max_wait=5)
CONFIG = """\
version: 1
environments:
  dev: {}
  prod: {from: dev}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: "envs/{env}/values.yaml", field: image.tag}
      settings:
        target: {copy: "envs/{env}/settings.yml"}
"""
FILES = {
    ".promobot.yaml": CONFIG,
    "envs/dev/values.yaml": "image:\n  tag: 1.1.0\n",
    "envs/prod/values.yaml": "image:\n  tag: 1.0.0\n",
    "envs/dev/settings.yml": "level: debug\n",
    "envs/prod/settings.yml": "level: info\n",
}
VICTIM = "victim: untouched\n"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def victim(tmp_path: Path) -> Path:
    """A file outside every repository, which no promotion may touch."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    file = outside / "settings.yml"
    file.write_text(VICTIM)
    return file


def link(repo: Path, path: str, to: Path) -> None:
    (repo / path).unlink(missing_ok=True)
    if (repo / path).is_dir():
        shutil.rmtree(repo / path)
    (repo / path).symlink_to(to)
    commit_all(repo, f"{path} points elsewhere")


# --- the config author --------------------------------------------------------------------


def test_a_format_spec_cannot_turn_a_path_absolute(make_repo: MakeRepo) -> None:
    """Config author: `{env:/>4}` pads the environment `tmp` into `/tmp`, an absolute path that
    `validate` let through and `promote --write` wrote to."""
    padded = "{env:/>4}".format(env="tmp")  # where the attack's path begins: the root's tmp
    target = Path(padded) / f"promobot-attack-{uuid.uuid4().hex}"
    config = CONFIG.replace("dev: {}", "tmp: {}").replace("from: dev", "from: tmp")
    config = config.replace('"envs/{env}/settings.yml"', f'"{{env:/>4}}/{target.name}/x.txt"')
    repo = make_repo(files={**FILES, ".promobot.yaml": config})
    try:
        code, out = run("validate", "--repo", str(repo))
        assert code == 2
        assert out.startswith(
            f"error: {repo / '.promobot.yaml'}:12:24: apps.api.components.settings.target.copy:"
            f" bad placeholder {{env:/>4}} in '{{env:/>4}}/{target.name}/x.txt': it has a "
            "format spec; write a bare name like {env}"
        ), out
        code, out = run("promote", "api", "--to", "prod", "--write", "--repo", str(repo))
        assert code == 2 and "bad placeholder {env:/>4}" in out
        assert not target.exists()
    finally:
        shutil.rmtree(target, ignore_errors=True)


def test_a_path_that_reaches_into_dot_git_once_names_are_put_in_is_refused(
    make_repo: MakeRepo,
) -> None:
    """Config author: `envs/.{env}/config` looks harmless until an environment is called
    `git`; a promotion would then rewrite the repository's own `.git/config`."""
    config = CONFIG.replace("prod: {from: dev}", "git: {from: dev}").replace(
        '"envs/{env}/settings.yml"', '".{env}/config"'
    )
    repo = make_repo(files={**FILES, ".promobot.yaml": config})
    before = (repo / ".git" / "config").read_text()
    code, out = run("validate", "--repo", str(repo))
    assert code == 2
    assert out.strip() == (
        f"error: {repo / '.promobot.yaml'}:12:24: path '.{{env}}/config' is '.git/config' for "
        "git, which reaches into .git; write a relative path inside the repository, like "
        "'envs/{env}/values.yaml'"
    )
    code, out = run("promote", "api", "--to", "git", "--write", "--repo", str(repo))
    assert code == 2
    assert (repo / ".git" / "config").read_text() == before


# --- the pusher, on a checkout (the local forge and `--write`) ---------------------------------


def test_a_committed_symlink_is_not_written_through_by_promote_write(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    """Pusher: commits `envs/prod/settings.yml -> /somewhere/else`; `promote --write` then
    overwrote the file outside the repo, and branch mode made a link whose target was the
    promoted content."""
    repo = make_repo(files=FILES)
    outside = victim(tmp_path)
    link(repo, "envs/prod/settings.yml", outside)
    code, out = run("promote", "api", "--to", "prod", "--write", "--repo", str(repo))
    assert code == 1
    assert out.strip() == (
        "error: cannot promote api to prod: api in prod cannot be read: settings: "
        "envs/prod/settings.yml is a symbolic link; promobot neither follows links (they may "
        "point outside the repository) nor replaces them, so make it a regular file or folder"
    )
    code, out = run("promote", "api", "--to", "prod", "--repo", str(repo))
    assert code == 1 and "envs/prod/settings.yml is a symbolic link" in out
    assert git(repo, "branch", "--list", "promobot/*") == ""
    assert outside.read_text() == VICTIM
    assert (repo / "envs/prod/values.yaml").read_text() == "image:\n  tag: 1.0.0\n"  # no half
    # What the link does not touch is still promoted.
    code, out = run("promote", "api", "--to", "prod", "--only", "image", "--write", "--repo", str(repo))  # fmt: skip
    assert code == 0 and "image 1.0.0 → 1.1.0" in out
    assert outside.read_text() == VICTIM


def test_a_committed_link_to_a_folder_is_not_written_through(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    """Pusher: replaces `envs/prod` by a link to a folder outside the repo; `set --write` and
    `promote --write` would write `values.yaml` there."""
    repo = make_repo(files=FILES)
    outside = victim(tmp_path)
    (outside.parent / "values.yaml").write_text(VICTIM)
    shutil.rmtree(repo / "envs/prod")
    link(repo, "envs/prod", outside.parent)
    for command in (
        ["promote", "api", "--to", "prod", "--write"],
        ["set", "api", "image", "6.6.6", "--env", "prod", "--write"],
    ):
        code, out = run(*command, "--repo", str(repo))
        assert code == 1
        assert "envs/prod/values.yaml: envs/prod is a symbolic link" in out, out
    assert sorted(p.read_text() for p in outside.parent.iterdir()) == [VICTIM, VICTIM]


def test_a_link_only_in_the_working_tree_is_not_written_through(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    """Pusher: a link that is not in the commit promobot reads (checked out from another
    branch, or left by a script) sits where `--write` writes: the real location is outside."""
    repo = make_repo(files=FILES)
    outside = victim(tmp_path)
    (repo / "envs/prod/values.yaml").unlink()
    (repo / "envs/prod/values.yaml").symlink_to(outside)  # not committed
    code, out = run("promote", "api", "--to", "prod", "--only", "image", "--write", "--repo", str(repo))  # fmt: skip
    assert code == 1
    assert out.strip() == (
        "error: envs/prod/values.yaml is a symbolic link in the checkout; promobot does not "
        "write through links, so nothing was written"
    )
    assert outside.read_text() == VICTIM


# --- the pusher, against GitHub and GitLab (the simulator) and the local forge -----------------


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server() as server:
        yield server


def remote_repo(kind: str, server: Server, links: dict[str, str]) -> Forge:
    """The env repo on the simulated forge, with `links` (path → target) committed by a pusher."""
    world = server.world
    world.repos.clear()
    world.add_user("promobot[bot]", bot=True, token=TOKEN)
    repo = world.add_repo(REPO, FILES)
    repo.permissions["promobot[bot]"] = "admin"
    bare = repo.git
    head = bare.resolve("refs/heads/main")
    assert head is not None
    changes: dict[str, tuple[str, str] | None] = {
        path: ("120000", bare.write_blob(target.encode())) for path, target in links.items()
    }
    for path in links:  # a link to a folder replaces the folder's files
        for name in bare.text("ls-tree", "-r", "--name-only", head, f"{path}/").splitlines():
            changes[name] = None
    tree = bare.build_tree(bare.commit_info(head)["tree"], changes)
    bare.set_ref("refs/heads/main", bare.write_commit(tree, [head], "links", ("mallory", "m@x")))
    if kind == "github":
        from bot.forges.github import GitHubForge

        return GitHubForge(REPO, token=TOKEN, base_url=server.github_url, policy=FAST, timeout=5)
    from bot.forges.gitlab import GitLabForge

    return GitLabForge(REPO, token=TOKEN, url=server.gitlab_url, policy=FAST, timeout=5)


def local_repo(make_repo: MakeRepo, links: dict[str, str]) -> LocalForge:
    repo = make_repo(files=FILES)
    for path, target in links.items():
        if (repo / path).is_dir():
            shutil.rmtree(repo / path)
        (repo / path).unlink(missing_ok=True)
        (repo / path).symlink_to(target)
    commit_all(repo, "links")
    return LocalForge(repo)


def on(
    kind: str, request: pytest.FixtureRequest, make_repo: MakeRepo, links: dict[str, str]
) -> tuple[Server | None, Forge]:
    if kind == "local":
        return None, local_repo(make_repo, links)
    server: Server = request.getfixturevalue("server")
    return server, remote_repo(kind, server, links)


def branch_entry(forge: Forge, server: Server | None, path: str) -> tuple[str, str]:
    """The mode and content of `path` on the promotion branch, as git stores them."""
    branch = "promobot/prod/api"

    def run_git(*args: str) -> str:
        if server is None:
            assert isinstance(forge, LocalForge)
            return git(forge.root, *args)
        return server.world.repos[REPO].git.text(*args)

    mode, _, oid = run_git("ls-tree", f"refs/heads/{branch}", "--", path).split("\t")[0].split()
    return mode, run_git("cat-file", "blob", oid)


@pytest.mark.parametrize("kind", ["github", "gitlab", "local"])
def test_the_service_neither_follows_nor_replaces_a_committed_symlink(
    kind: str, request: pytest.FixtureRequest, make_repo: MakeRepo, tmp_path: Path
) -> None:
    """Pusher: commits `envs/prod/settings.yml` as a link to a file outside the repo. The
    service never reads or writes through it: api's composition in prod cannot be read, so
    nothing is proposed there on its own and the link stays exactly as it was; an explicit
    promotion says why, and one that names only what the link does not touch is made."""
    outside = str(victim(tmp_path))
    links = {"envs/prod/settings.yml": outside}
    server, forge = on(kind, request, make_repo, links)
    assert Engine(forge, SIGNER).sync() == []
    state = engine.read_state(forge, forge.default_branch())
    assert planner.held_back(state.config, state.status) == [
        "api in prod cannot be read: settings: envs/prod/settings.yml is a symbolic link; "
        "promobot neither follows links (they may point outside the repository) nor replaces "
        "them, so make it a regular file or folder"
    ]
    with pytest.raises(PlanError, match=r"envs/prod/settings\.yml is a symbolic link"):
        planner.plan(state.config, state.status, env="prod", explicit=True)
    (image,) = planner.plan(state.config, state.status, env="prod", only=["image"], explicit=True)
    Engine(forge, SIGNER).ensure(state, image)
    pr = forge.find_pr("promobot/prod/api")
    assert pr is not None and "settings" not in pr.title and "image 1.0.0 → 1.1.0" in pr.title
    assert branch_entry(forge, server, "envs/prod/settings.yml") == ("120000", outside)
    assert branch_entry(forge, server, "envs/prod/values.yaml")[1] == "image:\n  tag: 1.1.0"
    assert Path(outside).read_text() == VICTIM


@pytest.mark.parametrize("kind", ["github", "gitlab", "local"])
def test_the_service_reads_no_version_through_a_link_to_a_folder(
    kind: str, request: pytest.FixtureRequest, make_repo: MakeRepo, tmp_path: Path
) -> None:
    """Pusher: replaces `envs/prod` by a link to a folder outside the repo, whose files would
    be read as prod's versions and written by its promotions. Nothing is planned for prod, the
    status says why, and no sync is stalled by it."""
    outside = victim(tmp_path).parent
    (outside / "values.yaml").write_text("image:\n  tag: 0.0.1\n")
    links = {"envs/prod": str(outside)}
    _, forge = on(kind, request, make_repo, links)
    assert Engine(forge, SIGNER).sync() == []
    state = engine.read_state(forge, forge.default_branch())
    prod = state.status.get("api", "prod")
    assert prod is not None and prod.components == {}
    assert prod.problems[0].startswith("image: envs/prod/values.yaml: envs/prod is a symbolic")
    assert (outside / "values.yaml").read_text() == "image:\n  tag: 0.0.1\n"
