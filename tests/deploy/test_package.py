"""The wheel the image installs: it builds, installs in a clean venv, and runs."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # started first on its pytest-xdist worker


def test_the_wheel_builds_installs_cleanly_and_runs(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("promobot-*.whl")
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    pip = env / "bin" / "pip"
    subprocess.run([str(pip), "install", "-q", str(wheel)], check=True, capture_output=True)
    promobot = env / "bin" / "promobot"
    version = subprocess.run(
        [str(promobot), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("promobot, version 0.")
    serve = subprocess.run(
        [str(promobot), "serve", "--help"], capture_output=True, text=True, check=True
    )
    assert "Run the bot" in serve.stdout
    # only the product is packaged: not the tests, not the benchmarks
    listing = subprocess.run(
        [sys.executable, "-m", "zipfile", "-l", str(wheel)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (
        "bot/cli/__init__.py" in listing
        and "tests/" not in listing
        and "benchmarks/" not in listing
    )
    assert "bot/web/templates/index.html" in listing and "bot/web/static/style.css" in listing
