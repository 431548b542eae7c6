"""audio2exp.cross_validation: training variants under K-fold cross-validation."""

import json

import pytest

from audio2exp.cross_validation import (
    METHODS,
    beats_baselines,
    configured,
    cross_validate,
    parse_variant,
    pooled_folds,
    speech_clips,
)
from checkpoints import latest_checkpoint


def test_variant_words_become_typed_settings():
    name, settings = parse_variant(["short", "steps=300", "dilations=[1,2]", "balance_clips=false", "note=plain"])
    assert name == "short"
    assert settings == {"steps": 300, "dilations": [1, 2], "balance_clips": False, "note": "plain"}
    with pytest.raises(ValueError, match="not KEY=VALUE"):
        parse_variant(["bad", "steps"])


def test_settings_go_to_the_right_config_and_unknown_ones_are_refused():
    config, net = configured("default", {"steps": 300, "dilations": [1, 2], "dropout": 0.5})
    assert config.steps == 300 and net.dilations == (1, 2) and net.dropout == 0.5
    base, base_net = configured("default")
    assert base.steps != 300 and base_net.dilations != (1, 2)
    with pytest.raises(ValueError, match="unknown setting"):
        configured("default", {"stepz": 3})
    for bad in ({"dilations": 3}, {"balance_clips": 1}, {"steps": "many"}, {"dropout": True}):
        with pytest.raises(ValueError, match="expected a value like"):
            configured("default", bad)


def test_beats_baselines_needs_both_measures():
    def result(net_mse, net_r, env_mse=5.0, env_r=0.2, mean_mse=5.1):
        return {
            "audio2exp": {"mouth_mse": net_mse, "opening_corr_pooled": net_r},
            "mean_expression": {"mouth_mse": mean_mse, "opening_corr_pooled": 0.0},
            "envelope_linear": {"mouth_mse": env_mse, "opening_corr_pooled": env_r},
        }

    assert beats_baselines(result(4.9, 0.3))
    assert not beats_baselines(result(4.9, 0.1))  # correlation below the envelope's
    assert not beats_baselines(result(5.05, 0.3))  # error above the envelope's
    assert not beats_baselines(result(4.0, -0.1, env_r=-0.2))  # a negative correlation never wins


def test_cross_validation_with_a_variant_trains_every_fold_with_it(synthetic_clips, tmp_path):
    out = cross_validate(list(synthetic_clips), 2, tmp_path, METHODS, preset="tiny", overrides={"steps": 20, "hidden": 8})
    for k in range(2):
        meta = json.loads((latest_checkpoint(tmp_path / f"fold{k}") / "checkpoint.json").read_text())
        assert meta["training"]["config"]["steps"] == 20
        assert meta["training"]["config"]["fold"] == [k, 2]
        assert meta["config"]["hidden"] == 8
    assert out["folds"] == 2
    # every frame of both clips is held out once
    assert out["heldout_frames"] == 2 * 250
    for name in METHODS:
        assert out[name]["mouth_mse"] > 0
        assert set(out[name]["mouth_mse_per_clip"]) == {"spk_a", "spk_b"}


def _fold(frames, mse, corr, per_clip):
    method = {"mouth_mse": mse, "relative_mouth_mse": mse / 10, "opening_corr_pooled": corr, "opening_corr": corr, "mouth_step": 0.1, "per_clip": {c: {"mouth_mse": v} for c, v in per_clip.items()}}
    baselines = {name: dict(method, mouth_mse=mse + shift) for name, shift in (("mean_expression", 1.0), ("envelope_linear", 0.5), ("envelope_linear_per_clip", -0.5))}
    return {"heldout_frames": frames, "clips": list(per_clip), "tracked_mouth_step": 0.2, "audio2exp": method, **baselines}


def test_pooled_folds_weights_the_mse_by_held_out_frames_and_averages_the_rest():
    out = pooled_folds([_fold(100, 2.0, 0.2, {"a": 1.0, "b": 3.0}), _fold(300, 4.0, 0.4, {"a": 2.0, "b": 5.0})], ("audio2exp",))
    assert out["folds"] == 2 and out["heldout_frames"] == 400
    assert out["audio2exp"]["mouth_mse"] == pytest.approx((2.0 * 100 + 4.0 * 300) / 400)
    assert out["audio2exp"]["opening_corr_pooled"] == pytest.approx(0.3)
    assert out["audio2exp"]["relative_mouth_mse"] == pytest.approx(0.3)
    assert out["audio2exp"]["mouth_mse_per_clip"] == {"a": 1.5, "b": 4.0}
    assert out["tracked_mouth_step"] == pytest.approx(0.2)
    assert out["folds_where_audio2exp_mse_beats_every_baseline"] == 0  # the per-clip envelope is 0.5 lower in both


def test_speech_clips_are_the_complete_clips_with_audio(synthetic_clips, tmp_path):
    import shutil

    for clip in synthetic_clips:
        shutil.copytree(clip, tmp_path / clip.name)
    shutil.copytree(synthetic_clips[0], tmp_path / "mute")
    meta = json.loads((tmp_path / "mute" / "clip.json").read_text())
    (tmp_path / "mute" / "clip.json").write_text(json.dumps(meta | {"has_audio": False}))
    (tmp_path / "unfinished").mkdir()
    assert speech_clips(tmp_path) == [tmp_path / "spk_a", tmp_path / "spk_b"]
