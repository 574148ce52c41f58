"""`Config`, the whole `.promobot.yaml`, and what the rest of promobot asks of it: the promotion
order, the environments of each app, and where each component lives in each environment."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from pydantic import Field

from bot import fields
from bot.config.apps import App
from bot.config.environments import Environment
from bot.config.render import Render
from bot.config.templates import Keep, fill, path_problem
from bot.config.values import Model
from bot.errors import FieldError


class Config(Model):
    version: Literal[1]
    environments: dict[str, Environment] = Field(
        ..., min_length=1, description="Environments by name; from: makes the promotion DAG."
    )
    apps: dict[str, App] = Field({}, description="Apps by name.")
    groups: dict[str, tuple[str, ...]] = Field({}, description="Apps promoted together, in one PR.")
    permissions: dict[str, dict[str, tuple[str, ...]]] = Field(
        {}, description="Per command, environment globs to who may run it (default: write access)."
    )
    render: Render | None = Field(
        None,
        description="How apps without their own render: are rendered ({app} and {env} "
        "expand); default: what promobot discovers (Argo CD, Flux, Fleet, kustomization.yaml, "
        "Chart.yaml).",
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
        names = Keep(env=env, app=app)
        path = fill(target.copy_ if target.copy_ is not None else target.file or "", names)
        why = path_problem(path)
        if why is not None:  # load() refuses these; a model built some other way must too
            raise FieldError(f"{path!r}: the path {why}")
        if target.copy_ is not None:
            return ResolvedTarget(path, None)
        template = None
        if target.template is not None:
            template = fields.parse_template(
                fill(target.template, Keep(names, version="{version}"))
            )
        selector = None
        if target.field is not None:
            selector = fields.parse_selector(fill(target.field, names))
        marker = fill(target.marker, names) if target.marker else None
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


def schema() -> dict[str, Any]:
    """The JSON Schema editors use to check `.promobot.yaml` as people type."""
    result = Config.model_json_schema(by_alias=True)
    result["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    result["title"] = "promobot configuration (.promobot.yaml)"
    return result
