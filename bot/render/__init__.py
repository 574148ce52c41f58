"""Promotion PR text: the title, the body with its version-diff tables, and the overviews.

Pure: values in, markdown out. The body ends with a hidden metadata block that carries the
plan, so promobot can rebuild its state from the forge alone (`parse_meta` reads it back). The
block and the gate checklist are signed (`bot.signing`): anyone who can edit the description
can change them, and what does not verify is read as absent.

`body` writes the title, the description and a commit's message; `table` an app's version-diff
table; `changelogs` the notes under it; `checklist` the gates; `metadata` the signed plan;
`impact` what the promotion changes in the cluster (the impact line, and each app's section in
the tiers `fit` walks down); `fit` cuts the description to the forge's limit; `overview`
answers `/status` and `/history`. `markup` is the package's markdown, and `facts` what it reads
from a plan as the terminal (`bot.terminal`) does. Names with a leading underscore are the
package's own: its modules share them, nothing outside uses them.
"""

from bot.render.body import (
    COMMANDS_HELP,
    MAX_BODY,
    MAX_COMMIT_MESSAGE,
    MAX_TITLE,
    UNSAID,
    body,
    commit_message,
    title,
)
from bot.render.changelogs import NOTE_SHOWN
from bot.render.checklist import (
    RUNNING_SHOWN,
    gates_section,
    replace_gates,
    running_section,
    signed_checklist,
)
from bot.render.metadata import META_VERSION, parse_meta
from bot.render.overview import history_markdown, status_markdown

__all__ = [
    "COMMANDS_HELP",
    "MAX_BODY",
    "MAX_COMMIT_MESSAGE",
    "MAX_TITLE",
    "META_VERSION",
    "NOTE_SHOWN",
    "RUNNING_SHOWN",
    "UNSAID",
    "body",
    "commit_message",
    "gates_section",
    "history_markdown",
    "parse_meta",
    "replace_gates",
    "running_section",
    "signed_checklist",
    "status_markdown",
    "title",
]
