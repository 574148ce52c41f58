"""Part two of `make demo`: `promobot serve` on the demo repo, a real local registry, a push.

No credentials and no forge: the service runs on the embedded default (the local forge and an
SQLite queue), the registry (Debian's docker-registry) notifies it, and the promotion appears
as a branch in the repo. Last, the overview: with DEMO_KEEP=1 (the default when standard input
is a terminal) promobot goes on serving it until Ctrl-C; with DEMO_KEEP=0 (CI) the demo prints
what it says and stops.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bot.forges.local import LocalForge
from tests.argocd.server import ArgoCDServer, application, argocd_server
from tests.e2e.service import Promobot, stop_all, wait_for
from tests.manifests.charts import api_chart, push_chart
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
    text = config.read_text().replace("ghcr.io/acme/api", f"{registry.host}/acme/api")
    # staging's cluster is deployed by Argo CD: promobot reads what it runs from Argo CD's API
    text = text.replace("  staging:\n    from: dev\n", LIVE)
    config.write_text(text)
    before = git(repo, "rev-parse", "HEAD~1")  # staging ran api 1.4.2 there
    registry.start()  # and again with the service, its notifications pointing at promobot
    try:
        charts(repo, registry)
        git(repo, "commit", "-qam", "api images and charts from a local registry; live state")
        contents(repo)
    finally:
        registry.stop()
    say(f"The repo's api image now comes from a local registry at {registry.host}, and staging "
        "says Argo CD deploys it: live: {argocd: {application: \"{app}-{env}\"}}")  # fmt: skip
    synced = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with argocd_server() as argo:
        argo.put(
            application("api-staging", revision=before, finished=synced, health_since=synced),
            application(
                "web-staging",
                revision=git(repo, "rev-parse", "HEAD"),
                finished=synced,
                health_since=synced,
            ),
        )
        service(repo, registry, argo)


def charts(repo: Path, registry: Registry) -> None:
    """The api chart's versions in the local registry, and the repo pointing at them."""
    for version in ("2.2.1", "2.3.0"):
        push_chart(registry, "acme/charts/api", version, api_chart(version))
    push_chart(registry, "acme/charts/api", "2.5.0", api_chart("2.5.0", ingress=True))
    for path in [repo / ".promobot.yaml", *repo.glob("envs/*/api/*.yaml")]:
        text = path.read_text().replace("ghcr.io/acme/charts", f"{registry.host}/acme/charts")
        path.write_text(text.replace("ghcr.io/acme/api", f"{registry.host}/acme/api"))


def contents(repo: Path) -> None:
    """What each environment is made of, and what a chart bump adds to one."""
    say("What each environment is made of: every app × environment rendered with Helm's own "
        "SDK, its umbrella chart's dependency pulled from the registry (web has values but no "
        "chart in the repo, and says so):")  # fmt: skip
    cli(repo, "inventory", "--app", "api")
    say("The api chart 2.5.0 adds an Ingress. Bumping it in dev:")
    cli(repo, "set", "api", "chart", "2.5.0", "--env", "dev", "--write")
    git(repo, "commit", "-qam", "dev: api chart 2.5.0")
    cli(repo, "status", "--contents", "--app", "api", "--env", "dev", "--env", "staging")


def cli(repo: Path, *args: str) -> None:
    say("$ promobot " + " ".join(args))
    shown = subprocess.run(
        ["promobot", *args, "--repo", str(repo)], capture_output=True, text=True, check=True
    )
    print(shown.stdout.rstrip())


def changelog_of(repo: Path, branch: str) -> str:
    """The changelog part of a promotion PR's body: after the table, before the gates."""
    pr = LocalForge(repo).find_pr(branch)
    if pr is None:
        return "(no PR)"
    text = pr.body
    start = text.find("\n\n**image**")
    end = text.find("\n\nGates\n")
    return text[start:end].strip() if 0 <= start < end else "(no changelog in the body)"


LIVE = """  staging:
    from: dev
    live: {argocd: {application: "{app}-{env}"}}
"""


