"""Where versions are written in GitOps files, and where new ones would come from.

One reader per format: Kustomize (`images:`, remote `resources:` with `?ref=`), workloads
(`containers[].image`), Helm values (`image.tag` beside `image.repository`) and Chart.yaml
dependencies, Argo CD Applications and ApplicationSets, Flux HelmReleases, OCIRepositories and
GitRepositories, Fleet `fleet.yaml`. Each returns `Spot`s: a file, a selector in promobot's
syntax (config/README.md), the value there and its source when the files tell it. Pure: parsed
documents in, spots out; `Tree` is the repository's files, parsed once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from bot import versions
from bot.errors import VersionError

Doc = dict[str, Any]


@dataclass(frozen=True)
class Source:
    image: str | None = None
    chart: str | None = None
    repo: str | None = None
    git: str | None = None


@dataclass(frozen=True)
class Spot:
    file: str
    field: str  # a selector; `{env}` in it for files that hold every environment (fleet.yaml)
    value: str  # the whole value at the selector
    template: str | None  # where the version sits in the value, with {version}
    source: Source | None  # None: the files do not say where new versions come from
    kind: str  # image, chart or git: names the component
    name: str  # what the version is of (an image's or chart's name): tells components apart
    app: str | None  # the app the file names (an Application, a HelmRelease, a fleet.yaml)
    env: str | None = None  # the environment the file names for this spot

    @property
    def version(self) -> str:
        if self.template is None:
            return self.value
        prefix, suffix = self.template.split("{version}")
        return self.value[len(prefix) : len(self.value) - len(suffix)]


# --- the tree ----------------------------------------------------------------------------------

_PARSED = (".yaml", ".yml", ".json")


class Tree:
    """The repository's YAML and JSON files, parsed as promobot reads them (every scalar a
    string, so `tag: 2004` is "2004"); files that do not parse are listed, not raised."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = dict(sorted(files.items()))
        self.docs: dict[str, list[Doc]] = {}
        self.unreadable: dict[str, str] = {}
        for path, text in self.files.items():
            if not path.lower().endswith(_PARSED):
                continue
            try:
                loaded = list(yaml.load_all(text, Loader=yaml.CBaseLoader))
            except yaml.YAMLError as error:
                if "templates" in PurePosixPath(path).parts[:-1]:
                    continue  # a Helm chart's templates are Go templates, not YAML
                mark = getattr(error, "problem_mark", None)
                where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
                self.unreadable[path] = f"not valid YAML{where}"
                continue
            except RecursionError:
                self.unreadable[path] = "nested too deeply"
                continue
            self.docs[path] = [d for d in loaded if isinstance(d, dict)]

    def objects(self, kind: str) -> Iterator[tuple[str, Doc]]:
        for path, docs in self.docs.items():
            for doc in docs:
                if doc.get("kind") == kind:
                    yield path, doc


def text(value: Any) -> str | None:
    """A string worth reading: not empty, and not a template's placeholder (`{{ .Values.x }}`)."""
    if not isinstance(value, str) or not value.strip() or "{{" in value:
        return None
    return value


def dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _plain(value: str) -> bool:
    """A value a list match can name: `[name=value]` ends at the first `]`."""
    return "]" not in value and value == value.strip()


def _basename(reference: str) -> str:
    return reference.rstrip("/").rsplit("/", 1)[-1]


# --- versions: which values are versions at all ------------------------------------------------

_FLOATING = {"latest", "stable", "main", "master", "head", "trunk"}


def is_range(value: str) -> bool:
    """`>=1.0.0`, `1.x`, `^2`: a policy for which versions to take, not a version."""
    if versions.parse_semver(value) is not None:
        return False
    try:
        versions.check_constraint(value)
    except VersionError:
        return False
    return True


def floats(value: str) -> bool:
    """`latest`, `main`: names no version, so there is nothing to promote."""
    return value.lower() in _FLOATING


# --- images -----------------------------------------------------------------------------------

_DIGEST = re.compile(r"@sha256:[0-9a-f]+\Z")


def split_image(reference: str) -> tuple[str, str] | None:
    """`ghcr.io/acme/api:1.4.2` → (`ghcr.io/acme/api`, `1.4.2`); None without a tag."""
    if _DIGEST.search(reference):
        return None  # pinned by digest: promobot writes tags (or tag@digest with digest: true)
    repository, colon, tag = reference.rpartition(":")
    if not colon or "/" in tag or not repository or not tag:
        return None
    return repository, tag


