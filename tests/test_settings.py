"""Service settings: where promobot keeps its state by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.service import Service
from bot.settings import Settings, load
from tests.conftest import MakeRepo, git


def test_serve_on_a_checkout_keeps_its_queue_outside_it(
    make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`promobot serve` in a checkout left an untracked `.promobot/` (the queue) inside it."""
    repo = make_repo("helm-values")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(repo)
    service = Service(load())  # as `promobot serve` with no settings
    service.sync()
    assert git(repo, "status", "--porcelain", "--ignored") == ""
    [data] = (tmp_path / "state" / "promobot").iterdir()
    assert data.name.startswith("helm-values-") and (data / "queue.db").is_file()
    assert service.settings.data_dir == data


def test_the_default_data_dir_is_one_per_deployment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    one, other = tmp_path / "a" / "env-repo", tmp_path / "b" / "env-repo"
    assert Settings(repo=str(one)).data_dir != Settings(repo=str(other)).data_dir
    assert Settings(repo=str(one)).data_dir == Settings(repo=f"{one}/../env-repo").data_dir
    hub = {"forge": "github", "github_token": "t", "signing_key": "k" * 32}
    github = Settings(repo="acme/env-repo", **hub).data_dir  # type: ignore[arg-type]
    assert github.parent == tmp_path / "promobot" and github.name.startswith("acme+env-repo-")
    ghe = Settings(repo="acme/env-repo", github_url="https://ghe.example.com/api/v3", **hub)  # type: ignore[arg-type]
    assert ghe.data_dir != github
    monkeypatch.delenv("XDG_STATE_HOME")
    assert Settings().data_dir.parent == Path.home() / ".local" / "state" / "promobot"


def test_a_data_dir_that_is_set_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMOBOT_DATA_DIR", str(tmp_path / "data"))
    assert load().data_dir == tmp_path / "data"
    monkeypatch.setenv("PROMOBOT_DATA_DIR", ".promobot")  # as before: relative to the folder
    assert load().data_dir == Path(".promobot")
