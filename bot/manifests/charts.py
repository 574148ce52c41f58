"""Helm chart archives, fetched once and kept on disk by digest: from OCI registries, from
HTTP chart repositories (their `index.yaml`), or built from a folder of the env repo.

Every archive is checked before anything reads it as a chart: its compressed size, what it
inflates to (a tar bomb stops at the cap, read as a stream), how many members it has, and that
every member is a plain file or folder under one top folder, with no absolute path, no `..`,
no link and no device. A chart version's archive is kept at
`cache_dir/charts/sha256/<hex>.tgz` and the (repo, name, version) → digest index beside it, both
written under a temporary name and renamed, so a version is downloaded once, across restarts
too, and a crash never leaves half a file. An OCI chart's manifest is read by its tag, its
archive by the digest the manifest names; renderings of one version at once (the background's
and a promotion's impact) wait for one download rather than each making its own.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from bot import atomic, versions
from bot.config import Source
from bot.errors import RenderError, SourceError
from bot.manifests.model import ChartRef
from bot.sources.helm import HelmRepository
from bot.sources.oci import ImageRef, OciRegistry

HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MAX_ARCHIVE = 20 * 1024 * 1024  # compressed; the largest public charts are a few MiB
MAX_UNPACKED = 100 * 1024 * 1024  # inflated, headers and all
MAX_MEMBERS = 10_000  # files and folders
_MiB = 1024 * 1024


@dataclass(frozen=True)
class ChartArchive:
    """A chart's .tgz, checked, and its digest (`sha256:<hex>`), a key for caches."""

    digest: str
    data: bytes


@dataclass(frozen=True)
class Limits:
    archive: int = MAX_ARCHIVE
    unpacked: int = MAX_UNPACKED
    members: int = MAX_MEMBERS


class Charts:
    """`Charts(cache_dir, oci, repos).get(ChartRef(repo, name, version))` — a chart's archive."""

    def __init__(
        self, cache_dir: Path, oci: OciRegistry, repos: HelmRepository, limits: Limits = Limits()
    ) -> None:
        self._dir = cache_dir / "charts"
        self._oci = oci
        self._repos = repos
        self.limits = limits
        self._lock = threading.Lock()
        self._index = _read_index(self._dir / "index.json")
        self._fetching: dict[str, threading.Lock] = {}  # chart version → its one download

    def get(self, ref: ChartRef) -> ChartArchive:
        """The archive of a chart version, from the disk when it was fetched before."""
        if ref.repo is None or ref.name is None or ref.version is None:
            raise RenderError(
                f"chart {ref.label} names no repository, chart and version; a folder of the "
                "env repo is built with Charts.from_files"
            )
        key = _key(ref.repo, ref.name, ref.version)
        with self._lock:
            gate = self._fetching.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                digest = self._index.get(key)
            if digest is not None and (kept := self._kept(digest)) is not None:
                return kept
            try:
                data = self._download(ref)
            except SourceError as exc:
                raise RenderError(f"chart {ref.label} could not be fetched: {exc}") from None
            archive = ChartArchive(_digest(data), data)
            check_archive(data, ref.label, self.limits)
            self._keep(key, archive)
            return archive

    def resolve(self, ref: ChartRef) -> ChartRef:
        """A version range (a Flux HelmRelease's `version: ">=1.0.0"`) as the newest version
        of the repository that it allows, as Flux picks it; an exact version as it is."""
        if ref.version is None or not versions.is_range(ref.version):
            return ref
        if ref.repo is None or ref.name is None:
            raise RenderError(f"chart {ref.label}: a range needs a repository to pick from")
        try:
            found = self._repos.versions(Source(chart=ref.name, repo=ref.repo))
        except SourceError as exc:
            raise RenderError(f"chart {ref.label}: {exc}") from None
        chosen = versions.select(found, versions.Policy(constraint=ref.version))
        if chosen is None:
            raise RenderError(f"chart {ref.label}: no version of the repository is in the range")
        return replace(ref, version=chosen)

    def from_files(self, files: Mapping[str, bytes], path: str) -> ChartArchive:
        """A folder of the env repo as a chart archive, built the same way every time (sorted,
        fixed times and owners), so that equal folders have equal digests."""
        return build_archive(files, path, self.limits)

    def _download(self, ref: ChartRef) -> bytes:
        assert ref.repo is not None and ref.name is not None and ref.version is not None
        if ref.repo.startswith("oci://"):
            return self._from_oci(ref.repo, ref.name, ref.version, ref.label)
        found = self._repos.chart_file(ref.repo, ref.name, ref.version)
        if not found.urls:
            raise SourceError(f"the index of {ref.repo} gives no URL for {ref.name} {ref.version}")
        data = self._repos.download(ref.repo, found.urls[0], self.limits.archive)
        if found.digest is not None and hashlib.sha256(data).hexdigest() != found.digest:
            raise SourceError(
                f"the archive downloaded does not match the digest {ref.repo}/index.yaml gives; "
                "the repository may be mid-update or tampered with"
            )
        return data

    def _from_oci(self, repo: str, name: str, version: str, label: str) -> bytes:
        image = ImageRef.parse(f"{repo.removeprefix('oci://').rstrip('/')}/{name}")
        # OCI tags cannot hold "+", so Helm pushes 1.2.3+build as the tag 1.2.3_build
        manifest = self._oci.manifest(image, version.replace("+", "_"))
        layers = manifest.get("layers")
        chart = next(
            (
                layer
                for layer in (layers if isinstance(layers, list) else [])
                if isinstance(layer, dict) and layer.get("mediaType") == HELM_CHART_LAYER
            ),
            None,
        )
        if chart is None or not isinstance(chart.get("digest"), str):
            raise SourceError(f"{image}:{version} is not a Helm chart (no chart layer)")
        size = chart.get("size")
        if isinstance(size, int) and size > self.limits.archive:
            raise RenderError(_too_big(label, "is", size, self.limits.archive))
        return self._oci.blob(image, chart["digest"])

    def _kept(self, digest: str) -> ChartArchive | None:
        path = self._path(digest)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if _digest(data) != digest:  # a damaged file is fetched again
            return None
        return ChartArchive(digest, data)

    def _keep(self, key: str, archive: ChartArchive) -> None:
        atomic.write(self._path(archive.digest), archive.data)
        with self._lock:
            self._index[key] = archive.digest
            text = json.dumps(self._index, sort_keys=True, indent=0)
            atomic.write(self._dir / "index.json", text.encode())

    def _path(self, digest: str) -> Path:
        return self._dir / "sha256" / f"{digest.removeprefix('sha256:')}.tgz"


