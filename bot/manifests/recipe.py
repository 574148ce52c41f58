"""How each app × environment is rendered: from `render:` in `.promobot.yaml`, else discovered
from what deploys it (an Argo CD Application, a Flux HelmRelease or Kustomization, a Fleet
`fleet.yaml`) at or beside a component's target file, else the nearest `kustomization.yaml`,
else a `Chart.yaml` beside a target file (an environment's own or umbrella chart).

Pure: the repository comes in as a `Snapshot`, a `Recipe` comes out (with a `problem` when it
cannot be rendered faithfully, and what would fix it).

Decisions the tools leave open, written down here:
- a Flux chart `version:` that is a range (`>=1.0.0`) stays in `ChartRef.version`, with a
  caveat: the chart fetcher resolves it to the newest version the repository offers in it, as
  Flux does at reconcile time;
- a Fleet `targetCustomizations` entry applies to an environment when its `name` is the
  environment's, else when its `clusterName` or `clusterGroup` is (label selectors cannot be
  matched without the cluster);
- a HelmRelease that is only a patch (no chart) is merged over the HelmRelease of the same name
  its folder's kustomization reaches (maps merged, lists replaced, as a strategic merge patch
  does for values).
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml

from bot.composition import Snapshot, Status
from bot.config import Config
from bot.config.render import Render
from bot.config.templates import Keep, fill
from bot.manifests.model import ChartRef, Directory, Helm, How, Kustomize, Recipe

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_YAML = (".yaml", ".yml")
_RANGE = set("<>=^~*| ,") | {"x"}
HELM_RELEASE_MAX = 53  # Helm's limit on a release name, which Flux shortens names to


def recipes(
    config: Config, snapshot: Snapshot, status: Status, repo_urls: Collection[str] = ()
) -> dict[tuple[str, str], Recipe]:
    """Every cell of `status`: (app, env) → its recipe."""
    return {
        (app, env): recipe(config, snapshot, app, env, composition.components, repo_urls)
        for app, envs in status.apps.items()
        for env, composition in envs.items()
    }


def recipe(
    config: Config,
    snapshot: Snapshot,
    app: str,
    env: str,
    versions: Mapping[str, str],
    repo_urls: Collection[str] = (),
) -> Recipe:
    """How `app` is rendered in `env`. `versions`: the composition's version of each component;
    `repo_urls`: this repository's clone URLs, to tell its own paths from another repo's (none
    given: every git source is taken to be this repository)."""
    found = _Finder(config, snapshot, app, env, versions, repo_urls)
    result = found.recipe()
    if isinstance(result.how, Helm) and result.problem is None:
        for path in result.how.values_files:
            if _sops(snapshot.files.get(path)):
                return replace(
                    result,
                    how=None,
                    problem=f"values file {path} is SOPS-encrypted; promobot does not decrypt",
                )
    return result


@dataclass
class _Finder:
    config: Config
    snapshot: Snapshot
    app: str
    env: str
    versions: Mapping[str, str]
    repo_urls: Collection[str]

    def recipe(self) -> Recipe:
        render = self.config.apps[self.app].render
        where = f"render: of {self.app} in .promobot.yaml"
        if render is None and self.config.render is not None:
            render, where = self.config.render, "render: in .promobot.yaml"
        if render is not None:
            return self._configured(render, where)
        for path in self._candidates():
            found = self._discovered(path)
            if found is not None:
                return found
        folder = self._kustomization_folder()
        if folder is not None:
            kustomization = kustomization_in(self.snapshot, folder)
            return self._made(Kustomize(folder), f"kustomization {kustomization}")
        chart = self._chart_folder()
        if chart is not None:
            # a chart per environment (an umbrella pinning the app's chart): rendered as an
            # Argo CD Application or ApplicationSet of that folder would, release = app
            release = Helm(ChartRef(path=chart), release=self.app, namespace=self.env)
            return self._made(release, f"Helm chart {posixpath.join(chart, 'Chart.yaml')}")
        return self._made(
            None,
            "discovery",
            f"promobot found no Argo CD Application, Flux HelmRelease or Kustomization, "
            f"fleet.yaml, kustomization.yaml or Chart.yaml for {self.app} in {self.env}; say "
            "how with render: in .promobot.yaml",
        )

    def _chart_folder(self) -> str | None:
        """The folder of a target file that holds a Chart.yaml (an environment's own chart,
        such as an umbrella chart whose values file or dependency promobot edits)."""
        for path in self._targets():
            folder = posixpath.dirname(path)
            if posixpath.join(folder, "Chart.yaml") in self.snapshot.objects:
                return folder
        return None

    def _made(
        self, how: How | None, origin: str, problem: str | None = None, caveat: str | None = None
    ) -> Recipe:
        return Recipe(self.app, self.env, how, origin, problem, caveat)

    # --- render: -------------------------------------------------------------------------

    def _configured(self, render: Render, where: str) -> Recipe:
        names = Keep(app=self.app, env=self.env)
        if render.none:
            return self._made(None, where, "not rendered: render: none")
        if render.kustomize is not None:
            return self._made(
                Kustomize(fill(render.kustomize.path, names), render.kustomize.helm), where
            )
        if render.directory is not None:
            path = fill(render.directory.path, names)
            return self._made(Directory(path, render.directory.recurse), where)
        helm = render.helm
        assert helm is not None  # Render's validator: exactly one way, or none
        if helm.chart_path is not None:
            chart = ChartRef(path=fill(helm.chart_path, names))
        else:
            source = self.config.apps[self.app].components[helm.chart].source
            assert source is not None and source.chart  # checked when the config loads
            version = self.versions.get(helm.chart)
            if version is None:
                return self._made(
                    None,
                    where,
                    f"the chart version of {self.app} in {self.env} could not be read (component "
                    f"{helm.chart}); fix its target",
                )
            chart = ChartRef(repo=source.repo, name=source.chart, version=version)
        kube = helm.kube_version
        return self._made(
            Helm(
                chart,
                values_files=tuple(fill(v, names) for v in helm.values),
                set_values=tuple(f"{k}={fill(v, names)}" for k, v in helm.set.items()),
                release=fill(helm.release, names),
                namespace=fill(helm.namespace, names),
                kube_version=None if kube is None else "v" + kube.removeprefix("v"),
                api_versions=helm.api_versions,
            ),
            where,
        )

    # --- discovery ---------------------------------------------------------------------------

    def _targets(self) -> list[str]:
        """The app's target files in this environment (a copied folder: its files)."""
        paths: list[str] = []
        for component in self.config.apps[self.app].components:
            path = self.config.target(self.app, component, self.env).path.rstrip("/")
            if path in self.snapshot.trees:
                paths += [f"{path}/{p}" for p in sorted(self.snapshot.blobs_under(path))]
            elif path in self.snapshot.objects:
                paths.append(path)
        return list(dict.fromkeys(paths))

    def _candidates(self) -> Iterator[str]:
        """Each target file, then the YAML files of its folder, each once."""
        seen: set[str] = set()
        for path in self._targets():
            folder = posixpath.dirname(path)
            beside = sorted(
                p
                for p in self.snapshot.objects
                if posixpath.dirname(p) == folder and p.endswith(_YAML) and p != path
            )
            for each in (path, *beside):
                if each not in seen and self.snapshot.link_on(each) is None:
                    seen.add(each)
                    yield each

    def _discovered(self, path: str) -> Recipe | None:
        if posixpath.basename(path) == "fleet.yaml":
            return self._fleet(path)
        for document in _documents(self.snapshot, path):
            group = str(document.get("apiVersion", "")).split("/")[0]
            kind = document.get("kind")
            if kind == "Application" and group == "argoproj.io":
                return self._argo(path, document)
            if kind == "HelmRelease" and group == "helm.toolkit.fluxcd.io":
                return self._flux_helm(path, document)
            if kind == "Kustomization" and group == "kustomize.toolkit.fluxcd.io":
                return self._flux_kustomization(path, document)
        return None

    def _kustomization_folder(self) -> str | None:
        """The nearest folder with a kustomization above a target, preferring one of this
        environment's own over one every environment's targets share."""
        nearest = [self._nearest(posixpath.dirname(p)) for p in self._targets()]
        found = [f for f in nearest if f is not None]
        if not found:
            return None
        others = self.config.app_environments(self.app)
        shared: set[str] = set()
        if len(others) > 1:
            everyone = [
                {
                    self._nearest(posixpath.dirname(self.config.target(self.app, c, e).path))
                    for c in self.config.apps[self.app].components
                }
                for e in others
            ]
            shared = {f for f in found if all(f in each for each in everyone)}
        own = [f for f in found if f not in shared]
        return (own or found)[0]

    def _nearest(self, folder: str) -> str | None:
        while True:
            if kustomization_in(self.snapshot, folder) is not None:
                return folder
            if not folder:
                return None
            folder = posixpath.dirname(folder)

    # --- Argo CD ---------------------------------------------------------------------------

    def _argo(self, path: str, app: dict[str, Any]) -> Recipe:
        origin = f"Argo CD Application {path}"
        spec = _map(app.get("spec"))
        name = str(_map(app.get("metadata")).get("name") or self.app)
        namespace = str(_map(spec.get("destination")).get("namespace") or "default")
        sources = [_map(s) for s in spec.get("sources") or []] or [_map(spec.get("source"))]
        refs = {str(s["ref"]): str(s.get("repoURL", "")) for s in sources if s.get("ref")}
        rendering = [s for s in sources if not (s.get("ref") and not s.get("path"))]
        if len(rendering) != 1:
            return self._made(
                None,
                origin,
                f"{path}: {len(rendering)} sources render manifests; promobot renders "
                "Applications with one (plus ref: sources for values); say how with render:",
            )
        source = rendering[0]
        if "plugin" in source:
            return self._made(
                None,
                origin,
                "a config-management plugin renders it; promobot cannot run plugins",
            )
        repo_url = str(source.get("repoURL", ""))
        helm = _map(source.get("helm"))
        values_files: list[str] = []
        for each in helm.get("valueFiles") or []:
            each = str(each)
            if each.startswith("$"):
                ref, _, rest = each[1:].partition("/")
                if ref not in refs:
                    return self._made(
                        None, origin, f"{path}: valueFiles {each}: no source ref: {ref}"
                    )
                if not self._ours(refs[ref]):
                    return self._made(
                        None,
                        origin,
                        f"values file {each} is in {refs[ref]}, another repository; promobot "
                        "does not fetch other repositories' files yet",
                    )
                values_files.append(posixpath.normpath(rest))
            elif source.get("chart"):
                return self._made(
                    None,
                    origin,
                    f"values file {each} is inside the chart {source['chart']}; promobot reads "
                    "values files from this repository only (use a ref: source)",
                )
            else:
                values_files.append(posixpath.normpath(posixpath.join(_clean(source), each)))
        if source.get("chart"):
            repo = repo_url if "://" in repo_url else f"oci://{repo_url}"
            chart = ChartRef(
                repo=repo, name=str(source["chart"]), version=str(source.get("targetRevision", ""))
            )
        else:
            if not self._ours(repo_url):
                return self._made(
                    None,
                    origin,
                    f"the source is {repo_url}, another git repository; promobot does not fetch "
                    "other repositories' paths yet",
                )
            folder = _clean(source)
            if f"{folder}/Chart.yaml" in self.snapshot.objects or (
                not folder and "Chart.yaml" in self.snapshot.objects
            ):
                chart = ChartRef(path=folder)
            elif kustomization_in(self.snapshot, folder) is not None or "kustomize" in source:
                return self._made(Kustomize(folder), origin)
            else:
                recurse = bool(_map(source.get("directory")).get("recurse"))
                return self._made(Directory(folder, recurse), origin)
        values: list[Mapping[str, Any]] = []
        if isinstance(helm.get("values"), str):
            try:
                parsed = yaml.safe_load(helm["values"])
            except yaml.YAMLError:
                return self._made(None, origin, f"{path}: helm.values is not valid YAML")
            if isinstance(parsed, dict):
                values.append(parsed)
        if isinstance(helm.get("valuesObject"), dict):
            values.append(helm["valuesObject"])
        sets: list[str] = []
        strings: list[str] = []
        for parameter in helm.get("parameters") or []:
            parameter = _map(parameter)
            expression = f"{parameter.get('name')}={parameter.get('value', '')}"
            (strings if parameter.get("forceString") else sets).append(expression)
        return self._made(
            Helm(
                chart,
                values_files=tuple(values_files),
                values=tuple(values),
                set_values=tuple(sets),
                set_strings=tuple(strings),
                release=str(helm.get("releaseName") or name),
                namespace=namespace,
            ),
            origin,
        )

    def _ours(self, url: str) -> bool:
        if not self.repo_urls:
            return True
        return _normal_url(url) in {_normal_url(u) for u in self.repo_urls}

    # --- Flux ------------------------------------------------------------------------------

    def _flux_helm(self, path: str, release: dict[str, Any]) -> Recipe:
        origin = f"Flux HelmRelease {path}"
        spec = _map(release.get("spec"))
        meta = _map(release.get("metadata"))
        if not _map(_map(spec.get("chart")).get("spec")).get("chart") and not spec.get("chartRef"):
            base = self._patched(path, str(meta.get("name", "")))
            if base is None:
                return self._made(
                    None,
                    origin,
                    f"{path}: this HelmRelease names no chart, and promobot found no "
                    "HelmRelease of that name it patches; say how with render:",
                )
            base_path, base_release = base
            release = _merged(base_release, release)
            spec, meta = _map(release.get("spec")), _map(release.get("metadata"))
            origin = f"Flux HelmRelease {base_path} patched by {path}"
        own_namespace = str(meta.get("namespace") or "default")
        caveat = None
        if spec.get("chartRef"):
            ref = _map(spec["chartRef"])
            found = self._flux_object(
                "OCIRepository", str(ref.get("name")), str(ref.get("namespace") or own_namespace)
            )
            if found is None:
                return self._made(
                    None, origin, f"OCIRepository {ref.get('name')} is not in this repository"
                )
            oci = _map(found.get("spec"))
            url = str(oci.get("url", "")).rstrip("/")
            tag = _map(oci.get("ref"))
            chart = ChartRef(
                repo=posixpath.dirname(url),
                name=posixpath.basename(url),
                version=str(tag.get("tag") or tag.get("semver") or tag.get("digest") or ""),
            )
        else:
            chart_spec = _map(_map(spec.get("chart")).get("spec"))
            source = _map(chart_spec.get("sourceRef"))
            kind, name = str(source.get("kind")), str(source.get("name"))
            namespace = str(source.get("namespace") or own_namespace)
            if kind == "GitRepository":
                folder = str(chart_spec.get("chart", "")).removeprefix("./").rstrip("/")
                chart = ChartRef(path=folder)
            else:
                found = self._flux_object(kind, name, namespace)
                if found is None:
                    return self._made(
                        None,
                        origin,
                        f"{kind} {namespace}/{name} (the chart's source) is not in this repository",
                    )
                repo_spec = _map(found.get("spec"))
                url = str(repo_spec.get("url", ""))
                if repo_spec.get("type") == "oci" and not url.startswith("oci://"):
                    url = f"oci://{url}"
                version = str(chart_spec.get("version") or "*")
                if _RANGE & set(version):
                    caveat = (
                        f"the chart version is a range ({version}): rendered at the newest "
                        "version it allows, as Flux picks it"
                    )
                chart = ChartRef(repo=url, name=str(chart_spec.get("chart")), version=version)
        values: list[Mapping[str, Any]] = []
        sets: list[str] = []
        for each in spec.get("valuesFrom") or []:
            each = _map(each)
            kind, name = str(each.get("kind")), str(each.get("name"))
            if kind == "Secret":
                return self._made(None, origin, f"values from Secret {name} are not in git")
            config_map = self._flux_object("ConfigMap", name, own_namespace)
            if config_map is None:
                if each.get("optional"):
                    continue
                return self._made(
                    None, origin, f"values from ConfigMap {name} are not in this repository"
                )
            text = _map(config_map.get("data")).get(str(each.get("valuesKey") or "values.yaml"))
            if text is None:
                continue
            if each.get("targetPath"):
                sets.append(f"{each['targetPath']}={text}")
                continue
            try:
                loaded = yaml.safe_load(str(text))
            except yaml.YAMLError:
                return self._made(None, origin, f"ConfigMap {name}: its values are not YAML")
            if isinstance(loaded, dict):
                values.append(loaded)
        if isinstance(spec.get("values"), dict):
            values.append(spec["values"])
        target_namespace = spec.get("targetNamespace")
        return self._made(
            Helm(
                chart,
                values=tuple(values),
                set_values=tuple(sets),
                release=flux_release_name(release),
                namespace=str(target_namespace or own_namespace),
            ),
            origin,
            caveat=caveat,
        )

    def _patched(self, path: str, name: str) -> tuple[str, dict[str, Any]] | None:
        """The HelmRelease called `name` that the kustomization beside `path` reaches."""
        folder = posixpath.dirname(path)
        for each in _reached(self.snapshot, folder):
            if each == path:
                continue
            for document in _documents(self.snapshot, each):
                spec = _map(document.get("spec"))
                named = _map(document.get("metadata")).get("name") == name
                full = _map(spec.get("chart")).get("spec") or spec.get("chartRef")
                if document.get("kind") == "HelmRelease" and named and full:
                    return each, document
        return None

    def _flux_object(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        """A Flux source or ConfigMap in the repo by kind and name (the namespace preferred)."""
        fallback = None
        needle = kind.encode()
        for path in sorted(self.snapshot.objects):
            if not path.endswith(_YAML) or path in self.snapshot.trees:
                continue
            content = self.snapshot.files.get(path) or b""
            if needle not in content:
                continue
            for document in _documents(self.snapshot, path):
                meta = _map(document.get("metadata"))
                if document.get("kind") == kind and meta.get("name") == name:
                    if meta.get("namespace") in (namespace, None):
                        return document
                    fallback = fallback or document
        return fallback

    def _flux_kustomization(self, path: str, kustomization: dict[str, Any]) -> Recipe:
        origin = f"Flux Kustomization {path}"
        spec = _map(kustomization.get("spec"))
        source = _map(spec.get("sourceRef"))
        if source.get("kind") not in (None, "GitRepository"):
            return self._made(
                None,
                origin,
                f"its source is {source.get('kind')} {source.get('name')}, not this git "
                "repository; promobot renders paths of this repository only",
            )
        folder = posixpath.normpath(str(spec.get("path") or ".")).strip("/")
        folder = "" if folder == "." else folder
        post = _map(spec.get("postBuild"))
        caveat = (
            "variables are not substituted (postBuild)"
            if post.get("substitute") or post.get("substituteFrom")
            else None
        )
        if kustomization_in(self.snapshot, folder) is not None:
            return self._made(Kustomize(folder), origin, caveat=caveat)
        return self._made(Directory(folder, recurse=True), origin, caveat=caveat)

    # --- Fleet -----------------------------------------------------------------------------

    def _fleet(self, path: str) -> Recipe:
        origin = f"Fleet bundle {path}"
        documents = list(_documents(self.snapshot, path))
        bundle = documents[0] if documents else {}
        folder = posixpath.dirname(path)
        target = next(
            (
                _map(t)
                for key in ("name", "clusterName", "clusterGroup")
                for t in bundle.get("targetCustomizations") or []
                if _map(t).get(key) == self.env
            ),
            {},
        )
        merged = _merged(bundle, {k: v for k, v in target.items() if k != "name"})
        namespace = str(merged.get("namespace") or merged.get("defaultNamespace") or "default")
        helm = _map(merged.get("helm"))
        kustomize_dir = _map(merged.get("kustomize")).get("dir")
        caveat = "Fleet yaml overlays are not applied" if _map(merged.get("yaml")) else None
        has_chart = f"{folder}/Chart.yaml" in self.snapshot.objects
        if helm.get("chart") or (has_chart and not kustomize_dir):
            chart_name = str(helm.get("chart") or "")
            if "://" in chart_name and not helm.get("repo"):
                return self._made(
                    None,
                    origin,
                    f"helm.chart is an archive URL ({chart_name}); promobot renders charts from "
                    "a Helm repository (helm.repo) or a folder of the repository",
                )
            if helm.get("repo"):
                chart = ChartRef(
                    repo=str(helm["repo"]), name=chart_name, version=str(helm.get("version", ""))
                )
            else:
                chart = ChartRef(path=posixpath.normpath(posixpath.join(folder, chart_name or ".")))
            files = tuple(
                posixpath.normpath(posixpath.join(folder, str(f)))
                for f in helm.get("valuesFiles") or []
            )
            values = (helm["values"],) if isinstance(helm.get("values"), dict) else ()
            return self._made(
                Helm(
                    chart,
                    values_files=files,
                    values=values,
                    release=str(helm.get("releaseName") or posixpath.basename(folder) or self.app),
                    namespace=namespace,
                ),
                origin,
                caveat=caveat,
            )
        where = posixpath.normpath(posixpath.join(folder, str(kustomize_dir or ".")))
        where = "" if where == "." else where
        if kustomization_in(self.snapshot, where) is not None:
            return self._made(Kustomize(where), origin, caveat=caveat)
        return self._made(Directory(folder, recurse=True), origin, caveat=caveat)


def flux_release_name(release: Mapping[str, Any]) -> str:
    """The Helm release name Flux gives a HelmRelease: `spec.releaseName`, else
    `[targetNamespace-]name`, shortened past 53 characters as Flux shortens it."""
    spec = _map(release.get("spec"))
    name = str(_map(release.get("metadata")).get("name", ""))
    if spec.get("releaseName"):
        return str(spec["releaseName"])
    if spec.get("targetNamespace"):
        name = f"{spec['targetNamespace']}-{name}"
    if len(name) > HELM_RELEASE_MAX:
        name = f"{name[:40]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return name


def kustomization_in(snapshot: Snapshot, folder: str) -> str | None:
    """The kustomization file of a folder of the repo, if it has one."""
    for name in KUSTOMIZATION_NAMES:
        path = f"{folder}/{name}" if folder else name
        if path in snapshot.objects and path not in snapshot.trees:
            return path
    return None


def _reached(snapshot: Snapshot, folder: str, depth: int = 0) -> Iterator[str]:
    """The YAML files a kustomization's `resources:` reach from `folder`, nearest first."""
    kustomization = kustomization_in(snapshot, folder)
    if kustomization is None or depth > 16:
        return
    for document in _documents(snapshot, kustomization):
        for entry in document.get("resources") or []:
            target = posixpath.normpath(posixpath.join(folder, str(entry)))
            if target.startswith(".."):
                continue
            if target in snapshot.trees:
                yield from _reached(snapshot, target, depth + 1)
            elif target in snapshot.objects:
                yield target


def _documents(snapshot: Snapshot, path: str) -> Iterator[dict[str, Any]]:
    """The mappings of a YAML file; nothing for a file that does not parse (discovery looks
    on, and whatever renders it reports the file)."""
    content = snapshot.files.get(path)
    if content is None:
        return
    try:
        documents = list(yaml.safe_load_all(content))
    except (yaml.YAMLError, UnicodeDecodeError):
        return
    for document in documents:
        if isinstance(document, dict):
            yield document


def _sops(content: bytes | None) -> bool:
    if content is None or b"sops" not in content:
        return False
    try:
        data = yaml.safe_load(content)
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and isinstance(data.get("sops"), dict) and "mac" in data["sops"]


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merged(result[key], value)
        else:
            result[key] = value
    return result


def _clean(source: Mapping[str, Any]) -> str:
    folder = posixpath.normpath(str(source.get("path") or ".")).strip("/")
    return "" if folder == "." else folder


def _normal_url(url: str) -> str:
    url = url.strip().lower().removesuffix("/").removesuffix(".git")
    if url.startswith("git@"):
        url = url[4:].replace(":", "/", 1)
    return url.split("://", 1)[-1].split("@", 1)[-1]
