"""The import layers of docs/architecture.md, read from the source (AST): every import, lazy
ones inside functions and ``TYPE_CHECKING`` blocks included, points down, and no two files
import each other in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("minerf_base", "checkpoints", "minerf", "lipsync", "audio2exp", "minerf_dub")

# (rank, group) per package: an import must go to a lower rank, or stay in its own group.
PACKAGE_LAYERS = {"minerf_base": 0, "checkpoints": 1, "minerf": 2, "lipsync": 2, "audio2exp": 3, "minerf_dub": 4}

# Inside minerf: prepare and model at the bottom, then the clip set and run loading, then the
# renderer, evaluation, training and the package's click commands.
MINERF_LAYERS = {
    "minerf": 0, "minerf.prepare": 0, "minerf.model": 0, "minerf.synthetic": 0, "minerf.demo_media": 0,
    "minerf.data": 1, "minerf.run": 1,
    "minerf.render": 2,
    "minerf.eval": 3,
    "minerf.train": 4,
    "minerf.commands": 5, "minerf.nerf_commands": 5,
}


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Module name -> file for every module of the project's packages."""
    out = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules that the file ``path`` (module ``name``) imports, anywhere in it."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = module_files(root)
    return {name: imported_modules(name, path, known) for name, path in known.items()}


def _minerf_rank(module: str) -> int:
    while module not in MINERF_LAYERS:
        module = module.rpartition(".")[0]
    return MINERF_LAYERS[module]


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """'a -> b' for every import from a lower layer to a higher one or across a layer."""
    bad = []
    for source, targets in graph.items():
        src_pkg = source.split(".")[0]
        for target in targets:
            dst_pkg = target.split(".")[0]
            if src_pkg == dst_pkg:
                if src_pkg == "minerf" and _minerf_rank(target) > _minerf_rank(source):
                    bad.append(f"{source} -> {target}")
                elif src_pkg == "minerf_dub" and target == "minerf_dub.cli":
                    bad.append(f"{source} -> {target}")
            elif PACKAGE_LAYERS[dst_pkg] >= PACKAGE_LAYERS[src_pkg]:
                bad.append(f"{source} -> {target}")
    return sorted(bad)


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one file (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                group.append(item)
                if item == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_imports_point_down_the_layers():
    assert layer_violations(import_graph()) == []


def test_no_import_cycle_between_files():
    assert import_cycles(import_graph()) == []


def test_every_module_has_a_layer():
    for name in module_files():
        if name.startswith("minerf.") or name == "minerf":
            _minerf_rank(name)  # raises KeyError for a minerf module outside the table


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def tiny_tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        _write(tmp_path, f"{package}/__init__.py", "")
    _write(tmp_path, "minerf_base/errors.py", "class InputError(Exception):\n    pass\n")
    _write(tmp_path, "minerf/render/__init__.py", "")
    _write(tmp_path, "minerf/render/views.py", "from minerf_base.errors import InputError\n")
    _write(tmp_path, "minerf/train/__init__.py", "")
    _write(tmp_path, "minerf/train/trainer.py", "from minerf.render.views import InputError\n")
    return tmp_path


def test_a_clean_tree_passes(tiny_tree: Path):
    graph = import_graph(tiny_tree)
    assert graph["minerf.train.trainer"] == {"minerf.render.views"}
    assert layer_violations(graph) == [] and import_cycles(graph) == []


def test_an_upward_import_fails(tiny_tree: Path):
    # a lazy import inside a function still counts
    _write(tiny_tree, "minerf_base/clip.py", "def load():\n    from minerf_dub import pipeline\n")
    _write(tiny_tree, "minerf_dub/pipeline.py", "")
    _write(tiny_tree, "minerf/render/conditioning.py", "from minerf.train import trainer\n")
    _write(tiny_tree, "lipsync/score.py", "from minerf.render import views\n")
    assert layer_violations(import_graph(tiny_tree)) == [
        "lipsync.score -> minerf.render.views",
        "minerf.render.conditioning -> minerf.train.trainer",
        "minerf_base.clip -> minerf_dub.pipeline",
    ]


def test_a_cycle_fails(tiny_tree: Path):
    _write(tiny_tree, "audio2exp/adapt.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from audio2exp.predict import P\n")
    _write(tiny_tree, "audio2exp/predict.py", "from . import adapt\n")
    assert import_cycles(import_graph(tiny_tree)) == [["audio2exp.adapt", "audio2exp.predict"]]
