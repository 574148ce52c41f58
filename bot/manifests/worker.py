"""What runs inside a render worker process: Helm through its own Go SDK (or a `helm` binary the
settings name), `kubectl kustomize`, and plain folders of manifests, each turned into one
multi-document YAML text.

These are plain functions of picklable arguments so that `bot.manifests.sandbox` can run them
in worker processes with a time and memory limit: a chart nobody reviewed runs here, never in
the service. Every failure the user can fix is a `RenderError` whose message says which file
or template and why, with no path of this machine in it.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python
from helm_python import _native

from bot.errors import RenderError, RenderTimeout

LOOKUP_CAVEAT = "rendered offline: lookup returns nothing"
DEFAULT_RELEASE = "release-name"  # what `helm template CHART` names a release given no name
TOOL_TIMEOUT = 10.0  # seconds a kubectl or helm subprocess may take
MESSAGE_CHARS = 1000  # of a tool's error, in a RenderError
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")  # what Argo CD's directory source reads
# Variables the tools need and that carry no credential: the rest of the environment (tokens,
# cloud keys, kubeconfigs) never reaches a tool that runs a chart or a kustomization.
KEPT_VARIABLES = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
_LOOKUP = re.compile(r"\{\{[^}]*\blookup\b")
_DOCUMENT_START = re.compile(r"^---[ \t]*$", re.MULTILINE)
_TEST_HOOK = re.compile(r"^\s+[\"']?helm\.sh/hook[\"']?:[^\n]*\btest\b", re.MULTILINE)
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Rendered:
    """The manifests of one rendering, and what makes them differ from what a cluster gets."""

    text: str
    caveat: str | None = None


@dataclass(frozen=True)
class HelmJob:
    """Everything `helm template` needs, already read: no repo access inside the worker."""

    chart: bytes | str  # a .tgz archive's bytes, or a chart folder's path on disk
    label: str  # how messages name the chart, e.g. "oci://ghcr.io/acme/charts/api@1.2.0"
    # (path in the env repo, YAML text), merged in order: the path only names it in errors
    values_files: tuple[tuple[str, str], ...] = ()
    values: tuple[Mapping[str, Any], ...] = ()  # inline values, merged after the files
    set_values: tuple[str, ...] = ()
    set_strings: tuple[str, ...] = ()
    release: str = ""
    namespace: str = "default"
    kube_version: str | None = None
    api_versions: tuple[str, ...] = ()
    include_crds: bool = True
    helm_binary: str | None = None  # a `helm` on PATH to run instead of the SDK
    timeout: float = field(default=TOOL_TIMEOUT)  # for `helm_binary` only


# --- Helm ----------------------------------------------------------------------------------


def helm(job: HelmJob) -> Rendered:
    """The chart rendered as `helm template --skip-tests` would: CRDs first (when asked),
    then every template in path order; NOTES.txt, partials and empty documents left out."""
    values = user_values(job)
    chart = _load(job)
    try:
        caveat = LOOKUP_CAVEAT if _uses_lookup(chart) else None
        if job.helm_binary is not None:
            return Rendered(_helm_binary(job), caveat)
        try:
            rendered = _render(chart, values, job)
            crds = chart.crds if job.include_crds else []
        except helm_python.HelmError as exc:
            raise RenderError(f"Helm could not render {job.label}: {_short(str(exc))}") from None
    finally:
        chart.close()
    documents = [(c["filename"], c["data"]) for c in crds]
    for path, text in sorted(rendered.items()):
        if _is_manifest(path):
            documents += [(path, document) for document in _deployed(text)]
    return Rendered(_join(documents), caveat)


def user_values(job: HelmJob) -> dict[str, Any]:
    """The user's values merged as the helm CLI merges them (`values.Options.MergeValues`):
    files then inline values, later ones winning and maps merged deeply, then `--set` and
    `--set-string` on top. The chart's defaults are coalesced under them by Helm itself."""
    merged: dict[str, Any] = {}
    for path, text in job.values_files:
        try:
            merged = _merge_maps(merged, helm_python.values_from_yaml(text))
        except helm_python.HelmError as exc:
            raise RenderError(
                f"the values file {path} of {job.label} is not a YAML mapping: {exc}"
            ) from None
    for inline in job.values:
        merged = _merge_maps(merged, dict(inline))
    for flag, expressions, parse in (
        ("--set", job.set_values, helm_python.parse_set_string),
        ("--set-string", job.set_strings, helm_python.parse_set_string_values),
    ):
        for expression in expressions:
            try:
                merged = _set_into(merged, parse(expression))
            except helm_python.HelmError as exc:
                raise RenderError(
                    f"the {flag} parameter {expression!r} of {job.label} does not parse: {exc}"
                ) from None
    return merged


