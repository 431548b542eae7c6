"""Checkpoints that ship with the toolkit (``checkpoints/shipped/<name>``), trained by the
toolkit's own commands; docs/checkpoints.md says on what data, with which command and budget."""

from __future__ import annotations

from pathlib import Path

from minerf.errors import InputError

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
SHIPPED = {
    "minerf": "minerf-grid8-fast",
    "audio2exp": "audio2exp-grid8",
}


def shipped_checkpoint(kind: str) -> Path:
    """Folder of the shipped checkpoint of ``kind`` (``minerf`` or ``audio2exp``)."""
    path = SHIPPED_DIR / SHIPPED[kind]
    if not path.is_dir():
        raise InputError(path, f"the shipped {kind} checkpoint is missing from this installation", f"reinstall minerf-dub, or pass your own with --{'run' if kind == 'minerf' else 'audio2exp'}")
    return path
