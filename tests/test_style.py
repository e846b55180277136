"""ruff check, ruff format and mypy: part of the suite, so the README's one test command
covers them."""

from __future__ import annotations

import subprocess
import sys

from .factories import ROOT, ruff

CHECKED = ("readwise_sync", "tests", "bench")


def test_ruff_check() -> None:
    result = ruff("check", *CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = ruff("format", "--check", *CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "readwise_sync"], cwd=ROOT, capture_output=True, text=True
    )
    assert "No module named mypy" not in result.stderr, "mypy is a test dependency"
    assert result.returncode == 0, result.stdout + result.stderr
