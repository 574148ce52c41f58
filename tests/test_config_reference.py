"""config/README.md is generated from the model, and lists every configuration error."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_reference_is_in_step_with_the_model() -> None:
    generated = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config_reference.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert generated == (ROOT / "config" / "README.md").read_text(), (
        "run: .venv/bin/python scripts/config_reference.py > config/README.md"
    )
    assert (
        "| `auto_merge` | boolean or [AutoMerge](#automerge) | `false` | Merge promotion PRs as "
        "soon as every gate passes: true, false, {unless: [crd, data]}" in generated
    )


def test_every_configuration_error_is_in_the_reference() -> None:
    source = "\n".join(path.read_text() for path in sorted((ROOT / "bot" / "config").glob("*.py")))
    reference = (ROOT / "config" / "README.md").read_text()
    patterns = [
        r'raise ValueError\(\s*f?"([^"]+)"',
        r'yield \(?\s*\((?:[^()]|\([^()]*\))*\),\s*f?"([^"]+)"',
        r'Problem\(file, [^,]+, [^,]+, f?"([^"]+)"',
    ]
    messages = [m for p in patterns for m in re.findall(p, source)]
    starts = {re.split(r"[{'(;]", m)[0].strip().rstrip(":,") for m in messages}
    starts = {s for s in starts if len(s) > 6}
    assert len(starts) > 20  # the patterns still find the messages
    missing = sorted(s for s in starts if s not in reference)
    assert not missing, f"add these to scripts/config_reference.md: {missing}"
