"""`.promobot.yaml`: the models, the loader, and every check that gives file:line:col errors.

The loader reads the YAML once with libyaml, keeps the node tree, and only walks it for
positions when something is wrong, so a 500-app configuration loads in milliseconds.
"""

from __future__ import annotations

import difflib
import fnmatch
import heapq
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property, lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from bot import fields, versions
from bot.errors import ConfigError, FieldError, Problem, VersionError
from bot.references import NotARepository, parse_reference

FILENAME = ".promobot.yaml"
COMMANDS = (
    "promote",
    "rollback",
    "approve",
    "merge",
    "hold",
    "unhold",
    "refresh",
    "status",
    "history",
    "help",
)
# Environment, app, group and component names end up in branch names (promobot/ENV/NAME) and
# labels, so each must be one valid git ref component: no "..", no trailing "." or ".lock".
NAME_PATTERN = r"^(?!.*\.\.)(?!.*\.lock\Z)[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9_-])?\Z"
NAME_MAX = 100
MAX_DURATION = timedelta(days=365)  # the longest duration .promobot.yaml may ask for
MAX_BATCH = timedelta(days=1)  # a batch window longer than this only delays promotions
# Nodes that YAML aliases (and `<<:` merges) may add to .promobot.yaml beyond what is written.
# A configuration repeats an environment or a few settings (hundreds of nodes); a "billion
# laughs" document of nested aliases expands to billions and would take minutes to validate.
MAX_ALIAS_NODES = 100_000

# --- value types -------------------------------------------------------------------------------

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str, maximum: timedelta = timedelta.max) -> timedelta:
    """`30m`, `24h`, `1h30m`, `2d` → a timedelta; a ValueError (never an OverflowError) for
    anything else or anything longer than `maximum`."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or not text.strip() or not any(match.groups()):
        raise ValueError(f"bad duration {text!r}; write e.g. '30m', '24h', '1h30m' or '2d'")
    # Counted in whole seconds, so no number of digits can overflow timedelta or datetime math.
    groups = [g or "0" for g in match.groups()]
    too_long = f"duration {text!r} is longer than {_describe(maximum)}; write a shorter one"
    if any(len(g) > 12 for g in groups):
        raise ValueError(too_long)
    days, hours, minutes, seconds = (int(g) for g in groups)
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total > maximum.days * 86400 + maximum.seconds:
        raise ValueError(too_long)
    return timedelta(seconds=total)


def _describe(span: timedelta) -> str:
    return f"{span.days}d" if span.days else f"{int(span.total_seconds())}s"


def _check_duration(text: str) -> str:
    parse_duration(text, MAX_DURATION)
    return text


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"}),
]

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FREEZE = re.compile(
    r"^(?P<d1>\w{3}) (?P<t1>\d{1,2}:\d{2}) - (?P<d2>\w{3}) (?P<t2>\d{1,2}:\d{2}) (?P<tz>\S+)$"
)


@dataclass(frozen=True)
class FreezeWindow:
    """A weekly window: from start day+time to end day+time, in a time zone."""

    start_day: int  # 0 = Monday
    start_minute: int  # minutes after midnight
    end_day: int
    end_minute: int
    zone: str


def parse_freeze(text: str) -> FreezeWindow:
    hint = "write e.g. 'Fri 16:00 - Mon 08:00 Europe/Zurich'"
    match = _FREEZE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"bad freeze window {text!r}; {hint}")
    parts = match.groupdict()
    for key in ("d1", "d2"):
        if parts[key].title() not in DAYS:
            raise ValueError(
                f"bad day {parts[key]!r} in freeze window; use one of {', '.join(DAYS)}"
            )
    minutes = []
    for key in ("t1", "t2"):
        hour, minute = (int(x) for x in parts[key].split(":"))
        if hour > 24 or minute > 59 or (hour == 24 and minute):
            raise ValueError(f"bad time {parts[key]!r} in freeze window; {hint}")
        minutes.append(hour * 60 + minute)
    try:
        ZoneInfo(parts["tz"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {parts['tz']!r} in freeze window; use an IANA name like 'UTC' "
            "or 'Europe/Zurich'"
        ) from None
    return FreezeWindow(
        DAYS.index(parts["d1"].title()),
        minutes[0],
        DAYS.index(parts["d2"].title()),
        minutes[1],
        parts["tz"],
    )


def _check_freeze(text: str) -> str:
    parse_freeze(text)
    return text


Freeze = Annotated[str, AfterValidator(_check_freeze)]


def _check_pattern(text: str) -> str:
    try:
        versions.check_pattern(text)
    except VersionError as exc:
        raise ValueError(str(exc)) from None
    return text


# matched by RE2 against tags that whoever publishes a version chooses: no backtracking
TagPattern = Annotated[str, AfterValidator(_check_pattern)]


_SAMPLE = {"env": "env", "app": "app"}  # to check paths, selectors and templates unexpanded
_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# a GitHub login or GitLab username; a GitHub App posts as its bot user, slug[bot]
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}(?:\[bot\])?")


@lru_cache(maxsize=4096)  # a configuration repeats a few templates for thousands of targets
def _pieces(text: str) -> tuple[tuple[str, str | None], ...]:
    """A templated string as (literal text, placeholder name or None) pairs.

    Reads `{{` and `}}` as braces, as str.format does, but takes nothing else from it: a
    placeholder is a bare name. A format spec (`{env:>4}`) could pad a path into `////dev` or a
    version to a gigabyte, and a conversion or attribute (`{env!r}`, `{env.x}`) is never meant.
    """
    pieces: list[tuple[str, str | None]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text[i + 1 : i + 2] == char:
            literal.append(char)
            i += 2
        elif char == "}":
            raise ValueError(
                f"bad template {text!r}: a lone '}}' at column {i + 1}; write placeholders "
                "like {env} (and '}}' for a brace)"
            )
        elif char == "{":
            end = text.find("}", i)
            if end < 0:
                raise ValueError(
                    f"bad template {text!r}: the '{{' at column {i + 1} is not closed; write "
                    "placeholders like {env} (and '{{' for a brace)"
                )
            name = text[i + 1 : end]
            if not _BARE.match(name):
                raise ValueError(_not_bare(text, name))
            pieces.append(("".join(literal), name))
            literal = []
            i = end + 1
        else:
            literal.append(char)
            i += 1
    pieces.append(("".join(literal), None))
    return tuple(pieces)


def _not_bare(text: str, name: str) -> str:
    if not name:
        what = "is empty"
    elif ":" in name:
        what = "has a format spec"
    elif "!" in name:
        what = "has a conversion"
    elif "." in name or "[" in name:
        what = "has an attribute or index"
    else:
        what = "is not a name"
    return (
        f"bad placeholder {{{name}}} in {text!r}: it {what}; write a bare name like {{env}}, "
        "without ':', '!', '.' or '['"
    )


class _Keep(dict[str, str]):
    """Placeholders without a value stay as they are written."""

    def __missing__(self, name: str) -> str:
        return "{" + name + "}"


@lru_cache(maxsize=4096)
def _format_string(text: str) -> str:
    """The template as a str.format pattern of bare names only: `_pieces` refuses format specs,
    conversions and attributes, so str.format_map cannot do more than fill in names."""
    return "".join(
        literal.replace("{", "{{").replace("}", "}}") + ("" if name is None else "{" + name + "}")
        for literal, name in _pieces(text)
    )


def expand(text: str, **values: str) -> str:
    """Fill a checked template's placeholders (str.format without its mini-language)."""
    return _fill(text, _Keep(values))


