"""Structured JSON logs: a fixed message with the details as fields, and never a secret.

Every record passes a filter that replaces the values of the configured secrets wherever
they appear (message, fields, exception text), and the credentials of any URL (a password in
`redis://:pw@host`, `?token=…`), as a last line of defence behind `SecretStr`.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

from pythonjsonlogger.json import JsonFormatter

REDACTED = "[redacted]"
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@\s:]*):[^/@\s]*@")
_QUERY = re.compile(
    r"(?P<key>[?&](?:access_token|token|password|passwd|secret|key|sig|signature|"
    r"private_token|X-Amz-Signature|X-Amz-Credential)=)[^&#\s\"']*",
    re.IGNORECASE,
)


def redact_urls(text: str) -> str:
    """`text` with the password of every URL and its credential query parameters replaced."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    return _QUERY.sub(lambda m: m["key"] + REDACTED, text)


class Redact(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def _clean(self, value: object) -> object:
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, REDACTED)
            value = redact_urls(value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and key not in ("msg", "name", "levelname"):
                record.__dict__[key] = self._clean(value)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = str(self._clean(logging.Formatter().formatException(record.exc_info)))
            record.exc_info = None
        return True


def setup(level: str = "info", secrets: Iterable[str] = (), stream: object = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(Redact(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("huey", "uvicorn.access", "urllib3", "httpx", "apprise"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
