"""`promobot init` on real layouts and on the example repos: what it writes loads, and
`promobot status` reads every version it points at."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import config
from bot.cli import main
from bot.engine import read_state
from bot.forges.local import LocalForge
from tests import layouts
from tests.conftest import EXAMPLES, MakeRepo, commit_all

EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / ".promobot.yaml").is_file())


def said(text: str) -> str:
    """The comments of a file as one line of words: what a person reads, however wrapped."""
    words = [line.strip().lstrip("#").strip() for line in text.splitlines()]
    return " ".join(" ".join(words).split())


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def init_and_commit(repo: Path) -> config.Config:
    code, out = run("init", "--repo", str(repo), "--write")
    assert code == 0, out
    commit_all(repo, "promobot init")
    code, out = run("validate", "--repo", str(repo))
    assert code == 0, out
    return config.load((repo / ".promobot.yaml").read_text())


def every_version_reads(repo: Path) -> dict[str, dict[str, dict[str, str]]]:
    """app → env → component → version, asserting each one read without a problem."""
    state = read_state(LocalForge(repo))
    seen: dict[str, dict[str, dict[str, str]]] = {}
    for app, envs in state.status.apps.items():
        assert list(envs) == list(state.config.app_environments(app))
        for env, composition in envs.items():
            assert not composition.problems, (app, env, composition.problems)
            assert set(composition.components) == set(state.config.apps[app].components)
            seen.setdefault(app, {})[env] = dict(composition.components)
    code, out = run("status", "--repo", str(repo))
    assert code == 0 and "?" not in out, out
    return seen


def test_the_kustomize_layout_gives_eleven_environments_in_stage_order(tmp_path: Path) -> None:
    repo = layouts.make("kustomize-envs", tmp_path)
    cfg = init_and_commit(repo)
    assert cfg.order[:2] == ("integration-gpu", "integration-non-gpu")
    upstream = {env: cfg.environments[env].upstream for env in cfg.environments}
    assert upstream["load-gpu"] == "integration-gpu"
    assert upstream["staging-eu"] == "qa"
    assert (upstream["prod-eu"], upstream["prod-us"], upstream["prod-asia"]) == (
        "staging-eu",
        "staging-us",
        "staging-asia",
    )
    versions = every_version_reads(repo)
    assert versions["simple-env-app"]["prod-eu"] == {"image": "3.0"}
    assert versions["simple-env-app"]["integration-gpu"] == {"image": "1.0"}
    text = said((repo / ".promobot.yaml").read_text())
    assert (
        "- base/deployment.yml: spec.template.spec.containers[name=webserver-simple].image" in text
    )


def test_the_fleet_layout_promotes_the_per_target_image_tag(tmp_path: Path) -> None:
    repo = layouts.make("fleet-multi-cluster", tmp_path)
    cfg = init_and_commit(repo)
    assert cfg.order[:3] == ("dev", "test", "prod")
    component = cfg.apps["windows-helm"].components["image"]
    assert component.source is not None
    assert component.source.image == "mcr.microsoft.com/windows/servercore"
    assert component.target.field == "targetCustomizations[name={env}].helm.values.image.tag"
    versions = every_version_reads(repo)
    assert versions["windows-helm"]["win2004"] == {"image": "2004"}
    assert versions["windows-helm"]["win2022"] == {"image": "ltsc2022"}
    text = said((repo / ".promobot.yaml").read_text())
    assert "check the order: a chain in the order found" in text
    assert "ltsc2019, ltsc2022 are not semantic versions" in text


def test_the_flux_layout_leaves_its_ranges_commented_until_they_are_pinned(tmp_path: Path) -> None:
    repo = layouts.make("flux-kustomize-helm", tmp_path)
    cfg = init_and_commit(repo)
    assert cfg.order == ("staging", "production")
    assert cfg.apps == {}
    text = said((repo / ".promobot.yaml").read_text())
    assert (
        "a range is a policy, not a version (staging: '>=1.0.0-alpha', production: '>=1.0.0')"
        in text
    )
    assert "infrastructure/controllers/cert-manager.yaml: spec.ref.semver is '1.x', a range" in text
    assert "apps/base/podinfo/release.yaml: spec.values.redis.tag is '8.6.2'" in text
    every_version_reads(repo)

    for env, version in (("staging", "6.5.1"), ("production", "6.5.0")):
        patch = repo / "apps" / env / "podinfo-values.yaml"
        patch.write_text(
            patch.read_text()
            .replace('version: ">=1.0.0-alpha"', f'version: "{version}"')
            .replace('version: ">=1.0.0"', f'version: "{version}"')
        )
    (repo / ".promobot.yaml").unlink()
    commit_all(repo, "pin podinfo")
    cfg = init_and_commit(repo)
    chart = cfg.apps["podinfo"].components["chart"]
    assert chart.source is not None
    assert (chart.source.chart, chart.source.repo) == (
        "podinfo",
        "https://stefanprodan.github.io/podinfo",
    )
    assert every_version_reads(repo)["podinfo"] == {
        "staging": {"chart": "6.5.1"},
        "production": {"chart": "6.5.0"},
    }


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_init_on_each_example_repo_finds_its_environments_in_order(
    name: str, make_repo: MakeRepo
) -> None:
    repo = make_repo(name)
    written = config.load((repo / ".promobot.yaml").read_text())
    (repo / ".promobot.yaml").unlink()
    commit_all(repo, "start over")
    cfg = init_and_commit(repo)
    assert cfg.order == written.order
    assert set(cfg.apps) <= set(written.apps) | {"checkout-base"}
    assert cfg.apps, "each example has at least one app whose source the files tell"
    every_version_reads(repo)


def test_init_prints_and_writes_the_same_text_and_never_overwrites_unasked(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo("kustomize")
    mine = (repo / ".promobot.yaml").read_text()
    code, printed = run("init", "--repo", str(repo))
    assert code == 0 and printed.startswith(
        "# .promobot.yaml: a starter written by `promobot init`"
    )
    code, out = run("init", "--repo", str(repo), "--write")
    assert code == 1
    assert out.strip() == (
        f"error: {repo / '.promobot.yaml'} exists; pass --force to replace it, or leave out "
        "--write to print the starter"
    )
    assert (repo / ".promobot.yaml").read_text() == mine
    code, out = run("init", "--repo", str(repo), "--write", "--force")
    assert code == 0 and out.startswith(
        f"Wrote {repo / '.promobot.yaml'}: 3 environments (qa → staging → prod), 1 apps."
    )
    assert (repo / ".promobot.yaml").read_text() == printed
    assert not list(repo.glob(".promobot.yaml.*")) and not (repo / ".promobot.yaml.init").exists()


def test_a_linked_promobot_yaml_is_replaced_not_written_through(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo("helm-values")
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text("keep me\n")
    (repo / ".promobot.yaml").unlink()
    (repo / ".promobot.yaml").symlink_to(elsewhere)
    code, out = run("init", "--repo", str(repo), "--write")
    assert code == 1 and "exists; pass --force" in out
    code, out = run("init", "--repo", str(repo), "--write", "--force")
    assert code == 0, out
    assert elsewhere.read_text() == "keep me\n"
    assert not (repo / ".promobot.yaml").is_symlink()


def test_a_repo_without_environments_is_told_what_init_looks_for(tmp_path: Path) -> None:
    (tmp_path / "deploy.yaml").write_text("image: {repository: ghcr.io/acme/api, tag: 1.0.0}\n")
    code, out = run("init", "--repo", str(tmp_path))
    assert code == 1
    assert out.startswith(f"error: found no environments in {tmp_path}: promobot init looks for")
    assert "Traceback" not in out
    code, out = run("init", "--repo", str(tmp_path / "missing"))
    assert (
        code == 1
        and out.strip()
        == f"error: {tmp_path / 'missing'} is not a folder; pass the environment repo's checkout"
    )


def test_init_reads_no_hidden_folder_and_follows_no_link(tmp_path: Path) -> None:
    values = 'image: {repository: ghcr.io/acme/api, tag: "1.0.0"}\n'
    for env in ("dev", "prod"):
        (tmp_path / "envs" / env).mkdir(parents=True)
        (tmp_path / "envs" / env / "values.yaml").write_text(values)
    (tmp_path / ".github" / "envs" / "qa").mkdir(parents=True)
    (tmp_path / ".github" / "envs" / "qa" / "values.yaml").write_text(values)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    (outside / "staging").mkdir(parents=True)
    (outside / "staging" / "values.yaml").write_text(values)
    (tmp_path / "envs" / "staging").symlink_to(outside / "staging")
    code, out = run("init", "--repo", str(tmp_path))
    assert code == 0, out
    cfg = config.load(out)
    assert cfg.order == ("dev", "prod")
    shutil.rmtree(outside)
