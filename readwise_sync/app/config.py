"""Settings: the TOML config file, the environment, and command-line overrides.

Precedence, highest first: command-line options, environment variables
(``READWISE_TOKEN``, ``READWISE_API_URL``, ``READWISE_SYNC_STATE_DIR``,
``READWISE_SYNC_VAULT``), the config file, defaults. The config file is
``--config``, else ``READWISE_SYNC_CONFIG``, else ``config.toml`` in the
platform's user config folder; only the default one may be missing.

Loading is strict: an unknown key, a wrong type or an unusable value is an
error, and every problem found is reported, one per line, in one
:class:`ConfigError`. The token is kept out of ``repr`` so it can't leak into
a log line or a traceback by accident.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from readwise_sync.app.locations import default_config_file, default_log_dir, default_state_dir
from readwise_sync.errors import ConfigError

DEFAULT_API_URL = "https://readwise.io"
# Seconds a note must have been left alone before a sync writes it (see cloud.too_recent).
DEFAULT_QUIET_PERIOD = 5.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, *, setting: str = "interval", allow_zero: bool = False) -> float:
    """``90s``, ``30m``, ``1h``, ``1d`` (or a bare number of seconds) to seconds.

    Zero is refused unless ``allow_zero``; ``setting`` names the key in the message.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if not match or (float(match.group(1)) <= 0 and not allow_zero):
        raise ConfigError(f"{setting}: {text!r} is not a duration like 90s, 30m, 1h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _quiet_period(value: str | float) -> float:
    """The quiet period in seconds: a duration, or a number of seconds; 0 turns it off."""
    if isinstance(value, str):
        return parse_duration(value, setting="quiet_period", allow_zero=True)
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"quiet_period: {value!r} is not a number of seconds, 0 or more")
    return float(value)


def token_problem(token: str) -> str | None:
    """What in ``token`` can't go into an HTTP header, in words (never the token itself)."""
    for char in token:
        if char in "\r\n":
            return "a line break"
        if char == "\u00a0":
            return "a non-breaking space"
        if char.isspace():
            return "a space or tab"
        if not "!" <= char <= "~":
            return "a non-ASCII character" if ord(char) > 127 else "a control character"
    return None


class FileConfig(BaseModel):
    """The keys a config file may hold (see config.example.toml)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    vault: str | None = None
    folder: str = "Readwise"
    token: str | None = None
    token_file: str | None = None
    api_url: str | None = None
    template_dir: str | None = None
    state_dir: str | None = None
    timezone: str | None = None
    timeout: float = Field(default=30, gt=0)  # strict mode still accepts an int here
    retries: int = Field(default=6, ge=0, le=20)
    on_delete: Literal["remove", "keep"] = "remove"
    recreate_deleted: bool = False
    interval: str | None = None
    cron: str | None = None
    log_file: bool | str = False
    quiet_period: str | float = DEFAULT_QUIET_PERIOD


@dataclass
class Settings:
    """Everything a run needs to know, resolved and checked."""

    vault: Path | None = None
    folder: str = "Readwise"
    token: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    template_dir: Path | None = None
    state_dir: Path = field(default_factory=default_state_dir)
    timezone: str | None = None
    timeout: float = 30.0
    retries: int = 6
    on_delete: str = "remove"  # a highlight deleted in Readwise: "remove" its block, or "keep"
    recreate_deleted: bool = False  # write again the notes the user deleted
    interval: str | None = None  # the daemon's schedule: a duration ("1h") ...
    cron: str | None = None  # ... or a cron expression
    log_file: Path | None = None  # also log to this file (rotated)
    # Seconds: a note the user saved since is left for the next run (0: off). The config
    # file's default is DEFAULT_QUIET_PERIOD; settings built in code start with it off.
    quiet_period: float = 0.0
    config_file: Path | None = None  # the file these came from, if any
    token_source: str | None = None  # where the token came from, named by the messages
    token_path: Path | None = None  # the file holding the token, if one does

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


def _config_path(explicit: Path | None, env: Mapping[str, str]) -> tuple[Path, bool]:
    """The config file to read, and whether the user named it (then it must exist)."""
    if explicit is not None:
        return explicit.expanduser(), True
    if env.get("READWISE_SYNC_CONFIG"):
        return Path(env["READWISE_SYNC_CONFIG"]).expanduser(), True
    return default_config_file(), False


def _describe(error: Mapping[str, Any], known: list[str]) -> str:
    key = ".".join(str(part) for part in error.get("loc", ())) or "(file)"
    if error.get("type") == "extra_forbidden":
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key {key!r}{hint}"
    return f"{key}: {error.get('msg', 'invalid value')}"


def read_config_file(path: Path) -> FileConfig:
    """Parse and check one config file; every problem becomes one line of the ConfigError."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return FileConfig.model_validate(data)
    except ValidationError as exc:
        known = list(FileConfig.model_fields)
        raise ConfigError([f"{path}: {_describe(e, known)}" for e in exc.errors()]) from None


