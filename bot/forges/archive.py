"""A repository snapshot from a tarball (GitHub tarball, GitLab archive): one API call.

Archives carry paths, modes and contents but no object ids, so the ids of files and folders
(which copy components use as their version) are recomputed exactly as git computes them.
A forge keeps the last few it read (`Archives`), so a repository read again at the same
commit costs no download.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.composition import Snapshot, blob_id
from bot.errors import ForgeError

KEPT = 8  # whole-repo snapshots a forge holds in memory, most recently used first


@dataclass(frozen=True)
class Archive:
    """A repository at a commit, as its archive shows it."""

    snapshot: Snapshot
    # paths that are not plain files (executables and symlinks): a rewrite keeps their mode
    modes: Mapping[str, str]


class Archives:
    """The archives a forge read last, by commit, the least recently used out first; safe
    across threads (a download runs outside the lock: two at once both download)."""

    def __init__(self, size: int = KEPT) -> None:
        self.size = size
        self._kept: OrderedDict[str, Archive] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, commit: str, download: Callable[[], bytes]) -> Archive:
        """The archive of `commit`, downloaded (one API call) unless it is kept."""
        with self._lock:
            if commit in self._kept:
                self._kept.move_to_end(commit)
                return self._kept[commit]
        archive = read_tarball(commit, download())
        with self._lock:
            self._kept[commit] = archive
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return archive

    def peek(self, commit: str) -> Archive | None:
        """The archive of `commit` if it is kept, without counting as a use."""
        with self._lock:
            return self._kept.get(commit)


def _tree_id(entries: dict[str, tuple[str, str]]) -> str:
    """entries: name -> (mode, id); folders sort as if their name ended in '/', as in git."""

    def order(name: str) -> bytes:
        mode = entries[name][0]
        return (name + "/" if mode == "40000" else name).encode()

    body = b"".join(
        f"{entries[name][0]} {name}".encode() + b"\0" + bytes.fromhex(entries[name][1])
        for name in sorted(entries, key=order)
    )
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def read_tarball(commit: str, data: bytes) -> Archive:
    """Read a (gzipped) tarball whose members sit under one top folder, as forges make them."""
    files: dict[str, bytes] = {}
    modes: dict[str, str] = {}
    try:
        _read_members(data, files, modes)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ForgeError(f"the repository archive of {commit[:12]} is unreadable: {exc}") from None
    special = {path: mode for path, mode in modes.items() if mode != "100644"}
    return Archive(_snapshot(commit, files, modes), special)


def _read_members(data: bytes, files: dict[str, bytes], modes: dict[str, str]) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive.getmembers():
            parts = member.name.split("/", 1)
            if len(parts) < 2 or not parts[1]:
                continue  # the top folder itself, or the pax header
            path = parts[1].rstrip("/")
            if member.isfile():
                extracted = archive.extractfile(member)
                files[path] = extracted.read() if extracted else b""
                modes[path] = "100755" if member.mode & 0o111 else "100644"
            elif member.issym():
                files[path] = member.linkname.encode()
                modes[path] = "120000"


def _snapshot(commit: str, files: dict[str, bytes], modes: dict[str, str]) -> Snapshot:
    objects: dict[str, str] = {path: blob_id(content) for path, content in files.items()}
    folders: dict[str, dict[str, tuple[str, str]]] = {"": {}}
    for path in files:
        parent = ""
        for part in path.split("/")[:-1]:
            folder = f"{parent}/{part}" if parent else part
            folders.setdefault(folder, {})
            parent = folder
    for path in files:  # files into their folders
        parent, _, name = path.rpartition("/")
        folders[parent][name] = (modes[path], objects[path])
    for folder in sorted(folders, key=lambda f: f.count("/") if f else -1, reverse=True):
        if not folder:
            continue
        objects[folder] = _tree_id(folders[folder])
        parent, _, name = folder.rpartition("/")
        folders[parent][name] = ("40000", objects[folder])
    return Snapshot(
        commit=commit,
        objects=objects,
        files=files,
        trees=frozenset(f for f in folders if f),
        links=frozenset(path for path, mode in modes.items() if mode == "120000"),
    )
