"""What one poll of Argo CD costs: API calls and time, on the Argo CD simulator over loopback.

--apps apps × 5 environments, each environment `live: {argocd: {}}`, so --apps × 5
Applications (realistic ones: two resources, a finished sync, an image each; some out of sync,
progressing or degraded). A poll reads every Application the configuration names into `Live`.

    .venv/bin/python benchmarks/live_poll.py [--apps 500] [--polls 5]

The target is one list call per Argo CD instance per poll, whatever the number of apps. Beside
it, the bytes of the list with promobot's `fields=` and without (the whole Applications).

Each environment also has `rollout: {kind: argo-rollouts, context: ENV}` (one cluster per
environment, a Rollout per app in the app's namespace): the Rollouts are read from the
Kubernetes API server face through the real client: the first poll lists once per cluster
(a cluster-wide list, since the namespace is `{app}`), whatever the number of apps, and a
watch from that list keeps it current, so the later polls cost no request while 10 Rollouts
move a step between every two of them (each poll must see the moves). The last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import yaml

from bot import config
from bot.live import rollouts
from bot.live.argocd import FIELDS, ArgoCD, wanted
from tests.argocd.server import APP_FIELDS, application, argocd_server, pick
from tests.kube.server import kube_server, rollout, write_kubeconfig

ENVS = ["dev", "qa", "staging", "prod-eu", "prod-us"]
TOKEN = "bench-token"
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "argocd"


def configuration(apps: int) -> config.Config:
    envs = "".join(
        f"  {env}: {{{'from: ' + ENVS[i - 1] + ', ' if i else ''}live: {{argocd: {{}}, "
        f"rollout: {{kind: argo-rollouts, context: {env}}}}}}}\n"
        for i, env in enumerate(ENVS)
    )
    body = "".join(
        f"  app{i:03d}:\n    components:\n      image:\n"
        f"        source: {{image: ghcr.io/acme/app{i:03d}}}\n"
        f"        target: {{file: 'envs/{{env}}/app{i:03d}.yaml', field: image.tag}}\n"
        for i in range(apps)
    )
    return config.load("version: 1\nenvironments:\n" + envs + "apps:\n" + body)


def poll_rollouts(cfg: config.Config, apps: int, polls: int) -> dict[str, object]:
    """The same environments' Rollouts: one cluster (kubeconfig context) per environment, all
    served by one API server face; every other Rollout mid-canary."""
    asks = list(rollouts.wanted(cfg))
    with kube_server() as server, tempfile.TemporaryDirectory() as tmp:
        server.put(*(rollout(f"app{i:03d}", step=1, done=i % 2 == 0) for i in range(apps)))
        kubeconfig = write_kubeconfig(Path(tmp) / "kubeconfig", server.url, server.token)
        data = yaml.safe_load(kubeconfig.read_text())
        data["contexts"] = [
            {"name": env, "context": {"cluster": "management", "user": "promobot"}} for env in ENVS
        ]
        kubeconfig.write_text(yaml.safe_dump(data))
        reader = rollouts.Rollouts(str(kubeconfig))
        times, calls, missed = [], [], 0
        for poll in range(polls):
            if poll:  # ten canaries move on a step; the watches must carry it by the next poll
                moved = [rollout(f"app{i:03d}", step=poll % 4) for i in range(1, 21, 2)]
                server.put(*moved)
                time.sleep(0.3)
            started = time.perf_counter()
            result = reader.poll(asks)
            times.append(time.perf_counter() - started)
            calls.append(result.calls)
            if poll:
                steps = [f.rollout.step for a, f in result.found.items() if a.name == "app001"]
                missed += sum(step != poll % 4 + 1 for step in steps)  # shown 1-based
        reader.close()
        lists, watches = (
            server.lists,
            sum(n for key, n in server.hits.items() if key.startswith("watch ")),
        )
    rolling = sum(1 for found in result.found.values() if found.rollout.phase != "succeeded")
    return {
        "rollouts": len(asks),
        "rollout_clusters": len(ENVS),
        "rollout_lists_first_poll": calls[0],
        "rollout_requests_later_polls": sum(calls[1:]),
        "rollout_watch_requests": watches,
        "rollout_changes_missed": missed,
        "rollout_poll_seconds_first": round(times[0], 3),
        "rollout_poll_seconds_median_later": round(statistics.median(times[1:] or times), 3),
        "rollouts_rolling": rolling,
        "rollout_target_met": lists == len(ENVS) and sum(calls[1:]) == 0 and not missed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--polls", type=int, default=5)
    args = parser.parse_args()
    cfg = configuration(args.apps)
    names = list(wanted(cfg))
    states = [("Synced", "Healthy")] * 7 + [
        ("OutOfSync", "Healthy"),
        ("Synced", "Progressing"),
        ("Synced", "Degraded"),
    ]
    with argocd_server(token=TOKEN) as server:
        for n, name in enumerate(names):
            sync, health = states[n % len(states)]
            server.put(
                application(
                    name,
                    sync=sync,
                    health=health,
                    revision=f"{n:040x}",
                    images=[f"ghcr.io/acme/{name.rsplit('-', 1)[0]}:1.{n % 50}.0"],
                    resources=[
                        {
                            "group": "",
                            "version": "v1",
                            "kind": "Service",
                            "name": name,
                            "namespace": name,
                            "status": sync,
                            "health": {"status": "Healthy"},
                        },
                        {
                            "group": "apps",
                            "version": "v1",
                            "kind": "Deployment",
                            "name": name,
                            "namespace": name,
                            "status": sync,
                            "health": {"status": health},
                        },
                    ],
                )
            )
        client = ArgoCD(server.url, TOKEN)
        times, calls = [], []
        server.sent = 0
        for _ in range(args.polls):
            started = time.perf_counter()
            result = client.poll(names)
            times.append(time.perf_counter() - started)
            calls.append(result.calls)
        client.close()
        lists, gets = server.hits["list"], server.hits["get"]
        fielded = server.sent // args.polls
        whole = len(
            httpx.get(
                f"{server.url}/api/v1/applications", headers={"Authorization": f"Bearer {TOKEN}"}
            ).content
        )
    rollout_report = poll_rollouts(cfg, args.apps, args.polls)
    # the simulator's Applications are lean; a real one carries its history and sync result
    real = json.loads((FIXTURES / "application.velero-test.json").read_text())
    # as Argo CD 3.5 trims it: the names on its allowlist (it drops the others)
    asked = [f.removeprefix("items.") for f in FIELDS]
    real_fielded = pick(real, [f for f in APP_FIELDS if f in asked])
    healthy = sum(1 for live in result.lives.values() if live.settled)
    report = {
        "applications": len(names),
        "polls": args.polls,
        "list_calls_per_poll": lists / args.polls,
        "get_calls_per_poll": gets / args.polls,
        "calls_per_poll_seen_by_client": max(calls),
        "poll_seconds_median": round(statistics.median(times), 3),
        "poll_seconds_max": round(max(times), 3),
        "list_bytes_with_fields": fielded,
        "list_bytes_whole": whole,
        "real_application_bytes_whole": len(json.dumps(real, separators=(",", ":"))),
        "real_application_bytes_with_fields": len(json.dumps(real_fielded, separators=(",", ":"))),
        "settled": healthy,
        "target_met": lists == args.polls and gets == 0,
        **rollout_report,
    }
    for key, value in report.items():
        print(f"{key:32} {value}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
