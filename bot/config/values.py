"""The value types of `.promobot.yaml` that its models share: durations, weekly freeze windows,
tag patterns, and the strict base model."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema

from bot import versions
from bot.errors import VersionError

MAX_DURATION = timedelta(days=365)  # the longest duration .promobot.yaml may ask for
MAX_BATCH = timedelta(days=1)  # a batch window longer than this only delays promotions

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str, maximum: timedelta = timedelta.max) -> timedelta:
    """`30m`, `24h`, `1h30m`, `2d` → a timedelta; a ValueError (never an OverflowError) for
    anything else or anything longer than `maximum`."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or not text.strip() or not any(match.groups()):
        raise ValueError(f"bad duration {text!r}; write e.g. '30m', '24h', '1h30m' or '2d'")
    # Counted in whole seconds, so no number of digits can overflow timedelta or datetime math.
    groups = [g or "0" for g in match.groups()]
    too_long = f"duration {text!r} is longer than {_describe(maximum)}; write a shorter one"
    if any(len(g) > 12 for g in groups):
        raise ValueError(too_long)
    days, hours, minutes, seconds = (int(g) for g in groups)
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total > maximum.days * 86400 + maximum.seconds:
        raise ValueError(too_long)
    return timedelta(seconds=total)


def _describe(span: timedelta) -> str:
    return f"{span.days}d" if span.days else f"{int(span.total_seconds())}s"


def _check_duration(text: str) -> str:
    parse_duration(text, MAX_DURATION)
    return text


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"}),
]

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FREEZE = re.compile(
    r"^(?P<d1>\w{3}) (?P<t1>\d{1,2}:\d{2}) - (?P<d2>\w{3}) (?P<t2>\d{1,2}:\d{2}) (?P<tz>\S+)$"
)


@dataclass(frozen=True)
class FreezeWindow:
    """A weekly window: from start day+time to end day+time, in a time zone."""

    start_day: int  # 0 = Monday
    start_minute: int  # minutes after midnight
    end_day: int
    end_minute: int
    zone: str


def parse_freeze(text: str) -> FreezeWindow:
    hint = "write e.g. 'Fri 16:00 - Mon 08:00 Europe/Zurich'"
    match = _FREEZE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"bad freeze window {text!r}; {hint}")
    parts = match.groupdict()
    for key in ("d1", "d2"):
        if parts[key].title() not in DAYS:
            raise ValueError(
                f"bad day {parts[key]!r} in freeze window; use one of {', '.join(DAYS)}"
            )
    minutes = []
    for key in ("t1", "t2"):
        hour, minute = (int(x) for x in parts[key].split(":"))
        if hour > 24 or minute > 59 or (hour == 24 and minute):
            raise ValueError(f"bad time {parts[key]!r} in freeze window; {hint}")
        minutes.append(hour * 60 + minute)
    try:
        ZoneInfo(parts["tz"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {parts['tz']!r} in freeze window; use an IANA name like 'UTC' "
            "or 'Europe/Zurich'"
        ) from None
    return FreezeWindow(
        DAYS.index(parts["d1"].title()),
        minutes[0],
        DAYS.index(parts["d2"].title()),
        minutes[1],
        parts["tz"],
    )


def _check_freeze(text: str) -> str:
    parse_freeze(text)
    return text


Freeze = Annotated[str, AfterValidator(_check_freeze)]


def _check_pattern(text: str) -> str:
    try:
        versions.check_pattern(text)
    except VersionError as exc:
        raise ValueError(str(exc)) from None
    return text


# matched by RE2 against tags that whoever publishes a version chooses: no backtracking
TagPattern = Annotated[str, AfterValidator(_check_pattern)]


# The base of every model. No docstring: JSON Schema would show it for each model without one.
class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
