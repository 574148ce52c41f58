"""Files written whole or not at all: under a temporary name in the same folder, then renamed
over the old one, so a crash or a full disk leaves the old file or the new one, never half of
one (and a reader never sees a file being written)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write(path: Path, content: bytes) -> None:
    """`content` as `path`, atomically; the folder is made if missing. No fsync: after a
    power cut a file may be empty, which every reader here treats as not kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
