"""The README's promises: two set-up commands at the top, the first one working on a fresh clone."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    head = text.split("\n## ", 1)[0]  # the part before the first section
    return re.findall(r"```sh\n(.+?)\n```", head)


def test_exactly_two_setup_commands_and_ci_runs_the_second() -> None:
    commands = setup_commands()
    assert len(commands) == 2
    demo, tests = commands
    assert "readwise-sync demo" in demo
    assert "pytest" in tests and ".[test]" in tests
    assert tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_first_command_runs_the_demo_on_a_fresh_copy(tmp_path: Path) -> None:
    """Copy the tracked files (as a clone would have them) and run the first command there."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if files.returncode != 0:
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    for name in files.stdout.splitlines():
        source = ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    result = subprocess.run(
        ["bash", "-c", setup_commands()[0]],
        cwd=clone,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "4 notes created" in result.stdout
    notes = sorted(p.name for p in (clone / "readwise-demo-vault").rglob("*.md"))
    assert "Walden.md" in notes and len(notes) == 4
