"""Helm chart repositories: an HTTP(S) repo's `index.yaml`, or chart tags in an OCI registry.

An index can be tens of megabytes (every version of every chart), so it is fetched with a
conditional GET (`If-None-Match` / `If-Modified-Since`) and a 304 reuses what was read last
time (static hosts such as nginx, S3 and GitHub Pages send an ETag or Last-Modified;
ChartMuseum's index handler sends neither, so there every poll reads it whole); only chart
names, version strings and each version's download URLs and digest are kept. Like every
registry answer it is read through `bot.download`, which stops at `MAX_BYTES` after
decompression. It is parsed
with libyaml's base loader: safe (it builds nothing but strings, lists and mappings; aliases
share one object, so nested aliases cost nothing) and typeless, so `version: 1.10` stays
`1.10` instead of becoming the float 1.1.
"""

from __future__ import annotations

import difflib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import yaml

from bot.config import Source
from bot.download import MAX_BYTES, fetch, shown
from bot.errors import RateLimited, Unavailable
from bot.forges.retry import DEFAULT, Policy, retrying
from bot.sources.base import SourceError
from bot.sources.oci import Credentials, ImageRef, OciRegistry

log = logging.getLogger(__name__)


FRESH = 30.0  # seconds an index is used without asking again (one poll, many charts)


@dataclass(frozen=True)
class ChartFile:
    """Where one chart version is downloaded from, as its repository's index says."""

    urls: tuple[str, ...]  # absolute, or relative to the repository's URL
    digest: str | None  # the archive's sha256 in hex, when the index gives one


@dataclass(frozen=True)
class _Index:
    etag: str | None
    modified: str | None
    charts: Mapping[str, tuple[str, ...]]
    checked: float  # monotonic time of the last answer
    files: Mapping[tuple[str, str], ChartFile] = field(default_factory=dict)  # (name, version)