def _image_spot(
    file: str, field: str, reference: str, app: str | None, env: str | None = None
) -> Spot | None:
    split = split_image(reference)
    if split is None:
        return None
    repository, _ = split
    return Spot(
        file,
        field,
        reference,
        f"{repository}:{{version}}",
        Source(image=repository),
        "image",
        _basename(repository),
        app,
        env,
    )


# --- Kustomize --------------------------------------------------------------------------------

_REMOTE = re.compile(
    r"(?:https://|git@|ssh://git@)?(?P<host>[\w.-]+)[/:](?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)"
    r"(?:\.git)?(?://[^?]*)?(?:/[^?]*)?\?(?:.*&)?ref=(?P<ref>[^&]+)"
)


def kustomization(file: str, doc: Doc) -> Iterator[Spot]:
    images = doc.get("images")
    for entry in images if isinstance(images, list) else []:
        name, tag = text(dig(entry, "name")), text(dig(entry, "newTag"))
        if name is None or tag is None or not _plain(name):
            continue
        repository = text(entry.get("newName")) or name
        yield Spot(
            file,
            f"images[name={name}].newTag",
            tag,
            None,
            Source(image=repository),
            "image",
            _basename(repository),
            None,
        )
    resources = doc.get("resources")
    for entry in resources if isinstance(resources, list) else []:
        match = _REMOTE.fullmatch(entry) if isinstance(entry, str) else None
        if match is None:
            continue
        start, end = match.span("ref")
        yield Spot(
            file,
            "resources[*]",
            entry,
            entry[:start] + "{version}" + entry[end:],
            Source(git=f"{match['owner']}/{match['name']}"),
            "git",
            match["name"],
            None,
        )


# --- workloads --------------------------------------------------------------------------------

_POD_SPECS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "Rollout": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}


def workload(file: str, doc: Doc) -> Iterator[Spot]:
    path = _POD_SPECS.get(str(doc.get("kind")))
    if path is None:
        return
    containers = dig(doc, *path, "containers")
    for container in containers if isinstance(containers, list) else []:
        name, image = text(dig(container, "name")), text(dig(container, "image"))
        if name is None or image is None or not _plain(name):
            continue
        spot = _image_spot(file, f"{'.'.join(path)}.containers[name={name}].image", image, None)
        if spot is not None:
            yield spot


# --- Helm values ------------------------------------------------------------------------------

_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(key: str) -> str:
    return key if _KEY.fullmatch(key) else '"' + key.replace('"', '\\"') + '"'


def values(
    file: str,
    data: Any,
    prefix: str,
    images: Mapping[str, str],
    app: str | None,
    env: str | None = None,
    at: str = "",
    seen: set[int] | None = None,
) -> Iterator[Spot]:
    """`…image.tag` beside `…image.repository` (or a chart template that puts the tag after a
    repository: `images`, values path → repository). A mapping that YAML aliases put in many
    places is walked once, so an alias bomb costs no more than its text."""
    seen = set() if seen is None else seen
    if not isinstance(data, dict) or id(data) in seen:
        return
    seen.add(id(data))
    tag = text(data.get("tag"))
    if tag is not None and at:
        repository = text(data.get("repository"))
        registry = text(data.get("registry"))
        if repository and registry and not repository.startswith(registry):
            repository = f"{registry}/{repository}"
        repository = repository or images.get(f"{at}.tag")
        last = at.rsplit(".", 1)[-1]
        if repository or last.lower().endswith("image"):
            yield Spot(
                file,
                f"{prefix}{at}.tag" if prefix else f"{at}.tag",
                tag,
                None,
                Source(image=repository) if repository else None,
                "image",
                _basename(repository) if repository else last,
                app,
                env,
            )
    for key, child in data.items():
        if isinstance(key, str) and isinstance(child, dict):
            where = f"{at}.{_key(key)}" if at else _key(key)
            yield from values(file, child, prefix, images, app, env, where, seen)


_TEMPLATE_IMAGE = re.compile(
    r"(?P<repo>[A-Za-z0-9][\w.-]*(?::\d+)?(?:/[\w.-]+)+):\{\{-?\s*\.Values\.(?P<path>[\w.]+)\s*-?\}\}"
)


