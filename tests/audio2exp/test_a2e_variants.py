"""benchmarks/audio2exp_variants.py: training variants under cross-validation."""

import json

import pytest

from benchmarks.audio2exp_eval import configured, cross_validate
from benchmarks.audio2exp_variants import METHODS, beats_baselines, parse_variant
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
