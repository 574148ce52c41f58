"""The audit log end to end, on GitHub and GitLab: a version promoted dev → staging → prod-eu,
approved by a person and merged, then "who approved api 1.5.0 into prod-eu?" asked of the API
(behind the read token), of the data dir's file and of `promobot audit` on a clone; a refused
/promote is there with its author and the reason."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from pydantic import SecretStr
from starlette.testclient import TestClient

from bot import audit, events
from bot.cli import main
from bot.web.app import create_app
from tests.conftest import SIGNING_KEY
from tests.e2e.scene import REPO, Scene

TOKEN = "read-token-for-the-audit"


def promote_to_prod(scene: Scene) -> int:
    """1.5.0 through dev (bob merges) and staging (auto, after its soak) to a prod-eu PR that
    alice approves and merges; the prod-eu PR's number."""
    scene.service.handle(events.Artifact(source_key="image:ghcr.io/acme/api", version="1.5.0"))
    dev = scene.open_pr("dev")
    assert "✅ Merged" in scene.say("bob", dev.number, "/merge")[0]
    scene.clock.now += timedelta(minutes=31)
    scene.service.review_open()
    eu = scene.open_pr("prod-eu")
    scene.approve("bob", eu.number)  # not an approver: never named as one
    scene.approve("alice", eu.number)
    assert "✅ Merged" in scene.say("alice", eu.number, "/merge")[0]
    return eu.number


def client(scene: Scene) -> TestClient:
    service = scene.service
    service.settings = service.settings.model_copy(update={"read_token": SecretStr(TOKEN)})
    return TestClient(create_app(service))