def chart_images(tree: Tree, chart: str) -> dict[str, str]:
    """What a chart's templates say: values path (image.tag) → the repository before it."""
    found: dict[str, str] = {}
    folder = f"{chart}/templates/" if chart else "templates/"
    for path, text in tree.files.items():
        if path.startswith(folder):
            for match in _TEMPLATE_IMAGE.finditer(text):
                found.setdefault(match["path"], match["repo"])
    return found


def chart_dependencies(file: str, doc: Doc) -> Iterator[Spot]:
    dependencies = doc.get("dependencies")
    for entry in dependencies if isinstance(dependencies, list) else []:
        name, version = text(dig(entry, "name")), text(dig(entry, "version"))
        repo = text(dig(entry, "repository"))
        if name is None or version is None or not _plain(name):
            continue
        known = repo is not None and repo.startswith(("https://", "http://", "oci://"))
        yield Spot(
            file,
            f"dependencies[name={name}].version",
            version,
            None,
            Source(chart=name, repo=repo) if known else None,
            "chart",
            name,
            None,
        )


# --- Argo CD ----------------------------------------------------------------------------------

_GIT_URL = re.compile(
    r"(?:https?://|ssh://)?(?:git@)?[\w.-]+(?::\d+)?[/:](?P<path>[\w.-]+(?:/[\w.-]+)+?)(?:\.git)?/?"
)


def git_repository(url: str) -> str | None:
    """`https://github.com/acme/web-config.git` → `acme/web-config`."""
    match = _GIT_URL.fullmatch(url)
    return match["path"].removesuffix(".git") if match else None


def _tag_like(revision: str) -> bool:
    return bool(re.fullmatch(r"[vV]?\d[\w.+-]*", revision))


def _argo_source(file: str, source: Any, where: str, app: str | None) -> Iterator[Spot]:
    if not isinstance(source, dict):
        return
    revision = text(source.get("targetRevision"))
    url = text(source.get("repoURL"))
    chart = text(source.get("chart"))
    if revision is not None and url is not None and chart is not None:
        yield Spot(
            file,
            f"{where}.targetRevision",
            revision,
            None,
            Source(chart=chart, repo=url),
            "chart",
            chart,
            app,
        )
    elif revision is not None and url is not None and _tag_like(revision):
        repository = git_repository(url)
        yield Spot(
            file,
            f"{where}.targetRevision",
            revision,
            None,
            Source(git=repository) if repository else None,
            "git",
            _basename(repository or url),
            app,
        )
    helm = source.get("helm")
    parameters = dig(helm, "parameters")
    if isinstance(parameters, list):
        named = {
            p.get("name"): p.get("value")
            for p in parameters
            if isinstance(p, dict) and isinstance(p.get("value"), str)
        }
        for name, value in named.items():
            if not isinstance(name, str) or not name.endswith("tag") or not _plain(name):
                continue
            repository = named.get(name[: -len("tag")] + "repository")
            if not isinstance(value, str) or not value:
                continue
            yield Spot(
                file,
                f"{where}.helm.parameters[name={name}].value",
                value,
                None,
                Source(image=repository) if repository else None,
                "image",
                _basename(repository) if repository else name,
                app,
            )
    yield from values(file, dig(helm, "valuesObject"), f"{where}.helm.valuesObject.", {}, app)


def application(file: str, doc: Doc) -> Iterator[Spot]:
    app = text(dig(doc, "metadata", "name"))
    yield from _argo_source(file, dig(doc, "spec", "source"), "spec.source", app)
    sources = dig(doc, "spec", "sources")
    for i, source in enumerate(sources if isinstance(sources, list) else []):
        if not isinstance(source, dict):
            continue
        chart, ref = text(source.get("chart")), text(source.get("ref"))
        if chart and _plain(chart):
            where = f"spec.sources[chart={chart}]"
        elif ref and _plain(ref):
            where = f"spec.sources[ref={ref}]"
        else:
            where = f"spec.sources[{i}]"
        yield from _argo_source(file, source, where, app)


_ELEMENT_KEYS = ("env", "environment", "stage")
_GO_TEMPLATE = re.compile(r"\{\{-?\s*\.?(?P<key>[\w.]+)\s*-?\}\}")


