from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ForgeError
from bot.forges.local import LocalForge
from tests.conftest import MakeRepo, git

FILES = {
    "a.yaml": "a: 1\n",
    "dir/b.yaml": "b: 2\n",
    "dir/sub/c.yaml": "c: 3\n",
    "run.sh": "#!/bin/sh\necho hi\n",
}


def test_snapshot_lists_files_and_folders_and_reads_contents(make_repo: MakeRepo) -> None:
    repo = make_repo(files=FILES)
    snapshot = LocalForge(repo).snapshot(prefetch=["a.yaml"])
    assert snapshot.commit == git(repo, "rev-parse", "HEAD")
    assert {"a.yaml", "dir", "dir/b.yaml", "dir/sub", "dir/sub/c.yaml"} <= set(snapshot.objects)
    assert snapshot.trees == {"dir", "dir/sub"}
    assert snapshot.files["a.yaml"] == b"a: 1\n"
    assert snapshot.files["dir/sub/c.yaml"] == b"c: 3\n"  # read on demand
    assert snapshot.files.get("missing.yaml") is None
    assert snapshot.blobs_under("dir") == {
        "b.yaml": snapshot.objects["dir/b.yaml"],
        "sub/c.yaml": snapshot.objects["dir/sub/c.yaml"],
    }


def test_commit_files_makes_one_commit_and_leaves_the_checkout_alone(make_repo: MakeRepo) -> None:
    repo = make_repo(files=FILES)
    (repo / "a.yaml").write_text("a: local edit\n")  # uncommitted work must survive
    git(repo, "update-index", "--chmod=+x", "run.sh")
    git(repo, "commit", "-q", "-m", "executable")
    forge = LocalForge(repo)
    base = forge.resolve()
    changes = {
        "a.yaml": b"a: 2\n",
        "dir/new.yaml": b"n: 1\n",
        "dir/b.yaml": None,
        "run.sh": b"#!/bin/sh\n",
    }
    commit = forge.commit_files("promobot/prod/api", base, changes, "Promote api to prod")
    assert git(repo, "rev-list", "--count", f"{base}..promobot/prod/api") == "1"
    assert git(repo, "rev-parse", "promobot/prod/api") == commit
    assert (
        git(repo, "log", "-1", "--format=%an <%ae>|%s", commit)
        == "promobot <promobot@localhost>|Promote api to prod"
    )
    assert git(repo, "show", f"{commit}:a.yaml") == "a: 2"
    assert git(repo, "show", f"{commit}:dir/new.yaml") == "n: 1"
    assert "dir/b.yaml" not in git(repo, "ls-tree", "-r", "--name-only", commit)
    assert git(repo, "ls-tree", commit, "run.sh").split()[0] == "100755"  # the mode is kept
    assert (repo / "a.yaml").read_text() == "a: local edit\n"
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(repo, "rev-parse", "HEAD") == base


def test_commit_files_resets_an_existing_branch_to_one_new_commit(make_repo: MakeRepo) -> None:
    repo = make_repo(files=FILES)
    forge = LocalForge(repo)
    base = forge.resolve()
    first = forge.commit_files("promobot/prod/api", base, {"a.yaml": b"a: 2\n"}, "first")
    second = forge.commit_files(
        "promobot/prod/api", base, {"a.yaml": b"a: 3\n"}, "second", over=first
    )
    assert git(repo, "rev-list", "--count", f"{base}..promobot/prod/api") == "1"
    assert git(repo, "show", f"{second}:a.yaml") == "a: 3"


def test_errors_are_one_line(tmp_path: Path, make_repo: MakeRepo) -> None:
    with pytest.raises(ForgeError, match="is not a git repository"):
        LocalForge(tmp_path)
    with pytest.raises(ForgeError, match="no such directory"):
        LocalForge(tmp_path / "nope")
    forge = LocalForge(make_repo(files=FILES))
    with pytest.raises(ForgeError, match="'nosuchbranch' is not a commit"):
        forge.resolve("nosuchbranch")


def test_a_symbolic_link_is_listed_and_never_replaced(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(files=FILES)
    (repo / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a link")
    forge = LocalForge(repo)
    assert forge.snapshot().links == {"link.yaml"}
    base = forge.resolve()
    with pytest.raises(ForgeError, match=r"^link.yaml is a symbolic link in [0-9a-f]{12}; not"):
        forge.commit_files("promobot/prod/api", base, {"link.yaml": b"x: 1\n"}, "Promote")
    assert forge.head("promobot/prod/api") is None


def test_write_worktree_refuses_links_and_paths_outside_before_writing_anything(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(files=FILES)
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "linked").symlink_to(outside, target_is_directory=True)  # only in the working tree
    (repo / "dir" / "b.yaml").unlink()
    (repo / "dir" / "b.yaml").symlink_to(outside / "b.yaml")
    forge = LocalForge(repo)
    for path, message in [
        ("linked/values.yaml", "linked/values.yaml: linked is a symbolic link in the checkout"),
        ("dir/b.yaml", "dir/b.yaml is a symbolic link in the checkout"),
        ("../escape.yaml", "not a path inside"),
        (".git/config", "not a path inside"),
    ]:
        with pytest.raises(ForgeError, match=message):
            forge.write_worktree({"a.yaml": b"a: 2\n", path: b"pwned: true\n"})
    assert list(outside.iterdir()) == []
    assert (repo / "a.yaml").read_text() == "a: 1\n"  # nothing was written
    forge.write_worktree({"a.yaml": b"a: 2\n", "dir/new/c.yaml": b"c: 1\n"})
    assert (repo / "a.yaml").read_text() == "a: 2\n"
    assert (repo / "dir" / "new" / "c.yaml").read_text() == "c: 1\n"
