"""The versions read from the environment repo's files, kept on disk between command-line runs.

A git blob id names a file's content, so the version read from a blob at a selector never
changes: `promobot status` and `plan` parse a file only the first time they meet its content.
The cache is one file in the repository's git directory (`.git/promobot/cache/versions`):

    promobot-versions <FORMAT> <sha256 of the rest>\\n
    {"reads": [read key, …], "blobs": {blob id: {index into reads: version, …}, …}}

It is only ever a shortcut. A file that is missing, too large, of another format, or whose
checksum does not match (cut short, changed by hand) is ignored as a whole, and an entry of the
wrong shape on its own; either way the files are simply read again. It is written to a
temporary file and renamed over the old one, so a reader sees the old cache or the new one,
never half of one; two runs writing at once lose at most the other's additions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Iterable
from pathlib import Path

from bot import atomic

FORMAT = 1  # bump when what a read returns changes, so no old version is taken for a new one
MAX_ENTRIES = 100_000  # versions kept: three full reads of 2,000 apps × 6 envs × 3 components
MAX_BYTES = 16 * 1024 * 1024  # a larger file is not ours: not even read
STALE_SECONDS = 600  # a temporary file this old was left by a run that died while writing
_MAGIC = b"promobot-versions"
_BLOB_ID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?\Z")  # SHA-1 or SHA-256 repositories


class VersionCache:
    """The cache file of one repository; `memo` is what `bot.composition` reads and adds to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.memo: dict[tuple[str, str], str] = _load(path)
        self._stored = len(self.memo)  # readers only add to the memo

    @classmethod
    def of(cls, folder: Path) -> VersionCache:
        """The cache in promobot's folder of a git directory (`.git/promobot`)."""
        return cls(folder / "cache" / "versions")

    @property
    def changed(self) -> bool:
        """Whether versions were added since the cache was read or written."""
        return len(self.memo) != self._stored

    def save(self, used: Iterable[str] = ()) -> None:
        """Write what was added, if anything, keeping the newest entries and those of the blobs
        in `used` (the blobs just read) when there are too many. Never fails: it is a cache."""
        if not self.changed:
            return
        keep = set(used)
        older = [(k, v) for k, v in self.memo.items() if k[0] not in keep]
        newest = [(k, v) for k, v in self.memo.items() if k[0] in keep]
        room = max(MAX_ENTRIES - len(newest), 0)
        entries = (older[len(older) - room :] if len(older) > room else older) + newest
        entries = entries[len(entries) - MAX_ENTRIES :] if len(entries) > MAX_ENTRIES else entries
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write(self.path, _encode(entries))
            _sweep(self.path.parent)
        except OSError:
            return  # a read-only checkout, a full disk: the next run reads the files again
        self.memo = dict(entries)
        self._stored = len(self.memo)


def _encode(entries: list[tuple[tuple[str, str], str]]) -> bytes:
    reads: dict[str, int] = {}
    blobs: dict[str, dict[str, str]] = {}
    for (blob, read), version in entries:
        index = reads.setdefault(read, len(reads))
        blobs.setdefault(blob, {})[str(index)] = version
    body = json.dumps({"reads": list(reads), "blobs": blobs}, separators=(",", ":")).encode()
    header = b"%s %d %s\n" % (_MAGIC, FORMAT, hashlib.sha256(body).hexdigest().encode())
    return header + body


def _load(path: Path) -> dict[tuple[str, str], str]:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)
    except OSError:
        return {}
    header, _, body = raw.partition(b"\n")
    if len(raw) > MAX_BYTES or header.split() != [
        _MAGIC,
        str(FORMAT).encode(),
        hashlib.sha256(body).hexdigest().encode(),
    ]:
        return {}
    try:
        data = json.loads(body)
    except ValueError:  # RecursionError is not one, but a checked body was written by us
        return {}
    if not isinstance(data, dict):
        return {}
    reads, blobs = data.get("reads"), data.get("blobs")
    if not isinstance(reads, list) or not isinstance(blobs, dict):
        return {}
    memo: dict[tuple[str, str], str] = {}
    for blob, versions in blobs.items():
        if not _BLOB_ID.match(blob) or not isinstance(versions, dict):
            continue
        for index, version in versions.items():
            read = _read_at(reads, index)
            if read is not None and isinstance(version, str):
                memo[(blob, read)] = version
    return memo


def _read_at(reads: list[object], index: str) -> str | None:
    if not index.isdigit() or int(index) >= len(reads):
        return None
    read = reads[int(index)]
    return read if isinstance(read, str) else None


def _sweep(folder: Path) -> None:
    """Remove temporary files that runs killed while writing left behind."""
    cutoff = time.time() - STALE_SECONDS
    for tmp in folder.glob("*.tmp"):
        with contextlib.suppress(OSError):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
