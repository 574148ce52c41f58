"""Every error promobot raises on purpose.

    PromobotError
    ├── ConfigError        .promobot.yaml is unreadable or invalid (carries file:line:col)
    ├── FieldError         a selector, template or marker does not match a file
    ├── VersionError       a version constraint does not parse
    ├── PlanError          a requested promotion cannot be planned (unknown app, no upstream)
    ├── EventError         a webhook body that does not parse (bot/events/; an HTTP 400)
    ├── SourceError        a registry, chart repository or git repo cannot give versions
    ├── Taken              a promotion branch whose head promobot did not make: never replaced
    └── ForgeError         the forge (or the local git repository) refused or failed
        ├── Unavailable    5xx, timeouts, connection errors: worth retrying with backoff
        ├── RateLimited    403/429 with a rate limit: worth retrying after `retry_after`
        │   └── Paced      promobot's own pacing of writes: the job goes back on the queue
        ├── NotFound       404: no such repo, ref, PR or user (or no access to it)
        ├── Conflict       409/422: the ref moved, the PR exists, the branch is gone
        │   └── Moved      the default branch is no longer where a direct commit began
        └── MergeRefused   the PR's head is not the expected SHA, or it cannot be merged

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


class RenderError(PromobotError):
    """An app × environment could not be rendered: the message says why and what would fix it."""


class RenderTimeout(RenderError):
    """A rendering outran its time limit: on a busy machine it may not next time, so it is
    never kept as the cell's answer."""


class SourceError(PromobotError):
    """A registry, chart repository or git repo cannot give the versions a source asks for."""


class Taken(PromobotError):
    """A promotion branch exists and its head is not a commit promobot made for it (someone
    pushed to it, or made it): promobot leaves it as it is and writes nothing."""

    def __init__(self, branch: str, sha: str, maker: str) -> None:
        self.branch = branch
        self.sha = sha
        self.maker = maker  # who made the head: `Name <email>`
        super().__init__(
            f"branch {branch} exists and its head {sha[:12]} (by {maker}) is not a commit "
            "promobot made for it, so promobot leaves it as it is and wrote nothing; delete the "
            "branch (merging what it holds first, if it is wanted) to let promobot write it"
        )


class ForgeError(PromobotError):
    pass


class Unavailable(ForgeError):
    pass


class RateLimited(ForgeError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Paced(RateLimited):
    """A write would wait too long for room under GitHub's secondary limits (`bot.pacing`):
    its job goes back on the queue for `retry_after` seconds, not counted as a failed attempt,
    and is not retried in place."""


class NotFound(ForgeError):
    pass


class Conflict(ForgeError):
    pass


class Moved(Conflict):
    """A direct commit (`propose: commit`) was computed on a head the branch has left."""


class MergeRefused(ForgeError):
    pass
