"""Forge API calls promobot makes, counted by the forge simulator — the real cost (rate limits).

For GitHub and GitLab, through PyGithub and python-gitlab over HTTP on loopback:
  read       the environment repo's state: the default branch head and every file (the
             generated repo of --apps apps × 5 environments, 2 files each)
  open       a promotion PR that changes 3 files, with its labels (find, commit, open)
  supersede  the same PR rebuilt for a newer version (find, recommit, update the body)

Beside each, what the one-call-per-file Contents API would cost for the same work.

    .venv/bin/python benchmarks/forge_calls.py [--apps 50]

The last line is one JSON object: {"github": {"read": N, "open": N, "supersede": N}, ...}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.forges.base import Forge
from bot.forges.github import GitHubForge
from bot.forges.gitlab import GitLabForge
from tests.forgesim import Server

REPO = "acme/env-repo"
TOKEN = "bench-token"
ENVS = ["dev", "qa", "staging", "prod-eu", "prod-us"]
TARGETS = {
    "github": {"read": 2, "open": 8, "supersede": 6},
    "gitlab": {"read": 2, "open": 4, "supersede": 3},
}


CHART = "dependencies:\n  - name: svc\n    version: 2.3.0\n"


def files(apps: int) -> dict[str, str]:
    out = {
        ".promobot.yaml": "version: 1\nenvironments:\n" + "".join(f"  {e}: {{}}\n" for e in ENVS)
    }
    for env in ENVS:
        for i in range(apps):
            out[f"envs/{env}/app{i:03d}/values.yaml"] = f"image:\n  tag: 1.{i}.0\n"
            out[f"envs/{env}/app{i:03d}/Chart.yaml"] = (
                "dependencies:\n  - name: svc\n    version: 2.3.0\n"
            )
    return out


def changes(tag: str) -> dict[str, bytes | None]:
    return {
        "envs/prod-eu/app000/values.yaml": f"image:\n  tag: {tag}\n".encode(),
        "envs/prod-eu/app001/values.yaml": f"image:\n  tag: {tag}\n".encode(),
        "envs/prod-eu/app002/values.yaml": f"image:\n  tag: {tag}\n".encode(),
    }


def measure(server: Server, forge: Forge) -> dict[str, int]:
    world = server.world
    branch = "promobot/prod-eu/storefront"
    labels = ("promotion", "env:prod-eu", "app:storefront")

    world.reset_calls()
    base = forge.head()
    assert base is not None
    snapshot = forge.snapshot(base)
    read = sum(world.calls.values())
    assert len(snapshot.files) >= 3

    world.reset_calls()
    assert forge.find_pr(branch) is None
    first = forge.commit_files(branch, base, changes("2.0.0"), "Promote storefront to prod-eu")
    pr = forge.open_pr(branch, "Promote storefront to prod-eu", "table v1", labels)
    opened = sum(world.calls.values())

    world.reset_calls()
    found = forge.find_pr(branch)
    assert found is not None and found.number == pr.number
    # over the commit the open PR's record names, as the engine writes it: no head read
    message = "Promote storefront to prod-eu (2.1.0)"
    forge.commit_files(branch, base, changes("2.1.0"), message, over=first)
    forge.update_pr(pr.number, title="Promote storefront to prod-eu (2.1.0)", body="table v2")
    superseded = sum(world.calls.values())
    return {"read": read, "open": opened, "supersede": superseded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=50)
    args = parser.parse_args()
    seed = files(args.apps)
    result: dict[str, dict[str, int]] = {}
    with Server() as server:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token=TOKEN)
        for kind in ("github", "gitlab"):
            world.repos.clear()
            world.add_repo(REPO, seed).permissions["promobot[bot]"] = "admin"
            forge: Forge = (
                GitHubForge(REPO, token=TOKEN, base_url=server.github_url)
                if kind == "github"
                else GitLabForge(REPO, token=TOKEN, url=server.gitlab_url)
            )
            result[kind] = measure(server, forge)
    files_read = len(seed)
    contents_api = {
        # one call for the tree, one per file
        "read": 1 + files_read,
        # find the PR, create the branch, then per file a GET (for its blob sha) and a PUT
        # (one commit each, not atomic), then the PR and its labels
        "open": 1 + 1 + 3 * 2 + 1 + 1,
        # find, reset the branch, per file GET + PUT, update the PR
        "supersede": 1 + 1 + 3 * 2 + 1,
    }
    for kind, counts in result.items():
        print(
            f"{kind:7} "
            + "  ".join(
                f"{k} {v} (target ≤ {TARGETS[kind][k]}, Contents API ~{contents_api[k]})"
                for k, v in counts.items()
            )
        )
    result_out = {**result, "files": files_read, "contents_api": contents_api}
    print(json.dumps(result_out))


if __name__ == "__main__":
    main()
