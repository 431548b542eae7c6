"""Self-dubs of several videos kept in work folders (minerf_dub.self_dub) and pooled later
without rendering (``benchmarks/self_dub_lmd.py --pool``)."""

import json

import numpy as np
import pytest

from minerf_base.errors import InputError
from minerf_dub import self_dub
from minerf_dub.lmd import opening_correlation, opening_spread, pooled_opening, pooled_paired_lmd_difference
from minerf_dub.self_dub import pool_work_folders, pooled_cases, self_dub_many
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
    report = pool_work_folders([tmp_path / "a", tmp_path / "b"], seed=0)
    assert [c.get("video") for c in report["clips"]] == ["one.mp4", None, "three.mp4"]
    assert report["clips"][1]["landmarks"].endswith("clip1/landmarks.npz")
    videos = []
    for name in ("a/clip0", "a/clip1", "b/clip0"):
        with np.load(tmp_path / name / "landmarks.npz") as p:
            videos.append((p["own"], p["shuffled"], p["real"]))
    expected = pooled_paired_lmd_difference(videos, seed=0)
    assert {key: report["pooled"][key] for key in expected} == expected and expected["frames"] == 90
    assert expected["mean_difference"] > 0 and expected["ci95"][0] > 0  # own is 3x closer on every clip


def test_pool_of_folders_without_self_dubs_says_what_to_pass(tmp_path):
    with pytest.raises(InputError, match=r"(?s)no clip\*/landmarks\.npz in .*fix: pass the --work folders") as err:
        pool_work_folders([tmp_path], seed=0)
    assert err.value.path == tmp_path


def test_self_dubs_of_several_videos_are_kept_per_clip_and_pooled(tmp_path, monkeypatch):
    seen = []

    def fake_self_dub(video, options, work, seed, tracked, progress):
        seen.append((str(video), seed, tracked))
        _save(work, 25 + 5 * len(seen), len(seen))
        return {"video": str(video), "lmd_own": 0.01 * len(seen), "face_psnr_own": 20.0 + 10 * (len(seen) == 1), "face_frames_own": 20 * len(seen) - 10}

    monkeypatch.setattr(self_dub, "self_dub_lmd", fake_self_dub)
    out = self_dub_many(["one.mp4", "two.mp4"], options=None, work=tmp_path, seed=3, tracked=True)
    assert seen == [("one.mp4", 3, True), ("two.mp4", 3, True)]
    assert [c["video"] for c in out["clips"]] == ["one.mp4", "two.mp4"] and all(c["seconds"] >= 0 for c in out["clips"])
    for k, clip in enumerate(out["clips"]):
        assert json.loads((tmp_path / f"clip{k}" / "result.json").read_text()) == clip
    assert out["pooled"] == pool_work_folders([tmp_path], seed=3)["pooled"] and out["pooled"]["frames"] == 30 + 35
    assert out["pooled"]["face_psnr_own"] == {"clip_mean": 25.0, "pooled": 22.5, "clips": 2}  # 30 dB on 10 frames, 20 dB on 30
    single = self_dub_many(["one.mp4"], options=None, work=tmp_path / "single", seed=3)
    assert "pooled" not in single and len(single["clips"]) == 1


def test_pooled_cases_are_the_mean_per_clip_and_the_value_over_all_frames():
    rng = np.random.default_rng(4)
    videos = []
    for frames in (30, 20, 25):
        real = rng.uniform(5, 15, frames)
        videos.append({"real": _faces(real), "own": _faces(real + rng.normal(0, 0.5, frames)), "shuffled": _faces(rng.permutation(real))})
    videos[0]["tracked"] = _faces(np.full(30, 9.0))  # a mouth that never moves: no correlation
    videos[1]["tracked"] = _faces(rng.uniform(5, 15, 20))
    clips = [
        {"face_psnr_own": 30.0, "face_frames_own": 10, "acd_own": 0.1, "acd_frames_own": 25, "face_psnr_shuffled": 28.0, "face_frames_shuffled": 10},
        {"face_psnr_own": 20.0, "face_frames_own": 30, "acd_own": None, "acd_frames_own": 0},  # ACD not measured
        {"landmarks": "clip2/landmarks.npz"},  # stopped before its result.json
    ]
    pooled = pooled_cases(videos, clips)
    assert pooled["face_psnr_own"] == {"clip_mean": 25.0, "pooled": 22.5, "clips": 2}  # (300 + 600) / 40 frames
    assert pooled["acd_own"] == {"clip_mean": 0.1, "pooled": 0.1, "clips": 1}
    assert pooled["face_psnr_shuffled"] == {"clip_mean": 28.0, "pooled": 28.0, "clips": 1}
    assert pooled["acd_shuffled"] == {"clip_mean": None, "pooled": None, "clips": 0}
    for case in ("own", "shuffled"):
        pairs = [(v[case], v["real"]) for v in videos]
        corr, spread = pooled_opening(pairs)
        corrs = [opening_correlation(*p) for p in pairs]
        assert pooled[f"opening_corr_{case}"] == {"clip_mean": round(float(np.mean(corrs)), 3), "pooled": round(corr, 3), "clips": 3}
        assert pooled[f"opening_spread_{case}"]["pooled"] == round(spread, 3)
        assert pooled[f"opening_spread_{case}"]["clip_mean"] == round(float(np.mean([opening_spread(*p) for p in pairs])), 3)
    assert pooled["opening_corr_own"]["pooled"] > 0.9 > 0.5 > pooled["opening_corr_shuffled"]["pooled"]
    # tracked in two clips, one of them without a correlation (its mouth never moves)
    tracked = [(v["tracked"], v["real"]) for v in videos[:2]]
    assert pooled["opening_corr_tracked"] == {"clip_mean": round(opening_correlation(*tracked[1]), 3), "pooled": round(pooled_opening(tracked)[0], 3), "clips": 1}
    assert opening_spread(*tracked[0]) == pytest.approx(0.0, abs=1e-12)
    assert pooled["opening_spread_tracked"] == {"clip_mean": round(opening_spread(*tracked[1]) / 2, 3), "pooled": round(pooled_opening(tracked)[1], 3), "clips": 2}
    assert pooled["face_psnr_tracked"]["clips"] == 0
