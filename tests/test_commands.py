from __future__ import annotations

import random
import string
from collections.abc import Mapping, Sequence

import pytest

from bot.commands import (
    HELP,
    MAX_COMMANDS,
    Approve,
    Command,
    Help,
    History,
    Hold,
    Merge,
    Parsed,
    Promote,
    Refresh,
    Rollback,
    Status,
    Unhold,
    Who,
    authorize,
    parse,
    usage,
)
from bot.config import COMMANDS
from bot.render import COMMANDS_HELP
from tests.deadline import deadline

# --- every command with its options --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/promote", Promote()),
        ("/promote api", Promote(apps=("api",))),
        ("/promote api web api", Promote(apps=("api", "web"))),
        ("/promote api --to prod-eu", Promote(apps=("api",), to="prod-eu")),
        ("/promote api --to=prod-eu", Promote(apps=("api",), to="prod-eu")),
        ("/promote --only image,chart", Promote(only=("image", "chart"))),
        ("/promote --only image --only chart", Promote(only=("image", "chart"))),
        ("/promote --only=image, chart --only image", Promote(only=("image",), apps=("chart",))),
        ("/promote --only 'image, chart'", Promote(only=("image", "chart"))),
        ("/promote api --version 1.4.2", Promote(apps=("api",), version="1.4.2")),
        (
            "/promote api --to staging --only image --version v1.5.0-rc.1",
            Promote(apps=("api",), to="staging", only=("image",), version="v1.5.0-rc.1"),
        ),
        ("/promote --version sha256:abcd", Promote(version="sha256:abcd")),
        ("/promote -- api", Promote(apps=("api",))),
        ("/rollback api", Rollback(app="api")),
        ("/rollback api --env prod-eu", Rollback(app="api", env="prod-eu")),
        (
            "/rollback api --env prod-eu --to 9a8b7c6d5e4f",
            Rollback("api", "prod-eu", "9a8b7c6d5e4f"),
        ),
        ("/rollback api --to 1.4.1", Rollback(app="api", to="1.4.1")),
        ("/rollback api --to Previous", Rollback(app="api", to="previous")),
        ("/rollback api --only image --env prod", Rollback(app="api", env="prod", only=("image",))),
        ("/rollback --env=qa api", Rollback(app="api", env="qa")),
        ("/rollback api --env prod --shared", Rollback(app="api", env="prod", shared=True)),
        ("/promote api --to prod --shared", Promote(apps=("api",), to="prod", shared=True)),
        ("/promote --shared api --to=prod", Promote(apps=("api",), to="prod", shared=True)),
        ("/approve", Approve()),
        ("/merge", Merge()),
        ("/hold", Hold()),
        ("/hold waiting for the DB migration", Hold(reason="waiting for the DB migration")),
        ("/hold don't merge before Monday", Hold(reason="don't merge before Monday")),
        ('/hold "waiting for QA"', Hold(reason="waiting for QA")),
        ("/hold 'waiting for QA'", Hold(reason="waiting for QA")),
        ("/hold “waiting for QA”", Hold(reason="waiting for QA")),
        ('/hold "a" and "b"', Hold(reason='"a" and "b"')),
        ("/hold   \t spaced   out  ", Hold(reason="spaced   out")),
        ('/hold ""', Hold()),
        ("/unhold", Unhold()),
        ("/refresh", Refresh()),
        ("/status", Status()),
        ("/status prod-eu", Status(env="prod-eu")),
        ("/status --env prod-eu", Status(env="prod-eu")),
        ("/history api", History(app="api")),
        ("/history api --env staging", History(app="api", env="staging")),
        ("/help", Help()),
        ("/help promote", Help()),
    ],
)
def test_each_command_and_its_options(text: str, expected: Command) -> None:
    parsed = parse(text)
    assert parsed == Parsed(commands=(expected,))
    assert parsed.commands[0].line == text.strip()


def test_every_configurable_command_parses_and_has_its_usage_from_the_help_table() -> None:
    for name in COMMANDS:
        args = " api" if name in ("rollback", "history") else ""
        (command,) = parse(f"/{name}{args}").commands
        assert command.name == name
        assert f"`{usage(name)}" in HELP.replace("\\|", "|")
    assert HELP == COMMANDS_HELP
    assert usage("rollback") == (
        "/rollback app [--env env] [--to composition-id|version|previous] [--only image,…] [--shared]"
    )
    assert usage("/Hold") == "/hold [reason]"
    assert usage("unhold") == "/unhold"


