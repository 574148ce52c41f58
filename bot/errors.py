"""Every error promobot raises on purpose.

    PromobotError
    ├── ConfigError        .promobot.yaml is unreadable or invalid (carries file:line:col)
    ├── FieldError         a selector, template or marker does not match a file
    ├── VersionError       a version constraint does not parse
    ├── PlanError          a requested promotion cannot be planned (unknown app, no upstream)
    └── ForgeError         the forge (or the local git repository) refused or failed

Library exceptions are translated into these at the module that calls the library, so the CLI
and the service can turn any of them into one clear line without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class PromobotError(Exception):
    """Root of promobot's errors; `str()` is a message fit for a person."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a configuration file, located as precisely as we can."""

    file: str
    line: int  # 1-based; 0 when unknown
    column: int  # 1-based; 0 when unknown
    message: str

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}: {self.message}"
        return f"{self.file}: {self.message}"


class ConfigError(PromobotError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class FieldError(PromobotError):
    pass


class VersionError(PromobotError):
    pass


class PlanError(PromobotError):
    pass


class ForgeError(PromobotError):
    pass
