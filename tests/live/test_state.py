"""`live:` in .promobot.yaml, and what a `Live` report means for gates and the overview."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot import config, gates
from bot.errors import ConfigError
from bot.live import Live, Rollout

APPS = """\
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: "envs/{env}/api.yaml", field: image.tag}
"""
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def load(envs: str) -> config.Config:
    return config.load("version: 1\nenvironments:\n" + envs + APPS)


def test_each_source_names_the_app_in_the_environment_as_it_knows_it() -> None:
    cfg = load(
        "  dev: {live: {argocd: {}}}\n"
        "  qa: {from: dev, live: {flux: {name: '{app}-{env}', kind: HelmRelease}}}\n"
        "  edge: {from: qa, live: {fleet: {}}}\n"
        "  prod: {from: edge, live: {status: {context: 'argocd/{app}-{env}'}}}\n"
    )
    names = {env: e.live.name("api", env) for env, e in cfg.environments.items() if e.live}
    assert names == {
        "dev": "api-dev",
        "qa": "flux-system/api-qa",
        "edge": "fleet-default/api-edge",
        "prod": "argocd/api-prod",
    }
    assert [e.live.kind for e in cfg.environments.values() if e.live] == [
        "argocd",
        "flux",
        "fleet",
        "status",
    ]


@pytest.mark.parametrize(
    ("live", "where", "message"),
    [
        ("{}", (3, 9), "live: names exactly one of argocd:, flux:, fleet: or status:"),
        ("{argocd: {}, status: {context: x}}", (3, 9), "(found argocd, status)"),
        ("{argocd: {application: '{app:>9}'}}", (3, 38), "has a format spec"),
        ("{flux: {name: '{version}'}}", (3, 29), "unknown placeholder {version}"),
        ("{status: {}}", (3, 24), "required key is missing"),
        ("{argocd: {url: 'https://evil.example'}}", (3, 25), "unknown key 'url'"),
    ],
)
def test_a_bad_live_block_is_refused_with_its_line_and_column(
    live: str, where: tuple[int, int], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load(f"  dev: {{live: {live}}}\n")
    (problem,) = error.value.problems
    assert (problem.line, problem.column) == where
    assert message in problem.message


def report(**fields: object) -> Live:
    base: dict[str, object] = {
        "source": "argocd",
        "sync": "synced",
        "health": "healthy",
        "revision": "a" * 40,
        "since": NOW,
        "observed": NOW,
    }
    return Live(**{**base, **fields})  # type: ignore[arg-type]


def test_only_synced_healthy_and_done_rolling_counts_as_running_the_revision() -> None:
    assert report().settled
    assert not report(sync="out-of-sync").settled
    assert not report(health="progressing").settled
    canary = Rollout("canary", "paused", step=2, steps=5, weight=20)
    assert not report(rollout=canary).settled
    assert report(rollout=Rollout("canary", "succeeded", step=5, steps=5, weight=100)).settled
    assert canary.describe() == "canary 20%, step 2 of 5, paused"
    assert Rollout("blue-green", "paused").describe() == "blue-green: preview"


def test_an_unresolved_abbreviation_is_shown_as_such() -> None:
    unresolved = Live("flux", "synced", "healthy", None, NOW, NOW, unresolved="a1afe267b")
    assert unresolved.describe() == "healthy at a1afe267b (unresolved) since 2026-11-30 12:00 UTC"
    assert Live.from_json(unresolved.to_json()) == unresolved
    kept_before = {k: v for k, v in unresolved.to_json().items() if k != "unresolved"}
    assert Live.from_json(kept_before).unresolved == ""  # a report stored before the field


def test_a_degraded_app_or_an_aborted_rollout_fails_verification() -> None:
    assert report(health="degraded").failed
    assert report(health="progressing", rollout=Rollout("canary", "aborted")).failed
    assert not report(health="progressing").failed


@pytest.mark.parametrize(
    ("envs", "message"),
    [
        ("  dev: {gates: {healthy: 30m}}\n", "healthy: needs an upstream (from:)"),
        ("  dev: {}\n  prod: {from: dev, gates: {healthy: 30m}}\n", "needs live: on dev"),
    ],
)
def test_a_healthy_gate_needs_an_upstream_whose_cluster_it_can_read(
    envs: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(envs)
    load(
        "  dev: {live: {status: {context: 'deploy/{app}'}}}\n  prod: {from: dev, gates: {healthy: 30m}}\n"
    )


def healthy(since: datetime | None, now: datetime = NOW, note: str = "") -> gates.GateResult:
    inputs = gates.Inputs(
        env="prod",
        gates=config.Gates(healthy="30m"),
        head_sha="b" * 40,
        now=now,
        upstream="staging",
        upstream_healthy_since=since,
        upstream_live=note,
        versions="image 1.5.0",
    )
    (result, _hold) = gates.evaluate(inputs)
    return result


def test_the_healthy_gate_counts_from_when_the_cluster_said_so() -> None:
    waiting = healthy(None, note="api: progressing at 1a2b3c4d5e")
    assert (waiting.state, waiting.reason) == (
        "pending",
        "healthy: waiting for staging to run image 1.5.0 synced and healthy "
        "(api: progressing at 1a2b3c4d5e)",
    )
    since = datetime(2026, 11, 30, 11, 48, tzinfo=UTC)
    early = healthy(since)
    assert early.state == "pending"
    assert early.reason == (
        "healthy: staging has run image 1.5.0 synced and healthy since 2026-11-30 11:48 UTC; "
        "needs 30m, until 2026-11-30 12:18 UTC"
    )
    assert healthy(since, now=since + timedelta(minutes=30)).state == "pass"
    timer = gates.Inputs(
        env="prod",
        gates=config.Gates(healthy="30m"),
        head_sha="b" * 40,
        now=NOW,
        upstream="staging",
        upstream_healthy_since=since,
    )
    assert gates.next_change(timer) == since + timedelta(minutes=30)


def test_verify_needs_a_live_source_it_can_read() -> None:
    with pytest.raises(
        ConfigError, match=r"verify: watches the cluster through live:, and dev has no live:"
    ):
        load("  dev: {verify: {within: 15m}}\n")
    cfg = load("  dev: {live: {argocd: {}}, verify: {within: 20m, on_failure: rollback}}\n")
    verify = cfg.environments["dev"].verify
    assert verify is not None and verify.within_time == timedelta(minutes=20)
    assert verify.on_failure == "rollback"


STATUS = "live: {status: {context: 'deploy/{app}-{env}'}}"
FROM_ARGOCD = "live: {status: {context: 'deploy/{app}-{env}', from: 'argocd-notifications[bot]'}}"


@pytest.mark.parametrize(
    ("envs", "where", "message"),
    [
        (
            f"  dev: {{{STATUS}, verify: {{on_failure: rollback}}}}\n",
            "3:79:",
            "on_failure: rollback would change dev on a commit status that anyone who may post "
            "statuses can post; name who posts it",
        ),
        (
            f"  dev: {{{STATUS}}}\n  prod:\n    from: dev\n    auto_merge: true\n"
            "    gates: {healthy: 30m}\n",
            "7:22:",
            "healthy: with auto_merge: true would merge into prod on a commit status that anyone "
            "who may post statuses can post; name who posts it in dev's live:",
        ),
    ],
)
def test_no_rollback_or_automatic_merge_rests_on_a_status_anyone_may_post(
    envs: str, where: str, message: str
) -> None:
    """A writer who posts `failure` must not roll an environment back, nor `success` merge
    into the next one: such a config names who posts the status, or it is refused."""
    with pytest.raises(ConfigError) as refused:
        load(envs)
    assert f".promobot.yaml:{where}" in str(refused.value) and message in str(refused.value)
    named = load(envs.replace(STATUS, FROM_ARGOCD))
    source = named.environments["dev"].live
    assert source is not None and source.status is not None and source.authenticated
    assert source.status.author == "argocd-notifications[bot]"
    # Argo CD's API and Flux's signed events are promobot's own witnesses
    load(envs.replace(STATUS, "live: {argocd: {}}"))
    load(envs.replace(STATUS, "live: {flux: {}}"))
    # reading an anonymous status without acting on it alone stays allowed
    load(
        envs.replace("on_failure: rollback", "on_failure: comment").replace(
            "auto_merge: true", "auto_merge: false"
        )
    )


def test_who_posts_a_status_is_an_account_name() -> None:
    with pytest.raises(ConfigError, match=r"from: 'argo cd' is not an account name"):
        load("  dev: {live: {status: {context: deploy, from: 'argo cd'}}}\n")
    assert (
        load("  dev: {live: {status: {context: deploy, from: '@flux-bot'}}}\n")
        .environments["dev"]
        .live.status.author
        == "flux-bot"
    )  # type: ignore[union-attr]
