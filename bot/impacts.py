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
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout

from bot.composition import State
from bot.engine import public, read_state
from bot.forges.base import Forge
from bot.manifests.model import IMPACTS, AppDiff, Impact
from bot.manifests.renderer import Renderer
from bot.planner import Promotion

log = logging.getLogger("promobot.impact")

KEPT = 512  # promotions whose diff is kept in memory, by commit
RETRY_SECONDS = 60.0  # a diff with an app that could not be rendered is computed again after
BUDGET_SECONDS = 10.0  # what a PR waits for its diff; later, the next sync writes it in


class Impacts:
    def __init__(
        self,
        renderer: Renderer,
        forge: Forge,
        latest: Callable[[], State | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`latest()`: the environment repo as the engine read it last (none read here)."""
        self.renderer = renderer
        self.forge = forge
        self.latest = latest
        self.clock = clock
        self.budget = BUDGET_SECONDS
        self._known: OrderedDict[str, tuple[tuple[AppDiff, ...], float]] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="impact")

    def of_changes(
        self, state: State, promotion: Promotion, changes: Mapping[str, bytes | None]
    ) -> tuple[AppDiff, ...] | None:
        """The diffs of a promotion whose commit writes `changes` on `state`, if they are
        ready within the budget (a PR never waits longer: it opens, and the computation goes
        on, kept by the commit for the next sync to write in); None when not, or when the
        renderer itself failed (a bug: logged)."""
        future = self._pool.submit(self._compute, state, promotion, changes)
        try:
            return future.result(timeout=self.budget)
        except FuturesTimeout:
            log.info("diff later", extra={"branch": promotion.branch})
            return None

    def known(self, promotion: Promotion) -> tuple[AppDiff, ...] | None:
        """The diffs kept for the promotion's commit, computing nothing."""
        if promotion.commit is None:
            return None
        with self._lock:
            found = self._known.get(promotion.commit)
        if found is None:
            return None
        diffs, kept_at = found
        if any(not d.known for d in diffs) and self.clock() - kept_at > RETRY_SECONDS:
            return None  # a registry that was down may answer now
        return diffs

    def of(self, promotion: Promotion) -> tuple[AppDiff, ...] | None:
        """The diffs of a promotion promobot made (its record names its commit and base)."""
        if promotion.commit is None or promotion.base is None:
            return None
        known = self.known(promotion)
        if known is not None:
            return known
        latest = self.latest()
        if latest is not None and not self._renders(latest, promotion):
            self._keep(promotion.commit, ())  # nothing renders here: no forge call to find out
            return ()
        try:
            if latest is not None and latest.snapshot.commit == promotion.base:
                before = latest
            else:  # read here, never through the engine, whose newest state it would replace
                before = read_state(self.forge, promotion.base)
            after = self.forge.snapshot(promotion.commit)
        except Exception as exc:
            log.warning("diff unknown", extra={"branch": promotion.branch, "error": public(exc)})
            return None
        return self._compute(before, promotion, _changes(before, after.files, after.objects))

    def _compute(
        self, state: State, promotion: Promotion, changes: Mapping[str, bytes | None]
    ) -> tuple[AppDiff, ...] | None:
        """The diffs; `()` when none of the promotion's apps is rendered here at all (no
        `render:` and nothing found that deploys them, or `render: none`): then the PR says
        nothing of the cluster, rather than "unknown" for a repo that renders nothing."""
        try:
            if not self._renders(state, promotion):
                found: tuple[AppDiff, ...] = ()
            else:
                found = tuple(self.renderer.promotion(state, promotion, changes))
        except Exception as exc:  # a diff never stops a promotion
            log.warning("diff failed", extra={"branch": promotion.branch, "error": public(exc)})
            return None
        if promotion.commit is not None:
            self._keep(promotion.commit, found)
        return found

    def _renders(self, state: State, promotion: Promotion) -> bool:
        env = promotion.env
        return any(self.renderer.renders(state, plan.app, env) for plan in promotion.apps)

    def _keep(self, commit: str, found: tuple[AppDiff, ...]) -> None:
        with self._lock:
            self._known[commit] = (found, self.clock())
            self._known.move_to_end(commit)
            while len(self._known) > KEPT:
                self._known.popitem(last=False)

    def classes(self, promotion: Promotion) -> tuple[Impact, ...] | None:
        """Every impact class of the promotion, in IMPACTS order; None when any of its apps'
        diff is unknown (then no gate may take it as harmless)."""
        diffs = self.of(promotion)
        if diffs is None or not diffs or any(not d.known for d in diffs):
            return None
        present = {each for d in diffs for each in d.impact}
        return tuple(each for each in IMPACTS if each in present)


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