# --- where a command is a command ----------------------------------------------------------------


def test_several_commands_per_comment_in_order() -> None:
    text = "Thanks!\n\n/hold until the freeze ends\n  /promote api --to qa\nand\n/refresh\n"
    assert parse(text).commands == (
        Hold(reason="until the freeze ends"),
        Promote(apps=("api",), to="qa"),
        Refresh(),
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "LGTM, ship it",
        "please /promote api",  # mid-sentence
        "see /tmp/foo for the logs",
        "/tmp/foo",  # a path on its own line
        "/api/v1/status returns the matrix",
        "https://example.com/promote",
        "`/promote api`",
        "**/promote**",
        "/promote, please",  # not followed by a space
        "/",
        "/123",
        "> /promote api",
        ">/merge",
        "  > > /merge",
        "```\n/promote api\n```",
        "```bash\n/promote api\n/merge\n```",
        "~~~\n/merge\n~~~",
        "````\n```\n/merge\n```\n````",  # a longer fence holds a shorter one
        "```\n/merge",  # an unclosed fence runs to the end
        "- item\n  ```\n  /merge\n  ```",
        "<!-- /merge -->",
        "<!--\n/merge\n-->",
        "see <!-- hidden\n/merge\n--> there",  # an HTML comment inside a paragraph
        "    /merge",  # an indented code block
        "\t/promote api",  # a tab indents a code block too
        "- /merge",  # a list item is not a plain line
        "1. /merge",
        "> a quote\n/merge",  # a lazy continuation line belongs to the quote
        "<details>\n/merge\n</details>",  # an HTML block
    ],
)
def test_text_that_is_not_a_command_is_ignored(text: str) -> None:
    parsed = parse(text)
    assert parsed == Parsed()
    assert not parsed


def test_a_reply_quoting_a_command_runs_only_the_new_one() -> None:
    text = "> /promote api --to prod-eu\n> /merge\n\nNot yet:\n/hold prod is busy"
    assert parse(text).commands == (Hold(reason="prod is busy"),)


def test_commands_after_a_closed_fence_or_comment_run() -> None:
    text = "```\n/merge\n```\n/approve\n<!-- note\n/merge\n-->\n/refresh\n```/not a fence```"
    assert parse(text).commands == (Approve(), Refresh())


def test_inline_triple_backticks_do_not_open_a_fence() -> None:
    assert parse("```x``` is inline code\n/merge").commands == (Merge(),)


@pytest.mark.parametrize(
    "text", ["/Promote api", "/PROMOTE api", "  /pRoMoTe api", "   /promote api"]
)
def test_commands_are_case_insensitive_and_may_be_indented(text: str) -> None:
    assert parse(text).commands == (Promote(apps=("api",)),)


def test_option_names_are_case_insensitive_but_values_keep_their_case() -> None:
    assert parse("/promote Api --TO Prod").commands == (Promote(apps=("Api",), to="Prod"),)


def test_windows_line_endings_and_non_breaking_spaces() -> None:
    text = "/approve\r\n/promote\u00a0api\u00a0--to\u00a0qa\r\n"
    assert parse(text).commands == (Approve(), Promote(apps=("api",), to="qa"))


def test_quoted_arguments_are_one_argument() -> None:
    (command,) = parse("/promote \"api\" --version '1.4.2'").commands
    assert command == Promote(apps=("api",), version="1.4.2")


# --- unknown commands ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("/promot api", "/promote"),
        ("/Promte", "/promote"),
        ("/rolback api", "/rollback"),
        ("/aprove", "/approve"),
        ("/unhodl", "/unhold"),
        ("/stauts", "/status"),
        ("/revert api", "/rollback"),
        ("/lgtm", "/approve"),
    ],
)
def test_unknown_command_gets_the_help_table_and_did_you_mean(text: str, suggestion: str) -> None:
    parsed = parse(text)
    assert parsed.commands == ()
    (reply,) = parsed.replies
    assert f"did you mean `{suggestion}`?" in reply
    assert HELP in reply


