"""Leave-one-speaker-out evaluation on synthetic speakers, the baselines it fits, the
`audio2exp evaluate` command, and the per-clip feature cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from audio2exp import feature_cache
from audio2exp.data import features_of
from audio2exp.features import FeatureConfig, make_extractor
from audio2exp.loso import LosoOptions, loso_evaluate
from tests.audio2exp.conftest import make_clip, synthetic_speech


@pytest.fixture(scope="module")
def three_speakers(tmp_path_factory) -> list[Path]:
    """Three synthetic speakers; ``carol`` speaks in two sessions (one group)."""
    root = tmp_path_factory.mktemp("loso_clips")
    return [
        make_clip(root / "alice", seed=11),
        make_clip(root / "bob", seed=12, offset=0.3),
        make_clip(root / "carol_a", seed=13, offset=-0.2),
        make_clip(root / "carol_b", seed=14, offset=-0.2),
    ]


@pytest.fixture(scope="module")
def report(three_speakers, tmp_path_factory) -> dict:
    options = LosoOptions(preset="tiny", features=FeatureConfig(), overrides={"steps": 150})
    return loso_evaluate(three_speakers, tmp_path_factory.mktemp("loso_runs"), options)


def test_one_fold_per_speaker_and_every_clip_scored(report):
    assert report["protocol"] == "leave-one-speaker-out"
    assert report["speakers"] == 3 and report["clips"] == 4
    per_speaker = report["audio2exp"]["per_speaker"]
    assert set(per_speaker) == {"alice", "bob", "carol"}
    assert per_speaker["carol"]["frames"] == sum(report["audio2exp"]["per_clip"][c]["frames"] for c in ("carol_a", "carol_b"))


def test_unseen_speakers_are_followed_and_the_mean_is_not(report):
    # the synthetic opening is loud-when-open: an unseen speaker's opening is predictable
    assert report["audio2exp"]["pooled"]["opening_r"] > 0.6
    assert report["envelope_linear"]["pooled"]["opening_r"] > 0.6
    assert report["ridge_features"]["pooled"]["opening_r"] > 0.6
    assert report["mean_expression"]["pooled"]["opening_r"] == 0.0
    assert report["mean_expression"]["pooled"]["opening_std_ratio"] < 1e-6
    assert report["audio2exp"]["pooled"]["mouth_mse"] < report["mean_expression"]["pooled"]["mouth_mse"]
    wins = report["speakers_where_audio2exp_beats"]["opening_r"]
    assert wins["of"] == 3 and 0 <= wins["over_both"] <= wins["over_envelope"]


def test_the_cli_runs_leave_one_speaker_out_and_refuses_a_checkpoint(three_speakers, tmp_path):
    from audio2exp.commands import audio2exp

    args = ["evaluate", *map(str, three_speakers[:2]), "--features", "logmel", "--preset", "tiny", "--steps", "20", "--work", str(tmp_path / "w")]
    result = CliRunner().invoke(audio2exp, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["speakers"] == 2 and set(out["audio2exp"]["per_speaker"]) == {"alice", "bob"}
    refused = CliRunner().invoke(audio2exp, [*args, "--checkpoint", str(tmp_path)])
    assert refused.exit_code == 2 and "--protocol heldout" in refused.output


def test_the_cli_passes_the_whisper_block_to_the_folds(three_speakers, tmp_path, monkeypatch):
    import audio2exp.loso as loso
    from audio2exp.commands import audio2exp

    seen = []
    monkeypatch.setattr(loso, "loso_evaluate", lambda clips, work, options: seen.append(options.features) or {})
    base = ["evaluate", *map(str, three_speakers[:2]), "--work", str(tmp_path / "w")]
    for extra in (["--layer", "3"], [], ["--features", "logmel", "--layer", "3"]):
        result = CliRunner().invoke(audio2exp, [*base, *extra])
        assert result.exit_code == 0, result.output
    assert [(f.kind, f.layer) for f in seen] == [("whisper", 3), ("whisper", -1), ("logmel", -1)]


def test_features_are_cached_by_content_and_front_end(monkeypatch):
    extractor = make_extractor(FeatureConfig())
    audio = synthetic_speech(50, seed=3)[0]
    first = features_of(audio, extractor)
    calls = []
    monkeypatch.setattr("audio2exp.data.stream_features", lambda *a, **k: calls.append(1) or iter(()))
    again = features_of(audio, extractor)  # from the cache: stream_features is not called
    assert not calls
    np.testing.assert_array_equal(first[0], again[0])
    assert len(list(feature_cache.cache_folder().glob("*.npz"))) == 1
    assert feature_cache.cache_key(audio, extractor) != feature_cache.cache_key(audio[::-1].copy(), extractor)
    assert feature_cache.cache_key(audio, extractor) != feature_cache.cache_key(audio, make_extractor(FeatureConfig(n_mels=20)))


def test_an_extractor_without_a_cache_key_is_never_cached():
    class Plain:
        pass

    assert feature_cache.cache_key(np.zeros(10, np.float32), Plain()) is None


def test_the_scale_fitted_on_the_other_half_of_the_clip_restores_a_shrunk_motion(three_speakers):
    from audio2exp.data import load_clip_data, opening_readout
    from audio2exp.directions import directions_for
    from audio2exp.loso import scale_calibrated

    clip = load_clip_data(three_speakers[0], make_extractor(FeatureConfig()), holdout=0.0)
    directions = directions_for("synthetic-v1", clip.expression.shape[1], opening_readout([clip]))
    base = clip.expression[clip.valid].mean(0)
    shrunk = base + 0.3 * (clip.expression - base)
    restored = scale_calibrated(clip, shrunk, directions)
    np.testing.assert_allclose(restored, clip.expression, atol=1e-4)  # the scale is 1 / 0.3 on both halves
    assert np.all(scale_calibrated(clip, np.repeat(base[None], clip.num_frames, 0), directions) == base)  # no motion: no scale