def _fill(text: str, values: _Keep) -> str:
    if "{" not in text and "}" not in text:
        return text
    # str.format_map in C: status expands tens of thousands of paths and selectors
    return _format_string(text).format_map(values)


def _placeholders(text: str) -> set[str]:
    return {name for _, name in _pieces(text) if name is not None}


def _only_placeholders(text: str, allowed: set[str], what: str) -> None:
    unknown = _placeholders(text) - allowed
    if unknown:
        names = ", ".join("{" + n + "}" for n in sorted(allowed))
        raise ValueError(
            f"unknown placeholder {{{sorted(unknown)[0]}}} in {what} {text!r}; use {names}"
        )


def path_problem(path: str) -> str | None:
    """Why `path` (placeholders expanded) is not a plain path inside the repository, or None."""
    if not path:
        return "is empty"
    if path.startswith(("/", "\\")):
        return "leaves the repository (it is absolute)"
    if "\\" in path or not path.isprintable():
        return "has a backslash or a control character"
    if "/." not in "/" + path and "//" not in path:
        return None  # no empty, '.', '..' or '.git' segment: the usual path, told quickly
    for part in path.removesuffix("/").split("/"):
        if part == "..":
            return "leaves the repository (it has a '..' segment)"
        if part in ("", "."):
            return "has an empty or '.' segment"
        if part.lower() == ".git":
            return "reaches into .git"
    return None


def _check_path(text: str) -> str:
    _only_placeholders(text, {"env", "app"}, "path")
    why = path_problem(expand(text, **_SAMPLE))
    if why is not None:
        raise ValueError(
            f"path {text!r} {why}; write a relative path inside the repository, "
            "like 'envs/{env}/values.yaml'"
        )
    return text


