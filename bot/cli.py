"""The `promobot` command line. Thin: parse options, call the core, print.

Each run reads `.promobot.yaml` once, and the versions through the version cache in the git
directory (`bot.versioncache`). Modules a command may not need (the engine, the planner, the
renderer, the service) are imported in the commands that use them: a Python import is a
large part of a `promobot status`.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click

from bot import composition, config, names, versions
from bot.composition import Composition, Snapshot, State, Status
from bot.errors import ConfigError, Problem, PromobotError, Taken
from bot.forges.local import LocalForge
from bot.versioncache import VersionCache

if TYPE_CHECKING:
    from bot import planner
    from bot.live.state import Live

F = TypeVar("F", bound=Callable[..., Any])

repo_option = click.option(
    "--repo",
    "repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=True,
    help="The environment repo's checkout.",
)
ref_option = click.option(
    "--ref", default="HEAD", show_default=True, help="Read the repo at this commit or branch."
)
write_option = click.option(
    "--write", is_flag=True, help="Edit the working tree instead of creating a branch."
)
shared_option = click.option(
    "--shared",
    is_flag=True,
    help="Also change the environments that share a changed file or field (a base, a file "
    "without {env}); the promotion names them.",
)
body_option = click.option(
    "--body",
    is_flag=True,
    help="Print the PR description as the forge gets it (markdown) instead of the summary.",
)


def _friendly(func: F) -> F:
    """Turn promobot's errors into one line and an exit code, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for problem in exc.problems:
                click.secho(f"error: {problem}", fg="red", err=True)
            sys.exit(2)
        except PromobotError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            sys.exit(130)
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except Exception as exc:  # a bug: say so in one line, keep the traceback on request
            if os.environ.get("PROMOBOT_DEBUG"):
                raise
            click.secho(
                f"internal error: {type(exc).__name__}: {exc} "
                "(set PROMOBOT_DEBUG=1 for the traceback, and please report it)",
                fg="red",
                err=True,
            )
            sys.exit(70)

    return wrapper  # type: ignore[return-value]


def _echo_json(data: Any, kind: Any = Any) -> None:
    """`data` (of type `kind`) as json.dumps(data, indent=1) writes it, but serialized by
    pydantic-core: Python's encoder takes tens of milliseconds to indent the 0.6 MB of a plan
    of 500 apps, a tenth of the whole command. (One difference: DEL stays unescaped.)"""
    from pydantic import TypeAdapter

    click.echo(TypeAdapter(kind).dump_json(data, indent=1, ensure_ascii=True).decode())


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _open(repo: Path, ref: str) -> tuple[LocalForge, Snapshot, config.Config]:
    """The checkout at `ref` and its configuration, read and validated once for the run.

    A commit from before `.promobot.yaml` existed is read with today's (HEAD's, or the working
    tree's when HEAD has none yet), which a line on stderr says: its environments are what the
    repo's files were then, even if nobody had written down their order."""
    forge = LocalForge(repo)
    snapshot = forge.snapshot(ref)
    raw = snapshot.files.get(config.FILENAME)
    if raw is None and ref != "HEAD":
        raw, where = _todays_config(forge, repo)
        if raw is not None:
            click.secho(
                f"note: {ref} ({snapshot.commit[:12]}) has no {config.FILENAME}; "
                f"reading it with today's, from {where}",
                fg="yellow",
                err=True,
            )
    return forge, snapshot, config.load_at(raw, snapshot.commit)


def _todays_config(forge: LocalForge, repo: Path) -> tuple[bytes | None, str]:
    head = forge.snapshot("HEAD")
    raw = head.files.get(config.FILENAME)
    if raw is not None:
        return raw, f"HEAD ({head.commit[:12]})"
    path = repo / config.FILENAME
    return (path.read_bytes(), "the working tree") if path.is_file() else (None, "")


