from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import config
from bot.errors import ConfigError

GOOD = """\
version: 1
environments:
  dev: {}
  staging:
    from: dev
    auto_merge: true
    gates: {soak: 30m}
  prod-eu: &prod
    from: staging
    propose: manual
    gates:
      approvals: 2
      approvers: ["@acme/sre", "alice"]
      soak: 24h
      checks: ["validate"]
      freeze: ["Fri 16:00 - Mon 08:00 Europe/Zurich"]
  prod-us: *prod
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api, semver: ">=1.0.0 <2", ignore: ["-rc"]}
        target: {file: "envs/{env}/api/values.yaml", field: "image.tag"}
      config:
        source: {git: acme/api-config, tags: "v*"}
        target:
          file: "envs/{env}/api/kustomization.yaml"
          field: "resources[*]"
          template: "https://github.com/acme/api-config//base?ref={version}"
      settings:
        target: {copy: "envs/{env}/api/settings.yml"}
    links:
      image: "https://github.com/acme/api/compare/v{from}...v{to}"
  web:
    environments: [dev, staging, prod-eu]
    components:
      image:
        source: {chart: web, repo: "oci://ghcr.io/acme/charts"}
        target: {file: "envs/{env}/web.yaml", marker: "web.image"}
groups:
  storefront: [api, web]
permissions:
  promote: {"prod-*": ["@acme/sre"], "*": ["@acme/devs"]}
  rollback: {"*": ["@acme/sre"]}
"""


def test_loads_every_field_of_the_design_example() -> None:
    cfg = config.load(GOOD)
    assert cfg.order == ("dev", "staging", "prod-eu", "prod-us")
    assert cfg.environments["prod-us"].gates.approvals == 2
    assert cfg.environments["prod-us"].propose == "manual"
    assert cfg.environments["staging"].gates.soak_time.total_seconds() == 1800
    assert cfg.app_environments("web") == ("dev", "staging", "prod-eu")
    assert cfg.downstream("staging") == ("prod-eu", "prod-us")
    assert cfg.group_of("web") == "storefront"
    assert cfg.apps["api"].components["image"].source is not None
    assert cfg.apps["api"].components["image"].source.key == "image:ghcr.io/acme/api"
    assert cfg.apps["web"].components["image"].source.key == "chart:oci://ghcr.io/acme/charts/web"  # type: ignore[union-attr]
    target = cfg.target("api", "config", "prod-eu")
    assert target.path == "envs/prod-eu/api/kustomization.yaml"
    assert target.field is not None and target.field.template is not None
    assert cfg.target("api", "settings", "dev").field is None


def test_promotion_order_follows_upstreams_not_declaration() -> None:
    text = "version: 1\nenvironments:\n  prod: {from: staging}\n  staging: {from: dev}\n  dev: {}\n"
    assert config.load(text).order == ("dev", "staging", "prod")


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.load(text)
    return [str(p) for p in info.value.problems]


