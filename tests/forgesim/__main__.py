"""Start the forge simulator on its own, to try promobot by hand.

    python -m tests.forgesim --port 9000 --repo acme/env-repo=config/examples/helm-values \
        --token dev-token --webhook-url http://127.0.0.1:8080/webhooks/github
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.forgesim.server import Server


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(folder).parts
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.forgesim",
        description="A GitHub (REST v3, under /api/v3) and GitLab (v4, under /api/v4) simulator "
        "backed by real bare git repositories, on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=9000, help="port on 127.0.0.1 (default 9000)")
    parser.add_argument("--data", type=Path, help="folder for the bare repos (default: temporary)")
    parser.add_argument(
        "--repo",
        action="append",
        default=[],
        metavar="OWNER/NAME=FOLDER",
        help="create a repo from a folder's files (repeatable)",
    )
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN[=LOGIN]",
        help="accept this token, for LOGIN (default promobot[bot]) (repeatable)",
    )
    parser.add_argument("--webhook-url", help="send webhooks here")
    parser.add_argument("--webhook-secret", default="sim-secret", help="HMAC secret / GitLab token")
    parser.add_argument(
        "--format", choices=["github", "gitlab"], default="github", help="webhook format"
    )
    parser.add_argument("--latency-ms", type=float, default=0, help="added to every API call")
    args = parser.parse_args(argv)

    server = Server(args.data, args.port)
    world = server.world
    for spec in args.token:
        token, _, login = spec.partition("=")
        world.add_user(login or "promobot[bot]", bot=not login, token=token)
    for spec in args.repo:
        name, _, folder = spec.partition("=")
        world.add_repo(name, _files(Path(folder)))
        world.repos[name].permissions.update({u: "admin" for u in world.users})
    world.webhook_url = args.webhook_url
    world.webhook_secret = args.webhook_secret
    world.webhook_format = args.format
    world.latency = args.latency_ms / 1000
    server.start()
    print(
        f"forge simulator on {server.url}: GitHub API {server.github_url}, "
        f"GitLab API {server.url}/api/v4",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
