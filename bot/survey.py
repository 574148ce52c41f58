"""What reading every target of every environment finds, beyond what the configuration says
on its own: values that cannot be read, values that do not look like their source's versions,
locations several environments share, and ranges. Pure: a configuration and a status in,
findings out (`promobot validate` prints them with their place in `.promobot.yaml`).

A value that cannot be read is an error: the cell takes part in no composition id and no
plan, so it must not pass for agreement. The rest are what a person should know before
promobot acts on the repo: a value unlike its source's versions is usually a forgotten
`template:`; a shared location is changed only with `--shared`; a range is a policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from bot import versions
from bot.composition import Composition, Status
from bot.config import Config, Source

Level = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Finding:
    level: Level
    where: tuple[str | int, ...]  # the path in .promobot.yaml it is about
    message: str


def survey(config: Config, status: Status) -> list[Finding]:
    found: list[Finding] = []
    for app, cells in status.apps.items():
        for component, spec in config.apps[app].components.items():
            where = ("apps", app, "components", component, "target")
            found += _unread(app, component, cells, where)
            if not spec.shown:
                found += _unlike(app, component, spec.source, cells, where)
                found += _ranges(app, component, cells, where)
            found += _shared(config, app, component, where)
    return found


def _unread(
    app: str, component: str, cells: Mapping[str, Composition], where: tuple[str | int, ...]
) -> Iterator[Finding]:
    for env, cell in cells.items():
        for problem in cell.problems:
            name, _, why = problem.partition(": ")
            if name == component:
                yield Finding("error", where, f"{app}.{component} in {env}: {why}")


def _unlike(
    app: str,
    component: str,
    source: Source | None,
    cells: Mapping[str, Composition],
    where: tuple[str | int, ...],
) -> Iterator[Finding]:
    if source is None or source.sort == "lexical":
        return
    for env, cell in cells.items():
        value = cell.components.get(component)
        if value is None or versions.is_range(value):
            continue
        tag = versions.split_digest(value)[0]
        if versions.compare(tag, tag, source.sort) is not None:
            continue  # it orders as the source's versions do
        hint = ""
        if ":" in tag and "/" in tag:  # an image reference: the version is after the last ':'
            prefix = tag.rsplit(":", 1)[0]
            hint = f"; if the version is the part after ':', add template: '{prefix}:{{version}}'"
        yield Finding(
            "warning",
            where,
            f"{app}.{component} in {env} is {value!r}, which is not a {source.sort} version as "
            f"{source.label} gives them{hint}",
        )
        return  # once per component: the same mistake is in every environment


def _ranges(
    app: str, component: str, cells: Mapping[str, Composition], where: tuple[str | int, ...]
) -> Iterator[Finding]:
    ranged = [
        f"{env} ({value})"
        for env, cell in cells.items()
        if (value := cell.components.get(component)) is not None and versions.is_range(value)
    ]
    if ranged:
        yield Finding(
            "note",
            where,
            f"{app}.{component} is a range in {', '.join(ranged)}: a policy, shown as one; "
            "promobot proposes a change of it only when asked by name (--only "
            f"{component}), and what runs comes from live:",
        )


def _shared(
    config: Config, app: str, component: str, where: tuple[str | int, ...]
) -> Iterator[Finding]:
    seen: set[str] = set()
    for env in config.app_environments(app):
        group = config.shared(app, component, env)
        if len(group) < 2 or env in seen:
            continue
        seen.update(group)
        target = config.target(app, component, env)
        yield Finding(
            "note",
            where,
            f"{app}.{component} is one value in {target.describe} for {', '.join(group)}: "
            "promobot shows it once for them and changes it only with --shared, naming every "
            "environment it changes; put {env} in the path or field if each should have its own",
        )
