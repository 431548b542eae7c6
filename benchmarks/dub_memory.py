"""Peak memory of a long dub: a generated speech track of ``--seconds`` (default 5 minutes)
dubbed onto the generated portrait with a tiny MI-NeRF; prints JSON.

    python benchmarks/dub_memory.py [--seconds 300] [--fps 5] [--resolution 32] [--size 256]
                                    [--no-score] [--no-report]
    python -m benchmarks.dub_memory ...                          # the same

The models are trained first (a tiny MI-NeRF and a tiny audio2exp on another generated
portrait, at ``--resolution``) and the process's peak resident memory is reset after that
(``/proc/self/clear_refs``), so ``peak_rss_mb`` is the dub's own peak on top of what the
loaded libraries and models hold (``rss_before_mb``). ``frames_in_memory_mb`` is what holding
every output frame would take, for scale. The dub is the default one (scored with the
shipped expert, with its report); ``--fps`` lowers the output frame rate to keep the render
short on a CPU (the audio, the prediction, the mux, the scoring and the report still cover the
whole length: the scorer and the report read the output at 25 fps).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from minerf_base.cli_support import report_errors


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the generated speech")
    parser.add_argument("--resolution", type=int, default=32, help="crop size the tiny MI-NeRF renders")
    parser.add_argument("--size", type=int, default=256, help="frame size of the generated portrait")
    parser.add_argument("--nerf-steps", type=int, default=60)
    parser.add_argument("--fps", type=float, default=None, help="output frame rate (default: the portrait's, 25)")
    parser.add_argument("--no-score", action="store_true")
    parser.add_argument("--no-report", action="store_true")
    return parser.parse_args()


def rss_mb(field: str = "VmRSS") -> float:
    """``field`` of /proc/self/status (VmRSS: now, VmHWM: peak since the last reset) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> bool:
    """Reset the peak resident memory (VmHWM) to the current one (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class RssSampler:
    """Samples the resident memory every ``interval`` seconds in a thread: (seconds since
    start, MB) pairs, to split the peak by stage (the stages run one after another)."""

    def __init__(self, interval: float = 0.2):
        import threading

        self.interval, self.samples = interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.perf_counter()
        while not self._stop.is_set():
            self.samples.append((time.perf_counter() - start, rss_mb()))
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peaks_by_stage(self, timings: dict[str, float]) -> dict[str, float]:
        """Peak MB sampled inside each stage, placing the stages end to end in their order
        (the untimed steps between them are short, so the split is approximate)."""
        peaks, start = {}, 0.0
        for name, seconds in timings.items():
            inside = [mb for t, mb in self.samples if start <= t < start + seconds]
            peaks[name] = round(max(inside), 1) if inside else None
            start += seconds
        return peaks


def tiny_models(work: Path, resolution: int, size: int, steps: int) -> tuple[Path, Path]:
    """A tiny MI-NeRF and a tiny audio2exp trained on a generated portrait."""
    from audio2exp.train import AUDIO2EXP_PRESETS
    from audio2exp.train import train as train_a2e
    from minerf.demo_media import DemoSpec, make_demo_video
    from minerf.prepare.pipeline import PrepareOptions, prepare
    from minerf.train.trainer import TrainOptions
    from minerf.train.trainer import train as train_nerf

    clip = prepare(make_demo_video(work / "train.mp4", DemoSpec(seconds=2.0, size=size, seed=1)), work / "clip", PrepareOptions(resolution=resolution), progress=False)
    train_nerf([clip.path], work / "nerf", TrainOptions(preset="tiny", iterations=steps, validate_every=0, evaluate=False, progress=False, config_overrides={"rays_per_step": 256}))
    tc, nc = AUDIO2EXP_PRESETS["tiny"]
    train_a2e([clip.path], work / "a2e", train_config=tc, net_config=nc)
    return work / "nerf", work / "a2e"


@report_errors
def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="dub_memory_"))
    os.environ["MINERF_CACHE"] = str(work / "cache")
    import soundfile as sf
    import torch

    from minerf.demo_media import DemoSpec, make_demo_video, speech
    from minerf_dub.pipeline import DubOptions, dub

    run, a2e = tiny_models(work, args.resolution, args.size, args.nerf_steps)
    video = make_demo_video(work / "portrait.mp4", DemoSpec(seconds=4.0, size=args.size, seed=0))
    sf.write(work / "speech.wav", speech(args.seconds, seed=7)[0], 16000)
    options = DubOptions(run=run, audio2exp=a2e, personalize_steps=20, score=not args.no_score, report=not args.no_report, fps=args.fps)
    before = rss_mb()
    exact = reset_peak()
    start = time.perf_counter()
    with RssSampler() as sampler:
        result = dub(video, work / "speech.wav", work / "dubbed.mp4", options, progress=False)
    wall = time.perf_counter() - start
    peak = rss_mb("VmHWM") if exact else float("nan")
    frame_mb = result.resolution[0] * result.resolution[1] * 3 / 2**20
    print(json.dumps({
        "audio_seconds": args.seconds, "output_frames": result.frames, "output_fps": result.fps, "output_size": list(result.resolution), "crop_resolution": args.resolution,
        "rss_before_mb": round(before, 1), "peak_rss_mb": round(peak, 1), "peak_over_before_mb": round(peak - before, 1), "peak_exact": exact,
        "frames_in_memory_mb": round(result.frames * frame_mb, 1), "rss_peak_by_stage_mb": sampler.peaks_by_stage(result.timings), "wall_seconds": round(wall, 1), "timings": result.timings, "estimate": result.estimate,
        "scored": result.score is not None, "score": result.score, "report": result.report is not None, "notes": result.notes, "threads": torch.get_num_threads(), "output_bytes": (work / "dubbed.mp4").stat().st_size,
    }, indent=2))


if __name__ == "__main__":
    main()
