"""``minerf export``: a run's latest checkpoint as a small, self-contained run folder.

The export keeps the model weights (identity codes, latent codes, module, fields), the config,
the expression space and the identity list; it drops the optimizer state and the random
state (about two thirds of a training checkpoint), and records each clip's source-video
SHA-256 next to its path, so that a dub of one of the training videos still finds its
identity (``minerf_dub.identity.known_identity``) wherever the export is copied. ``minerf
render`` / ``eval`` of an export still need the prepared training clips at their paths.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from minerf.run import load_run, save_run_checkpoint
from minerf_base.atomic import atomic_write_json
from minerf_base.errors import InputError


def clip_source_sha(record: dict[str, Any]) -> str | None:
    """SHA-256 of the source video of a checkpoint's clip record: stored in the record, or read
    from the prepared clip's ``clip.json`` at the recorded path; None when neither exists."""
    if record.get("source_sha256"):
        return str(record["source_sha256"])
    meta = Path(record.get("path", "")) / "clip.json"
    if not meta.is_file():
        return None
    try:
        return json.loads(meta.read_text()).get("source", {}).get("sha256")
    except (json.JSONDecodeError, OSError):
        return None


def export_run(run_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Write the latest checkpoint of ``run_dir`` to the new run folder ``out_dir`` (weights only)."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InputError(out_dir, "the export folder exists and is not empty", "choose a new folder or delete this one")
    run = load_run(run_dir, "cpu")
    meta = dict(run.meta)  # save_run_checkpoint replaces the keys it writes itself
    meta["clips"] = [{**rec, "source_sha256": clip_source_sha(rec)} for rec in run.meta["clips"]]
    meta["exported_from"] = {"iteration": run.iteration}
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    folder = save_run_checkpoint(tmp, run.model, run.iteration, meta)
    for name in ("eval.json",):
        if (run_dir / name).is_file():
            atomic_write_json(tmp / name, json.loads((run_dir / name).read_text()))
    if out_dir.exists():
        out_dir.rmdir()
    tmp.rename(out_dir)
    size = sum(p.stat().st_size for p in (out_dir / "checkpoints" / folder.name).iterdir())
    return {"run": str(out_dir), "iteration": run.iteration, "identities": run.identities, "bytes": size}
