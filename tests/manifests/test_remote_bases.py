"""Kustomize's remote bases, read through the forge promobot already talks to (the GitHub
simulator, over real HTTP): never fetched by kustomize itself, never from another host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import wiring
from bot.engine import read_state
from bot.forges.base import Forge
from bot.settings import Settings
from tests.forgesim import Server

TOKEN = "ghs_promobot_token_for_tests_0000000000"
BASE = {
    "app/kustomization.yaml": "resources: [deployment.yaml]\n",
    "app/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: shop}\n"
        "spec:\n  template:\n    spec:\n      containers: [{name: shop, image: ghcr.io/acme/shop:2.4.0}]\n"
    ),
}
CONFIG = """\
version: 1
environments:
  dev: {}
render: {kustomize: "envs/{env}"}
apps:
  shop:
    components:
      base:
        source: {git: acme/base, tags: "v*"}
        target: {file: "envs/{env}/kustomization.yaml", field: "resources[0]", template: "HOST/acme/base//app?ref={version}"}
"""


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as server:
        server.world.add_user("promobot[bot]", bot=True, token=TOKEN)
        base = server.world.add_repo("acme/base", BASE)
        base.git.text("tag", "v2.4.0")
        yield server


def settings(server: Server, tmp_path: Path) -> Settings:
    return Settings(
        forge="github",
        repo="acme/env",
        github_url=server.github_url,
        github_token=TOKEN,
        signing_key="k" * 40,
        data_dir=tmp_path / "data",
    )


def env_repo(server: Server, resources: str) -> None:
    host = server.url.split("//", 1)[1]
    server.world.add_repo(
        "acme/env",
        {
            ".promobot.yaml": CONFIG.replace("HOST", f"https://{host}"),
            "envs/dev/kustomization.yaml": f"resources: [{resources}]\nnamePrefix: dev-\n",
        },
    )


def test_a_remote_base_on_the_forge_is_read_through_it_at_its_ref(
    server: Server, tmp_path: Path
) -> None:
    host = server.url.split("//", 1)[1]
    env_repo(server, f'"https://{host}/acme/base//app?ref=v2.4.0"')
    chosen = settings(server, tmp_path)
    forges: dict[str, Forge] = {}

    def forge_for(repo: str) -> Forge:
        if repo not in forges:
            forges[repo] = wiring.forge(chosen.model_copy(update={"repo": repo}))
        return forges[repo]

    renderer = wiring.renderer(chosen, forge_for)
    state = read_state(forge_for("acme/env"))
    server.world.reset_calls()
    cell = renderer.cell(state, "shop", "dev")
    assert cell.error is None, cell.error
    assert cell.inventory is not None
    assert [(o.kind, o.name, o.images) for o in cell.inventory.objects] == [
        ("Deployment", "dev-shop", ("ghcr.io/acme/shop:2.4.0",))
    ]
    # the base at its tag: its commit, then one archive, as every snapshot
    assert dict(server.world.calls) == {
        "github GET /repos/{owner}/{repo}/commits/{ref:path}": 1,
        "github GET /repos/{owner}/{repo}/tarball/{ref:path}": 1,
    }


def test_a_remote_base_on_another_host_is_refused_and_says_what_to_do(
    server: Server, tmp_path: Path
) -> None:
    env_repo(server, '"https://github.com/someone-else/base//app?ref=v1"')
    chosen = settings(server, tmp_path)
    renderer = wiring.renderer(chosen, lambda repo: wiring.forge(chosen))
    state = read_state(wiring.forge(chosen))
    cell = renderer.cell(state, "shop", "dev")
    assert cell.inventory is None
    assert cell.error == (
        "remote base https://github.com/someone-else/base//app?ref=v1 is on github.com, and "
        "promobot reads other repositories only through its forge, 127.0.0.1; vendor the base "
        "into this repository or keep it on the same forge"
    )