def _status(
    forge: LocalForge,
    snapshot: Snapshot,
    cfg: config.Config,
    apps: Iterable[str] | None = None,
    envs: Iterable[str] | None = None,
) -> Status:
    """Every app × environment asked for, parsing only files whose versions are not cached."""
    apps = None if apps is None else list(apps)
    envs = None if envs is None else list(envs)
    cache = VersionCache.of(forge.store.parent)
    snapshot.prefetch(composition.unread(cfg, snapshot, cache.memo, apps, envs))
    result = composition.status(cfg, snapshot, apps, envs, cache.memo)
    if cache.changed:
        objects = snapshot.objects
        cache.save([objects[p] for p in composition.required_paths(cfg, apps) if p in objects])
    return result


def _state(forge: LocalForge, snapshot: Snapshot, cfg: config.Config, apps: Iterable[str]) -> State:
    return State(cfg, snapshot, _status(forge, snapshot, cfg, apps))


def _print_version(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    """click's --version, but looking the version up only when it is asked for."""
    if not value or ctx.resilient_parsing:
        return
    from bot import __version__

    click.echo(f"promobot, version {__version__}")
    ctx.exit()


def run() -> None:
    """The `promobot` console script.

    What the imports made (pydantic's schemas above all) lives as long as the process, so it is
    set aside from the collector, which then neither walks it each time the many small objects
    of a large repo start a collection nor once more at exit: a tenth of a `promobot plan` of
    500 apps. (Only here: tests run `main` in a process that goes on.)
    """
    gc.freeze()
    main()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
def main() -> None:
    """promobot promotes versions through GitOps environments with reviewable pull requests."""


@main.command()
@repo_option
@_friendly
def validate(repo: Path) -> None:
    """Check the checkout's .promobot.yaml and report every problem with file:line:col."""
    path = repo / config.FILENAME
    if not path.is_file():
        raise ConfigError([Problem(str(path), 0, 0, "not found; create it (see config/README.md)")])
    text = path.read_text(encoding="utf-8", errors="replace")
    cfg = config.load(text, str(path))
    from bot import terminal

    click.echo(
        f"{path}: ok — {_count(len(cfg.environments), 'environment')}, "
        f"{_count(len(cfg.apps), 'app')}, {_count(len(cfg.groups), 'group')}"
    )
    click.echo("\n".join(f"  {line}" for line in terminal.environments(cfg).splitlines()))
    if not _survey(repo, path, text, cfg):
        raise SystemExit(2)


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _survey(repo: Path, path: Path, text: str, cfg: config.Config) -> bool:
    """Read every target of every environment at HEAD with the configuration being validated,
    and say what that finds (file:line:col: level: what); False when a value cannot be read."""
    from bot import survey

    try:
        forge = LocalForge(repo)
        snapshot = forge.snapshot("HEAD")
    except PromobotError as exc:
        click.secho(f"values not read: {exc}", fg="yellow")
        return True
    findings = survey.survey(cfg, _status(forge, snapshot, cfg))
    colours = {"error": "red", "warning": "yellow", "note": None}
    for finding in findings:
        line, column = config.locate(text, finding.where)
        click.secho(f"{path}:{line}:{column}: {finding.level}: {finding.message}",
                    fg=colours[finding.level])  # fmt: skip
    committed = snapshot.files.get(config.FILENAME)
    which = "" if committed == text.encode() else ", with the working tree's .promobot.yaml"
    errors = sum(f.level == "error" for f in findings)
    click.echo(
        f"values read at {snapshot.commit[:12]} (HEAD){which}: "
        + (f"{_count(errors, 'value')} cannot be read" if errors else "every value read")
    )
    return not errors


INIT_SUFFIXES = (".yaml", ".yml", ".json")
INIT_MAX_FILE = 1 << 20  # GitOps files are small; a larger one is data, not configuration
INIT_MAX_FILES = 20_000


def _checkout_files(repo: Path) -> dict[str, str]:
    """The checkout's YAML and JSON files (path → text), as `promobot init` inspects them:
    no hidden folder (.git, .github), no symbolic link followed, nothing over 1 MiB."""
    if not repo.is_dir():
        raise PromobotError(f"{repo} is not a folder; pass the environment repo's checkout")
    found: dict[str, str] = {}
    for folder, dirs, entries in os.walk(repo):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "node_modules")
        for name in sorted(entries):
            path = Path(folder, name)
            if name == config.FILENAME or not name.lower().endswith(INIT_SUFFIXES):
                continue
            if path.is_symlink() or path.stat().st_size > INIT_MAX_FILE:
                continue
            found[path.relative_to(repo).as_posix()] = path.read_text(
                encoding="utf-8", errors="replace"
            )
            if len(found) >= INIT_MAX_FILES:
                return found
    return found


