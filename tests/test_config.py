"""Settings from TOML + environment: strict, every problem on its own line."""

from __future__ import annotations

from pathlib import Path

import pytest

from readwise_sync.app.config import DEFAULT_API_URL, load_settings
from readwise_sync.errors import ConfigError


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
