"""The ``readwise-sync`` command line (click).

Its exit codes, whichever command:

    0  done             3  token rejected
    1  sync failed      4  another run holds the vault's lock
    2  usage or config  5  done but for the documents named (retried next run)
       error          130  stopped by SIGTERM or Ctrl-C

A user's mistake is one clear line on stderr, never a traceback (``-v``
adds the traceback of an unexpected error). On a terminal a progress line
shows while a sync runs; under cron only the summary and what needs the
user's attention (stdout) and errors (stderr). The sentences themselves are
in :mod:`wording`; ``-q`` leaves only errors.

This module is the group; the commands are in the ``cli_*`` modules, by family:
:mod:`cli_sync` (sync, daemon, rerender), :mod:`cli_notes` (status, resolve,
check), :mod:`cli_setup` (init, demo, fake-server), :mod:`cli_service`; what they
share (options, errors, exits) is in :mod:`cli_options`.
"""

from __future__ import annotations

import click

from readwise_sync import __version__
from readwise_sync.app import cli_notes, cli_service, cli_setup, cli_sync
from readwise_sync.app.cli_options import Group, environment


@click.group(
    cls=Group, context_settings={"help_option_names": ["-h", "--help"]}, epilog=environment()
)
@click.version_option(__version__, prog_name="readwise-sync")
def main() -> None:
    """Keep an Obsidian vault in step with your Readwise library."""


for command in (
    cli_sync.sync,
    cli_sync.daemon,
    cli_sync.rerender,
    cli_notes.status,
    cli_notes.resolve,
    cli_notes.check,
    cli_setup.init,
    cli_setup.demo,
    cli_setup.fake_server,
    cli_service.service,
):
    main.add_command(command)
