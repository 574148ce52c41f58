"""Renderings kept on disk by the hash of everything they depend on, and each repo's latest
sheet.

A rendering's key covers its inputs (chart digest, values blobs, Kustomize tree ids, the
recipe, the tools' versions), so a kept one is never stale: an unchanged cell is never
rendered twice, across restarts too. What is kept was redacted before it got here (no Secret's
data, ever): the manifests as YAML, and the inventory as JSON so that a warm sheet reads no
YAML. A repo's sheet (every cell at its latest rendered commit) is one file, so a page reads
one file. Every file is written whole under a temporary name and then renamed: a crash leaves
the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot import atomic
from bot.errors import RenderError
from bot.manifests.model import Cell, Highlight, Inventory, Object, Sheet

FORMAT = 2  # bumped when what is kept changes shape: older entries are then not read
KEY_BYTES = 32


@dataclass(frozen=True)
class Kept:
    """One rendering: its inventory and manifests, or the lasting reason it failed."""

    inventory: Inventory | None
    manifests: str  # redacted YAML, documents in rendering order; "" for an error or unread
    caveat: str | None = None
    error: str | None = None


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._sheets: dict[str, tuple[int, Sheet]] = {}  # repo → (file's mtime, its sheet)
        self._key: bytes | None = None

    def secret_key(self) -> bytes:
        """The data dir's own random key, which Secret values are replaced by an HMAC under
        (so a changed value shows as changed, and nobody without the key can test a guess
        of it against what is kept); made on first use, readable by this user only."""
        if self._key is None:
            path = self.root / "render-key"
            path.parent.mkdir(parents=True, exist_ok=True)
            try:  # made once, by whichever process comes first: the others read it
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as out:
                    out.write(os.urandom(KEY_BYTES))
            found = b""
            for _ in range(50):  # a process that made it a moment ago may not have written it
                found = path.read_bytes()
                if len(found) == KEY_BYTES:
                    break
                time.sleep(0.01)
            if len(found) != KEY_BYTES:
                raise RenderError(f"{path} is not a key promobot made; remove it")
            self._key = found
        return self._key

    def get(self, key: str) -> Kept | None:
        """What was kept under `key`, without its manifests (`manifests` reads those): a
        warm sheet reads one small file per cell."""
        meta = _read_json(self._path(key, "json"))
        if meta is None or meta.get("format") != FORMAT:
            return None
        return Kept(
            inventory=inventory_from_json(meta["inventory"]) if meta.get("inventory") else None,
            manifests="",
            caveat=meta.get("caveat"),
            error=meta.get("error"),
        )

    def manifests(self, key: str) -> str | None:
        """The redacted manifests kept under `key`, if any."""
        try:
            return self._path(key, "yaml").read_text()
        except OSError:
            return None

    def put(self, key: str, kept: Kept) -> None:
        if kept.error is None:  # the manifests first: a meta file always has its pair
            atomic.write(self._path(key, "yaml"), kept.manifests.encode())
        meta = {
            "format": FORMAT,
            "inventory": inventory_to_json(kept.inventory) if kept.inventory else None,
            "caveat": kept.caveat,
            "error": kept.error,
        }
        atomic.write(self._path(key, "json"), json.dumps(meta, separators=(",", ":")).encode())

    def sheet(self, repo: str) -> Sheet | None:
        """The repo's latest sheet; read again only when its file changed (another process
        renders), so a page view costs a stat."""
        path = self._sheet_path(repo)
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return None
        known = self._sheets.get(repo)
        if known is not None and known[0] == stamp:
            return known[1]
        try:
            sheet = _sheet_from_text(path.read_bytes())
        except OSError:
            return None
        if sheet is None:
            return None
        self._sheets[repo] = (stamp, sheet)
        return sheet

    def put_sheet(self, repo: str, sheet: Sheet) -> None:
        atomic.write(self._sheet_path(repo), _sheet_text(sheet).encode())

    def _path(self, key: str, suffix: str) -> Path:
        return self.root / "renders" / key[:2] / f"{key}.{suffix}"

    def _sheet_path(self, repo: str) -> Path:
        # by a hash of the repo's name: a name is never a path here
        name = hashlib.sha256(repo.encode()).hexdigest()[:24]
        return self.root / "sheets" / f"{name}.json"


class Remembering(Protocol):
    """A store every process of a deployment shares (the queue's: SQLite or Redis)."""

    def remember(self, name: str, value: str) -> None: ...

    def recall(self, name: str) -> str | None: ...


class Sheets(Protocol):
    """Where a repo's latest sheet is kept for the pages to read."""

    def get(self) -> Sheet | None: ...

    def put(self, sheet: Sheet) -> None: ...


class FileSheets:
    """A repo's sheet as a file of the data dir: one process, or a shared volume."""

    def __init__(self, store: Store, repo: str) -> None:
        self.store = store
        self.repo = repo

    def get(self) -> Sheet | None:
        return self.store.sheet(self.repo)

    def put(self, sheet: Sheet) -> None:
        self.store.put_sheet(self.repo, sheet)


class SharedSheets:
    """A repo's sheet in the queue's store, so that every process of a deployment — the web
    pods as well as the workers that render — reads the one rendered last. A small stamp is
    written after the sheet and read first: a page view parses the sheet again only when it
    changed."""

    SHEET = "render.sheet"
    STAMP = "render.sheet.stamp"

    def __init__(self, shared: Remembering) -> None:
        self.shared = shared
        self._known: tuple[str, Sheet] | None = None

    def get(self) -> Sheet | None:
        stamp = self.shared.recall(self.STAMP)
        if stamp is None:
            return None
        known = self._known
        if known is not None and known[0] == stamp:
            return known[1]
        text = self.shared.recall(self.SHEET)
        sheet = _sheet_from_text(text) if text is not None else None
        if sheet is not None:
            self._known = (stamp, sheet)
        return sheet

    def put(self, sheet: Sheet) -> None:
        text = _sheet_text(sheet)
        self.shared.remember(self.SHEET, text)
        self.shared.remember(self.STAMP, hashlib.sha256(text.encode()).hexdigest()[:16])


def _sheet_text(sheet: Sheet) -> str:
    data = {
        "format": FORMAT,
        "commit": sheet.commit,
        "pending": sheet.pending,
        "cells": [cell.to_json() for cell in sheet.cells.values()],
    }
    return json.dumps(data, separators=(",", ":"))


def _sheet_from_text(text: str | bytes) -> Sheet | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    cells = {(c["app"], c["env"]): cell_from_json(c) for c in data["cells"]}
    return Sheet(commit=data["commit"], cells=cells, pending=int(data.get("pending", 0)))


def inventory_to_json(inventory: Inventory) -> dict[str, Any]:
    return {
        "rendered_id": inventory.rendered_id,
        "objects": [o.to_json() for o in inventory.objects],
        "highlights": [h.to_json() for h in inventory.highlights],
    }


def inventory_from_json(data: Mapping[str, Any]) -> Inventory:
    return Inventory(
        objects=tuple(
            Object(
                api_version=o["apiVersion"],
                kind=o["kind"],
                namespace=o["namespace"],
                name=o["name"],
                images=tuple(o.get("images", ())),
            )
            for o in data["objects"]
        ),
        highlights=tuple(
            Highlight(what=h["class"], kind=h["kind"], name=h["name"], detail=h["detail"])
            for h in data["highlights"]
        ),
        rendered_id=data["rendered_id"],
    )


def cell_from_json(data: Mapping[str, Any]) -> Cell:
    inventory = None
    if data.get("rendered_id") is not None:
        inventory = inventory_from_json(data)
    return Cell(
        app=data["app"],
        env=data["env"],
        origin=data["origin"],
        inventory=inventory,
        error=data.get("error"),
        caveat=data.get("caveat"),
        warnings=tuple(data.get("warnings", ())),
    )


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None  # missing or unreadable: as if never kept
    return data if isinstance(data, dict) else None