def applicationset(file: str, doc: Doc) -> tuple[list[str], list[Spot]]:
    """The environments a list generator names, and the versions its elements hold for the
    template's targetRevision."""
    envs: list[str] = []
    spots: list[Spot] = []
    source = dig(doc, "spec", "template", "spec", "source")
    revision = dig(source, "targetRevision")
    revision = revision if isinstance(revision, str) else ""
    wanted = _GO_TEMPLATE.fullmatch(revision)
    generators = dig(doc, "spec", "generators")
    for g, generator in enumerate(generators if isinstance(generators, list) else []):
        elements = dig(generator, "list", "elements")
        for element in elements if isinstance(elements, list) else []:
            if not isinstance(element, dict):
                continue
            key = next((k for k in _ELEMENT_KEYS if text(element.get(k))), None)
            if key is None:
                continue
            env = element[key]
            envs.append(env)
            version = text(element.get(wanted["key"])) if wanted else None
            if version is None or wanted is None or not _plain(env):
                continue
            chart, url = text(dig(source, "chart")), text(dig(source, "repoURL"))
            known = chart and url and "{{" not in chart + url
            spots.append(
                Spot(
                    file,
                    f"spec.generators[{g}].list.elements[{key}={{env}}].{wanted['key']}",
                    version,
                    None,
                    Source(chart=chart, repo=url) if known else None,
                    "chart" if chart else "git",
                    chart or wanted["key"],
                    text(dig(doc, "metadata", "name")),
                    env,
                )
            )
    return envs, spots


# --- Flux -------------------------------------------------------------------------------------


def _flux_repository(tree: Tree, kind: str, name: str, namespace: str | None) -> Doc | None:
    for _, doc in tree.objects(kind):
        meta = doc.get("metadata")
        if not isinstance(meta, dict) or meta.get("name") != name:
            continue
        if namespace is None or meta.get("namespace") in (None, namespace):
            return doc
    return None


def helmrelease(tree: Tree, file: str, doc: Doc) -> Iterator[Spot]:
    """`spec.chart.spec.version`, its chart and repository taken from the release itself or,
    for a patch, from the release of the same name it patches (the base)."""
    name = text(dig(doc, "metadata", "name"))
    version = text(dig(doc, "spec", "chart", "spec", "version"))
    if version is not None:
        chart = text(dig(doc, "spec", "chart", "spec", "chart"))
        ref = dig(doc, "spec", "chart", "spec", "sourceRef")
        namespace = text(dig(doc, "metadata", "namespace"))
        if chart is None or not isinstance(ref, dict):
            for _, base in tree.objects("HelmRelease"):
                if dig(base, "metadata", "name") == name and base is not doc:
                    chart = chart or text(dig(base, "spec", "chart", "spec", "chart"))
                    ref = ref or dig(base, "spec", "chart", "spec", "sourceRef")
                    namespace = namespace or text(dig(base, "metadata", "namespace"))
        source = None
        if chart is not None and isinstance(ref, dict) and text(ref.get("name")):
            repository = _flux_repository(
                tree,
                str(ref.get("kind") or "HelmRepository"),
                ref["name"],
                text(ref.get("namespace")) or namespace,
            )
            url = text(dig(repository, "spec", "url"))
            if url is not None:
                source = Source(chart=chart, repo=url)
        yield Spot(
            file,
            "spec.chart.spec.version",
            version,
            None,
            source,
            "chart",
            chart or name or "chart",
            name,
        )
    yield from values(file, dig(doc, "spec", "values"), "spec.values.", {}, name)


def ocirepository(file: str, doc: Doc) -> Iterator[Spot]:
    url = text(dig(doc, "spec", "url")) or ""
    name = text(dig(doc, "metadata", "name"))
    for key in ("tag", "semver"):
        value = text(dig(doc, "spec", "ref", key))
        if value is not None:
            image = url.removeprefix("oci://")
            yield Spot(
                file,
                f"spec.ref.{key}",
                value,
                None,
                Source(image=image) if image else None,
                "image",
                _basename(image) if image else name or "image",
                name,
            )


def gitrepository(file: str, doc: Doc) -> Iterator[Spot]:
    tag = text(dig(doc, "spec", "ref", "tag")) or text(dig(doc, "spec", "ref", "semver"))
    url = text(dig(doc, "spec", "url"))
    if tag is None or url is None:
        return
    key = "tag" if dig(doc, "spec", "ref", "tag") else "semver"
    repository = git_repository(url)
    yield Spot(
        file,
        f"spec.ref.{key}",
        tag,
        None,
        Source(git=repository) if repository else None,
        "git",
        _basename(repository or url),
        text(dig(doc, "metadata", "name")),
    )


