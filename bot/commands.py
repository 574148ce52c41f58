"""Slash commands: comment text → the commands to run and the replies to give; who may run them.

Pure, like Atlantis' comment_parser: `parse` reads a comment and returns the commands, the
immediate replies for lines that look like commands but cannot run, or nothing (ignore the
comment). It never raises. `authorize` decides from `permissions:` and the caller's view of the
user; the forge look-ups happen before it is called.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal, TypeAlias

from bot import visibility
from bot.config import NAME_PATTERN
from bot.render import COMMANDS_HELP

HELP = COMMANDS_HELP
MAX_COMMANDS = 10  # per comment; more and none run

_LINE = re.compile(r"\s*/([A-Za-z][A-Za-z0-9_-]*)(?=\s|\Z)(.*)\Z", re.DOTALL)
_NAME = re.compile(NAME_PATTERN)
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»"}
_ECHO_MAX = 80
_MIXED_UP = {"env": "to", "to": "env"}
_HINTS = {"revert": "rollback", "undo": "rollback", "lgtm": "approve", "deploy": "promote"}

# --- commands ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Command:
    line: str = field(default="", kw_only=True, compare=False)  # as written, stripped

    @property
    def name(self) -> str:
        return type(self).__name__.lower()


@dataclass(frozen=True)
class Promote(_Command):
    apps: tuple[str, ...] = ()  # none: the PR's own app(s)
    to: str | None = None
    only: tuple[str, ...] | None = None
    version: str | None = None
    shared: bool = False  # also change environments that share a file it writes


@dataclass(frozen=True)
class Rollback(_Command):
    app: str
    env: str | None = None
    to: str = "previous"  # "previous", a 12-hex composition id, or a version
    only: tuple[str, ...] | None = None  # restore only these components
    shared: bool = False  # also change environments that share a file it writes


@dataclass(frozen=True)
class Approve(_Command):
    pass


@dataclass(frozen=True)
class Merge(_Command):
    pass


@dataclass(frozen=True)
class Hold(_Command):
    reason: str | None = None


@dataclass(frozen=True)
class Unhold(_Command):
    pass


@dataclass(frozen=True)
class Refresh(_Command):
    pass


@dataclass(frozen=True)
class Status(_Command):
    env: str | None = None


@dataclass(frozen=True)
class History(_Command):
    app: str
    env: str | None = None


@dataclass(frozen=True)
class Diff(_Command):
    app: str | None = None  # in a group's PR: only this app


@dataclass(frozen=True)
class Help(_Command):
    pass


Command: TypeAlias = (
    Promote | Rollback | Approve | Merge | Hold | Unhold | Refresh | Status | History | Diff | Help
)


@dataclass(frozen=True)
class Parsed:
    commands: tuple[Command, ...] = ()
    replies: tuple[str, ...] = ()

    def __bool__(self) -> bool:  # an empty Parsed means: ignore the comment
        return bool(self.commands or self.replies)


def _usages() -> dict[str, str]:
    found: dict[str, str] = {}
    for text in re.findall(r"`(/[^`]+)`", HELP):
        name = re.match(r"/(\w+)", text)
        if name:
            found.setdefault(name[1], text.replace("\\|", "|"))
    return found


_USAGES = _usages()


def usage(name: str) -> str:
    """The usage line of one command, as in the help table: usage("hold") == "/hold [reason]"."""
    name = name.lower().removeprefix("/")
    return _USAGES.get(name, f"/{name}")


# --- parsing -------------------------------------------------------------------------------------


class _Refused(Exception):
    """A command line that cannot run; the message says why. Never leaves this module."""


class _UsageWanted(_Refused):
    """`--help` or `-h`: the answer is the usage line."""


def _code(text: str) -> str:
    """User text inside a code span: it cannot format the reply or mention anyone, and no
    `<` of it reaches promobot's reply, where a `<!-- promobot:… -->` record would be read as
    one (a code span shows `&lt;` as it is written, so a look-alike stands in)."""
    text = text.replace("`", "'").replace("<", "‹")
    if len(text) > _ECHO_MAX:
        text = text[: _ECHO_MAX - 1] + "…"
    return f"`{text}`"


def _arguments(
    rest: str,
    options: Sequence[str] = (),
    repeatable: Collection[str] = (),
    flags: Collection[str] = (),
) -> tuple[list[str], dict[str, list[str]]]:
    """Positional arguments and option values, split like a shell line; `flags` take no value
    (present: an empty one)."""
    try:
        tokens = shlex.split(rest)
    except ValueError as e:  # "No closing quotation", "No escaped character"
        raise _Refused(f"{str(e).lower()} in the arguments") from None
    positional: list[str] = []
    values: dict[str, list[str]] = {}
    while tokens:
        token = tokens.pop(0)
        if token == "--":
            positional.extend(tokens)
            break
        if not token.startswith("-") or token == "-":
            positional.append(token)
            continue
        flag, equals, value = token.partition("=")
        key = flag.lower().removeprefix("--")
        if flag.lower() in ("--help", "-h"):
            raise _UsageWanted
        if flag.startswith("--") and key in flags:
            if equals:
                raise _Refused(f"{_code('--' + key)} takes no value")
            values[key] = [""]
            continue
        if not flag.startswith("--") or key not in options:
            close = [o for o in options if _MIXED_UP.get(key) == o]  # --env ↔ --to
            close = close or difflib.get_close_matches(key.lstrip("-"), options, n=1)
            hint = f" (did you mean {_code('--' + close[0])}?)" if close else ""
            takes = ", ".join(_code(f"--{o}") for o in (*options, *flags)) or "no options"
            raise _Refused(f"unknown option {_code(flag)}{hint}; it takes {takes}")
        if not equals and tokens and not tokens[0].startswith("-"):
            value = tokens.pop(0)
        if not value:
            raise _Refused(f"{_code('--' + key)} needs a value")
        if key in values and key not in repeatable:
            raise _Refused(f"{_code('--' + key)} is given twice")
        values.setdefault(key, []).append(value)
    return positional, values


def _checked(kind: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise _Refused(
            f"{_code(value)} is not a valid {kind} name "
            "(letters, digits, '.', '_' and '-', starting with a letter or digit)"
        )
    return value


def _env(value: str | None) -> str | None:
    return None if value is None else _checked("environment", value)


def _version(option: str, value: str) -> str:
    if any(c.isspace() or not c.isprintable() for c in value):
        raise _Refused(f"{_code('--' + option + ' ' + value)} is not a version")
    return value


def _one(values: dict[str, list[str]], option: str) -> str | None:
    return values[option][0] if option in values else None


def _at_most(positional: list[str], n: int) -> None:
    if len(positional) > n:
        extra = _code(" ".join(positional[n:]))
        raise _Refused(f"unexpected argument {extra}" if n else f"it takes no arguments ({extra})")


def _only(values: dict[str, list[str]]) -> tuple[str, ...] | None:
    if "only" not in values:
        return None
    parts = [p.strip() for v in values["only"] for p in v.split(",") if p.strip()]
    if not parts:
        raise _Refused(f"{_code('--only')} needs component names, like `--only image,chart`")
    return tuple(dict.fromkeys(_checked("component", p) for p in parts))


def _promote(rest: str, line: str) -> Promote:
    apps, values = _arguments(rest, ("to", "only", "version"), ("only",), ("shared",))
    version = _one(values, "version")
    if version is not None and len(apps) > 1:
        raise _Refused(f"{_code('--version')} applies to one app; name at most one")
    return Promote(
        apps=tuple(dict.fromkeys(_checked("app", a) for a in apps)),
        to=_env(_one(values, "to")),
        only=_only(values),
        version=None if version is None else _version("version", version),
        shared="shared" in values,
        line=line,
    )


def _rollback(rest: str, line: str) -> Rollback:
    positional, values = _arguments(rest, ("env", "to", "only"), ("only",), ("shared",))
    if not positional:
        raise _Refused("name the app to roll back")
    _at_most(positional, 1)
    to = _one(values, "to") or "previous"
    return Rollback(
        app=_checked("app", positional[0]),
        env=_env(_one(values, "env")),
        to="previous" if to.lower() == "previous" else _version("to", to),
        only=_only(values),
        shared="shared" in values,
        line=line,
    )


def _hold(rest: str, line: str) -> Hold:
    reason = rest.strip()  # free text: an apostrophe is not an unbalanced quote
    close = _QUOTES.get(reason[:1])
    if close and len(reason) >= 2 and reason.endswith(close) and close not in reason[1:-1]:
        reason = reason[1:-1].strip()
    return Hold(reason=reason or None, line=line)


def _status(rest: str, line: str) -> Status:
    positional, values = _arguments(rest, ("env",))
    _at_most(positional, 1)
    if positional and "env" in values:
        raise _Refused(f"name the environment once, as {_code('[env]')} or {_code('--env')}")
    return Status(env=_env(positional[0] if positional else _one(values, "env")), line=line)


def _history(rest: str, line: str) -> History:
    positional, values = _arguments(rest, ("env",))
    if not positional:
        raise _Refused("name the app")
    _at_most(positional, 1)
    return History(app=_checked("app", positional[0]), env=_env(_one(values, "env")), line=line)


def _diff(rest: str, line: str) -> Diff:
    positional, _ = _arguments(rest)
    _at_most(positional, 1)
    return Diff(app=_checked("app", positional[0]) if positional else None, line=line)


def _bare(kind: type[Approve | Merge | Unhold | Refresh]) -> Callable[[str, str], Command]:
    def parse(rest: str, line: str) -> Command:
        positional, _ = _arguments(rest)
        _at_most(positional, 0)  # `/approve cancel` must not count as an approval
        return kind(line=line)

    return parse


_PARSERS: dict[str, Callable[[str, str], Command]] = {
    "promote": _promote,
    "rollback": _rollback,
    "approve": _bare(Approve),
    "merge": _bare(Merge),
    "hold": _hold,
    "unhold": _bare(Unhold),
    "refresh": _bare(Refresh),
    "status": _status,
    "history": _history,
    "diff": _diff,
    "help": lambda _rest, line: Help(line=line),  # `/help promote` still gets the table
}
COMMANDS = tuple(_PARSERS)


def _command_lines(text: str) -> tuple[list[tuple[str, str, str, bool]], str | None]:
    """(name, arguments, line, holds HTML) of each line that looks like a command and a reader
    sees as a plain line (`bot.visibility`); and why the comment was not read, if it was not."""
    reading = visibility.plain_lines(text, "/")
    found = []
    for line in reading.lines:
        command = _LINE.match(line.text)
        if command:
            rest = re.sub(r"\s", " ", command[2])
            found.append((command[1].lower(), rest, line.text, line.html))
    return found, reading.unread


def _unknown(names: Sequence[str]) -> str:
    lines = []
    for name in dict.fromkeys(names):
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        close = close or ([_HINTS[name]] if name in _HINTS else [])
        hint = f" — did you mean {_code('/' + close[0])}?" if close else ""
        lines.append(f"Unknown command {_code('/' + name)}{hint}")
    return "\n".join(lines) + (
        "\n\npromobot runs these commands, each at the start of a line in a comment:\n\n" + HELP
    )


def parse(text: str) -> Parsed:
    """The commands in a comment and the replies it needs now; empty when it has neither."""
    lines, unread = _command_lines(text)
    if unread is not None:
        return Parsed(
            replies=(
                f"promobot ran none of this comment's commands: {unread}, more than it reads "
                "for commands. Post them in a comment of their own.",
            )
        )
    if len(lines) > MAX_COMMANDS:
        return Parsed(
            replies=(
                f"This comment has {len(lines)} commands; promobot runs at most {MAX_COMMANDS} "
                "per comment, so it ran none of them. Split them over several comments.",
            )
        )
    commands: list[Command] = []
    replies: list[str] = []
    unknown: list[str] = []
    for name, rest, line, html in lines:
        parser = _PARSERS.get(name)
        if parser is None:
            unknown.append(name)
            continue
        if html:  # the line is not echoed: its HTML could carry a marker into the reply
            replies.append(
                f"Cannot run `/{name}`: its line holds HTML, which can hide part of a command "
                "from readers; write the command as plain text."
            )
            continue
        try:
            commands.append(parser(rest, line))
        except _UsageWanted:
            replies.append(f"Usage: `{usage(name)}`")
        except _Refused as e:
            replies.append(f"Cannot run {_code(line)}: {e}.\n\nUsage: `{usage(name)}`")
    if unknown:
        replies.append(_unknown(unknown))
    return Parsed(tuple(commands), tuple(replies))


# --- authorization -------------------------------------------------------------------------------

Permission: TypeAlias = Literal["admin", "write", "read", "none"]
# what read access may run; the rest need write access
_READ_LEVEL = frozenset({"status", "history", "diff", "help", "approve"})


@dataclass(frozen=True)
class Who:
    login: str
    permission: Permission  # the forge's repo permission
    teams: frozenset[str] = frozenset()  # "@org/team" (GitHub), "@group/sub" (GitLab)


def _principal(name: str) -> str:
    return name.strip().removeprefix("@").casefold()


def authorize(
    command: Command,
    env: str | None,
    who: Who,
    permissions: Mapping[str, Mapping[str, Sequence[str]]],
) -> str | None:
    """None when `who` may run `command` in `env`; otherwise why not, in one line.

    `permissions.<command>` maps env globs to principals; the first glob that matches decides.
    Without one: read access for status, history, help and approve; write access for the rest.
    """
    login = who.login.removeprefix("@")
    where = "" if env is None else f" {'to' if command.name == 'promote' else 'in'} {env}"
    refused = f"@{login} may not /{command.name}{where}"
    if who.permission == "none":
        return f"{refused}: @{login} has no access to this repository"
    rules = permissions.get(command.name, {})
    for glob, principals in rules.items():
        if fnmatchcase(env or "", glob):
            mine = {_principal(login)} | {_principal(t) for t in who.teams}
            if any(_principal(p) in mine for p in principals):
                return None
            allowed = ", ".join(_code(p) for p in principals) or "nobody"
            return f"{refused}: allowed are {allowed} (permissions.{command.name}.{glob})"
    needed = "read" if command.name in _READ_LEVEL else "write"
    if needed == "read" or who.permission in ("admin", "write"):
        return None
    return f"{refused}: it needs write access to the repository, and @{login} has read access"
