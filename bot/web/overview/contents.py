"""What the overview shows of each cell's rendering: the line under a matrix cell (`Summary`)
and an app's environments side by side (`bot.manifests.text.grid`). Pure: a sheet in, what the
templates draw out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from bot.manifests import text
from bot.manifests.model import Sheet

State = Literal["rendered", "approx", "error", "pending"]


@dataclass(frozen=True)
class Summary:
    """The line under a matrix cell's versions, and its tooltip."""

    text: str
    title: str
    state: State


def summaries(
    sheet: Sheet | None, cells: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Summary]:
    """(app, env) → its summary, for the cells asked (those deployed); none at all before a
    first rendering, and "rendering…" for a cell the sheet does not hold yet."""
    if sheet is None:
        return {}
    found: dict[tuple[str, str], Summary] = {}
    for app, env in cells:
        cell = sheet.get(app, env)
        if cell is None:
            if sheet.pending:
                found[(app, env)] = Summary("rendering…", "not rendered yet", "pending")
            continue
        state: State = (
            "error" if cell.inventory is None else "approx" if cell.caveat else "rendered"
        )
        found[(app, env)] = Summary(text.line(cell), text.detail(cell), state)
    return found
