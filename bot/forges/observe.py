"""Forge API calls into metrics: counted by endpoint and status, and the rate limit left.

The client libraries stay untouched: python-gitlab's requests session takes a response hook,
and PyGithub reports every exchange to its `github.Requester` logger, which a handler here
reads (arguments only; the record is never formatted or written anywhere).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

import requests

from bot import budget, metrics

_SEGMENTS = [
    (re.compile(r"^/api/v[34]"), ""),
    (re.compile(r"/repos/[^/]+/[^/]+"), "/repos/{repo}"),
    (re.compile(r"/projects/[^/]+"), "/projects/{id}"),
    (re.compile(r"/(git/refs?|branches|repository/branches)/.+$"), r"/\1/{ref}"),
    (re.compile(r"/(tarball|zipball|commits|statuses|trees)/[^/]+"), r"/\1/{ref}"),
    (re.compile(r"/[0-9a-f]{40}(?=/|$)"), "/{sha}"),
    (re.compile(r"/\d+(?=/|$)"), "/{n}"),
    (re.compile(r"/(users|collaborators|memberships)/[^/]+"), r"/\1/{user}"),
    (re.compile(r"/(orgs|groups)/[^/]+(/teams/[^/]+)?"), r"/\1/{group}"),
]


def endpoint(url: str) -> str:
    """`GET /repos/acme/env/pulls/12` → `/repos/{repo}/pulls/{n}`: a label with few values."""
    path = urlsplit(url).path
    for pattern, replacement in _SEGMENTS:
        path = pattern.sub(replacement, path)
    return path or "/"


def record(forge: str, method: str, url: str, status: int, headers: Mapping[str, str]) -> None:
    metrics.FORGE_CALLS.labels(forge, f"{method.upper()} {endpoint(url)}", str(status)).inc()
    resource = next((v for k, v in headers.items() if k.lower() == "x-ratelimit-resource"), None)
    if resource not in (None, "core"):
        return  # GitHub's GraphQL (and search) have limits of their own: the budget is REST's
    key = budget.spender(forge)  # the forge kind, or the installation a fleet's job spends
    left = budget.of(key)
    left.update(headers, time.time())
    if left.remaining is not None:
        metrics.RATE_LIMIT_REMAINING.labels(key).set(left.remaining)


def gitlab_hook(response: requests.Response, *args: object, **kwargs: object) -> None:
    record(
        "gitlab",
        response.request.method or "GET",
        response.url,
        response.status_code,
        response.headers,
    )


class _GitHubRequests(logging.Handler):
    def emit(self, record_: logging.LogRecord) -> None:
        args = record_.args
        if not isinstance(args, tuple) or len(args) < 8:
            return
        verb, _scheme, _host, url, _headers, _input, status, response_headers = args[:8]
        if isinstance(response_headers, Mapping) and isinstance(status, int):
            record("github", str(verb), str(url), status, response_headers)


def watch_github() -> None:
    """Count PyGithub's requests (once per process)."""
    logger = logging.getLogger("github.Requester")
    if not any(isinstance(h, _GitHubRequests) for h in logger.handlers):
        logger.addHandler(_GitHubRequests(logging.DEBUG))
        logger.setLevel(logging.DEBUG)
        logger.propagate = False  # these records carry bodies; they go nowhere else
