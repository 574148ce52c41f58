"""The commands about `.promobot.yaml` itself: `validate` checks one and reads every value it
points at, `init` drafts one from what the checkout holds, `schema` prints its JSON Schema."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from bot import config
from bot.cli.checkout import _status
from bot.cli.options import _friendly, repo_option
from bot.errors import ConfigError, Problem, PromobotError
from bot.forges.local import LocalForge


@click.command()
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


@click.command()
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


@click.command(hidden=True)
def schema() -> None:
    """Print the JSON Schema of .promobot.yaml."""
    click.echo(json.dumps(config.schema(), indent=2))
