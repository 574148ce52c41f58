"""The `promobot` command line. Thin: parse options, call the core, print.

Each run reads `.promobot.yaml` once, and the versions through the version cache in the git
directory (`bot.versioncache`). Modules a command may not need (the engine, the planner, the
renderer, the service) are imported in the commands that use them: a Python import is a
large part of a `promobot status`. That holds in every module of this package:

- `options`: the options the commands share; errors as one line and an exit code
- `checkout`: the checkout at a ref, its configuration and versions, read once a run
- `reading`: status, plan, history
- `contents`: inventory, render, diff (what each environment is made of, and what a
  promotion changes in it)
- `writing`: promote, set, rollback
- `configfile`: validate, init, schema (the `.promobot.yaml` itself)
- `audit`: audit
- `service`: serve, worker

Here: the `promobot` group, which gathers the commands, and the console script.
"""

from __future__ import annotations

import gc

import click

from bot.cli import audit, configfile, contents, reading, service, writing

__all__ = ["main", "run"]


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


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    commands=[
        reading.status,
        reading.plan,
        reading.history,
        contents.inventory,
        contents.render,
        contents.diff,
        writing.promote,
        writing.set_,
        writing.rollback,
        configfile.validate,
        configfile.init,
        configfile.schema,
        audit.audit,
        service.serve,
        service.worker,
    ],
)
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
