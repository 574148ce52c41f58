"""bot/live/rollouts.py: Argo Rollouts Rollouts and Flagger Canaries, from the recorded examples
(tests/fixtures/rollouts/README.md) and through the real kubernetes client against the
Kubernetes API server face on 127.0.0.1 (tests/kube/server.py)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import config
from bot.errors import ConfigError
from bot.forges.retry import Policy
from bot.live import Live, Rollout
from bot.live.rollouts import Ask, Found, Rollouts, argo_rollout, flagger_canary, overlay, wanted
from tests.kube.server import KubeServer, canary, kube_server, rollout, write_kubeconfig

FIXTURES = Path(__file__).parent.parent / "fixtures" / "rollouts"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
QUICK = Policy(attempts=2, backoff_base=0.01, backoff_max=0.02)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((FIXTURES / name).read_text())
    return data


def argo_healthy(found: Found) -> Live:
    """What Argo CD says of the app, with the cluster's rollout laid over it."""
    since = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    live = Live("argocd https://argocd.example.com", "synced", "healthy", "a" * 40, since, NOW)
    return overlay(live, found)


# --- Argo Rollouts, from recorded Rollouts ----------------------------------------------------

ARGO: list[tuple[str, Rollout, str, bool, bool]] = [
    # file, the rollout, what the live cell says, settled, failed
    (
        "rollout.canary-paused-step.yaml",
        Rollout("canary", "paused", 2, 8, 21),
        "canary 21%, step 2 of 8, paused",
        False,
        False,
    ),
    (
        "rollout.canary-completed.yaml",
        Rollout("canary", "succeeded", 4, 4, 100),
        "canary 100%, step 4 of 4",
        True,
        False,
    ),
    (
        "rollout.canary-aborted.yaml",
        Rollout("canary", "aborted", 1, 2, None),
        "canary, step 1 of 2, aborted",
        False,
        True,
    ),
    (
        "rollout.canary-traffic-weights.yaml",  # the weight the traffic router reports
        Rollout("canary", "failed", 1, 8, 20),
        "canary 20%, step 1 of 8, failed",
        False,
        True,
    ),
    (
        "rollout.bluegreen-paused.yaml",
        Rollout("blue-green", "paused"),
        "blue-green: preview",
        False,
        False,
    ),
    (
        "rollout.degraded-invalid-spec.yaml",
        Rollout("canary", "failed", 2, 2, 100),
        "canary 100%, step 2 of 2, failed",
        False,
        True,
    ),
]


@pytest.mark.parametrize(
    ("name", "expected", "shown", "settled", "failed"), ARGO, ids=[c[0] for c in ARGO]
)
def test_a_recorded_argo_rollout(
    name: str, expected: Rollout, shown: str, settled: bool, failed: bool
) -> None:
    found = argo_rollout(fixture(name))
    assert found.rollout == expected
    assert found.rollout.describe() == shown
    live = argo_healthy(found)
    assert (live.settled, live.failed) == (settled, failed)
    if not settled:  # the live cell says what holds it
        assert f"healthy ({shown}) at aaaaaaaaaa" in live.describe()


def test_the_rollouts_own_words_are_the_message() -> None:
    aborted = argo_rollout(fixture("rollout.canary-aborted.yaml"))
    assert aborted.message == (
        'RolloutAborted: metric "web" assessed Failed due to failed (1) > failureLimit (0)'
    )
    assert argo_rollout(fixture("rollout.canary-paused-step.yaml")).message == "CanaryPauseStep"
    assert argo_rollout(fixture("rollout.degraded-invalid-spec.yaml")).message == "InvalidSpec"
    timed_out = argo_rollout(fixture("rollout.canary-traffic-weights.yaml")).message
    assert timed_out.startswith("ProgressDeadlineExceeded: ")
    assert "has timed out progressing" in timed_out


def test_a_rollout_whose_new_spec_is_not_yet_observed_is_progressing() -> None:
    done = rollout("api", done=True)
    assert argo_rollout(done).rollout.phase == "succeeded"
    done["metadata"]["generation"] = 4  # the status speaks of generation 3
    found = argo_rollout(done)
    assert found.rollout.phase == "progressing"
    assert found.message == "waiting for rollout spec update to be observed"