def service(repo: Path, registry: Registry, argo: ArgoCDServer) -> None:
    settings = {
        "PROMOBOT_REPO": str(repo),
        "PROMOBOT_REGISTRY_TOKEN": TOKEN,
        "PROMOBOT_DATA_DIR": str(repo.parent / "promobot-data"),
        "PROMOBOT_RECONCILE_INTERVAL": "1h",
        "PROMOBOT_ARGOCD_URL": argo.url,
        "PROMOBOT_ARGOCD_TOKEN": argo.token,
    }
    try:
        promobot = Promobot(settings, data=repo.parent)
        # the registry first, so that what the service renders at its start finds the charts
        registry.notify_url = f"{promobot.url}/webhooks/registry"
        with registry, promobot:
            say(f"$ PROMOBOT_REPO={repo} PROMOBOT_REGISTRY_TOKEN=… promobot serve   "
                f"# listening on {promobot.url}")  # fmt: skip
            say(f"$ skopeo copy oci:… docker://{registry.host}/acme/api:1.6.0")
            started = time.perf_counter()
            registry.push("acme/api", "1.6.0")
            wait_for("the promotion", lambda: git(repo, "branch", "--list", "promobot/dev/api"))
            took = time.perf_counter() - started
            say(f"The registry told promobot; {took:.2f} s after the push the promotion exists:")
            print(git(repo, "log", "--oneline", "-n", "1", "promobot/dev/api"))
            print(git(repo, "diff", "main", "promobot/dev/api"))
            say("Its PR carries the notes of 1.5.1 and 1.6.0, read from the api's repo:")
            print(changelog_of(repo, "promobot/dev/api"))
            say("What the service logged (JSON, one line per event):")
            for line in promobot.log().splitlines()[-3:]:
                print(line)
            say("What staging's cluster runs, as a simulated Argo CD reports it (api has not "
                "synced the promotion yet: drift):")  # fmt: skip
            live = httpx.get(f"{promobot.url}/api/v1/status").json()["live"]
            for app, by_env in live.items():
                for env, report in by_env.items():
                    drift = ", ".join(
                        f"{c}: git {d['git']}, running {d['running']}"
                        for c, d in report["drift"].items()
                    )
                    at = (report["revision"] or "")[:10]
                    print(
                        f"{app} in {env}: {report['health']} at {at}"
                        + (f" — {drift}" if drift else "")
                    )
            say(
                f"$ PROMOBOT_ARGOCD_URL={argo.url} PROMOBOT_ARGOCD_TOKEN=… "
                "promobot status --live --env staging"
            )
            env = {
                **os.environ,
                "PROMOBOT_ARGOCD_URL": argo.url,
                "PROMOBOT_ARGOCD_TOKEN": argo.token,
            }
            shown = subprocess.run(
                ["promobot", "status", "--repo", str(repo), "--live", "--env", "staging"],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            print(shown.stdout.rstrip())
            inventory(promobot)
            overview(promobot)
    finally:
        stop_all()


def inventory(promobot: Promobot) -> None:
    """What the service rendered in the background after each change, through its API."""
    url = f"{promobot.url}/api/v1/apps/api/inventory?env=dev&env=staging"

    def rendered() -> dict[str, object] | None:
        answer = httpx.get(url)
        return answer.json() if answer.status_code == 200 and not answer.json()["pending"] else None

    found = wait_for("the rendering", rendered, timeout=120)
    assert isinstance(found, dict)
    say(f"What the service rendered in the background after the changes: GET {url}")
    for cell in found["cells"]:  # type: ignore[attr-defined]
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(cell["counts"].items()))
        print(f"api in {cell['env']}: rendered id {cell['rendered_id']}: {kinds}")


def overview(promobot: Promobot) -> None:
    """The headline: the overview's address, what it says, and — when a person watches —
    promobot serving it until they stop it."""
    page = httpx.get(f"{promobot.url}/").text
    found = re.search(r'<p class="summary">(.*?)</p>', page, re.DOTALL)
    summary = (
        " ".join(html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).split()) if found else ""
    )
    say("The overview: every app in every environment, the promotions waiting and their gates")
    print(f"{promobot.url}/   {summary}")
    print(f"also {promobot.url}/apps/api, {promobot.url}/envs/staging, "
          f"{promobot.url}/compare?from=dev&to=staging")  # fmt: skip
    keep = os.environ.get("DEMO_KEEP", "1" if sys.stdin.isatty() else "0") == "1"
    if not keep:
        print("(DEMO_KEEP=0: not kept serving; in a terminal `make demo` keeps it until Ctrl-C)")
        return
    say(f"promobot is serving the overview at {promobot.url}/ — open it in a browser. "
        "Press Ctrl-C to stop.")  # fmt: skip
    assert promobot.process is not None
    try:
        promobot.process.wait()
        print("promobot stopped.")
    except KeyboardInterrupt:  # Ctrl-C reaches promobot too, which stops on it
        print("\nStopped.")


if __name__ == "__main__":
    main()
