"""Promotion PR text: the title, the body with its version-diff tables, and the overviews.

Pure: values in, markdown out. The body ends with a hidden metadata block that carries the
plan, so promobot can rebuild its state from the forge alone (`parse_meta` reads it back). The
block and the gate checklist are signed (`bot.signing`): anyone who can edit the description
can change them, and what does not verify is read as absent.
"""

from bot.render.body import (
    COMMANDS_HELP,
    MAX_BODY,
    MAX_COMMIT_MESSAGE,
    MAX_TITLE,
    META_VERSION,
    NOTE_SHOWN,
    RUNNING_SHOWN,
    body,
    commit_message,
    gates_section,
    history_markdown,
    parse_meta,
    replace_gates,
    running_section,
    signed_checklist,
    status_markdown,
    title,
)

__all__ = [
    "COMMANDS_HELP",
    "MAX_BODY",
    "MAX_COMMIT_MESSAGE",
    "MAX_TITLE",
    "META_VERSION",
    "NOTE_SHOWN",
    "RUNNING_SHOWN",
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