def test_a_completed_rollout_counts_from_when_it_completed() -> None:
    found = argo_rollout(rollout("api", done=True, since="2026-11-30T11:30:00Z"))
    assert found.since == datetime(2026, 11, 30, 11, 30, tzinfo=UTC)
    live = argo_healthy(found)
    assert live.settled and live.since == found.since  # not Argo CD's 10:00
    assert live.message == ""


# --- Flagger, from recorded Canaries --------------------------------------------------------


def with_status(spec_file: str, **status: Any) -> dict[str, Any]:
    """A recorded Canary (its spec) with the status Flagger's docs show for one phase."""
    obj = fixture(spec_file)
    obj["status"] = status
    return obj


def kubectl_get_rows() -> list[tuple[str, int]]:
    """`kubectl get canaries` as Flagger's docs show it: STATUS and WEIGHT per canary."""
    lines = (FIXTURES / "canaries.kubectl-get.how-it-works.txt").read_text().splitlines()[1:]
    return [(line.split()[2], int(line.split()[3])) for line in lines]


def test_the_docs_canaries_as_kubectl_shows_them() -> None:
    assert kubectl_get_rows() == [("Progressing", 15), ("Succeeded", 0), ("Failed", 0)]
    progressing, succeeded, failed = "Progressing", "Succeeded", "Failed"
    rows = {
        phase: flagger_canary(
            with_status("canary.istio-stepweight.yaml", phase=phase, canaryWeight=weight)
        )
        for phase, weight in kubectl_get_rows()
    }
    # maxWeight 50 in steps of 5: ten steps, 15% is the third
    assert rows[progressing].rollout == Rollout("canary", "progressing", 3, 10, 15)
    assert rows[progressing].rollout.describe() == "canary 15%, step 3 of 10"
    assert rows[succeeded].rollout == Rollout("canary", "succeeded", 10, 10, 100)
    assert rows[failed].rollout.describe() == "canary, failed"
    assert argo_healthy(rows[failed]).failed
    assert not argo_healthy(rows[progressing]).settled
    assert argo_healthy(rows[succeeded]).settled


def test_the_docs_successful_status_without_a_phase_is_succeeded() -> None:
    status = fixture("canary-status.succeeded.how-it-works.yaml")["status"]
    found = flagger_canary(with_status("canary.istio-stepweight.yaml", **status))
    assert found.rollout.phase == "succeeded"  # from the Promoted condition's reason
    assert found.since == datetime(2019, 7, 10, 8, 23, 18, tzinfo=UTC)


def test_step_weights_count_as_steps() -> None:
    found = flagger_canary(
        with_status("canary.linkerd-stepweights.yaml", phase="Progressing", canaryWeight=15)
    )
    assert found.rollout.describe() == "canary 15%, step 3 of 11"


def test_iterations_without_match_are_blue_green() -> None:
    # the blue-green tutorial's `kubectl get canaries`: Progressing at weight 100
    found = flagger_canary(
        with_status("canary.kubernetes-blue-green.yaml", phase="Progressing", canaryWeight=100)
    )
    assert found.rollout == Rollout("blue-green", "progressing")
    assert found.rollout.describe() == "blue-green: preview"


FLAGGER_PHASES = [
    # Flagger's phase → ours, and what the live cell says
    ("Initializing", "progressing", "canary"),
    ("Initialized", "succeeded", "canary 100%, step 5 of 5"),
    ("Waiting", "paused", "canary 20%, step 2 of 5, paused"),
    ("Progressing", "progressing", "canary 20%, step 2 of 5"),
    ("WaitingPromotion", "paused", "canary, paused"),
    ("Promoting", "promoting", "canary 20%, step 2 of 5"),
    ("Finalising", "promoting", "canary"),
    ("Succeeded", "succeeded", "canary 100%, step 5 of 5"),
    ("Failed", "failed", "canary, failed"),
    ("Terminating", "progressing", "canary"),
    ("Terminated", "succeeded", "canary 100%, step 5 of 5"),
]


