"""The audit record, its stores (SQLite and Redis: append-only, paginated), the recorder's
bounded cost for unchanged verdicts, and `notify:` in the configuration and the settings."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import audit, config, notify
from bot.cli import main
from bot.errors import ConfigError
from bot.queue import Queue, RepoQueue
from bot.settings import Settings, load
from tests import redis_server

AT = datetime(2026, 1, 7, 11, 47, tzinfo=UTC)


def merged(**fields: object) -> audit.Record:
    values: dict[str, object] = {
        "kind": "merged",
        "repo": "acme/env-repo",
        "at": AT,
        "id": "019b98a1c2d0-0a1b2c3d4e5f",
        "env": "prod-eu",
        "apps": ("api",),
        "pr": 12,
        "url": "https://github.com/acme/env-repo/pull/12",
        "title": "Promote api to prod-eu: image 1.4.2 → 1.5.0",
        "head": "a" * 40,
        "sha": "b" * 40,
        "changes": (audit.Change("api", "image", "1.4.2", "1.5.0"),),
        "cause": "upstream",
        "actor": "alice",
        "approvers": ("alice",),
        "outcome": "merged",
        "delivery": "d-1",
    }
    values.update(fields)
    return audit.Record(**values)  # type: ignore[arg-type]


def test_the_json_form_is_stable_and_versioned() -> None:
    record = merged()
    data = record.to_json()
    assert list(data)[:5] == ["v", "id", "at", "repo", "kind"] and data["v"] == 1
    assert data["at"] == "2026-01-07T11:47:00Z"
    assert data["changes"] == [{"app": "api", "component": "image", "from": "1.4.2", "to": "1.5.0"}]
    assert audit.Record.parse(record.line()) == record
    with pytest.raises(ValueError, match="audit record version 2"):
        audit.Record.from_json({**data, "v": 2})
    with pytest.raises(ValueError, match="unknown audit record kind"):
        audit.Record.from_json({**data, "kind": "deleted"})


def sqlite_queue(tmp_path: Path) -> RepoQueue:
    settings = Settings(data_dir=tmp_path, workers=0)
    return Queue(settings, "acme/env-repo", lambda job: None).scope("acme/env-repo")


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RepoQueue]:
    if request.param == "sqlite":
        yield sqlite_queue(tmp_path)
        return
    settings = Settings(queue_url=redis_server.url(13), workers=0)
    queue = Queue(settings, "acme/env-repo", lambda job: None)
    queue.huey.storage.conn.flushdb()
    yield queue.scope("acme/env-repo")
    queue.huey.storage.conn.flushdb()


def test_records_are_read_back_oldest_first_filtered_and_in_pages(store: RepoQueue) -> None:
    for i in range(7):
        store.audit_append(
            merged(
                id=f"r{i}",
                at=AT + timedelta(minutes=i),
                env="prod-eu" if i % 2 else "staging",
                apps=("api",) if i < 5 else ("web",),
            )
        )
    every, following = store.audit_read(limit=100)
    assert [r.id for r in every] == [f"r{i}" for i in range(7)] and following is None
    pages, cursor = [], ""
    while True:
        page, cursor_next = store.audit_read(after=cursor, limit=2)
        pages += page
        if cursor_next is None:
            break
        cursor = cursor_next
    assert [r.id for r in pages] == [r.id for r in every]
    found, _ = store.audit_read(env="prod-eu", app="api")
    assert [r.id for r in found] == ["r1", "r3"]
    found, _ = store.audit_read(since=AT + timedelta(minutes=5))
    assert [r.id for r in found] == ["r5", "r6"]


def test_the_sqlite_log_refuses_updates_and_deletes(tmp_path: Path) -> None:
    store = sqlite_queue(tmp_path)
    store.audit_append(merged())
    db = sqlite3.connect(tmp_path / "queue.db")
    for statement in ("UPDATE promobot_audit SET record = '{}'", "DELETE FROM promobot_audit"):
        with pytest.raises(sqlite3.IntegrityError, match="the audit log is append-only"):
            db.execute(statement)
    assert store.audit_read()[0] == [merged()]


class Counting:
    """The queue's store, counted: what an evaluation costs the recorder."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.reads = self.writes = 0
        self.appended: list[audit.Record] = []

    def audit_append(self, record: audit.Record) -> None:
        self.appended.append(record)

    def recall(self, name: str) -> str | None:
        self.reads += 1
        return self.values.get(name)

    def remember(self, name: str, value: str) -> None:
        self.writes += 1
        self.values[name] = value


def test_an_unchanged_verdict_costs_no_io_and_no_record() -> None:
    store = Counting()
    recorder = audit.Recorder("acme/env-repo", store=store)
    verdict = ["a" * 40, [{"gate": "approvals", "state": "pending", "reason": "0 of 1"}]]
    assert recorder.changed("gate.12", verdict)
    assert (store.reads, store.writes) == (1, 1)
    for _ in range(1000):  # the reconcile, every five minutes for three days
        assert not recorder.changed("gate.12", verdict)
    assert (store.reads, store.writes) == (1, 1) and recorder.unchanged == 1000
    # another process recorded it already: one read, no record
    other = audit.Recorder("acme/env-repo", store=store)
    assert not other.changed("gate.12", verdict)
    assert recorder.changed("gate.12", ["a" * 40, []])  # a change is a record again


