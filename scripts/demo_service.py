"""Part two of `make demo`: `promobot serve` on the demo repo, a real local registry, a push.

No credentials and no forge: the service runs on the embedded default (the local forge and an
SQLite queue), the registry (Debian's docker-registry) notifies it, and the promotion appears
as a branch in the repo.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.service import Promobot, stop_all, wait_for
from tests.registry import Registry

TOKEN = "demo-registry-token"


def say(text: str) -> None:
    print(f"\n\033[1m{text}\033[0m", flush=True)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def main() -> None:
    repo = Path(sys.argv[1])
    registry = Registry(notify_token=TOKEN)
    config = repo / ".promobot.yaml"
    config.write_text(config.read_text().replace("ghcr.io/acme/api", f"{registry.host}/acme/api"))
    git(repo, "commit", "-qam", "api images now come from the local registry")
    say(f"The repo's api image now comes from a local registry at {registry.host}.")
    settings = {
        "PROMOBOT_REPO": str(repo),
        "PROMOBOT_REGISTRY_TOKEN": TOKEN,
        "PROMOBOT_DATA_DIR": str(repo.parent / "promobot-data"),
        "PROMOBOT_RECONCILE_INTERVAL": "1h",
    }
    try:
        with Promobot(settings, data=repo.parent) as promobot:
            say(f"$ PROMOBOT_REPO={repo} PROMOBOT_REGISTRY_TOKEN=… promobot serve   "
                f"# listening on {promobot.url}")  # fmt: skip
            registry.notify_url = f"{promobot.url}/webhooks/registry"
            with registry:
                say(f"$ skopeo copy oci:… docker://{registry.host}/acme/api:1.6.0")
                started = time.perf_counter()
                registry.push("acme/api", "1.6.0")
                wait_for("the promotion", lambda: git(repo, "branch", "--list", "promobot/dev/api"))
                took = time.perf_counter() - started
            say(f"The registry told promobot; {took:.2f} s after the push the promotion exists:")
            print(git(repo, "log", "--oneline", "-n", "1", "promobot/dev/api"))
            print(git(repo, "diff", "main", "promobot/dev/api"))
            say("What the service logged (JSON, one line per event):")
            for line in promobot.log().splitlines()[-3:]:
                print(line)
    finally:
        stop_all()


if __name__ == "__main__":
    main()
