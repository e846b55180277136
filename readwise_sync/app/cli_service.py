"""``readwise-sync service``: install and uninstall the background service."""

from __future__ import annotations

from pathlib import Path

import click

from readwise_sync.app.cli_options import Group, common, fail, settings_from
from readwise_sync.app.logs import setup_logging
from readwise_sync.app.wording import NOTHING_INSTALLED, installed_lines


@click.group(cls=Group)
def service() -> None:
    """Run readwise-sync as a background service (systemd on Linux, launchd on macOS)."""


@service.command("install")
@common
@click.option("--timer", is_flag=True, help="A one-shot sync on a systemd timer, not a daemon.")
def service_install(
    vault: Path | None,
    config: Path | None,
    state_dir: Path | None,
    verbose: int,
    quiet: bool,
    timer: bool,
) -> None:
    """Write the user service for this machine and print the command that enables it.

    The service gets this shell's vault, state folder, config file and api_url, and a
    timer (--timer) the schedule of `interval` or `cron` in the config.
    """
    setup_logging(verbose, quiet)
    from readwise_sync.app.checks import Need, preflight
    from readwise_sync.app.service import install, service_plan

    try:
        settings = settings_from(config, vault, state_dir)
        preflight(settings, needs=Need.WRITE)  # the schedule and the vault, as `check` says
        # Before the token's own check: a token only this shell has is the service's
        # problem, with its own fix (`init`).
        plan = service_plan(settings)
        preflight(settings, needs=Need.TOKEN)
        written, enable = install(plan, timer=timer)
    except Exception as exc:
        fail(exc, verbose, quiet)
    for line in installed_lines(written, enable):
        click.echo(line)


@service.command("uninstall")
@click.option("-v", "--verbose", count=True, help="More output.")
def service_uninstall(verbose: int) -> None:
    """Stop and disable the user service (or timer, or launchd agent), remove its files."""
    setup_logging(verbose, False)
    from readwise_sync.app.service import uninstall

    try:
        lines = uninstall()
    except Exception as exc:
        fail(exc, verbose)
    for line in lines or [NOTHING_INSTALLED]:
        click.echo(line)
