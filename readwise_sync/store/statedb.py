"""SQLite for the sync state, failing in words the user can act on.

:func:`connect` opens the state database on a connection whose every failure (a
statement, a row read, a commit) is raised as a :class:`StateError` naming the file,
what went wrong and what to do; :func:`state_error` says the same of an ``OSError``
met in the state folder. A corrupt database may simply be removed: it only records
what the vault already holds, and the next sync adopts the notes again (the README's
"A broken state" says what is forgotten).
"""

from __future__ import annotations

import errno
import functools
import shlex
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from readwise_sync.errors import StateError

_F = TypeVar("_F", bound=Callable[..., Any])

_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_FULL = {sqlite3.SQLITE_FULL}
_READ_ONLY = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM}
_OS_FULL = {errno.ENOSPC, errno.EDQUOT}
_OS_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}


def _remove(path: Path) -> str:
    return (
        f"remove it (rm {shlex.quote(str(path))}*) and sync again: the notes stay and are "
        "adopted again, but the conflicts waiting are forgotten and notes you deleted come back"
    )


def _advice(path: Path, kind: str) -> str:
    return {
        "corrupt": f"it only records what the vault holds, so {_remove(path)}",
        "full": "free some space on its disk (or set state_dir to another) and sync again",
        "read-only": (
            f"make it and {path.parent} writable by you (or set state_dir to a folder that "
            "is) and sync again"
        ),
        "cannot open": f"make {path.parent} a folder you can write to (or set state_dir)",
        "busy": "another program holds it (a database browser?): close that and sync again",
        "io": "check its disk (full? unmounted? failing?) and sync again",
    }.get(kind, f"sync again, and if it keeps failing, {_remove(path)}")


def _kind(exc: BaseException) -> str:
    if isinstance(exc, sqlite3.Error):
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF  # the primary code
        if code in _CORRUPT:
            return "corrupt"
        if code in _FULL:
            return "full"
        if code in _READ_ONLY:
            return "read-only"
        named = {
            sqlite3.SQLITE_CANTOPEN: "cannot open",
            sqlite3.SQLITE_BUSY: "busy",
            sqlite3.SQLITE_LOCKED: "busy",
            sqlite3.SQLITE_IOERR: "io",
        }
        return named.get(code, "other")
    number = getattr(exc, "errno", None)
    return "full" if number in _OS_FULL else "read-only" if number in _OS_READ_ONLY else "io"


def _disk_full(path: Path) -> bool:
    try:
        return shutil.disk_usage(path if path.is_dir() else path.parent).free < 1 << 20
    except OSError:
        return False


def state_error(path: Path, exc: BaseException, what: str = "the state database") -> StateError:
    """The StateError for a failure of the state database (or folder) at ``path``."""
    kind = _kind(exc)
    if kind == "io" and _disk_full(path):
        kind = "full"  # SQLite says "disk I/O error" of some writes to a full disk
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    head = {
        "corrupt": f"{what} {path} is corrupt",
        "full": f"no space left for {what} {path}",
        "read-only": f"{what} {path} cannot be written",
        "cannot open": f"cannot open {what} {path}",
        "busy": f"{what} {path} is busy",
        "io": f"cannot read or write {what} {path}",
    }.get(kind, f"{what} {path} failed")
    return StateError(f"{head} ({detail}); {_advice(path, kind)}")


def _guarded(method: _F) -> _F:
    @functools.wraps(method)
    def call(self: sqlite3.Cursor, *args: Any) -> Any:
        try:
            return method(self, *args)
        except sqlite3.Error as exc:
            raise state_error(getattr(self.connection, "path", Path("?")), exc) from exc

    return call  # type: ignore[return-value]


class _Cursor(sqlite3.Cursor):
    execute = _guarded(sqlite3.Cursor.execute)
    executemany = _guarded(sqlite3.Cursor.executemany)
    executescript = _guarded(sqlite3.Cursor.executescript)
    fetchone = _guarded(sqlite3.Cursor.fetchone)
    fetchmany = _guarded(sqlite3.Cursor.fetchmany)
    fetchall = _guarded(sqlite3.Cursor.fetchall)
    __next__ = _guarded(sqlite3.Cursor.__next__)


class Connection(sqlite3.Connection):
    """A connection whose statements fail as :class:`StateError` naming ``path``."""

    path: Path

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(_Cursor)

    # sqlite3 runs these on a cursor it makes itself, not through cursor(): go through it.
    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> Any:
        return self.cursor().executescript(sql_script)


def connect(path: Path) -> Connection:
    """Open the state database at ``path`` (autocommit: the caller begins transactions)."""
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=30, factory=Connection)
    except sqlite3.Error as exc:
        raise state_error(path, exc) from exc
    db.path = path
    return db
