"""End to end on the embedded default: a real registry notifies `promobot serve`, which works on
a local git repo with no credentials, and the promotion branch appears."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import MakeRepo, git
from tests.e2e.service import Promobot, wait_for
from tests.registry import Registry

TOKEN = "registry-notify-token"


def config(registry: str) -> str:
    return f"""\
version: 1
environments:
  dev: {{}}
  prod: {{from: dev}}
apps:
  api:
    components:
      image:
        source: {{image: "{registry}/team/api", semver: "^1"}}
        target: {{file: "envs/{{env}}/values.yaml", field: image.tag}}
"""


def test_registry_push_to_local_branch(make_repo: MakeRepo, tmp_path: Path) -> None:
    registry = Registry(notify_token=TOKEN)
    repo = make_repo(files={
        "envs/dev/values.yaml": "image:\n  tag: 1.4.2  # bumped by promobot\n",
        "envs/prod/values.yaml": "image:\n  tag: 1.4.2\n",
        ".promobot.yaml": config(registry.host),
    })  # fmt: skip
    settings = {
        "PROMOBOT_FORGE": "local",
        "PROMOBOT_REPO": str(repo),
        "PROMOBOT_REGISTRY_TOKEN": TOKEN,
        "PROMOBOT_DATA_DIR": str(tmp_path / "data"),
        "PROMOBOT_RECONCILE_INTERVAL": "1h",
    }
    with Promobot(settings) as promobot:
        registry.notify_url = f"{promobot.url}/webhooks/registry"
        with registry:
            registry.push("team/api", "1.5.0")
            wait_for(
                "the promotion branch", lambda: git(repo, "branch", "--list", "promobot/dev/api")
            )
        assert (
            git(repo, "show", "promobot/dev/api:envs/dev/values.yaml")
            == "image:\n  tag: 1.5.0  # bumped by promobot"
        )
        assert git(repo, "rev-list", "--count", "main..promobot/dev/api") == "1"
        assert git(repo, "status", "--porcelain") == ""
        # the branch comes first, then the local PR record, the gates, and the log line
        wait_for("the log line", lambda: '"outcome": "opened"' in promobot.log())


def test_a_push_made_while_promobot_was_down_is_picked_up_at_start(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    with Registry() as registry:  # no one to notify: the webhook is lost
        repo = make_repo(files={
            "envs/dev/values.yaml": "image:\n  tag: 1.4.2\n",
            "envs/prod/values.yaml": "image:\n  tag: 1.4.2\n",
            ".promobot.yaml": config(registry.host),
        })  # fmt: skip
        registry.push("team/api", "1.5.0")
        registry.push("team/api", "2.0.0")  # outside ^1: never proposed
        settings = {
            "PROMOBOT_REPO": str(repo),
            "PROMOBOT_DATA_DIR": str(tmp_path / "data"),
            "PROMOBOT_RECONCILE_INTERVAL": "1h",
        }
        with Promobot(settings):  # the reconcile at start polls the registry
            wait_for(
                "the promotion branch", lambda: git(repo, "branch", "--list", "promobot/dev/api")
            )
    assert git(repo, "show", "promobot/dev/api:envs/dev/values.yaml") == "image:\n  tag: 1.5.0"