class HelmRepository:
    """Chart versions from Helm repositories; `oci://` repositories go through `OciRegistry`."""

    def __init__(
        self,
        oci: OciRegistry | None = None,
        credentials: Credentials | None = None,
        *,
        client: httpx.Client | None = None,
        retry: Policy = DEFAULT,
        timeout: float = 60.0,
    ) -> None:
        self._owns = (oci is None, client is None)
        self._oci = oci or OciRegistry(retry=retry)
        self._credentials = {h.lower(): c for h, c in (credentials or {}).items()}
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=True)
        self._retry = retry
        self._cache: dict[str, _Index] = {}  # index URL → what it held at its ETag

    # --- the Poller interface ----------------------------------------------------------------

    def versions(self, source: Source) -> list[str]:
        repo, chart = _chart(source)
        if repo.startswith("oci://"):
            # OCI tags cannot hold "+", so Helm pushes 1.2.3+build as the tag 1.2.3_build.
            return [t.replace("_", "+") for t in self._oci.tags(_oci_ref(repo, chart))]
        charts = self.index(repo)
        if chart not in charts:
            close = difflib.get_close_matches(chart, list(charts), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SourceError(f"chart {chart!r} is not in the Helm repository {repo}{hint}")
        return list(charts[chart])

    def pin(self, source: Source, version: str) -> str:
        repo, chart = _chart(source)
        if not repo.startswith("oci://"):
            raise SourceError(
                f"digest: true needs an oci:// chart repository; {repo} serves {chart!r} over HTTP"
            )
        return self._oci.digest(_oci_ref(repo, chart), version.replace("+", "_"))

    # --- HTTP repositories -------------------------------------------------------------------

    def index(self, repo: str) -> Mapping[str, tuple[str, ...]]:
        """Chart name → its versions, from the repository's `index.yaml` (or the cache)."""
        return self._read_index(repo).charts

    def chart_file(self, repo: str, chart: str, version: str) -> ChartFile:
        """Where a chart version of an HTTP repository is downloaded from."""
        found = self._read_index(repo).files.get((chart, version))
        if found is None:
            raise SourceError(f"the Helm repository {repo} has no chart {chart!r} {version}")
        return found

    def _read_index(self, repo: str) -> _Index:
        url = f"{repo.rstrip('/')}/index.yaml"
        cached = self._cache.get(url)
        if cached is not None and time.monotonic() - cached.checked < FRESH:
            return cached  # the same poll asks for each chart of the repository
        headers = {"Accept": "application/x-yaml, text/yaml, */*"}
        if cached is not None and cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached is not None and cached.modified:
            headers["If-Modified-Since"] = cached.modified
        host = urlsplit(url).netloc.lower()
        user = self._credentials.get(host)
        response = retrying(lambda: self._get(url, headers, user), self._retry)
        if response.status_code == 304 and cached is not None:
            log.debug("helm index unchanged", extra={"repo": repo})
            self._cache[url] = replace(cached, checked=time.monotonic())
            return self._cache[url]
        if response.status_code == 404:
            raise SourceError(f"no Helm repository at {repo}: {url} was not found")
        if response.status_code in (401, 403):
            who = f"the credentials of {user[0]!r}" if user else "anonymous access"
            raise SourceError(f"the Helm repository {repo} refused {who}")
        if response.status_code != 200:
            raise SourceError(f"the Helm repository {repo} answered {response.status_code}")
        charts, files = _parse_index(response.content, url)
        etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        self._cache[url] = _Index(etag, modified, charts, time.monotonic(), files)
        return self._cache[url]

    def download(self, repo: str, url: str, limit: int) -> bytes:
        """A chart archive an index names (`url` absolute or relative to the repository), at
        most `limit` bytes. The repository's credentials go only to its own host, as Helm's
        `--pass-credentials` default does: an index may point anywhere."""
        absolute = urljoin(f"{repo.rstrip('/')}/", url)
        scheme, host = urlsplit(absolute).scheme, urlsplit(absolute).netloc.lower()
        if scheme not in ("http", "https"):
            raise SourceError(f"the Helm repository {repo} names a chart at {url!r}, not HTTP(S)")
        same = host == urlsplit(repo).netloc.lower()
        user = self._credentials.get(host) if same else None
        response = retrying(lambda: self._get(absolute, {}, user, limit), self._retry)
        if response.status_code != 200:
            where = shown(response.request.url)
            raise SourceError(
                f"the Helm repository {repo} answered {response.status_code} for {where}"
            )
        return response.content

    def chart_entries(self, source: Source) -> list[dict[str, Any]]:
        """Everything an HTTP repository's index says of the source's chart, one entry per
        version (annotations, sources, home …), for changelogs. The index is read whole: what
        `index()` keeps between polls is only the versions."""
        repo, chart = _chart(source)
        url = f"{repo.rstrip('/')}/index.yaml"
        user = self._credentials.get(urlsplit(url).netloc.lower())
        headers = {"Accept": "application/x-yaml, text/yaml, */*"}
        response = retrying(lambda: self._get(url, headers, user), self._retry)
        if response.status_code != 200:
            raise SourceError(f"the Helm repository {repo} answered {response.status_code}")
        data = _load(response.content, url)
        entries = data.get("entries") if isinstance(data, dict) else None
        items = entries.get(chart) if isinstance(entries, dict) else None
        return [item for item in items or [] if isinstance(item, dict)]

    def chart_metadata(self, source: Source, version: str) -> dict[str, Any]:
        """Chart.yaml of one version of an oci:// chart: Helm pushes it as the config blob,
        in JSON (annotations, sources and home among it)."""
        repo, chart = _chart(source)
        if not repo.startswith("oci://"):
            raise SourceError(f"{repo} is not an oci:// chart repository")
        ref = _oci_ref(repo, chart)
        manifest = self._oci.manifest(ref, version.replace("+", "_"))
        config = manifest.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
            raise SourceError(f"{ref}:{version} has no chart metadata")
        try:
            data = json.loads(self._oci.blob(ref, config["digest"]))
        except ValueError:
            raise SourceError(f"the chart metadata of {ref}:{version} is not JSON") from None
        return data if isinstance(data, dict) else {}

    def _get(
        self,
        url: str,
        headers: Mapping[str, str],
        user: tuple[str, str] | None,
        limit: int = MAX_BYTES,
    ) -> httpx.Response:
        host = urlsplit(url).netloc
        try:
            response = fetch(self._client, "GET", url, headers=headers, auth=user, limit=limit)
        except httpx.TimeoutException as exc:
            raise Unavailable(f"Helm repository {host} timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise Unavailable(
                f"Helm repository {host} is unreachable: {exc or type(exc).__name__}"
            ) from exc
        if response.status_code == 429:
            wait = response.headers.get("Retry-After", "30")
            raise RateLimited(
                f"Helm repository {host} is rate limiting us", float(wait) if wait.isdigit() else 30
            )
        if response.status_code >= 500:
            raise Unavailable(f"Helm repository {host} answered {response.status_code}")
        return response

    def close(self) -> None:
        """Close the clients this made (not those it was given)."""
        if self._owns[0]:
            self._oci.close()
        if self._owns[1]:
            self._client.close()

    def __enter__(self) -> HelmRepository:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _chart(source: Source) -> tuple[str, str]:
    if source.chart is None or source.repo is None:
        raise SourceError(f"{source.label} is not a chart source")
    return source.repo, source.chart


def oci_chart(source: Source) -> ImageRef | None:
    """The OCI repository an `oci://` chart source is read from; None for an HTTP repository."""
    if source.chart is None or source.repo is None or not source.repo.startswith("oci://"):
        return None
    return _oci_ref(source.repo, source.chart)


def _oci_ref(repo: str, chart: str) -> ImageRef:
    return ImageRef.parse(f"{repo.removeprefix('oci://').rstrip('/')}/{chart}")


def _load(content: bytes, url: str) -> Any:
    try:
        return yaml.load(content, Loader=yaml.CBaseLoader)  # safe: only str, list, dict
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SourceError(f"{url} is not valid YAML{where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise SourceError(f"{url} is not valid YAML: {exc}") from None


def _parse_index(
    content: bytes, url: str
) -> tuple[dict[str, tuple[str, ...]], dict[tuple[str, str], ChartFile]]:
    data = _load(content, url)
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise SourceError(f"{url} is not a Helm repository index (it has no 'entries' mapping)")
    charts: dict[str, tuple[str, ...]] = {}
    files: dict[tuple[str, str], ChartFile] = {}
    for name, items in entries.items():
        if not isinstance(items, list):
            continue
        kept = [i for i in items if isinstance(i, dict) and isinstance(i.get("version"), str)]
        charts[name] = tuple(item["version"] for item in kept)
        for item in kept:
            urls = item.get("urls")
            digest = item.get("digest")
            files[(name, item["version"])] = ChartFile(
                tuple(u for u in urls if isinstance(u, str)) if isinstance(urls, list) else (),
                digest.lower() if isinstance(digest, str) and digest else None,
            )
    return charts, files