def get(web: TestClient, query: str, token: str | None = TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return web.get(f"/api/v1/audit{query}", headers=headers)


def test_who_approved_api_1_5_0_into_prod_is_one_query(scene: Scene) -> None:
    number = promote_to_prod(scene)
    merge_sha = scene.world.repos[REPO].git.text("rev-parse", "refs/heads/main")
    web = client(scene)

    answer = get(web, "?app=api&env=prod-eu")
    assert answer.status_code == 200, answer.text
    records = answer.json()["records"]
    (merged,) = [r for r in records if r["kind"] == "merged"]
    assert merged["approvers"] == ["alice"]  # bob approved too, but is no approver
    assert merged["actor"] == "alice" and merged["outcome"] == "merged"
    assert merged["pr"] == number and merged["sha"] == merge_sha
    assert merged["changes"] == [
        {"app": "api", "component": "image", "from": "1.4.2", "to": "1.5.0"}
    ]
    assert merged["url"] and merged["v"] == 1
    # the command that merged it, and the verdicts before: waiting, then passing
    (command,) = [r for r in records if r["kind"] == "command"]
    assert (command["actor"], command["command"], command["outcome"]) == (
        "alice",
        "/merge",
        "allowed",
    )
    verdicts = [r["outcome"] for r in records if r["kind"] == "gate"]
    assert verdicts[0] == "pending" and verdicts[-1] == "pass"
    pending = next(r for r in records if r["kind"] == "gate")
    assert pending["inputs"]["gates"][0]["gate"] == "approvals"
    assert records[0]["kind"] == "opened"

    # staging merged on its own: no actor, no approvers, the auto-merge
    staging = get(web, "?env=staging").json()["records"]
    (auto,) = [r for r in staging if r["kind"] == "merged"]
    assert auto["actor"] is None and auto["outcome"] == "auto-merged"

    # the data dir's file holds the same records
    lines = (scene.service.settings.data_dir / audit.FILENAME).read_text().splitlines()
    assert merged["id"] in {json.loads(line)["id"] for line in lines}


def test_a_refused_promote_is_recorded_with_its_author_and_the_reason(scene: Scene) -> None:
    scene.service.handle(events.Artifact(source_key="image:ghcr.io/acme/api", version="1.5.0"))
    dev = scene.open_pr("dev")
    reply = scene.say("bob", dev.number, "/promote api --to prod-eu --only image --version 1.5.1")
    assert "may not /promote to prod-eu" in reply[0]

    records = get(client(scene), "?env=prod-eu").json()["records"]
    (refused,) = [r for r in records if r["kind"] == "command"]
    assert refused["actor"] == "bob" and refused["outcome"] == "refused"
    assert refused["command"] == "/promote api --to prod-eu --only image --version 1.5.1"
    assert "@bob may not /promote to prod-eu: allowed are `@acme/sre`" in refused["reason"]
    assert refused["apps"] == ["api"] and refused["pr"] == dev.number
    assert refused["inputs"]["permission"] == "write"


def test_the_audit_api_is_behind_the_read_token_paginated_and_says_what_is_wrong(
    scene: Scene,
) -> None:
    promote_to_prod(scene)
    web = client(scene)
    assert get(web, "", token=None).status_code == 401
    assert get(web, "", token="wrong").status_code == 401

    everything = get(web, "?limit=1000").json()
    assert everything["next"] is None
    pages, cursor = [], ""
    while True:
        page = get(web, f"?limit=3&cursor={cursor}").json()
        pages += page["records"]
        if page["next"] is None:
            break
        cursor = page["next"]
    assert [r["id"] for r in pages] == [r["id"] for r in everything["records"]]
    assert len(pages) > 3

    later = everything["records"][-1]["at"]
    assert all(r["at"] >= later for r in get(web, f"?since={later}").json()["records"])
    assert get(web, "?since=1d").json()["records"]  # a duration ago

    for query, says in [
        ("?since=yesterday", "since: 'yesterday' is neither a date or time"),
        ("?limit=0", "limit: '0' is not a number from 1 to 1000"),
        ("?limit=ten", "limit: 'ten' is not a number"),
        ("?cursor=abc", "cursor: not one this API gave"),
        ("?app=../etc", "app: '../etc' is not an app or environment name"),
        ("?colour=red", "unknown query parameter 'colour'; known: app, env, since"),
        ("?env=a&env=b", "env: give it once"),
    ]:
        answer = get(web, query)
        assert answer.status_code == 400, query
        assert says in answer.json()["error"], (query, answer.json())


def test_promobot_audit_on_a_clone_answers_from_the_history_and_the_prs(
    scene: Scene, tmp_path: Path
) -> None:
    number = promote_to_prod(scene)
    clone = tmp_path / "clone"
    bare = scene.world.repos[REPO].git.path
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
    settings = {
        "PROMOBOT_FORGE": scene.kind,
        "PROMOBOT_REPO": REPO,
        "PROMOBOT_SIGNING_KEY": SIGNING_KEY,
        "PROMOBOT_GITHUB_URL": scene.server.github_url,
        "PROMOBOT_GITHUB_TOKEN": "bot-token",
        "PROMOBOT_GITLAB_URL": scene.server.gitlab_url,
        "PROMOBOT_GITLAB_TOKEN": "bot-token",
    }
    runner = CliRunner()
    ran = runner.invoke(
        main,
        ["audit", "--repo", str(clone), "--app", "api", "--env", "prod-eu", "--format", "json"],
        env=settings,
    )
    assert ran.exit_code == 0, ran.output
    records = [json.loads(line) for line in ran.output.splitlines()]
    (merged,) = [r for r in records if r["kind"] == "merged"]
    assert merged["pr"] == number and merged["approvers"] == ["alice"]
    assert merged["sha"] == scene.world.repos[REPO].git.text("rev-parse", "refs/heads/main")
    assert merged["changes"][0]["to"] == "1.5.0"
    commands = [(r["actor"], r["command"], r["outcome"]) for r in records if r["kind"] == "command"]
    assert ("alice", "/merge", "allowed") in commands

    table = runner.invoke(main, ["audit", "--repo", str(clone), "--env", "prod-eu"], env=settings)
    assert table.exit_code == 0, table.output
    assert f"merged          prod-eu    api          #{number}" in table.output
    assert "approved by alice" in table.output

    bad = runner.invoke(main, ["audit", "--repo", str(clone), "--since", "soon"], env=settings)
    assert bad.exit_code == 1
    assert "error: --since: 'soon' is neither a date or time" in bad.output
