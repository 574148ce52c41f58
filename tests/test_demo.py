"""`make demo` as a person and as CI run it: it ends with the overview — served until Ctrl-C in
a terminal, its address and what it says, then done, without one (DEMO_KEEP=0)."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # started first on its pytest-xdist worker
DEMO = ["bash", str(ROOT / "scripts" / "demo.sh")]
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith(("PROMOBOT_", "DEMO_"))},
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # as make demo
}
URL = re.compile(r"^(http://127\.0\.0\.1:\d+)/   (\d+ apps × 4 environments\..*)$", re.MULTILINE)


def test_without_a_terminal_the_demo_shows_the_overview_and_ends() -> None:
    done = subprocess.run(
        DEMO, env=ENV, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = URL.search(done.stdout)
    assert found is not None, done.stdout[-3000:]
    assert "open promotions" in found.group(2)
    # what each environment is made of, and what the chart bump added to dev, in the
    # commands' words and in the service's
    assert "api in dev: Deployment · Ingress api.example.com" in done.stdout
    assert "api in staging: Deployment\n" in done.stdout
    assert re.search(
        r"api in dev: rendered id [0-9a-f]{12}: Deployment 1, Ingress 1, Service 1", done.stdout
    )
    assert "(DEMO_KEEP=0: not kept serving;" in done.stdout
    assert "Done. The repo stays at " in done.stdout
    assert "Press Ctrl-C" not in done.stdout


def test_in_a_terminal_the_demo_serves_the_overview_until_ctrl_c() -> None:
    """It used to end without ever showing the overview, and without a URL."""
    terminal, other_end = pty.openpty()  # standard input is a terminal, as with `make demo`
    demo = subprocess.Popen(
        DEMO, env=ENV, stdin=other_end, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    os.close(other_end)
    assert demo.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "Press Ctrl-C to stop." in line:
                break
        text = "".join(seen)
        assert "Press Ctrl-C to stop." in text, text[-3000:]
        found = URL.search(text)
        assert found is not None, text[-3000:]
        page = httpx.get(found.group(1) + "/", timeout=10)
        assert page.status_code == 200 and "What runs where" in page.text  # still served
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
        rest, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        os.close(terminal)
    assert demo.returncode == 0, rest[-3000:]
    assert "Stopped." in rest and "Done. The repo stays at " in rest
    try:
        httpx.get(found.group(1) + "/", timeout=2)
        served = True
    except httpx.TransportError:
        served = False
    assert not served  # promobot stopped with the demo
