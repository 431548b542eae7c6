"""Audio front: any rate / channel count to 16 kHz mono, streaming windows, frame alignment."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audio2exp.audio import (
    array_source,
    frame_count,
    iter_windows,
    measure_level,
    normalising_gain,
    open_audio,
)
from audio2exp.features import FeatureConfig, LogMelFeatures, silence_features, stream_features
from minerf_base.errors import MediaError
from minerf_base.video_in import read_audio


def _tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_stereo_44k_file_becomes_16k_mono(tmp_path):
    left = _tone(2.0, 44100, 440.0)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 44100)
    source = open_audio(path)
    assert source.num_samples == 32000
    assert source.num_frames == 50
    data = source.read_all()
    assert data.shape == (32000,)
    # FFmpeg's down-mix, as `minerf prepare` reads a clip's audio: each channel times sqrt(1/2)
    assert np.max(np.abs(data[1000:-1000])) == pytest.approx(0.3 * np.sqrt(0.5), abs=0.01)
    np.testing.assert_array_equal(data, read_audio(path))
    spectrum = np.abs(np.fft.rfft(data))
    assert np.argmax(spectrum) * 16000 / data.size == pytest.approx(440.0, abs=2.0)


@pytest.mark.parametrize("freq", [440.0, 3000.0])
def test_streamed_resampling_keeps_speech_band_tones_in_place(tmp_path, freq):
    path = tmp_path / "tone.flac"
    sf.write(path, _tone(3.0, 22050, freq), 22050)
    streamed = open_audio(path).read_all()
    assert streamed.size == 48000
    ideal = 0.3 * np.sin(2 * np.pi * freq * np.arange(streamed.size) / 16000)
    np.testing.assert_allclose(streamed[200:-200], ideal[200:-200], atol=2e-3)  # no delay, no loss


def test_file_and_its_samples_in_memory_give_the_same_16k_signal(tmp_path):
    signal = np.random.default_rng(0).standard_normal(22050 * 3).astype(np.float32) * 0.1
    path = tmp_path / "noise.wav"
    sf.write(path, signal, 22050, subtype="FLOAT")
    from_file = open_audio(path).read_all()
    in_memory = array_source(signal, 22050).read_all()
    assert from_file.shape == in_memory.shape == (48000,)
    np.testing.assert_allclose(from_file, in_memory, atol=1e-6)


def test_unreadable_and_missing_files_are_media_errors(tmp_path):
    bad = tmp_path / "notaudio.wav"
    bad.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(MediaError, match="not a readable video or audio file") as info:
        open_audio(bad)
    assert info.value.path == bad and "fix:" in str(info.value)
    with pytest.raises(MediaError, match="does not exist"):
        open_audio(tmp_path / "missing.wav")


def test_video_without_audio_is_a_media_error(tmp_path):
    from minerf_base.video_out import write_video

    video = write_video(tmp_path / "mute.mp4", [np.zeros((32, 32, 3), np.uint8)] * 5)
    with pytest.raises(MediaError, match="holds no samples of audio") as info:
        open_audio(video)
    assert info.value.path == video


@pytest.mark.parametrize("chunk", [1, 3, 7, 100])
def test_windows_cover_the_signal_exactly(chunk):
    signal = np.arange(640 * 10 + 123, dtype=np.float32) + 1.0
    source = array_source(signal)
    source_blocks = source._blocks
    source._blocks = lambda: (b[i : i + 500] for b in source_blocks() for i in range(0, b.size, 500))
    left, right = 176, 300
    seen = []
    for first, count, window in iter_windows(source, chunk, left, right):
        assert window.size == count * 640 + left + right
        start = first * 640 - left
        want = np.zeros(window.size, np.float32)
        lo, hi = max(0, start), min(signal.size, start + window.size)
        want[lo - start : hi - start] = signal[lo:hi]
        np.testing.assert_array_equal(window, want)
        seen.extend(range(first, first + count))
    assert seen == list(range(frame_count(signal.size)))


def test_logmel_feature_of_a_burst_is_in_its_frame():
    signal = np.zeros(640 * 20, np.float32)
    signal[640 * 9 : 640 * 10] = _tone(0.04, 16000, 1000.0)
    extractor = LogMelFeatures(FeatureConfig())
    feats = np.concatenate([f for _, f in stream_features(array_source(signal), extractor, 1.0, chunk_frames=6)])
    assert feats.shape == (20, extractor.dim)
    loudness = feats.mean(axis=1)
    assert int(np.argmax(loudness)) == 9
    assert loudness[0] == pytest.approx(loudness[19])  # silence is the floor vector


def test_chunked_logmel_equals_whole():
    signal = np.random.default_rng(1).standard_normal(640 * 33 + 77).astype(np.float32) * 0.1
    extractor = LogMelFeatures(FeatureConfig())
    whole = np.concatenate([f for _, f in stream_features(array_source(signal), extractor, 1.0, chunk_frames=1000)])
    for chunk, margin in ((5, 3), (5, 12), (1000, 3)):  # a margin wider than a chunk reads several
        pad = np.repeat(silence_features(extractor)[None], margin, axis=0)
        expected = np.concatenate([pad, whole, pad])  # frames outside the audio: silence
        for first, rows in stream_features(array_source(signal), extractor, 1.0, chunk_frames=chunk, margin=margin):
            count = min(chunk, len(whole) - first)
            np.testing.assert_allclose(rows, expected[first : first + count + 2 * margin], atol=1e-4)


def test_level_and_gain():
    quiet = _tone(1.0, 16000) * 0.01  # about -50 dBFS
    level, per_frame = measure_level(array_source(quiet))
    assert per_frame.shape == (25,)
    assert level == pytest.approx(20 * np.log10(0.3 * 0.01 / np.sqrt(2)), abs=0.5)
    assert 20 * np.log10(normalising_gain(level)) == pytest.approx(30.0)  # capped: quiet noise is not blown up
    assert 20 * np.log10(normalising_gain(-30.0)) == pytest.approx(10.0)
    silent_level, _ = measure_level(array_source(np.zeros(16000, np.float32)))
    assert silent_level == float("-inf") and normalising_gain(silent_level) == 1.0


def test_audio_track_of_a_container_file(tmp_path):
    import av

    path = tmp_path / "speech.m4a"
    tone = _tone(1.0, 48000, 440.0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48000, layout="mono")
        for start in range(0, tone.size, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="flt", layout="mono")
            frame.sample_rate = 48000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    data = open_audio(path).read_all()
    assert abs(data.size - 16000) < 1600  # codec priming / padding
    spectrum = np.abs(np.fft.rfft(data))
    assert np.argmax(spectrum) * 16000 / data.size == pytest.approx(440.0, abs=3.0)
