"""The service's rendering: a thread of its own that renders the repo's newest state after each
change, so rendering never delays a webhook's answer or a promotion PR, and keeps the sheet the
pages, the API and `/status` read."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.composition import State
from bot.manifests.model import Sheet
from bot.manifests.renderer import Renderer
from bot.manifests.store import FileSheets, Sheets

log = logging.getLogger("promobot.render")

RETRY_SECONDS = 60.0  # a commit whose cells failed in a way that may pass is rendered again


class Background:
    """Renders a repo's latest state in a thread of its own, after each change, so rendering
    never delays a webhook's answer or a promotion PR; the sheet it keeps is what the pages
    show. A newer state asked for while one renders is rendered next (the ones between are
    skipped: only the latest matters)."""

    def __init__(
        self,
        renderer: Renderer,
        repo: str,
        clock: Callable[[], float] = time.monotonic,
        sheets: Sheets | None = None,
    ) -> None:
        """`sheets`: where the pages read the sheet (the service: the queue's store, which
        every process shares); by default a file of the renderer's data dir."""
        self.renderer = renderer
        self.repo = repo
        self.clock = clock
        self.sheets = sheets or FileSheets(renderer.store, repo)
        self._wanted: State | None = None
        self._done: str | None = None  # the commit of the last sheet kept, wholly rendered
        # a commit some of whose cells failed in a way that may pass, and when to try again
        self._unsure: tuple[str, float] | None = None
        self._busy = False
        self._lock = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def want(self, state: State | None) -> None:
        """Render `state` unless its commit is the one already rendered (cheap: call it after
        every job)."""
        if state is None:
            return
        with self._lock:
            commit = state.snapshot.commit
            wanted = self._wanted.snapshot.commit if self._wanted is not None else None
            if commit in (self._done, wanted):
                return
            unsure, retry_at = self._unsure or ("", 0.0)
            if unsure == commit and self.clock() < retry_at:
                return
            self._wanted = state
            self._lock.notify()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name=f"render-{self.repo}", daemon=True
                )
                self._thread.start()

    def sheet(self) -> Sheet | None:
        return self.sheets.get()

    def wait(self, timeout: float) -> bool:
        """Until nothing is left to render (tests, `make demo`); whether it got there."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._wanted is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()

    def _loop(self) -> None:
        while True:
            with self._lock:
                while self._wanted is None and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                state, self._wanted = self._wanted, None
                self._busy = True
            assert state is not None
            whole = False
            try:
                self._render(state)
                whole = self.renderer.unsure == 0
            except Exception:  # a bug must not end the thread: the next change tries again
                log.exception("rendering failed", extra={"commit": state.snapshot.commit})
            finally:
                with self._lock:
                    self._busy = False
                    if whole:
                        self._done, self._unsure = state.snapshot.commit, None
                    else:  # a registry that was down: asked again after the next job, at most
                        # once a RETRY_SECONDS, not at every job
                        self._unsure = (state.snapshot.commit, self.clock() + RETRY_SECONDS)
                    self._lock.notify_all()

    def _render(self, state: State) -> None:
        started = time.perf_counter()
        previous = self.sheets.get()
        if previous is not None and previous.commit != state.snapshot.commit:
            # the pages say "rendering…" for what is new, and keep showing the rest
            self.sheets.put(Sheet(previous.commit, previous.cells, pending=len(previous.cells)))
        sheet = self.renderer.sheet(state)
        self.sheets.put(sheet)
        log.info(
            "rendered",
            extra={
                "commit": state.snapshot.commit[:12],
                "cells": len(sheet.cells),
                "errors": sum(1 for c in sheet.cells.values() if c.error),
                "seconds": round(time.perf_counter() - started, 2),
            },
        )