RepoPath = Annotated[str, AfterValidator(_check_path)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- the configuration model -------------------------------------------------------------------


class Gates(_Model):
    approvals: int = Field(
        0,
        ge=0,
        description="Distinct approvals needed on the PR head, never from the requester or a bot.",
    )
    approvers: tuple[str, ...] = Field(
        (),
        description="Who may approve: users, @org/team (GitHub) or @group (GitLab); "
        "empty: anyone with write access.",
    )
    soak: Duration | None = Field(
        None,
        description="How long the upstream environment must have run the promoted versions, "
        "e.g. 30m, 24h; at most 365d.",
    )
    healthy: Duration | None = Field(
        None,
        description="How long the upstream's cluster must have run the promoted versions synced "
        "and healthy, as its live: source reports, e.g. 30m; at most 365d.",
    )
    checks: tuple[str, ...] = Field(
        (), description="Commit statuses or check runs that must succeed on the PR head."
    )
    freeze: tuple[Freeze, ...] = Field(
        (), description="Weekly windows without merges, e.g. 'Fri 16:00 - Mon 08:00 Europe/Zurich'."
    )

    @property
    def soak_time(self) -> timedelta:
        return parse_duration(self.soak) if self.soak else timedelta(0)

    @property
    def healthy_time(self) -> timedelta:
        return parse_duration(self.healthy) if self.healthy else timedelta(0)


def _app_env_template(value: str, what: str) -> str:
    _only_placeholders(value, {"env", "app"}, what)
    if not value.strip():
        raise ValueError(f"{what} is empty")
    return value


class ArgoCDLive(_Model):
    """An Argo CD Application per app (the Argo CD instance is a service setting)."""

    application: str = Field(
        "{app}-{env}", description="The Application's name; {app} and {env} expand."
    )

    @field_validator("application")
    @classmethod
    def _check(cls, value: str) -> str:
        return _app_env_template(value, "application")


class FluxLive(_Model):
    """The Flux object whose events (notification-controller, generic-hmac) speak for the app."""

    kind: Literal["Kustomization", "HelmRelease"] = Field(
        "Kustomization", description="Kustomization or HelmRelease."
    )
    name: str = Field("{app}", description="The object's name; {app} and {env} expand.")
    namespace: str = Field("flux-system", description="The object's namespace.")

    @field_validator("name", "namespace")
    @classmethod
    def _check(cls, value: str) -> str:
        return _app_env_template(value, "name")


class FleetLive(_Model):
    """The Fleet bundle deployed for the app (read from the Kubernetes API)."""

    bundle: str = Field("{app}-{env}", description="The Bundle's name; {app} and {env} expand.")
    namespace: str = Field("fleet-default", description="The workspace namespace of the GitRepo.")

    @field_validator("bundle", "namespace")
    @classmethod
    def _check(cls, value: str) -> str:
        return _app_env_template(value, "bundle")


class StatusLive(_Model):
    """A commit status on the env repo's default-branch commits that reports the deployment."""

    context: str = Field(
        description="The status context, e.g. argocd/{app}-{env}; {app} and {env} expand."
    )
    author: str | None = Field(
        None,
        alias="from",
        description="The account that posts it (a user, or a GitHub App as slug[bot]): only "
        "its statuses and check runs count, checked by the forge's id. Without it, anyone who "
        "may post statuses speaks for the cluster, and no automatic rollback or merge rests "
        "on what it says.",
    )

    @field_validator("context")
    @classmethod
    def _check(cls, value: str) -> str:
        return _app_env_template(value, "context")

    @field_validator("author")
    @classmethod
    def _check_author(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT.fullmatch(value.removeprefix("@")):
            raise ValueError(
                f"from: {value!r} is not an account name; write the login that posts the "
                "status (alice, flux-bot) or a GitHub App as slug[bot]"
            )
        return None if value is None else value.removeprefix("@")


class RolloutLive(_Model):
    """The Argo Rollouts Rollout or Flagger Canary that rolls each app out, read from the
    Kubernetes API of a context of the PROMOBOT_KUBECONFIG service setting."""

    kind: Literal["argo-rollouts", "flagger"] = Field(
        description="argo-rollouts (a Rollout) or flagger (a Canary)."
    )
    name: str = Field("{app}", description="The object's name; {app} and {env} expand.")
    namespace: str = Field(
        "{app}",
        description="Its namespace; {app} and {env} expand (then one cluster-wide list a poll).",
    )
    context: str = Field(
        "", description="A context of PROMOBOT_KUBECONFIG; empty: its current context."
    )

    @field_validator("name", "namespace")
    @classmethod
    def _check(cls, value: str) -> str:
        return _app_env_template(value, "rollout name or namespace")

    @field_validator("context")
    @classmethod
    def _check_context(cls, value: str) -> str:
        if "{" in value or "}" in value:
            raise ValueError(
                f"rollout context {value!r} names a context of PROMOBOT_KUBECONFIG as it is "
                "written there, without placeholders"
            )
        return value

    @property
    def wide(self) -> bool:
        """Whether the namespace differs per app or environment (read cluster-wide)."""
        return bool(_placeholders(self.namespace))

    def expand(self, text: str, app: str, env: str) -> str:
        return expand(text, app=app, env=env)


class LiveSource(_Model):
    """Where to learn what the environment's cluster runs: exactly one source, and
    optionally the rollout object beside it."""

    argocd: ArgoCDLive | None = Field(None, description="Argo CD's API and notifications.")
    flux: FluxLive | None = Field(None, description="Flux notification-controller events.")
    fleet: FleetLive | None = Field(None, description="Fleet BundleDeployments.")
    status: StatusLive | None = Field(None, description="A commit status context.")
    rollout: RolloutLive | None = Field(
        None,
        description="An Argo Rollouts Rollout or Flagger Canary per app: its canary step and "
        "weight or blue-green preview; until it completes the app is not healthy.",
    )

    @model_validator(mode="after")
    def _one(self) -> LiveSource:
        kinds = [k for k in ("argocd", "flux", "fleet", "status") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError(
                "live: names exactly one of argocd:, flux:, fleet: or status:"
                + (f" (found {', '.join(kinds)})" if kinds else "")
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("argocd", "flux", "fleet", "status") if getattr(self, k))

    @property
    def authenticated(self) -> bool:
        """Whether promobot knows who speaks: Argo CD's API, Flux's signed events, Fleet's
        Kubernetes API, or statuses from a named account — not whoever may post statuses."""
        return self.status is None or self.status.author is not None

    def name(self, app: str, env: str) -> str:
        """What the source calls this app in this environment: the Application, the Flux
        object (`namespace/name`), the Bundle (`namespace/name`) or the status context."""
        if self.argocd is not None:
            return expand(self.argocd.application, app=app, env=env)
        if self.flux is not None:
            return expand(f"{self.flux.namespace}/{self.flux.name}", app=app, env=env)
        if self.fleet is not None:
            return expand(f"{self.fleet.namespace}/{self.fleet.bundle}", app=app, env=env)
        assert self.status is not None
        return expand(self.status.context, app=app, env=env)


class Verify(_Model):
    """After a promotion merges into the environment, its cluster must run the promoted
    versions synced and healthy within a while (read from the environment's live:)."""

    within: Duration = Field("15m", description="How long the cluster may take, e.g. 15m.")
    on_failure: Literal["comment", "rollback"] = Field(
        "comment",
        description="comment: say so on the PR and hold automatic promotions from here; "
        "rollback: also open a rollback PR to what ran before (merged at once if the "
        "environment auto-merges and its gates pass).",
    )

    @property
    def within_time(self) -> timedelta:
        return parse_duration(self.within)


class Environment(_Model):
    upstream: str | None = Field(
        None, alias="from", description="The upstream environment; none: fed by sources."
    )
    auto_merge: bool = Field(False, description="Merge promotion PRs as soon as every gate passes.")
    propose: Literal["auto", "manual", "commit"] = Field(
        "auto",
        description="manual: PRs only on /promote, not on every upstream change; commit: no PR, "
        "the promotion is committed straight to the default branch (an environment without "
        "gates).",
    )
    batch: Duration | None = Field(
        None,
        description="Gather the automatic promotions into this environment into one PR (or one "
        "commit) written at most once per window, e.g. 10m; /promote still opens its own PR.",
    )
    gates: Gates = Field(
        Gates(), description="What must hold before a promotion into this environment merges."
    )
    live: LiveSource | None = Field(
        None, description="Where to learn what the environment's cluster runs."
    )
    verify: Verify | None = Field(
        None, description="Watch the cluster after a promotion merges here (needs live:)."
    )

    @property
    def batch_window(self) -> timedelta | None:
        return parse_duration(self.batch) if self.batch else None


class Source(_Model):
    image: str | None = Field(None, description="An OCI image repository, e.g. ghcr.io/acme/api.")
    chart: str | None = Field(None, description="A Helm chart name; needs repo.")
    repo: str | None = Field(
        None, description="The chart's Helm repository: https://… (index.yaml) or oci://…."
    )
    git: str | None = Field(
        None,
        description="A repository on the same forge whose tags are versions, e.g. acme/api-config.",
    )
    tags: str | None = Field(None, description="A glob the git tags must match, e.g. v*.")
    semver: str | None = Field(
        None, description="A constraint: ^1.2, ~1.2.3, >=1.2 <2, 1.x (optional v prefix)."
    )
    sort: versions.Strategy = Field(
        "semver", description="How versions are ordered: semver, lexical or numeric."
    )
    allow: TagPattern | None = Field(
        None, description="A regular expression (RE2) versions must match, e.g. ^v1\\."
    )
    ignore: tuple[TagPattern, ...] = Field(
        (), description="Regular expressions (RE2) of versions to skip, e.g. -rc."
    )
    prerelease: bool = Field(False, description="Also select pre-releases such as 1.5.0-rc.1.")
    digest: bool = Field(False, description="Pin versions as tag@sha256:….")

    @model_validator(mode="after")
    def _check(self) -> Source:
        kinds = [k for k in ("image", "chart", "git") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("a source names exactly one of image:, chart: (with repo:) or git:")
        if self.chart and not self.repo:
            raise ValueError("chart: needs repo: (an https:// Helm repository or oci:// registry)")
        return self

    @field_validator("semver")
    @classmethod
    def _check_semver(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                versions.check_constraint(value)
            except VersionError as exc:
                raise ValueError(str(exc)) from None
        return value

    @property
    def key(self) -> str:
        """What an artifact event names: `image:ghcr.io/acme/api`, `chart:…`, `git:acme/cfg`."""
        if self.image:
            return f"image:{self.image}"
        if self.chart:
            return f"chart:{self.repo_url}"
        return f"git:{self.git}"

    @property
    def label(self) -> str:
        if self.image:
            return self.image
        if self.chart:
            return self.repo_url
        return self.git or ""

    @property
    def repo_url(self) -> str:
        return f"{(self.repo or '').rstrip('/')}/{self.chart}"

    @property
    def policy(self) -> versions.Policy:
        return versions.Policy(
            strategy=self.sort,
            constraint=self.semver,
            prerelease=self.prerelease,
            allow=self.allow,
            ignore=self.ignore,
            digest=self.digest,
        )


class Target(_Model):
    file: RepoPath | None = Field(
        None, description="The file holding the version; {env} and {app} expand."
    )
    field: str | None = Field(
        None, description="A selector: a.b, a[2], list[key=value].x, list[*] (with template)."
    )
    template: str | None = Field(
        None, description="Where {version} sits in a longer value, e.g. ghcr.io/acme/api:{version}."
    )
    marker: str | None = Field(
        None, description="Instead of field: the value on the line marked '# promobot: NAME'."
    )
    copy_: RepoPath | None = Field(
        None, alias="copy", description="A file or folder promoted by copying it from upstream."
    )

    @field_validator("field")
    @classmethod
    def _check_field(cls, value: str | None) -> str | None:
        if value is not None:
            _only_placeholders(value, {"env", "app"}, "field")
            try:
                fields.parse_selector(expand(value, **_SAMPLE))
            except FieldError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("template")
    @classmethod
    def _check_template(cls, value: str | None) -> str | None:
        if value is not None:
            _only_placeholders(value, {"env", "app", "version"}, "template")
            try:
                fields.parse_template(expand(value, version="{version}", **_SAMPLE))
            except FieldError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("marker")
    @classmethod
    def _check_marker(cls, value: str | None) -> str | None:
        if value is not None:
            _only_placeholders(value, {"env", "app"}, "marker")
            try:
                fields.Target(file="", marker=expand(value, **_SAMPLE))
            except FieldError as exc:
                raise ValueError(str(exc).removeprefix(": ")) from None
        return value

    @model_validator(mode="after")
    def _check(self) -> Target:
        if self.copy_ is not None:
            if self.file or self.field or self.template or self.marker:
                raise ValueError("a copy: target takes no file:, field:, template: or marker:")
            return self
        if not self.file:
            raise ValueError("a target needs file: with field: or marker:, or copy: PATH")
        if (self.field is None) == (self.marker is None):
            raise ValueError("a target needs exactly one of field: (a selector) or marker:")
        if self.field is not None and "[*]" in self.field and self.template is None:
            raise ValueError(f"field {self.field!r} selects list[*] and needs a template:")
        return self


class Component(_Model):
    source: Source | None = Field(
        None, description="Where new versions come from (none for copy targets)."
    )
    target: Target
    changelog: str | None = Field(
        None,
        description="Where the release notes are: github.com/acme/api, acme/api (promobot's "
        "forge) or, on the local forge, a path; default: the image's source annotation.",
    )
    promote: Literal["auto", "never"] = Field(
        "auto",
        description="never: a value that differs between environments on purpose (replicas, a "
        "host, a prod-only patch): shown and compared everywhere, never promoted, and not part "
        "of the composition id.",
    )
    with_: str | None = Field(
        None,
        alias="with",
        description="For a copy: component, another component of the app: copied only in a "
        "promotion that moves that one too, so config never lands on a version it was not "
        "made for.",
    )

    @field_validator("changelog")
    @classmethod
    def _check_changelog(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_reference(value, own="forge")
            except NotARepository as exc:
                raise ValueError(
                    f"changelog: names a repository (github.com/OWNER/NAME, OWNER/NAME or a "
                    f"local path), not this: {exc}"
                ) from None
        return value

    @model_validator(mode="after")
    def _check(self) -> Component:
        if self.target.copy_ is not None and self.source is not None:
            raise ValueError("a copy: component has no source: (it is promoted by copying)")
        if self.target.copy_ is not None and self.changelog is not None:
            raise ValueError("a copy: component has no changelog: (its diff is in the PR)")
        if self.shown and self.source is not None:
            raise ValueError(
                "promote: never shows a value that is never promoted, so it takes no source:"
            )
        if self.target.copy_ is None and self.source is None and not self.shown:
            raise ValueError(
                "a component needs a source: (or a target: {copy: PATH}, or promote: never "
                "for a value that is only shown)"
            )
        if self.with_ is not None and (self.target.copy_ is None or self.shown):
            raise ValueError(
                "with: makes a copy: component follow another one's promotions; this "
                "component is not promoted by copying"
            )
        return self

    @property
    def shown(self) -> bool:
        """Shown and compared, never promoted (`promote: never`)."""
        return self.promote == "never"


class App(_Model):
    components: dict[str, Component] = Field(
        ..., min_length=1, description="The app's independently versioned inputs, by name."
    )
    environments: tuple[str, ...] | None = Field(
        None, description="The environments the app runs in; default: all."
    )
    links: dict[str, str] = Field(
        {}, description="Per component, a change link with {from} and {to}."
    )


class Config(_Model):
    version: Literal[1]
    environments: dict[str, Environment] = Field(
        ..., min_length=1, description="Environments by name; from: makes the promotion DAG."
    )
    apps: dict[str, App] = Field({}, description="Apps by name.")
    groups: dict[str, tuple[str, ...]] = Field({}, description="Apps promoted together, in one PR.")
    permissions: dict[str, dict[str, tuple[str, ...]]] = Field(
        {}, description="Per command, environment globs to who may run it (default: write access)."
    )
    notify: dict[str, dict[str, tuple[str, ...]]] = Field(
        {},
        description="Per environment glob, target name to the events it is sent (opened, "
        "waiting, blocked, merged, failed, rolled-back, held, or *); every glob that matches "
        "applies. A target's Apprise URL is the service setting PROMOBOT_NOTIFY_<NAME>, never "
        "in the repo.",
    )

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Environments in promotion order: upstream first, then declaration order.

        Each step takes the first-declared environment whose upstream is placed, from a heap
        of declaration indexes: n log n, where looking through the pending list for it was n²
        (n³ with the chain declared last first)."""
        names = list(self.environments)
        below: dict[str, list[int]] = {}
        ready: list[int] = []
        for i, name in enumerate(names):
            upstream = self.environments[name].upstream
            if upstream is None:
                ready.append(i)  # in increasing order: already a heap
            else:
                below.setdefault(upstream, []).append(i)
        done: list[str] = []
        while ready:
            name = names[heapq.heappop(ready)]
            done.append(name)
            for i in below.get(name, ()):
                heapq.heappush(ready, i)
        if len(done) < len(names):  # a cycle or an unknown upstream, which validation rejects
            placed = set(done)
            done += [name for name in names if name not in placed]
        return tuple(done)

    @cached_property
    def _app_environments(self) -> dict[str, tuple[str, ...]]:
        return {}

    def app_environments(self, app: str) -> tuple[str, ...]:
        known = self._app_environments.get(app)
        if known is None:  # asked for every app × component of a status, and again by a plan
            listed = self.apps[app].environments
            wanted = None if listed is None else set(listed)
            known = tuple(e for e in self.order if wanted is None or e in wanted)
            self._app_environments[app] = known
        return known

    def downstream(self, env: str) -> tuple[str, ...]:
        return tuple(e for e in self.order if self.environments[e].upstream == env)

    def group_of(self, app: str) -> str | None:
        return next((g for g, apps in self.groups.items() if app in apps), None)

    @cached_property
    def _targets(self) -> dict[tuple[str, str, str], ResolvedTarget]:
        # a cached_property, not a pydantic private attribute, whose every read costs
        # microseconds through BaseModel.__getattr__: status asks for tens of thousands
        return {}

    def live_objects(self, kind: str) -> dict[str, list[tuple[str, str]]]:
        """What the environments whose `live:` reads `kind` ("argocd", "fleet") call each app
        → the (app, env) pairs each name speaks for (two environments may name one object)."""
        names: dict[str, list[tuple[str, str]]] = {}
        for env, environment in self.environments.items():
            live = environment.live
            if live is None or live.kind != kind:
                continue
            for app in self.apps:
                names.setdefault(live.name(app, env), []).append((app, env))
        return names

    def promoted(self, app: str) -> tuple[str, ...]:
        """The app's components that promotions move (all but `promote: never`)."""
        return tuple(c for c, spec in self.apps[app].components.items() if not spec.shown)

    def shared(self, app: str, component: str, env: str) -> tuple[str, ...]:
        """The app's environments whose `component` lives where `env`'s does (a base, a file
        without {env}), `env` included, in promotion order; just `(env,)` when it has its own.
        Writing it for one of them writes it for all."""
        sharing = self._sharing.get((app, component))
        if sharing is None:
            places: dict[tuple[str, str], list[str]] = {}
            for each in self.app_environments(app):
                places.setdefault(self.target(app, component, each).location, []).append(each)
            sharing = {each: tuple(group) for group in places.values() for each in group}
            self._sharing[(app, component)] = sharing
        return sharing.get(env, (env,))

    @cached_property
    def _sharing(self) -> dict[tuple[str, str], dict[str, tuple[str, ...]]]:
        return {}

    def target(self, app: str, component: str, env: str) -> ResolvedTarget:
        key = (app, component, env)
        targets = self._targets
        found = targets.get(key)
        if found is None:  # parsing selectors is the cost; status asks thousands
            found = targets[key] = self._resolve(app, component, env)
        return found

    def _resolve(self, app: str, component: str, env: str) -> ResolvedTarget:
        target = self.apps[app].components[component].target
        names = _Keep(env=env, app=app)
        path = _fill(target.copy_ if target.copy_ is not None else target.file or "", names)
        why = path_problem(path)
        if why is not None:  # load() refuses these; a model built some other way must too
            raise FieldError(f"{path!r}: the path {why}")
        if target.copy_ is not None:
            return ResolvedTarget(path, None)
        template = None
        if target.template is not None:
            template = fields.parse_template(
                _fill(target.template, _Keep(names, version="{version}"))
            )
        selector = None
        if target.field is not None:
            selector = fields.parse_selector(_fill(target.field, names))
        marker = _fill(target.marker, names) if target.marker else None
        return ResolvedTarget(path, fields.Target(path, selector, template, marker))


@dataclass(frozen=True)
class ResolvedTarget:
    """Where one component of one app lives in one environment: a field, or a copied path."""

    path: str
    field: fields.Target | None  # None: a copy component, whose version is the path's object id

    @property
    def location(self) -> tuple[str, str]:
        """The file and the place in it: two environments with one location share a value."""
        if self.field is None:
            return (self.path.rstrip("/"), "copy")
        if self.field.selector is not None:
            return (self.path, self.field.selector.text)
        return (self.path, f"marker {self.field.marker}")

    @property
    def describe(self) -> str:
        if self.field is None:
            return self.path
        where = self.field.selector.text if self.field.selector else f"marker {self.field.marker}"
        return f"{self.path} ({where})"


# --- loading -----------------------------------------------------------------------------------


def load(text: str, file: str = FILENAME) -> Config:
    """Parse and validate; raise ConfigError listing every problem with its position."""
    loader = yaml.CSafeLoader(text)
    try:
        bomb = _alias_bomb(text, file)
        if bomb is not None:
            raise ConfigError([bomb])
        node = loader.get_single_node()
        if node is None:
            raise ConfigError([Problem(file, 1, 1, "the file is empty; start with 'version: 1'")])
        duplicates = list(_duplicates(node))
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or "not valid YAML"
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise ConfigError([Problem(file, line, col, f"YAML syntax: {what}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, 0, 0, f"YAML syntax: {exc}")]) from None
    finally:
        loader.dispose()

    positions = _Positions(node)
    problems = [Problem(file, *positions.key(path), msg) for path, msg in duplicates]
    if not isinstance(data, dict):
        problems.append(Problem(file, 1, 1, "the file must be a mapping starting 'version: 1'"))
        raise ConfigError(problems)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            path = tuple(error["loc"])
            line, col = positions.locate(path, at_key=error["type"] == "extra_forbidden")
            problems.append(Problem(file, line, col, _message(path, error)))
        raise ConfigError(problems) from None
    for path, msg in _semantic_problems(config):
        problems.append(Problem(file, *positions.locate(path), msg))
    if problems:
        raise ConfigError(problems)
    return config


def locate(text: str, path: tuple[Any, ...]) -> tuple[int, int]:
    """The 1-based line and column of `path` (keys and indexes) in a configuration that
    loads: where a finding about it is shown. (0, 0) if the text does not parse."""
    try:
        node = yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return (0, 0)
    return (0, 0) if node is None else _Positions(node).locate(path, at_key=True)


def load_at(raw: bytes | None, commit: str) -> Config:
    """The configuration committed at `commit`, whose `.promobot.yaml` is `raw` (None: absent)."""
    if raw is None:
        where = commit[:12]
        raise ConfigError(
            [Problem(FILENAME, 0, 0, f"not found at {where}; create it (see config/README.md)")]
        )
    return load(raw.decode("utf-8", errors="replace"))


def _alias_bomb(text: str, file: str) -> Problem | None:
    """The alias at which YAML aliases have added more than MAX_ALIAS_NODES nodes, if any.

    Counted on libyaml's parse events before anything is built: an anchored node's size is
    known at its end, and each alias adds that size, so one pass counts any expansion (merge
    keys, `<<: *x`, are aliases too). Building, validating or walking the document would
    expand it for real.
    """
    sizes: dict[str, int] = {}
    opened: list[tuple[str | None, int]] = []  # the anchors of the collections being read
    total = added = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.AliasEvent):
            size = sizes.get(event.anchor or "")
            mark = event.start_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
            if size is None and any(anchor == event.anchor for anchor, _ in opened):
                return Problem(
                    file,
                    line,
                    col,
                    f"the alias *{event.anchor} is inside its own anchor, so it never ends; "
                    "write the value out",
                )
            total += size or 0  # an unknown alias: composing the document reports it
            added += size or 0
            if added > MAX_ALIAS_NODES:
                return Problem(
                    file,
                    line,
                    col,
                    f"YAML aliases expand this file by more than {MAX_ALIAS_NODES:,} nodes "
                    f"(here, *{event.anchor}); use anchors for a few repeated settings, "
                    "not nested inside each other",
                )
        elif isinstance(event, yaml.ScalarEvent):
            total += 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            opened.append((event.anchor, total))
            total += 1
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            anchor, start = opened.pop()
            if anchor:
                sizes[anchor] = total - start
    return None


def _message(path: tuple[Any, ...], error: Any) -> str:
    where = ".".join(str(p) for p in path if not str(p).startswith("function-"))
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(path[:-1])
        hint = difflib.get_close_matches(str(path[-1]), allowed, n=1)
        suggestion = f"did you mean {hint[0]!r}? " if hint else ""
        return f"unknown key {path[-1]!r}; {suggestion}allowed here: {', '.join(allowed)}"
    if kind == "missing":
        return f"{where}: required key is missing"
    msg = str(error["msg"]).removeprefix("Value error, ")
    if kind in (
        "literal_error",
        "int_parsing",
        "bool_parsing",
        "string_type",
        "dict_type",
        "tuple_type",
        "int_type",
        "greater_than_equal",
        "too_short",
    ):
        msg = f"{msg}, got {error['input']!r}"
    return f"{where}: {msg}" if where else msg


def _allowed_keys(path: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the mapping at `path`, found by walking the model classes."""
    model: type[BaseModel] | None = Config
    for step in path:
        if model is None:
            return []
        info = model.model_fields.get(str(step)) or next(
            (f for f in model.model_fields.values() if f.alias == step), None
        )
        if info is None:  # a dict key such as an environment or app name
            continue
        model = _model_in(info.annotation)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _semantic_problems(config: Config) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Checks across fields that a per-field validator cannot see."""
    envs = list(config.environments)
    hints = _Hints()
    for name, env in config.environments.items():
        if not _NAME.match(name):
            yield ("environments", name), _bad_name("environment", name)
        if env.upstream is not None and env.upstream not in config.environments:
            hint = hints.did_you_mean(env.upstream, envs)
            yield (
                ("environments", name, "from"),
                f"unknown upstream environment {env.upstream!r}; {hint}known: {_known(envs)}",
            )
        if env.propose == "commit" and env.gates != Gates():
            yield (
                ("environments", name, "propose"),
                "propose: commit writes to the default branch with no PR, so nothing could gate "
                "it; remove gates: or use auto_merge: true (PRs merged when the gates pass)",
            )
        if env.gates.healthy is not None:
            watched = config.environments.get(env.upstream) if env.upstream else None
            live = watched.live if watched is not None else None
            if env.upstream is None:
                why = "needs an upstream (from:) whose cluster it watches"
            elif live is None:
                why = f"needs live: on {env.upstream} to learn what its cluster runs"
            elif env.auto_merge and not live.authenticated:
                why = (
                    f"with auto_merge: true would merge into {name} on a commit status that "
                    f"anyone who may post statuses can post; name who posts it in "
                    f"{env.upstream}'s live: (status: {{context: …, from: <the app or "
                    "account>}), read the cluster itself (argocd:, flux:, fleet:), or merge by "
                    "hand"
                )
            else:
                why = ""
            if why:
                yield ("environments", name, "gates", "healthy"), f"healthy: {why}"
        if env.verify is not None and env.live is None:
            yield (
                ("environments", name, "verify"),
                f"verify: watches the cluster through live:, and {name} has no live:",
            )
        if (
            env.verify is not None
            and env.verify.on_failure == "rollback"
            and env.live is not None
            and not env.live.authenticated
        ):
            yield (
                ("environments", name, "verify", "on_failure"),
                f"on_failure: rollback would change {name} on a commit status that anyone who "
                "may post statuses can post; name who posts it (live: {status: {context: …, "
                "from: <the app or account>}}), read the cluster itself (argocd:, flux:, "
                "fleet:), or use on_failure: comment",
            )
        if env.batch is not None and env.propose == "manual":
            yield (
                ("environments", name, "batch"),
                "batch: gathers automatic promotions, and propose: manual makes none; remove "
                "one of them",
            )
        if env.batch_window is not None and env.batch_window > MAX_BATCH:
            yield (
                ("environments", name, "batch"),
                f"batch: {env.batch} is longer than a day; promotions would wait too long",
            )
    cycle = _first_cycle(config.environments)
    if cycle:
        yield (
            ("environments", cycle[0], "from"),
            f"environments form a cycle ({' → '.join([*cycle, cycle[0]])}); at least one "
            "environment must have no from: and receive versions from sources",
        )
    for app_name, app in config.apps.items():
        if not _NAME.match(app_name):
            yield ("apps", app_name), _bad_name("app", app_name)
        for component, spec in app.components.items():
            if not _NAME.match(component):
                yield ("apps", app_name, "components", component), _bad_name("component", component)
            followed = app.components.get(spec.with_) if spec.with_ is not None else None
            if spec.with_ is not None and (
                followed is None or followed.shown or spec.with_ == component
            ):
                promoted = [
                    c for c, other in app.components.items() if not other.shown and c != component
                ]
                yield (
                    ("apps", app_name, "components", component, "with"),
                    f"with: {spec.with_!r} is not another promoted component of {app_name}; "
                    f"components it can follow: {', '.join(promoted) or 'none'}",
                )
        yield from _path_problems(config, app_name)
        for i, wanted in enumerate(app.environments or ()):
            if wanted not in config.environments:
                yield (
                    ("apps", app_name, "environments", i),
                    f"unknown environment {wanted!r}; known: {_known(envs)}",
                )
        for component, link in app.links.items():
            if component not in app.components:
                yield (
                    ("apps", app_name, "links", component),
                    f"link for unknown component {component!r}; components: "
                    f"{', '.join(app.components)}",
                )
            try:
                _only_placeholders(link, {"from", "to", "app", "env"}, "link")
            except ValueError as exc:
                yield ("apps", app_name, "links", component), str(exc)
    grouped: dict[str, str] = {}
    for group, members in config.groups.items():
        if not _NAME.match(group):
            yield ("groups", group), _bad_name("group", group)
        elif group in config.apps and group not in members:
            yield (
                ("groups", group),
                f"group {group!r} has the name of an app outside it, so both would promote on "
                f"branch promobot/ENV/{group}; rename the group",
            )
        for i, app_name in enumerate(members):
            if app_name not in config.apps:
                yield (
                    ("groups", group, i),
                    f"unknown app {app_name!r}; known: {_known(config.apps)}",
                )
            elif app_name in grouped:
                yield (
                    ("groups", group, i),
                    f"app {app_name!r} is already in group {grouped[app_name]!r}; an app "
                    "belongs to at most one group",
                )
            grouped.setdefault(app_name, group)
    yield from _notify_problems(config)
    for command in config.permissions:
        if command not in COMMANDS:
            close = difflib.get_close_matches(command, COMMANDS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            yield (
                ("permissions", command),
                f"unknown command {command!r}; {hint}commands: {', '.join(COMMANDS)}",
            )


def _first_cycle(environments: Mapping[str, Environment]) -> list[str]:
    """The first-declared environment whose `from:` leads back to it, and that cycle; [] if
    none. Each environment is walked through once: from: gives one upstream, so a walk that
    meets its own trail has found a cycle, and one that meets an earlier walk's has not."""
    walk_of: dict[str, int] = {}
    on_cycle: set[str] = set()
    for walk, start in enumerate(environments):
        trail: list[str] = []
        name: str | None = start
        while name is not None and name in environments and name not in walk_of:
            walk_of[name] = walk
            trail.append(name)
            name = environments[name].upstream
        if name is not None and walk_of.get(name) == walk:
            on_cycle.update(trail[trail.index(name) :])
    first = next((name for name in environments if name in on_cycle), None)
    if first is None:
        return []
    cycle = [first]
    while (upstream := environments[cycle[-1]].upstream) != first:
        assert upstream is not None  # on a cycle, every environment has its upstream
        cycle.append(upstream)
    return cycle


KNOWN_MAX = 20  # names listed after "known:"; a list of thousands, once per problem, helps nobody


def _known(names: Collection[str]) -> str:
    if len(names) <= KNOWN_MAX:
        return ", ".join(names)
    return ", ".join(list(names)[:KNOWN_MAX]) + f", … ({len(names):,} in all)"


class _Hints:
    """ "did you mean …?" for the first few unknown names of one file: difflib compares a name
    with every known one, so a hint for each of 3,000 misspelt names would cost 3,000²."""

    LIMIT = 20

    def __init__(self) -> None:
        self.left = self.LIMIT

    def did_you_mean(self, name: str, known: list[str]) -> str:
        if self.left <= 0:
            return ""
        self.left -= 1
        close = difflib.get_close_matches(name, known, n=1)
        return f"did you mean {close[0]!r}? " if close else ""


_NAME = re.compile(NAME_PATTERN)
NOTIFY_EVENTS = ("opened", "waiting", "blocked", "merged", "failed", "rolled-back", "held")
NOTIFY_TARGET = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")  # the <NAME> of PROMOBOT_NOTIFY_<NAME>


def _notify_problems(config: Config) -> Iterator[tuple[tuple[Any, ...], str]]:
    """`notify:` names targets, never addresses: a URL here would let whoever edits the repo
    have promobot send what it knows to a server of their choosing."""
    envs = list(config.environments)
    for glob, targets in config.notify.items():
        if not any(fnmatch.fnmatchcase(env, glob) for env in envs):
            yield (
                ("notify", glob),
                f"notify: {glob!r} matches no environment; environments: {_known(envs)}",
            )
        for target, wanted in targets.items():
            where = ("notify", glob, target)
            if "://" in target or "/" in target or "@" in target or "." in target:
                yield (
                    where,
                    f"notify: {target!r} looks like an address; name a target instead, "
                    "and set its Apprise URL in the service setting PROMOBOT_NOTIFY_<NAME> (the "
                    "repo cannot send notifications to an address of its choosing)",
                )
            elif not NOTIFY_TARGET.fullmatch(target):
                yield (
                    where,
                    f"notify: target name {target!r} must be letters, digits and '_', starting "
                    "with a letter (it names the setting PROMOBOT_NOTIFY_<NAME>)",
                )
            for i, event in enumerate(wanted):
                if "://" in event:
                    yield (
                        (*where, i),
                        "notify: an event list holds events, not addresses; the target's "
                        "Apprise URL is the service setting PROMOBOT_NOTIFY_<NAME>",
                    )
                elif event != "*" and event not in NOTIFY_EVENTS:
                    close = difflib.get_close_matches(event, NOTIFY_EVENTS, n=1)
                    hint = f"did you mean {close[0]!r}? " if close else ""
                    yield (
                        (*where, i),
                        f"notify: unknown event {event!r}; {hint}events: "
                        f"{', '.join(NOTIFY_EVENTS)} or *",
                    )


def _bad_name(kind: str, name: str) -> str:
    if len(name) > NAME_MAX:
        why = f"is longer than {NAME_MAX} characters"
    elif ".." in name or name.endswith((".", ".lock")):
        why = "cannot be part of a git branch name ('..', or a trailing '.' or '.lock')"
    else:
        why = "has characters a git branch name or a label cannot hold"
    return (
        f"{kind} name {name[:NAME_MAX]!r} {why}; names go into branches promobot/ENV/NAME and "
        "labels: use letters, digits, '.', '_' and '-', starting with a letter or digit"
    )


def _path_problems(config: Config, app: str) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Paths that leave the repository once {env} and {app} are real names (`.{env}` with an
    environment called `git` is `.git`)."""
    for component, spec in config.apps[app].components.items():
        key = "copy" if spec.target.copy_ is not None else "file"
        written = spec.target.copy_ if spec.target.copy_ is not None else spec.target.file
        if written is None:
            continue
        for env in config.app_environments(app):
            path = expand(written, env=env, app=app)
            why = path_problem(path)
            if why is not None:
                yield (
                    ("apps", app, "components", component, "target", key),
                    f"path {written!r} is {path!r} for {env}, which {why}; write a relative "
                    "path inside the repository, like 'envs/{env}/values.yaml'",
                )
                break


def _duplicates(node: yaml.Node) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Keys written twice in one mapping; run before construction, which writes the keys a
    merge (`<<: *base`) brings into the mapping that may then override them."""
    seen_nodes: set[int] = set()  # an anchored node is checked once, however often it is used

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
        if id(node) in seen_nodes:
            return
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if key.value in seen and key.value != "<<":
                    yield (*path, key.value), f"duplicate key {key.value!r}; keep only one"
                seen.add(key.value)
                yield from walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                yield from walk(item, (*path, i))

    yield from walk(node, ())


class _Positions:
    """Maps a path of keys and indexes to a 1-based line and column in the source."""

    def __init__(self, root: yaml.Node) -> None:
        self.root = root
        # per mapping node: its keys (the last of duplicates wins, as in loading), and what its
        # merge keys (`<<: *base`) bring, nearest first; built once, so each problem costs its
        # depth rather than a scan of every key on the way (thousands, with an error in each)
        self.keys: dict[int, tuple[dict[str, tuple[yaml.Node, yaml.Node]], list[yaml.Node]]] = {}

    def key(self, path: tuple[Any, ...]) -> tuple[int, int]:
        return self.locate(path, at_key=True)

    def locate(self, path: tuple[Any, ...], at_key: bool = False) -> tuple[int, int]:
        node = self.root
        mark = node.start_mark
        for i, step in enumerate(path):
            found = self._child(node, step)
            if found is None:
                break
            key_node, node = found
            last = i == len(path) - 1
            # a problem with a whole mapping or list is best shown at the key that names it
            on_key = at_key or not isinstance(node, yaml.ScalarNode)
            mark = key_node.start_mark if last and on_key else node.start_mark
        return mark.line + 1, mark.column + 1

    def _child(self, node: yaml.Node, step: Any) -> tuple[yaml.Node, yaml.Node] | None:
        if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            return node.value[step], node.value[step]
        if isinstance(node, yaml.MappingNode):
            keys, merged = self._keys(node)
            if str(step) in keys:
                return keys[str(step)]
            for value in merged:
                for candidate in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                    found = self._child(candidate, step)
                    if found is not None:
                        return found
        return None

    def _keys(
        self, node: yaml.MappingNode
    ) -> tuple[dict[str, tuple[yaml.Node, yaml.Node]], list[yaml.Node]]:
        known = self.keys.get(id(node))
        if known is None:
            keys: dict[str, tuple[yaml.Node, yaml.Node]] = {}
            merged: list[yaml.Node] = []
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    continue
                if key.value == "<<":
                    merged.insert(0, value)
                keys[key.value] = (key, value)
            known = self.keys[id(node)] = (keys, merged)
        return known


def schema() -> dict[str, Any]:
    """The JSON Schema editors use to check `.promobot.yaml` as people type."""
    result = Config.model_json_schema(by_alias=True)
    result["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    result["title"] = "promobot configuration (.promobot.yaml)"
    return result
