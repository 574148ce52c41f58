"""The commands that run the bot: `serve` (webhooks, workers and the reconcile loop) and
`worker` (only workers, on the queue a `serve` shares)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bot.cli.options import _friendly

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


@click.command()
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


@click.command()
@env_file_option
@click.option("--threads", default=2, show_default=True, help="Worker threads in this process.")
@_friendly
def worker(env_file: Path | None, threads: int) -> None:
    """Run only workers, sharing the queue of `promobot serve` (PROMOBOT_QUEUE_URL=redis://…)."""
    service = _service(env_file)
    click.secho(f"promobot worker for {_serving(service)}", err=True)
    service.queue.run_forever(threads)
