"""Webhook deliveries → normalized events.

Each parser takes the raw body (and the headers it needs) and returns the key promobot dedupes
deliveries on, with one event (a registry notification may carry several). Events are hints:
the engine recomputes from the environment repo, so an event only says what to look at.

Anything malformed raises `EventError`, whose message is one line fit for an HTTP 400; no other
exception escapes a parser. Only the fields that route an event (the repo, the PR number, the
ref, the command's author…) are required: forges drop and add the others between versions
(GitHub Enterprise without `review.commit_id`, GitLab without `user_username`), so a missing
one reads as None or empty and nothing downstream depends on it.

The room: `model` (the events, `EventError`, `load`), `payload` (reading JSON so that errors
name the field), one parser module a sender: `github`, `gitlab`, `registries` (container
registry notifications) and `ci` (the generic endpoint for pipelines), and `forge`, what the
two forges' parsers share.
"""

from bot.events.ci import parse_artifact
from bot.events.github import parse_github
from bot.events.gitlab import parse_gitlab
from bot.events.model import (
    Artifact,
    CommentAction,
    CommentEvent,
    Event,
    EventError,
    Ignored,
    Installation,
    LiveReport,
    Ping,
    PullRequestEvent,
    Push,
    ReviewEvent,
    ReviewState,
    StatusEvent,
    StatusState,
    load,
)
from bot.events.registries import parse_registry

__all__ = [
    "Artifact",
    "CommentAction",
    "CommentEvent",
    "Event",
    "EventError",
    "Ignored",
    "Installation",
    "LiveReport",
    "Ping",
    "PullRequestEvent",
    "Push",
    "ReviewEvent",
    "ReviewState",
    "StatusEvent",
    "StatusState",
    "load",
    "parse_artifact",
    "parse_github",
    "parse_gitlab",
    "parse_registry",
]
