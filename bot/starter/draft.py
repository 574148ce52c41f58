"""From a repository's files to a draft configuration: its environments and their order, its
apps and the components promobot can promote, and the notes a person must read.

Environments are folders (`envs/<env>/`, `overlays/<env>/`, `clusters/<env>/`, `apps/<env>/`
when the names say a stage), a fleet.yaml's targetCustomizations, an ApplicationSet's list
elements, or Argo CD Applications named `<app>-<env>`. A spot becomes a component when it is
in every environment's copy of one file (`envs/{env}/version.yml`) or in one file that names
every environment (`targetCustomizations[name={env}]…`), reads back as promobot reads it, holds
a version (not a range), and its source is known. Everything else becomes a note: a base
shared by several environments, a range, an unknown source. Pure: files in, a draft out.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from bot import fields, versions
from bot.errors import FieldError
from bot.starter import spots as found
from bot.starter.spots import Source, Spot, Tree
from bot.starter.stages import Family, Placed, order, rank

# folders whose sub-folders are environments, whatever their names
_CONTAINERS = {"envs", "environments", "env", "overlays", "clusters", "stages"}
# folders whose sub-folders are environments when their names say a stage (apps/staging)
_SHARED = {"base", "bases", "common", "shared", "components", "variants", "mixins", "templates"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_NOTES = 40


@dataclass(frozen=True)
class EnvDir:
    path: str  # envs/prod-eu
    env: str
    container: str  # envs


@dataclass
class Component:
    name: str
    source: Source | None
    file: str  # with {env}
    field: str
    template: str | None
    values: dict[str, str]  # env → the version there
    notes: list[str] = dataclasses.field(default_factory=list)
    blocked: str | None = None  # why it is written commented out


@dataclass
class App:
    name: str
    environments: tuple[str, ...]
    components: list[Component]


@dataclass
class Draft:
    environments: list[Placed]
    wheres: list[str]  # where the environments were found
    apps: list[App]
    notes: list[str]  # what was found but is no per-environment target


def _folders(paths: Iterable[str]) -> dict[str, list[str]]:
    """Each folder → its sub-folders, sorted."""
    children: dict[str, set[str]] = defaultdict(set)
    for path in paths:
        parts = PurePosixPath(path).parts[:-1]
        for i in range(len(parts)):
            children["/".join(parts[:i])].add(parts[i])
    return {folder: sorted(names) for folder, names in children.items()}


def env_dirs(tree: Tree) -> tuple[list[EnvDir], list[Family]]:
    fleets = [str(PurePosixPath(p).parent) for p in tree.docs if found.is_fleet(p)]
    dirs: list[EnvDir] = []
    families: list[Family] = []
    for folder, children in _folders(tree.files).items():
        name = PurePosixPath(folder).name.lower()
        if any(folder == f or folder.startswith(f"{f}/") or f == "." for f in fleets):
            continue  # a fleet.yaml names its environments (its overlays are its own)
        if name in _CONTAINERS:
            envs = [c for c in children if c.lower() not in _SHARED and _NAME.fullmatch(c)]
        else:
            envs = [c for c in children if rank(c) is not None and _NAME.fullmatch(c)]
            if len(envs) < 2:
                continue
        if not envs:
            continue
        dirs += [EnvDir(f"{folder}/{e}" if folder else e, e, folder) for e in envs]
        families.append(Family(tuple(envs), f"folders under {folder or '.'}/"))
    return dirs, families


def _argo_family(tree: Tree) -> list[Family]:
    """Applications named <app>-<env> beside each other, outside folders per environment."""
    families: list[Family] = []
    by_folder: dict[str, list[str]] = defaultdict(list)
    for path, doc in tree.objects("Application"):
        name = found.text(found.dig(doc, "metadata", "name")) or ""
        env = _env_in_name(name)
        if env is not None:
            by_folder[str(PurePosixPath(path).parent)].append(env)
    for folder, envs in by_folder.items():
        unique = tuple(dict.fromkeys(envs))
        if len(unique) >= 2:
            families.append(Family(unique, f"Argo CD Applications in {folder}/"))
    return families


def _env_in_name(name: str) -> str | None:
    """`api-prod-eu` → `prod-eu`: the part from the stage word on, when a stage word is there."""
    parts = name.split("-")
    for i in range(1, len(parts)):
        tail = "-".join(parts[i:])
        if rank(parts[i]) is not None and _NAME.fullmatch(tail):
            return tail
    return None


def _in_env(file: str, dirs: Sequence[EnvDir]) -> EnvDir | None:
    best = None
    for d in dirs:
        if file.startswith(d.path + "/") and (best is None or len(d.path) > len(best.path)):
            best = d
    return best


def _env_in_file(file: str, envs: Sequence[str]) -> tuple[str, str] | None:
    """`apps/api-prod.yaml` and the environments known → (prod, apps/api-{env}.yaml)."""
    path = PurePosixPath(file)
    stem, suffix = path.name[: -len(path.suffix)] if path.suffix else path.name, path.suffix
    for env in sorted(envs, key=len, reverse=True):
        for before, after in ((f"-{env}", ""), (f"_{env}", ""), ("", f"-{env}"), ("", f"_{env}")):
            if before and stem.endswith(before) and len(stem) > len(before):
                templ = stem[: -len(before)] + before.replace(env, "{env}")
            elif after and stem.startswith(f"{env}{after[0]}") and len(stem) > len(env) + 1:
                templ = "{env}" + stem[len(env) :]
            elif stem == env:
                templ = "{env}"
            else:
                continue
            parent = "" if str(path.parent) == "." else f"{path.parent}/"
            return env, f"{parent}{templ}{suffix}"
    return None


@dataclass(frozen=True)
class _Placed:
    spot: Spot
    env: str
    file: str  # with {env}
    app: str


def _app_name(spot: Spot, env_dir: EnvDir | None, env: str) -> str | None:
    """The app a spot's place names: a folder inside the environment's (envs/dev/api/), the
    object (an Application api-dev, a HelmRelease, a fleet.yaml's folder), or the folder above
    the environments' (apps/billing/dev/); None when nothing does."""
    if env_dir is not None:
        inside = PurePosixPath(spot.file[len(env_dir.path) + 1 :]).parts
        if len(inside) > 1:
            return inside[0]
    if spot.app:
        name = spot.app
        for affix in (f"-{env}", f"_{env}"):
            name = name.removesuffix(affix)
        for affix in (f"{env}-", f"{env}_"):
            name = name.removeprefix(affix)
        return name
    if env_dir is not None and env_dir.container:
        for part in reversed(PurePosixPath(env_dir.container).parts):
            if part.lower() not in _CONTAINERS | _SHARED | {"apps", "app"}:
                return part
    return None


def _safe(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:100]
    return cleaned if _NAME.fullmatch(cleaned) else "app"


def _reads(tree: Tree, spot: Spot, env: str) -> bool:
    """The spot reads back as promobot will read it, with {env} put in."""
    try:
        target = fields.Target(
            spot.file,
            fields.parse_selector(spot.field.replace("{env}", env)),
            fields.parse_template(spot.template) if spot.template else None,
        )
        return fields.read(tree.files[spot.file], target) == spot.version
    except FieldError:
        return False


def _describe(spot: Spot) -> str:
    return f"{spot.file}: {spot.field} is {spot.value!r}"


def _source_text(source: Source) -> str:
    if source.image:
        return source.image
    if source.chart:
        return f"{source.chart} from {source.repo}"
    return source.git or ""


def build(files: Mapping[str, str]) -> Draft:
    tree = Tree(files)
    dirs, families = env_dirs(tree)
    spots: list[Spot] = []
    for path in tree.docs:
        if found.is_fleet(path):
            for doc in tree.docs[path]:
                envs, fleet_spots = found.fleet(tree, path, doc)
                if envs:
                    families.append(Family(tuple(envs), f"targetCustomizations in {path}"))
                spots += fleet_spots
        for doc in tree.docs[path]:
            if doc.get("kind") == "ApplicationSet":
                envs, set_spots = found.applicationset(path, doc)
                if envs:
                    families.append(Family(tuple(dict.fromkeys(envs)), f"list elements in {path}"))
                spots += set_spots
        try:
            spots += found.in_file(tree, path)
        except RecursionError:
            tree.unreadable[path] = "nested too deeply"
    families += _argo_family(tree)
    placed_envs = order(families)
    known = [p.name for p in placed_envs]
    notes: list[str] = []
    placed: list[_Placed] = []
    first_named: dict[str, str] = {}
    for spot in spots:
        env_dir = _in_env(spot.file, dirs)
        if spot.env is not None:
            env, file = spot.env, spot.file
        elif env_dir is not None:
            env = env_dir.env
            file = spot.file.replace(env_dir.path + "/", _template_dir(env_dir) + "/", 1)
        elif (hit := _env_in_file(spot.file, known)) is not None:
            env, file = hit
        else:
            notes.append(_shared(spot))
            continue
        if env not in known or not _reads(tree, spot, env):
            continue
        app = _app_name(spot, env_dir, env)
        if app is None:  # the file names no app: the first thing versioned in it names one
            app = first_named.setdefault(file, spot.name)
        placed.append(_Placed(spot, env, file, _safe(app)))
    apps = _group(placed, known)
    for name, reason in sorted(tree.unreadable.items()):
        notes.append(f"{name}: {reason}; not inspected")
    wheres = list(dict.fromkeys(f.where for f in families))
    return Draft(placed_envs, wheres, apps, notes)


def _shared(spot: Spot) -> str:
    if found.is_fleet(spot.file):
        where = "the top level of a fleet.yaml, shared by all its targetCustomizations"
    elif _is_base(spot.file):
        where = "a base, shared by the environments built on it"
    else:
        where = "outside every environment's folder, so shared by the environments that use it"
    what = ", a range (a policy, not a version)" if found.is_range(spot.value) else ""
    return (
        f"{_describe(spot)}{what}: {where}; not a per-environment target (pin a version in "
        "each environment's own file to promote it)"
    )


def _template_dir(env_dir: EnvDir) -> str:
    return f"{env_dir.container}/{{env}}" if env_dir.container else "{env}"


def _is_base(file: str) -> bool:
    return any(part.lower() in _SHARED for part in PurePosixPath(file).parts[:-1])


def _group(placed: Sequence[_Placed], known: Sequence[str]) -> list[App]:
    """Spots of the same app, file and selector in several environments make one component;
    components covering the same environments make one app."""
    groups: dict[tuple[str, str, str, str | None], list[_Placed]] = defaultdict(list)
    for p in placed:
        groups[(p.app, p.file, p.spot.field, p.spot.template)].append(p)
    by_app: dict[tuple[str, tuple[str, ...]], list[Component]] = defaultdict(list)
    for (app, file, selector, template), members in groups.items():
        values = {m.env: m.spot.version for m in members}
        envs = tuple(e for e in known if e in values)
        first = members[0].spot
        name = first.name if first.kind == "git" else first.kind
        component = Component(
            name, first.source, file, selector, template, {e: values[e] for e in envs}
        )
        _judge(component)
        by_app[(app, envs)].append(component)
    apps: list[App] = []
    names: set[str] = set()
    for (app, envs), components in sorted(
        by_app.items(), key=lambda kv: (kv[0][0], _first_index(kv[0][1], known))
    ):
        name = app if app not in names else f"{app}-{len(names)}"
        names.add(name)
        _name_components(components)
        apps.append(App(name, envs, components))
    return apps


def _first_index(envs: Sequence[str], known: Sequence[str]) -> int:
    return min((known.index(e) for e in envs), default=0)


def _name_components(components: list[Component]) -> None:
    """`image` and `chart` while an app has one of each; else each by its image's or chart's
    name (two images: `api`, `sidecar`)."""
    counts: dict[str, int] = defaultdict(int)
    for c in components:
        counts[c.name] += 1
    seen: set[str] = set()
    for c in components:
        if counts[c.name] > 1:
            c.name = _safe(_short(c))
        number = 2
        while c.name in seen:
            c.name = f"{c.name.rsplit('-', 1)[0] if number > 2 else c.name}-{number}"
            number += 1
        seen.add(c.name)


def _short(component: Component) -> str:
    source = component.source
    if source is None:
        return component.field.rsplit(".", 2)[0].rsplit(".", 1)[-1]
    if source.image:
        return source.image.rsplit("/", 1)[-1]
    if source.chart:
        return source.chart
    return (source.git or "").rsplit("/", 1)[-1]


def _judge(component: Component) -> None:
    """Whether promobot can promote it as written: a version everywhere, a known source."""
    values = component.values
    ranges = {e: v for e, v in values.items() if found.is_range(v)}
    floating = {e: v for e, v in values.items() if found.floats(v)}
    shown = ", ".join(f"{e}: {v!r}" for e, v in values.items())
    if ranges:
        component.blocked = (
            f"a range is a policy, not a version ({shown}): pin one version in each "
            "environment, then uncomment this (the range can become source: semver:)"
        )
    elif floating:
        component.blocked = (
            f"{shown} names no version: pin one in each environment, then uncomment this"
        )
    elif component.source is None:
        component.blocked = (
            f"where new versions come from is not in the files ({shown}): "
            "write source: (image:, chart: with repo:, or git:), then uncomment this"
        )
    if component.source is not None and component.source.git:
        component.notes.append(
            f"check: {component.source.git} must be a repository on promobot's forge, its tags "
            "the versions"
        )
    odd = [v for v in values.values() if versions.parse_semver(v) is None]
    if odd and not component.blocked:
        component.notes.append(
            f"check: {', '.join(sorted(set(odd)))} are not semantic versions; choose sort: "
            "(lexical or numeric) and allow: so promobot can order them"
        )
