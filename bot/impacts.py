"""What each promotion changes in the cluster: computed once, when promobot writes the
promotion's commit, for its PR's body and labels, and kept by that commit for the gates.

The diff comes from promobot's own renderings of the promotion (`bot.manifests.renderer`),
never from the PR's text: a PR editor cannot make a CRD change look like an image bump. A
promotion whose diff is not known here (promobot restarted since it wrote the commit) is
computed again from the forge: the commit the PR's signed record names and its base.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

from bot.composition import State
from bot.engine import public
from bot.forges.base import Forge
from bot.manifests.model import IMPACTS, AppDiff, Impact
from bot.manifests.renderer import Renderer
from bot.planner import Promotion

log = logging.getLogger("promobot.impact")

KEPT = 512  # promotions whose diff is kept in memory, by commit


class Impacts:
    def __init__(self, renderer: Renderer, forge: Forge, state: Callable[[str], State]) -> None:
        """`state(sha)`: the environment repo at a commit (the engine's, which keeps the
        newest)."""
        self.renderer = renderer
        self.forge = forge
        self.state = state
        self._known: OrderedDict[str, tuple[AppDiff, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def of_changes(
        self, state: State, promotion: Promotion, changes: Mapping[str, bytes | None]
    ) -> tuple[AppDiff, ...] | None:
        """The diffs of a promotion whose commit writes `changes` on `state`; None when the
        renderer itself failed (a bug: logged; the PR goes on without the section)."""
        try:
            found = tuple(self.renderer.promotion(state, promotion, changes))
        except Exception as exc:  # a diff never stops a promotion
            log.warning("diff failed", extra={"branch": promotion.branch, "error": public(exc)})
            return None
        if promotion.commit is not None:
            self._keep(promotion.commit, found)
        return found

    def of(self, promotion: Promotion) -> tuple[AppDiff, ...] | None:
        """The diffs of a promotion promobot made (its record names its commit and base)."""
        if promotion.commit is None or promotion.base is None:
            return None
        with self._lock:
            known = self._known.get(promotion.commit)
        if known is not None:
            return known
        try:
            before = self.state(promotion.base)
            after_snapshot = self.forge.snapshot(promotion.commit)
        except Exception as exc:
            log.warning("diff unknown", extra={"branch": promotion.branch, "error": public(exc)})
            return None
        changes = _changes(before, after_snapshot.files, after_snapshot.objects)
        return self.of_changes(before, promotion, changes)

    def classes(self, promotion: Promotion) -> tuple[Impact, ...] | None:
        """Every impact class of the promotion, in IMPACTS order; None when any of its apps'
        diff is unknown (then no gate may take it as harmless)."""
        diffs = self.of(promotion)
        if diffs is None or any(not d.known for d in diffs):
            return None
        present = {each for d in diffs for each in d.impact}
        return tuple(each for each in IMPACTS if each in present)

    def _keep(self, commit: str, diffs: tuple[AppDiff, ...]) -> None:
        with self._lock:
            self._known[commit] = diffs
            self._known.move_to_end(commit)
            while len(self._known) > KEPT:
                self._known.popitem(last=False)


def _changes(
    before: State, files: Mapping[str, bytes], objects: Mapping[str, str]
) -> dict[str, bytes | None]:
    """What a commit changed on its base, file by file, by blob id (no content is read but
    of the files that changed)."""
    old = before.snapshot
    changed: dict[str, bytes | None] = {}
    trees = old.trees
    for path, oid in objects.items():
        if path in trees or old.objects.get(path) == oid:
            continue
        if path in files:
            changed[path] = files[path]
    for path in old.objects:
        if path not in trees and path not in objects:
            changed[path] = None
    return changed


def impact_line(diffs: Sequence[AppDiff]) -> str:
    """The impact classes as one short phrase, for logs and notifications."""
    present = {each for d in diffs for each in d.impact}
    unknown = [d.app for d in diffs if not d.known]
    parts: list[str] = [each for each in IMPACTS if each in present]
    if unknown:
        parts.append(f"unknown for {', '.join(unknown)}")
    return ", ".join(parts) or "no rendered change"
