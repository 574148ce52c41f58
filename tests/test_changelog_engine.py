"""The engine puts changelogs in the PRs it opens and supersedes: a rebuild asks nothing new,
and a finder that breaks never stops a promotion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.changelog.finder import Finder
from bot.changelog.hosts import Hosts, NotesRepo
from bot.changelog.store import FileStore
from bot.config import Config
from bot.engine import Engine
from bot.forges.base import Release
from bot.forges.local import LocalForge
from bot.planner import Promotion
from tests.conftest import MakeRepo, commit_all, git, local_engine

LINE = '        target: {file: "envs/{env}/api/values.yaml", field: "api.image.tag"}\n'


class Counting:
    """A local repository read for notes, counting every question asked of it."""

    def __init__(self, path: str, asked: list[str]) -> None:
        self.repo = LocalForge(path)
        self.asked = asked

    def tags(self) -> list[str]:
        self.asked.append("tags")
        return self.repo.tags()

    def releases(self, limit: int = 100) -> list[Release]:
        self.asked.append("releases")
        return []

    def read_file(self, ref: str, path: str) -> bytes | None:
        self.asked.append(f"read {path}")
        return self.repo.read_file(ref, path)

    def subjects(self, base: str, head: str, limit: int = 100) -> list[str]:
        self.asked.append(f"subjects {base}..{head}")
        return self.repo.subjects(base, head, limit)

    def compare_url(self, base: str, head: str) -> str | None:
        return None

    def tag_url(self, tag: str) -> str | None:
        return None


def app_repo(path: Path) -> None:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    sections = ""
    for version in ("1.3.0", "1.4.0", "1.4.2", "1.5.0"):
        sections = f"## [{version}]\n### Fixed\n- Things in {version}\n\n" + sections
        (path / "CHANGELOG.md").write_text("# Changelog\n\n" + sections)
        commit_all(path, f"Release {version}")
        git(path, "tag", f"v{version}")


def setup(make_repo: MakeRepo, tmp_path: Path) -> tuple[Path, LocalForge]:
    repo = make_repo("helm-values")
    app_repo(tmp_path / "api-app")
    config = repo / ".promobot.yaml"
    config.write_text(config.read_text().replace(LINE, LINE + "        changelog: ../api-app\n"))
    commit_all(repo, "api's notes are in api-app")
    return repo, LocalForge(repo)


def test_opened_and_rebuilt_prs_carry_the_changelog_and_a_rebuild_asks_nothing(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo, forge = setup(make_repo, tmp_path)
    asked: list[str] = []

    def opener(path: str) -> NotesRepo:
        return Counting(path, asked)

    store = FileStore(tmp_path / "store")
    engine = local_engine(forge)
    engine.changelogs = Finder(Hosts({}, local=opener, root=forge.root), store)
    engine.sync()
    pr = forge.find_pr("promobot/staging/api")
    assert pr is not None
    assert "**image** 1.3.0 → 1.4.2: 2 versions, newest first — CHANGELOG.md from " in pr.body
    assert "> - Things in 1.4.2" in pr.body and "> - Things in 1.4.0" in pr.body
    assert asked == ["tags", "releases", "read CHANGELOG.md"]
    asked.clear()
    again = local_engine(forge)  # another process, the same store
    again.changelogs = Finder(Hosts({}, local=opener, root=forge.root), store)
    state = again.state()
    (due,) = [p for p in again.due(state) if p.branch == "promobot/staging/api"]
    action = again.ensure(state, due, rebuild=True)  # /refresh
    assert action.outcome == "superseded" and asked == []
    rebuilt = forge.find_pr("promobot/staging/api")
    assert rebuilt is not None and "> - Things in 1.4.2" in rebuilt.body
    bump = repo / "envs/dev/api/values.yaml"
    bump.write_text(bump.read_text().replace('"1.4.2"', '"1.5.0"'))
    commit_all(repo, "dev: api 1.5.0")
    again.sync()  # superseded by 1.5.0: only what is new is asked
    assert asked == ["tags", "releases", "read CHANGELOG.md"]
    newer = forge.find_pr("promobot/staging/api")
    assert newer is not None and "<summary>1.5.0</summary>" in newer.body


def test_a_finder_that_breaks_never_stops_a_promotion(make_repo: MakeRepo, tmp_path: Path) -> None:
    _, forge = setup(make_repo, tmp_path)
    engine: Engine = local_engine(forge)

    def broken(config: Config, promotion: Promotion) -> Any:
        raise RuntimeError("a bug")

    engine.changelogs = broken
    assert ("opened", "promobot/staging/api") in [(a.outcome, a.branch) for a in engine.sync()]
    pr = forge.find_pr("promobot/staging/api")
    assert pr is not None and "**image**" not in pr.body


def test_promobot_promote_shows_the_changelog(make_repo: MakeRepo, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli import main

    repo, _ = setup(make_repo, tmp_path)
    result = CliRunner().invoke(main, ["promote", "api", "--to", "staging", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    assert "    1.4.2\n      ### Fixed\n      - Things in 1.4.2\n" in result.output
    # the repo is named as the setting names it: no path of this machine goes into a PR
    assert "2 versions, newest first, CHANGELOG.md from ../api-app" in result.output
    assert str(tmp_path) not in result.output.split("Created branch")[-1].split("\n", 1)[1]
