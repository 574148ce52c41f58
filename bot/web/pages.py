"""The overview pages: server-rendered HTML (Jinja2, autoescaped), one stylesheet, no JavaScript.

    /                    apps × environments, open promotions with their gates; ?app= ?env= ?only=
    /apps/{app}          one app in every environment, what each renders to, its history in each
    /envs/{env}          one environment's history: what changed, in which commit or PR, by whom
    /compare?from=&to=   the version-diff table between two environments
    /delivery?days=      delivery (DORA) metrics per environment, as inline SVG charts

Handlers are plain functions (starlette runs them in its thread pool: the forge calls block).
Unknown apps and environments get a 404 page, bad query parameters a 400 page, and a forge or
configuration failure a 503 page with its one-line reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot import budget, delivery, names
from bot.errors import PromobotError
from bot.manifests import text
from bot.manifests.model import AppDiff
from bot.planner import Promotion
from bot.render.impact import impact_markdown
from bot.settings import Settings
from bot.visibility import markdown_html
from bot.web import access
from bot.web.access import ReadAccess
from bot.web.overview import forge_links
from bot.web.overview.cache import Overview
from bot.web.overview.comparison import compare
from bot.web.overview.contents import summaries
from bot.web.overview.forge_links import Links
from bot.web.overview.matrix import short

log = logging.getLogger("promobot.web")
HERE = Path(__file__).resolve().parent
MAX_QUERY = 200  # characters in a filter


@dataclass(frozen=True)
class Site:
    """What every page may say about where it comes from: the repo's name and forge kind."""

    repo: str
    forge: str
    links: Links
    budget: str = ""  # the rate limit its forge calls spend (`bot.budget`); "" = the forge's
    repo_pages: bool = True  # False for the home page of several repos

    @classmethod
    def of(cls, settings: Settings, budget_key: str = "") -> Site:
        repo = label(settings)
        links = forge_links.links(settings.forge, repo, settings.github_url, settings.gitlab_url)
        return cls(repo, settings.forge, links, budget_key)


def label(settings: Settings) -> str:
    """What pages and metrics call the repo: its name, or for a local checkout (a path on the
    server) its folder's name."""
    if settings.forge == "local":
        return Path(settings.repo).resolve().name
    return settings.repo


class BadRequest(Exception):
    pass


class Unknown(Exception):
    def __init__(self, message: str, known: Sequence[tuple[str, str]]) -> None:
        super().__init__(message)
        self.known = known


@dataclass(frozen=True)
class Filters:
    app: str = ""
    envs: tuple[str, ...] = ()
    only_differing: bool = False

    @property
    def active(self) -> bool:
        return bool(self.app or self.envs or self.only_differing)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["short"] = short
    env.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M UTC")
    env.filters["utc_time"] = lambda epoch: datetime.fromtimestamp(epoch, UTC).strftime("%H:%M UTC")
    env.filters["duration"] = duration
    return env


