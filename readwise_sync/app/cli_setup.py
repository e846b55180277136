"""The commands for getting started: ``init``, the ``demo``, the ``fake-server``.

No prompt ever hangs: without a terminal to ask on, what is missing is an error
naming the option to pass.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from readwise_sync.app.cli_options import (
    INTERRUPTED,
    Command,
    environment,
    fail,
    graceful_stop,
    warn,
)
from readwise_sync.app.logs import setup_logging
from readwise_sync.app.wording import (
    NOTHING_ON_STDIN,
    STOPPED_AT_PROMPT,
    cannot_ask,
    cannot_listen,
    demo_cannot_create,
    demo_lines,
    demo_not_a_folder,
    demo_not_empty,
    fake_server_lines,
    from_environment_line,
    init_lines,
)
from readwise_sync.errors import ConfigError, ReadwiseSyncError


def _asked(given: str | None, option: str, question: str, *, env: str, hide: bool = False) -> str:
    """The option's value, else the environment's, else the user's answer; without a
    terminal to ask on, a ConfigError naming the option (never a prompt that hangs)."""
    if given == "-" and option == "--token":
        given = sys.stdin.read().strip()
        if not given:
            raise ConfigError(NOTHING_ON_STDIN)
    if given:
        return given
    if os.environ.get(env, "").strip():
        click.echo(from_environment_line(option[2:], env))
        return os.environ[env].strip()
    if not sys.stdin.isatty():
        raise ConfigError(cannot_ask(option[2:], option))
    answer: str = click.prompt(question, hide_input=hide)
    return answer


@click.command(
    cls=Command,
    epilog=environment(
        "READWISE_TOKEN", "READWISE_SYNC_VAULT", "READWISE_SYNC_CONFIG", "READWISE_API_URL"
    ),
)
@click.option("--vault", metavar="PATH", help="The Obsidian vault folder (asked if not given).")
@click.option("--token", metavar="TOKEN", help="Your Readwise token; `-` reads it from stdin.")
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the config here (default: READWISE_SYNC_CONFIG, else the user config folder).",
)
@click.option("--api-url", metavar="URL", help="A Readwise API other than readwise.io.")
@click.option("--force", is_flag=True, help="Replace an existing config and token file.")
@click.option("-v", "--verbose", count=True, help="More output.")
def init(
    vault: str | None,
    token: str | None,
    config: Path | None,
    api_url: str | None,
    force: bool,
    verbose: int,
) -> None:
    """Check your vault and token, then write the config and a private token file.

    Nothing is written unless Readwise accepts the token. Afterwards `sync` and
    `service install` need no option: the config names the vault and the token.
    """
    setup_logging(verbose, False)
    from readwise_sync.app import initialize

    try:
        target = initialize.Target.choose(config, os.environ, force=force)
        where = _asked(vault, "--vault", "Obsidian vault folder", env="READWISE_SYNC_VAULT")
        root, warning = initialize.check_vault(Path(where))
        if warning:
            warn(warning)
        secret = _asked(token, "--token", "Readwise token", env="READWISE_TOKEN", hide=True)
        url = initialize.api_url_for(api_url, os.environ)
        secret = initialize.check_token(secret, url)
        initialize.write_setup(target, root, secret, url, force=force)
    except click.Abort:  # Ctrl-C at a prompt
        click.echo("", err=True)
        warn(STOPPED_AT_PROMPT)
        sys.exit(INTERRUPTED)
    except Exception as exc:
        fail(exc, verbose)
    shell_token = os.environ.get("READWISE_TOKEN", "").strip()
    for line in init_lines(target, root, url, shadowed=shell_token not in ("", secret)):
        click.echo(line)


def _demo_folder(path: Path) -> None:
    """``path`` as the demo's vault: a new, empty or demo-made folder, created if missing."""
    from readwise_sync.app.initialize import foreign_note

    if path.exists() and not path.is_dir():
        raise ConfigError(demo_not_a_folder(path))
    if theirs := foreign_note(path):
        raise ConfigError(demo_not_empty(path, theirs))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(demo_cannot_create(path, exc.strerror)) from exc


@click.command(cls=Command)
@click.argument(
    "path", required=False, default="readwise-demo-vault", type=click.Path(path_type=Path)
)
@click.option("-v", "--verbose", count=True, help="More output.")
def demo(path: Path, verbose: int) -> None:
    """Sync a built-in demo library into PATH (no token needed).

    A fake Readwise server runs on this machine (127.0.0.1) and the real sync
    talks to it over HTTP, so this is exactly what `sync` does with your library.
    """
    setup_logging(verbose, False)
    from readwise_sync.app.initialize import DEMO_STATE
    from readwise_sync.app.settings import Settings
    from readwise_sync.app.wiring import sync_once
    from readwise_sync.readwise.fakeapi import FakeReadwise

    try:
        _demo_folder(path)
        with FakeReadwise.demo() as server:
            settings = Settings(
                vault=path,
                token=server.token,
                api_url=server.url,
                # Kept inside the demo vault (a hidden folder Obsidian ignores), so the demo
                # never touches the state of a real vault.
                state_dir=path / DEMO_STATE,
            )
            report = sync_once(settings)
    except ReadwiseSyncError as exc:
        fail(exc, verbose)
    for line in demo_lines(report, path):
        click.echo(line)


@click.command("fake-server", cls=Command)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port on 127.0.0.1 (default: any)."
)
@click.option(
    "--books", type=click.IntRange(min=1), help="Serve N documents made from the demo library."
)
def fake_server(port: int, books: int | None) -> None:
    """Serve a fake Readwise on 127.0.0.1, to try every command without an account.

    It serves the demo library (or --books N documents) until Ctrl-C or SIGTERM.
    """
    import secrets

    from readwise_sync.app.initialize import fake_server as make_server

    stop = graceful_stop()
    server = make_server(books=books, token=secrets.token_hex(16), port=port)
    try:
        server.start()
    except OSError as exc:
        fail(ConfigError(cannot_listen(port, exc.strerror)), 0)
    try:
        told, shell = fake_server_lines(len(server.books()), server.url, server.token)
        for line in told:
            click.echo(line, err=True)
        for line in shell:
            click.echo(line)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass  # a second Ctrl-C: stop all the same
    finally:
        server.stop()
