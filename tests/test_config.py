from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pytest

from bot import config
from bot.errors import ConfigError
from tests.configs import chain

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
            "        source: {image: a/b, ignore: ['-rc', '(?<!v)1$']}\n"
            "        target: {file: x.yaml, field: a}\n",
            ".promobot.yaml:8:46: apps.api.components.image.source.ignore.1: bad tag pattern "
            "'(?<!v)1$': a negative lookbehind (?<!…) is not in RE2 (promobot matches tags with "
            "RE2, in time linear in the tag); write what tags must match in allow: and what they "
            "must not in ignore:",
        ),
        (
            BASE + "apps:\n  api:\n    components:\n      image:\n"
            "        source: {image: a/b, allow: '^(\\d+)\\.\\1'}\n"
            "        target: {file: x.yaml, field: a}\n",
            ".promobot.yaml:8:37: apps.api.components.image.source.allow: bad tag pattern "
            "'^(\\d+)\\.\\1': a backreference (\\1) is not in RE2",
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


APP = BASE + "apps:\n  api:\n    components:\n      image:\n        source: {image: a/b}\n"


@pytest.mark.parametrize(
    ("target", "column"),
    [
        ('{file: "{env:/>4}/x.yaml", field: a}', 24),
        ('{copy: "{env!r}/x.txt"}', 24),
        ('{file: x.yaml, field: "{env.upper}"}', 39),
        ('{file: x.yaml, field: "r[*]", template: "x:{version:>1000000000}"}', 57),
        ('{file: x.yaml, marker: "{app[0]}"}', 40),
    ],
)
def test_placeholders_are_bare_names_without_format_spec_conversion_or_index(
    target: str, column: int
) -> None:
    problems = _problems(
        APP.replace("        source", "        target: " + target + "\n        source")
    )
    assert any(
        p.startswith(f".promobot.yaml:8:{column}: ") and "bad placeholder" in p for p in problems
    ), problems


def test_links_take_bare_placeholders_only() -> None:
    text = APP + "        target: {file: x.yaml, field: a}\n    links:\n      image: 'x/{to!s}'\n"
    assert _problems(text) == [
        ".promobot.yaml:11:14: bad placeholder {to!s} in 'x/{to!s}': it has a conversion; write "
        "a bare name like {env}, without ':', '!', '.' or '['"
    ]


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("envs//x.yaml", "has an empty or '.' segment"),
        ("envs/./x.yaml", "has an empty or '.' segment"),
        (".git/config", "reaches into .git"),
        ("envs/.GIT/hooks/x", "reaches into .git"),
        ("\\\\\\\\server\\\\x.yaml", "leaves the repository (it is absolute)"),
    ],
)
def test_paths_stay_plain_paths_inside_the_repository(path: str, why: str) -> None:
    text = APP + f'        target: {{file: "{path}", field: a}}\n'
    problems = _problems(text)
    assert any(p.startswith(".promobot.yaml:9:24: ") and why in p for p in problems), problems


def test_a_path_is_checked_again_with_the_real_environment_names() -> None:
    text = (
        "version: 1\nenvironments:\n  dev: {}\n  git: {from: dev}\napps:\n  api:\n"
        "    components:\n      settings: {target: {copy: 'envs/.{env}/config'}}\n"
    )
    assert _problems(text) == [
        ".promobot.yaml:8:33: path 'envs/.{env}/config' is 'envs/.git/config' for git, which "
        "reaches into .git; write a relative path inside the repository, like "
        "'envs/{env}/values.yaml'"
    ]


@pytest.mark.parametrize(
    ("where", "name"),
    [
        ("environment", "prod..eu"),
        ("environment", "prod."),
        ("environment", "prod.lock"),
        ("app", "a" * 101),
        ("group", "shop/front"),
        ("group", "shop.lock"),
        ("component", "image."),
    ],
)
def test_names_must_fit_in_a_git_branch_name(where: str, name: str) -> None:
    text = {
        "environment": f"version: 1\nenvironments:\n  '{name}': {{}}\n",
        "app": APP.replace("  api:", f"  {name}:") + "        target: {file: x, field: a}\n",
        "group": APP + f"        target: {{file: x, field: a}}\ngroups:\n  '{name}': [api]\n",
        "component": APP.replace("      image:", f"      '{name}':")
        + "        target: {file: x, field: a}\n",
    }[where]
    problems = _problems(text)
    assert any(f"{where} name {name[:100]!r}" in p for p in problems), problems
    assert all(p.startswith(".promobot.yaml:") and p.split(":")[1] != "0" for p in problems)


def test_good_names_keep_working() -> None:
    text = APP.replace("  api:", "  api_v2.web-1:") + "        target: {file: x, field: a}\n"
    assert list(config.load(text + "groups:\n  shop.front: [api_v2.web-1]\n").groups) == [
        "shop.front"
    ]


def test_a_group_cannot_take_the_branch_of_an_app_outside_it() -> None:
    text = APP + "        target: {file: x, field: a}\n  web:\n    components:\n      image:\n"
    text += "        source: {image: a/c}\n        target: {file: y, field: a}\ngroups:\n"
    text += "  api: [web]\n"
    assert _problems(text) == [
        ".promobot.yaml:16:3: group 'api' has the name of an app outside it, so both would "
        "promote on branch promobot/ENV/api; rename the group"
    ]


def test_durations_are_capped_at_a_year_and_never_overflow() -> None:
    assert _problems(BASE + "  prod: {from: dev, gates: {soak: 3000000d}}\n") == [
        ".promobot.yaml:4:35: environments.prod.gates.soak: duration '3000000d' is longer than "
        "365d; write a shorter one"
    ]
    assert config.load(BASE + "  prod: {from: dev, gates: {soak: 365d}}\n")
    for text in ("99999999999999999999d", "1" * 5000 + "s", "999999999d24h"):
        with pytest.raises(ValueError, match="is longer than"):
            config.parse_duration(text)
    assert config.parse_duration("1h30m").total_seconds() == 5400


