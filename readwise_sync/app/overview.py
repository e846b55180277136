"""What ``readwise-sync status`` reports: the vault's state, its daemon, its conflicts.

Read only: it opens the state database if there is one and reads the notes that
have conflicts, and writes nothing.
"""

from __future__ import annotations

from typing import Any

from readwise_sync.app.checks import Need, preflight
from readwise_sync.app.config import Settings
from readwise_sync.app.daemon import read_daemon_status
from readwise_sync.app.locations import VaultLocations
from readwise_sync.app.wording import conflict_info
from readwise_sync.engine.resolving import waiting
from readwise_sync.store.state import State
from readwise_sync.store.vault import Vault


def status_info(settings: Settings) -> dict[str, Any]:
    """Everything ``status`` shows, as ``status --json`` prints it."""
    preflight(settings, needs=Need.VAULT)
    where = VaultLocations.of(settings)
    root, db = where.root, where.state_db
    if db.exists():
        with State.open(db) as state:
            recorded = {
                "notes_tracked": state.count_notes(),
                "cursor": (c.isoformat() if (c := state.load_cursor()) else None),
                "last_run": state.load_last_run(),
                "conflicts": [conflict_info(w) for w in waiting(state, Vault(root))],
            }
    else:
        recorded = {"notes_tracked": 0, "cursor": None, "last_run": None, "conflicts": []}
    info = {
        "vault": str(root),
        "state": str(db),
        "config": str(settings.config_file) if settings.config_file else None,
        "log_file": str(where.log_file) if where.log_file else None,
        "daemon": read_daemon_status(settings),
        **recorded,
    }
    return info
