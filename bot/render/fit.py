"""A PR body as the parts it can shorten, and the order it shortens them in to fit the
forge's limit (`_Body.fit`): changelogs, what changes in the cluster, unchanged rows, diffs,
file names, changed rows, whole apps of a group. The first line, the impact line, the gates,
the commands and the metadata stay."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.render.changelogs import _Log
from bot.render.impact import _Impact
from bot.render.table import _Table

_MIN_TABLE_ROWS = 5  # big tables shrink to this before whole apps are left out
_MIN_GAIN = 100  # characters a placeholder row must save to replace rows


@dataclass
class _Section:
    """One app: an optional heading and summary (groups), its table, what changes in the
    cluster, its changelogs and its diffs."""

    prefix: str  # "### api\n\nComposition …\n\n" for a group; "" for a single app
    table: _Table
    diffs: list[str]
    hidden_diffs: set[int] = field(default_factory=set)
    logs: list[_Log] = field(default_factory=list)  # the changelogs, after the table
    impact: _Impact | None = None  # what changes in the cluster, between the table and the logs

    def blocks(self) -> Iterator[str]:
        return (b for i, b in enumerate(self.diffs) if i not in self.hidden_diffs)

    @property
    def size(self) -> int:
        logs = sum(log.size + 2 for log in self.logs)
        impact = self.impact.size + 2 if self.impact is not None else 0
        blocks = sum(len(b) + 2 for b in self.blocks())
        return len(self.prefix) + self.table.size + impact + logs + blocks

    def text(self) -> str:
        impact = "\n\n" + self.impact.text() if self.impact is not None else ""
        logs = "".join("\n\n" + log.text() for log in self.logs)
        blocks = "".join("\n\n" + b for b in self.blocks())
        return self.prefix + self.table.text() + impact + logs + blocks


@dataclass
class _Body:
    """A PR body in the parts it is made of (`bot.render.body` builds it); `text` joins what
    `fit` left in."""

    first: str
    sections: list[_Section]
    gates: str
    files: list[str]
    tail: str  # the commands and the metadata
    files_shown: int = 0
    hidden_apps: set[int] = field(default_factory=set)
    impact: str = ""  # the impact line, right after the first line ("": not shown)

    def files_line(self, shown: int) -> str:
        if not self.files:
            return ""
        more = len(self.files) - shown
        if shown == 0:
            return f"Files: {more} files changed"
        rest = f"… and {more} more files" if more else ""
        return "Files: " + ", ".join([*self.files[:shown], *([rest] if rest else [])])

    def diffs_note(self) -> str:
        count = sum(len(s.hidden_diffs) for s in self.sections)
        if not count:
            return ""
        diffs = "diff" if count == 1 else "diffs"
        return f"*{count} {diffs} not shown to keep this description short; see the files changed*"

    def apps_note(self) -> str:
        count = len(self.hidden_apps)
        apps = "app" if count == 1 else "apps"
        return f"*… {count} more {apps} not shown; see the files changed*"

    def text(self) -> str:
        blocks = [self.first, *([self.impact] if self.impact else [])]
        hole = sorted(self.hidden_apps)[len(self.hidden_apps) // 2] if self.hidden_apps else -1
        for i, section in enumerate(self.sections):
            if i == hole:
                blocks.append(self.apps_note())
            if i not in self.hidden_apps:
                blocks.append(section.text())
        if self.diffs_note():
            blocks.append(self.diffs_note())
        blocks.append(self.gates)
        if self.files:
            blocks.append(self.files_line(self.files_shown))
        blocks.append(self.tail)
        return "\n\n".join(blocks)

    def fit(self, limit: int) -> None:
        """Leave out the middle until the text fits, least useful first.

        Changelogs first (the oldest version of the longest one at a time, each replaced by
        a link to its page), then what changes in the cluster (the longest app's down a tier
        at a time: collapsed per kind, then counts and a link), then unchanged rows of the
        largest tables, then diffs, then file names, then changed rows of big tables, then
        whole apps of a group (from the middle), then any remaining row. The first line, the
        impact line, the gates, the commands and the metadata always stay.
        """
        total = len(self.text())
        if total <= limit:
            return
        total = self._shorten_logs(total, limit)
        total = self._shorten_impact(total, limit)
        total = self._drop_rows(total, limit, changed=False, keep=0)
        shown = [(len(b), s, i) for s in self.sections for i, b in enumerate(s.diffs)]
        for size, section, i in sorted(shown, key=lambda d: -d[0]):  # the longest diffs first
            if total <= limit:
                return
            note = len(self.diffs_note()) + 2 if self.diffs_note() else 0
            section.hidden_diffs.add(i)
            total += len(self.diffs_note()) + 2 - note - (size + 2)
        if total > limit and self.files:
            total = self._shorten_files(total, limit)
        total = self._drop_rows(total, limit, changed=True, keep=_MIN_TABLE_ROWS)
        total = self._drop_apps(total, limit)
        self._drop_rows(total, limit, changed=True, keep=0)

    def _shorten_logs(self, total: int, limit: int) -> int:
        """Replace the oldest versions' notes by links, the longest changelog's first."""
        logs = [log for s in self.sections for log in s.logs]
        heap = [(-log.size, i, log) for i, log in enumerate(logs)]
        heap = [entry for entry in heap if entry[2].shown]
        heapq.heapify(heap)
        while total > limit and heap:
            _, i, log = heapq.heappop(heap)
            before = log.size
            log.hidden += 1
            total += log.size - before
            if log.shown:
                heapq.heappush(heap, (-log.size, i, log))
        return total

    def _shorten_impact(self, total: int, limit: int) -> int:
        """Move the longest app's "What changes in the cluster" down a tier, until it fits or
        every app's is at its last."""
        impacts = [s.impact for s in self.sections if s.impact is not None]
        heap = [(-impact.size, i, impact) for i, impact in enumerate(impacts)]
        heapq.heapify(heap)
        while total > limit and heap:
            _, i, impact = heapq.heappop(heap)
            before = impact.size
            if impact.shrink():
                total += impact.size - before
                heapq.heappush(heap, (-impact.size, i, impact))
        return total

    def _drop_rows(self, total: int, limit: int, *, changed: bool, keep: int) -> int:
        """Drop rows from the middle of the largest tables, only where that saves space."""
        queues = {}
        heap = []
        for i, section in enumerate(self.sections):
            table = section.table
            wanted = [r for r in range(len(table.rows)) if r not in table.dropped]
            candidates = [r for r in wanted if table.changed[r] == changed]
            queues[i] = list(_middle_out(candidates))[: max(0, len(wanted) - keep)]
            if queues[i] and i not in self.hidden_apps:
                heap.append((-table.size, i))
        heapq.heapify(heap)
        while total > limit and heap:
            _, i = heapq.heappop(heap)
            table, queue = self.sections[i].table, queues[i]
            before = table.size
            # The first drop adds the placeholder row: worth it only for a real saving.
            target = before - (1 if table.dropped else _MIN_GAIN)
            taken = []
            while queue and table.size > target:
                taken.append(queue.pop(0))
                table.drop(taken[-1])
            if table.size > target:
                for row in taken:
                    table.restore(row)
                continue
            total += table.size - before
            if queue:
                heapq.heappush(heap, (-table.size, i))
        return total

    def _shorten_files(self, total: int, limit: int) -> int:
        full = len(self.files_line(self.files_shown))
        low, high = 0, self.files_shown
        while low < high:  # the most file names that still fit
            middle = (low + high + 1) // 2
            if total - full + len(self.files_line(middle)) <= limit:
                low = middle
            else:
                high = middle - 1
        self.files_shown = low
        return total - full + len(self.files_line(low))

    def _drop_apps(self, total: int, limit: int) -> int:
        for i in _middle_out(list(range(len(self.sections)))):
            if total <= limit or len(self.hidden_apps) + 1 >= len(self.sections):
                break
            before = len(self.apps_note()) + 2 if self.hidden_apps else 0
            self.hidden_apps.add(i)
            total += len(self.apps_note()) + 2 - before - (self.sections[i].size + 2)
        return total


def _middle_out(items: list[int]) -> Iterator[int]:
    """Items ordered from the middle outwards, so any prefix is one contiguous middle run."""
    center = (len(items) - 1) / 2
    for position in sorted(range(len(items)), key=lambda p: (abs(p - center), p)):
        yield items[position]