def test_unknown_command_far_from_any_gets_the_table_without_a_guess() -> None:
    (reply,) = parse("/xyzzy").replies
    assert "Unknown command `/xyzzy`" in reply
    assert "did you mean" not in reply
    assert HELP in reply


def test_several_unknown_commands_share_one_help_table_and_known_ones_still_run() -> None:
    parsed = parse("/promot api\n/merg\n/promot web\n/approve")
    assert parsed.commands == (Approve(),)
    (reply,) = parsed.replies
    assert reply.count(HELP) == 1
    assert reply.count("Unknown command `/promot`") == 1
    assert "did you mean `/merge`?" in reply


# --- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("/promote api --to", "`--to` needs a value"),
        ("/promote api --to --only image", "`--to` needs a value"),
        ("/promote api --to=", "`--to` needs a value"),
        ("/promote --to qa --to prod", "`--to` is given twice"),
        ("/promote --only ,", "`--only` needs component names"),
        ("/promote api --env prod", "unknown option `--env` (did you mean `--to`?)"),
        ("/promote --onyl image", "unknown option `--onyl` (did you mean `--only`?)"),
        ("/promote -t qa", "unknown option `-t`"),
        ("/promote api web --version 1.4.2", "`--version` applies to one app"),
        ("/promote 'api", "no closing quotation"),
        ('/promote "api web"', "`api web` is not a valid app name"),
        ("/promote api --to 'prod eu'", "`prod eu` is not a valid environment name"),
        ("/promote api --only 'image;rm'", "`image;rm` is not a valid component name"),
        ("/promote api --version '1.4 2'", "is not a version"),
        ("/rollback", "name the app to roll back"),
        ("/rollback api web", "unexpected argument `web`"),
        (
            "/rollback api --version 1",
            "unknown option `--version`; it takes `--env`, `--to`, `--only`",
        ),
        ("/rollback api --env", "`--env` needs a value"),
        ("/approve cancel", "it takes no arguments (`cancel`)"),
        ("/merge now please", "it takes no arguments"),
        ("/unhold --force", "unknown option `--force`; it takes no options"),
        ("/refresh api", "it takes no arguments"),
        ("/status prod-eu prod-us", "unexpected argument `prod-us`"),
        ("/promote api --to prod --shared=yes", "`--shared` takes no value"),
        ("/status qa --env qa", "name the environment once"),
        ("/history", "name the app"),
        ("/history api --to qa", "unknown option `--to` (did you mean `--env`?)"),
        ("/promote api\\", "no escaped character"),
    ],
)
def test_bad_arguments_reply_with_the_problem_and_the_usage(text: str, problem: str) -> None:
    parsed = parse(text)
    assert parsed.commands == ()
    (reply,) = parsed.replies
    assert problem in reply
    name = text.split()[0].lstrip("/")
    assert reply.endswith(f"Usage: `{usage(name)}`")


def test_help_option_replies_with_the_usage_only() -> None:
    assert parse("/rollback --help").replies == (f"Usage: `{usage('rollback')}`",)
    assert parse("/hold --help").commands == (Hold(reason="--help"),)  # a reason is free text


def test_a_bad_line_does_not_stop_the_good_ones() -> None:
    parsed = parse("/promote api --to\n/hold busy")
    assert parsed.commands == (Hold(reason="busy"),)
    assert len(parsed.replies) == 1 and "`--to` needs a value" in parsed.replies[0]


def test_echoed_text_cannot_mention_anyone_or_break_the_reply() -> None:
    (reply,) = parse("/promote @acme/sre `x` --" + "x" * 500).replies
    outside_code = reply.split("`")[::2]
    assert "@acme/sre" in reply
    assert not any("@" in part for part in outside_code)  # a mention in code notifies nobody
    assert len(reply) < 400


# --- the limit -----------------------------------------------------------------------------------


def test_at_most_ten_commands_run_per_comment() -> None:
    ten = "\n".join(["/approve"] * MAX_COMMANDS)
    assert len(parse(ten).commands) == 10
    parsed = parse(ten + "\n/merge")
    assert parsed.commands == ()
    (reply,) = parsed.replies
    assert "11 commands" in reply and "at most 10" in reply and "ran none" in reply


