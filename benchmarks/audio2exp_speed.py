"""Real-time factor and peak memory of ``audio2exp predict`` on this machine.

    python benchmarks/audio2exp_speed.py [--seconds 60] [--long-minutes 30] [--threads 2] [--device cpu]
    python -m benchmarks.audio2exp_speed ...                    # the same

Prints JSON. Front ends: ``logmel`` (default network), ``whisper`` (the Whisper-base encoder
found as in use: the cache or the installed packages; the network on top untrained, which
does not change its speed) and ``hf`` (a wav2vec2-base-sized encoder, 12 layers x 768,
randomly initialised and saved to a temporary folder: speed does not depend on the weights).
Every measurement runs with ``--threads`` torch / CTranslate2 threads (default 2) in its own
process (peak RSS is per process);
real-time factor = processing seconds / audio seconds (< 1 is faster than real time);
``cpu_seconds_per_audio_second`` (process CPU time, all threads) does not depend on what else
the machine runs. The
long run shows that memory stays bounded on 30 minutes of audio (chunked prediction).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_checkpoint(folder: Path, feature_config: dict, feature_dim: int, dim: int = 24) -> Path:
    """An untrained default network with the checkpoint metadata predict needs."""
    import torch

    from audio2exp.checkpoint import save_model
    from audio2exp.model import Audio2ExpConfig, Audio2ExpNet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Audio2ExpNet(Audio2ExpConfig(feature_dim=feature_dim, expression_dim=dim))
        for member in model.members:
            torch.nn.init.normal_(member.out.weight, std=0.1)
    meta = {
        "features": feature_config,
        "expression_space": {"id": "benchmark", "dim": dim, "mouth_components": [0]},
        "identities": ["speaker"],
        "opening_readout": [1.0] + [0.0] * dim,
    }
    return save_model(folder, model, meta)


def make_encoder(folder: Path) -> Path:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        Wav2Vec2Model(Wav2Vec2Config()).save_pretrained(folder)  # wav2vec2-base shape
    return folder


def write_speechlike(path: Path, seconds: float) -> Path:
    """Syllable-like tone bursts and pauses, written in 60 s pieces (bounded memory)."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    rate = 16000
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16") as out:
        left = int(seconds * rate)
        while left > 0:
            n = min(left, 60 * rate)
            t = np.arange(n) / rate
            envelope = np.clip(np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)), 0, None) * (np.sin(2 * np.pi * 0.2 * t) > -0.3)
            tone = sum(np.sin(2 * np.pi * 140.0 * h * t) / h for h in range(1, 12))
            out.write((0.2 * envelope * tone / 3 + rng.standard_normal(n) * 1e-3).astype(np.float32))
            left -= n
    return path


def worker(checkpoint: str, audio: str, device: str, threads: int) -> None:
    import numpy as np
    import soundfile as sf
    import torch

    from audio2exp.predict import Audio2ExpPredictor

    torch.set_num_threads(threads)  # the whisper encoder takes torch's thread count too

    start = time.perf_counter()
    predictor = Audio2ExpPredictor.load(checkpoint, device=device)
    load_s = time.perf_counter() - start
    source_seconds = sf.info(audio).duration
    start, cpu_start = time.perf_counter(), time.process_time()
    expressions = predictor.predict_file(audio)
    predict_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    print(json.dumps({
        "audio_seconds": round(source_seconds, 1),
        "load_seconds": round(load_s, 2),
        "predict_seconds": round(predict_s, 2),
        "real_time_factor": round(predict_s / source_seconds, 4),
        "cpu_seconds_per_audio_second": round(cpu_s / source_seconds, 4),
        "frames": int(expressions.shape[0]),
        "finite": bool(np.isfinite(expressions).all()),
        "peak_rss_mb": _peak_rss_mb(),
        "threads": threads,
    }))


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; unlike ru_maxrss it does not carry over
    the parent's peak through fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure(checkpoint: Path, audio: Path, device: str, threads: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", str(checkpoint), str(audio), "--device", device, "--threads", str(threads)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio length for the real-time factors")
    parser.add_argument("--long-minutes", type=float, default=30.0, help="audio length of the bounded-memory run (0 = skip)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch and CTranslate2 threads of each measurement")
    parser.add_argument("--skip", nargs="*", default=[], choices=["logmel", "whisper", "hf"], help="front ends not to measure")
    parser.add_argument("--worker", nargs=2, metavar=("CHECKPOINT", "AUDIO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.device, args.threads)
        return
    report: dict = {"device": args.device, "threads": args.threads, "cpu": _cpu_name()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        short = write_speechlike(work / "short.wav", args.seconds)
        long = write_speechlike(work / "long.wav", args.long_minutes * 60) if args.long_minutes > 0 else None
        for kind in ("logmel", "whisper"):
            if kind not in args.skip:
                report.update(front_end(kind, work, short, long, args))
        if "hf" not in args.skip:
            report["hf_wav2vec2_base"] = hf_front_end(work, short, args)
    print(json.dumps(report, indent=2))


def front_end(kind: str, work: Path, short: Path, long: Path | None, args: argparse.Namespace) -> dict:
    """{kind: short run, kind_long: long run} of the logmel or whisper front end."""
    from audio2exp.features import FeatureConfig, make_extractor

    config = FeatureConfig(kind=kind)
    ckpt = make_checkpoint(work / f"{kind}_run", config.to_dict(), make_extractor(config).dim)
    out = {kind: measure(ckpt, short, args.device, args.threads)}
    if long is not None:
        out[f"{kind}_long"] = measure(ckpt, long, args.device, args.threads)
    return out


def hf_front_end(work: Path, short: Path, args: argparse.Namespace) -> dict | str:
    from audio2exp.features import FeatureConfig

    try:
        encoder = make_encoder(work / "wav2vec2-base-random")
    except ImportError:
        return "transformers not installed (pip install 'minerf-dub[hf]')"
    hf = FeatureConfig(kind="hf", model=str(encoder))
    return measure(make_checkpoint(work / "hf_run", hf.to_dict(), 768), short, args.device, args.threads)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
