"""A Redis server of this test process's own, started on first use and stopped at its exit.

Tests and the processes they start (`promobot serve`, the benchmarks) used fixed databases of
the machine's Redis on 6379 and flushed them: two pytest workers, or two runs at once, then
read and wiped each other's jobs and keys. Each process (each xdist worker) now runs its own
`redis-server` — the same program, nothing kept on disk — on a free port of 127.0.0.1, so a
suite may keep its database numbers and flush them as before.
"""

from __future__ import annotations

import atexit
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import redis

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_server: tuple[subprocess.Popen[bytes], int] | None = None


def _die_with_parent() -> None:
    """In the child: SIGTERM when pytest dies, even by SIGKILL, so no server outlives it."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _start() -> tuple[subprocess.Popen[bytes], int]:
    program = shutil.which("redis-server")
    if program is None:
        raise RuntimeError("redis-server is not installed (scripts/system-deps.sh installs it)")
    workdir = tempfile.mkdtemp(prefix="promobot-redis-")
    for _ in range(5):  # the port is free when asked; another process may take it before us
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        process = subprocess.Popen(
            [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )  # fmt: skip
        conn = redis.Redis(port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + 60  # a loaded machine starts it late, never this late
        while process.poll() is None and time.monotonic() < deadline:
            try:
                pid = conn.info("server")["process_id"]
            except redis.ConnectionError:
                time.sleep(0.02)
                continue
            if pid != process.pid:  # another's server took the port: ours will not start
                break
            atexit.register(_stop, process, workdir)
            return process, port
        process.kill()
        process.wait()
    raise RuntimeError("could not start redis-server on a free port of 127.0.0.1")


def _stop(process: subprocess.Popen[bytes], workdir: str) -> None:
    process.terminate()
    process.wait(10)
    shutil.rmtree(workdir, ignore_errors=True)


def url(db: int, password: str = "") -> str:
    """`redis://…/db` of this process's server (started now if it is not yet running)."""
    global _server
    if _server is None:
        _server = _start()
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{_server[1]}/{db}"