@pytest.mark.parametrize(("phase", "ours", "shown"), FLAGGER_PHASES)
def test_every_flagger_phase(phase: str, ours: str, shown: str) -> None:
    found = flagger_canary(canary("api", phase=phase, weight=20, iterations=2))
    assert found.rollout.phase == ours
    assert found.rollout.describe() == shown
    live = argo_healthy(found)
    assert live.settled == (ours == "succeeded")
    assert live.failed == (ours == "failed")


def test_failed_checks_are_in_the_message() -> None:
    found = flagger_canary(canary("api", phase="Failed", failed_checks=5))
    assert found.message == (
        "Canary analysis failed, Deployment scaled to zero. (5 failed checks, threshold 5)"
    )
    assert "Canary analysis failed" in argo_healthy(found).describe()


# --- the overlay ------------------------------------------------------------------------------


def test_the_clusters_rollout_replaces_argo_cds_guess() -> None:
    guessed = Live(
        "argocd", "synced", "suspended", "a" * 40, NOW, NOW, rollout=Rollout("canary", "paused")
    )
    live = overlay(guessed, argo_rollout(rollout("api", step=2)))
    assert live.rollout == Rollout("canary", "paused", 3, 5, 20)
    assert live.message == "CanaryPauseStep"


def test_an_unknown_rollout_is_never_settled_and_says_why() -> None:
    live = argo_healthy(Found.unknown("no Rollout api/api in kubernetes https://k8s"))
    assert not live.settled and not live.failed
    assert live.health == "healthy" and live.sync == "synced"  # Argo CD's answer stays
    assert live.describe().startswith("healthy (rollout unknown) at aaaaaaaaaa since ")
    assert live.describe().endswith(
        ": rollout unknown: no Rollout api/api in kubernetes https://k8s"
    )
    assert Live.from_json(live.to_json()) == live


# --- reading through the Kubernetes API -------------------------------------------------------


def poller(server: KubeServer, tmp: Path, context: str = "fleet") -> Rollouts:
    kubeconfig = write_kubeconfig(tmp / "kubeconfig", server.url, server.token, context)
    return Rollouts(str(kubeconfig), policy=QUICK)


def test_one_cluster_wide_list_when_the_namespace_is_a_template(tmp_path: Path) -> None:
    with kube_server() as server:
        server.put(*(rollout(f"app{i}", step=1) for i in range(30)))
        asks = [Ask("", "argo-rollouts", f"app{i}", f"app{i}", True) for i in range(30)]
        result = poller(server, tmp_path).poll(asks, NOW)
        assert server.hits["list rollouts *"] == 1 and server.lists == 1
    assert result.calls == 1
    assert {f.rollout.describe() for f in result.found.values()} == {"canary 20%, step 2 of 5"}


def test_one_list_per_namespace_when_it_is_fixed(tmp_path: Path) -> None:
    with kube_server() as server:
        server.put(canary("api", namespace="prod", weight=30), canary("web", namespace="prod"))
        server.put(canary("api", namespace="edge", phase="Succeeded"))
        asks = [
            Ask("", "flagger", "prod", "api", False),
            Ask("", "flagger", "prod", "web", False),
            Ask("", "flagger", "edge", "api", False),
        ]
        found = poller(server, tmp_path).poll(asks, NOW).found
        assert server.hits["list canaries prod"] == 1 and server.hits["list canaries edge"] == 1
        assert server.lists == 2
    assert found[asks[0]].rollout.describe() == "canary 30%, step 3 of 5"
    assert found[asks[2]].rollout.phase == "succeeded"


def test_an_object_not_listed_is_unknown_and_says_which(tmp_path: Path) -> None:
    with kube_server() as server:
        server.put(rollout("web"))
        ask = Ask("", "argo-rollouts", "api", "api", True)
        found = poller(server, tmp_path).poll([ask], NOW).found[ask]
    assert found.rollout.describe() == "rollout unknown"
    assert found.message == f"rollout unknown: no Rollout api/api in kubernetes {server.url}"