def build_archive(files: Mapping[str, bytes], path: str, limits: Limits = Limits()) -> ChartArchive:
    """The files under `path` as a chart .tgz: one top folder, sorted, times and owners zero."""
    folder = path.strip("/")
    prefix = f"{folder}/" if folder else ""
    chosen = sorted(
        (name[len(prefix) :], data) for name, data in files.items() if name.startswith(prefix)
    )
    if not any(name == "Chart.yaml" for name, _ in chosen):
        raise RenderError(f"{path or '/'} has no Chart.yaml, so it is not a Helm chart")
    top = folder.rsplit("/", 1)[-1] or "chart"
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in chosen:
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as gz:
        gz.write(tar_bytes.getvalue())
    data = packed.getvalue()
    check_archive(data, path, limits)
    return ChartArchive(_digest(data), data)


def check_archive(data: bytes, label: str, limits: Limits = Limits()) -> None:
    """Refuse an archive that is too big, inflates too far, or holds anything but plain files
    and folders under one top folder: a `RenderError` that names the chart and the problem."""
    if len(data) > limits.archive:
        raise RenderError(_too_big(label, "is", len(data), limits.archive))
    stream = _Capped(gzip.GzipFile(fileobj=io.BytesIO(data)), limits.unpacked, label)
    tops: set[str] = set()
    members = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                members += 1
                if members > limits.members:
                    raise RenderError(
                        f"chart {label} holds more than {limits.members} files; not read"
                    )
                tops.add(_problem_free(member, label))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise RenderError(f"chart {label} is not a gzipped tar archive: {exc}") from None
    if len(tops) != 1:
        raise RenderError(
            f"chart {label} has {len(tops)} top folders; a chart archive has exactly one"
        )


def _problem_free(member: tarfile.TarInfo, label: str) -> str:
    """The member's top folder, once it is known to be a plain file or folder inside."""
    name = member.name
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or ".." in parts:
        raise RenderError(f"chart {label} holds {name!r}, a path outside its folder; not read")
    if not (member.isfile() or member.isdir()):
        kind = "a link" if member.issym() or member.islnk() else "a device or pipe"
        raise RenderError(f"chart {label} holds {name!r}, {kind}; charts hold only files")
    return parts[0]


class _Capped(io.RawIOBase):
    """The inflated archive, read as a stream that stops at `limit` bytes."""

    def __init__(self, inner: gzip.GzipFile, limit: int, label: str) -> None:
        self._inner, self._left, self._limit, self._label = inner, limit, limit, label

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        piece = self._inner.read(min(len(buffer), self._left + 1))
        self._left -= len(piece)
        if self._left < 0:
            raise RenderError(_too_big(self._label, "inflates past", None, self._limit))
        buffer[: len(piece)] = piece
        return len(piece)


def _too_big(label: str, how: str, size: int | None, limit: int) -> str:
    shown = f" ({size / _MiB:.1f} MiB)" if size is not None else ""
    return f"chart {label} {how} {limit // _MiB} MiB{shown}, more than promobot reads; not read"


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _key(repo: str, name: str, version: str) -> str:
    return f"{repo.rstrip('/')} {name} {version}"


def _read_index(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: charts are fetched again
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
