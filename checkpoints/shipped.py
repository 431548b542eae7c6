"""Checkpoints that ship with the toolkit (``checkpoints/shipped/<name>``), trained by the
toolkit's own commands; docs/checkpoints.md says on what data, with which command and budget."""

from __future__ import annotations

from pathlib import Path

from minerf_base.errors import InputError

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
SHIPPED = {
    "minerf": "minerf-talk17-fast",
    "audio2exp": "audio2exp-whisper-b3-pd19",
    "lipsync": "syncnet-talk14",
}


def shipped_checkpoint(kind: str) -> Path:
    """Folder of the shipped checkpoint of ``kind`` (``minerf`` or ``audio2exp``)."""
    path = SHIPPED_DIR / SHIPPED[kind]
    if not path.is_dir():
        train = "minerf train CLIP_DIR... -o RUN, then pass --run RUN" if kind == "minerf" else "audio2exp train CLIP_DIR... -o RUN, then pass --audio2exp RUN"
        raise InputError(path, f"no {kind} checkpoint ships with this installation", f"train one ({train}), or try `minerf-dub --demo`, which trains small ones itself")
    return path
