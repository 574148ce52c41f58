"""The one seam to the untyped `kubernetes` client: list a custom resource, in one namespace or
across all of them, through a kubeconfig (its server, its credentials, optionally one of its
contexts), with promobot's retry policy and errors that name the setting to fix.

A list asked through `watched` is then kept current by a watch from its `resourceVersion`, as
client-go's informers keep theirs: Kubernetes lists are not conditional (no ETag, no 304), so
a poll that lists reads every object every time, while a watch carries only what changed. The
first question lists; later ones read what the watch keeps, and cost no request. A watch the
server ends (every `WATCH_SECONDS`) is made again from where it stopped; one that fails (its
version compacted away, 410; the connection lost; nothing heard for `STALE_SECONDS`) makes
the next question list again. Credentials without the `watch` verb are told once in the log,
and those lists are polled.

Nothing here knows which product's resources are read: the caller names the setting that holds
the kubeconfig (`PROMOBOT_FLEET_KUBECONFIG`, `PROMOBOT_KUBECONFIG`), the resource, and what to
grant when RBAC refuses. Errors never carry the client's `str()` of an `ApiException`, which
holds the response headers and body; only the status and the `Status` object's message.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from kubernetes import watch as kube_watch

from bot.errors import RateLimited, SourceError, Unavailable
from bot.forges.retry import DEFAULT, Policy, retrying

log = logging.getLogger(__name__)

WATCH_SECONDS = 300  # how long the server keeps one watch request open before it ends it
STALE_SECONDS = WATCH_SECONDS + 60  # a watch that said nothing for this long is dead


class KubeError(SourceError):
    """A Kubernetes API cannot be read: no kubeconfig, unreachable, failing, refusing."""


class Unauthorized(KubeError):
    """401: the kubeconfig's credentials are not accepted."""


class Forbidden(KubeError):
    """403: the credentials may not list the resource (RBAC)."""


@dataclass(frozen=True)
class Resource:
    """A custom resource's group, version and plural, and the product whose CRDs define it."""

    group: str
    version: str
    plural: str
    product: str  # "Fleet", "Argo Rollouts": what a 404 says is missing

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}"  # as RBAC and kubectl name it


# What to grant when RBAC refuses a list: the resource, and its namespace (None: cluster-wide).
Hint = Callable[[Resource, str | None], str]
# A watch heard an object change: its resource and `namespace/name` (from the watch's thread).
Changed = Callable[[Resource, str], None]


def _grant(resource: Resource, namespace: str | None) -> str:
    where = "that namespace" if namespace is not None else "every namespace (a ClusterRole)"
    return f"grant get, list and watch on {resource.name} in {where}"


