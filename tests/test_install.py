"""The install declares what the code imports: every third-party package a module of bot/, index/ or
retrieval/ imports (lazily inside a function too) is in pyproject.toml's [project].dependencies, or is
brought in by one of them; and every verbatim.* module imports.

A cheap stand-in for installing into a fresh virtual environment: an import that works here only
because a dev tool or a package installed by hand brought it would fail for a user after `pip install`.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata as metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("bot", "index", "retrieval")  # installed as verbatim.bot, verbatim.index, verbatim.retrieval
# name, [extras], ; marker
_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?[^;]*(?:;(.*))?")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def normalised(name: str) -> str:
    """A distribution name as PEP 503 compares them: `PyStemmer`, `pystemmer` and `py_stemmer` agree."""
    return re.sub(r"[-_.]+", "-", name).lower()


def source_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(("verbatim", *parts)).removesuffix(".__init__")


def imported_top_level(path: Path) -> set[str]:
    """The top-level names a module imports absolutely, anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def third_party_imports() -> dict[str, list[str]]:
    """Each third-party top-level name imported -> the modules importing it."""
    found: dict[str, list[str]] = {}
    for path in source_files():
        for name in imported_top_level(path):
            if name in sys.stdlib_module_names or name in ("__future__", "verbatim"):
                continue
            found.setdefault(name, []).append(module_name(path))
    return found


def parse_requirement(text: str) -> tuple[str, frozenset[str], str]:
    """(normalised name, extras asked for, marker) of a requirement string."""
    match = _REQUIREMENT.match(text)
    assert match is not None, f"cannot read the requirement {text!r}"
    extras = frozenset(e.strip() for e in (match.group(2) or "").split(",") if e.strip())
    return normalised(match.group(1)), extras, match.group(3) or ""


def declared() -> list[tuple[str, frozenset[str], str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [parse_requirement(r) for r in project["dependencies"]]


def brought_in(roots: list[tuple[str, frozenset[str], str]]) -> set[str]:
    """The declared distributions and everything they require, with the extras asked for, as installed.
    Requirements of extras nobody asked for are left out; other markers are taken as true."""
    todo = [(name, extras) for name, extras, _ in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # reported by the test that every declared dependency is installed
        for text in requirements:
            child, child_extras, marker = parse_requirement(text)
            extra = _EXTRA_MARKER.search(marker)
            if extra is None or extra.group(1) in extras:
                todo.append((child, child_extras))
    return {name for name, _ in seen}


def test_every_declared_dependency_is_installed() -> None:
    missing = []
    for name, _, _ in declared():
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    assert missing == [], f"declared in pyproject.toml but not installed: {missing}"


def test_every_third_party_import_is_declared() -> None:
    providers = metadata.packages_distributions()
    allowed = brought_in(declared())
    undeclared = {}
    for name, importers in sorted(third_party_imports().items()):
        distributions = {normalised(d) for d in providers.get(name, [])}
        if not distributions & allowed:
            undeclared[name] = (sorted(distributions) or ["not installed"], importers)
    assert undeclared == {}, (
        "imported but not in [project].dependencies, nor required by one of them "
        f"(import name: (distributions, modules)): {undeclared}"
    )


def test_the_checks_above_see_imports() -> None:
    """Guards against a parser that finds nothing, which would make the test above pass vacuously."""
    found = third_party_imports()
    assert {"numpy", "faiss", "telegram"} <= found.keys()
    assert "python-telegram-bot" in brought_in(declared()) and "httpcore" in brought_in(declared())


@pytest.mark.parametrize("name", [module_name(p) for p in source_files()])
def test_every_module_imports(name: str) -> None:
    importlib.import_module(name)
