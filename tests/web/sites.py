"""What the overview tests share: the helm-values example as a service on the local forge, with
promotion PRs promobot opened and evaluated, and a small HTML reader for what a user sees."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from bot.service import Service
from bot.settings import Settings

# Monday 2026-01-05 10:10 UTC: dev has run its versions for 10 minutes (staging soaks 30m, so
# nothing auto-merges), and no freeze window is open.
CLOCK = datetime(2026, 1, 5, 10, 10, tzinfo=UTC)


def helm_service(repo: Path, data: Path, **settings: Any) -> Service:
    """promobot on the helm-values repo, with its promotion PRs opened and gates evaluated:
    #1 api → staging, #2 web → staging, #3 api → prod-eu, #4 api → prod-us."""
    service = Service(
        Settings(forge="local", repo=str(repo), data_dir=data, workers=0, **settings),
        clock=lambda: CLOCK,
    )
    service.sync()
    return service


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    parts: list[str | Element] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        """The text as shown: whitespace collapsed."""
        words: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                words.append(part)
            else:
                words.append(f" {part.text} " if part.tag in BLOCKS else part.text)
        return " ".join("".join(words).split())

    def iter(self) -> Iterator[Element]:
        for child in self.children:
            yield child
            yield from child.iter()

    def all(self, tag: str, cls: str | None = None) -> list[Element]:
        return [e for e in self.iter() if e.tag == tag and (cls is None or cls in e.classes)]

    def one(self, tag: str, cls: str | None = None) -> Element:
        found = self.all(tag, cls)
        assert len(found) == 1, f"{len(found)} <{tag} class={cls}>"
        return found[0]

    def links(self) -> dict[str, str]:
        """Link text → href."""
        return {a.text: a.attrs.get("href", "") for a in self.all("a")}


VOID = {"meta", "link", "input", "br", "img", "col", "hr"}
BLOCKS = {"p", "div", "ul", "li", "table", "tr", "td", "th", "section", "details", "summary"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].parts.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)


def parse(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


@dataclass(frozen=True)
class Cell:
    text: str
    differs: bool


def matrix(page: Element) -> tuple[list[str], dict[str, dict[str, Cell]]]:
    """The environments in the header, and app → environment → cell."""
    table = page.one("table", "matrix")
    envs = [th.all("a")[0].text for th in table.one("thead").all("th")[1:]]
    rows: dict[str, dict[str, Cell]] = {}
    for tr in table.one("tbody").all("tr"):
        app = tr.one("th").text
        rows[app] = {
            td.attrs["data-env"]: Cell(td.text, "differs" in td.classes) for td in tr.all("td")
        }
    return envs, rows
