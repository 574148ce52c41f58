"""`render:` of `.promobot.yaml`: how an app is rendered in each environment (Kustomize, a Helm
chart, a folder of plain manifests, or not at all), set on an app or as a default for all apps,
with `{app}` and `{env}` placeholders."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from bot.config.templates import SAMPLE, RepoPath, expand, only_placeholders, path_problem
from bot.config.values import Model


def _shorthand(data: Any) -> Any:
    """`kustomize: PATH` and `directory: PATH` are `{path: PATH}`."""
    return {"path": data} if isinstance(data, str) else data


def _or_string(schema: dict[str, Any]) -> None:
    """The JSON schema of a model written as a mapping or, shorthand, as one string."""
    mapping = {k: schema.pop(k) for k in list(schema) if k not in ("title", "description")}
    schema["anyOf"] = [{"type": "string"}, mapping]


def _or_none(schema: dict[str, Any]) -> None:
    _or_string(schema)
    schema["anyOf"][0] = {"const": "none"}


def _named(value: str, what: str) -> str:
    only_placeholders(value, {"app", "env"}, what)
    return value


class KustomizeRender(Model):
    model_config = ConfigDict(**Model.model_config, json_schema_extra=_or_string)

    path: RepoPath = Field(
        ..., description="The folder holding kustomization.yaml, e.g. envs/{env}."
    )
    helm: bool = Field(
        False,
        description="Inflate helmCharts: (kustomize --enable-helm); only honoured where the "
        "service allows it.",
    )

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return _shorthand(data)


class HelmRender(Model):
    chart: str = Field(
        ...,
        description="A component of the app whose source: is a chart: (its version in the "
        "environment picks the chart's), or a chart folder of the repo (a path: ./charts/web).",
    )
    values: tuple[RepoPath, ...] = Field(
        (), description="Values files of the repo, merged in order; {app} and {env} expand."
    )
    release: str = Field("{app}", description="The release name; {app} and {env} expand.")
    namespace: str = Field(
        "default", description="The release's namespace; {app} and {env} expand."
    )
    kube_version: str | None = Field(
        None, description="The cluster's Kubernetes version for .Capabilities, e.g. 1.31."
    )
    api_versions: tuple[str, ...] = Field(
        (),
        description="API versions the cluster serves besides the built-in ones, for "
        ".Capabilities.APIVersions, e.g. monitoring.coreos.com/v1.",
    )
    set: dict[str, str] = Field(
        {}, description="--set expressions, key to value, applied last; {app} and {env} expand."
    )

    @field_validator("chart")
    @classmethod
    def _check_chart(cls, value: str) -> str:
        if "/" in value:
            _check_chart_path(value)
        elif not value:
            raise ValueError("chart: names a component of the app or a folder like ./charts/web")
        return value

    @field_validator("release", "namespace")
    @classmethod
    def _check_names(cls, value: str) -> str:
        return _named(value, "name")

    @field_validator("set")
    @classmethod
    def _check_set(cls, value: dict[str, str]) -> dict[str, str]:
        for key, each in value.items():
            _named(each, f"set: {key}")
        return value

    @property
    def chart_path(self) -> str | None:
        """The chart's folder in the repo (without a leading ./), or None for a component."""
        return self.chart.removeprefix("./").rstrip("/") if "/" in self.chart else None


def _check_chart_path(value: str) -> None:
    only_placeholders(value, {"app", "env"}, "chart")
    why = path_problem(expand(value.removeprefix("./").rstrip("/"), **SAMPLE))
    if why is not None:
        raise ValueError(
            f"chart folder {value!r} {why}; write a folder of the repository, like ./charts/web"
        )


class DirectoryRender(Model):
    model_config = ConfigDict(**Model.model_config, json_schema_extra=_or_string)

    path: RepoPath = Field(..., description="The folder of plain manifests, e.g. envs/{env}/web.")
    recurse: bool = Field(False, description="Also read the folders below it.")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return _shorthand(data)


class Render(Model):
    model_config = ConfigDict(**Model.model_config, json_schema_extra=_or_none)

    kustomize: KustomizeRender | None = Field(
        None, description="kustomize build of a folder: a path, or {path:, helm: true}."
    )
    helm: HelmRender | None = Field(None, description="helm template of a chart.")
    directory: DirectoryRender | None = Field(
        None, description="A folder of plain manifests: a path, or {path:, recurse: true}."
    )
    none: bool = Field(
        False, description="render: none: the app is not rendered (e.g. only Secrets)."
    )

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        if data == "none":
            return {"none": True}
        if isinstance(data, str):
            raise ValueError(
                f"render: is none or a mapping with one of kustomize:, helm: or directory:, "
                f"got {data!r}"
            )
        return data

    @model_validator(mode="after")
    def _check(self) -> Render:
        chosen = [k for k in ("kustomize", "helm", "directory") if getattr(self, k) is not None]
        if len(chosen) + self.none != 1:
            raise ValueError(
                "render: takes exactly one of kustomize:, helm: or directory: (or is none)"
            )
        return self
