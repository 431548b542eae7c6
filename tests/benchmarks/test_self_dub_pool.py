"""benchmarks/self_dub_lmd.py --pool: self-dubs kept in earlier work folders pooled without rendering."""

import json

import numpy as np
import pytest

from benchmarks.self_dub_lmd import pool_folders
from minerf_dub.lmd import pooled_paired_lmd_difference
from tests.dub.test_lmd import _face


def _faces(radii: np.ndarray) -> np.ndarray:
    """(T, 468, 2) faces whose lip points lie on a circle of each radius."""
    return np.stack([_face(r) for r in radii])


def _save(folder, frames, seed, result=None):
    rng = np.random.default_rng(seed)
    real = rng.uniform(5, 15, frames)
    folder.mkdir(parents=True)
    np.savez(folder / "landmarks.npz", real=_faces(real), own=_faces(real + rng.normal(0, 0.5, frames)), shuffled=_faces(real + rng.normal(0, 1.5, frames)))
    if result is not None:
        (folder / "result.json").write_text(json.dumps(result))


def test_pool_reads_every_clip_of_every_work_folder(tmp_path):
    _save(tmp_path / "a" / "clip0", 30, 0, {"video": "one.mp4", "lmd_own": 0.01})
    _save(tmp_path / "a" / "clip1", 20, 1)  # a run stopped before its result.json
    _save(tmp_path / "b" / "clip0", 40, 2, {"video": "three.mp4", "lmd_own": 0.02})
    report = pool_folders([tmp_path / "a", tmp_path / "b"], seed=0)
    assert [c.get("video") for c in report["clips"]] == ["one.mp4", None, "three.mp4"]
    assert report["clips"][1]["landmarks"].endswith("clip1/landmarks.npz")
    videos = []
    for name in ("a/clip0", "a/clip1", "b/clip0"):
        with np.load(tmp_path / name / "landmarks.npz") as p:
            videos.append((p["own"], p["shuffled"], p["real"]))
    expected = pooled_paired_lmd_difference(videos, seed=0)
    assert report["pooled"] == expected and expected["frames"] == 90
    assert expected["mean_difference"] > 0 and expected["ci95"][0] > 0  # own is 3x closer on every clip


def test_pool_of_folders_without_self_dubs_says_what_to_pass(tmp_path):
    with pytest.raises(SystemExit, match="no clip.*landmarks.npz in .*--work folders"):
        pool_folders([tmp_path], seed=0)