@main.command()
@repo_option
@click.option("--write", is_flag=True, help="Write .promobot.yaml into the checkout.")
@click.option("--force", is_flag=True, help="With --write: replace an existing .promobot.yaml.")
@_friendly
def init(repo: Path, write: bool, force: bool) -> None:
    """Print a commented starter .promobot.yaml made from what the checkout holds.

    Environments from folders per environment (envs/, overlays/, clusters/, apps/<env>),
    fleet.yaml targetCustomizations and Argo CD Applications and ApplicationSets; apps and
    components from Kustomize images:, workload images, Helm values, Argo CD and Flux sources.
    """
    from bot import starter

    draft = starter.build(_checkout_files(repo))
    if not draft.environments:
        raise PromobotError(
            f"found no environments in {repo}: promobot init looks for folders per environment "
            "(envs/, environments/, overlays/, clusters/, or folders named like dev, staging, "
            "prod), fleet.yaml targetCustomizations, ApplicationSet list elements and Argo CD "
            "Applications named <app>-<env>; write .promobot.yaml by hand (config/README.md)"
        )
    text = starter.render(draft)
    path = repo / config.FILENAME
    try:
        cfg = config.load(text, str(path))
    except ConfigError as exc:  # ours to fix: never hand a person a file that does not load
        raise PromobotError(f"the starter does not validate, please report it: {exc}") from None
    if not write:
        click.echo(text, nl=False)
        return
    if (path.exists() or path.is_symlink()) and not force:
        raise PromobotError(
            f"{path} exists; pass --force to replace it, or leave out --write to print the starter"
        )
    partial = path.with_name(f".{config.FILENAME}.init")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)  # whole or not at all; a link at the path is replaced, not followed
    click.secho(
        f"Wrote {path}: {len(cfg.environments)} environments ({' → '.join(cfg.order)}), "
        f"{len(cfg.apps)} apps. Read its comments (check, decide), then run promobot validate "
        "and promobot status.",
        fg="green",
    )


@main.command(hidden=True)
def schema() -> None:
    """Print the JSON Schema of .promobot.yaml."""
    click.echo(json.dumps(config.schema(), indent=2))


@main.command()
@repo_option
@ref_option
@click.option(
    "--env", "envs", multiple=True, help="Only these environments: a name or a glob (repeatable)."
)
@click.option(
    "--app", "apps", multiple=True, help="Only these apps: a name or a glob (repeatable)."
)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table")
@click.option(
    "--live",
    is_flag=True,
    help="Also what each cluster reports, for environments with live: (Argo CD, Fleet: the "
    "PROMOBOT_ARGOCD_* and PROMOBOT_FLEET_* settings; statuses: the repo's own).",
)
@_friendly
def status(
    repo: Path, ref: str, envs: Sequence[str], apps: Sequence[str], fmt: str, live: bool
) -> None:
    """Every app × environment with all component versions and the composition id."""
    forge, snapshot, cfg = _open(repo, ref)
    # the overview's matcher: a name or a glob (--app 'mc-*')
    chosen_apps = names.select(list(cfg.apps), apps, "app") if apps else None
    chosen_envs = names.select(cfg.order, envs, "environment") if envs else None
    result = _status(forge, snapshot, cfg, chosen_apps, chosen_envs)
    reports: dict[tuple[str, str], Live] = {}
    if live:  # imported here: `status` without --live starts fast
        reports = _live(forge, State(cfg, snapshot, result))
    if fmt == "json":
        data = result.to_json()
        if live:
            data["live"] = {}
            for (app, env), report in reports.items():
                data["live"].setdefault(app, {})[env] = report.to_json()
        _echo_json(data)
    elif fmt == "markdown":
        from bot import render

        lines = {key: report.describe() for key, report in reports.items()}
        click.echo(render.status_markdown(result, cfg, lines))
    else:
        _print_matrix(cfg, result)
        for (app, env), report in sorted(reports.items()):
            click.echo(f"{app} in {env}: " + report.describe())


