from __future__ import annotations

import hashlib
from pathlib import Path

from bot import composition, config
from bot.composition import Commit, Composition, Snapshot
from bot.engine import history, read_state
from bot.forges.local import LocalForge
from tests.conftest import MakeRepo, commit_all, git

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
        target: {copy: "envs/{env}/settings"}
"""


def test_composition_id_is_sha256_of_sorted_name_version_lines() -> None:
    components = {"image": "1.4.2", "chart": "2.3.0", "config": "v12"}
    expected = hashlib.sha256(b"chart=2.3.0\nconfig=v12\nimage=1.4.2").hexdigest()[:12]
    assert composition.composition_id(components) == expected
    assert Composition(components).id == expected
    assert composition.composition_id(dict(reversed(components.items()))) == expected


def test_reads_fields_and_copy_components_from_a_snapshot() -> None:
    cfg = config.load(CONFIG)
    snapshot = Snapshot(
        commit="c0ffee",
        objects={
            "envs/dev/values.yaml": "a" * 40,
            "envs/dev/settings": "1234567890ab" + "c" * 28,
            "envs/prod/values.yaml": "b" * 40,
        },
        files={
            "envs/dev/values.yaml": b"image:\n  tag: 1.10\n",
            "envs/prod/values.yaml": b"x: 1\n",
        },
        trees=frozenset({"envs/dev/settings"}),
    )
    status = composition.status(cfg, snapshot)
    dev = status.get("api", "dev")
    assert dev is not None
    assert dev.components == {"image": "1.10", "settings": "1234567890ab"}
    prod = status.get("api", "prod")
    assert prod is not None and prod.components == {}
    assert any("image" in p and "image.tag" in p for p in prod.problems), prod.problems
    assert any("envs/prod/settings: not in the repository" in p for p in prod.problems)
    assert status.to_json()["apps"]["api"]["dev"] == {
        "composition": dev.id,
        "components": {"image": "1.10", "settings": "1234567890ab"},
    }


def test_history_lists_each_change_of_composition_with_commit_time_and_author(
    make_repo: MakeRepo,
) -> None:
    files = {
        ".promobot.yaml": CONFIG,
        "envs/dev/values.yaml": "image:\n  tag: 1.0.0\n",
        "envs/dev/settings/a.yml": "a: 1\n",
        "envs/prod/values.yaml": "image:\n  tag: 1.0.0\n",
        "envs/prod/settings/a.yml": "a: 1\n",
    }
    repo = make_repo(files=files)
    (repo / "envs/prod/values.yaml").write_text("image:\n  tag: 1.1.0\n")
    commit_all(repo, "prod: image 1.1.0", "2026-01-06T09:00:00Z")
    (repo / "envs/dev/values.yaml").write_text("image:\n  tag: 9.9.9\n")
    commit_all(repo, "dev only", "2026-01-07T09:00:00Z")
    (repo / "envs/prod/settings/b.yml").write_text("b: 2\n")
    last = commit_all(repo, "prod: more settings", "2026-01-08T09:00:00Z")

    forge = LocalForge(repo)
    cfg = read_state(forge).config
    entries = history(forge, cfg, "api", "prod")
    assert [e.commit.subject for e in entries] == [
        "prod: more settings",
        "prod: image 1.1.0",
        "Initial environments",
    ]
    assert entries[0].commit.sha == last
    assert entries[0].commit.author == "Ada Lovelace"
    assert entries[1].commit.time.isoformat() == "2026-01-06T09:00:00+00:00"
    assert entries[1].composition.components["image"] == "1.1.0"
    assert entries[1].previous is not None
    assert entries[1].previous.components["image"] == "1.0.0"
    assert (
        entries[0].composition.components["settings"]
        != entries[1].composition.components["settings"]
    )


def test_history_entry_json() -> None:
    from datetime import UTC, datetime

    entry = composition.HistoryEntry(
        Commit("abc", datetime(2026, 1, 1, tzinfo=UTC), "ada", "s"), Composition({"image": "1"})
    )
    assert entry.to_json() == {
        "commit": "abc",
        "time": "2026-01-01T00:00:00+00:00",
        "author": "ada",
        "subject": "s",
        "composition": composition.composition_id({"image": "1"}),
        "components": {"image": "1"},
    }


def test_a_version_is_never_read_through_a_symbolic_link() -> None:
    cfg = config.load(CONFIG)
    snapshot = Snapshot(
        commit="c0ffee",
        objects={
            "envs/dev": "1" * 40,
            "envs/dev/values.yaml": "2" * 40,
            "envs/dev/settings": "3" * 40,
            "envs/dev/settings/to-etc": "4" * 40,
            "envs/prod": "5" * 40,  # a link to a folder: nothing under it is in the repo
        },
        files={"envs/dev/values.yaml": b"image:\n  tag: 1.0\n", "envs/prod": b"/etc"},
        trees=frozenset({"envs/dev", "envs/dev/settings"}),
        links=frozenset({"envs/dev/settings/to-etc", "envs/prod"}),
    )
    status = composition.status(cfg, snapshot)
    dev, prod = status.get("api", "dev"), status.get("api", "prod")
    assert dev is not None and prod is not None
    assert dev.components == {"image": "1.0"} and dev.linked == {"settings"}
    assert dev.problems == (
        "settings: envs/dev/settings: envs/dev/settings/to-etc is a symbolic link; promobot "
        "neither follows links (they may point outside the repository) nor replaces them, so "
        "make it a regular file or folder",
    )
    assert prod.components == {} and prod.linked == {"image", "settings"}
    assert prod.problems[0].startswith("image: envs/prod/values.yaml: envs/prod is a symbolic")


def test_a_snapshot_with_changes_reads_as_the_commit_that_would_hold_them(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "envs" / "dev").mkdir(parents=True)
    (repo / "envs" / "dev" / "values.yaml").write_text("image:\n  tag: 1.4.2\n")
    (repo / "envs" / "dev" / "old.yaml").write_text("gone: soon\n")
    commit_all(repo, "base")
    base = LocalForge(repo).snapshot("HEAD")
    changed = base.with_changes(
        {
            "envs/dev/values.yaml": b"image:\n  tag: 1.5.0\n",
            "envs/dev/old.yaml": None,
            "envs/qa/values.yaml": b"image:\n  tag: 1.5.0\n",
        }
    )
    assert changed.commit.startswith(base.commit + "+") and changed.commit != base.commit
    assert changed.files["envs/dev/values.yaml"] == b"image:\n  tag: 1.5.0\n"
    assert "envs/dev/old.yaml" not in changed.files and "envs/dev/old.yaml" not in changed.objects
    assert sorted(changed.blobs_under("envs")) == ["dev/values.yaml", "qa/values.yaml"]
    assert "envs/qa" in changed.trees
    # the ids are git's: committing the same change gives the same blob ids
    (repo / "envs" / "dev" / "values.yaml").write_text("image:\n  tag: 1.5.0\n")
    commit_all(repo, "the change")
    assert changed.objects["envs/dev/values.yaml"] == git(
        repo, "rev-parse", "HEAD:envs/dev/values.yaml"
    )
    assert base.with_changes({}) is base
