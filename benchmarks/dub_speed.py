"""Wall time per second of dubbed output, split by stage; prints JSON.

    python benchmarks/dub_speed.py [--run RUN --audio2exp A2E] [--video V] [--audio A]
                                   [--sync-search N [--sync-search-seconds S] [--syncnet-weights W]]
    python -m benchmarks.dub_speed ...                             # the same

Without --run / --audio2exp it trains small models first (tiny MI-NeRF and audio2exp on the
generated talking portrait, :mod:`minerf_dub.demo`'s ``train_demo_*``; that training is reported as
``setup_seconds`` and not counted per output second). The dub runs in a fresh cache, so
preparation and personalization are included; a second dub of the same video shows the
cached case. Each run carries the dub's up-front ``estimate`` beside its measured stage times. With --sync-search the offset search runs before the final render and its
time shows as the ``sync_search`` stage.
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
    parser.add_argument("--run", type=Path, default=None)
    parser.add_argument("--audio2exp", type=Path, default=None)
    parser.add_argument("--video", type=Path, default=None)
    parser.add_argument("--audio", type=Path, default=None)
    parser.add_argument("--personalize-steps", type=int, default=100)
    parser.add_argument("--sync-search", type=int, default=0, help="offset search of -N..N frames (0: off)")
    parser.add_argument("--sync-search-seconds", type=float, default=2.0)
    parser.add_argument("--syncnet-weights", type=Path, default=None)
    return parser.parse_args()


def inputs(args: argparse.Namespace, work: Path) -> tuple[Path, Path]:
    """The video and the speech to dub: the given ones, or the demo portrait and new speech."""
    import soundfile as sf

    from minerf.demo_media import DemoSpec, make_demo_video, speech

    video = args.video or make_demo_video(work / "portrait.mp4", DemoSpec(seconds=4.0, size=384))
    audio = args.audio
    if audio is None:
        audio = work / "speech.wav"
        sf.write(audio, speech(6.0, seed=7)[0], 16000)
    return video, audio


def models(args: argparse.Namespace, work: Path) -> tuple[Path, Path, float]:
    """(MI-NeRF run, audio2exp run, seconds spent training the missing ones): the demo's
    models, trained on another generated portrait than the one dubbed."""
    from minerf.demo_media import DemoSpec, make_demo_video
    from minerf_dub.demo import DEMO_RESOLUTION, train_demo_audio2exp, train_demo_minerf
    from minerf_dub.sources import cached_clip

    if args.run is not None and args.audio2exp is not None:
        return args.run, args.audio2exp, 0.0
    start = time.perf_counter()
    clip = cached_clip(make_demo_video(work / "train.mp4", DemoSpec(seconds=4.0, size=384, seed=1)), DEMO_RESOLUTION, progress=False).path
    run = args.run or train_demo_minerf(clip, work / "run", progress=False)
    a2e = args.audio2exp or train_demo_audio2exp(clip, work / "a2e", progress=False)
    return run, a2e, time.perf_counter() - start


def timed_dub(video: Path, audio: Path, out: Path, options, case: str) -> dict:
    """One dub, its wall time per output second and each stage's share."""
    from minerf_dub.pipeline import dub

    start = time.perf_counter()
    result = dub(video, audio, out, options, progress=False)
    wall = time.perf_counter() - start
    return {
        "case": case,
        "output_seconds": result.seconds,
        "wall_seconds": round(wall, 2),
        "wall_per_output_second": round(wall / result.seconds, 2),
        "stage_seconds_per_output_second": {k: round(v / result.seconds, 3) for k, v in result.timings.items()},
        "personalized": result.personalized,
        "estimate": result.estimate,
        "output_fps": result.fps,
        "scored": result.score is not None,
        "sync_search": result.sync_search and {k: result.sync_search[k] for k in ("offsets", "lse_c_at_0", "chosen", "frames")},
    }


@report_errors
def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="dub_speed_"))
    os.environ["MINERF_CACHE"] = str(work / "cache")
    import torch

    from minerf_dub.pipeline import DubOptions

    video, audio = inputs(args, work)
    run, a2e, setup = models(args, work)
    options = DubOptions(
        run=run, audio2exp=a2e, personalize_steps=args.personalize_steps, syncnet_weights=args.syncnet_weights,
        sync_search=args.sync_search, sync_search_seconds=args.sync_search_seconds,
    )
    results = [timed_dub(video, audio, work / f"dub_{case}.mp4", options, case) for case in ("first", "cached")]
    print(json.dumps({"device": "cuda" if torch.cuda.is_available() else "cpu", "threads": torch.get_num_threads(), "setup_seconds": round(setup, 1), "runs": results}, indent=2))


if __name__ == "__main__":
    main()
