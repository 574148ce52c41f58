"""Read and write one version string at a selector inside a YAML or JSON file's text.

Selectors (DESIGN.md, "Configuration"): `a.b` keys, `a[2]` and `a[-1]` indexes,
`images[name=ghcr.io/acme/api].newTag` list matches, `resources[*]` (the item that matches the
template) and quoted keys (`a."b.c"`, `a['b.c']`); or a `# promobot: NAME` comment on the
value's line instead of a selector. Pure: text in, values and text out.

Reads use loaders that resolve no types, so `tag: 2004` reads as "2004" and `1.10` as "1.10".
A write replaces only the characters of the version inside the scalar's source span (found with
ruamel.yaml's composer, or a small JSON scanner) and reads the result back to confirm it.

The room: `selectors` (parsing `a.b[0]`), `targets` (templates, and what a target reads),
`walk` (following a selector through loaded data), `markers` (`# promobot:` lines), `nodes`
(composed YAML nodes: values, anchors), `document` (reading), and for writing: `writing` (the
edit), `scalars` (quoting and escapes) and `json_spans` (where a JSON value stands).
"""

from bot.fields.document import Document, read
from bot.fields.selectors import Each, Index, Key, Match, Selector, Step, parse_selector
from bot.fields.targets import Target, Template, parse_template
from bot.fields.writing import write

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
