"""The benchmark still runs (at a tiny size) and reports every row. It asserts no timing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench.py"


def test_benchmark_runs_and_prints_every_row(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--sizes",
            "40x4",
            "--repeat",
            "1",
            "--workdir",
            str(tmp_path),
            "--keep",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split("|")[1].strip(): line for line in done.stdout.splitlines() if "|" in line}
    for name in (
        "naive exporter (floor)",
        "full first sync",
        "no-op sync",
        "full sync, nothing changed",
        "incremental (1% changed)",
        "incremental (20 books changed)",
        "rerender (template changed)",
        "first sync adopting another tool's notes",
    ):
        assert name in rows, done.stdout
    # notes written: every book on the first sync and the rerender, none on the no-op
    assert rows["full first sync"].split("|")[6].strip() == "40"
    assert rows["no-op sync"].split("|")[6].strip() == "0"
    assert rows["full sync, nothing changed"].split("|")[6].strip() == "0"
    assert rows["rerender (template changed)"].split("|")[6].strip() == "40"
    # every one of the floor's notes is adopted and merged into; none is made twice
    assert rows["first sync adopting another tool's notes"].split("|")[6].strip() == "40"
    (work,) = tmp_path.glob("rwsync-bench-*")  # --keep: it is still there to look at
    adopted = list((work / "naive-0").rglob("*.md"))
    assert len(adopted) == 40
    # merged into: each has the date property the floor never writes
    assert all("\ndate: " in note.read_text(encoding="utf-8") for note in adopted)
    assert rows["no-op sync"].split("|")[5].strip() == "1"  # one request
    assert "full first sync / naive exporter:" in done.stdout


def test_benchmark_cleans_up_after_itself(tmp_path: Path) -> None:
    command = [sys.executable, str(BENCH), "--sizes", "40x2", "--repeat", "1"]
    done = subprocess.run(
        [*command, "--workdir", str(tmp_path)], capture_output=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(tmp_path.iterdir()) == []