def test_unknown_and_bad_lines_count_toward_the_limit() -> None:
    parsed = parse("\n".join(["/nope"] * 6 + ["/promote --bad"] * 6))
    assert parsed.commands == ()
    assert len(parsed.replies) == 1 and "12 commands" in parsed.replies[0]


# --- garbage never raises ------------------------------------------------------------------------

LONG_COMMENT = (
    "Thanks! A few things:\n\n> /promote api --to prod-eu\n\n```bash\n/merge\n```\n"
    "<!-- hidden\n/merge\n-->\n"
    "/promote api web --to=prod-eu --only image,chart --only 'config' --version \"1.4.2\"\n"
    "/rollback api --env prod-us --to 9a8b7c6d5e4f\n/hold “waiting for QA” don't\n"
    "/history api --env qa\n/status\n/promot\n/approve\n/help\n"
)


def test_every_prefix_of_a_long_comment_parses() -> None:
    for end in range(len(LONG_COMMENT) + 1):
        parsed = parse(LONG_COMMENT[:end])
        assert isinstance(parsed, Parsed)
    assert [c.name for c in parse(LONG_COMMENT).commands] == [
        "rollback",
        "hold",
        "history",
        "status",
        "approve",
        "help",
    ]  # the promote line has two apps and a --version: refused with a reply


def test_random_strings_never_raise() -> None:
    rng = random.Random(5)
    alphabet = string.printable + "/\"'`~>-=@,“”‘’\u00a0\u2028\x00\x1c—é🚀"
    words = ["/promote", "/rollback", "/hold", "/status", "/history", "--to", "--only", "--"]
    words += ["--version", "--env", "=", "'", '"', "\\", "```", "~~~", "<!--", "-->", "> ", "\n"]
    words += ["<div", ">", "</div>", "<span hidden>", "<details>", "<table>", "<p>", "\n\n", "|"]
    for _ in range(3000):
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(60)))
        else:
            text = " ".join(rng.choice([*words, rng.choice(alphabet)]) for _ in range(20))
        parsed = parse(text)
        assert len(parsed.commands) + len(parsed.replies) <= MAX_COMMANDS + 1
        assert all(isinstance(r, str) and r for r in parsed.replies)


# --- HTML: a command a reader does not see never runs -------------------------------------------

# What the forges' sanitizers keep: html-pipeline's allowlist, which GitHub started and GitLab's
# SanitizationFilter extends, with what GitHub has added since (figure, abbr, mark, span, time,
# picture, source…). GitHub strips the `hidden` attribute; other renderers may not.
KEPT = ["h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "b", "i", "strong", "em", "a", "pre",
        "code", "tt", "div", "ins", "del", "sup", "sub", "ol", "ul", "li", "dl", "dt", "dd",
        "blockquote", "kbd", "q", "samp", "var", "ruby", "rt", "rp", "s", "strike", "summary",
        "details", "figure", "figcaption", "abbr", "bdo", "cite", "dfn", "mark", "small", "span",
        "time", "picture", "video", "audio"]  # fmt: skip
VOID = ("br", "hr", "img", "wbr", "source", "input")  # they hold nothing, so wrap nothing
# HTML5 lets these wrap no paragraph where they stand: a new <p> ends the open one, a
# paragraph inside a table is moved before it, and table parts outside a table are dropped.
# So the command after them is shown as plain text, and runs.
UNWRAPPING = ("p", "table", "caption", "thead", "tbody", "tfoot", "tr", "td", "th")
# Raw text, or content a browser does not show, that the sanitizers drop anyway
UNSHOWN = ("script", "style", "textarea", "title", "template", "noscript", "plaintext", "select",
           "iframe", "xmp", "object", "button", "label", "form", "center", "font")  # fmt: skip


def wrapped(tag: str) -> list[str]:
    """The command inside an element: as a block around a paragraph, and inline."""
    return [
        f"<{tag}>\n\n/merge\n\n</{tag}>",
        f"<{tag}>\n<!-- x -->\n\n/merge\n\n</{tag}>",
        f"Looks good <{tag}>\n/merge\n</{tag}>",
        f"Looks good <{tag} hidden>\n/merge",
    ]


