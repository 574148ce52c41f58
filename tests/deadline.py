"""A bound on how long one call may hold the interpreter, enforced by a signal.

Python's `re` backtracks in C without letting another thread run, so a watchdog thread could
not stop a runaway match; it does look for signals as it goes, so SIGALRM can. The bounds
given are seconds where the work takes microseconds: they fail a regression, which would run
for hours, and never a slow or loaded machine.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    def expired(signum: int, frame: FrameType | None) -> None:
        raise AssertionError(f"{what} held the interpreter for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