class Kube:
    """One kubeconfig context's API server. The kubeconfig is read on first use, so a missing
    or broken one is an error of the poll that needs it, not of the service's start."""

    def __init__(
        self,
        kubeconfig: str,
        context: str = "",
        *,
        label: str,
        setting: str,
        forbidden: Hint = _grant,
        policy: Policy = DEFAULT,
        timeout: float = 30.0,
        on_change: Changed | None = None,
    ) -> None:
        self._kubeconfig = kubeconfig
        self.on_change = on_change  # told of each object a watch hears change
        self._context = context
        self._setting = setting  # the service setting that names the kubeconfig
        self._forbidden = forbidden
        self._policy = policy
        self._timeout = timeout
        self._label = label
        self.source = label  # `label host` once connected
        self._api_client: Any = None
        self._api: Any = None
        self._informers: dict[tuple[Resource, str | None], _Informer] = {}
        self._unwatchable: set[Resource] = set()  # RBAC refused the watch verb: poll these
        self._lock = threading.Lock()

    def list(self, resource: Resource, namespace: str | None) -> tuple[Any, int]:
        """The List object of `resource` in `namespace` (None: in every namespace, one call),
        retried within the policy, and the requests it took."""
        self.connect()
        calls = 0

        def call() -> Any:
            nonlocal calls
            calls += 1
            return self._list(resource, namespace)

        try:
            return retrying(call, self._policy), calls
        except (Unavailable, RateLimited) as exc:
            raise KubeError(str(exc)) from None

    def watched(self, resource: Resource, namespace: str | None) -> tuple[dict[str, Any], int]:
        """What `list` answers (a List: `items`, `metadata.resourceVersion`), kept current by a
        watch: a list call the first time and whenever the watch failed, none while it runs."""
        key = (resource, namespace)
        with self._lock:
            informer = self._informers.get(key)
            if informer is not None and informer.current:
                return informer.as_list(), 0
            if informer is not None:
                informer.stop()
                del self._informers[key]
                if informer.refused:
                    self._unwatchable.add(resource)
                    log.warning(
                        "kubernetes watch refused: polling instead",
                        extra={"source": self.source, "error": informer.failed},
                    )
            body, calls = self.list(resource, namespace)
            if resource in self._unwatchable:
                return body, calls
            version = str(mapping(body, "metadata").get("resourceVersion") or "")
            found = items(body, f"{self.source}: the {resource.name} list")
            self._informers[key] = _Informer(self, resource, namespace, found, version)
            return body, calls

    def stream(self, resource: Resource, namespace: str | None, version: str, watcher: Any) -> Any:
        """The events of one watch request from `version` (kubernetes.watch.Watch.stream)."""
        timeouts = (self._timeout, WATCH_SECONDS + 30)  # connect, and read: the server ends it
        options = {
            "resource_version": version,
            "timeout_seconds": WATCH_SECONDS,
            "allow_watch_bookmarks": True,
            "_request_timeout": timeouts,
        }
        if namespace is None:
            return watcher.stream(
                self._api.list_cluster_custom_object,
                resource.group,
                resource.version,
                resource.plural,
                **options,
            )
        return watcher.stream(
            self._api.list_namespaced_custom_object,
            resource.group,
            resource.version,
            namespace,
            resource.plural,
            **options,
        )

    def close(self) -> None:
        with self._lock:
            for informer in self._informers.values():
                informer.stop()
            self._informers.clear()
        if self._api_client is not None:
            self._api_client.close()

    def connect(self) -> None:
        """Read the kubeconfig (once); `source` then names the server."""
        if self._api is not None:
            return
        configuration = kube_client.Configuration()
        try:
            kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=self._kubeconfig,
                context=self._context or None,
                client_configuration=configuration,
                persist_config=False,
            )
        except (kube_config.ConfigException, OSError, ValueError, TypeError) as exc:
            raise KubeError(
                f"{self._label}: {self._setting} {self._kubeconfig}"
                + (f" (context {self._context})" if self._context else "")
                + f" cannot be used: {first_line(exc)}"
            ) from None
        # the retry policy is ours (bot.forges.retry), as every other source's: urllib3's off
        configuration.retries = False
        self.source = f"{self._label} {configuration.host}"
        self._api_client = kube_client.ApiClient(configuration)
        self._api = kube_client.CustomObjectsApi(self._api_client)

    def _list(self, resource: Resource, namespace: str | None) -> Any:
        scope = namespace if namespace is not None else "all namespaces"
        where = f"{self.source} (list {resource.name} in {scope})"
        try:
            if namespace is None:
                return self._api.list_cluster_custom_object(
                    resource.group,
                    resource.version,
                    resource.plural,
                    _request_timeout=self._timeout,
                )
            return self._api.list_namespaced_custom_object(
                resource.group,
                resource.version,
                namespace,
                resource.plural,
                _request_timeout=self._timeout,
            )
        except kube_client.ApiException as exc:
            raise self._api_error(where, resource, namespace, exc) from None
        except urllib3.exceptions.NewConnectionError as exc:  # a ConnectTimeoutError subclass
            raise Unavailable(f"{where}: cannot connect ({first_line(exc)})") from None
        except urllib3.exceptions.TimeoutError:
            raise Unavailable(f"{where}: timed out") from None
        except urllib3.exceptions.HTTPError as exc:
            raise Unavailable(f"{where}: cannot connect ({type(exc).__name__})") from None

    def _api_error(
        self, where: str, resource: Resource, namespace: str | None, exc: Any
    ) -> Exception:
        """An ApiException → ours: the status and the Status object's message only."""
        status = int(getattr(exc, "status", 0) or 0)
        said = status_message(getattr(exc, "body", None)) or str(getattr(exc, "reason", "") or "")
        if status == 0:  # the client raises ApiException for its own failures too
            return Unavailable(f"{where}: {said or 'no answer'}")
        if status == 401:
            return Unauthorized(
                f"{where}: 401 {said}; check the credentials of {self._setting} "
                f"(a token or client certificate that may list {resource.name})"
            )
        if status == 403:
            return Forbidden(f"{where}: 403 {said}; {self._forbidden(resource, namespace)}")
        if status == 429:
            headers = getattr(exc, "headers", None) or {}
            retry_after = str(headers.get("Retry-After", ""))
            return RateLimited(
                f"{where}: 429 {said}", float(retry_after) if retry_after.isdigit() else 1.0
            )
        if status >= 500:
            return Unavailable(f"{where}: {status} {said}")
        if status == 404:
            return KubeError(
                f"{where}: 404 {said}; is {resource.product} installed (its CRDs) on this cluster?"
            )
        return KubeError(f"{where}: {status} {said}")