@pytest.mark.parametrize("tag", KEPT + list(UNSHOWN))
def test_a_command_inside_an_element_never_runs(tag: str) -> None:
    for text in wrapped(tag):
        assert parse(text) == Parsed(), text


@pytest.mark.parametrize("tag", KEPT + list(UNWRAPPING))
def test_a_command_after_a_closed_element_runs(tag: str) -> None:
    for text in (
        f"<{tag}>closed</{tag}>\n\n/merge",
        f"Looks good: <{tag}>closed</{tag}>\n/merge",
        f"<{tag} hidden>closed</{tag}>\n\n/merge",
    ):
        assert parse(text).commands == (Merge(),), text


@pytest.mark.parametrize("tag", VOID)
def test_an_element_that_holds_nothing_wraps_nothing(tag: str) -> None:
    for text in (f"<{tag}>\n\n/merge", f"Looks good <{tag}>\n/merge", f"<{tag} hidden>\n\n/merge"):
        assert parse(text).commands == (Merge(),), text


@pytest.mark.parametrize("tag", [*UNWRAPPING, "svg", "math"])
def test_html5_does_not_let_these_wrap_a_paragraph_so_the_command_shows(tag: str) -> None:
    """(A paragraph breaks out of svg and math too, which the sanitizers drop.)"""
    assert parse(f"<{tag}>\n\n/merge\n\n</{tag}>").commands == (Merge(),)
    assert parse(f"Looks good <{tag} hidden>\n\nx\n\n/merge").commands == (Merge(),)
    # on the same paragraph, a <p>, svg or math holds the text after it; a table moves text
    # out before itself, and its parts outside a table are dropped
    holds = tag in ("p", "svg", "math")
    assert parse(f"Looks good <{tag} hidden>\n/merge").commands == (() if holds else (Merge(),))


@pytest.mark.parametrize(
    "text",
    [
        "<details>\n<summary>Notes</summary>\n\n/hold\n\n</details>",  # collapsed
        "<details><summary>Notes</summary>\n\n/hold",  # never closed: to the end
        "Looks good <span hidden>\n/merge\n</span>",
        "Looks good <span hidden/>\n/merge",  # HTML5 ignores the slash: the span stays open
        "<p hidden>\n/merge\n</p>",
        '<div title="\n\n/merge\n\n">',  # an attribute value left open swallows the paragraph
        "<div title='\n\n/merge\n\n'>",
        "<div\n\n/merge\n\n>",  # a tag left open
        "<!--\n\n/merge\n\n-->",
        "<!--\n\n/merge",  # a comment left open runs to the end
        "<![CDATA[\n\n/merge\n\n]]>",
        "<?php\n\n/merge\n\n?>",
        "<!DOCTYPE\n\n/merge\n\n>",
        "<table><tr><td>\n\n/merge\n\n</td></tr></table>",
        "<ul><li>\n\n/merge\n\n</li></ul>",
        "<body hidden>\n\n/merge",  # HTML5 gives body the attribute
        "<html hidden>\n\n/merge",
        "<div><span hidden>\n\n/merge\n\n</span></div>",
        "*note:\n/merge*",  # emphasis from the line before
        "~~old\n/merge~~",
        "[see\n/merge](https://example.com)",
        "| a |\n|---|\n/merge",  # a row of a table
    ],
)
def test_a_command_a_reader_does_not_see_as_a_plain_line_never_runs(text: str) -> None:
    assert parse(text) == Parsed()


@pytest.mark.parametrize(
    "text",
    [
        "<details><summary>Logs</summary>\n\nlots of logs\n\n</details>\n\n/merge",
        "<div align=center>\n\n![logo](x.png)\n\n</div>\n\n/merge",
        "<!-- a note -->\n/merge",
        "<b><span hidden></b>\n\n/merge",  # HTML5 closes the span with the b
        "<table>\n<tr><td>a</td></tr>\n</table>\n\n/merge",
        "**Note:** <kbd>Ctrl</kbd>+<kbd>C</kbd>\n/merge",
        "/merge\n\n<details>\n\nlater\n\n</details>",
        "Looks good <!-- x\n\n/merge\n\n-->",  # no comment: it cannot span paragraphs
    ],
)
def test_a_command_after_html_that_is_closed_runs(text: str) -> None:
    assert parse(text).commands == (Merge(),)


