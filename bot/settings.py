"""Service settings, from `PROMOBOT_*` environment variables and optionally a dotenv file.

Secrets are `SecretStr`: they print as `**********` in logs, reprs and errors.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bot.config import parse_duration
from bot.errors import PromobotError
from bot.signing import KEY_MIN


class SettingsError(PromobotError):
    pass


NOTIFY_PREFIX = "promobot_notify_"
_NOTIFY_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


class _NotifyTargets(PydanticBaseSettingsSource):
    """`PROMOBOT_NOTIFY_<NAME>=<Apprise URL>`, as many as there are targets: the addresses
    `notify:` in `.promobot.yaml` may name, and the only place they come from (the dotenv file,
    then the environment, which wins)."""

    def __init__(self, settings_cls: type[BaseSettings], dotenv: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self.dotenv = dotenv

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # the whole map comes from __call__

    def __call__(self) -> dict[str, Any]:
        found: dict[str, str] = {}
        from_file = getattr(self.dotenv, "env_vars", {}) or {}
        for source in (from_file, os.environ):
            for key, value in source.items():
                name = key.lower().removeprefix(NOTIFY_PREFIX)
                if key.lower().startswith(NOTIFY_PREFIX) and value and _NOTIFY_NAME.fullmatch(name):
                    found[name] = value
        found.pop("target_urls", None)  # the field's own name, should someone set it
        return {"notify_target_urls": found} if found else {}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROMOBOT_", extra="ignore", frozen=True)

    forge: Literal["github", "gitlab", "local"] = "local"
    repo: str = Field(".", description="owner/name, group/project, or a path for local")
    # several repos: comma-separated, as `repo`; with neither, a GitHub App serves every repo
    # of its installations that has a .promobot.yaml
    repos: str = ""
    gitlab_groups: str = ""  # comma-separated: their projects (subgroups too) with .promobot.yaml
    github_url: str = "https://api.github.com"
    github_token: SecretStr | None = None
    github_app_id: int | None = None
    github_private_key_file: Path | None = None
    github_installation_id: int | None = None
    gitlab_url: str = "https://gitlab.com"
    gitlab_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    # the `token` of Flux's generic-hmac Provider secret: /webhooks/flux checks X-Signature
    flux_webhook_secret: SecretStr | None = None
    # signs what promobot writes on PRs (metadata, approvals, acks); every process shares it
    signing_key: SecretStr | None = None
    registry_token: SecretStr | None = None
    read_token: SecretStr | None = None  # when set, the overview and /api/v1 need it, or:
    trusted_user_header: str | None = None  # an authenticating proxy's header (X-Forwarded-User)
    # the queue's SQLite file and the audit log; by default outside any checkout (state_dir)
    data_dir: Path = Field(default_factory=lambda data: state_dir(data))
    queue_url: str | None = None  # default: sqlite in data_dir; redis://… for several processes
    listen: str = "127.0.0.1:8080"
    reconcile_interval: str = "5m"
    # the longest a source found unchanged goes unpolled (doubling from the interval); at most
    # the interval: every source at every reconcile
    poll_slowest: str = "1h"
    workers: int = Field(
        2, ge=0, description="in-process worker threads; 0 = only `promobot worker`"
    )
    lock_ttl: str = "2m"  # a crashed worker's lock on a repo expires after this
    max_body: int = Field(1_048_576, ge=1024, description="largest webhook body accepted, bytes")
    github_writes_per_minute: int = Field(
        60,
        ge=0,
        description="content-creating GitHub requests a minute per installation or token, "
        "every process counted (0: unpaced)",
    )
    coalesce: str = "1s"  # sync requests this close together are served by one sync
    body_timeout: str = "10s"  # a webhook body that takes longer to arrive gets 408 (slowloris)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Argo CD, for environments with `live: {argocd: …}`: a service setting, never in the repo,
    # so an author of .promobot.yaml cannot send the token to a server of their choosing
    argocd_url: str | None = None  # https://argocd.example.com
    argocd_token: SecretStr | None = None  # an account or project token that may get apps
    argocd_webhook_secret: SecretStr | None = None  # X-Promobot-Token from Argo CD Notifications
    argocd_selector: str = ""  # a label selector that narrows the one list call a poll
    argocd_projects: str = ""  # comma-separated Argo CD projects, the same
    # Fleet, for environments with `live: {fleet: …}`: the management cluster's kubeconfig
    # (its server and credentials), a service setting for the same reason as Argo CD's
    fleet_kubeconfig: str | None = None  # a path; the credentials may get, list and watch bundles
    fleet_context: str = ""  # a context of that kubeconfig; its current-context by default
    # the clusters whose Argo Rollouts Rollouts and Flagger Canaries `live: {rollout: …}` reads:
    # a path to the operator's kubeconfig (the repo's `context:` only picks among its contexts)
    kubeconfig: str | None = None  # the credentials may get, list and watch rollouts or canaries
    # notification targets by name (lower case) → Apprise URL, from PROMOBOT_NOTIFY_<NAME>:
    # service settings, so the repo's `notify:` can name a target but never an address
    notify_target_urls: dict[str, SecretStr] = Field(default_factory=dict)
    notify_timeout: str = "5s"  # a chat service slower than this to answer is given up on
    # Rendering (what each environment is made of): charts nobody reviewed run in worker
    # processes that are killed past the time limit and cannot grow past the memory limit
    render: bool = Field(True, description="render every app × environment in the background")
    # the overview's address as people reach it (https://promobot.example.com): a promotion
    # PR whose diff does not fit its body links the full diff there
    overview_url: str | None = None
    render_timeout: float = Field(10.0, gt=0, description="seconds one rendering may take")
    render_memory_mb: int = Field(
        2048, ge=1024, description="address space of a rendering worker, MiB (Go needs ~1 GiB)"
    )
    render_workers: int = Field(2, ge=1, description="rendering worker processes")
    render_kustomize_helm: bool = False  # let kustomize inflate helmCharts: (it runs helm)
    render_kube_version: str | None = None  # .Capabilities.KubeVersion, e.g. v1.31.0
    helm_binary: str | None = None  # a `helm` to run instead of Helm's SDK, e.g. /usr/bin/helm
    kustomize_binary: str | None = None  # a `kustomize` instead of the one built into kubectl

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        notify = _NotifyTargets(settings_cls, dotenv_settings)
        return init_settings, env_settings, dotenv_settings, notify, file_secret_settings

    @field_validator(
        "reconcile_interval",
        "lock_ttl",
        "body_timeout",
        "coalesce",
        "notify_timeout",
        "poll_slowest",
    )
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _credentials(self) -> Settings:
        if self.forge == "github" and not (
            self.github_token or (self.github_app_id and self.github_private_key_file)
        ):
            raise ValueError(
                "PROMOBOT_FORGE=github needs PROMOBOT_GITHUB_TOKEN, or PROMOBOT_GITHUB_APP_ID "
                "with PROMOBOT_GITHUB_PRIVATE_KEY_FILE"
            )
        if self.forge == "gitlab" and not self.gitlab_token:
            raise ValueError("PROMOBOT_FORGE=gitlab needs PROMOBOT_GITLAB_TOKEN")
        if self.forge != "local" and not self.signing_key:
            raise ValueError(
                f"PROMOBOT_FORGE={self.forge} needs PROMOBOT_SIGNING_KEY (at least "
                f"{KEY_MIN} characters, the same for every promobot process; generate one with "
                "`openssl rand -hex 32`)"
            )
        if self.signing_key and len(self.signing_key.get_secret_value()) < KEY_MIN:
            raise ValueError(f"PROMOBOT_SIGNING_KEY must have at least {KEY_MIN} characters")
        if "repo" in self.model_fields_set and self.repos.strip():
            raise ValueError("set PROMOBOT_REPO (one repo) or PROMOBOT_REPOS (several), not both")
        if self.gitlab_groups.strip() and self.forge != "gitlab":
            raise ValueError("PROMOBOT_GITLAB_GROUPS needs PROMOBOT_FORGE=gitlab")
        if self.forge != "local":
            for name in self.repo_names:
                if "/" not in name:
                    setting = "PROMOBOT_REPOS" if self.repos.strip() else "PROMOBOT_REPO"
                    raise ValueError(f"{setting}: {name!r}: name the repo as owner/name")
            if not self.repo_names and not self.discovers:
                raise ValueError(
                    f"PROMOBOT_FORGE={self.forge} needs PROMOBOT_REPO or PROMOBOT_REPOS"
                    + (
                        " (or PROMOBOT_GITLAB_GROUPS)"
                        if self.forge == "gitlab"
                        else " (or a GitHub App's PROMOBOT_GITHUB_APP_ID: its installations)"
                    )
                )
        if self.argocd_url and not self.argocd_url.startswith(("https://", "http://")):
            raise ValueError("PROMOBOT_ARGOCD_URL must be an http(s):// URL")
        if self.argocd_url and not self.argocd_token:
            raise ValueError("PROMOBOT_ARGOCD_URL needs PROMOBOT_ARGOCD_TOKEN")
        if self.fleet_context and not self.fleet_kubeconfig:
            raise ValueError("PROMOBOT_FLEET_CONTEXT needs PROMOBOT_FLEET_KUBECONFIG")
        if self.queue_url and not self.queue_url.startswith(("redis://", "rediss://", "sqlite:")):
            raise ValueError("PROMOBOT_QUEUE_URL must be redis://…, rediss://… or sqlite:PATH")
        return self

    @property
    def repo_names(self) -> list[str]:
        """The repos named in the settings (not those found in groups or installations)."""
        if self.repos.strip():
            return list(dict.fromkeys(r.strip() for r in self.repos.split(",") if r.strip()))
        if "repo" in self.model_fields_set or self.forge == "local":
            return [self.repo]
        return []

    @property
    def group_names(self) -> list[str]:
        return list(
            dict.fromkeys(g.strip().strip("/") for g in self.gitlab_groups.split(",") if g.strip())
        )

    @property
    def discovers(self) -> bool:
        """Whether repos are found on the forge: GitLab groups, or a GitHub App's
        installations when no repo is named."""
        if self.group_names:
            return True
        return (
            self.forge == "github"
            and not self.repo_names
            and self.github_app_id is not None
            and self.github_private_key_file is not None
        )

    @property
    def many(self) -> bool:
        """Whether this deployment serves several repos (or finds them), not exactly one."""
        return self.discovers or len(self.repo_names) != 1

    @property
    def argocd_project_names(self) -> list[str]:
        return list(dict.fromkeys(p.strip() for p in self.argocd_projects.split(",") if p.strip()))

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0] or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def interval(self) -> timedelta:
        return parse_duration(self.reconcile_interval)

    @property
    def coalesce_seconds(self) -> float:
        return parse_duration(self.coalesce).total_seconds()

    @property
    def body_seconds(self) -> float:
        return parse_duration(self.body_timeout).total_seconds()

    @property
    def notify_seconds(self) -> float:
        return parse_duration(self.notify_timeout).total_seconds()

    @property
    def lock_seconds(self) -> int:
        return int(parse_duration(self.lock_ttl).total_seconds())


def state_dir(settings: Mapping[str, Any]) -> Path:
    """The default data dir: `$XDG_STATE_HOME/promobot/<id>` (`~/.local/state/…` without it),
    one folder per deployment, named by what it serves — never inside the served checkout,
    where `git status` would show it and `git clean -dfx` would take the queue with it.

    The id is a readable name and a digest of what is served (the forge, its address, the
    repos: a local repo by its real path), so two deployments never share a queue by accident.
    """
    forge = str(settings.get("forge", "local"))
    repos = str(settings.get("repos") or "") or str(settings.get("repo", "."))
    names = sorted({r.strip() for r in repos.split(",") if r.strip()})
    if forge == "local":
        names = [str(Path(n).expanduser().resolve()) for n in names]
    address = str(settings.get(f"{forge}_url", ""))
    groups = str(settings.get("gitlab_groups") or "")
    served = "\n".join([forge, address, groups, *names])
    readable = Path(names[0]).name if len(names) == 1 and forge == "local" else "+".join(names)
    name = re.sub(r"[^A-Za-z0-9._-]+", "+", readable)[:60].strip("+.") or forge
    digest = hashlib.sha256(served.encode()).hexdigest()[:8]
    home = os.environ.get("XDG_STATE_HOME", "")
    base = Path(home) if Path(home).is_absolute() else Path.home() / ".local" / "state"
    return base / "promobot" / f"{name}-{digest}"


def load(env_file: Path | None = None) -> Settings:
    """Settings from the environment (and `env_file`), or one clear error per bad setting."""
    try:
        return Settings(_env_file=env_file)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "_".join(str(p) for p in error["loc"]).upper()
            what = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"PROMOBOT_{name}: {what}" if name else what)
        raise SettingsError("; ".join(lines)) from None
