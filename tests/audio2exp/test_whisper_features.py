"""Whisper front end: log-mel against references, window stitching against one-window
encoding, 25 fps alignment, and the real whisper-base encoder when its packages are installed."""

from __future__ import annotations

import numpy as np
import pytest

from audio2exp.audio import array_source
from audio2exp.features import FeatureConfig, silence_features, stream_features
from audio2exp.whisper_features import (
    WINDOW_SAMPLES,
    WINDOW_STATES,
    WhisperFeatures,
    _ct2_device,
    encode_stitched,
    log_mel,
    mel_filters,
    plan_windows,
)
from minerf_base.errors import InputError
from tests.audio2exp.conftest import synthetic_speech
from tests.audio2exp.whisper_standins import CentreEncoder, LocalEncoder


def _slow_log_mel(audio: np.ndarray) -> np.ndarray:
    """Whisper's formula written out frame by frame in float64: (n,) -> (80, n / 160)."""
    padded = np.pad(audio.astype(np.float64), 200, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    frames = [np.abs(np.fft.rfft(padded[160 * t : 160 * t + 400] * window)) ** 2 for t in range(audio.size // 160)]
    mel = np.log10(np.maximum(mel_filters(80).astype(np.float64) @ np.stack(frames, axis=1), 1e-10))
    return (np.maximum(mel, mel.max() - 8.0) + 4.0) / 4.0


def _speech(seconds: float, seed: int) -> np.ndarray:
    audio, _, _ = synthetic_speech(int(seconds * 25), seed)
    return audio


def test_log_mel_is_whispers_formula():
    audio = _speech(3.0, seed=1)
    fast = log_mel(np.stack([audio, 0.1 * audio[::-1]]))
    assert fast.shape == (2, 80, 300) and fast.dtype == np.float32
    np.testing.assert_allclose(fast[0], _slow_log_mel(audio), atol=1e-4)  # float32 vs float64
    np.testing.assert_allclose(fast[1], _slow_log_mel(0.1 * audio[::-1]), atol=1e-4)  # each row its own maximum
    assert fast[0].max() == pytest.approx(fast[0].min() + 2.0, abs=1e-5)  # clamped to max - 8 -> range 2


def test_log_mel_matches_faster_whisper():
    extractor = pytest.importorskip("faster_whisper.feature_extractor", reason="faster-whisper (test reference) is not installed").FeatureExtractor()
    window = np.zeros(WINDOW_SAMPLES, np.float32)
    window[: 8 * 16000] = _speech(8.0, seed=2)
    np.testing.assert_allclose(log_mel(window[None])[0], extractor(window, padding=0), atol=1e-4)


@pytest.mark.parametrize("count", [1, 2, 1399, 1400, 1401, 4000])
def test_windows_tile_the_wanted_states_with_their_centres(count):
    margin = 50
    plans = plan_windows(count, margin)
    kept = np.concatenate([np.arange(lo, hi) for _, lo, hi in plans])
    np.testing.assert_array_equal(kept, np.arange(margin, margin + count))
    for start, lo, hi in plans:
        assert start + margin <= lo and hi <= start + WINDOW_STATES - margin
    assert len(plans) == -(-count // (WINDOW_STATES - 2 * margin))
    with pytest.raises(ValueError, match="leaves nothing"):
        plan_windows(10, WINDOW_STATES // 2)


def test_stitching_equals_one_window_encoding_with_a_local_encoder():
    rng = np.random.default_rng(3)
    samples = (rng.standard_normal(320 * 3750) * np.repeat(rng.random(3750), 320)).astype(np.float32)  # 75 s
    encoder = LocalEncoder()
    margin, count = 50, 3750 - 60
    stitched = encode_stitched(samples, encoder, margin, count, batch_size=2)
    assert encoder.windows == 3  # 28 s of centre per 30 s window
    whole = LocalEncoder()(samples[None])[0]  # one "window" over everything
    np.testing.assert_allclose(stitched, whole[margin : margin + count], rtol=1e-6, atol=1e-7)


def test_features_are_aligned_to_25fps_frames():
    extractor = WhisperFeatures(FeatureConfig(kind="whisper"), encoder=CentreEncoder())
    frames = 1800  # 72 s: three chunks, several windows
    samples = np.arange(640 * frames - 100, dtype=np.float64) * 1e-7  # sample k has value k * 1e-7
    source = array_source(samples.astype(np.float32))
    assert source.num_frames == frames
    rows = np.concatenate([f for _, f in stream_features(source, extractor, 1.0, chunk_frames=800)])
    assert rows.shape == (frames, 1)  # T frames of audio -> T feature rows
    # row t = the two states centred on the halves of frame t: (640 t + 160 + 640 t + 480) / 2
    np.testing.assert_allclose(rows[:, 0], (640 * np.arange(frames) + 320) * 1e-7, rtol=1e-6)


def test_a_progress_bar_counts_windows(capsys):
    extractor = WhisperFeatures(FeatureConfig(kind="whisper"), encoder=LocalEncoder())
    extractor.progress = True
    frames = 1500  # 60 s: 3 windows of 28 s
    extractor(np.zeros(640 * frames + sum(extractor.context), np.float32), frames)
    assert "3/3" in capsys.readouterr().err and extractor.encoder.windows == 3


def test_chunked_features_equal_whole_file_features_with_a_local_encoder():
    extractor = WhisperFeatures(FeatureConfig(kind="whisper", context_seconds=1.0), encoder=LocalEncoder())
    assert extractor.chunk_multiple == 700
    source = array_source(_speech(64.0, seed=4))
    whole = extractor(np.concatenate([np.zeros(extractor.context[0], np.float32), source.read_all(), np.zeros(extractor.context[1], np.float32)]), source.num_frames)
    for chunk, margin in ((700, 0), (1000, 6), (50, 3)):  # rounded to multiples of 700 frames
        extractor.encoder.windows = 0
        chunks = [f for _, f in stream_features(source, extractor, 1.0, chunk_frames=chunk, margin=margin)]
        inner = np.concatenate([f[margin : f.shape[0] - margin] for f in chunks])
        np.testing.assert_allclose(inner, whole, rtol=1e-6, atol=1e-7)
        assert extractor.encoder.windows == 3 + bool(margin)  # 1600 frames: 3 chunks of one 28 s window; a margin adds the silence row, not a window per chunk


def test_bad_settings_are_clear_errors():
    with pytest.raises(InputError, match="leaves nothing of Whisper's 30 s window"):
        WhisperFeatures(FeatureConfig(kind="whisper", context_seconds=15.0), encoder=LocalEncoder())
    with pytest.raises(InputError, match="runs on cpu or cuda, not 'mps'"):
        _ct2_device("mps")
    assert _ct2_device("cuda:1") == ("cuda", 1) and _ct2_device("cpu") == ("cpu", 0)
    with pytest.raises(ValueError, match=r"expected 480640 samples for 1 frames, got \(31,\)"):
        WhisperFeatures(FeatureConfig(kind="whisper"), encoder=LocalEncoder())(np.zeros(31), 1)


# ------------------------------------------------------------------ the real whisper-base
@pytest.fixture(scope="module")
def real_extractor(real_whisper_folder) -> WhisperFeatures:
    pytest.importorskip("ctranslate2", reason="ctranslate2 is not installed")
    return WhisperFeatures(FeatureConfig(kind="whisper", model=str(real_whisper_folder)), threads=2)


def _with_context(extractor: WhisperFeatures, audio: np.ndarray) -> np.ndarray:
    left, right = extractor.context
    return np.concatenate([np.zeros(left, np.float32), audio, np.zeros(right, np.float32)])


def test_real_encoder_on_a_short_clip_is_one_window(real_extractor):
    import ctranslate2

    audio = _speech(8.0, seed=5)
    frames = audio.size // 640
    feats = real_extractor(_with_context(real_extractor, audio), frames)
    assert feats.shape == (frames, 512) and np.all(np.isfinite(feats))
    # by hand: the clip 1 s (50 states) into one zero-padded 30 s window, two states per frame
    window = np.zeros((1, WINDOW_SAMPLES), np.float32)
    window[0, 50 * 320 - 160 : 50 * 320 - 160 + audio.size] = audio
    model = ctranslate2.models.Whisper(str(real_extractor.encoder.folder), device="cpu", compute_type="int8", intra_threads=2)
    states = np.asarray(model.encode(ctranslate2.StorageView.from_array(log_mel(window)), to_cpu=True))[0]
    np.testing.assert_allclose(feats, states[50 : 50 + 2 * frames].reshape(frames, 2, 512).mean(axis=1), rtol=1e-5, atol=1e-5)
    # silence is not speech
    quiet = silence_features(real_extractor)
    assert np.linalg.norm(feats - quiet, axis=1).min() > 0.1 * np.linalg.norm(quiet)


def test_real_encoder_chunks_stitch_to_the_whole_file(real_extractor):
    source = array_source(_speech(40.0, seed=6))
    whole = real_extractor(_with_context(real_extractor, source.read_all()), source.num_frames)  # 2 windows
    chunked = np.concatenate([f for _, f in stream_features(source, real_extractor, 1.0, chunk_frames=700)])
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-5)


def test_worker_process_keeps_ctranslate2_out_of_this_process_and_encodes_like_it(real_extractor):
    import subprocess
    import sys

    import ctranslate2

    window = np.zeros((3, WINDOW_SAMPLES), np.float32)  # the last window is digital silence
    window[0, :16000 * 3] = _speech(3.0, seed=8)
    window[1, 16000 * 5 : 16000 * 7] = _speech(2.0, seed=9)
    through_worker = real_extractor.encoder(window)
    assert real_extractor.encoder._silence is not None  # encoded once, when first asked for
    model = ctranslate2.models.Whisper(str(real_extractor.encoder.folder), device="cpu", compute_type="int8", intra_threads=2)
    in_process = np.asarray(model.encode(ctranslate2.StorageView.from_array(log_mel(window)), to_cpu=True))
    np.testing.assert_allclose(through_worker, in_process, rtol=1e-5, atol=1e-5)
    # a fresh interpreter that builds the encoder has not loaded ctranslate2 itself
    code = (
        "import sys; from audio2exp.whisper_features import WhisperEncoder; "
        f"e = WhisperEncoder({str(real_extractor.encoder.folder)!r}, threads=1); "
        "print(e.dim, 'ctranslate2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.split() == ["512", "False"]


def test_worker_names_the_folder_and_the_reason_when_the_model_does_not_load(tmp_path):
    pytest.importorskip("ctranslate2", reason="ctranslate2 is not installed")
    from audio2exp.whisper_features import WhisperEncoder

    broken = tmp_path / "broken-whisper"
    broken.mkdir()
    (broken / "model.bin").write_bytes(b"not a model")
    (broken / "config.json").write_text("{}")
    with pytest.raises(InputError, match=r"ctranslate2 cannot load this Whisper model \(.+\)") as info:
        WhisperEncoder(broken)
    assert str(broken) in str(info.value)
