"""Every example environment repo in config/examples loads, reads and promotes cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot import composition, config, planner, signing, versions
from bot.engine import prepare, read_state
from bot.forges.local import LocalForge
from tests.conftest import EXAMPLES, MakeRepo, git

GOLDEN = Path(__file__).parent / "golden" / "examples"
NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / ".promobot.yaml").is_file())


def test_there_is_one_example_per_layout() -> None:
    assert NAMES == [
        "applicationset",
        "argocd-application",
        "fleet",
        "flux-helmrelease",
        "helm-values",
        "kustomize",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_every_component_of_every_app_reads_in_every_environment(
    name: str, make_repo: MakeRepo
) -> None:
    state = read_state(LocalForge(make_repo(name)))
    for app, envs in state.status.apps.items():
        assert list(envs) == list(state.config.app_environments(app))
        for env, comp in envs.items():
            assert not comp.problems, (app, env, comp.problems)
            assert set(comp.components) == set(state.config.apps[app].components)


@pytest.mark.parametrize("name", NAMES)
def test_promotions_change_only_version_characters(name: str, make_repo: MakeRepo) -> None:
    """The golden diff of every promotion due in the example, as a reviewer would see it."""
    repo = make_repo(name)
    forge = LocalForge(repo)
    signer = signing.local(forge.key_path)
    state = read_state(forge)
    promotions = planner.plan(state.config, state.status)
    assert promotions, f"{name} should show at least one promotion due"
    diffs = []
    for promotion in promotions:
        opened = prepare(forge, state, promotion, signer)
        diff = git(repo, "diff", "--no-color", "--unified=1", "main", promotion.branch)
        diffs.append(f"# {opened.title}\n{diff}\n")
        after = read_state(forge, promotion.branch)
        for plan in promotion.apps:
            got = after.status.get(plan.app, promotion.env)
            assert got is not None and got.id == plan.after, (promotion.branch, got)
            upstream = state.status.get(plan.app, promotion.upstream or promotion.env)
            assert upstream is not None and got.id == upstream.id  # now equal to its upstream
        for line in diff.splitlines():
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---")):
                changed = [r.before for p in promotion.apps for r in p.changed if r.before] + [
                    r.after for p in promotion.apps for r in p.changed if r.after
                ]
                copies = any(r.source == "files" for p in promotion.apps for r in p.changed)
                assert copies or any(v.split("@")[0] in line for v in changed), line
    text = "\n".join(diffs)
    golden = GOLDEN / f"{name}.diff"
    if os.environ.get("PROMOBOT_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


def test_composition_ids_match_the_documented_definition(make_repo: MakeRepo) -> None:
    state = read_state(LocalForge(make_repo("helm-values")))
    dev = state.status.get("api", "dev")
    assert dev is not None
    assert dev.id == composition.composition_id({"image": "1.4.2", "chart": "2.3.0"})


def test_every_example_source_selects_the_newest_of_versions_written_as_its_repo_writes_them() -> (
    None
):
    """A source whose rules no version can pass is a silent dead end (the Argo CD example's
    config once sorted `v*` tags numerically, which no `v12` can be)."""
    cfg = config.load((EXAMPLES / "argocd-application" / ".promobot.yaml").read_text())
    source = cfg.apps["web"].components["config"].source
    assert source is not None
    assert versions.select(["v9", "v11", "v12", "v12-rc1"], source.policy) == "v12"
