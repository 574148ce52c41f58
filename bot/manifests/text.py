"""What people read of a rendered cell: the compact line under a matrix cell (`line`, with the
rest in its tooltip, `detail`), the side-by-side grid of an app's environments (`grid`, drawn as
the terminal's `table` and as the app page's table), and the short markdown-safe lines under a
cell in `promobot status --contents` and the `/status` reply (`highlights`). Pure: cells in,
text out. A Secret is only ever named: the shapes hold no Secret data, and nothing here adds any.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.manifests.model import Cell, Class, Highlight, Sheet
from bot.render.markup import _code, _text
from bot.terminal import _clean, _columns

WIDTH = 60  # characters of a matrix cell's line: the tooltip (`detail`) has the rest
TABLE_WIDTH = 100  # the terminal table is cut into bands of environments to fit this
CELL_WIDTH = 28  # characters of one value in the terminal table
LABEL_WIDTH = 32  # characters of a row's label in the terminal table
NONE = "—"
ELLIPSIS = "…"
# The classes in the order people look for them, with what the grid calls each group.
CLASSES: dict[Class, str] = {
    "workload": "Workloads and their images",
    "exposure": "Exposure",
    "data": "Data",
    "crd": "Custom resource definitions",
    "rbac": "Cluster RBAC",
    "network": "Network policies",
    "secret": "Secrets (by name)",
}
COUNTS = "Objects by kind"
# Short names where the full kind would take a matrix cell's room on its own.
_SHORT = {"PersistentVolumeClaim": "PVC", "CustomResourceDefinition": "CRD"}
# The classes a line ends with as markers ("+ CRD"): their presence is the news, not their names.
_MARKED: tuple[Class, ...] = ("crd", "rbac", "network", "secret")


# --- one cell, on one line ---------------------------------------------------------------------


def line(cell: Cell, width: int = WIDTH) -> str:
    """The compact line under a matrix cell: workloads by kind, exposure with its hosts, data
    with its sizes, then markers for CRDs, cluster RBAC, network policies and Secrets; cut to
    `width` with "…" (the rest is in `detail`). "(approx.)" when rendered but not exactly as
    the cluster gets it, "⚠" when a warning goes with it."""
    if cell.inventory is None:
        reason = _first_sentence(cell.error or "no inventory")
        return _cut(f"not rendered: {reason}", width)
    suffix = (" (approx.)" if cell.caveat else "") + (" ⚠" if cell.warnings else "")
    parts = _parts(cell.inventory.highlights)
    if not parts:  # nothing people look for first: what there is, by kind
        counts = cell.inventory.counts()
        parts = [_counted(kind, n) for kind, n in counts.items()] or ["renders nothing"]
    return _fit(parts, width - len(suffix)) + suffix


def _parts(highlights: Sequence[Highlight]) -> list[str]:
    data = [h for h in highlights if h.what == "data"]
    # a StatefulSet's volume claim is told with its size ("StatefulSet 20Gi"), not twice
    with_data = {(h.kind, h.name) for h in data}
    workloads = [
        h.kind for h in highlights if h.what == "workload" and (h.kind, h.name) not in with_data
    ]
    parts = [_counted(kind, n) for kind, n in _tally(workloads)]
    hosts: dict[str, list[str]] = {}
    for h in highlights:
        if h.what == "exposure":
            shown = hosts.setdefault(h.kind, [])
            where = _host(h.detail)
            if where and where not in shown:
                shown.append(where)
    parts += [_clean(f"{kind} {', '.join(shown)}".strip()) for kind, shown in hosts.items()]
    sizes = [_clean(f"{_SHORT.get(h.kind, h.kind)} {h.detail}".strip()) for h in data]
    parts += [_counted(each, n) for each, n in _tally(sizes)]
    for what in _MARKED:
        kinds = [_SHORT.get(h.kind, h.kind) for h in highlights if h.what == what]
        parts += [f"+ {_plural(kind, n)}" for kind, n in _tally(kinds)]
    return parts


def _host(detail: str) -> str:
    """`api.example.com/v1` → `api.example.com`: the host tells one exposure from another."""
    return detail.split("/", 1)[0] if "/" in detail and not detail.startswith("/") else detail


def _tally(items: Iterable[str]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return list(counts.items())


def _counted(text: str, n: int) -> str:
    return _clean(text) if n == 1 else f"{_clean(text)} ×{n}"


def _plural(kind: str, n: int) -> str:
    return _clean(kind) if n == 1 else f"{n} {_clean(kind)}s"


def _fit(parts: Sequence[str], width: int) -> str:
    """The parts joined by " · " (a marker, "+ CRD", by a space), as many whole ones as fit,
    then "…"."""
    shown = ""
    for i, part in enumerate(parts):
        joined = f"{shown}{' ' if part.startswith('+ ') else ' · '}{part}" if shown else part
        last = i == len(parts) - 1
        if len(joined) + (0 if last else len(" " + ELLIPSIS)) > width:
            return f"{shown} {ELLIPSIS}" if shown else _cut(part, width)
        shown = joined
    return shown


def _cut(text: str, width: int) -> str:
    text = _clean(text)
    return text if len(text) <= width else text[: width - 1].rstrip() + ELLIPSIS


def _cut_start(text: str, width: int) -> str:
    text = _clean(text)
    return text if len(text) <= width else ELLIPSIS + text[len(text) - width + 1 :].lstrip()


def _first_sentence(text: str) -> str:
    first = _clean(text.strip().splitlines()[0] if text.strip() else text)
    end = first.find(". ")
    return first[:end] if end > 0 else first.rstrip(".")


def detail(cell: Cell) -> str:
    """Everything `line` leaves out, one fact a line: the tooltip of a matrix cell."""
    lines = [f"{_clean(cell.app)} in {_clean(cell.env)}: {_clean(cell.origin)}"]
    if cell.inventory is None:
        lines.append(f"not rendered: {_clean(cell.error or 'no inventory')}")
        return "\n".join(lines)
    inventory = cell.inventory
    for h in inventory.highlights:
        lines.append(_clean(f"{h.kind} {h.name}" + (f": {h.detail}" if h.detail else "")))
    counts = inventory.counts()
    total = sum(counts.values())
    by_kind = ", ".join(f"{n} {_clean(kind)}" for kind, n in sorted(counts.items()))
    lines.append(f"{total} object{'' if total == 1 else 's'}" + (f": {by_kind}" if by_kind else ""))
    lines.append(f"rendered id {_clean(inventory.rendered_id)}")
    if cell.caveat:
        lines.append(f"approx.: {_clean(cell.caveat)}")
    lines += [f"⚠ {_clean(w)}" for w in cell.warnings]
    return "\n".join(lines)


def highlights(cell: Cell, markdown: bool = True) -> list[str]:
    """The short lines under a cell: one per highlight ("Deployment `web`: nginx:1.16.0"),
    then the caveat and the warnings; escaped for markdown (names in code spans, the rest as
    text), or plain for a terminal."""
    name = _code if markdown else _clean
    text = _text if markdown else _clean
    if cell.inventory is None:
        return [text(f"not rendered: {cell.error or 'no inventory'}")]
    lines = [
        f"{text(h.kind)} {name(h.name)}" + (f": {text(h.detail)}" if h.detail else "")
        for h in cell.inventory.highlights
    ]
    if not lines:
        counts = cell.inventory.counts()
        lines = [text(", ".join(f"{n} {kind}" for kind, n in counts.items()) or "no objects")]
    if cell.caveat:
        lines.append(text(f"approx.: {cell.caveat}"))
    lines += [text(f"⚠ {w}") for w in cell.warnings]
    return lines


# --- an app's environments, side by side -------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One thing some environment has: a highlight (`group` its class), or a kind's count."""

    group: str  # a key of CLASSES, or "count"
    kind: str
    name: str  # "" for a count
    values: tuple[str | None, ...]  # per environment: what it has (detail, count, "✓"); None

    @property
    def label(self) -> str:
        return f"{_SHORT.get(self.kind, self.kind)} {self.name}".strip()

    def partial(self, rendered: Sequence[bool]) -> bool:
        """Present in some rendered environments and missing in others (an unrendered one
        tells nothing)."""
        seen = [v is not None for v, r in zip(self.values, rendered, strict=True) if r]
        return any(seen) and not all(seen)


