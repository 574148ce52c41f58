"""The version cache: an unchanged file is parsed once across runs, a changed one is read again,
and a cache that is damaged or of the wrong shape is never believed."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot import composition, config, versioncache
from bot.cli import main
from bot.composition import Snapshot
from bot.forges.local import LocalForge
from bot.versioncache import VersionCache
from tests.conftest import MakeRepo, commit_all

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
      config:
        source: {git: acme/config}
        target: {file: "envs/{env}/values.yaml", field: config.ref}
      chart:
        source: {chart: api, repo: "oci://ghcr.io/acme/charts"}
        target: {file: "envs/{env}/chart.json", field: "dependencies[name=api].version"}
      settings:
        target: {copy: "envs/{env}/settings"}
"""
FILES = {
    ".promobot.yaml": CONFIG,
    "envs/dev/values.yaml": "image:\n  tag: 1.10\nconfig:\n  ref: v12\n",
    "envs/dev/chart.json": '{"dependencies": [{"name": "api", "version": "2.3.0"}]}',
    "envs/dev/settings/a.yml": "a: 1\n",
    "envs/prod/values.yaml": "image:\n  tag: 1.9\n",  # no config.ref: a problem, never cached
    "envs/prod/chart.json": '{"dependencies": [{"name": "api", "version": "2.2.0"}]}',
    "envs/prod/settings/a.yml": "a: 0\n",
}


def status_json(repo: Path) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["status", "--repo", str(repo), "--format", "json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def dev_image(repo: Path) -> str:
    image: str = status_json(repo)["apps"]["api"]["dev"]["components"]["image"]
    return image


def cache_file(repo: Path) -> Path:
    return repo / ".git" / "promobot" / "cache" / "versions"


def blob(repo: Path, path: str) -> str:
    return LocalForge(repo).snapshot().objects[path]


def read(cfg: config.Config, path: str, component: str = "image") -> str:
    target = cfg.target("api", component, path.split("/")[1]).field
    assert target is not None
    return target.reads


def test_cached_and_uncached_status_are_identical(make_repo: MakeRepo) -> None:
    repo = make_repo(files=FILES)
    forge = LocalForge(repo)
    snapshot = forge.snapshot()
    cfg = config.load(FILES[".promobot.yaml"])
    plain = composition.status(cfg, snapshot)
    memo: dict[tuple[str, str], str] = {}
    first = composition.status(cfg, forge.snapshot(), memo=memo)
    assert memo  # the versions read, and only those: the prod problem is not remembered
    assert len(memo) == 5
    assert composition.unread(cfg, forge.snapshot(), memo) == {"envs/prod/values.yaml"}
    second = composition.status(cfg, forge.snapshot(), memo=dict(memo))
    assert plain == first == second
    prod = second.get("api", "prod")
    assert prod is not None and any("config.ref" in p for p in prod.problems)

    uncached = status_json(repo)  # the first run writes the cache
    assert cache_file(repo).is_file()
    assert status_json(repo) == uncached  # the second reads it
    assert uncached == plain.to_json()


def test_an_unchanged_file_is_not_parsed_again_and_a_changed_one_is(make_repo: MakeRepo) -> None:
    repo = make_repo(files=FILES)
    status_json(repo)
    cfg = config.load(FILES[".promobot.yaml"])
    # What the cache says of a blob is what status shows: the file is not parsed again ...
    cache = VersionCache.of(repo / ".git" / "promobot")
    key = (blob(repo, "envs/dev/values.yaml"), read(cfg, "envs/dev/values.yaml"))
    assert cache.memo[key] == "1.10"
    cache.memo[key] = "from-the-cache"
    cache.memo[("f" * 40, "another read")] = "x"  # something new, so that it is written
    cache.save()
    assert dev_image(repo) == "from-the-cache"
    # ... until its content, so its blob id, changes
    (repo / "envs/dev/values.yaml").write_text("image:\n  tag: 1.11\nconfig:\n  ref: v12\n")
    commit_all(repo, "dev: image 1.11")
    assert dev_image(repo) == "1.11"
    new = (blob(repo, "envs/dev/values.yaml"), read(cfg, "envs/dev/values.yaml"))
    assert new != key and VersionCache.of(repo / ".git" / "promobot").memo[new] == "1.11"


def test_the_same_blob_read_with_another_selector_or_as_json_is_another_entry() -> None:
    cfg = config.load(FILES[".promobot.yaml"])
    oid = "a" * 40  # one content (JSON is YAML too) in two files
    content = (
        b'{"image": {"tag": "1.10"}, "config": {"ref": "v12"}, '
        b'"dependencies": [{"name": "api", "version": "2.3.0"}]}'
    )
    snapshot = Snapshot(
        commit="c0ffee",
        objects={"envs/dev/values.yaml": oid, "envs/dev/chart.json": oid},
        files={"envs/dev/values.yaml": content, "envs/dev/chart.json": content},
    )
    memo: dict[tuple[str, str], str] = {}
    dev = composition.status(cfg, snapshot, memo=memo).get("api", "dev")
    assert dev is not None
    assert dev.components["image"] == "1.10" and dev.components["config"] == "v12"
    assert dev.components["chart"] == "2.3.0"
    assert sorted(memo.values()) == ["1.10", "2.3.0", "v12"]
    assert {k[1] for k in memo} == {
        read(cfg, "envs/dev/values.yaml"),
        read(cfg, "envs/dev/values.yaml", "config"),
        read(cfg, "envs/dev/chart.json", "chart"),
    }


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],  # cut short
        lambda raw: raw.replace(b"1.10", b"6.66"),  # changed without its checksum
        lambda raw: b"not a cache at all",
        lambda raw: b"",
        lambda raw: raw.replace(b"promobot-versions 1 ", b"promobot-versions 999 "),
    ],
    ids=["truncated", "edited", "garbage", "empty", "other-format"],
)
def test_a_damaged_cache_is_ignored_and_replaced(make_repo: MakeRepo, damage: object) -> None:
    repo = make_repo(files=FILES)
    expected = status_json(repo)
    path = cache_file(repo)
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    assert VersionCache(path).memo == {}
    assert status_json(repo) == expected
    assert len(VersionCache(path).memo) == 5  # written anew