# --- Fleet ------------------------------------------------------------------------------------

_VALID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def fleet(tree: Tree, file: str, doc: Doc) -> tuple[list[str], list[Spot]]:
    """A fleet.yaml: its targetCustomizations are environments; what each sets for itself
    (`helm.values…tag`, `helm.version`) is a per-environment spot, what the top level sets is
    shared by all of them."""
    folder = str(PurePosixPath(file).parent)
    folder = "" if folder == "." else folder
    app = _basename(folder) if folder else None
    helm = doc.get("helm") if isinstance(doc.get("helm"), dict) else {}
    chart = text(dig(helm, "chart"))
    repo = text(dig(helm, "repo"))
    local = chart is None or (not re.match(r"[a-z]+://", chart) and repo is None)
    chart_dir = folder if chart is None else str(PurePosixPath(folder, chart)) if local else ""
    images = chart_images(tree, chart_dir.strip("/")) if local else {}
    chart_source = Source(chart=chart, repo=repo) if chart and repo else None
    spots: list[Spot] = []
    version = text(dig(helm, "version"))
    if version is not None:
        spots.append(
            Spot(file, "helm.version", version, None, chart_source, "chart", chart or "chart", app)
        )
    spots += values(file, dig(helm, "values"), "helm.values.", images, app)
    # Fleet merges a target's values over the top level's: a repository set there applies
    images = images | {
        s.field.removeprefix("helm.values."): s.source.image
        for s in spots
        if s.source is not None and s.source.image and s.field.startswith("helm.values.")
    }
    envs: list[str] = []
    customizations = doc.get("targetCustomizations")
    for entry in customizations if isinstance(customizations, list) else []:
        name = text(dig(entry, "name"))
        if name is None or not _VALID_NAME.fullmatch(name):
            continue
        envs.append(name)
        at = "targetCustomizations[name={env}]"
        found = values(file, dig(entry, "helm", "values"), f"{at}.helm.values.", images, app, name)
        spots += found
        version = text(dig(entry, "helm", "version"))
        if version is not None:
            spots.append(
                Spot(
                    file,
                    f"{at}.helm.version",
                    version,
                    None,
                    chart_source,
                    "chart",
                    chart or "chart",
                    app,
                    name,
                )
            )
    return envs, spots


def in_file(tree: Tree, file: str) -> Iterator[Spot]:
    """Every spot of a file but a fleet.yaml's and an ApplicationSet's (those name their own
    environments: `fleet`, `applicationset`)."""
    for doc in tree.docs.get(file, []):
        kind = doc.get("kind")
        api = str(doc.get("apiVersion") or "")
        if kind in ("Kustomization", None) and ("kustomize.config" in api or _kustomize(file)):
            yield from kustomization(file, doc)
        elif kind in _POD_SPECS:
            yield from workload(file, doc)
        elif kind == "Application" and api.startswith("argoproj.io/"):
            yield from application(file, doc)
        elif kind == "HelmRelease" and api.startswith("helm.toolkit.fluxcd.io/"):
            yield from helmrelease(tree, file, doc)
        elif kind == "OCIRepository" and api.startswith("source.toolkit.fluxcd.io/"):
            yield from ocirepository(file, doc)
        elif kind == "GitRepository" and api.startswith("source.toolkit.fluxcd.io/"):
            yield from gitrepository(file, doc)
        elif _name(file) == "chart.yaml" and "dependencies" in doc:
            yield from chart_dependencies(file, doc)
        elif kind is None and "apiVersion" not in doc and not is_fleet(file):
            yield from values(file, doc, "", _chart_images_near(tree, file), None)


def _name(file: str) -> str:
    return PurePosixPath(file).name.lower()


def _kustomize(file: str) -> bool:
    return _name(file) in ("kustomization.yaml", "kustomization.yml", "kustomization")


def is_fleet(file: str) -> bool:
    return _name(file) == "fleet.yaml"


def _chart_images_near(tree: Tree, file: str) -> dict[str, str]:
    """A values file beside a chart's templates: the repositories its templates name."""
    folder = str(PurePosixPath(file).parent)
    folder = "" if folder == "." else folder
    if f"{folder}/Chart.yaml".lstrip("/") not in tree.files:
        return {}
    return chart_images(tree, folder)