def _live(forge: LocalForge, state: State) -> dict[tuple[str, str], Live]:
    """What the clusters of the environments with live: report (an unreachable one: a line
    on stderr, the others go on)."""
    from datetime import UTC, datetime

    from bot.live.reader import LiveReader
    from bot.settings import Settings

    reader = LiveReader(forge, Settings(forge="local"), lambda: datetime.now(UTC))
    found: dict[tuple[str, str], Live] = {}
    for env in state.status.environments:
        if state.config.environments[env].live is None:
            continue
        try:
            for app, report in reader.read(state, env, list(state.status.apps)).items():
                found[(app, env)] = report
        except PromobotError as exc:
            click.secho(f"{env}: live state unknown: {exc}", fg="yellow", err=True)
    return found


def _check_names(cfg: config.Config, apps: Iterable[str], envs: Iterable[str]) -> None:
    for app in apps:
        if app not in cfg.apps:
            raise PromobotError(f"unknown app {app!r}; known: {', '.join(cfg.apps)}")
    for env in envs:
        if env not in cfg.environments:
            raise PromobotError(f"unknown environment {env!r}; known: {', '.join(cfg.order)}")


def _cell_value(
    cfg: config.Config, app: str, component: str, env: str, current: Composition
) -> tuple[str, bool]:
    """What a matrix cell says, and whether it is promobot's to compare with upstream: a
    range as one, a value another environment holds as `= ENV`, one not read as `?`."""
    if component == "id":
        return (current.id or "?", True)
    spec = cfg.apps[app].components[component]
    if spec.shown:
        return (current.shown.get(component, "—"), False)
    if component in current.unreadable:
        return ("?", False)
    value = current.components.get(component, "?")
    first = cfg.shared(app, component, env)[0]
    if first != env and first in cfg.app_environments(app):
        return (f"= {first}", False)
    return (f"range {value}" if versions.is_range(value) else value, True)


def _print_matrix(cfg: config.Config, status: Status) -> None:
    header = ["app", "component", *status.environments]
    rows: list[list[tuple[str, str | None]]] = []
    marks: set[str] = set()
    for app, envs in status.apps.items():
        for i, component in enumerate([*cfg.apps[app].components, "id"]):
            shown = component != "id" and cfg.apps[app].components[component].shown
            row: list[tuple[str, str | None]] = [
                (app if i == 0 else "", "bright_white"),
                (component + (" (shown)" if shown else ""), "bright_black" if shown else None),
            ]
            for env in status.environments:
                current = envs.get(env)
                upstream_env = cfg.environments[env].upstream
                upstream = envs.get(upstream_env) if upstream_env else None
                if current is None:
                    row.append(("—", "bright_black"))
                    continue
                value, compared = _cell_value(cfg, app, component, env, current)
                if upstream is not None and compared and upstream_env is not None:
                    theirs, _ = _cell_value(cfg, app, component, upstream_env, upstream)
                    differs = theirs != value
                else:
                    differs = False
                marks.update(m for m in ("?", "= ", "range ") if value.startswith(m))
                colour = "yellow" if differs else "bright_black" if component == "id" else None
                row.append((value, "red" if value == "?" else colour))
            rows.append(row)
    widths = [len(h) for h in header]
    for row in rows:
        for i, (text, _) in enumerate(row):
            widths[i] = max(widths[i], len(text))
    widths[-1] = 0  # the last column needs no padding

    def line(cells: list[tuple[str, str | None]], bold: bool = False) -> str:
        return "  ".join(
            click.style(text.ljust(width), fg=colour, bold=bold or None)
            for (text, colour), width in zip(cells, widths, strict=True)
        )

    click.echo(line([(h, None) for h in header], bold=True))
    for row in rows:
        click.echo(line(row))
    click.echo(
        click.style(f"\nat {status.ref[:12]}; ", fg="bright_black")
        + click.style("yellow", fg="yellow")
        + click.style(": differs from the upstream environment", fg="bright_black")
    )
    legend = {
        "= ": "= ENV: the same value, in a file ENV shares (changed only with --shared)",
        "range ": "range: a version range, a policy; what runs comes from live:",
        "?": "?: cannot be read (below); it takes part in no composition id and no plan",
    }
    for mark, text in legend.items():
        if mark in marks:
            click.secho(text, fg="bright_black")
    for app, envs in status.apps.items():
        for env, current in envs.items():
            for problem in current.problems:
                click.secho(f"{app} in {env}: {problem}", fg="red")


