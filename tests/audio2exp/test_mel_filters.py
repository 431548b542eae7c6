"""The NumPy mel filter banks equal librosa's, value for value."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from audio2exp.mel_filters import hz_to_mel, mel_filters, mel_to_hz


@pytest.mark.parametrize(("n_fft", "n_mels", "fmin", "fmax"), [(400, 80, 0.0, None), (400, 128, 0.0, None), (512, 80, 55.0, 7600.0), (512, 13, 300.0, 3000.0)])
def test_filters_equal_librosa(n_fft, n_mels, fmin, fmax):
    ours = mel_filters(16000, n_fft, n_mels, fmin, fmax)
    theirs = librosa.filters.mel(sr=16000, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)
    assert not ours.flags.writeable  # cached: shared by every caller


def test_mel_scale_equals_librosa_and_inverts():
    hz = np.array([0.0, 100.0, 999.0, 1000.0, 1001.0, 4000.0, 8000.0])
    np.testing.assert_allclose(hz_to_mel(hz), librosa.hz_to_mel(hz), rtol=1e-12)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, rtol=1e-12, atol=1e-9)
