"""The quiet_period setting: a duration like interval, where 0 turns the wait off."""

from __future__ import annotations

from pathlib import Path

import pytest

from readwise_sync.app.config import DEFAULT_QUIET_PERIOD, load_settings
from readwise_sync.errors import ConfigError


def load(tmp_path: Path, text: str) -> float:
    config = tmp_path / "c.toml"
    config.write_text(text, encoding="utf-8")
    return load_settings(config_file=config, env={}).quiet_period


def test_the_default_is_a_few_seconds(tmp_path: Path) -> None:
    assert load(tmp_path, "") == DEFAULT_QUIET_PERIOD == 5.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ('"10s"', 10.0),
        ('"1.5s"', 1.5),
        ('"2m"', 120.0),
        ('"30"', 30.0),
        ("7", 7.0),
        ("2.5", 2.5),
        ("0", 0.0),
        ('"0"', 0.0),
        ('"0s"', 0.0),
    ],
)
def test_a_duration_or_a_number_of_seconds(tmp_path: Path, value: str, seconds: float) -> None:
    assert load(tmp_path, f"quiet_period = {value}\n") == seconds


@pytest.mark.parametrize("value", ['"soon"', "-1", '"-5s"', "inf", "nan", '"5 years"'])
def test_an_unusable_value_is_one_line_naming_the_setting(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f"quiet_period = {value}\n")
    (problem,) = info.value.problems
    assert "quiet_period" in problem and "\n" not in problem


def test_a_wrong_type_is_reported_like_any_other(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="quiet_period"):
        load(tmp_path, "quiet_period = true\n")


def test_interval_still_refuses_zero(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('interval = "0s"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="interval"):
        load_settings(config_file=config, env={})
