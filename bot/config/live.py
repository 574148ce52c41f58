"""`live:` of an environment: where promobot learns what its cluster runs (Argo CD, Flux, Fleet
or a commit status), and the rollout object beside it."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from bot.config.templates import expand, only_placeholders, placeholders
from bot.config.values import Model

# a GitHub login or GitLab username; a GitHub App posts as its bot user, slug[bot]
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}(?:\[bot\])?")


def _app_env_template(value: str, what: str) -> str:
    only_placeholders(value, {"env", "app"}, what)
    if not value.strip():
        raise ValueError(f"{what} is empty")
    return value


def _template(what: str) -> AfterValidator:
    """The check of a name in which {app} and {env} expand; `what` names it in the error."""
    return AfterValidator(lambda value: _app_env_template(value, what))


class ArgoCDLive(Model):
    """An Argo CD Application per app (the Argo CD instance is a service setting)."""

    application: Annotated[str, _template("application")] = Field(
        "{app}-{env}", description="The Application's name; {app} and {env} expand."
    )


class FluxLive(Model):
    """The Flux object whose events (notification-controller, generic-hmac) speak for the app."""

    kind: Literal["Kustomization", "HelmRelease"] = Field(
        "Kustomization", description="Kustomization or HelmRelease."
    )
    name: Annotated[str, _template("name")] = Field(
        "{app}", description="The object's name; {app} and {env} expand."
    )
    namespace: Annotated[str, _template("name")] = Field(
        "flux-system", description="The object's namespace."
    )


class FleetLive(Model):
    """The Fleet bundle deployed for the app (read from the Kubernetes API)."""

    bundle: Annotated[str, _template("bundle")] = Field(
        "{app}-{env}", description="The Bundle's name; {app} and {env} expand."
    )
    namespace: Annotated[str, _template("bundle")] = Field(
        "fleet-default", description="The workspace namespace of the GitRepo."
    )


class StatusLive(Model):
    """A commit status on the env repo's default-branch commits that reports the deployment."""

    context: Annotated[str, _template("context")] = Field(
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

    @field_validator("author")
    @classmethod
    def _check_author(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT.fullmatch(value.removeprefix("@")):
            raise ValueError(
                f"from: {value!r} is not an account name; write the login that posts the "
                "status (alice, flux-bot) or a GitHub App as slug[bot]"
            )
        return None if value is None else value.removeprefix("@")


class RolloutLive(Model):
    """The Argo Rollouts Rollout or Flagger Canary that rolls each app out, read from the
    Kubernetes API of a context of the PROMOBOT_KUBECONFIG service setting."""

    kind: Literal["argo-rollouts", "flagger"] = Field(
        description="argo-rollouts (a Rollout) or flagger (a Canary)."
    )
    name: Annotated[str, _template("rollout name or namespace")] = Field(
        "{app}", description="The object's name; {app} and {env} expand."
    )
    namespace: Annotated[str, _template("rollout name or namespace")] = Field(
        "{app}",
        description="Its namespace; {app} and {env} expand (then one cluster-wide list a poll).",
    )
    context: str = Field(
        "", description="A context of PROMOBOT_KUBECONFIG; empty: its current context."
    )

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
        return bool(placeholders(self.namespace))

    def expand(self, text: str, app: str, env: str) -> str:
        return expand(text, app=app, env=env)


class LiveSource(Model):
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
