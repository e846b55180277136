"""The package's layers, checked: imports go down, never up, and no private name crosses a module.

The layers (the README's Development section draws them), each with what it may import:

- ``errors`` and ``domain``: the exception tree, the documents; nothing of ours;
- ``readwise`` (the source) and ``notes`` (notes as text, pure): the layer above, never
  each other;
- ``store`` (state, vault, lock): those two and ``notes``, whose names of files it keeps;
- ``engine`` (the sync): all of the above;
- ``app`` (the tool as the user meets it): anything;
- ``__main__`` runs the app; ``readwise_sync`` itself holds only the version.

Checked from the source with :mod:`ast`, not by importing: a lazy import inside a
function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "readwise_sync"
TESTS = Path(__file__).resolve().parent
BENCH = TESTS.parent / "bench"

BASE = {"errors", "domain", ""}
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "domain": {"errors"},
    "readwise": BASE,
    "notes": BASE,
    "store": BASE | {"notes"},
    "engine": BASE | {"readwise", "notes", "store"},
    "app": BASE | {"readwise", "notes", "store", "engine"},
    "__main__": {"app"},
}

# Imports that still go up or sideways, each with the step that removes it. The list only
# shrinks: a pair that no longer occurs must leave it (see the test below).
KNOWN_CROSSINGS: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    """The layer of ``readwise_sync.X...``: ``X`` (``""`` for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports_of(path: Path) -> Iterator[tuple[str, list[str], int]]:
    """Each ``readwise_sync`` module a file imports, the names it takes, and the line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "readwise_sync":
                    yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "readwise_sync":
                continue
            names = [alias.name for alias in node.names]
            yield target, names, node.lineno


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def crossings() -> set[tuple[str, str]]:
    found = set()
    for path in package_files():
        importer = module_name(path)
        layer = layer_of(importer)
        for target, _, _ in imports_of(path):
            there = layer_of(target)
            if there != layer and there not in MAY_IMPORT[layer]:
                found.add((importer, target))
    return found


def test_imports_go_down_the_layers_only() -> None:
    new = crossings() - KNOWN_CROSSINGS
    assert not new, "imports up or across a layer:\n" + "\n".join(
        f"{a} -> {b}" for a, b in sorted(new)
    )


def test_the_list_of_known_crossings_only_shrinks() -> None:
    gone = KNOWN_CROSSINGS - crossings()
    assert not gone, f"no longer crossing, take them off KNOWN_CROSSINGS: {sorted(gone)}"


def test_every_module_belongs_to_a_layer() -> None:
    for path in package_files():
        module = module_name(path)
        assert layer_of(module) in MAY_IMPORT or module == "readwise_sync", path


def private_imports(paths: list[Path]) -> list[str]:
    bad = []
    for path in paths:
        for target, names, line in imports_of(path):
            for name in names:
                if name.startswith("_") and not name.startswith("__"):
                    bad.append(f"{path.name}:{line} from {target} import {name}")
            if any(
                part.startswith("_") and not part.startswith("__") for part in target.split(".")
            ):
                bad.append(f"{path.name}:{line} {target}")
    return bad


def private_attributes(path: Path) -> list[str]:
    """``module._name`` where ``module`` was imported from ``readwise_sync``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    ours = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("readwise_sync"):
            ours.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            ours.update(
                alias.asname or alias.name
                for alias in node.names
                if alias.name.startswith("readwise_sync")
            )
    return [
        f"{path.name}:{node.lineno} {node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in ours
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
    ]


@pytest.mark.parametrize("where", ["package", "tests", "bench"])
def test_no_private_name_crosses_a_module(where: str) -> None:
    paths = {
        "package": package_files(),
        "tests": sorted(TESTS.glob("*.py")),
        "bench": sorted(BENCH.glob("*.py")),
    }[where]
    bad = private_imports(paths) + [hit for path in paths for hit in private_attributes(path)]
    assert not bad, "\n".join(bad)