BASE = "version: 1\nenvironments:\n  dev: {}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: 1\nenvironments:\n  dev: {from: prod}\n  prod: {from: dev}\n",
            ".promobot.yaml:3:15: environments form a cycle (dev → prod → dev)",
        ),
        (
            BASE + "  staging:\n    from: deb\n",
            ".promobot.yaml:5:11: unknown upstream environment 'deb'; did you mean 'dev'?",
        ),
        (
            BASE + "  staging:\n    from: dev\n    auto_merg: true\n",
            ".promobot.yaml:6:5: unknown key 'auto_merg'; did you mean 'auto_merge'?",
        ),
        (
            BASE + "  staging:\n    gates: {soak: 30 minutes}\n",
            ".promobot.yaml:5:19: environments.staging.gates.soak: bad duration '30 minutes'; "
            "write e.g. '30m'",
        ),
        (
            BASE + "  prod:\n    gates:\n      freeze: ['Fri 16:00 - Mon 08:00 Mars/Olympus']\n",
            ".promobot.yaml:6:16: environments.prod.gates.freeze.0: unknown time zone 'Mars/Olympus'",
        ),
        (
            BASE + "apps:\n  api:\n    components:\n      image:\n"
            "        source: {image: a/b}\n        target: {file: x.yaml, field: 'a..b'}\n",
            ".promobot.yaml:9:39: apps.api.components.image.target.field: bad selector 'a..b'",
        ),
        (
            BASE + "apps:\n  api:\n    components:\n      image:\n"
            "        source: {image: a/b}\n"
            "        target: {file: x.yaml, field: 'r[*]', template: 'https://x?ref={ver}'}\n",
            ".promobot.yaml:9:57: apps.api.components.image.target.template: unknown placeholder {ver}",
        ),
        (
            BASE + "apps:\n  api:\n    components:\n      image:\n"
            "        source: {image: a/b, semver: '>>1.2'}\n"
            "        target: {file: x.yaml, field: a}\n",
            ".promobot.yaml:8:38: apps.api.components.image.source.semver: bad semver constraint '>>1.2'",
        ),
        (
            BASE + "apps:\n  api:\n    components:\n      image:\n"
            "        source: {image: a/b}\n"
            "        target: {file: ../other-repo/x.yaml, field: a}\n",
            ".promobot.yaml:9:24: apps.api.components.image.target.file: path '../other-repo/x.yaml'"
            " leaves the repository",
        ),
        (
            BASE + "apps:\n  api:\n    components:\n      image:\n"
            "        source: {image: a/b}\n"
            "        target: {file: /etc/passwd, field: a}\n",
            ".promobot.yaml:9:24: apps.api.components.image.target.file: path '/etc/passwd' leaves",
        ),
        (
            BASE + "apps:\n  api:\n    environments: [dev, qa]\n    components:\n"
            "      image: {source: {image: a/b}, target: {file: x.yaml, field: a}}\n",
            ".promobot.yaml:6:25: unknown environment 'qa'; known: dev",
        ),
        (
            BASE + "groups:\n  shop: [api]\n",
            ".promobot.yaml:5:10: unknown app 'api'",
        ),
        (
            BASE + "permissions:\n  promot: {'*': [alice]}\n",
            ".promobot.yaml:5:3: unknown command 'promot'; did you mean 'promote'?",
        ),
        (
            BASE + "  dev: {}\n",
            ".promobot.yaml:4:3: duplicate key 'dev'; keep only one",
        ),
        (
            "version: 2\nenvironments:\n  dev: {}\n",
            ".promobot.yaml:1:10: version: Input should be 1, got 2",
        ),
        (
            "version: 1\nenvironments:\n  dev: {\n",
            ".promobot.yaml:4:1: YAML syntax:",
        ),
        (
            BASE + "apps:\n  api:\n    components:\n      image:\n"
            "        target: {file: x.yaml, field: a}\n",
            ".promobot.yaml:7:7: apps.api.components.image: a component needs a source:",
        ),
    ],
)
def test_bad_configuration_names_file_line_column_and_a_fix(text: str, expected: str) -> None:
    problems = _problems(text)
    assert any(p.startswith(expected) for p in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    text = BASE + "  staging: {from: qa, gates: {soak: soon}}\n  prod: {form: staging}\n"
    problems = _problems(text)
    assert len(problems) == 2, problems
    assert problems[0].startswith(".promobot.yaml:4:")
    assert problems[1].startswith(".promobot.yaml:5:10: unknown key 'form'; did you mean 'from'?")


def test_empty_and_non_mapping_files() -> None:
    assert _problems("") == [".promobot.yaml:1:1: the file is empty; start with 'version: 1'"]
    assert _problems("- 1\n") == [
        ".promobot.yaml:1:1: the file must be a mapping starting 'version: 1'"
    ]


def test_yaml_is_loaded_safely() -> None:
    problems = _problems("!!python/object/apply:os.system ['echo pwned']\n")
    assert problems and "YAML syntax" in problems[0]


SCHEMA = Path(__file__).resolve().parent.parent / "config" / "promobot.schema.json"


def test_json_schema_file_is_in_step_with_the_model() -> None:
    on_disk = json.loads(SCHEMA.read_text())
    assert on_disk == config.schema(), "run: promobot schema > config/promobot.schema.json"
    assert "environments" in on_disk["properties"]
    assert "from" in on_disk["$defs"]["Environment"]["properties"]
