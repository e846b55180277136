"""The wiring: the one place a run's client, source, state, lock and renderer are built.

The commands and the daemon call :func:`sync_once`, :func:`rerender_all` and
:func:`resolve_conflicts` with the settings; each builds what the engine works on
(:class:`~readwise_sync.engine.run.Workspace`, and for a sync an
:class:`~readwise_sync.readwise.source.ExportV2Source` over a Readwise client) and
hands it to :mod:`readwise_sync.engine.run`. They know nothing of terminals or exit
codes: they raise the errors of :mod:`readwise_sync.errors` and return a
:class:`~readwise_sync.engine.report.SyncReport`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from readwise_sync.app.config import Settings
from readwise_sync.app.locations import VaultLocations
from readwise_sync.engine import run
from readwise_sync.engine.options import RunOptions
from readwise_sync.engine.progress import SILENT, Progress
from readwise_sync.engine.report import SyncReport
from readwise_sync.readwise.client import ReadwiseClient
from readwise_sync.readwise.source import ExportV2Source, Source
from readwise_sync.store.lock import vault_lock
from readwise_sync.store.state import State
from readwise_sync.store.vault import Vault

if TYPE_CHECKING:
    from readwise_sync.notes.render import Renderer


def sync_once(
    settings: Settings,
    *,
    full: bool = False,
    dry_run: bool = False,
    recreate_deleted: bool | None = None,
    client: ReadwiseClient | None = None,
    source: Source | None = None,
    progress: Progress = SILENT,
    stop: threading.Event | None = None,
    lock_wait: float = 0.0,
) -> SyncReport:
    """Run one sync of ``settings.vault`` and return what it did.

    Holds the vault's lock throughout (raising :class:`Locked` when another run
    has it for longer than ``lock_wait`` seconds). The documents come from ``source``,
    or Readwise's export through ``client`` (one built from the settings when neither is
    given). Setting ``stop`` makes the run finish the notes it is writing, record what it
    did and raise :class:`Interrupted`. ``progress`` hears of each page as it comes in,
    each document as it is decided and each note as it is put in place
    (:class:`~readwise_sync.engine.progress.Progress`).
    """
    vault = Vault(settings.require_vault())
    path = lock_path(settings, vault)
    with (
        vault_lock(path, wait=lock_wait, anchor=vault.root, stop=stop) as lock,
        _source(settings, client, source, stop) as made,
        State.open(VaultLocations.at(vault.root, settings.state_dir).state_db) as state,
    ):
        space = run.Workspace(
            vault, state, _renderer(settings), _options(settings), settings.state_dir, lock
        )
        return run.run_sync(
            space,
            made,
            full=full,
            dry_run=dry_run,
            recreate_deleted=recreate_deleted,
            progress=progress,
            stop=stop,
        )


@contextmanager
def _source(
    settings: Settings,
    client: ReadwiseClient | None,
    source: Source | None,
    stop: threading.Event | None,
) -> Iterator[Source]:
    """The source given, or Readwise's export through the client given or one built
    (and closed after the run)."""
    if source is not None:
        yield source
        return
    if client is not None:
        yield ExportV2Source(client)
        return
    own = ReadwiseClient(
        settings.require_token(),
        settings.api_url,
        timeout=settings.timeout,
        max_retries=settings.retries,
        stop=stop,
        token_source=settings.token_source,
    )
    try:
        yield ExportV2Source(own)
    finally:
        own.close()


def lock_path(settings: Settings, vault: Vault) -> Path:
    return VaultLocations.at(vault.root, settings.state_dir).lock


def _renderer(settings: Settings) -> Callable[[], Renderer]:
    def make() -> Renderer:
        from readwise_sync.notes.render import Renderer

        return Renderer(settings.template_dir, settings.tzinfo())

    return make


def _options(settings: Settings) -> RunOptions:
    return RunOptions(
        folder=settings.folder,
        on_delete=settings.on_delete,
        recreate_deleted=settings.recreate_deleted,
        quiet_period=settings.quiet_period,
    )


@contextmanager
def _workspace(
    settings: Settings, renderer: Callable[[], Renderer], lock_wait: float
) -> Iterator[run.Workspace]:
    vault = Vault(settings.require_vault())
    with (
        vault_lock(lock_path(settings, vault), wait=lock_wait, anchor=vault.root) as lock,
        State.open(VaultLocations.at(vault.root, settings.state_dir).state_db) as state,
    ):
        yield run.Workspace(vault, state, renderer, _options(settings), settings.state_dir, lock)


def resolve_conflicts(
    settings: Settings, note: str, *, take: bool, block: str | None = None, lock_wait: float = 0.0
) -> tuple[SyncReport, list[str]]:
    """Settle the conflicts of ``note`` (one ``block``, or all): take Readwise's version
    (``take``) or keep the user's. Returns what the write did and the blocks settled."""
    with _workspace(settings, _renderer(settings), lock_wait) as space:
        return run.resolve(space, note, take=take, block=block)


def rerender_all(
    settings: Settings, *, dry_run: bool = False, lock_wait: float = 0.0
) -> SyncReport:
    """Apply the current templates to every tracked note, from the stored data (no network)."""
    Vault(settings.require_vault())  # a missing vault is said before a broken template
    renderer = _renderer(settings)
    renderer()  # a broken template is reported before anything else is done
    with _workspace(settings, renderer, lock_wait) as space:
        return run.rerender(space, dry_run=dry_run)