def test_a_command_line_that_holds_html_is_refused_not_run() -> None:
    """Part of the line could be hidden: `--version 6.6.6` in a hidden span."""
    text = "/promote api --to prod<span hidden> --version 6.6.6</span>\n/hold <b>QA</b>"
    parsed = parse(text)
    assert parsed.commands == ()
    assert parsed.replies == (
        "Cannot run `/promote`: its line holds HTML, which can hide part of a command from "
        "readers; write the command as plain text.",
        "Cannot run `/hold`: its line holds HTML, which can hide part of a command from "
        "readers; write the command as plain text.",
    )


def test_a_comment_longer_than_the_forges_allow_runs_nothing_and_says_why() -> None:
    text = "/merge\n" + "x" * 70_000
    assert parse(text) == Parsed(
        replies=(
            "promobot ran none of this comment's commands: it is longer than 65,536 characters, "
            "more than it reads for commands. Post them in a comment of their own.",
        )
    )
    assert parse("x" * 70_000) == Parsed()


def test_a_comment_with_more_html_than_is_read_runs_nothing_and_says_why() -> None:
    html = "<div>" * 2000
    (reply,) = parse("/merge\n\n" + html).replies
    assert reply.startswith(
        "promobot ran none of this comment's commands: it holds more than 8,192 characters of HTML"
    )
    assert parse("Looks good\n\n" + html) == Parsed()


