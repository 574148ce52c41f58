"""git in one repository, through its plumbing commands: failures become ForgeError, and a
commit's files are read in batches, when they are first asked for."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from bot.errors import ForgeError

BOT_IDENTITY = {
    "GIT_AUTHOR_NAME": "promobot",
    "GIT_AUTHOR_EMAIL": "promobot@localhost",
    "GIT_COMMITTER_NAME": "promobot",
    "GIT_COMMITTER_EMAIL": "promobot@localhost",
}
SYMLINK = "120000"  # git's mode for a symbolic link


class Git:
    """Runs git in one repository and turns its failures into ForgeError."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(self, *args: str, input: bytes | None = None, env: Mapping[str, str] = {}) -> bytes:
        try:
            done = subprocess.run(
                ["git", "-C", str(self.path), *args],
                input=input,
                capture_output=True,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **env},
                check=False,
            )
        except FileNotFoundError:
            raise ForgeError("git is not installed; install it and try again") from None
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip().splitlines()
            detail = message[-1] if message else f"exit code {done.returncode}"
            raise ForgeError(f"git {args[0]} failed in {self.path}: {detail}")
        return done.stdout

    def text(self, *args: str, input: bytes | None = None, env: Mapping[str, str] = {}) -> str:
        return self.run(*args, input=input, env=env).decode().strip()


class Blobs(Mapping[str, bytes]):
    """File contents of one commit, read with one `git cat-file --batch` per batch of paths."""

    def __init__(self, git: Git, blobs: Mapping[str, str]) -> None:
        self._git = git
        self._oids = blobs
        self._cache: dict[str, bytes] = {}

    def prefetch(self, paths: Iterable[str]) -> None:
        missing = [p for p in paths if p in self._oids and p not in self._cache]
        if not missing:
            return
        request = "".join(self._oids[p] + "\n" for p in missing).encode()
        out = self._git.run("cat-file", "--batch", input=request)
        offset = 0
        for path in missing:
            header_end = out.index(b"\n", offset)
            size = int(out[offset:header_end].split()[2])
            start = header_end + 1
            self._cache[path] = out[start : start + size]
            offset = start + size + 1

    def __getitem__(self, path: str) -> bytes:
        if path not in self._cache:
            if path not in self._oids:
                raise KeyError(path)
            self.prefetch([path])
        return self._cache[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._oids)

    def __len__(self) -> int:
        return len(self._oids)
