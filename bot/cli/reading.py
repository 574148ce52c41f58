"""The commands that only read the checkout: `status` (every app × environment, and what the
clusters report), `plan` (the promotions that are due) and `history` (the compositions an app
ran in an environment)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot import config, names, versions
from bot.cli.checkout import _check_names, _open, _status
from bot.cli.options import _echo_json, _friendly, ref_option, repo_option
from bot.composition import Composition, State, Status
from bot.errors import PromobotError
from bot.forges.local import LocalForge

if TYPE_CHECKING:
    from bot.live.state import Live


@click.command()
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
@click.option(
    "--contents",
    is_flag=True,
    help="Also what each environment is made of (rendered with Helm or Kustomize): workloads, "
    "Ingress hosts, volumes, CRDs (promobot inventory shows all of it).",
)
@_friendly
def status(
    repo: Path,
    ref: str,
    envs: Sequence[str],
    apps: Sequence[str],
    fmt: str,
    live: bool,
    contents: bool,
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
    sheet = None
    if contents:  # imported here: rendering is for --contents only
        from bot.cli.contents import sheet_of

        sheet = sheet_of(forge, State(cfg, snapshot, result), chosen_apps, chosen_envs)
    if fmt == "json":
        data = result.to_json()
        if live:
            data["live"] = {}
            for (app, env), report in reports.items():
                data["live"].setdefault(app, {})[env] = report.to_json()
        if sheet is not None:
            data["contents"] = [cell.to_json() for cell in sheet.cells.values()]
        _echo_json(data)
    elif fmt == "markdown":
        from bot import render

        lines = {key: report.describe() for key, report in reports.items()}
        click.echo(render.status_markdown(result, cfg, lines))
    else:
        _print_matrix(cfg, result)
        for (app, env), report in sorted(reports.items()):
            click.echo(f"{app} in {env}: " + report.describe())
        if sheet is not None:
            from bot.manifests import text

            for (app, env), cell in sheet.cells.items():
                click.echo(f"{app} in {env}: " + text.line(cell))
                for each in text.highlights(cell, markdown=False):
                    click.echo(f"  {each}")


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


@click.command()
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


@click.command()
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
