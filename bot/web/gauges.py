"""The delivery gauges on /metrics, kept current without slowing a scrape down.

A scrape that finds the gauges older than `EVERY` starts one refresh in the background and
answers with what they hold (the next scrape has the new figures): computing them reads each
repo's environment histories, which can take seconds the first time, longer than Prometheus
waits. Each repo's `Overview` caches its histories by commit, so a refresh costs the commits
that arrived since the last one, under the repo's own rate-limit budget. A repo that cannot be
read is one log line; the others are still refreshed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from bot import budget
from bot.errors import PromobotError
from bot.web.overview.cache import Overview

log = logging.getLogger(__name__)

EVERY = 300.0  # seconds: delivery figures move by the day; a scrape every 15 s need not ask


class DeliveryGauges:
    """`overviews` yields each served repo's overview and the budget its reads spend."""

    def __init__(
        self,
        overviews: Callable[[], Iterable[tuple[Overview, str]]],
        every: float = EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._overviews = overviews
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._busy = False
        self._last: float | None = None

    def scraped(self) -> threading.Thread | None:
        """A scrape came: the refresh it started, if the gauges were due and none runs."""
        with self._lock:
            due = self._last is None or self._clock() - self._last >= self._every
            if self._busy or not due:
                return None
            self._busy, self._last = True, self._clock()
        thread = threading.Thread(target=self.refresh, name="delivery-gauges", daemon=True)
        thread.start()
        return thread

    def refresh(self) -> None:
        try:
            for seen, key in self._overviews():
                try:
                    with budget.spending(key):
                        seen.delivery(seen.state(), datetime.now(UTC))
                except PromobotError as exc:
                    log.warning(
                        "delivery gauges not refreshed",
                        extra={"repo": seen.repo, "error": str(exc)},
                    )
        finally:
            with self._lock:
                self._busy = False
