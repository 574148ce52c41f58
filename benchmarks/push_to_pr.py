"""From an image push to the promotion PR: a real registry, `promobot serve`, the GitHub
simulator adding --latency-ms to every API call (default 50 ms, as a real forge would).

Timed from just before `skopeo copy` starts until the simulator holds the PR with the new
version in its body: the first push opens the PR, later pushes supersede it. The forge's own
share is the API calls the simulator counted times the added latency; the rest is promobot
(plus skopeo and the registry's notification).

    .venv/bin/python benchmarks/push_to_pr.py [--runs 5] [--latency-ms 50]

The last line is one JSON object.
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

from tests.e2e.service import Promobot, stop_all
from tests.forgesim import Server
from tests.registry import Registry

REPO = "acme/env-repo"
NOTIFY = "bench-notify-token"


def config(image: str) -> str:
    return (
        "version: 1\nenvironments:\n  dev: {}\n  prod: {from: dev}\napps:\n  api:\n"
        "    components:\n      image:\n"
        f'        source: {{image: "{image}", semver: "^1"}}\n'
        '        target: {file: "envs/{env}/values.yaml", field: image.tag}\n'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=50)
    args = parser.parse_args()
    registry = Registry(notify_token=NOTIFY)
    samples: list[dict[str, float]] = []
    with Server() as server, tempfile.TemporaryDirectory(prefix="promobot-bench-") as tmp:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token="bench-token")
        repo = world.add_repo(REPO, {
            ".promobot.yaml": config(f"{registry.host}/team/api"),
            "envs/dev/values.yaml": "image:\n  tag: 1.0.0\n",
            "envs/prod/values.yaml": "image:\n  tag: 1.0.0\n",
        })  # fmt: skip
        settings = {
            "PROMOBOT_FORGE": "github", "PROMOBOT_REPO": REPO, "PROMOBOT_SIGNING_KEY": "b" * 64,
            "PROMOBOT_GITHUB_URL": server.github_url, "PROMOBOT_GITHUB_TOKEN": "bench-token",
            "PROMOBOT_REGISTRY_TOKEN": NOTIFY, "PROMOBOT_DATA_DIR": tmp,
            "PROMOBOT_RECONCILE_INTERVAL": "24h", "PROMOBOT_LOG_LEVEL": "warning",
        }  # fmt: skip
        try:
            with Promobot(settings) as promobot:
                registry.notify_url = f"{promobot.url}/webhooks/registry"
                with registry:
                    time.sleep(0.5)  # let the start-up reconcile finish
                    world.latency = args.latency_ms / 1000
                    for run in range(args.runs):
                        version = f"1.{run + 1}.0"
                        world.reset_calls()
                        start = time.perf_counter()
                        registry.push("team/api", version)
                        pushed = time.perf_counter() - start
                        while not any(f"**{version}**" in p.body for p in repo.pulls.values()):
                            if time.perf_counter() - start > 30:
                                sys.exit(f"no PR for {version}:\n{promobot.log()[-3000:]}")
                            time.sleep(0.005)
                        total = time.perf_counter() - start
                        calls = sum(world.calls.values())
                        forge = calls * args.latency_ms / 1000
                        samples.append({"total_s": total, "push_s": pushed, "calls": calls,
                                        "forge_s": forge, "promobot_s": total - forge})  # fmt: skip
                        print(f"{version}: {'opened' if run == 0 else 'superseded'} in "
                              f"{total:.3f} s ({calls} API calls = {forge:.2f} s of forge latency,"
                              f" skopeo push {pushed:.3f} s)")  # fmt: skip
        finally:
            stop_all()

    def median(key: str) -> float:
        return round(statistics.median(s[key] for s in samples), 3)

    result = {
        "latency_ms_per_call": args.latency_ms,
        "open": {k: round(v, 3) for k, v in samples[0].items()},
        "supersede_median": {k: median(k) for k in samples[0]},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
