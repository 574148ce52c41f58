"""Run `promobot serve` / `promobot worker` as real processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

import httpx

from tests.forgesim.server import free_port

PROMOBOT = str(Path(sys.executable).with_name("promobot"))


def wait_for(what: str, check: Callable[[], object], timeout: float = 60) -> object:
    """`check()` once it is true. `timeout` only bounds a wait for what never comes: on a
    loaded machine a process takes many times as long to start or to answer."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


RUNNING: list[Promobot] = []  # every process started, so a failing test cannot leave one behind


def stop_all() -> None:
    while RUNNING:
        RUNNING.pop().kill()


class Promobot:
    """`promobot serve` (or `worker`) in its own process, with PROMOBOT_* settings."""

    def __init__(
        self, settings: Mapping[str, str], command: str = "serve", data: Path | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = command
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PROMOBOT_")},
            "PROMOBOT_LISTEN": f"127.0.0.1:{self.port}",
            "PROMOBOT_LOG_LEVEL": "info",
            **settings,
        }
        self.log_path = (
            data or Path(settings.get("PROMOBOT_DATA_DIR", "."))
        ) / f"{command}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Promobot:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [PROMOBOT, self.command], env=self.env, stdout=log, stderr=log
            )
        RUNNING.append(self)  # a worker left running takes the next test's jobs off the queue
        if self.command == "serve":

            def ready() -> bool:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"promobot serve exited:\n{self.log()}")
                try:
                    return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            wait_for("promobot serve to be ready", ready, timeout=120)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> Promobot:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
