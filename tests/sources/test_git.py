from __future__ import annotations

import pytest

from bot.config import Source
from bot.forges.local import LocalForge
from bot.sources import SourceError, latest
from bot.sources.git import GitTags
from tests.conftest import MakeRepo, git
from tests.deadline import deadline

TAGS = ["v1.0.0", "v1.2.0", "v2.0.0-rc.1", "release-3", "v12"]


def tagged(make_repo: MakeRepo) -> GitTags:
    repo = make_repo(files={"base/kustomization.yaml": "resources: []\n"})
    for tag in TAGS:
        git(repo, "tag", tag)
    return GitTags(LocalForge(repo))


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({}, "v12"),
        ({"tags": "v1.*"}, "v1.2.0"),
        ({"tags": "v*", "semver": ">=1 <2"}, "v1.2.0"),
        ({"tags": "v2*", "prerelease": True}, "v2.0.0-rc.1"),
        ({"tags": "release-*", "sort": "lexical"}, "release-3"),
        ({"tags": "nothing-*"}, None),
    ],
)
def test_git_tags_filtered_by_the_glob_then_selected(
    make_repo: MakeRepo, rules: dict[str, object], expected: str | None
) -> None:
    assert latest(Source(git="acme/api-config", **rules), tagged(make_repo)) == expected


def test_versions_are_the_tags_that_match_the_glob(make_repo: MakeRepo) -> None:
    poller = tagged(make_repo)
    assert sorted(poller.versions(Source(git="acme/api-config"))) == sorted(TAGS)
    assert sorted(poller.versions(Source(git="acme/api-config", tags="v?.*"))) == [
        "v1.0.0",
        "v1.2.0",
        "v2.0.0-rc.1",
    ]


def test_git_sources_cannot_pin_digests(make_repo: MakeRepo) -> None:
    with pytest.raises(SourceError, match="acme/api-config is a git repository"):
        latest(Source(git="acme/api-config", digest=True), tagged(make_repo))


def test_a_glob_costs_time_linear_in_the_tag(make_repo: MakeRepo) -> None:
    """Whoever can push a tag to the source repo: a long tag that almost matches a glob of many
    stars (a backtracking translation tries every way to share the 1s among the stars).
    fnmatch makes each star's match atomic, so nothing is tried twice."""
    repo = make_repo(files={"base/kustomization.yaml": "resources: []\n"})
    for tag in ("v" + "1" * 240, "v1.1.1", "v1.2.0"):
        git(repo, "tag", tag)
    source = Source(git="acme/api-config", tags="v*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*.*")
    poller = GitTags(LocalForge(repo))
    with deadline(1.0, "a glob on a crafted tag"):
        assert poller.versions(source) == []
    assert poller.versions(Source(git="acme/api-config", tags="v1.1*")) == ["v1.1.1"]