def write_checked(path: Path, data: object) -> None:
    """A cache file with a correct checksum around whatever `data` is."""
    body = json.dumps(data).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"promobot-versions 1 %s\n%s" % (hashlib.sha256(body).hexdigest().encode(), body)
    )


def test_entries_of_the_wrong_shape_are_ignored_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "versions"
    good = "b" * 40
    write_checked(
        path,
        {
            "reads": ["r0", 7],
            "blobs": {
                good: {"0": "1.0.0", "1": "bad read", "5": "no such read", "x": "bad index"},
                "c" * 40: {"0": 42},
                "../../etc": {"0": "not a blob id"},
                "d" * 40: ["not", "a", "mapping"],
            },
        },
    )
    assert VersionCache(path).memo == {(good, "r0"): "1.0.0"}
    for data in ([], {"reads": {}, "blobs": {}}, {"reads": [], "blobs": []}, "x"):
        write_checked(path, data)
        assert VersionCache(path).memo == {}


def test_the_cache_stays_bounded_and_keeps_what_the_run_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(versioncache, "MAX_ENTRIES", 4)
    path = tmp_path / "cache" / "versions"
    cache = VersionCache(path)
    blobs = [f"{i:040x}" for i in range(6)]
    for oid in blobs:
        cache.memo[(oid, "r")] = oid[-1]
    cache.save(used=[blobs[0]])  # the oldest entry, but this run used it
    kept = VersionCache(path).memo
    assert list(kept) == [(blobs[3], "r"), (blobs[4], "r"), (blobs[5], "r"), (blobs[0], "r")]
    assert [p.name for p in path.parent.iterdir()] == ["versions"]  # no temporary file left


def test_saving_writes_only_when_something_was_added_and_never_fails(
    tmp_path: Path, make_repo: MakeRepo
) -> None:
    repo = make_repo(files=FILES)
    status_json(repo)
    path = cache_file(repo)
    before = path.stat().st_mtime_ns
    os.utime(path, ns=(before - 10**9, before - 10**9))
    status_json(repo)
    assert path.stat().st_mtime_ns == before - 10**9  # nothing new: not rewritten

    stale = path.parent / "versions.123.tmp"  # left by a run killed while writing
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fresh = path.parent / "versions.456.tmp"  # another run, writing right now
    fresh.write_bytes(b"half")
    path.unlink()
    status_json(repo)
    assert not stale.exists() and fresh.exists()

    blocked = VersionCache(tmp_path / "a-file" / "versions")  # its folder cannot be made
    (tmp_path / "a-file").write_text("")
    blocked.memo[("e" * 40, "r")] = "1"
    blocked.save()  # no error: the next run reads the files again
