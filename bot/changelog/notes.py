"""The notes themselves: what a changelog holds, and how notes are read out of text.

The pure core of `bot.changelog`: `bot.render` and `bot.terminal` show a `Changelog`, the
finder (`bot.changelog.finder`) fills one. Nothing here talks to a forge or a registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import yaml
from markdown_it import MarkdownIt

from bot import versions
from bot.config import Component, Config, Source
from bot.errors import PromobotError
from bot.logs import redact_urls
from bot.planner import Promotion, Row

FILE_MAX = 1_048_576  # a CHANGELOG.md larger than this is read only this far

Kind = Literal["release", "changelog", "chart", "commits"]
KIND_NAMES: dict[str, str] = {
    "release": "release notes",
    "changelog": "CHANGELOG.md",
    "chart": "artifacthub.io/changes",
    "commits": "commits",
}


# --- what is found ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """One version's notes, as their author wrote them (markdown, not yet neutralised)."""

    version: str
    text: str
    kind: Kind
    url: str | None = None  # the release, tag or compare page


@dataclass(frozen=True)
class Changelog:
    """The notes of every version one component moves across, newest first."""

    app: str
    component: str
    before: str
    after: str
    notes: tuple[Note, ...] = ()
    where: str = ""  # the repository read ("github.com/acme/api"), or the chart
    link: str | None = None  # the compare page between the two versions
    late: tuple[str, ...] = ()  # versions whose notes were not fetched in time
    missing: tuple[str, ...] = ()  # versions in between for which no notes exist
    problem: str | None = None  # why nothing was found ("<host> is not a forge promobot reads")
    rollback: bool = False  # a downgrade: these are the versions taken out

    @property
    def pending(self) -> bool:
        """Nothing could be said yet: the lookup did not finish in time."""
        return not self.notes and not self.problem and bool(self.late)


class NoChangelog(PromobotError):
    """Why a component has no changelog: said in the body as "no changelog found: …"."""


def public_error(exc: BaseException) -> str:
    """What may be said of a failure in a PR body: promobot's own message, or its kind."""
    if isinstance(exc, PromobotError):
        return redact_urls(str(exc))
    return f"an internal error ({type(exc).__name__})"


# --- parsing notes -------------------------------------------------------------------------------


_HEADING_VERSION = re.compile(
    r"\[?\s*(?:version\s+|release\s+)?[vV]?"
    r"(\d+(?:\.\d+)*(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)\s*\]?",
    re.IGNORECASE,
)


def canonical(version: str, strategy: versions.Strategy = "semver") -> str:
    """One spelling per version, so `v1.4.0`, `1.4.0` and `1.4` name the same one (and, for
    numeric or lexical versions, `v12` and `12`)."""
    tag = versions.split_digest(version.strip())[0]
    parsed = versions.parse_semver(tag) if strategy == "semver" else None
    return str(parsed) if parsed is not None else tag.removeprefix("v").removeprefix("V")


def changelog_sections(text: str, strategy: versions.Strategy = "semver") -> dict[str, str]:
    """Version → its section of a changelog file, Keep a Changelog style (`## [1.4.0] - 2024-01-02`,
    with `### Added` inside): the headings are found by a CommonMark parser, so a `## 1.4.0`
    in a code block is not one, and the text between them is taken as written."""
    text = text[:FILE_MAX]
    tokens = MarkdownIt("commonmark").parse(text)
    lines = text.splitlines()
    headings: list[tuple[int, str | None, int, int]] = []  # level, version, first, after
    for i, token in enumerate(tokens):
        if token.type != "heading_open" or token.map is None or i + 1 >= len(tokens):
            continue
        match = _HEADING_VERSION.match(tokens[i + 1].content.strip())
        version = canonical(match.group(1), strategy) if match else None
        headings.append((int(token.tag[1:]), version, token.map[0], token.map[1]))
    levels = [level for level, version, _, _ in headings if version is not None]
    if not levels:
        return {}
    top = min(levels)  # the level versions are written at; deeper headings are inside them
    sections: dict[str, str] = {}
    for j, (level, version, _, after) in enumerate(headings):
        if level != top or version is None:
            continue
        end = next((h[2] for h in headings[j + 1 :] if h[0] <= top), len(lines))
        sections.setdefault(version, "\n".join(lines[after:end]).strip())
    return sections


def chart_changes(value: object) -> str | None:
    """`artifacthub.io/changes` as a markdown list: YAML holding either plain strings or
    `{kind, description, links}` items (Artifact Hub's two forms). None if it is neither."""
    if isinstance(value, str):
        try:
            value = yaml.load(value, Loader=yaml.CBaseLoader)  # strings, lists, maps only
        except yaml.YAMLError:
            return None
    if not isinstance(value, list):
        return None
    lines = []
    for item in value:
        if isinstance(item, str) and item.strip():
            lines.append(f"- {' '.join(item.split())}")
        elif isinstance(item, dict) and isinstance(item.get("description"), str):
            kind = item.get("kind")
            head = f"**{kind.strip().capitalize()}**: " if isinstance(kind, str) else ""
            links = [
                f"[{' '.join(str(link.get('name') or 'link').split())}]({link['url']})"
                for link in item.get("links") or []
                if isinstance(link, dict)
                and isinstance(link.get("url"), str)
                and link["url"].startswith(("https://", "http://"))
                and not any(c in link["url"] for c in " ()<>")
            ]
            more = f" ({', '.join(links)})" if links else ""
            lines.append(f"- {head}{' '.join(item['description'].split())}{more}")
    return "\n".join(lines) or None


# --- what moved ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One component's move, as the finder needs it."""

    app: str
    component: str
    source: Source | None
    setting: str | None
    before: str  # tags, without digests
    after: str

    @property
    def strategy(self) -> versions.Strategy:
        return self.source.sort if self.source is not None else "semver"

    @property
    def rollback(self) -> bool:
        return versions.compare(self.after, self.before, self.strategy) == -1

    @property
    def span(self) -> tuple[str, str]:
        """(older, newer): the versions after `older` up to `newer` are the ones to describe."""
        return (self.after, self.before) if self.rollback else (self.before, self.after)

    def key(self) -> tuple[str, ...]:
        source = self.source.key if self.source is not None else ""
        return (self.app, self.component, source, self.setting or "", self.before, self.after)


def specs(config: Config, promotion: Promotion) -> list[Spec]:
    """The components of a promotion that moved from one version to another."""
    found = []
    for plan in promotion.apps:
        app = config.apps.get(plan.app)
        for row in plan.changed:
            component = app.components.get(row.component) if app is not None else None
            spec = _spec(plan.app, row, component)
            if spec is not None:
                found.append(spec)
    return found


def _spec(app: str, row: Row, component: Component | None) -> Spec | None:
    if component is None or component.target.copy_ is not None:
        return None  # copied files: their diff is the changelog, and render summarises it
    if row.before is None or row.after is None:
        return None
    before, after = versions.split_digest(row.before)[0], versions.split_digest(row.after)[0]
    if before == after:
        return None  # a new digest of the same tag: nothing in between
    return Spec(app, row.component, component.source, component.changelog, before, after)
