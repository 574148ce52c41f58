"""Forge API calls a slash command costs, counted by the forge simulator, GitHub and GitLab.

  webhook    one `/hold` from its delivery: read back, acknowledged, run, answered
  reconcile  five `/hold`s promobot missed, picked up by one reconcile of their PR
  edited     one comment edited in the second it was posted, found by the reconcile: not run,
             answered once

Each counts the REST calls GitHub or GitLab charges (a 304 is free on GitHub) and, apart,
GitHub's GraphQL queries, which draw on a rate limit of their own (5,000 points an hour; one
of these queries costs one point). promobot asks GraphQL only about comments that would run
and whose REST times cannot tell whether they were edited (posted and edited in one second),
up to 100 comments a query.

    .venv/bin/python benchmarks/command_calls.py

The last line is one JSON object: {"github": {"webhook": {"rest": N, "graphql": N}, ...}, ...}.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import events
from tests.e2e.scene import Scene, steering
from tests.forgesim.world import World, clock_at

GRAPHQL = "github POST /api/graphql"


def cost(world: World, run: Callable[[], object]) -> dict[str, int]:
    world.reset_calls()
    run()
    charged = sum(world.calls.values()) - sum(world.not_modified.values())
    graphql = world.calls.get(GRAPHQL, 0)
    return {"rest": charged - graphql, "graphql": graphql}


def scenarios(scene: Scene) -> dict[str, dict[str, int]]:
    scene.service.handle(events.Artifact(source_key="image:ghcr.io/acme/api", version="1.5.0"))
    number = scene.open_pr("dev").number
    found: dict[str, dict[str, int]] = {}

    comment = scene.post("bob", number, "/hold for the release")
    event = scene.comment_event("bob", number, comment, "/hold for the release")
    found["webhook"] = cost(scene.world, lambda: scene.service.runner.handle(event))

    for i in range(5):
        scene.post("bob", number, f"/hold reason {i}")
    found["reconcile"] = cost(scene.world, lambda: scene.service.runner.pick_up(number))

    posted = datetime.now(UTC).replace(microsecond=100_000)
    with clock_at(posted):
        comment = scene.post("alice", number, "Looks good")
    with clock_at(posted + timedelta(milliseconds=300)):
        scene.edit_comment("bob", number, comment, "/unhold")
    found["edited"] = cost(scene.world, lambda: scene.service.runner.pick_up(number))
    return found


def main() -> None:
    report = {}
    for kind in ("github", "gitlab"):
        with tempfile.TemporaryDirectory() as data, steering(kind, Path(data)) as scene:
            report[kind] = scenarios(scene)
            for name, counted in report[kind].items():
                print(f"{kind:7} {name:10} REST {counted['rest']:3}  GraphQL {counted['graphql']}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