def _read_timing(settings: Settings, file_config: FileConfig) -> list[str]:
    """Take the daemon's schedule and the quiet period into ``settings``; the problems."""
    problems: list[str] = []
    settings.interval, settings.cron = file_config.interval, file_config.cron
    if settings.interval and settings.cron:
        problems.append("interval and cron: set one of them, not both")
    if settings.interval:
        try:
            parse_duration(settings.interval)
        except ConfigError as exc:
            problems.append(str(exc))
    if settings.cron and len(settings.cron.split()) != 5:
        problems.append(f"cron: {settings.cron!r} needs five fields, like '*/30 * * * *'")
    try:
        settings.quiet_period = _quiet_period(file_config.quiet_period)
    except ConfigError as exc:
        problems.append(str(exc))
    return problems


def load_settings(
    *,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    vault: Path | None = None,
    state_dir: Path | None = None,
) -> Settings:
    """Resolve the settings for one run. Raises ConfigError listing every problem."""
    env = os.environ if env is None else env
    path, named = _config_path(config_file, env)
    file_config = FileConfig()
    used_file: Path | None = None
    if path.exists() or named:
        file_config = read_config_file(path)
        used_file = path
    base = used_file.parent if used_file else Path.cwd()

    def as_path(value: str | None) -> Path | None:
        # Relative paths in a config file are relative to that file, not to where cron runs us.
        return (base / Path(value).expanduser()) if value else None

    problems: list[str] = []
    settings = Settings(folder=file_config.folder.strip("/"), config_file=used_file)
    settings.vault = vault or (
        Path(env["READWISE_SYNC_VAULT"]) if env.get("READWISE_SYNC_VAULT") else None
    )
    settings.vault = (settings.vault.expanduser() if settings.vault else None) or as_path(
        file_config.vault
    )
    settings.state_dir = (
        state_dir
        or (Path(env["READWISE_SYNC_STATE_DIR"]) if env.get("READWISE_SYNC_STATE_DIR") else None)
        or as_path(file_config.state_dir)
        or default_state_dir()
    ).expanduser()
    settings.template_dir = as_path(file_config.template_dir)
    settings.api_url = (
        env.get("READWISE_API_URL") or file_config.api_url or DEFAULT_API_URL
    ).rstrip("/")
    settings.timeout = float(file_config.timeout)
    settings.retries = file_config.retries
    settings.on_delete = file_config.on_delete
    settings.recreate_deleted = file_config.recreate_deleted
    if file_config.log_file is True:
        settings.log_file = default_log_dir() / "readwise-sync.log"
    elif isinstance(file_config.log_file, str) and file_config.log_file:
        settings.log_file = as_path(file_config.log_file)
    problems += _read_timing(settings, file_config)
    settings.timezone = file_config.timezone

    if not settings.api_url.startswith(("https://", "http://")):
        problems.append(f"api_url: {settings.api_url!r} is not an http(s) URL")
    if ".." in Path(settings.folder).parts or Path(settings.folder).is_absolute():
        problems.append(f"folder: {settings.folder!r} must be a folder inside the vault")
    if settings.timezone:
        try:
            ZoneInfo(settings.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                f"timezone: unknown time zone {settings.timezone!r} (try 'Europe/Madrid')"
            )
    if settings.template_dir is not None and not settings.template_dir.is_dir():
        problems.append(f"template_dir: {settings.template_dir} is not a folder")

    if env.get("READWISE_TOKEN", "").strip():
        settings.token, settings.token_source = env["READWISE_TOKEN"].strip(), "READWISE_TOKEN"
    elif file_config.token and file_config.token.strip():
        settings.token, settings.token_source = file_config.token.strip(), f"token in {used_file}"
        settings.token_path = used_file
    elif file_config.token_file:
        token_path = as_path(file_config.token_file)
        assert token_path is not None
        try:
            settings.token = token_path.read_text(encoding="utf-8").strip() or None
            settings.token_source = f"token_file {token_path}"
            settings.token_path = token_path
            if settings.token is None:
                problems.append(f"token_file: {token_path} is empty")
        except OSError as exc:
            problems.append(f"token_file: cannot read {token_path} ({exc.strerror})")

    if problems:
        where = f"{used_file}: " if used_file else ""
        raise ConfigError([where + problem for problem in problems])
    return settings
