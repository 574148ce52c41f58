"""The checks across fields of a loaded `.promobot.yaml` that no per-field validator can see:
names, upstreams, cycles, paths once expanded, groups, notifications and permissions."""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from bot.config.apps import App
from bot.config.environments import Environment, Gates
from bot.config.model import Config
from bot.config.render import Render
from bot.config.templates import expand, only_placeholders, path_problem
from bot.config.values import MAX_BATCH

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


def semantic_problems(config: Config) -> Iterator[tuple[tuple[Any, ...], str]]:
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
            elif env.auto_merges and not live.authenticated:
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
                only_placeholders(link, {"from", "to", "app", "env"}, "link")
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
    yield from _render_problems(config.apps, config.render)
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


def _render_problems(
    apps: Mapping[str, App], default: Render | None
) -> Iterator[tuple[tuple[Any, ...], str]]:
    """A Helm `chart:` naming a component must name one of the app's components with a chart
    source: checked for each app's own `render:` and, for the apps without one, the default."""
    for name, app in apps.items():
        render, where = (app.render, ("apps", name, "render")) if app.render else (default, ())
        if render is None or render.helm is None or render.helm.chart_path is not None:
            continue
        chart = render.helm.chart
        spec = app.components.get(chart)
        if spec is not None and spec.source is not None and spec.source.chart:
            continue
        charts = [c for c, s in app.components.items() if s.source and s.source.chart]
        why = "is not a component of" if spec is None else "has no chart: source in"
        yield (
            (*(where or ("render",)), "helm", "chart"),
            f"render: chart {chart!r} {why} app {name}; components with a chart source: "
            f"{', '.join(charts) or 'none'} (or write a chart folder, like ./charts/{name})",
        )
