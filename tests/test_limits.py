"""The package's size limits, checked: ruff's complexity at most 10, no function over 60
lines, no class over 250, no module over 400; and no helper copied between test files.

What is over a limit today is listed in ``KNOWN_OVER``, by qualified name. The list only
shrinks: each check fails on an offender the list does not name, and on a name the list
keeps that is no longer over (remove it), so it ends empty.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import LONG_RUNS
from .factories import HANG, ruff
from .test_layers import PACKAGE, TESTS, module_name, package_files

MAX_COMPLEXITY = 10
MAX_LINES = {"function": 60, "class": 250, "module": 400}

KNOWN_OVER: dict[str, set[str]] = {
    "complexity": set(),
    "function": set(),
    "class": set(),
    "module": set(),
}

Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def definitions(path: Path) -> Iterator[tuple[str, Definition]]:
    """Every function, method and class of a module, nested ones too, by qualified name
    (``readwise_sync.store.vault.Vault.read_text``)."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, Definition]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, Definition):
                name = f"{prefix}.{child.name}"
                yield name, child
                yield from walk(child, name)
            else:
                yield from walk(child, prefix)

    yield from walk(ast.parse(path.read_text(encoding="utf-8")), module_name(path))


def lines_of(node: ast.AST) -> int:
    """From the ``def`` or ``class`` line (decorators not counted) to the last line."""
    assert node.end_lineno is not None
    return node.end_lineno - node.lineno + 1


def too_long(kind: str) -> dict[str, int]:
    """Each function, class or module over its limit, with its length in lines."""
    found: dict[str, int] = {}
    for path in package_files():
        if kind == "module":
            length = len(path.read_text(encoding="utf-8").splitlines())
            if length > MAX_LINES[kind]:
                found[module_name(path)] = length
            continue
        for name, node in definitions(path):
            is_class = isinstance(node, ast.ClassDef)
            if is_class == (kind == "class") and lines_of(node) > MAX_LINES[kind]:
                found[name] = lines_of(node)
    return found


def too_complex() -> dict[str, str]:
    """Each function ruff's C901 finds over ``MAX_COMPLEXITY``, with ruff's message."""
    result = ruff(
        "check",
        "--select",
        "C901",
        "--config",
        f"lint.mccabe.max-complexity={MAX_COMPLEXITY}",
        "--output-format",
        "json",
        "--exit-zero",
        str(PACKAGE),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found: dict[str, str] = {}
    for report in json.loads(result.stdout):
        path, row = Path(report["filename"]), report["location"]["row"]
        names = [name for name, node in definitions(path) if node.lineno == row]
        assert names, f"no definition on {path}:{row} for {report['message']}"
        found[names[-1]] = report["message"]
    return found


def measure(check: str) -> dict[str, object]:
    return dict(too_complex()) if check == "complexity" else dict(too_long(check))


@pytest.mark.parametrize("check", list(KNOWN_OVER))
def test_over_the_limit_only_as_listed(check: str) -> None:
    over = measure(check)
    new = {name: size for name, size in over.items() if name not in KNOWN_OVER[check]}
    assert not new, f"over the {check} limit, not in KNOWN_OVER: {new}"
    fixed = KNOWN_OVER[check] - set(over)
    assert not fixed, f"within the {check} limit now, remove from KNOWN_OVER: {sorted(fixed)}"


def test_the_measures_see_what_they_measure() -> None:
    """The walk finds methods and nested functions, and lengths count what they should."""
    names = dict(definitions(PACKAGE / "store" / "vault.py"))
    assert "readwise_sync.store.vault.Vault" in names
    assert "readwise_sync.store.vault.Vault.read_text" in names
    tree = ast.parse("@decorated\ndef f():\n    def g():\n        pass\n    return g\n")
    function = tree.body[0]
    assert lines_of(function) == 4
    assert isinstance(function, ast.FunctionDef)
    assert lines_of(function.body[0]) == 2


def test_ruff_is_set_to_the_same_complexity() -> None:
    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["ruff"]["lint"]["mccabe"]["max-complexity"] == MAX_COMPLEXITY


def body_key(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """A function's body as ``ast`` dumps it, without its docstring, name or signature."""
    body = node.body
    if ast.get_docstring(node) is not None:
        body = body[1:]
    return "\n".join(ast.dump(statement) for statement in body)


def copied_helpers(paths: list[Path]) -> list[list[str]]:
    """Module-level functions with the same body in more than one file, as ``file:name``."""
    seen: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                seen[body_key(node)].append(f"{path.name}:{node.name}")
    return [
        places for places in seen.values() if len({place.split(":")[0] for place in places}) > 1
    ]


def test_no_helper_is_copied_between_test_files() -> None:
    copies = copied_helpers(sorted(TESTS.glob("*.py")))
    assert not copies, f"the same helper in several test files (share it in factories.py): {copies}"


def test_a_copied_helper_is_found(tmp_path: Path) -> None:
    one, two, other = tmp_path / "test_one.py", tmp_path / "test_two.py", tmp_path / "test_x.py"
    one.write_text('def load(n):\n    """Load."""\n    return [n] * 2\n', encoding="utf-8")
    two.write_text("def fetch(n):\n    return [n] * 2\n", encoding="utf-8")
    other.write_text("def load(n):\n    return [n] * 3\n", encoding="utf-8")
    assert copied_helpers([one, two, other]) == [["test_one.py:load", "test_two.py:fetch"]]


@pytest.mark.parametrize("long_run", [False, True])
def test_only_a_long_run_asked_for_goes_past_the_hang_guard(tmp_path: Path, long_run: bool) -> None:
    """With a long run's variable set, a test may take longer than ``timeout``; without
    it, the guard still stops one (here a guard of 1 s, and a test of 3 s)."""
    (tmp_path / "test_long.py").write_text("import time\n\ndef test_long():\n    time.sleep(3)\n")
    env = {k: v for k, v in os.environ.items() if k not in LONG_RUNS}
    env["PYTHONPATH"] = str(TESTS.parent)
    if long_run:
        env["READWISE_SYNC_CRASH_KILLS"] = "1"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-o", "timeout=1"]
    done = subprocess.run(
        [*command, "-p", "no:cacheprovider", "-p", "no:xdist", str(tmp_path / "test_long.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )
    assert (done.returncode == 0) == long_run, done.stdout + done.stderr
    if not long_run:
        assert "Timeout" in done.stdout + done.stderr
