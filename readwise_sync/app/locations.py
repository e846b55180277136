"""Where things are kept: the default folders, and the files of one vault.

The defaults (the config file, the state folder, the log folder) come from
platformdirs so they follow each platform's conventions (XDG on Linux, ~/Library
on macOS, AppData on Windows). :class:`VaultLocations` names every file kept for
one vault (its state database, lock, daemon status, spool folder, log file), so
each is worked out here only. This module only computes paths; it never creates
anything.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from platformdirs import user_config_path, user_log_path, user_state_path

if TYPE_CHECKING:
    from readwise_sync.app.config import Settings

APP_NAME = "readwise-sync"


def default_config_file() -> Path:
    """The config file read when neither --config nor READWISE_SYNC_CONFIG names one."""
    return user_config_path(APP_NAME, appauthor=False) / "config.toml"


def default_state_dir() -> Path:
    """The folder holding one state database per vault."""
    return user_state_path(APP_NAME, appauthor=False)


def default_log_dir() -> Path:
    """The folder for the optional rotating log file."""
    return user_log_path(APP_NAME, appauthor=False)


def default_log_file() -> Path:
    """The log file of ``log_file = true``."""
    return default_log_dir() / "readwise-sync.log"


def state_db_path(state_dir: Path, vault: Path) -> Path:
    """The state database of one vault.

    Named after the vault folder for a human reading the folder, plus a hash of
    the vault's resolved path so two vaults with the same folder name never
    share a database.
    """
    resolved = str(vault.expanduser().resolve())
    digest = hashlib.sha256(resolved.encode("utf-8")).hexdigest()[:12]
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", vault.resolve().name).strip("-.") or "vault"
    return state_dir / f"{readable[:40]}-{digest}.sqlite3"


@dataclass(frozen=True)
class VaultLocations:
    """The files kept for one vault, each worked out here and nowhere else."""

    root: Path  # the vault folder, absolute and resolved
    state_dir: Path  # the folder holding the state of every vault
    log_file: Path | None = None  # the rotating log file, when the config asks for one

    @classmethod
    def of(cls, settings: Settings) -> VaultLocations:
        """The locations of the settings' vault (ConfigError when there is none)."""
        return cls.at(settings.require_vault(), settings.state_dir, log_file=settings.log_file)

    @classmethod
    def at(cls, vault: Path, state_dir: Path, *, log_file: Path | None = None) -> VaultLocations:
        return cls(vault.expanduser().resolve(), state_dir, log_file)

    @property
    def state_db(self) -> Path:
        """The vault's state database (see :func:`state_db_path`)."""
        return state_db_path(self.state_dir, self.root)

    @property
    def lock(self) -> Path:
        """The lock a run holds on the vault, beside its database."""
        return self.state_db.with_suffix(".lock")

    @property
    def daemon_status(self) -> Path:
        """The running daemon's pid and next run, for ``status``."""
        return self.state_db.with_suffix(".daemon.json")

    @property
    def spool_dir(self) -> Path:
        """Where a sync keeps its decisions until the last page is in (unlinked files)."""
        return self.state_dir