def test_rbac_refusing_the_cluster_wide_list_says_what_to_grant(tmp_path: Path) -> None:
    with kube_server(forbidden={"*"}) as server:
        ask = Ask("", "argo-rollouts", "api", "api", True)
        found = poller(server, tmp_path).poll([ask], NOW).found[ask]
    assert 'cannot list resource "rollouts" in API group "argoproj.io" at the cluster scope' in (
        found.message
    )
    assert (
        "grant get, list and watch on rollouts.argoproj.io in every namespace (a ClusterRole"
        in (found.message)
    )
    assert "\n" not in found.message and "kube-token" not in found.message


def test_an_unreachable_context_is_unknown_and_the_others_are_read(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{s.getsockname()[1]}"
    with kube_server() as server:
        server.put(rollout("api", done=True))
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url, server.token, "east")
        data = yaml.safe_load(kubeconfig.read_text())
        data["clusters"].append({"name": "west", "cluster": {"server": gone}})
        data["contexts"].append(
            {"name": "west", "context": {"cluster": "west", "user": "promobot"}}
        )
        kubeconfig.write_text(yaml.safe_dump(data))
        east = Ask("east", "argo-rollouts", "api", "api", True)
        west = Ask("west", "argo-rollouts", "api", "api", True)
        found = Rollouts(str(kubeconfig), policy=QUICK).poll([east, west], NOW).found
    assert found[east].rollout.phase == "succeeded"
    assert found[west].rollout.phase == "unknown"
    assert found[west].message.startswith(
        f"rollout unknown: kubernetes {gone} (list rollouts.argoproj.io in all namespaces): "
        "cannot connect"
    )


def test_without_a_kubeconfig_every_rollout_is_unknown_naming_the_setting() -> None:
    ask = Ask("", "flagger", "api", "api", True)
    found = Rollouts(None).poll([ask], NOW).found[ask]
    assert found.rollout.phase == "unknown"
    assert "PROMOBOT_KUBECONFIG is not set" in found.message


def test_a_kubeconfig_without_the_context_is_unknown_naming_both(tmp_path: Path) -> None:
    with kube_server() as server:
        ask = Ask("nowhere", "flagger", "api", "api", True)
        found = poller(server, tmp_path).poll([ask], NOW).found[ask]
    assert "PROMOBOT_KUBECONFIG" in found.message and "context nowhere" in found.message


# --- configuration ----------------------------------------------------------------------------

CONFIG = """\
version: 1
environments:
  staging:
    live:
      argocd: {}
      rollout: {kind: argo-rollouts}
  prod:
    from: staging
    live:
      argocd: {}
      rollout: {kind: flagger, name: "{app}-primary", namespace: prod, context: prod-eu}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: 'envs/{env}/api.yaml', field: image.tag}
"""


def test_the_configuration_names_the_rollouts_to_read() -> None:
    assert wanted(config.load(CONFIG)) == {
        Ask("", "argo-rollouts", "api", "api", True): [("api", "staging")],
        Ask("prod-eu", "flagger", "prod", "api-primary", False): [("api", "prod")],
    }


def test_a_rollout_needs_a_kind_and_a_plain_context() -> None:
    with pytest.raises(ConfigError) as caught:
        config.load(CONFIG.replace("{kind: argo-rollouts}", "{name: api}"))
    assert ".promobot.yaml:6:16: environments.staging.live.rollout.kind: required" in str(
        caught.value
    )
    with pytest.raises(ConfigError) as caught:
        config.load(CONFIG.replace("context: prod-eu", "context: '{env}'"))
    assert "rollout context '{env}' names a context of PROMOBOT_KUBECONFIG" in str(caught.value)
    with pytest.raises(ConfigError, match=r"unknown placeholder \{team\}"):
        config.load(CONFIG.replace("namespace: prod", "namespace: '{team}'"))


def test_the_kubeconfig_is_a_service_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import settings

    monkeypatch.setenv("PROMOBOT_KUBECONFIG", "/etc/promobot/kubeconfig")
    assert settings.load().kubeconfig == "/etc/promobot/kubeconfig"
