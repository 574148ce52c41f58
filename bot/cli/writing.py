"""The commands that change the environment repo: `promote`, `set` and `rollback` each plan one
promotion, which `_emit` writes into the working tree or commits on a branch of its own."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from bot.cli.checkout import _check_names, _due, _open, _state
from bot.cli.options import F, _csv, _friendly, ref_option, repo_option
from bot.composition import Snapshot, State
from bot.errors import PromobotError, Taken
from bot.forges.local import LocalForge

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot import planner
    from bot.gates import GateResult
    from bot.manifests.model import AppDiff
    from bot.manifests.renderer import Renderer
    from bot.signing import Signer

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


def _promotion_options(func: F) -> F:
    """What every command that makes a promotion takes after its own arguments and options:
    --write, --shared, --body, --repo and --ref, in that order in its help; errors as one line
    (`_friendly`)."""
    return write_option(shared_option(body_option(repo_option(ref_option(_friendly(func))))))


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
    from bot.cli.contents import renderer_for

    renderer = renderer_for(forge)  # what the promotion changes in the cluster, shown below
    try:
        if write:
            changes = planner.apply(state.config, promotion, state.snapshot, older)
            forge.write_worktree(changes)
            click.secho(f"Wrote {len(changes)} file(s): {', '.join(sorted(changes))}", fg="green")
            click.echo()
            click.echo(render.title(promotion))
            click.echo()
            diffs = engine.copy_diffs(promotion, state.snapshot, changes)
            click.echo(terminal.promotion(promotion, state.config, gates, diffs=diffs))
            _cluster(renderer.promotion(state, promotion, changes))
            return
        _branch(forge, state, promotion, older, gates, body, signer, renderer)
    finally:
        renderer.sandbox.close()


def _cluster(found: Sequence[AppDiff]) -> None:
    from bot.manifests import diff as diffing

    click.echo()
    click.secho("What changes in the cluster", bold=True)
    click.echo("\n\n".join(diffing.to_text(d) for d in found))


def _branch(
    forge: LocalForge,
    state: State,
    promotion: planner.Promotion,
    older: Mapping[str, Snapshot] | None,
    gates: Sequence[GateResult],
    body: bool,
    signer: Signer,
    renderer: Renderer,
) -> None:
    """Make the promotion's branch and show it (or, with `body`, the PR description)."""
    from bot import engine, terminal
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
            forge,
            state,
            promotion,
            signer,
            older,
            gates,
            changelogs=notes,
            vouched=vouched,
            impact=lambda st, made, changes: renderer.promotion(st, made, changes),
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
    if opened.impact is not None:
        _cluster(opened.impact)
    click.echo()
    click.secho(
        f"The change: git show {promotion.branch}; the PR's description (markdown): --body",
        fg="bright_black",
    )


@click.command()
@click.argument("app")
@click.option("--to", "env", required=True, help="The environment to promote into.")
@click.option("--only", help="Only these components, e.g. --only image or --only chart,config.")
@_promotion_options
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
    state, apps, promotions = _due(forge, snapshot, cfg, app, env, _csv(only), shared)
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


@click.command(name="set")
@click.argument("app")
@click.argument("component")
@click.argument("version")
@click.option("--env", required=True, help="The environment to change, usually the first one.")
@_promotion_options
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


@click.command()
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
@_promotion_options
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