@main.command()
@repo_option
@ref_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@_friendly
def plan(repo: Path, ref: str, fmt: str) -> None:
    """The promotions that are due: every environment whose upstream moved ahead."""
    from bot import planner

    forge, snapshot, cfg = _open(repo, ref)
    status = _status(forge, snapshot, cfg)
    # as the service would propose them: batched environments' promotions gathered into one
    promotions = planner.batch(cfg, planner.plan(cfg, status))
    if fmt == "json":
        _echo_json(promotions, list[planner.Promotion])
        return
    from bot import render

    held = planner.held_back(cfg, status)
    if held:
        click.secho("Not proposed on their own:", bold=True)
        for note in held:
            click.echo(f"  {note}")
        click.echo()
    if not promotions:
        click.echo(
            "Nothing else to promote." if held
            else "Nothing to promote: every environment runs what its upstream runs."
        )  # fmt: skip
        return
    for p in promotions:
        click.secho(f"{render.title(p)}", bold=True)
        direct = cfg.environments[p.env].propose == "commit"
        where = "a commit on the default branch (propose: commit)" if direct else p.branch
        click.secho(f"  {'as' if direct else 'branch'} {where}", fg="bright_black")
        for app in p.apps:
            for row in app.changed:
                arrow = "⚠ downgrade" if row.change == "down" else ""
                click.echo(
                    f"  {app.app:<12} {row.component:<10} {row.before or '—'} → "
                    + click.style(row.after or "—", fg="green")
                    + (f"  {arrow}" if arrow else "")
                )
        click.echo()
    click.echo(f"{len(promotions)} promotion(s) due; run `promobot promote APP --to ENV`.")


def _emit(
    forge: LocalForge,
    state: State,
    promotion: planner.Promotion,
    write: bool,
    older: Mapping[str, Snapshot] | None = None,
    body: bool = False,
) -> None:
    """Write the promotion into the working tree, or make its branch; then show it as a person
    reads it in a terminal (`terminal`), or, with `body`, the PR description as written."""
    from bot import engine, planner, render, signing, terminal
    from bot.gatekeeper import Gatekeeper

    signer = signing.local(forge.key_path, os.environ.get("PROMOBOT_SIGNING_KEY"))
    # what the PR's first evaluation would write: no reviews, checks nor clusters read yet
    gates = [
        g
        for g in Gatekeeper(engine.Engine(forge, signer)).preview(state, promotion)[0]
        if g.name != "hold"  # a branch on this machine carries no label
    ]
    if write:
        changes = planner.apply(state.config, promotion, state.snapshot, older)
        forge.write_worktree(changes)
        click.secho(f"Wrote {len(changes)} file(s): {', '.join(sorted(changes))}", fg="green")
        click.echo()
        click.echo(render.title(promotion))
        click.echo()
        diffs = engine.copy_diffs(promotion, state.snapshot, changes)
        click.echo(terminal.promotion(promotion, state.config, gates, diffs=diffs))
        return
    from bot.changelog.finder import for_command

    finder = for_command(forge)  # only `changelog:` repos on this machine
    notes = finder(state.config, promotion)
    finder.close()
    # the commits that PRs of `promobot serve` on this checkout say promobot made there
    records = engine.Engine(forge, signer)
    states: tuple[Literal["open", "closed"], ...] = ("open", "closed")
    prs = (forge.find_pr(promotion.branch, state=s) for s in states if forge.store.exists())
    vouched = [m.commit for pr in prs if pr and (m := records.promotion_of(pr)) is not None]
    try:
        opened = engine.prepare(
            forge, state, promotion, signer, older, gates, changelogs=notes, vouched=vouched
        )
    except Taken as exc:
        raise PromobotError(f"{exc} (git branch -D {promotion.branch})") from None
    click.secho(
        f"Created branch {promotion.branch} ({opened.commit[:12]}) with one commit on "
        f"{state.snapshot.commit[:12]}; your working tree is untouched.",
        fg="green",
    )
    click.echo()
    click.echo(opened.title)
    click.echo()
    if body:
        click.echo(opened.body)
        return
    shown = terminal.promotion(
        opened.promotion, state.config, gates, diffs=opened.diffs, changelogs=notes
    )
    click.echo(shown)
    click.echo()
    click.secho(
        f"The change: git show {promotion.branch}; the PR's description (markdown): --body",
        fg="bright_black",
    )


