"""The built wheel carries what an installed readwise-sync needs: templates and the demo library."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_templates_demo_library_and_entry_point(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("readwise_sync-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for section in ("frontmatter", "page_title", "metadata", "highlights_header", "highlight"):
        assert f"readwise_sync/notes/templates/{section}.jinja" in names
    assert "readwise_sync/readwise/demo/library.json" in names
    assert "readwise_sync/readwise/fakeapi.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "readwise-sync = readwise_sync.app.cli:main" in text
    assert not any(n.startswith("tests/") for n in names)