@pytest.mark.parametrize("tag", ["div", "li", "dl><dt", "blockquote", "table><tr><td"])
def test_deeply_nested_html_costs_milliseconds(tag: str) -> None:
    """Commenter: HTML5's tree building is quadratic in the nesting (65,536 characters of <li>
    took 0.7 s); promobot parses at most 8,192 characters of HTML as HTML5."""
    for size in (8_000, 65_000):
        nested = f"<{tag}>" * (size // (len(tag) + 2)) + "\n\n/merge"
        with deadline(1.0, f"10 comments of {size:,} characters of nested HTML"):
            for _ in range(10):
                assert not parse(nested).commands


# --- authorization -------------------------------------------------------------------------------

PERMISSIONS: dict[str, dict[str, list[str]]] = {
    "promote": {"prod-*": ["@acme/sre", "carol"], "*": ["@acme/devs"]},
    "rollback": {"*": ["@acme/sre"]},
    "merge": {"prod-*": []},
    "status": {"prod-*": ["@acme/sre"]},
}
ALICE_SRE = Who("alice", "write", frozenset({"@acme/sre"}))
DAN_DEV = Who("dan", "write", frozenset({"@acme/devs"}))
BOB_WRITER = Who("bob", "write", frozenset())
RITA_READER = Who("rita", "read", frozenset())
CAROL_READER = Who("carol", "read", frozenset())
ADA_ADMIN = Who("ada", "admin", frozenset())
NOBODY = Who("eve", "none", frozenset({"@acme/sre"}))


@pytest.mark.parametrize(
    ("command", "env", "who", "allowed"),
    [
        # configured: the first glob that matches decides
        (Promote(), "prod-eu", ALICE_SRE, True),
        (Promote(), "prod-eu", DAN_DEV, False),  # "*" would allow him, but "prod-*" comes first
        (Promote(), "staging", DAN_DEV, True),
        (Promote(), "staging", ALICE_SRE, False),  # not in @acme/devs
        (Promote(), "prod-eu", CAROL_READER, True),  # named users count, even read-only
        (Promote(), "prod-eu", ADA_ADMIN, False),  # configured lists bind admins too
        (Rollback("api"), "dev", DAN_DEV, False),
        (Rollback("api"), "dev", ALICE_SRE, True),
        (Merge(), "prod-us", ADA_ADMIN, False),  # an empty list: nobody
        # no glob matches: the default, write access
        (Merge(), "staging", BOB_WRITER, True),
        (Merge(), "staging", RITA_READER, False),
        # no entry for the command: the default, write access
        (Hold(), "prod-eu", BOB_WRITER, True),
        (Hold(), "prod-eu", ADA_ADMIN, True),
        (Hold(), "prod-eu", RITA_READER, False),
        (Unhold(), "qa", RITA_READER, False),
        (Refresh(), None, BOB_WRITER, True),
        (Refresh(), None, RITA_READER, False),
        # read-only commands and /approve: read access is enough
        (Status(), None, RITA_READER, True),
        (Status(env="qa"), "qa", RITA_READER, True),
        (History("api"), "prod-eu", RITA_READER, True),
        (Help(), None, RITA_READER, True),
        (Approve(), "prod-eu", RITA_READER, True),
        # ... unless configured
        (Status(env="prod-eu"), "prod-eu", RITA_READER, False),
        (Status(env="prod-eu"), "prod-eu", ALICE_SRE, True),
        # no access: never, whatever the lists say
        (Help(), None, NOBODY, False),
        (Status(), None, NOBODY, False),
        (Approve(), "qa", NOBODY, False),
        (Promote(), "prod-eu", NOBODY, False),
    ],
)
def test_authorize(command: Command, env: str | None, who: Who, allowed: bool) -> None:
    assert (authorize(command, env, who, PERMISSIONS) is None) == allowed


def test_the_refusal_names_who_may_and_the_rule() -> None:
    reason = authorize(Promote(apps=("api",)), "prod-eu", DAN_DEV, PERMISSIONS)
    assert reason == (
        "@dan may not /promote to prod-eu: allowed are `@acme/sre`, `carol` "
        "(permissions.promote.prod-*)"
    )
    assert "\n" not in reason


@pytest.mark.parametrize(
    ("command", "env", "who", "reason"),
    [
        (Merge(), "prod-us", ADA_ADMIN, "@ada may not /merge in prod-us: allowed are nobody"),
        (Hold(), "qa", RITA_READER, "@rita may not /hold in qa: it needs write access"),
        (Refresh(), None, RITA_READER, "@rita may not /refresh: it needs write access"),
        (Help(), None, NOBODY, "@eve may not /help: @eve has no access to this repository"),
    ],
)
def test_refusal_reasons(command: Command, env: str | None, who: Who, reason: str) -> None:
    assert (authorize(command, env, who, PERMISSIONS) or "").startswith(reason)


@pytest.mark.parametrize(
    ("principals", "who", "allowed"),
    [
        (["alice"], Who("alice", "read", frozenset()), True),
        (["@alice"], Who("alice", "read", frozenset()), True),
        (["Alice"], Who("alice", "read", frozenset()), True),  # logins ignore case
        (["@ACME/SRE"], Who("bob", "read", frozenset({"@acme/sre"})), True),
        (["@group/sub"], Who("bob", "read", frozenset({"@group/sub"})), True),  # GitLab subgroup
        (["@group"], Who("bob", "read", frozenset({"@group"})), True),
        (["@group"], Who("bob", "write", frozenset({"@group/sub"})), False),  # not the parent
        (["@acme/sre"], Who("sre", "write", frozenset()), False),  # a login is not a team
        (["alic"], Who("alice", "write", frozenset()), False),
    ],
)
def test_principals_match_logins_and_teams(
    principals: Sequence[str], who: Who, allowed: bool
) -> None:
    permissions: Mapping[str, Mapping[str, Sequence[str]]] = {"rollback": {"*": principals}}
    assert (authorize(Rollback("api"), "prod", who, permissions) is None) == allowed


def test_mapping_order_decides_not_specificity() -> None:
    permissions = {"promote": {"*": ["@acme/devs"], "prod-*": ["@acme/sre"]}}
    assert authorize(Promote(), "prod-eu", DAN_DEV, permissions) is None
    assert authorize(Promote(), "prod-eu", ALICE_SRE, permissions) is not None


def test_without_an_environment_only_catch_all_globs_apply() -> None:
    permissions = {"refresh": {"prod-*": ["@acme/sre"]}, "merge": {"*": ["@acme/sre"]}}
    assert authorize(Refresh(), None, BOB_WRITER, permissions) is None  # the default
    assert authorize(Merge(), None, BOB_WRITER, permissions) is not None