@main.command()
@click.argument("app")
@click.option("--to", "env", required=True, help="The environment to promote into.")
@click.option("--only", help="Only these components, e.g. --only image or --only chart,config.")
@write_option
@shared_option
@body_option
@repo_option
@ref_option
@_friendly
def promote(
    app: str,
    env: str,
    only: str | None,
    write: bool,
    shared: bool,
    body: bool,
    repo: Path,
    ref: str,
) -> None:
    """Promote APP (or a group) into an environment from its upstream."""
    from bot import planner

    forge, snapshot, cfg = _open(repo, ref)
    apps = planner.resolve_name(cfg, app)
    state = _state(forge, snapshot, cfg, apps)
    promotions = planner.plan(
        state.config,
        state.status,
        env=env,
        apps=apps,
        only=_csv(only),
        explicit=True,
        shared=shared,
    )
    if not promotions:
        held = planner.held_back(state.config, state.status, env=env, apps=apps)
        if held:
            click.echo("Nothing promoted; no branch was created:")
            for note in held:
                click.echo(f"  {note}")
            return
        upstream = cfg.environments[env].upstream
        click.echo(
            f"Nothing to promote: {app} in {env} already runs what {upstream} runs"
            + (f" for {only}" if only else "")
            + ". No branch was created."
        )
        return
    _emit(forge, state, promotions[0], write, body=body)


@main.command(name="set")
@click.argument("app")
@click.argument("component")
@click.argument("version")
@click.option("--env", required=True, help="The environment to change, usually the first one.")
@write_option
@shared_option
@body_option
@repo_option
@ref_option
@_friendly
def set_(
    app: str,
    component: str,
    version: str,
    env: str,
    write: bool,
    shared: bool,
    body: bool,
    repo: Path,
    ref: str,
) -> None:
    """Set COMPONENT of APP to VERSION in one environment (for CI after a release)."""
    from bot import planner

    forge, snapshot, cfg = _open(repo, ref)
    apps = planner.resolve_name(cfg, app) if app in cfg.apps else [app]
    state = _state(forge, snapshot, cfg, [a for a in apps if a in cfg.apps])
    promotion = planner.plan_set(
        state.config, state.status, app, component, version, env, shared=shared
    )
    if promotion is None:
        click.echo(f"Nothing to do: {app} {component} in {env} is already {version}.")
        return
    _emit(forge, state, promotion, write, body=body)


@main.command()
@click.argument("app")
@click.option("--env", required=True, help="The environment to roll back.")
@click.option(
    "--to",
    "to",
    default="previous",
    show_default=True,
    help="`previous`, a composition id, or a version the app ran there.",
)
@click.option("--only", help="Only these components, e.g. --only image.")
@write_option
@shared_option
@body_option
@repo_option
@ref_option
@_friendly
def rollback(
    app: str,
    env: str,
    to: str,
    only: str | None,
    write: bool,
    shared: bool,
    body: bool,
    repo: Path,
    ref: str,
) -> None:
    """Restore an earlier composition of APP in an environment, from the git history."""
    from bot import engine, planner

    forge, snapshot, cfg = _open(repo, ref)
    _check_names(cfg, [app], [env])
    entries = engine.history(forge, cfg, app, env, ref, limit=200)
    target = planner.pick_rollback(entries, to, app, env)
    state = _state(forge, snapshot, cfg, planner.resolve_name(cfg, app))
    promotion = planner.plan_rollback(
        state.config, state.status, app, env, target, _csv(only), shared=shared
    )
    if promotion is None:
        click.echo(f"Nothing to roll back: {app} in {env} already runs that.")
        return
    click.echo(f"Restoring {target.composition.id} from {target.commit.sha[:12]}.")
    older = {target.commit.sha: forge.snapshot(target.commit.sha)}
    _emit(forge, state, promotion, write, older, body=body)


