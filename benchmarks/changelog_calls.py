"""What a promotion's changelog costs in forge calls, counted by the forge simulator.

"api 1.3.0 → 1.7.2 in prod" with twelve versions in between (1.3.1 … 1.7.2), the notes in
an application repository on GitHub and on GitLab (through PyGithub and python-gitlab over
HTTP on loopback), in three shapes: a release for every version, a CHANGELOG.md and no
releases, neither (each version's commits). For each:

  first    calls the first time the PR body is made (nothing kept yet)
  again    calls when the same PR is rebuilt or superseded, by another process with the same
           store (the queue's store in the service)
  newer    calls when the PR is superseded by 1.7.3 (one more version)

and the wall time of the first lookup. Also, with a forge that does not answer, how long the
body waits (the budget) and what it then says.

    .venv/bin/python benchmarks/changelog_calls.py

The last line is one JSON object: {"github": {"releases": {"first": N, ...}, ...}, ...}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.changelog.finder import Finder
from bot.changelog.store import MemoryStore
from tests import changelogs as c
from tests.forgesim import Server
from tests.forgesim.world import Fault

SHAPES = {
    "releases": {"releases": True, "changelog": False},
    "changelog": {"releases": False, "changelog": True},
    "commits": {"releases": False, "changelog": False},
}
WHERE = {"github": "github.com/acme/api", "gitlab": "gitlab.com/acme/api"}


def calls(server: Server) -> int:
    return sum(server.world.calls.values())


def measure(forge: str, shape: str) -> dict[str, float]:
    with Server() as server:
        c.setup_world(server.world)
        c.app_repo(server.world, **SHAPES[shape])  # type: ignore[arg-type]
        config = c.config(WHERE[forge])
        store = MemoryStore()
        server.world.reset_calls()
        started = time.perf_counter()
        (found,) = Finder(c.hosts(server), store)(config, c.promotion())
        took = time.perf_counter() - started
        assert len(found.notes) == 12, found
        first = calls(server)
        server.world.reset_calls()
        (again,) = Finder(c.hosts(server), store)(config, c.promotion())
        assert again == found
        rebuilt = calls(server)
        server.world.tag(c.APP_REPO, "v1.7.3", {"y": "1"}, "Release 1.7.3", c.notes_of("1.7.3"))
        server.world.reset_calls()
        Finder(c.hosts(server), store)(config, c.promotion("1.3.0", "1.7.3"))
        return {"first": first, "again": rebuilt, "newer": calls(server), "ms": round(took * 1000)}


def hung() -> dict[str, object]:
    with Server() as server:
        c.setup_world(server.world)
        c.app_repo(server.world)
        server.world.faults.append(Fault("*", "/acme/api/", status=200, delay=30.0, times=100))
        finder = Finder(c.hosts(server), MemoryStore(), budget=5.0)
        started = time.perf_counter()
        (found,) = finder(c.config(), c.promotion())
        took = time.perf_counter() - started
        finder.close()
        return {"waited_s": round(took, 2), "pending": found.pending}


def main() -> None:
    results: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{'forge':<8} {'notes in':<10} {'first':>6} {'again':>6} {'1.7.3':>6} {'ms':>6}")
    for forge in ("github", "gitlab"):
        results[forge] = {}
        for shape in SHAPES:
            row = measure(forge, shape)
            results[forge][shape] = row
            print(
                f"{forge:<8} {shape:<10} {row['first']:>6} {row['again']:>6} {row['newer']:>6} "
                f"{row['ms']:>6}"
            )
    stalled = hung()
    print(
        f"a forge that never answers: the body waited {stalled['waited_s']} s, "
        f"then said 'not fetched in time' ({stalled['pending']})"
    )
    print(json.dumps({**results, "hung": stalled}))


if __name__ == "__main__":
    main()
