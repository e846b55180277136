"""Settings: the TOML config file, the environment, and command-line overrides.

Precedence, highest first: command-line options, environment variables
(``READWISE_TOKEN``, ``READWISE_API_URL``, ``READWISE_SYNC_STATE_DIR``,
``READWISE_SYNC_VAULT``), the config file, defaults. The config file is
``--config``, else ``READWISE_SYNC_CONFIG``, else ``config.toml`` in the
platform's user config folder; only the default one may be missing.

Loading is strict: an unknown key, a wrong type or an unusable value is an
error, and every problem found is reported, one per line, in one
:class:`ConfigError`. It goes in steps: read the file, read the environment (and
the options), merge them into :class:`~readwise_sync.app.settings.Settings`, check
the values, then read the token.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from readwise_sync.app.locations import default_config_file, default_log_file, default_state_dir
from readwise_sync.app.settings import DEFAULT_API_URL, Settings, VaultSettings
from readwise_sync.app.settings import token_problem as token_problem
from readwise_sync.errors import ConfigError

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


@dataclass(frozen=True)
class Given:
    """What the command line and the environment say, the command line winning."""

    vault: Path | None
    state_dir: Path | None
    api_url: str | None
    token: str | None


def read_environment(
    env: Mapping[str, str], *, vault: Path | None = None, state_dir: Path | None = None
) -> Given:
    """The options given, else the environment's variables (blank ones count as unset)."""
    vault = vault or (Path(env["READWISE_SYNC_VAULT"]) if env.get("READWISE_SYNC_VAULT") else None)
    state = env.get("READWISE_SYNC_STATE_DIR")
    return Given(
        vault=vault.expanduser() if vault else None,
        state_dir=state_dir or (Path(state) if state else None),
        api_url=env.get("READWISE_API_URL") or None,
        token=env.get("READWISE_TOKEN", "").strip() or None,
    )


def _read_file(explicit: Path | None, env: Mapping[str, str]) -> tuple[FileConfig, Path | None]:
    """The config file's keys, and the file (None: the default one, missing)."""
    path, named = _config_path(explicit, env)
    if path.exists() or named:
        return read_config_file(path), path
    return FileConfig(), None


def _relative_to(base: Path) -> Callable[[str | None], Path | None]:
    def as_path(value: str | None) -> Path | None:
        # Relative paths in a config file are relative to that file, not to where cron runs us.
        return (base / Path(value).expanduser()) if value else None

    return as_path


def _log_file(value: bool | str, as_path: Callable[[str | None], Path | None]) -> Path | None:
    if value is True:
        return default_log_file()
    return as_path(value) if isinstance(value, str) else None


def merge(file_config: FileConfig, used_file: Path | None, given: Given) -> Settings:
    """The settings the file and what was given make together (checked by :func:`check`)."""
    as_path = _relative_to(used_file.parent if used_file else Path.cwd())
    profile = VaultSettings(
        vault=given.vault or as_path(file_config.vault),
        folder=file_config.folder.strip("/"),
        template_dir=as_path(file_config.template_dir),
        state_dir=(
            given.state_dir or as_path(file_config.state_dir) or default_state_dir()
        ).expanduser(),
        interval=file_config.interval,
        cron=file_config.cron,
    )
    return Settings(
        profile,
        api_url=(given.api_url or file_config.api_url or DEFAULT_API_URL).rstrip("/"),
        timezone=file_config.timezone,
        timeout=float(file_config.timeout),
        retries=file_config.retries,
        on_delete=file_config.on_delete,
        recreate_deleted=file_config.recreate_deleted,
        log_file=_log_file(file_config.log_file, as_path),
        config_file=used_file,
    )


def _schedule_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    if settings.interval and settings.cron:
        problems.append("interval and cron: set one of them, not both")
    if settings.interval:
        try:
            parse_duration(settings.interval)
        except ConfigError as exc:
            problems.append(str(exc))
    if settings.cron and len(settings.cron.split()) != 5:
        problems.append(f"cron: {settings.cron!r} needs five fields, like '*/30 * * * *'")
    return problems


def _value_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
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
    return problems


def check(settings: Settings, file_config: FileConfig) -> list[str]:
    """The problems of the merged settings; takes in the quiet period, once it is valid."""
    problems = _schedule_problems(settings)
    try:
        settings.quiet_period = _quiet_period(file_config.quiet_period)
    except ConfigError as exc:
        problems.append(str(exc))
    return problems + _value_problems(settings)


def read_token(settings: Settings, file_config: FileConfig, given: Given) -> list[str]:
    """Take in the token: the environment's, else the config's, else its token file's.
    Returns the problems (a token file that can't be read, or is empty)."""
    used_file = settings.config_file
    if given.token:
        settings.token, settings.token_source = given.token, "READWISE_TOKEN"
    elif file_config.token and file_config.token.strip():
        settings.token, settings.token_source = file_config.token.strip(), f"token in {used_file}"
        settings.token_path = used_file
    elif file_config.token_file:
        as_path = _relative_to(used_file.parent if used_file else Path.cwd())
        token_path = as_path(file_config.token_file)
        assert token_path is not None
        try:
            settings.token = token_path.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            return [f"token_file: cannot read {token_path} ({exc.strerror})"]
        settings.token_source, settings.token_path = f"token_file {token_path}", token_path
        if settings.token is None:
            return [f"token_file: {token_path} is empty"]
    return []


def load_settings(
    *,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    vault: Path | None = None,
    state_dir: Path | None = None,
) -> Settings:
    """Resolve the settings for one run. Raises ConfigError listing every problem."""
    env = os.environ if env is None else env
    file_config, used_file = _read_file(config_file, env)
    given = read_environment(env, vault=vault, state_dir=state_dir)
    settings = merge(file_config, used_file, given)
    problems = check(settings, file_config)
    problems += read_token(settings, file_config, given)
    if problems:
        where = f"{used_file}: " if used_file else ""
        raise ConfigError([where + problem for problem in problems])
    return settings