@dataclass(frozen=True)
class Grid:
    """An app's environments side by side: columns in promotion order, rows by class."""

    envs: tuple[str, ...]
    cells: tuple[Cell | None, ...]  # None: not rendered yet, or not deployed there
    rows: tuple[Row, ...]

    @property
    def rendered(self) -> tuple[bool, ...]:
        return tuple(c is not None and c.inventory is not None for c in self.cells)

    def same_as(self) -> tuple[str | None, ...]:
        """Per column: the first environment before it with the same rendered id."""
        first: dict[str, str] = {}
        out: list[str | None] = []
        for env, cell in zip(self.envs, self.cells, strict=True):
            rid = cell.inventory.rendered_id if cell and cell.inventory else None
            out.append(first.get(rid) if rid is not None else None)
            if rid is not None:
                first.setdefault(rid, env)
        return tuple(out)

    def groups(self) -> list[tuple[str, list[Row]]]:
        """The rows under their group's heading, in the order of CLASSES, counts last."""
        out: list[tuple[str, list[Row]]] = []
        for key, heading in [*CLASSES.items(), ("count", COUNTS)]:
            rows = [r for r in self.rows if r.group == key]
            if rows:
                out.append((heading, rows))
        return out


def grid(app: str, envs: Sequence[str], sheet: Sheet) -> Grid:
    """`app` in each of `envs` (promotion order) as the sheet has it."""
    cells = tuple(sheet.get(app, env) for env in envs)
    found: dict[tuple[str, str, str], list[str | None]] = {}
    for i, cell in enumerate(cells):
        if cell is None or cell.inventory is None:
            continue
        for h in cell.inventory.highlights:
            values = found.setdefault((h.what, h.kind, h.name), [None] * len(cells))
            # a path of "/" says nothing the host does not
            value = _clean(h.detail.removesuffix("/") if h.what == "exposure" else h.detail)
            value = value or "✓"
            values[i] = value if values[i] is None else f"{values[i]}, {value}"
        for kind, n in cell.inventory.counts().items():
            found.setdefault(("count", kind, ""), [None] * len(cells))[i] = str(n)
    order = {key: i for i, key in enumerate([*CLASSES, "count"])}
    rows = sorted(
        (Row(what, kind, name, tuple(values)) for (what, kind, name), values in found.items()),
        key=lambda r: (order[r.group], r.kind, r.name),
    )
    return Grid(tuple(envs), cells, tuple(rows))


