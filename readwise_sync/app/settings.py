"""The settings of a run, resolved and checked: what :mod:`config` makes of the config file.

Two parts: :class:`VaultSettings`, what belongs to one vault (the vault, its notes
folder, templates, state folder, schedule and token), and :class:`Settings`, which
holds one of them (``profile``) and what the whole tool shares (the API, the clock,
the log file). Each vault attribute also reads and sets through :class:`Settings`
(``settings.vault``), as if it were its own. The token is kept out of ``repr`` so it
can't leak into a log line or a traceback by accident.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypedDict, TypeVar, Unpack, overload
from zoneinfo import ZoneInfo

from readwise_sync.app.locations import default_state_dir
from readwise_sync.errors import ConfigError
from readwise_sync.readwise.tokens import token_problem

DEFAULT_API_URL = "https://readwise.io"

T = TypeVar("T")


@dataclass
class VaultSettings:
    """What belongs to one vault."""

    vault: Path | None = None
    folder: str = "Readwise"
    template_dir: Path | None = None
    state_dir: Path = field(default_factory=default_state_dir)
    interval: str | None = None  # the daemon's schedule: a duration ("1h") ...
    cron: str | None = None  # ... or a cron expression
    token: str | None = field(default=None, repr=False)
    token_source: str | None = None  # where the token came from, named by the messages
    token_path: Path | None = None  # the file holding the token, if one does


class VaultFields(TypedDict, total=False):
    """The fields of :class:`VaultSettings`, as keywords of :class:`Settings`."""

    vault: Path | None
    folder: str
    template_dir: Path | None
    state_dir: Path
    interval: str | None
    cron: str | None
    token: str | None
    token_source: str | None
    token_path: Path | None


class InProfile(Generic[T]):
    """An attribute of the settings' :class:`VaultSettings`, read and set on the settings."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, settings: None, owner: type | None = None) -> InProfile[T]: ...

    @overload
    def __get__(self, settings: Settings, owner: type | None = None) -> T: ...

    def __get__(self, settings: Settings | None, owner: type | None = None) -> Any:
        return self if settings is None else getattr(settings.profile, self.name)

    def __set__(self, settings: Settings, value: T) -> None:
        setattr(settings.profile, self.name, value)


@dataclass(init=False)
class Settings:
    """Everything a run needs to know, resolved and checked.

    Built with the vault's fields as keywords (``Settings(vault=..., token=...)``), or
    from a ``profile``; ``dataclasses.replace`` copies the profile, with any changes."""

    profile: VaultSettings
    api_url: str = DEFAULT_API_URL
    timezone: str | None = None
    timeout: float = 30.0
    retries: int = 6
    on_delete: str = "remove"  # a highlight deleted in Readwise: "remove" its block, or "keep"
    recreate_deleted: bool = False  # write again the notes the user deleted
    log_file: Path | None = None  # also log to this file (rotated)
    # Seconds: a note the user saved since is left for the next run (0: off). The config
    # file's default is config.DEFAULT_QUIET_PERIOD; settings built in code start with it off.
    quiet_period: float = 0.0
    config_file: Path | None = None  # the file these came from, if any

    vault = InProfile[Path | None]()
    folder = InProfile[str]()
    template_dir = InProfile[Path | None]()
    state_dir = InProfile[Path]()
    interval = InProfile[str | None]()
    cron = InProfile[str | None]()
    token = InProfile[str | None]()
    token_source = InProfile[str | None]()
    token_path = InProfile[Path | None]()

    def __init__(
        self,
        profile: VaultSettings | None = None,
        *,
        api_url: str = DEFAULT_API_URL,
        timezone: str | None = None,
        timeout: float = 30.0,
        retries: int = 6,
        on_delete: str = "remove",
        recreate_deleted: bool = False,
        log_file: Path | None = None,
        quiet_period: float = 0.0,
        config_file: Path | None = None,
        **vault: Unpack[VaultFields],
    ) -> None:
        # Always a copy: settings made from others never share (and so never change) theirs.
        self.profile = dataclasses.replace(profile or VaultSettings(), **vault)
        self.api_url, self.timezone = api_url, timezone
        self.timeout, self.retries = timeout, retries
        self.on_delete, self.recreate_deleted = on_delete, recreate_deleted
        self.log_file, self.quiet_period = log_file, quiet_period
        self.config_file = config_file

    def require_vault(self) -> Path:
        if self.vault is None:
            raise ConfigError(
                "no vault: pass --vault PATH, set READWISE_SYNC_VAULT, "
                "or put vault = ... in the config"
            )
        return self.vault

    def require_token(self) -> str:
        if not self.token:
            raise ConfigError(
                "no Readwise token: set READWISE_TOKEN, or token / token_file in the config "
                "(get one at https://readwise.io/access_token)"
            )
        problem = token_problem(self.token)
        if problem:  # checked before any request: it could never be sent
            raise ConfigError(
                f"{self.token_source or 'token'}: the token has {problem} in it; copy it "
                "again from https://readwise.io/access_token (it is letters and digits only)"
            )
        return self.token

    def tzinfo(self) -> ZoneInfo | None:
        """The zone dates are shown in; None means the system's local time."""
        return ZoneInfo(self.timezone) if self.timezone else None
