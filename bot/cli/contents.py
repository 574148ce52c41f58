"""The commands that say what each environment is made of: `inventory` (every cell's objects,
by kind, with what people look for first) and `render` (one cell's manifests, as Helm or
Kustomize render them). Renderings are kept in `.git/promobot/render/` by what they depend on,
so a second run renders only what changed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot import names
from bot.cli.checkout import _check_names, _due, _open, _status
from bot.cli.options import _csv, _echo_json, _friendly, ref_option, repo_option
from bot.composition import State

if TYPE_CHECKING:
    from bot.forges.local import LocalForge
    from bot.manifests.model import Sheet
    from bot.manifests.renderer import Renderer


def renderer_for(forge: LocalForge) -> Renderer:
    """The command line's renderer: kept renderings and charts in the git directory, limits
    from the PROMOBOT_RENDER_* settings when set."""
    from bot import wiring
    from bot.manifests.sandbox import Sandbox
    from bot.settings import Settings

    settings = Settings(forge="local", data_dir=forge.store.parent)
    sandbox = Sandbox(settings.render_workers, settings.render_timeout, settings.render_memory_mb)
    return wiring.renderer(settings, lambda repo: forge, sandbox)


def sheet_of(
    forge: LocalForge, state: State, apps: Sequence[str] | None, envs: Sequence[str] | None
) -> Sheet:
    renderer = renderer_for(forge)
    try:
        return renderer.sheet(state, apps, envs)
    finally:
        renderer.sandbox.close()


@click.command()
@repo_option
@ref_option
@click.option(
    "--env", "envs", multiple=True, help="Only these environments: a name or a glob (repeatable)."
)
@click.option(
    "--app", "apps", multiple=True, help="Only these apps: a name or a glob (repeatable)."
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@_friendly
def inventory(repo: Path, ref: str, envs: Sequence[str], apps: Sequence[str], fmt: str) -> None:
    """What each app × environment is made of: its objects by kind, workloads and the images
    they run, Ingress hosts, volumes, CRDs, cluster-wide RBAC, Secrets by name."""
    from bot.manifests import text

    forge, snapshot, cfg = _open(repo, ref)
    chosen_apps = names.select(list(cfg.apps), apps, "app") if apps else None
    chosen_envs = names.select(cfg.order, envs, "environment") if envs else None
    state = State(cfg, snapshot, _status(forge, snapshot, cfg, chosen_apps, chosen_envs))
    sheet = sheet_of(forge, state, chosen_apps, chosen_envs)
    if fmt == "json":
        _echo_json({"commit": sheet.commit, "cells": [c.to_json() for c in sheet.cells.values()]})
        return
    click.echo(
        text.table(
            sheet, chosen_apps or list(cfg.apps), chosen_envs or list(state.status.environments)
        )
    )


@click.command()
@repo_option
@ref_option
@click.argument("app")
@click.option("--env", required=True, help="The environment whose manifests to print.")
@_friendly
def render(repo: Path, ref: str, app: str, env: str) -> None:
    """Print APP's manifests in an environment, as the deploying tool renders them (Secrets'
    values redacted)."""
    forge, snapshot, cfg = _open(repo, ref)
    _check_names(cfg, [app], [env])
    state = State(cfg, snapshot, _status(forge, snapshot, cfg, [app], [env]))
    renderer = renderer_for(forge)
    try:
        manifests = renderer.manifests(state, app, env)
    finally:
        renderer.sandbox.close()
    click.echo(manifests, nl=False)


@click.command()
@repo_option
@ref_option
@click.argument("app")
@click.option("--to", "env", required=True, help="The environment the promotion goes into.")
@click.option("--only", help="Only these components, e.g. --only image or --only chart,config.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text")
@_friendly
def diff(repo: Path, ref: str, app: str, env: str, only: str | None, fmt: str) -> None:
    """What the due promotion of APP (or a group) into an environment changes in the
    cluster: the objects it adds, removes and changes, field by field, and their impact."""
    from bot import planner
    from bot.manifests import diff as diffing

    forge, snapshot, cfg = _open(repo, ref)
    _check_names(cfg, [], [env])
    state, _, promotions = _due(forge, snapshot, cfg, app, env, _csv(only))
    if not promotions:
        upstream = cfg.environments[env].upstream
        click.echo(f"Nothing to promote: {app} in {env} already runs what {upstream} runs.")
        return
    promotion = promotions[0]
    changes = planner.apply(state.config, promotion, state.snapshot)
    renderer = renderer_for(forge)
    try:
        found = renderer.promotion(state, promotion, changes)
    finally:
        renderer.sandbox.close()
    if fmt == "json":
        _echo_json({"promotions": [d.to_json() for d in found]})
    elif fmt == "markdown":
        from bot.render.impact import impact_markdown

        click.echo(impact_markdown(found))
    else:
        click.echo("\n\n".join(diffing.to_text(d) for d in found))
