"""Speed and peak memory of the whisper feature type (audio2exp/whisper_features.py).

    python -m benchmarks.whisper_features [--minutes 5] [--threads 1 2] [--encoder FOLDER]

Prints JSON. The audio is generated (synthetic speech from minerf.demo_media, written to a
WAV file in 60 s pieces) and streamed as ``audio2exp predict`` streams it
(``stream_features``, 56 s chunks). Each thread count runs in its own process, so peak
resident memory (VmHWM) is that run's: model, one chunk, one batch of windows. The encoder is
found as in use (``--encoder``, else the cache, else the installed whisper-base packages).
``cpu_seconds_per_audio_second`` (process CPU time) is what one free core would take at one
thread, whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_speech(path: Path, seconds: float) -> Path:
    import soundfile as sf

    from minerf.demo_media import speech
    from minerf_base.timebase import SAMPLE_RATE

    with sf.SoundFile(str(path), "w", samplerate=SAMPLE_RATE, channels=1, subtype="FLOAT") as out:
        done, piece = 0.0, 0
        while done < seconds:
            length = min(60.0, seconds - done)
            out.write(speech(length, seed=piece)[0])
            done += length
            piece += 1
    return path


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def worker(audio: str, threads: int, encoder: str | None) -> None:
    """One measurement in this process; prints one JSON line."""
    from audio2exp.audio import measure_level, normalising_gain, open_audio
    from audio2exp.features import FeatureConfig, stream_features
    from audio2exp.whisper_features import WhisperFeatures

    start = time.perf_counter()
    extractor = WhisperFeatures(FeatureConfig(kind="whisper", model=encoder), threads=threads)
    load_s = time.perf_counter() - start
    loaded_mb = _peak_rss_mb()
    source = open_audio(audio)
    level, _ = measure_level(source)
    counted = extractor.encoder = _Counting(extractor.encoder)
    rows = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for _, feats in stream_features(source, extractor, normalising_gain(level), chunk_frames=1400):
        rows += feats.shape[0]
    encode_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start
    print(json.dumps({
        "threads": threads,
        "audio_seconds": round(source.seconds, 1),
        "rows": rows,
        "dim": extractor.dim,
        "windows": counted.windows,
        "load_seconds": round(load_s, 2),
        "encode_seconds": round(encode_s, 2),
        "seconds_per_audio_second": round(encode_s / source.seconds, 4),
        "seconds_per_window": round(encode_s / max(1, counted.windows), 3),
        "real_time_factor": round(source.seconds / encode_s, 1),
        "cpu_seconds_per_audio_second": round(cpu_s / source.seconds, 4),
        "rss_after_load_mb": loaded_mb,
        "peak_rss_mb": _peak_rss_mb(),
        "compute_type": counted.encoder.compute_type,
    }))


class _Counting:
    """The window encoder, counting the windows it encodes."""

    def __init__(self, encoder):  # type: ignore[no-untyped-def]
        self.encoder = encoder
        self.dim = encoder.dim
        self.windows = 0

    def __call__(self, audio):  # type: ignore[no-untyped-def]
        self.windows += audio.shape[0]
        return self.encoder(audio)


def measure(audio: Path, threads: int, encoder: str | None) -> dict:
    command = [sys.executable, "-m", "benchmarks.whisper_features", "--worker", str(audio), "--threads", str(threads)]
    if encoder:
        command += ["--encoder", encoder]
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the generated audio")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="ctranslate2 threads, one run each")
    parser.add_argument("--encoder", default=None, help="CTranslate2 Whisper folder (default: cache / installed packages)")
    parser.add_argument("--worker", metavar="AUDIO", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.threads[0], args.encoder)
        return
    from audio2exp.whisper_model import find_whisper_model

    folder = find_whisper_model(args.encoder)  # reassembles the packages once, outside the timing
    report: dict = {"encoder": str(folder), "cpu": _cpu_name(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        audio = write_speech(Path(tmp) / "speech.wav", args.minutes * 60)
        for threads in args.threads:
            report["runs"].append(measure(audio, threads, str(folder)))
    print(json.dumps(report, indent=2))


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()
