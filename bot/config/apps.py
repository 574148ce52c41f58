"""An app of `.promobot.yaml`: its components, each a source of versions and the target in the
repository where the version is written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bot import fields, versions
from bot.config.render import Render
from bot.config.templates import SAMPLE, RepoPath, expand, only_placeholders
from bot.config.values import Model, TagPattern
from bot.errors import FieldError, VersionError
from bot.references import NotARepository, parse_reference


class Source(Model):
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


# A target's field:, template: and marker: → the placeholders each may hold, and what must take
# it once {env} and {app} are sample names ({version} stays as written, for parse_template).
_TEMPLATED: dict[str, tuple[set[str], Callable[[str], object]]] = {
    "field": ({"env", "app"}, fields.parse_selector),
    "template": ({"env", "app", "version"}, fields.parse_template),
    "marker": ({"env", "app"}, lambda marker: fields.Target(file="", marker=marker)),
}


class Target(Model):
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

    @field_validator("field", "template", "marker")
    @classmethod
    def _check_templated(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            what = info.field_name
            assert what is not None  # a field validator always has its field
            allowed, parse = _TEMPLATED[what]
            only_placeholders(value, allowed, what)
            try:
                parse(expand(value, version="{version}", **SAMPLE))
            except FieldError as exc:
                # fields.Target(file="", …) starts its errors "{file}: "; the parsers never do
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


class Component(Model):
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


class App(Model):
    components: dict[str, Component] = Field(
        ..., min_length=1, description="The app's independently versioned inputs, by name."
    )
    environments: tuple[str, ...] | None = Field(
        None, description="The environments the app runs in; default: all."
    )
    links: dict[str, str] = Field(
        {}, description="Per component, a change link with {from} and {to}."
    )
    render: Render | None = Field(
        None,
        description="How the app is rendered in each environment (kustomize:, helm:, "
        "directory: or none); default: the top-level render:, else what promobot discovers.",
    )
