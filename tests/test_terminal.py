"""What `promobot promote` shows a person in a terminal (bot.terminal)."""

from __future__ import annotations

from bot import terminal
from bot.changelog.notes import Changelog, Note
from bot.gates import GateResult
from tests.test_render import CONFIG, DIGEST, SETTINGS_DIFF, copy_promotion, group


def test_a_group_shows_one_table_per_app_with_sources_as_written() -> None:
    text = terminal.promotion(group(), CONFIG)
    assert "api: composition " in text and "web: composition " in text
    assert "chart      web from https://charts.acme.io  2.0.0        2.1.0" in text
    assert "charts.acme.io/web" not in text
    assert text.endswith("Gates of staging, as they stand now; a person merges the PR")


def test_copies_count_their_lines_and_gates_show_their_state() -> None:
    gates = [
        GateResult("soak", "pass", "soak: dev has run these versions since 10:00 (needs 30m)"),
        GateResult("checks", "fail", "checks: validate failed"),
    ]
    diffs = {"envs/staging/settings.yml": SETTINGS_DIFF}
    text = terminal.promotion(copy_promotion(), CONFIG, gates, diffs=diffs)
    assert "settings   files                    4f1c2a9e0b7d  9a8b7c6d5e4f" in text
    assert "content changed (+1 −1)" in text
    assert "  envs/staging/settings.yml  copied from envs/dev/settings.yml (+1 −1)" in text
    assert "  ✓ soak: dev has run these versions since 10:00 (needs 30m)" in text
    assert "  ✗ checks: validate failed" in text


def test_text_from_other_repositories_cannot_drive_the_terminal() -> None:
    """A release note is written by whoever can tag the app's repo: no escape sequence of it
    reaches the terminal (a hyperlink, a title, a cleared screen)."""
    note = Note(
        "1.4.2", "Fixed\x1b]8;;https://evil.example\x07 here\x1b[2J\nbidi \u202e", "release"
    )
    log = Changelog("api", "image", "1.3.0", f"1.4.2@{DIGEST}", (note,), "github.com/acme/api")
    text = terminal.promotion(group(), CONFIG, changelogs=[log])
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "  image 1.3.0 → 1.4.2@sha256:0123456789ab…: 1 version, newest first, release" in text
    assert "      Fixed]8;;https://evil.example here[2J" in text