def table(sheet: Sheet, apps: Sequence[str], envs: Sequence[str]) -> str:
    """`promobot inventory --format table`: a block per app, its environments side by side,
    cut into bands of environments that fit TABLE_WIDTH columns. "≠" marks a row that some
    rendered environments have and others lack; "—": that environment has none."""
    blocks = [_app_table(grid(app, envs, sheet), app, sheet.pending > 0) for app in apps]
    notes = [f"at {sheet.commit[:12]}"]
    if sheet.pending:
        notes.append(f"{sheet.pending} cell{'s' if sheet.pending != 1 else ''} still rendering")
    notes.append("≠: not in every rendered environment; —: none there")
    return "\n\n".join([*blocks, "; ".join(notes)])


def _app_table(g: Grid, app: str, pending: bool) -> str:
    rendered = g.rendered
    same = g.same_as()
    labels = ["rendered id"]
    columns: list[list[str]] = []
    for cell, twin in zip(g.cells, same, strict=True):
        if cell is None:
            columns.append(["rendering…" if pending else NONE])
        elif cell.inventory is None:
            columns.append(["not rendered"])
        else:
            rid = cell.inventory.rendered_id[:12]
            columns.append([f"= {twin}" if twin else rid + (" (approx.)" if cell.caveat else "")])
    for heading, rows in g.groups():
        labels.append(f"{heading}:")
        for column in columns:
            column.append("")
        for row in rows:
            mark = "≠ " if row.partial(rendered) else "  "
            labels.append(mark + _cut(row.label, LABEL_WIDTH - 2))
            for column, value, shown in zip(columns, row.values, rendered, strict=True):
                # an image's tag is what differs between environments: keep the end of it
                cut = _cut_start if row.group == "workload" else _cut
                column.append(cut(value, CELL_WIDTH) if value else NONE if shown else "")
    bands = _bands(
        labels, [[_cut(e, CELL_WIDTH), *c] for e, c in zip(g.envs, columns, strict=True)]
    )
    out = [_clean(app)]
    for band in bands:
        lines = [["", *(c[0] for c in band)]]
        lines += [[label, *(c[i + 1] for c in band)] for i, label in enumerate(labels)]
        out.append(_columns(lines))
    for env, cell in zip(g.envs, g.cells, strict=True):
        if cell is not None and cell.inventory is None:
            out.append(f"{_clean(env)}: not rendered: {_clean(cell.error or 'no inventory')}")
        elif cell is not None and cell.caveat:
            out.append(f"{_clean(env)}: approx.: {_clean(cell.caveat)}")
        for warning in cell.warnings if cell is not None else ():
            out.append(f"{_clean(env)}: ⚠ {_clean(warning)}")
    return "\n".join(out)


def _bands(labels: Sequence[str], columns: Sequence[list[str]]) -> list[list[list[str]]]:
    """The columns in consecutive bands, each as many as fit TABLE_WIDTH beside the labels
    (at least one)."""
    room = TABLE_WIDTH - max(len(label) for label in labels)
    bands: list[list[list[str]]] = []
    used = room
    for column in columns:
        width = 2 + max(len(v) for v in column)
        if bands and used + width <= room:
            bands[-1].append(column)
            used += width
        else:
            bands.append([column])
            used = width
    return bands