def _bomb(levels: int) -> str:
    lines = [BASE.rstrip("\n"), "x:", "  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_the_alias_that_crosses_the_bound() -> None:
    text = _bomb(10)  # 9^10 (3.5 billion) strings from 600 bytes
    assert len(text) < 650
    started = time.perf_counter()
    problems = _problems(text)
    assert time.perf_counter() - started < 0.1
    assert problems == [
        ".promobot.yaml:10:12: YAML aliases expand this file by more than 100,000 nodes (here, "
        "*a4); use anchors for a few repeated settings, not nested inside each other"
    ]


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert _problems("version: 1\nenvironments: &e\n  dev: {gates: *e}\n") == [
        ".promobot.yaml:3:16: the alias *e is inside its own anchor, so it never ends; "
        "write the value out"
    ]


def test_aliases_and_merge_keys_of_normal_size_keep_working() -> None:
    text = (
        "version: 1\nenvironments:\n  dev: {}\n  prod-eu: &prod\n    from: dev\n"
        "    gates: &gates {approvals: 1, soak: 1h}\n  prod-us: *prod\n"
        "  prod-ap:\n    <<: *prod\n    gates: {<<: *gates, approvals: 2}\n"
    )
    cfg = config.load(text)
    assert cfg.environments["prod-us"] == cfg.environments["prod-eu"]
    assert cfg.environments["prod-ap"].gates.approvals == 2
    assert cfg.environments["prod-ap"].gates.soak == "1h"
    # 9^4 = 6561 nodes from aliases: under the bound, so only the unknown key is wrong
    assert [p.split(": ")[1] for p in _problems(_bomb(4))] == ["unknown key 'x'; allowed here"]


def test_a_problem_brought_by_a_merge_key_is_shown_where_it_is_written() -> None:
    text = (
        "version: 1\nenvironments:\n  dev: {}\n  base: &base\n    from: dev\n"
        "    gates: {soak: soon}\n  prod:\n    <<: *base\n  qa:\n    <<: *base\n"
        "    gates: {soak: later}\n    gates: {soak: never}\n"
    )
    problems = [p.split(": environments.")[0] for p in _problems(text)]
    assert problems == [
        ".promobot.yaml:12:5: duplicate key 'gates'; keep only one",
        ".promobot.yaml:6:19",  # base
        ".promobot.yaml:6:19",  # prod: from base, through <<
        ".promobot.yaml:12:19",  # qa: its own gates, the last one written
    ]


@pytest.mark.parametrize(
    ("environments", "message"),
    [
        (
            "  a: {from: b}\n  b: {from: c}\n  c: {from: b}\n  d: {}\n",
            ".promobot.yaml:4:13: environments form a cycle (b → c → b)",
        ),
        ("  a: {from: a}\n", ".promobot.yaml:3:13: environments form a cycle (a → a)"),
        (
            "  x: {}\n  a: {from: c}\n  b: {from: a}\n  c: {from: b}\n  d: {from: d}\n",
            ".promobot.yaml:4:13: environments form a cycle (a → c → b → a)",
        ),
    ],
)
def test_the_first_environment_declared_on_a_cycle_names_it(
    environments: str, message: str
) -> None:
    problems = _problems("version: 1\nenvironments:\n" + environments)
    assert [p for p in problems if "cycle" in p] == [message + "; at least one environment "
        "must have no from: and receive versions from sources"]  # fmt: skip


def test_a_long_list_of_known_names_is_cut_short() -> None:
    text = chain(30).replace("e29: {from: e28}", "e29: {from: e28x}")
    (problem,) = _problems(text)
    assert problem.endswith(
        "unknown upstream environment 'e28x'; did you mean 'e28'? known: e29, e28, e27, e26, "
        "e25, e24, e23, e22, e21, e20, e19, e18, e17, e16, e15, e14, e13, e12, e11, e10, "
        "… (30 in all)"
    )


def test_promotion_order_is_upstream_first_then_declaration_order() -> None:
    text = "version: 1\nenvironments:\n  eu: {from: dev}\n  qa: {}\n  us: {from: qa}\n  dev: {}\n"
    assert config.load(text).order == ("qa", "us", "dev", "eu")
    assert config.load(chain(500)).order == ("dev", *(f"e{i}" for i in range(1, 500)))


def _lines_run(work: Callable[[], object]) -> int:
    """How many lines of Python `work` runs: a count of work that no machine's speed changes."""
    count = 0

    def trace(frame: FrameType, event: str, arg: object) -> Callable[..., object]:
        nonlocal count
        count += event == "line"
        return trace

    sys.settrace(trace)
    try:
        work()
    finally:
        sys.settrace(None)
    return count


def _validate(text: str) -> None:
    with contextlib.suppress(ConfigError):  # the problems are found; reporting is not measured
        config.load(text).order  # noqa: B018 -- what `promobot validate` prints


@pytest.mark.parametrize("broken", [False, True], ids=["valid", "every-from-unknown"])
def test_validation_is_linear_in_the_number_of_environments(broken: bool) -> None:
    """Config author: 3,000 environments in a chain took 50 s to validate (a list searched in
    a walk of the chain from every environment). Four times the environments must cost about
    four times the lines of Python, valid or with a problem in every environment."""
    small, large = (_lines_run(lambda n=n: _validate(chain(n, broken=broken))) for n in (100, 400))
    assert large < 5 * small, f"{large / small:.1f}× the work for 4× the environments"
