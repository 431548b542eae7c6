"""The speaker lift (audio2exp/lift.py): direction values kept, the rest from the person's own
tracked expressions, clamped to their range."""

from __future__ import annotations

import numpy as np
import pytest

from audio2exp.directions import SpeechDirections
from audio2exp.lift import MIN_FRAMES, fit_lift
from minerf_base.errors import InputError

D, K = 7, 2


def _person(seed: int, frames: int = 200, noise: float = 0.0) -> tuple[SpeechDirections, np.ndarray, np.ndarray]:
    """Directions, the person's mean, and tracked expressions whose offsets are a fixed mix
    ``mix`` (K, D) of K latent motions (plus ``noise`` in every coefficient)."""
    rng = np.random.default_rng(seed)
    directions = SpeechDirections(("opening", "width"), rng.normal(size=(K, D)))
    mean = rng.normal(size=D)
    mix = rng.normal(size=(K, D))
    tracked = mean + rng.normal(size=(frames, K)) @ mix + noise * rng.normal(size=(frames, D))
    return directions, mean, tracked


def test_lift_keeps_direction_values_and_takes_the_rest_from_the_person():
    directions, _, tracked = _person(0)
    lift = fit_lift(tracked, directions, ridge=1e-12)  # no shrinkage: exact values below
    assert lift.explained == pytest.approx(1.0, abs=1e-9) and lift.frames == len(tracked)
    # the person's own frames come back as they are: their offsets are exactly what the directions read
    np.testing.assert_allclose(lift.apply(tracked), tracked, atol=1e-4)
    # a prediction with the same direction values but a different mix of the other coefficients
    rng = np.random.default_rng(1)
    null = np.linalg.svd(directions.weights)[2][K:]  # (D - K, D): directions read nothing of these
    other_mix = tracked[:50] + rng.normal(size=(50, D - K)) @ null
    np.testing.assert_allclose(directions.values(other_mix), directions.values(tracked[:50]), atol=1e-9)
    np.testing.assert_allclose(lift.apply(other_mix), tracked[:50], atol=1e-4)
    # a change the directions do not see maps to the person's mean expression
    np.testing.assert_allclose(lift.apply(lift.mean[None] + null[:1]), lift.mean[None], atol=1e-5)


def test_lift_clamps_to_the_range_the_video_shows():
    directions, _, tracked = _person(2, noise=0.05)
    lift = fit_lift(tracked, directions)
    assert 0.5 < lift.explained < 1.0  # the noise is not explained
    wide = lift.mean + 10.0 * (tracked - lift.mean)  # far outside the person's motion
    lifted = lift.apply(wide)
    assert lifted.dtype == np.float32
    low, high = directions.values(tracked).min(0), directions.values(tracked).max(0)
    values = directions.values(lifted)
    centre = directions.values(lift.mean[None])
    # the default ridge shrinks the values by about 1e-3 towards the mean: that much slack
    np.testing.assert_allclose(values.max(0) - centre[0], high - centre[0], rtol=3e-3)
    np.testing.assert_allclose(values.min(0) - centre[0], low - centre[0], rtol=3e-3)
    assert np.all(values - centre <= (high - centre) * (1 + 1e-6)) and np.all(values - centre >= (low - centre) * (1 + 1e-6))
    # inside the range the lifted direction values are the prediction's (up to the ridge)
    inside = lift.mean + 0.3 * (tracked[:40] - lift.mean)
    np.testing.assert_allclose(directions.values(lift.apply(inside)) - centre, directions.values(inside) - centre, rtol=1e-2, atol=1e-3)


def test_lift_errors_name_the_source_and_the_fix():
    directions, _, tracked = _person(3)
    with pytest.raises(InputError, match=f"(?s)only {MIN_FRAMES - 1} tracked frames.*turn the lift off"):
        fit_lift(tracked[: MIN_FRAMES - 1], directions, source="talk.mp4")
    with pytest.raises(InputError, match="do not fit directions of 7 coefficients"):
        fit_lift(tracked[:, :5], directions)
    lift = fit_lift(tracked, directions)
    with pytest.raises(InputError, match="do not fit a lift of 7 coefficients"):
        lift.apply(tracked[:, :6])


def test_predict_cli_lifts_onto_the_reference_clip(trained_run, synthetic_clips, tmp_path):
    import soundfile as sf
    from click.testing import CliRunner

    from audio2exp.predict import Audio2ExpPredictor, Speaker
    from minerf_base.clip import load_clip
    from minerf_dub.cli import audio2exp
    from tests.audio2exp.conftest import synthetic_speech

    audio, _, _ = synthetic_speech(100, seed=21)
    sf.write(tmp_path / "speech.wav", audio, 16000)
    clip = load_clip(synthetic_clips[0], check_files=False)
    predictor = Audio2ExpPredictor.load(trained_run)
    lift = fit_lift(clip.expression[clip.valid.astype(bool)], predictor.speech_directions)
    args = ["predict", str(tmp_path / "speech.wav"), "--checkpoint", str(trained_run), "--reference-clip", str(synthetic_clips[0]), "-q"]
    runner = CliRunner()
    for name, extra in (("plain", []), ("lifted", ["--lift"])):
        result = runner.invoke(audio2exp, [*args, "-o", str(tmp_path / f"{name}.npy"), *extra])
        assert result.exit_code == 0, result.output
    plain, lifted = np.load(tmp_path / "plain.npy"), np.load(tmp_path / "lifted.npy")
    np.testing.assert_allclose(plain, predictor.predict_file(tmp_path / "speech.wav", Speaker(reference_expressions=clip.expression[clip.valid.astype(bool)])), atol=1e-5)
    np.testing.assert_allclose(lifted, lift.apply(plain), atol=1e-5)
    refused = runner.invoke(audio2exp, ["predict", str(tmp_path / "speech.wav"), "--checkpoint", str(trained_run), "-o", str(tmp_path / "none.npy"), "--lift"])
    assert np.abs(lifted - plain).max() > 1e-3
    assert refused.exit_code == 2 and "--reference-clip" in refused.output and not (tmp_path / "none.npy").exists()


def test_carry_moves_another_person_at_this_persons_scale():
    directions, _, tracked = _person(4)
    lift = fit_lift(tracked, directions, ridge=1e-12)
    rng = np.random.default_rng(5)
    # the driver: this person's motion three times as wide around another mean, plus motion
    # the directions do not read
    null = np.linalg.svd(directions.weights)[2][K:]
    driven = rng.normal(size=D) + 3.0 * (tracked - lift.mean) + rng.normal(size=(len(tracked), D - K)) @ null
    driver = fit_lift(driven, directions)
    np.testing.assert_allclose(driver.std, 3.0 * lift.std, rtol=1e-9)
    np.testing.assert_allclose(lift.carry(driven, driver), tracked, atol=1e-4)
    # the gain scales the carried motion (inside this person's range)
    np.testing.assert_allclose(lift.carry(driven, driver, gain=0.5), lift.mean + 0.5 * (tracked - lift.mean), atol=1e-4)
    # apply is carry from the person's own lift
    np.testing.assert_allclose(lift.carry(tracked[:20] * 1.1, lift), lift.apply(tracked[:20] * 1.1), atol=1e-6)
    other = fit_lift(tracked, SpeechDirections(("opening", "width"), directions.weights + 1.0))
    with pytest.raises(InputError, match="fit both lifts with the same directions"):
        lift.carry(tracked, other)