def _merge_maps(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's `mergeMaps`: maps merge key by key, anything else (lists too) is replaced."""
    out = dict(base)
    for key, value in top.items():
        below = out.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            out[key] = _merge_maps(below, value)
        else:
            out[key] = value
    return out


def _set_into(base: Any, parsed: Any) -> Any:
    """A parsed `--set` applied on `base` as strvals' `ParseInto` does: maps merge, and
    `list[i]` changes element i of the list already there (the indices it skipped are None)."""
    if isinstance(parsed, Mapping):
        out = dict(base) if isinstance(base, Mapping) else {}
        for key, value in parsed.items():
            out[key] = _set_into(out.get(key), value)
        return out
    if isinstance(parsed, list):
        items = list(base) if isinstance(base, list) else []
        for index, value in enumerate(parsed):
            if index >= len(items):
                items.append(value)
            elif value is not None:
                items[index] = _set_into(items[index], value)
        return items
    return parsed


def _load(job: HelmJob) -> helm_python.Chart:
    try:
        if isinstance(job.chart, bytes):
            return helm_python.Chart.load_archive(job.chart)
        return helm_python.Chart.load(job.chart)
    except helm_python.HelmError as exc:
        message = str(exc).replace(job.chart, "") if isinstance(job.chart, str) else str(exc)
        raise RenderError(f"{job.label} is not a Helm chart Helm can load: {message}") from None


def _render(chart: helm_python.Chart, values: dict[str, Any], job: HelmJob) -> dict[str, str]:
    """The one private call of the SDK: `Chart.render()` has no kube_version or api_versions,
    which `.Capabilities` needs, but the C function under it takes them (helm-python-sdk
    0.2.2; `tests/manifests/test_worker.py` notices if it changes)."""
    options: dict[str, Any] = {
        "name": job.release or DEFAULT_RELEASE,
        "namespace": job.namespace,
        "is_install": True,
        "api_versions": list(job.api_versions),
    }
    if job.kube_version:
        options["kube_version"] = job.kube_version
    text = _native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(options))
    rendered: dict[str, str] = json.loads(text)
    return rendered


def _short(message: str) -> str:
    """Helm repeats every level of a recursion in its message: each run of the same level is
    said once, with how often it repeats, and the rest cut at MESSAGE_CHARS."""
    levels = message.split(": error calling include: ")
    said: list[str] = []
    runs: list[int] = []
    for level in levels:
        if said and level == said[-1]:
            runs[-1] += 1
        else:
            said.append(level)
            runs.append(1)
    message = ": error calling include: ".join(
        level if run == 1 else f"{level} (the same, {run} levels deep: a template includes itself)"
        for level, run in zip(said, runs, strict=True)
    )
    if len(message) <= MESSAGE_CHARS:
        return message
    return f"{message[:MESSAGE_CHARS]} … ({len(message) - MESSAGE_CHARS} more characters)"


