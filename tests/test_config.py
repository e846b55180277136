"""Settings from TOML + environment: strict, every problem on its own line."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from readwise_sync.app.config import DEFAULT_API_URL, load_settings
from readwise_sync.app.locations import VaultLocations, state_db_path
from readwise_sync.app.overview import status_info
from readwise_sync.app.settings import Settings, VaultSettings
from readwise_sync.app.wiring import sync_once
from readwise_sync.errors import ConfigError, Locked
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.store.lock import vault_lock


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nothing-here"))
    settings = load_settings(env={}, vault=tmp_path)
    assert settings.vault == tmp_path
    assert settings.api_url == DEFAULT_API_URL
    assert settings.folder == "Readwise"
    assert settings.token is None and settings.config_file is None


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path) -> None:
    config = write(
        tmp_path / "c.toml",
        'vualt = "x"\nfolder = 3\ntimeout = -1\napi_url = "ftp://x"\ntimezone = "Mars/Base"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=config, env={})
    problems = info.value.problems
    assert len(problems) == 3  # the type errors first; value checks follow once those are fixed
    assert any("unknown key 'vualt'" in p and "did you mean 'vault'" in p for p in problems)
    assert any(p.startswith(f"{config}: folder") for p in problems)
    assert any("timeout" in p for p in problems)
    config = write(tmp_path / "c.toml", 'api_url = "ftp://x"\ntimezone = "Mars/Base"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=config, env={})
    assert len(info.value.problems) == 2
    assert all("\n" not in p for p in info.value.problems)


def test_invalid_toml_is_one_line_naming_the_file(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "vault = \n")
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=config, env={})
    assert len(info.value.problems) == 1 and str(config) in info.value.problems[0]


def test_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(config_file=tmp_path / "missing.toml", env={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(env={"READWISE_SYNC_CONFIG": str(tmp_path / "missing.toml")})


def test_precedence_cli_then_env_then_file(tmp_path: Path) -> None:
    config = write(
        tmp_path / "c.toml",
        'vault = "notes"\ntoken = "file-token"\napi_url = "http://127.0.0.1:1"\nstate_dir = "st"\n',
    )
    settings = load_settings(config_file=config, env={})
    assert settings.vault == tmp_path / "notes"  # relative to the config file
    assert settings.state_dir == tmp_path / "st"
    assert settings.token == "file-token"
    env = {
        "READWISE_TOKEN": "env-token",
        "READWISE_API_URL": "http://127.0.0.1:2/",
        "READWISE_SYNC_VAULT": str(tmp_path / "env-vault"),
        "READWISE_SYNC_STATE_DIR": str(tmp_path / "env-state"),
    }
    settings = load_settings(config_file=config, env=env)
    assert (settings.token, settings.api_url) == ("env-token", "http://127.0.0.1:2")
    assert settings.vault == tmp_path / "env-vault"
    assert settings.state_dir == tmp_path / "env-state"
    settings = load_settings(
        config_file=config, env=env, vault=tmp_path / "cli", state_dir=tmp_path / "cli-state"
    )
    assert settings.vault == tmp_path / "cli" and settings.state_dir == tmp_path / "cli-state"


def test_token_file(tmp_path: Path) -> None:
    write(tmp_path / "token", "  secret-from-file\n")
    config = write(tmp_path / "c.toml", 'token_file = "token"\n')
    assert load_settings(config_file=config, env={}).token == "secret-from-file"
    config = write(tmp_path / "c.toml", 'token_file = "absent"\n')
    with pytest.raises(ConfigError, match="token_file"):
        load_settings(config_file=config, env={})


def test_token_never_in_repr(tmp_path: Path) -> None:
    settings = load_settings(env={"READWISE_TOKEN": "very-secret-token"}, vault=tmp_path)
    assert "very-secret-token" not in repr(settings)


def test_missing_token_and_vault_are_clear(tmp_path: Path) -> None:
    settings = load_settings(env={}, config_file=write(tmp_path / "c.toml", ""))
    with pytest.raises(ConfigError, match="READWISE_TOKEN"):
        settings.require_token()
    with pytest.raises(ConfigError, match="--vault"):
        settings.require_vault()


def test_example_config_is_valid_and_documents_every_key(tmp_path: Path) -> None:
    from readwise_sync.app.config import FileConfig

    example = Path(__file__).resolve().parents[1] / "config.example.toml"
    text = example.read_text(encoding="utf-8")
    for key in FileConfig.model_fields:
        assert f"# {key} = " in text or f"\n{key} = " in text, key
    # uncommenting every key gives a config that loads
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") and " = " in line else line
        for line in text.splitlines()
        if not line.startswith("# cron = ")  # interval and cron exclude each other
    )
    (tmp_path / "vault").mkdir()
    (tmp_path / "templates").mkdir()
    (tmp_path / "token").write_text("t")
    config = write(tmp_path / "c.toml", uncommented)
    settings = load_settings(config_file=config, env={})
    assert settings.token


def test_the_vault_part_of_the_settings_is_one_object(tmp_path: Path) -> None:
    write(tmp_path / "token", "secret\n")
    config = write(
        tmp_path / "c.toml",
        'vault = "v"\nfolder = "Notes/"\ninterval = "1h"\ntoken_file = "token"\n'
        'timezone = "UTC"\non_delete = "keep"\n',
    )
    settings = load_settings(config_file=config, env={}, state_dir=tmp_path / "st")
    assert settings.profile == VaultSettings(
        vault=tmp_path / "v",
        folder="Notes",
        state_dir=tmp_path / "st",
        interval="1h",
        token="secret",
        token_source=f"token_file {tmp_path / 'token'}",
        token_path=tmp_path / "token",
    )
    # what every vault shares stays beside it
    assert (settings.timezone, settings.on_delete) == ("UTC", "keep")


def test_settings_made_from_others_never_share_their_vault_part(tmp_path: Path) -> None:
    first = Settings(vault=tmp_path / "a", token="t0ken", timeout=5)
    second = dataclasses.replace(first, vault=tmp_path / "b")
    assert (second.vault, second.token, second.timeout) == (tmp_path / "b", "t0ken", 5)
    copied = Settings(**{**vars(first), "state_dir": tmp_path / "s2"})
    retimed = dataclasses.replace(first, timeout=1)  # no vault field changed: still a copy
    second.token = retimed.token = "other"
    copied.folder = "Elsewhere"
    assert (first.vault, first.token, first.folder) == (tmp_path / "a", "t0ken", "Readwise")
    assert second.profile.token == "other" and copied.state_dir == tmp_path / "s2"
    assert "t0ken" not in repr(first)


def test_a_vault_named_two_ways_has_the_same_locations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "home" / "vault").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "home")
    plain = VaultLocations.at(tmp_path / "home" / "vault", tmp_path / "s")
    for other in (Path("~/vault"), Path("vault"), tmp_path / "home" / "x" / ".." / "vault"):
        assert VaultLocations.at(other, tmp_path / "s") == plain
    assert plain.state_db == state_db_path(tmp_path / "s", tmp_path / "home" / "vault")
    assert plain.lock.parent == plain.daemon_status.parent == plain.spool_dir == tmp_path / "s"
    assert len({plain.state_db, plain.lock, plain.daemon_status}) == 3


def test_the_locations_are_where_a_sync_and_status_keep_things(
    settings: Settings, fake: FakeReadwise
) -> None:
    where = VaultLocations.of(settings)
    sync_once(settings)
    assert where.state_db.is_file() and where.lock.is_file()
    assert status_info(settings)["state"] == str(where.state_db)
    with vault_lock(where.lock), pytest.raises(Locked):  # the lock a sync takes is this one
        sync_once(settings)
    where.daemon_status.write_text(json.dumps({"pid": os.getpid(), "next_run": "soon"}))
    assert status_info(settings)["daemon"] == {"pid": os.getpid(), "next_run": "soon"}