@main.command()
@click.argument("app")
@click.option("--env", required=True, help="The environment.")
@click.option("--limit", default=50, show_default=True, help="At most this many entries.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@repo_option
@ref_option
@_friendly
def history(app: str, env: str, limit: int, fmt: str, repo: Path, ref: str) -> None:
    """The compositions APP ran in an environment over time, newest first."""
    from bot import engine

    forge, _, cfg = _open(repo, ref)
    _check_names(cfg, [app], [env])
    if env not in cfg.app_environments(app):
        raise PromobotError(f"{app} is not deployed to {env}")
    entries = engine.history(forge, cfg, app, env, ref, limit=200)[:limit]
    if fmt == "json":
        click.echo(json.dumps([e.to_json() for e in entries], indent=1))
        return
    if not entries:
        click.echo(f"No history for {app} in {env}.")
        return
    for entry in entries:
        versions = ", ".join(f"{k} {v}" for k, v in entry.composition.components.items())
        changed = [
            k
            for k, v in entry.composition.components.items()
            if entry.previous is not None and entry.previous.components.get(k) != v
        ]
        click.echo(
            click.style(entry.commit.time.strftime("%Y-%m-%d %H:%M"), fg="bright_black")
            + "  "
            + click.style(entry.composition.id, fg="cyan")
            + f"  {versions}"
            + (click.style(f"  ({', '.join(changed)} changed)", fg="yellow") if changed else "")
            + click.style(
                f"  {entry.commit.sha[:10]} {entry.commit.author}: {entry.commit.subject}",
                fg="bright_black",
            )
        )


@main.command()
@repo_option
@click.option("--app", default=None, help="Only records of this app.")
@click.option("--env", default=None, help="Only records of this environment.")
@click.option("--since", default=None, help="From this date or time, or this long ago (7d).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option(
    "--store",
    is_flag=True,
    help="Read the service's own log (PROMOBOT_QUEUE_URL or the data dir's queue) instead of "
    "rebuilding it from the history and the PRs.",
)
@_friendly
def audit(
    repo: Path, app: str | None, env: str | None, since: str | None, fmt: str, store: bool
) -> None:
    """Who promoted what, where, when, on whose approval: promobot's merges and PR records.

    From the checkout's history (promobot's merge commits) and its PRs (the signed metadata in
    their descriptions, the approvals on the head that merged, promobot's signed replies to
    commands); on GitHub or GitLab the PRs are read with the PROMOBOT_* settings."""
    from bot import audit as log

    try:
        after = log.since(since) if since else None
    except ValueError as exc:
        raise PromobotError(f"--{exc}") from None
    found = _store_records(after, app, env) if store else _history_records(repo)
    chosen = sorted(
        (r for r in found if log.matches(r, app, env, after)), key=lambda r: (r.at, r.id)
    )
    if fmt == "json":
        for record in chosen:
            click.echo(record.line())
        return
    if not chosen:
        click.echo("No audit records" + (" match." if app or env or since else "."))
        return
    for record in chosen:
        who = f"@{record.actor}" if record.actor else "promobot"
        approved = f" approved by {', '.join(record.approvers)}" if record.approvers else ""
        what = record.versions() or record.command or ""
        pr = f"#{record.pr}" if record.pr is not None else ""
        sha = f" {record.sha[:10]}" if record.sha else ""
        click.echo(
            click.style(record.at.astimezone().strftime("%Y-%m-%d %H:%M"), fg="bright_black")
            + f"  {record.kind:<15} {record.env or '':<10} {','.join(record.apps):<12} {pr:<6}"
            + f" {who}{approved}{sha}  {what}"
            + (f"  ({record.outcome}: {record.reason})" if record.kind == "command" else "")
        )


def _history_records(repo: Path) -> list[Any]:
    from bot import audit_history, settings, wiring

    local = LocalForge(repo)
    merged = audit_history.merges(local)
    configured = settings.load()
    if configured.forge == "local":
        signer = wiring.signer(configured.model_copy(update={"repo": str(local.root)}), local)
        numbers = audit_history.local_numbers(local)
        return list(audit_history.records(local, signer, str(local.root), merged, numbers))
    forge = wiring.forge(configured)
    signer = wiring.signer(configured, forge)
    return list(audit_history.records(forge, signer, configured.repo, merged))


def _store_records(after: Any, app: str | None, env: str | None) -> list[Any]:
    from bot import settings
    from bot.queue import Queue

    configured = settings.load()
    queue = Queue(configured, configured.repo, lambda job: None).scope(configured.repo)
    found: list[Any] = []
    cursor: str | None = ""
    while cursor is not None:
        page, cursor = queue.audit_read(after=cursor, since=after, app=app, env=env, limit=1000)
        found += page
    return found


env_file_option = click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read PROMOBOT_* settings from this dotenv file too (the environment wins).",
)


