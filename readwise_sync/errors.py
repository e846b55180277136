"""The exception tree of readwise-sync.

Every error the tool raises on purpose derives from :class:`ReadwiseSyncError`
and carries the exit code the CLI turns it into, so the CLI stays the only
place that maps errors to messages and exit codes while the engine decides
what kind of failure happened. No message built here ever contains the
Readwise token: errors carry URLs (which never hold the token, it travels in a
header) and server ``detail`` texts only.

    ReadwiseSyncError (exit 1)
    ├── ConfigError (exit 2)           bad or missing settings, one problem per line; also
    │                                  a vault missing, a file, or not writable (checks.py)
    ├── APIError (exit 1)              talking to Readwise failed
    │   ├── TokenRejected (exit 3)     401/403 from the API
    │   ├── ServerError                5xx or unexpected status, after retries
    │   ├── NetworkError               timeout or dropped connection, after retries
    │   ├── RateLimited                429 retried until the retry budget ran out
    │   │   └── RetryAfterTooLong      a 429 asking for a wait beyond the cap (15 minutes)
    │   ├── Redirected (exit 2)        a 3xx: api_url is not where Readwise answers
    │   └── InvalidResponse            not JSON, not the documented shape, or beyond a bound
    ├── VaultError (exit 1)            the vault cannot be written as asked
    │   ├── OutsideVault               a target that resolves outside the vault
    │   ├── ReadOnlyNote               a note the user made read-only (skipped, not fatal)
    │   └── UnreadableNote             a note that can't be read (not UTF-8, say): that
    │                                  document is skipped and retried next run
    ├── StateError (exit 1)            the state database is unusable
    ├── Locked (exit 4)                another run holds the vault's lock
    ├── Interrupted (exit 1)           a run stopped early on request (SIGTERM/SIGINT),
    │                                  or while it waited for another run's lock
    └── LockLost (exit 1)              the lock file was removed or replaced mid-run
"""

from __future__ import annotations


class ReadwiseSyncError(Exception):
    """Base of every error readwise-sync raises on purpose."""

    exit_code = 1


class ConfigError(ReadwiseSyncError):
    """The settings are unusable; ``problems`` holds one line per problem."""

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class APIError(ReadwiseSyncError):
    """A request to the Readwise API failed; ``url`` is the request that failed."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        self.url = url
        super().__init__(message)


class TokenRejected(APIError):
    """Readwise refused the token (401 or 403)."""

    exit_code = 3


class ServerError(APIError):
    """The API answered with an error status, still failing after the retries."""

    def __init__(self, message: str, *, url: str | None = None, status: int) -> None:
        self.status = status
        super().__init__(message, url=url)


class NetworkError(APIError):
    """No answer: a timeout, a refused or dropped connection, after the retries."""


class RateLimited(APIError):
    """Still throttled (429) after the retry budget was spent."""

    def __init__(self, message: str, *, url: str | None = None, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message, url=url)


class RetryAfterTooLong(RateLimited):
    """A 429 whose wait is longer than a run waits: failed at once, not slept through.

    ``retry_after`` is the wait asked for, made finite (at most about 31 years).
    """


class Redirected(APIError):
    """The API answered with a redirect, never followed; ``location`` is where it led."""

    exit_code = 2

    def __init__(self, message: str, *, url: str | None = None, location: str | None) -> None:
        self.location = location
        super().__init__(message, url=url)


class InvalidResponse(APIError):
    """A body that is not JSON, or not the documented shape.

    ``book_id`` and ``field`` name the record and field at fault when known.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        book_id: int | None = None,
        field: str | None = None,
    ) -> None:
        self.book_id = book_id
        self.field = field
        super().__init__(message, url=url)


class VaultError(ReadwiseSyncError):
    """A note cannot be read or written as asked; ``path`` is the note at fault."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)


class OutsideVault(VaultError):
    """A target path resolves outside the vault (e.g. through a symlink); nothing was written."""


class ReadOnlyNote(VaultError):
    """A note the user made read-only: reported and skipped, the run goes on."""


class UnreadableNote(VaultError):
    """A note that can't be read as text: its document is skipped this run, not the run."""


class StateError(ReadwiseSyncError):
    """The state database cannot be opened or is of an unknown schema."""


class Locked(ReadwiseSyncError):
    """Another run is syncing this vault; ``pid`` names it when known."""

    exit_code = 4

    def __init__(self, message: str, *, pid: int | None = None) -> None:
        self.pid = pid
        super().__init__(message)


class Interrupted(ReadwiseSyncError):
    """A run stopped early on request; what it wrote is recorded, the cursor is not moved."""


class LockLost(ReadwiseSyncError):
    """The vault's lock file was removed or replaced during the run, which stopped before its
    next notes so that no other run can write beside it; ``path`` is the lock file."""

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(message)


class NotResolved(ReadwiseSyncError):
    """``resolve`` found nothing to settle as asked: no such note, no conflict in it, or the
    user's version of the piece can't be told in the note. Nothing was changed."""

    exit_code = 2