def _is_manifest(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name != "NOTES.txt" and not name.startswith("_")


def _deployed(text: str) -> list[str]:
    """A template's documents that a cluster gets: `helm test` pods (hooks `test`,
    `test-success`) are left out as `--skip-tests` does, because Argo CD and Flux do not
    deploy them, and they often carry `randAlphaNum` names that would make every rendering
    differ. Empty documents are left out as Helm does."""
    return [
        document
        for document in _DOCUMENT_START.split(text)
        if document.strip() and not _TEST_HOOK.search(document)
    ]


def _uses_lookup(chart: helm_python.Chart) -> bool:
    return any(_LOOKUP.search(t["data"]) for t in chart.templates)


def _join(documents: Sequence[tuple[str, str]]) -> str:
    """`helm template`'s layout: each document under a `# Source:` line."""
    return "".join(f"---\n# Source: {path}\n{text.strip(chr(10))}\n" for path, text in documents)


def _helm_binary(job: HelmJob) -> str:
    """`helm template` run with the same inputs, for a team that pins its own helm."""
    with tempfile.TemporaryDirectory(prefix="promobot-helm-") as scratch:
        work = Path(scratch)
        if isinstance(job.chart, bytes):
            chart = work / "chart.tgz"
            chart.write_bytes(job.chart)
        else:
            chart = Path(job.chart)
        files = []
        for number, (_, text) in enumerate(job.values_files):
            files.append(work / f"values-{number}.yaml")
            files[-1].write_text(text)
        for number, inline in enumerate(job.values):
            files.append(work / f"inline-{number}.json")  # JSON is YAML, and exact
            files[-1].write_text(json.dumps(inline))
        done = _run_tool(helm_command(job, str(chart), [str(f) for f in files]), work, job.timeout)
        if done.returncode != 0:
            reason = done.stderr.replace(f"{work}/", "").replace(str(chart), job.label).strip()
            raise RenderError(f"helm template of {job.label} failed: {_short(reason)}")
        return done.stdout


def helm_command(job: HelmJob, chart: str, values_paths: Sequence[str]) -> list[str]:
    """The `helm template` command line of a job: the SDK's inputs, flag for flag."""
    assert job.helm_binary is not None
    command = [job.helm_binary, "template", job.release or DEFAULT_RELEASE, chart]
    command += ["--namespace", job.namespace]
    for path in values_paths:
        command += ["--values", path]
    for expression in job.set_values:
        command += ["--set", expression]
    for expression in job.set_strings:
        command += ["--set-string", expression]
    if job.kube_version:
        command += ["--kube-version", job.kube_version]
    for api in job.api_versions:
        command += ["--api-versions", api]
    if job.include_crds:
        command.append("--include-crds")
    command.append("--skip-tests")
    return command


# --- Kustomize -----------------------------------------------------------------------------


def kustomize(
    root: str, path: str, enable_helm: bool, kubectl: str, timeout: float = TOOL_TIMEOUT
) -> Rendered:
    """`kubectl kustomize ROOT/PATH` with the load restrictor on and no plugins of any kind
    (no exec, no containers, no alpha plugins): only what Kustomize itself does."""
    folder = _inside(root, path)
    # kubectl's built-in kustomize, or a standalone `kustomize` binary the settings name
    verb = ["build"] if Path(kubectl).name.startswith("kustomize") else ["kustomize"]
    command = [kubectl, *verb, str(folder), "--load-restrictor=LoadRestrictionsRootOnly"]
    if enable_helm:
        command.append("--enable-helm")
    with tempfile.TemporaryDirectory(prefix="promobot-kustomize-") as scratch:
        done = _run_tool(command, Path(scratch), timeout)
    if done.returncode != 0:
        reason = _short(_relative(done.stderr.strip(), root))
        raise RenderError(f"kustomize could not build {path}: {reason}")
    return Rendered(done.stdout)


def _run_tool(
    command: list[str], scratch: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """A tool run with nothing of the service's: a fresh HOME and TMPDIR, no cluster, no
    credential in its environment, killed if it outlives its timeout or its worker."""
    env = {k: v for k, v in os.environ.items() if k in KEPT_VARIABLES}
    env.update(HOME=str(scratch), TMPDIR=str(scratch), KUBECONFIG=os.devnull)
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            cwd=scratch,
            timeout=timeout,
            preexec_fn=_die_with_parent,
        )
    except subprocess.TimeoutExpired:
        raise RenderTimeout(
            f"{Path(command[0]).name} took longer than {timeout:g} s; raise "
            "PROMOBOT_RENDER_TIMEOUT or make it smaller"
        ) from None
    except OSError as exc:
        raise RenderError(f"{command[0]} cannot run: {exc.strerror}") from None


def _die_with_parent() -> None:
    # A worker killed for its timeout must not leave kubectl or helm running behind it.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _relative(message: str, root: str) -> str:
    for form in {str(Path(root).resolve()), str(Path(root).absolute())}:
        message = message.replace(f"{form}/", "").replace(form, ".")
    return message


# --- plain folders -------------------------------------------------------------------------


def directory(root: str, path: str, recurse: bool) -> Rendered:
    """Every *.yaml, *.yml and *.json of the folder (and of its subfolders with `recurse`), in
    path order, as Argo CD's directory source reads them. A symlink is refused: it could
    point anywhere on this machine."""
    folder = _inside(root, path)
    documents = []
    for file in _manifests(folder, recurse, path.rstrip("/")):
        text = file.read_text(encoding="utf-8", errors="replace")
        if _has_content(text):
            documents.append((f"{path.rstrip('/')}/{file.relative_to(folder).as_posix()}", text))
    return Rendered(_join(documents))


def _manifests(folder: Path, recurse: bool, shown: str) -> Iterator[Path]:
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            raise RenderError(
                f"{shown}/{entry.name} is a symbolic link; promobot renders no links "
                "(they can point outside the repository): replace it with the file"
            )
        if entry.is_dir():
            if recurse:
                yield from _manifests(entry, recurse, f"{shown}/{entry.name}")
        elif entry.suffix in MANIFEST_SUFFIXES:
            yield entry


def _has_content(text: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines())


def _inside(root: str, path: str) -> Path:
    base = Path(root).resolve()
    folder = (base / path).resolve()
    if not folder.is_relative_to(base):
        raise RenderError(f"{path} leaves the repository; name a folder inside it")
    if not folder.is_dir():
        raise RenderError(f"{path} is not a folder of the repository")
    return folder