def items(body: Any, what: str) -> list[dict[str, Any]]:
    """The objects of a List, or an error naming `what` was listed."""
    found = body.get("items") if isinstance(body, dict) else None
    if not isinstance(found, list):
        raise KubeError(f"{what} has no items")
    return [item for item in found if isinstance(item, dict)]


def status_message(body: Any) -> str:
    """A Kubernetes `Status` object's message, or the start of the body."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body:
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])[:300]
    return body.strip()[:200]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


class _Informer:
    """One list kept current by a watch from its `resourceVersion`, in a thread of its own (an
    informer, without client-go's indexes and resync). It never lists: when its watch fails
    it says so (`current` turns false) and `Kube.watched` lists and starts a new one."""

    def __init__(
        self,
        kube: Kube,
        resource: Resource,
        namespace: str | None,
        found: list[dict[str, Any]],
        version: str,
    ) -> None:
        self._kube, self._resource, self._namespace = kube, resource, namespace
        self._objects = {_key(obj): obj for obj in found}
        self._version = version
        self._heard = time.monotonic()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._watcher = kube_watch.Watch()  # type: ignore[no-untyped-call]
        self.failed: str | None = None
        self.refused = False  # 403: the credentials may list but not watch
        scope = namespace or "all namespaces"
        self._thread = threading.Thread(
            target=self._run, name=f"watch {resource.name} in {scope}", daemon=True
        )
        self._thread.start()

    @property
    def current(self) -> bool:
        heard = time.monotonic() - self._heard < STALE_SECONDS
        return self.failed is None and self._thread.is_alive() and heard

    def as_list(self) -> dict[str, Any]:
        with self._lock:
            listed = [self._objects[key] for key in sorted(self._objects)]
            return {"metadata": {"resourceVersion": self._version}, "items": listed}

    def stop(self) -> None:
        self._stopped.set()
        self._watcher.stop()  # type: ignore[no-untyped-call]

    def _run(self) -> None:
        where = f"{self._kube.source} (watch {self._resource.name})"
        while not self._stopped.is_set():
            try:
                stream = self._kube.stream(
                    self._resource, self._namespace, self._version, self._watcher
                )
                for event in stream:
                    self._apply(event)
                    if self._stopped.is_set():
                        return
                self._heard = time.monotonic()  # the server ended it on time: go on from here
            except kube_client.ApiException as exc:
                status = int(getattr(exc, "status", 0) or 0)
                self.refused = status == 403
                self.failed = f"{where}: {status} {getattr(exc, 'reason', '') or ''}".strip()
                return
            except Exception as exc:  # whatever ends the stream, the next question lists
                self.failed = f"{where}: {type(exc).__name__}: {first_line(exc)}"
                return

    def _apply(self, event: Any) -> None:
        kind = event.get("type") if isinstance(event, dict) else None
        obj = event.get("raw_object") if isinstance(event, dict) else None
        if not isinstance(obj, dict):
            return
        version = mapping(obj, "metadata").get("resourceVersion")
        with self._lock:
            if kind in ("ADDED", "MODIFIED"):
                self._objects[_key(obj)] = obj
            elif kind == "DELETED":
                self._objects.pop(_key(obj), None)
            if isinstance(version, str) and version:
                self._version = version  # BOOKMARK events carry only this
        self._heard = time.monotonic()
        told = self._kube.on_change
        if told is not None and kind in ("ADDED", "MODIFIED", "DELETED"):
            try:
                told(self._resource, _key(obj))
            except Exception:  # whoever listens, the watch goes on
                log.exception("a watched change could not be told", extra={"key": _key(obj)})


def _key(obj: dict[str, Any]) -> str:
    meta = mapping(obj, "metadata")
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


# --- reading the untyped objects the client gives (a field may be absent or of another type) --


def mapping(data: Any, key: str) -> dict[str, Any]:
    """`data[key]` if it is an object, else an empty one."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def integer(value: Any) -> int:
    """`value` if it is an integer (not a bool), else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def timestamp(value: Any) -> datetime | None:
    """An RFC 3339 time (`2026-11-30T11:00:00Z`), or None; a YAML fixture's datetime as is."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
