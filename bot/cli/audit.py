"""`promobot audit`: who promoted what, where, when, on whose approval, read back from the
checkout's history and PRs, or from the service's own log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bot.cli.options import _friendly, repo_option
from bot.errors import PromobotError
from bot.forges.local import LocalForge


@click.command()
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
