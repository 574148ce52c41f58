"""The overview of several repos: a home page that lists them, and each repo's own pages and API
under its name.

    /                                  every repo served: open and blocked promotions, problems
    /repos/{owner}/{name}/…            that repo's overview (the pages of `bot.web.pages`)
    /api/v1/repos/{owner}/{name}/…     that repo's API (`bot.web.api`: status, apps, envs)

Repo names contain slashes (GitLab subgroups: `group/sub/project`), so a path is matched
against the repos served, the longest name first; each repo's pages are a small starlette app
of their own, built the first time they are asked for, to which the rest of the path is passed
with the repo's prefix as its root path (which every link on the pages starts with).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bot import budget
from bot.errors import PromobotError
from bot.fleet import Fleet
from bot.service import Service
from bot.web.access import ReadAccess
from bot.web.api import Api, unauthorized
from bot.web.overview.cache import Overview
from bot.web.overview.forge_links import Links
from bot.web.pages import Pages, Renderer, Site, label

log = logging.getLogger("promobot.web")


@dataclass(frozen=True)
class Row:
    name: str  # as in URLs
    open: int | None  # None: not known (the repo cannot be read)
    blocked: int | None
    problem: str | None


class RepoApps:
    """Each served repo's overview cache, pages app and API app, made on first use."""

    def __init__(self, fleet: Fleet, read: ReadAccess) -> None:
        self.fleet = fleet
        self.read = read
        self._lock = threading.Lock()
        self._overviews: dict[str, Overview] = {}
        self._apps: dict[tuple[str, str], ASGIApp] = {}

    def names(self) -> dict[str, str]:
        """URL name -> repo: the repo's name; a local checkout's folder name (its path on the
        server stays off the pages), with `-2`, `-3`… should two folders share a name."""
        found: dict[str, str] = {}
        for repo in self.fleet.served():
            if self.fleet.settings.forge != "local":
                found[repo] = repo
                continue
            base = label(self.fleet.settings.model_copy(update={"repo": repo}))
            name, n = base, 1
            while name in found:
                n += 1
                name = f"{base}-{n}"
            found[name] = repo
        return found

    def overview(self, context: Service) -> Overview:
        with self._lock:
            repo = context.settings.repo
            if repo not in self._overviews:
                # as its URL names it: two local folders of one name are told apart there
                name = next((n for n, r in self.names().items() if r == repo), repo)
                self._overviews[repo] = Overview(
                    context.engine,
                    live=context.live,
                    deployed=context.gatekeeper.deployed,
                    repo=name,
                    inventory=context.rendering.sheet if context.rendering else None,
                )
                context.after_job.append(self._overviews[repo].invalidate)
            return self._overviews[repo]

    def overviews(self) -> list[tuple[Overview, str]]:
        """Every served repo's overview and the budget its reads spend (made on first use)."""
        found = []
        for repo in self.fleet.served():
            context = self.fleet.context(repo)
            if context is not None:
                found.append((self.overview(context), context.budget_key))
        return found

    def invalidate(self) -> None:
        with self._lock:
            for seen in self._overviews.values():
                seen.invalidate()

    def app(self, context: Service, kind: str) -> ASGIApp:
        seen = self.overview(context)
        key = (context.settings.repo, kind)
        with self._lock:
            if key not in self._apps:
                site = Site.of(context.settings, context.budget_key)
                diffs = context.impacts.of if context.impacts is not None else None
                pages = Pages(seen, site, self.read, diffs)
                routes = (
                    pages.routes()
                    if kind == "pages"
                    else Api(seen, self.read, "", audit=context.queue).routes()
                )
                handlers = {404: pages.not_found}
                self._apps[key] = Starlette(routes=routes, exception_handlers=handlers)
            return self._apps[key]

    def rows(self) -> list[Row]:
        rows = []
        for name, repo in self.names().items():
            context = self.fleet.context(repo)
            if context is None:
                continue
            relevance = context.intake.relevance
            problem = relevance.problems[0] if relevance.problems else None
            try:
                with budget.spending(context.budget_key):
                    prs, _ = self.overview(context).promotions()
            except PromobotError as exc:
                rows.append(Row(name, None, None, problem or str(exc)))
                continue
            blocked = sum(p.state == "fail" for p in prs)
            rows.append(Row(name, len(prs), blocked, problem))
        return rows


class RepoRouter:
    """ASGI: `/<repo name>/rest` (after its mount) to that repo's pages or API app."""

    def __init__(
        self,
        fleet: Fleet,
        apps: RepoApps,
        kind: str,
        not_found: Callable[[Request, Exception], Awaitable[Response]],
    ) -> None:
        self.fleet = fleet
        self.apps = apps
        self.kind = kind
        self.not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, mount = scope["path"], scope.get("root_path", "")
        rest = path.removeprefix(mount).lstrip("/")  # starlette leaves the mount's prefix in
        names = self.apps.names()
        name = next(
            (
                n
                for n in sorted(names, key=len, reverse=True)
                if rest.lower() == n.lower() or rest.lower().startswith(n.lower() + "/")
            ),
            None,
        )
        context = self.fleet.context(names[name]) if name is not None else None
        if name is None or context is None:
            request = Request(scope, receive)
            answer = await self.not_found(request, HTTPException(404, "Not Found"))
            await answer(scope, receive, send)
            return
        outer = mount.removesuffix("/repos").removesuffix("/api/v1/repos")
        prefix = rest[: len(name)]
        child = dict(scope)
        child["root_path"] = f"{mount}/{prefix}"
        child["promobot.home"] = outer
        child["promobot.api_root"] = f"{outer}/api/v1/repos/{prefix}"
        app = self.apps.app(context, self.kind)
        with budget.spending(context.budget_key):
            await app(child, receive, send)


def home(fleet: Fleet, apps: RepoApps, read: ReadAccess) -> Callable[[Request], Response]:
    """The page that lists the repos."""
    settings = fleet.settings
    site = Site(
        f"{len(fleet.served())} repos", settings.forge, Links(None, settings.forge), "", False
    )
    pages = Renderer(site, read)

    def page(request: Request) -> Response:
        request.scope["promobot.home"] = None
        return pages.render(
            request,
            "repos.html",
            rows=apps.rows(),
            skipped=len(fleet.skipped()),
            problems=fleet.problems,
        )

    return pages.guard(page)


def repos_json(fleet: Fleet, apps: RepoApps, read: ReadAccess) -> Callable[[Request], Response]:
    """GET /api/v1/repos: the same list as JSON (behind the same read protection)."""

    def endpoint(request: Request) -> Response:
        if not read.check(request).allowed:
            return unauthorized()
        rows = apps.rows()
        return JSONResponse(
            {
                "repos": [
                    {"repo": r.name, "open": r.open, "blocked": r.blocked, "problem": r.problem}
                    for r in rows
                ],
                "skipped": fleet.skipped(),
            }
        )

    return endpoint
