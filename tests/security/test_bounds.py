"""Bounds: a tiny input must not buy unbounded time or memory.

Each test plays one attacker — a config author (`.promobot.yaml`), a pusher (files in the
environment repo), a registry or chart repository (answers to polls) — and shows that the cost
stays small and the refusal is one clear line.
"""

from __future__ import annotations

import json
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from bot import config, gates
from bot.cli import main
from bot.config import Source
from bot.download import MAX_BYTES
from bot.errors import PromobotError
from bot.forges.local import LocalForge
from bot.forges.retry import Policy
from bot.service import Service
from bot.settings import Settings
from bot.sources import Sources
from bot.sources.helm import HelmRepository
from bot.sources.oci import OciRegistry
from bot.web.app import create_app
from tests.conftest import SIGNING_KEY, MakeRepo, taken
from tests.deadline import deadline
from tests.sources.servers import serve

FAST = Policy(attempts=2, backoff_base=0.01, backoff_max=0.02)
TOKEN = "registry-bearer-value"
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
"""
FILES = {
    ".promobot.yaml": CONFIG,
    "envs/dev/values.yaml": "image:\n  tag: 1.1.0\n",
    "envs/prod/values.yaml": "image:\n  tag: 1.0.0\n",
}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def laughs(levels: int, indent: str = "") -> str:
    """Nested aliases: 9**levels strings from a few hundred bytes."""
    lines = [f"{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"{indent}l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# --- the config author ------------------------------------------------------------------------


def test_an_alias_bomb_in_the_configuration_is_refused_at_once(make_repo: MakeRepo) -> None:
    """Config author: a 600-byte `.promobot.yaml` of nested aliases (3.5 billion strings) made
    `validate` run for minutes."""
    text = CONFIG + "groups:\n" + laughs(10, "  ")
    assert len(text) < 1000
    started = time.perf_counter()
    with pytest.raises(PromobotError) as refused:
        config.load(text)
    assert time.perf_counter() - started < 0.1
    assert str(refused.value) == (
        ".promobot.yaml:17:12: YAML aliases expand this file by more than 100,000 nodes (here, "
        "*l4); use anchors for a few repeated settings, not nested inside each other"
    )
    repo = make_repo(files={**FILES, ".promobot.yaml": text})
    code, out = run("validate", "--repo", str(repo))
    assert code == 2 and out.startswith(f"error: {repo / '.promobot.yaml'}:17:12: YAML aliases")


def test_a_format_spec_cannot_blow_a_version_up_to_a_gigabyte(make_repo: MakeRepo) -> None:
    """Config author: `template: "{version:>1000000000}"` padded every version it wrote to a
    gigabyte."""
    text = CONFIG.replace(
        "field: image.tag}", 'field: "images[*]", template: "x:{version:>1000000000}"}'
    )
    repo = make_repo(files={**FILES, ".promobot.yaml": text})
    tracemalloc.start()
    try:
        code, out = run("promote", "api", "--to", "prod", "--write", "--repo", str(repo))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2
    assert out.startswith(
        "error: .promobot.yaml:10:80: apps.api.components.image.target.template: "
        "bad placeholder {version:>1000000000} in 'x:{version:>1000000000}': it has a format spec"
    ), out
    assert peak < 50 * 1024 * 1024


def test_a_soak_of_thousands_of_years_is_refused_and_a_year_evaluates(make_repo: MakeRepo) -> None:
    """Config author: `soak: "3000000d"` passed `validate`, then raised OverflowError in every
    evaluation of the gates, so no promotion into that environment could ever merge."""
    repo = make_repo(files={**FILES, ".promobot.yaml": CONFIG.replace(
        "prod: {from: dev}", "prod: {from: dev, gates: {soak: 3000000d}}"
    )})  # fmt: skip
    code, out = run("validate", "--repo", str(repo))
    assert code == 2
    assert out.strip() == (
        f"error: {repo / '.promobot.yaml'}:4:35: environments.prod.gates.soak: duration "
        "'3000000d' is longer than 365d; write a shorter one"
    )
    with pytest.raises(ValueError, match="'3000000d' is longer than 365d"):
        config.parse_duration("3000000d", config.MAX_DURATION)
    for text in ("9" * 30 + "s", "1" * 5000 + "d"):  # past what a timedelta holds: no overflow
        with pytest.raises(ValueError, match="is longer than 999999999d"):
            config.parse_duration(text)
    longest = config.Gates(soak="365d")
    now = datetime(9998, 12, 1, tzinfo=UTC)  # even near the end of the calendar
    inputs = gates.Inputs("prod", longest, "a" * 40, now, upstream="dev", upstream_since=now)
    assert gates.evaluate(inputs)[0].state == "pending"
    assert gates.next_change(inputs) == now + timedelta(days=365)


@pytest.mark.parametrize(
    ("where", "text", "message"),
    [
        ("groups", "groups:\n  shop..front: [api]\n", "group name 'shop..front' cannot be part"),
        ("groups", "groups:\n  shop.lock: [api]\n", "group name 'shop.lock' cannot be part"),
        ("environment", "", "environment name 'prod.' cannot be part"),
        ("groups", "groups:\n  'shop front': [api]\n", "group name 'shop front' has characters"),
    ],
)
def test_a_name_git_cannot_take_is_a_config_error_not_a_stalled_sync(
    make_repo: MakeRepo, where: str, text: str, message: str
) -> None:
    """Config author: a group named so that `promobot/<env>/<group>` is not a valid branch
    name made git fail with "bad name" on every sync."""
    body = CONFIG + text
    if where == "environment":
        body = body.replace("prod: {from: dev}", "prod.: {from: dev}")
    repo = make_repo(files={**FILES, ".promobot.yaml": body})
    code, out = run("validate", "--repo", str(repo))
    assert code == 2
    line = 12 if where == "groups" else 4
    assert out.startswith(f"error: {repo / '.promobot.yaml'}:{line}:3: {message}"), out
    code, out = run("plan", "--repo", str(repo))
    assert code == 2 and message in out


# --- the pusher -------------------------------------------------------------------------------


def test_an_alias_bomb_in_a_values_file_costs_nothing(make_repo: MakeRepo) -> None:
    """Pusher: commits a values file of nested aliases next to the version promobot reads and
    writes; aliases are read as shared objects, so reading and writing stay instant."""
    bomb = laughs(12) + "image:\n  tag: 1.0.0\n"  # 9**12: 282 billion strings if expanded
    repo = make_repo(files={**FILES, "envs/prod/values.yaml": bomb})
    started = time.perf_counter()
    code, out = run("promote", "api", "--to", "prod", "--write", "--repo", str(repo))
    assert time.perf_counter() - started < 5
    assert code == 0, out
    assert (repo / "envs/prod/values.yaml").read_text() == bomb.replace("1.0.0", "1.1.0")


def test_a_file_nested_a_thousand_deep_is_a_problem_not_a_crash(make_repo: MakeRepo) -> None:
    """Pusher: a 2 KB values file nested 900 levels deep made Python's recursion limit end
    every status, plan and sync with an internal error."""
    deep = "deep: " + "[" * 900 + "]" * 900 + "\nimage:\n  tag: 1.0.0\n"
    repo = make_repo(files={**FILES, "envs/prod/values.yaml": deep})
    code, out = run("status", "--repo", str(repo), "--format", "json")
    assert code == 0
    assert '"image: envs/prod/values.yaml: nested too deeply to read' in out
    code, out = run("set", "api", "image", "2.0.0", "--env", "prod", "--repo", str(repo))
    assert code == 1
    assert out.strip() == (
        "error: cannot set api.image in prod: api in prod cannot be read: image: "
        "envs/prod/values.yaml: nested too deeply to read (hundreds of levels); flatten the file"
    )


# --- the registry or chart repository -----------------------------------------------------------


def gzip_bomb(size: int) -> bytes:
    """`size` bytes of zeros, gzipped: about a thousandth of that on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    chunk = b"\0" * (1024 * 1024)
    return b"".join(packer.compress(chunk) for _ in range(size // len(chunk))) + packer.flush()


BOMB = gzip_bomb(4 * MAX_BYTES)  # 128 MiB once inflated, 128 KiB on the wire
GOOD_INDEX = "entries:\n  api: [{version: 2.3.0}, {version: 2.4.0}]\n"


def hostile(request: Request) -> Response:
    path, base = request.url.path, str(request.base_url).rstrip("/")
    if path == "/good/index.yaml":
        return Response(GOOD_INDEX, media_type="application/x-yaml")
    if path == "/laughs/index.yaml":  # aliases: cheap to parse, since they are shared
        return Response("entries:\n  api: [{version: 1.0.0}]\n" + laughs(12, ""))
    if path == "/v2/auth/api/tags/list" and "authorization" not in request.headers:
        challenge = f'Bearer realm="{base}/token",service="hostile"'
        return JSONResponse({"errors": []}, 401, {"WWW-Authenticate": challenge})
    if path == "/token":  # a token answer of 128 MiB
        return Response(BOMB, headers={"Content-Encoding": "gzip"})
    # /bomb/index.yaml and /v2/big/api/tags/list
    return Response(BOMB, headers={"Content-Encoding": "gzip"}, media_type="application/json")


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    routes = [Route("/{path:path}", hostile)]
    with serve(Starlette(routes=routes)) as url:
        yield url


def test_a_gzip_bomb_from_a_registry_or_chart_repository_stops_at_the_cap(registry: str) -> None:
    """Registry or chart repository: a 128 KiB gzip answer (a Helm index, a tag list, a token)
    inflates to 128 MiB; promobot stops at 32 MiB, says which URL, and polls the other sources."""
    host = registry.removeprefix("http://")
    cfg = config.load(
        CONFIG.split("  api:")[0]
        + f"""\
  bomb:
    components:
      chart: {{source: {{chart: api, repo: "{registry}/bomb"}}, target: {{file: b, field: x}}}}
  good-chart:
    components:
      chart: {{source: {{chart: api, repo: "{registry}/good"}}, target: {{file: g, field: x}}}}
  laughs:
    components:
      chart: {{source: {{chart: api, repo: "{registry}/laughs"}}, target: {{file: l, field: x}}}}
  tags:
    components:
      image: {{source: {{image: "{host}/big/api"}}, target: {{file: t, field: x}}}}
  token:
    components:
      image: {{source: {{image: "{host}/auth/api"}}, target: {{file: k, field: x}}}}
"""
    )
    errors: dict[str, PromobotError] = {}
    oci = OciRegistry(retry=FAST, timeout=10)
    with Sources(oci, HelmRepository(oci, retry=FAST, timeout=10)) as sources:
        tracemalloc.start()
        try:
            started = time.perf_counter()
            found = sources.poll_sources(cfg, errors)
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert {s.key: v for s, v in found.items() if s.chart} == {
        f"chart:{registry}/good/api": "2.4.0",
        f"chart:{registry}/laughs/api": "1.0.0",
    }
    cap = "is larger than 32 MiB decompressed, the most promobot reads from a registry or chart"
    assert {key: str(error) for key, error in errors.items()} == {
        f"chart:{registry}/bomb/api": f"{registry}/bomb/index.yaml {cap} repository; not read",
        f"image:{host}/big/api": f"{registry}/v2/big/api/tags/list {cap} repository; not read",
        f"image:{host}/auth/api": f"{registry}/token {cap} repository; not read",
    }
    assert peak < MAX_BYTES + 8 * 1024 * 1024  # the cap and a little; never the 128 MiB
    assert elapsed < 10
    assert Source(image=f"{host}/big/api") not in found  # nothing selected from a refused answer


# --- the config author and whoever publishes a version ------------------------------------------


def test_one_crafted_tag_in_a_registry_notification_holds_nothing(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    """Config author and publisher: `allow: '^(\\d+\\.?)+$'` reads as "dotted numbers", and a
    registry notification of the 41-character tag `111…1-` made Python's backtracking `re`
    try 2**40 ways to split it, holding the interpreter for hours: /healthz, the overview and
    every repo's promotions stopped. RE2 refuses the tag in microseconds; the next one is
    promoted."""
    text = CONFIG.replace(
        "{image: ghcr.io/acme/api}", "{image: ghcr.io/acme/api, allow: '^(\\d+\\.?)+$'}"
    )
    repo = make_repo(files={**FILES, ".promobot.yaml": text})
    settings = Settings(
        forge="github", repo="acme/env", github_token="t", signing_key=SIGNING_KEY,  # type: ignore[arg-type]
        registry_token=TOKEN, data_dir=tmp_path / "data", workers=0, coalesce="0s",  # type: ignore[arg-type]
    )  # fmt: skip
    service = Service(settings, forge=LocalForge(repo))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(service)) as client:
        for version in ("1" * 40 + "-", "1.2.0"):
            body = json.dumps({"image": "ghcr.io/acme/api", "version": version}).encode()
            assert client.post("/webhooks/artifact", content=body, headers=auth).status_code == 202
            with deadline(2.0, f"the notification of {version[:12]}…"):
                assert [outcome for outcome, _ in taken(service)] == ["queued"]
                service.queue.run_pending()
            assert client.get("/healthz").status_code == 200
    titles = {pr.branch: pr.title for pr in LocalForge(repo).list_prs()}
    assert titles["promobot/dev/api"] == "Promote api to dev: image 1.1.0 → 1.2.0"
