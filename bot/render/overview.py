"""The overviews promobot replies with: every app in every environment (`/status`), and one
app's compositions in one environment over time (`/history`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.composition import Composition, HistoryEntry, Status
from bot.config import Config
from bot.render.facts import short
from bot.render.markup import _code, _join, _oneline, _text
from bot.versions import is_range


def status_markdown(
    status: Status, config: Config, live: Mapping[tuple[str, str], str] = {}
) -> str:
    """Apps × environments: every component version and the composition id, and what the
    cluster reports where `live` has a line for the cell."""
    envs = status.environments
    lines = [
        "| app | " + " | ".join(_text(e) for e in envs) + " |",
        "|---|" + "---|" * len(envs),
    ]
    for app, by_env in status.apps.items():
        cells = [f"**{_text(app)}**"]
        for env in envs:
            composition = by_env.get(env)
            cell = "—" if composition is None else _status_cell(app, env, by_env, config)
            if composition is not None and (app, env) in live:
                cell += "<br>● " + _text(live[(app, env)])
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _status_cell(app: str, env: str, by_env: Mapping[str, Composition], config: Config) -> str:
    composition = by_env[env]
    spec = config.apps.get(app)
    parts = []
    for name, version in [*composition.components.items(), *composition.shown.items()]:
        component = spec.components.get(name) if spec is not None else None
        copied = component is not None and component.target.copy_ is not None
        value = _code(version) if copied else _text(short(version))
        if is_range(version):
            value = f"range {value}"
        if component is not None and component.shown:
            value = f"*{value}* (not promoted)"
        shared = (
            config.shared(app, name, env) if spec is not None and name in spec.components else ()
        )
        if len(shared) > 1:
            value += f" (one value for {_join([_text(e) for e in shared])})"
        parts.append(f"{_text(name)} {value}")
    for problem in composition.problems:
        parts.append(f"⚠ cannot be read: {_text(problem)}")
    parts.append(f"`{composition.id}`" if composition.id is not None else "composition unknown")
    settings = config.environments.get(env)
    upstream = settings.upstream if settings is not None else None
    source = by_env.get(upstream) if upstream is not None else None
    known = source is not None and source.id is not None and composition.id is not None
    if upstream is not None and source is not None and known and source.id != composition.id:
        parts.append(f"≠ {_text(upstream)}")
    return "<br>".join(parts)


def history_markdown(app: str, env: str, entries: Sequence[HistoryEntry], limit: int = 20) -> str:
    """An app's compositions in one environment over time, newest first (`/history`)."""
    if not entries:
        return f"No history for **{_text(app)}** in **{_text(env)}**."
    lines = [
        f"**{_text(app)}** in **{_text(env)}**, newest first",
        "",
        "| when (UTC) | composition | versions | commit |",
        "|---|---|---|---|",
    ]
    for entry in entries[:limit]:
        changed = {
            c
            for c, v in entry.composition.components.items()
            if entry.previous is not None and entry.previous.components.get(c) != v
        }
        versions = ", ".join(
            f"{_text(c)} **{_text(short(v))}**" if c in changed else f"{_text(c)} {_text(short(v))}"
            for c, v in entry.composition.components.items()
        )
        when = entry.commit.time.strftime("%Y-%m-%d %H:%M")
        subject = _text(_oneline(entry.commit.subject))
        lines.append(
            f"| {when} | `{entry.composition.id}` | {versions} | "
            f"`{entry.commit.sha[:10]}` {_text(entry.commit.author)}: {subject} |"
        )
    if len(entries) > limit:
        lines.append(f"| … | | {len(entries) - limit} older | |")
    return "\n".join(lines)
