"""Default locations: the config file, the state folder, the log folder.

All of them come from platformdirs so they follow each platform's conventions
(XDG on Linux, ~/Library on macOS, AppData on Windows). This module only
computes paths; it never creates anything.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from platformdirs import user_config_path, user_log_path, user_state_path

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
