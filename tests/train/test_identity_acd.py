"""Identity embeddings (dlib face-recognition ResNet) and ACD, on real GRID faces and a tiny run."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from minerf_base.errors import InputError

SAME_A, OTHER_B = "grid_bbaf2n", "grid_swiz3n"  # two different men of the GRID corpus


def _face_crops(clip_dir, frames) -> list[np.ndarray]:
    from minerf.render.views import crop_box
    from minerf_base.clip import load_clip

    clip = load_clip(clip_dir)
    crops = []
    for t in frames:
        x0, y0, x1, y1 = crop_box(clip.face_box[t], clip.resolution)
        crops.append(clip.frame(t)[y0:y1, x0:x1])
    return crops


@pytest.fixture(scope="module")
def embedder():
    from minerf.eval.embedding import FaceEmbedder

    return FaceEmbedder()


@pytest.fixture(scope="module")
def grid_crops(prepared_shared_clips) -> dict[str, list[np.ndarray]]:
    return {name: _face_crops(prepared_shared_clips[name], [0, 30, 60]) for name in (SAME_A, OTHER_B)}


def test_embeddings_of_two_people_are_farther_apart_than_frames_of_one(embedder, grid_crops):
    detected, embedded = embedder.detected, embedder.embedded
    emb = {name: embedder.embed_many(crops) for name, crops in grid_crops.items()}
    for vectors in emb.values():
        assert vectors.shape == (3, 128)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-9)
    within = [1 - a @ b for vectors in emb.values() for a, b in itertools.combinations(vectors, 2)]
    between = (1 - emb[SAME_A] @ emb[OTHER_B].T).ravel()
    # measured: within 0.007-0.009, between >= 0.18 (GRID crops of about 60 x 75 px)
    assert max(within) < 0.04
    assert between.min() > 0.10
    assert (embedder.detected - detected, embedder.embedded - embedded) == (6, 6)  # upsampled crops: the detector finds every face


def test_acd_is_small_for_the_same_person_and_large_for_another(embedder, grid_crops, prepared_shared_clips):
    from minerf.eval.embedding import acd

    reference = _face_crops(prepared_shared_clips[SAME_A], [10, 40, 70])
    same = acd(grid_crops[SAME_A], reference, embedder)
    other = acd(grid_crops[OTHER_B], reference, embedder)
    assert 0.0 <= same < 0.03 and other > 0.12, (same, other)


def test_small_crops_are_upsampled_and_faceless_crops_still_embed(embedder, grid_crops):
    import cv2

    crop = grid_crops[SAME_A][0]
    small = cv2.resize(crop, (crop.shape[1] * 6 // 10, crop.shape[0] * 6 // 10), interpolation=cv2.INTER_AREA)  # ~35 x 44 px
    assert 1 - embedder.embed(crop) @ embedder.embed(small.astype(np.float32) / 255.0) < 0.03
    detected = embedder.detected
    flat = embedder.embed(np.full((64, 64, 3), 128, np.uint8))
    assert embedder.detected == detected and abs(np.linalg.norm(flat) - 1.0) < 1e-9


def test_missing_weights_folder_names_the_file(tmp_path):
    from minerf.eval.embedding import RECOGNITION_FILE, EmbedderConfig, FaceEmbedder

    with pytest.raises(InputError) as err:
        FaceEmbedder(EmbedderConfig(weights_dir=tmp_path))
    assert RECOGNITION_FILE in str(err.value) and "face-recognition-models" in str(err.value)


def _in_range(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 2.0


def test_eval_writes_acd_of_transfer_self_and_real_references(tiny_run):
    from click.testing import CliRunner

    from minerf_dub.cli import minerf

    run_dir, _ = tiny_run
    result = CliRunner().invoke(minerf, ["eval", str(run_dir), "--max-frames", "1", "--acd-frames", "2", "--json", "-q"])
    assert result.exit_code == 0, result.output
    acd = json.loads((run_dir / "eval.json").read_text())["acd"]
    assert acd == json.loads(result.output)["acd"]
    for key in ("transfer", "self", "real_heldout", "real_other_identities", "transfer_vs_expression_source"):
        assert _in_range(acd[key]), (key, acd[key])
    assert set(acd["identities"]) == {"head0", "head1", "head2"}
    assert [v["expressions_from"] for v in acd["identities"].values()] == ["head1", "head2", "head0"]
    assert all(v["frames"] == 2 for v in acd["identities"].values())
    assert "acd" not in json.loads((run_dir / "eval.json").read_text())["not_measured"]

    skipped = CliRunner().invoke(minerf, ["eval", str(run_dir), "--max-frames", "1", "--no-acd", "--json", "-q"])
    data = json.loads(skipped.output)
    assert "acd" not in data and "--no-acd" in data["not_measured"]["acd"] and "lpips" in data["not_measured"]


def test_acd_of_a_single_identity_reports_self_reconstruction_only(tiny_run, embedder):
    from minerf.data import MultiClipData
    from minerf.eval.identity import evaluate_acd
    from minerf.render.video import RunRenderer

    renderer = RunRenderer.open(tiny_run[0], "cpu")
    full = renderer.data
    one = MultiClipData(full.clips[:1], full.identity_names[:1], [0], full.holdout)
    acd = evaluate_acd(renderer.run.model, one, renderer.run.smoothing_active, embedder, frames_per_identity=1)
    assert _in_range(acd["self"]) and _in_range(acd["real_heldout"])
    assert "transfer" not in acd and "self-reconstruction only" in acd["note"]
    assert set(acd["identities"]) == {"head0"}
