"""Our MFCC equals python_speech_features.mfcc (defaults, int16-scale input)."""

from __future__ import annotations

import numpy as np
import pytest
import python_speech_features

from lipsync.mfcc import mel_filterbank, mfcc, to_int16_scale
from tests.lipsync.conftest import generated_audio


@pytest.mark.parametrize("num_samples", [1, 399, 400, 401, 560, 6400, 16000 * 2 + 7])
def test_mfcc_matches_python_speech_features(num_samples):
    audio = generated_audio(num_samples, seed=num_samples)
    ours = mfcc(audio)
    reference = python_speech_features.mfcc(audio, 16000)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("num_samples", [401, 6400, 16000 * 2 + 7])
def test_mfcc_in_blocks_matches_python_speech_features(num_samples, monkeypatch):
    """A long track is computed a block of steps at a time; blocks of 3 steps, whose edges
    fall inside windows and inside the pre-emphasis, give the reference's values too."""
    import lipsync.mfcc

    monkeypatch.setattr(lipsync.mfcc, "BLOCK_STEPS", 3)
    audio = generated_audio(num_samples, seed=num_samples)
    np.testing.assert_allclose(mfcc(audio), python_speech_features.mfcc(audio, 16000), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(mfcc(audio.astype(np.float64)), python_speech_features.mfcc(audio, 16000), rtol=1e-9, atol=1e-9)


def test_mfcc_of_digital_silence_matches():
    silence = np.zeros(3200, np.int16)
    np.testing.assert_allclose(mfcc(silence), python_speech_features.mfcc(silence, 16000), rtol=1e-9, atol=1e-9)


def test_steps_per_video_frame():
    """T whole frames of 640 samples give 4 T - 1 MFCC rows, enough for windows 0..T-6."""
    assert mfcc(generated_audio(75 * 640)).shape == (299, 13)


def test_filterbank_matches():
    np.testing.assert_array_equal(mel_filterbank(), python_speech_features.get_filterbanks(26, 512, 16000, 0, None))


def test_float_audio_read_from_pcm16_maps_back_to_its_int16_samples(tmp_path):
    """Prepared clips store PCM16; read as float (s / 32768) they map back exactly."""
    import soundfile as sf

    samples = generated_audio(4000, seed=5)
    samples[:2] = (-32768, 32767)
    sf.write(tmp_path / "a.wav", samples, 16000, subtype="PCM_16")
    as_float, _ = sf.read(tmp_path / "a.wav", dtype="float32")
    np.testing.assert_array_equal(to_int16_scale(as_float), samples)
