"""Read and write one version string at a selector inside a YAML or JSON file's text: the
module, moved whole into a package to be split next."""

from bot.fields.selectors import (
    Document,
    Each,
    Index,
    Key,
    Match,
    Selector,
    Step,
    Target,
    Template,
    parse_selector,
    parse_template,
    read,
    write,
)

__all__ = [
    "Document",
    "Each",
    "Index",
    "Key",
    "Match",
    "Selector",
    "Step",
    "Target",
    "Template",
    "parse_selector",
    "parse_template",
    "read",
    "write",
]