def duration(seconds: float | None) -> str:
    """`3 d 4 h`, `5 h 10 min`, `12 min`, `40 s`: two units at most, for reading at a glance."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else f"{secs} s"


def query(request: Request, allowed: Sequence[str]) -> Mapping[str, list[str]]:
    """The query parameters, refusing unknown ones and overlong values (`token` is access's)."""
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        if key == "token":
            continue
        if key not in allowed:
            raise BadRequest(f"unknown query parameter {key!r}; known: {', '.join(allowed)}")
        if len(value) > MAX_QUERY:
            raise BadRequest(f"{key} is longer than {MAX_QUERY} characters")
        params.setdefault(key, []).append(value)
    return params


def named(
    request: Request, param: str, what: str, known: Collection[str], most: int | None = None
) -> str:
    """The app or environment the path names (`param`: app, env) if it is `known`; else a 404
    page that links the first `most` known ones (their pages: /apps/…, /envs/…)."""
    name: str = request.path_params[param]
    if name not in known:
        root = request.scope.get("root_path", "")
        links = [(k, f"{root}/{param}s/{k}") for k in known]
        raise Unknown(f"There is no {what} {name!r} in .promobot.yaml.", links[:most])
    return name


def filters(request: Request, environments: Sequence[str]) -> Filters:
    params = query(request, ("app", "env", "only"))
    try:  # names or globs (env=prod-*), as the command line's --env
        envs = tuple(names.select(environments, params.get("env", []), "environment", " in env="))
    except PromobotError as exc:
        raise BadRequest(str(exc)) from None
    only = params.get("only", [""])[-1]
    if only not in ("", "differing"):
        raise BadRequest(f"only={only!r}: the one choice is only=differing")
    apps = ", ".join(a.strip() for a in params.get("app", []) if a.strip())
    return Filters(apps, envs, only == "differing")


class Renderer:
    """Templates, error pages and read protection: what every page shares."""

    def __init__(self, site: Site, read: ReadAccess) -> None:
        self.site = site
        self.read = read
        self.templates = environment()

    # --- responses -----------------------------------------------------------------------------

    def render(self, request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        base = {
            "site": self.site,
            "root": root,
            "home": request.scope.get("promobot.home"),  # the list of repos, when several
            "api_root": request.scope.get("promobot.api_root", f"{root}/api/v1"),
            "user": request.scope.get("promobot.user"),
            "ref": None,
            "budget": budget.of(self.site.budget or self.site.forge),
            "summaries": {},  # (app, env) → the line under a matrix cell, once rendered
        }
        html = self.templates.get_template(name).render({**base, **context})
        return HTMLResponse(html, status_code=code)

    def error(
        self,
        request: Request,
        status: int,
        heading: str,
        message: str,
        known: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        response = self.render(
            request,
            "error.html",
            status,
            status=status,
            heading=heading,
            message=message,
            known=known,
        )
        response.headers.update(headers or {})
        return response

    def guard(self, page: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """Read protection first, then the page; failures as pages with the right status."""

        def endpoint(request: Request) -> Response:
            verdict = self.read.check(request)
            if not verdict.allowed:
                return self.error(
                    request,
                    401,
                    "Unauthorized",
                    "This overview needs a read token (Authorization: Bearer …, or ?token=…) "
                    "or a sign-in through the proxy in front of promobot.",
                    headers={"WWW-Authenticate": 'Bearer realm="promobot"'},
                )
            if verdict.remember:  # keep the token out of the address bar and of links
                response = RedirectResponse(access.without_token(request), status_code=303)
                response.set_cookie(
                    access.COOKIE,
                    self.read.cookie_value(),
                    httponly=True,
                    samesite="strict",
                    secure=request.url.scheme == "https",
                    path=request.scope.get("root_path", "") or "/",
                )
                return response
            request.scope["promobot.user"] = verdict.user
            try:
                return page(request)
            except BadRequest as exc:
                return self.error(request, 400, "Bad request", str(exc))
            except Unknown as exc:
                return self.error(request, 404, "Not found", str(exc), exc.known)
            except PromobotError as exc:
                log.warning("overview unavailable", extra={"error": str(exc)})
                return self.error(
                    request, 503, "Unavailable", f"The environment repo cannot be read: {exc}"
                )

        return endpoint

    async def not_found(self, request: Request, exc: Exception) -> Response:
        """Paths no route knows: JSON under /api/ and for anything but GET, a page elsewhere."""
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        detail = exc.detail if isinstance(exc, HTTPException) else "Not Found"
        if request.url.path.startswith("/api/") or request.method not in ("GET", "HEAD"):
            return JSONResponse({"error": detail}, status_code=status)
        return self.error(request, status, detail, f"Nothing is served at {request.url.path}.")

    def static(self) -> BaseRoute:
        """The stylesheet and the other files every page links."""
        return Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static")


FULL_DIFF = 2_000_000  # characters of a promotion's diff page: everything, up to a point


class Pages(Renderer):
    """One environment repo's pages: the matrix, an app, an environment, a comparison."""

    def __init__(
        self,
        overview: Overview,
        site: Site,
        read: ReadAccess,
        diffs: Callable[[Promotion], Sequence[AppDiff] | None] | None = None,
    ) -> None:
        """`diffs`: what a promotion changes in the cluster (the service's impacts), for
        each open promotion's page of its full diff."""
        super().__init__(site, read)
        self.overview = overview
        self.diffs = diffs

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.guard(self.index)),
            Route("/apps/{app}", self.guard(self.app)),
            Route("/envs/{env}", self.guard(self.env)),
            Route("/compare", self.guard(self.compare)),
            Route("/delivery", self.guard(self.delivery)),
            Route("/promotions/{env}/{name}/diff", self.guard(self.diff)),
            self.static(),
        ]

    def index(self, request: Request) -> Response:
        state = self.overview.state()
        full = self.overview.matrix(state)
        chosen = filters(request, state.status.environments)
        matrix = full.select(chosen.app, chosen.envs, chosen.only_differing)
        deployed = [(c.app, c.env) for r in matrix.rows for c in r.cells if c.composition]
        return self.render(
            request,
            "index.html",
            ref=state.snapshot.commit,
            matrix=matrix,
            columns=full.columns,
            promotions=full.promotions,
            differing=full.differing_cells,
            filters=chosen,
            summaries=summaries(self.overview.sheet(), deployed),
            problems=sorted(self.overview.engine.problems.values(), key=lambda f: f.branch),
        )

    def app(self, request: Request) -> Response:
        query(request, ())
        state = self.overview.state()
        name = named(request, "app", "app", state.config.apps, most=50)
        matrix = self.overview.matrix(state).of_app(name)
        sheet = self.overview.sheet()
        envs = [e for e in state.config.order if e in state.config.app_environments(name)]
        return self.render(
            request,
            "app.html",
            summaries=summaries(sheet, [(name, env) for env in envs]),
            sheet=sheet,
            grid=text.grid(name, envs, sheet) if sheet is not None else None,
            ref=state.snapshot.commit,
            app=name,
            spec=state.config.apps[name],
            matrix=matrix,
            history=self.overview.app_history(state, name),
            limit=self.overview.history_limit,
        )

    def env(self, request: Request) -> Response:
        query(request, ())
        state = self.overview.state()
        config = state.config
        name = named(request, "env", "environment", config.order)
        matrix = self.overview.matrix(state)
        column = next(c for c in matrix.columns if c.env == name)
        return self.render(
            request,
            "env.html",
            ref=state.snapshot.commit,
            env=name,
            column=column,
            promotions=matrix.into(name),
            downstream=config.downstream(name),
            apps=sum(name in config.app_environments(a) for a in config.apps),
            entries=self.overview.env_history(state, name),
            limit=self.overview.history_limit,
        )

    def compare(self, request: Request) -> Response:
        state = self.overview.state()
        order = state.config.order
        params = query(request, ("from", "to"))
        left, right = params.get("from", [""])[-1], params.get("to", [""])[-1]
        context: dict[str, Any] = {
            "ref": state.snapshot.commit,
            "environments": order,
            "default_from": order[-2] if len(order) > 1 else order[0],
            "default_to": order[-1],
            "left": None,
            "right": None,
            "rows": [],
            "error": None,
        }
        if not left and not right:
            return self.render(request, "compare.html", **context)
        problems = [
            f"{key}={value!r} is not an environment" if value else f"{key}= is missing"
            for key, value in (("from", left), ("to", right))
            if value not in order
        ]
        if problems:
            context["error"] = "; ".join(problems) + f". Known: {', '.join(order)}."
            return self.render(request, "compare.html", 400, **context)
        rows = compare(state.config, state.status, left, right, state.snapshot)
        return self.render(
            request, "compare.html", **{**context, "left": left, "right": right, "rows": rows}
        )

    def diff(self, request: Request) -> Response:
        """An open promotion's full diff: what its PR's body had no room for."""
        query(request, ())
        env, name = request.path_params["env"], request.path_params["name"]
        state = self.overview.state()
        branch = f"promobot/{env}/{name}"
        known = [(p.env, p.name) for p in self.overview.promotions()[0]]
        if (env, name) not in known:  # asked of the forge only for a promotion it lists
            raise Unknown(f"no open promotion into {env} named {name}", [])
        pr = self.overview.forge.find_pr(branch)
        promotion = self.overview.engine.promotion_of(pr) if pr is not None else None
        if pr is None or promotion is None:
            raise Unknown(f"no open promotion into {env} named {name}", [])
        found = self.diffs(promotion) if self.diffs is not None else None
        said = (
            impact_markdown(found, limit=FULL_DIFF)
            if found
            else "promobot renders no manifests here, or could not yet; try again in a minute"
        )
        return self.render(
            request,
            "diff.html",
            ref=state.snapshot.commit,
            pr=pr,
            env=env,
            promotion_name=name,
            # promobot's own markdown, in which every text from a rendering is inert: raw HTML
            # off, so nothing in it becomes markup
            diff=markdown_html(said),
        )

    def delivery(self, request: Request) -> Response:
        params = query(request, ("days",))
        try:
            window = delivery.window(params.get("days", [""])[-1])
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        state = self.overview.state()
        report = self.overview.delivery(state, datetime.now(UTC), window)
        return self.render(
            request,
            "delivery.html",
            ref=state.snapshot.commit,
            report=report,
            days=round(window.total_seconds() / delivery.DAY),
            limit=self.overview.history_limit,
        )
