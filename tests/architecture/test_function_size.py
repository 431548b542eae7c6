"""Small functions: none in the packages or benchmarks over MAX_LINES lines or MAX_PARAMS
parameters (``self`` / ``cls`` not counted). Click commands are exempt from the parameter
limit: their parameters are their options, one per flag."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("minerf_base", "checkpoints", "minerf", "lipsync", "audio2exp", "minerf_dub", "benchmarks")
MAX_LINES = 60
MAX_PARAMS = 7


def _is_click_command(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        name = ast.unparse(target)
        if name.startswith("click.") or name.endswith((".command", ".group", "_options")):
            return True
    return False


def oversized(source: str, filename: str = "<src>") -> list[str]:
    """'file:line name: N lines / N parameters' for each function over a limit."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        lines = node.end_lineno - node.lineno + 1
        args = node.args
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs] + [a for a in (args.vararg, args.kwarg) if a is not None]
        if params and params[0].arg in ("self", "cls"):
            params = params[1:]
        if lines > MAX_LINES:
            found.append(f"{filename}:{node.lineno} {node.name}: {lines} lines")
        if len(params) > MAX_PARAMS and not _is_click_command(node):
            found.append(f"{filename}:{node.lineno} {node.name}: {len(params)} parameters")
    return found


def test_no_oversized_function():
    found = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found += oversized(path.read_text(), str(path.relative_to(ROOT)))
    assert found == []


def test_the_check_finds_long_and_wide_functions():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    source = f"def long():\n{body}\n\ndef wide(a, b, c, d, e, f, g, h):\n    pass\n\nclass K:\n    def ok(self, a, b, c, d, e, f, g):\n        pass\n"
    assert oversized(source) == ["<src>:1 long: 61 lines", f"<src>:{MAX_LINES + 3} wide: 8 parameters"]
    click_source = "import click\n\n@click.command()\n@click.option('--a')\ndef cmd(a, b, c, d, e, f, g, h):\n    pass\n"
    assert oversized(click_source) == []
