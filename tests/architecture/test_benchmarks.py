"""Benchmarks sit on top of the packages, read from the source (AST): no test imports a
benchmark script (what a test needs lives in a package), benchmarks never touch ``sys.path``
and import no other benchmark (so each runs as ``python benchmarks/NAME.py`` and as
``python -m benchmarks.NAME``). Their functions' size is checked with the packages'
(``test_function_size.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def benchmark_modules(root: Path) -> set[str]:
    """``benchmarks`` and the module name of every script in it."""
    return {"benchmarks"} | {p.stem for p in (root / "benchmarks").glob("*.py") if p.stem != "__init__"}


def imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level module name) of every import in ``tree``; ``.`` for relative ones."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." if node.level else (node.module or "").split(".")[0]))
    return found


def benchmark_imports_in_tests(root: Path = ROOT) -> list[str]:
    """'file:line module' for every import of a benchmark script anywhere under tests/."""
    names = benchmark_modules(root)
    bad = []
    for path in sorted((root / "tests").rglob("*.py")):
        for line, name in imported_names(ast.parse(path.read_text(), str(path))):
            if name in names:
                bad.append(f"{path.relative_to(root)}:{line} {name}")
    return bad


def benchmark_problems(root: Path = ROOT) -> list[str]:
    """'file:line problem' for each sys.path use and import of another benchmark in
    benchmarks/, in line order."""
    names = benchmark_modules(root)
    bad = []
    for path in sorted((root / "benchmarks").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        found = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) and node.value.id == "sys":
                found.append((node.lineno, "sys.path"))
        found += [(line, f"imports {name}") for line, name in imported_names(tree) if name in names or name == "."]
        bad += [f"{path.relative_to(root)}:{line} {text}" for line, text in sorted(found)]
    return bad


def test_no_test_imports_a_benchmark():
    assert benchmark_imports_in_tests() == []


def test_benchmarks_import_only_packages():
    assert benchmark_problems() == []


@pytest.fixture
def tiny_tree(tmp_path: Path) -> Path:
    for rel, text in {
        "benchmarks/speed.py": "import json\nfrom minerf.eval.timing import timed\n\ndef main():\n    pass\n",
        "benchmarks/helpers.py": "",
        "tests/eval/test_timing.py": "from minerf.eval import timing\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def test_a_clean_tree_passes(tiny_tree: Path):
    assert benchmark_imports_in_tests(tiny_tree) == [] and benchmark_problems(tiny_tree) == []


def test_a_test_importing_a_benchmark_fails(tiny_tree: Path):
    (tiny_tree / "tests/test_a.py").write_text("def test():\n    from benchmarks.speed import main\n")
    (tiny_tree / "tests/eval/test_b.py").write_text("import helpers\n")
    assert benchmark_imports_in_tests(tiny_tree) == ["tests/eval/test_b.py:1 helpers", "tests/test_a.py:2 benchmarks"]


def test_sys_path_and_sibling_imports_fail(tiny_tree: Path):
    (tiny_tree / "benchmarks/speed.py").write_text(
        "import sys\nsys.path.insert(0, '.')\nfrom helpers import x\nfrom . import helpers\n"
    )
    assert benchmark_problems(tiny_tree) == [
        "benchmarks/speed.py:2 sys.path",
        "benchmarks/speed.py:3 imports helpers",
        "benchmarks/speed.py:4 imports .",
    ]
