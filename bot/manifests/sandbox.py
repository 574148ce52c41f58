"""A pool of long-lived worker processes that render charts and kustomizations nobody reviewed,
each task under a time limit and each worker under a memory limit, so that a template that
loops, recurses or allocates without end costs one worker, never the service.

Workers come from pebble's `ProcessPool`: a task past its timeout has its worker killed and
replaced. Each worker starts from a forkserver (not a fork of the service, with its threads
and sockets), caps its address space (RLIMIT_AS: Go needs about 1 GiB just to start, so the
limit is well above that), dumps no core, and drops every environment variable but a few
harmless ones before it runs anything.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import Any

import pebble

from bot.errors import RenderError, RenderTimeout
from bot.manifests.worker import KEPT_VARIABLES, Rendered

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0  # seconds per task
DEFAULT_MEMORY_MB = 2048  # address space per worker; 512 MiB is too little for Go to start


class Sandbox:
    """`with Sandbox() as box: box.run(worker.helm, job)` — rendering in worker processes."""

    def __init__(
        self, workers: int = 2, timeout: float = DEFAULT_TIMEOUT, memory_mb: int = DEFAULT_MEMORY_MB
    ) -> None:
        self.workers = workers
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._pool = pebble.ProcessPool(
            max_workers=workers,
            initializer=_confine,
            initargs=(memory_mb,),
            context=multiprocessing.get_context("forkserver"),
        )

    def submit(
        self, fn: Callable[..., Rendered], *args: Any, what: str | None = None
    ) -> Future[Rendered]:
        """Start `fn(*args)` in a worker; the future holds its `Rendered`, or a `RenderError`
        that says why not (the worker's own, a timeout, or the worker's death)."""
        label = what or fn.__name__
        done: Future[Rendered] = Future()
        task = self._pool.schedule(fn, args=args, timeout=self.timeout)

        def settle(task: Future[Rendered]) -> None:
            try:
                done.set_result(task.result())
            except BaseException as exc:  # every outcome becomes a result or a RenderError
                done.set_exception(self._translate(exc, label))

        task.add_done_callback(settle)
        return done

    def run(self, fn: Callable[..., Rendered], *args: Any, what: str | None = None) -> Rendered:
        """`fn(*args)` in a worker, waited for; a `RenderError` when it fails."""
        return self.submit(fn, *args, what=what).result()

    def _translate(self, exc: BaseException, label: str) -> BaseException:
        if isinstance(exc, RenderError):
            return exc
        if isinstance(exc, FutureTimeout):
            return RenderTimeout(
                f"{label} took longer than {self.timeout:g} s; raise PROMOBOT_RENDER_TIMEOUT "
                "or fix the chart"
            )
        if isinstance(exc, pebble.ProcessExpired | MemoryError):
            code = getattr(exc, "exitcode", None)
            how = f" (exit code {code})" if code is not None else ""
            return RenderError(
                f"{label} stopped its worker{how}: it ran out of its {self.memory_mb} MiB of "
                "memory or crashed; raise PROMOBOT_RENDER_MEMORY_MB or fix the chart"
            )
        log.error("render worker failed", exc_info=(type(exc), exc, exc.__traceback__))
        return RenderError(f"{label} failed in its worker: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Stop the workers, ending any task still running."""
        self._pool.stop()  # type: ignore[no-untyped-call]  # pebble leaves it unannotated
        self._pool.join()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _confine(memory_mb: int) -> None:
    """Run once in each new worker, before any task."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name in list(os.environ):
        if name not in KEPT_VARIABLES:
            del os.environ[name]
    # Go writes every goroutine's stack when a chart exhausts the memory: pages of it per
    # hostile chart in the service's log. The task's error already says what happened.
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 2)
    os.close(quiet)
