"""Templates (`ghcr.io/acme/api:{version}`: where the version sits inside a value) and targets
(a file, and the selector or `# promobot: NAME` marker of the value in it)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from bot.errors import FieldError
from bot.fields.selectors import PLACEHOLDER, Selector, unexpanded


@dataclass(frozen=True)
class Template:
    text: str
    prefix: str
    suffix: str

    def match(self, value: str) -> str | None:
        prefix, suffix = self.prefix, self.suffix
        if len(value) <= len(prefix) + len(suffix):
            return None
        if not (value.startswith(prefix) and value.endswith(suffix)):
            return None
        return value[len(prefix) : len(value) - len(suffix)]

    def render(self, version: str) -> str:
        return f"{self.prefix}{version}{self.suffix}"


@lru_cache(maxsize=1024)
def parse_template(text: str) -> Template:
    names = PLACEHOLDER.findall(text)
    others = [name for name in names if name != "version"]
    if others:
        what, hint = unexpanded(others[0])
        raise FieldError(f"bad template {text!r}: {what}; {hint}, and keep one {{version}}")
    if names.count("version") != 1:
        count = "has no {version}" if not names else f"has {{version}} {len(names)} times"
        raise FieldError(
            f"bad template {text!r}: it {count}; put exactly one where the version goes, "
            "e.g. ghcr.io/acme/api:{version}"
        )
    prefix, suffix = text.split("{version}")
    return Template(text, prefix, suffix)


_MARKER_NAME = re.compile(r"[^\s#]+")


@dataclass(frozen=True)
class Target:
    file: str
    selector: Selector | None = None
    template: Template | None = None
    marker: str | None = None
    # What reading the target depends on besides the file's content: the selector, template or
    # marker, and whether the file is read as JSON (by its name) or YAML. Two targets with
    # equal `reads` read the same version from the same content (bot.versioncache's key).
    reads: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.selector is None) == (self.marker is None):
            raise FieldError(
                f"{self.file}: a target needs exactly one of a field selector (image.tag) "
                "or a marker (api.image, for a '# promobot: api.image' comment)"
            )
        if self.marker is not None and not _MARKER_NAME.fullmatch(self.marker):
            raise FieldError(
                f"{self.file}: bad marker name {self.marker!r}; "
                "use one word without spaces or '#', like api.image"
            )
        if self.selector is not None and self.template is None and self.selector.by_template:
            raise FieldError(
                f"{self.file}: {self.selector.text} picks a list item by its template, but "
                'there is none; add one like template: "ghcr.io/acme/api:{version}"'
            )
        reads = (
            "json" if self.file.lower().endswith(".json") else "yaml",
            self.selector.text if self.selector is not None else None,
            self.template.text if self.template is not None else None,
            self.marker,
        )
        object.__setattr__(self, "reads", repr(reads))