def _service(env_file: Path | None) -> Any:
    from bot import logs, settings

    config = settings.load(env_file)
    secrets = [
        s.get_secret_value()
        for s in (
            config.github_token,
            config.gitlab_token,
            config.webhook_secret,
            config.registry_token,
            config.read_token,
            config.signing_key,
            config.argocd_token,
            config.argocd_webhook_secret,
            config.flux_webhook_secret,
            *config.notify_target_urls.values(),  # an Apprise URL carries the target's token
        )
        if s is not None
    ]
    logs.setup(config.log_level, secrets)
    if config.many:  # several repos (or repos to find): one context per repo, one queue
        from bot.fleet import Fleet

        fleet = Fleet(config)
        fleet.discover()
        return fleet
    from bot.service import Service

    return Service(config)


def _serving(service: Any) -> str:
    """What the banner says is served: the repo, or the list of repos."""
    settings = service.settings
    if not settings.many:
        return f"{settings.forge}:{settings.repo}"
    served = service.served()
    shown = ", ".join(served[:20]) + (f" and {len(served) - 20} more" if len(served) > 20 else "")
    skipped = len(service.skipped())
    extra = f"; {skipped} without .promobot.yaml skipped" if skipped else ""
    return f"{len(served)} {settings.forge} repos ({shown or 'none yet'}{extra})"


@main.command()
@env_file_option
@_friendly
def serve(env_file: Path | None) -> None:
    """Run the bot: webhooks, workers and the reconcile loop (settings: PROMOBOT_* variables).

    With no settings it watches the git repo in the current folder (PROMOBOT_FORGE=local).
    """
    import uvicorn

    from bot import logs
    from bot.web.app import create_app

    service = _service(env_file)
    settings = service.settings
    app = create_app(service)
    service.start()
    click.secho(
        f"promobot serving {_serving(service)} on http://{settings.listen} "
        f"(queue: {logs.redact_urls(settings.queue_url or str(settings.data_dir / 'queue.db'))}, "
        f"{settings.workers} worker threads, reconcile every {settings.reconcile_interval})",
        fg="green",
        err=True,
    )
    try:
        uvicorn.run(
            app, host=settings.host, port=settings.port, log_level="warning", access_log=False
        )
    finally:
        service.stop()


@main.command()
@env_file_option
@click.option("--threads", default=2, show_default=True, help="Worker threads in this process.")
@_friendly
def worker(env_file: Path | None, threads: int) -> None:
    """Run only workers, sharing the queue of `promobot serve` (PROMOBOT_QUEUE_URL=redis://…)."""
    service = _service(env_file)
    click.secho(f"promobot worker for {_serving(service)}", err=True)
    service.queue.run_forever(threads)
