"""Speed and peak memory of ``minerf prepare``; prints JSON.

    python benchmarks/prepare_speed.py                       # a shared real clip (if present)
    python benchmarks/prepare_speed.py --video V.mp4 --resolution 512
    python benchmarks/prepare_speed.py --synthetic-seconds 60 --synthetic-size 720
    python -m benchmarks.prepare_speed ...                   # the same

Each run prepares in a fresh child process so peak RSS (ru_maxrss) is that run's alone.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import tempfile
import time
from pathlib import Path

from minerf_base.cli_support import report_errors
from minerf_base.errors import InputError

SHARED = Path(os.environ.get("MINERF_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DEFAULT_VIDEO = SHARED / "videos" / "news_woman_700px_30fps.mp4"


def _run(video: str, out: str, resolution: int, queue) -> None:
    from minerf.prepare.pipeline import PrepareOptions, prepare

    start = time.perf_counter()
    clip = prepare(video, out, PrepareOptions(resolution=resolution), progress=False)
    seconds = time.perf_counter() - start
    queue.put({"frames": clip.num_frames, "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def measure(video: Path, resolution: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        queue = mp.get_context("spawn").Queue()
        proc = mp.get_context("spawn").Process(target=_run, args=(str(video), str(Path(tmp) / "clip"), resolution, queue))
        proc.start()
        result = queue.get()
        proc.join()
    from minerf_base.video_in import probe

    info = probe(video)
    return {
        "video": str(video),
        "source": f"{info.width}x{info.height} @ {info.fps:.2f} fps, {info.duration:.1f} s",
        "resolution": resolution,
        "frames": result["frames"],
        "seconds": round(result["seconds"], 2),
        "frames_per_second": round(result["frames"] / result["seconds"], 2),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
    }


@report_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=None)
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--synthetic-seconds", type=float, default=None, help="Generate a demo video this long instead.")
    parser.add_argument("--synthetic-size", type=int, default=720, help="Side of the generated video.")
    args = parser.parse_args()
    if args.synthetic_seconds:
        from minerf.demo_media import DemoSpec, make_demo_video

        tmp = Path(tempfile.mkdtemp())
        video = make_demo_video(tmp / "synthetic.mp4", DemoSpec(seconds=args.synthetic_seconds, size=args.synthetic_size))
    else:
        video = args.video or DEFAULT_VIDEO
        if not video.exists():
            raise InputError(video, "not found", "pass --video or --synthetic-seconds")
    print(json.dumps(measure(video, args.resolution), indent=2))


if __name__ == "__main__":
    main()
