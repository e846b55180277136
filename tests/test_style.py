"""ruff check, ruff format and mypy: part of the suite, so the README's one test command
covers them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is a test dependency: pip install -e '.[test]'"
    return subprocess.run(
        [ruff, *args, "readwise_sync", "tests", "bench"], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_check() -> None:
    result = _ruff("check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = _ruff("format", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "readwise_sync"], cwd=ROOT, capture_output=True, text=True
    )
    assert "No module named mypy" not in result.stderr, "mypy is a test dependency"
    assert result.returncode == 0, result.stdout + result.stderr