def test_a_failing_sink_costs_a_log_line_not_the_decision(caplog: pytest.LogCaptureFixture) -> None:
    def full_disk(record: audit.Record) -> None:
        raise OSError(28, "No space left on device")

    store = Counting()
    recorder = audit.Recorder("acme/env-repo", [full_disk], store=store)
    with audit.context(delivery="gh-123", job="j-1", actor="alice"):
        record = recorder("merged", env="prod-eu", apps=("api",), sha="b" * 40)
    assert (record.delivery, record.job, record.actor) == ("gh-123", "j-1", "alice")
    assert store.appended == [record]
    assert "audit record not written" in caplog.text


def test_the_json_lines_file_is_appended_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / audit.FILENAME
    sink = audit.JsonLines(path)
    sink(merged(id="one"))
    sink(merged(id="two"))
    path.write_text(path.read_text() + "not json\n")
    assert [r.id for r in audit.read_lines(path)] == ["one", "two"]


# --- notify: --------------------------------------------------------------------------------------

BASE = """\
version: 1
environments:
  staging: {}
  prod-eu: {from: staging, gates: {approvals: 1}}
"""


@pytest.mark.parametrize(
    ("block", "where", "says"),
    [
        (
            'notify:\n  "prod-*":\n    "https://hooks.slack.com/services/T/B/X": [merged]\n',
            (7, 5),
            "looks like an address; name a target instead",
        ),
        (
            'notify:\n  "prod-*":\n    sre: ["json://evil.example/collect"]\n',
            (7, 11),
            "an event list holds events, not addresses",
        ),
        ('notify:\n  "prod-*":\n    sre: [merge]\n', (7, 11), "unknown event 'merge'; did you"),
        ('notify:\n  "qa-*":\n    sre: [merged]\n', (6, 3), "'qa-*' matches no environment"),
        ('notify:\n  "*":\n    sre-team: [merged]\n', (7, 5), "target name 'sre-team' must"),
    ],
)
def test_a_bad_notify_block_is_refused_with_its_position(
    block: str, where: tuple[int, int], says: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        config.load(BASE + block)
    (problem,) = refused.value.problems
    assert (problem.line, problem.column) == where, problem
    assert says in problem.message


def test_validate_refuses_a_url_in_the_repo_with_file_line_col(tmp_path: Path) -> None:
    (tmp_path / ".promobot.yaml").write_text(
        BASE + 'notify:\n  "*":\n    "json://attacker.example/": ["*"]\n'
    )
    ran = CliRunner().invoke(main, ["validate", "--repo", str(tmp_path)])
    assert ran.exit_code == 2
    assert f"{tmp_path / '.promobot.yaml'}:7:5: notify: 'json://attacker.example/' looks like" in (
        ran.output
    )
    assert "PROMOBOT_NOTIFY_<NAME>" in ran.output


def test_target_urls_come_from_the_environment_and_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "promobot.env"
    env_file.write_text("PROMOBOT_NOTIFY_PLATFORM=json://127.0.0.1:9/platform\n")
    monkeypatch.setenv("PROMOBOT_NOTIFY_SRE", "mmost://127.0.0.1:9/token")
    settings = load(env_file)
    urls = {k: v.get_secret_value() for k, v in settings.notify_target_urls.items()}
    assert urls == {"sre": "mmost://127.0.0.1:9/token", "platform": "json://127.0.0.1:9/platform"}
    assert "mmost://" not in repr(settings)  # secrets, as the forge's tokens are


def test_routing_applies_every_matching_glob_once_per_target() -> None:
    rules = {"prod-*": {"sre": ("merged",), "Platform": ("*",)}, "*": {"sre": ("failed",)}}
    assert notify.route(rules, merged()) == ["sre", "platform"]
    assert notify.route(rules, merged(env="staging")) == []
    failed = merged(kind="verification-failed", reason="api is degraded", env="staging")
    assert notify.route(rules, failed) == ["sre"]


def test_waiting_and_blocked_are_the_same_message_for_one_head_and_reason() -> None:
    gates = {
        "gates": [{"gate": "approvals", "state": "pending", "reason": "approvals: 0 of 1"}],
        "merge_wanted": False,
    }
    first = merged(kind="gate", id="g1", inputs=gates, outcome="pending")
    again = merged(kind="gate", id="g2", inputs=gates, outcome="pending", at=AT + timedelta(1))
    one, other = notify.message(first), notify.message(again)
    assert one is not None and other is not None
    assert one.event == "waiting" and one.key == other.key
    assert notify.message(merged(kind="gate", id="g3", head="c" * 40, inputs=gates)).key != one.key
    frozen = {
        "gates": [
            {"gate": "freeze", "state": "pending", "reason": "freeze: in the window Fri 16:00"},
            {"gate": "hold", "state": "pass", "reason": "not on hold"},
        ],
        "merge_wanted": True,
    }
    blocked = notify.message(merged(kind="gate", inputs=frozen, outcome="pending"))
    assert blocked is not None and blocked.event == "blocked"
    assert "Why: freeze: in the window Fri 16:00" in blocked.body
    rolled = notify.message(merged(cause="rollback"))
    assert rolled is not None and rolled.title.startswith("Rolled back: api → prod-eu")
