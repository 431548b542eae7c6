"""Wall time per second of dubbed output, split by stage; prints JSON.

    python benchmarks/dub_speed.py [--run RUN --audio2exp A2E] [--video V] [--audio A]
                                   [--sync-search N [--sync-search-seconds S] [--syncnet-weights W]]

Without --run / --audio2exp it trains the demo's models first (tiny MI-NeRF, audio2exp on the
generated talking portrait, as ``minerf-dub --demo`` does; that training is reported as
``setup_seconds`` and not counted per output second). The dub runs in a fresh cache, so
preparation and personalization are included; a second dub of the same video shows the
cached case. With --sync-search the offset search runs before the final render and its
time shows as the ``sync_search`` stage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=None)
    parser.add_argument("--audio2exp", type=Path, default=None)
    parser.add_argument("--video", type=Path, default=None)
    parser.add_argument("--audio", type=Path, default=None)
    parser.add_argument("--personalize-steps", type=int, default=100)
    parser.add_argument("--sync-search", type=int, default=0, help="offset search of -N..N frames (0: off)")
    parser.add_argument("--sync-search-seconds", type=float, default=2.0)
    parser.add_argument("--syncnet-weights", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dub_speed_"))
    os.environ["MINERF_CACHE"] = str(work / "cache")
    import soundfile as sf
    import torch

    from minerf.demo_media import DemoSpec, make_demo_video, speech
    from minerf_dub.pipeline import DubOptions, dub

    video = args.video or make_demo_video(work / "portrait.mp4", DemoSpec(seconds=4.0, size=384))
    audio = args.audio
    if audio is None:
        audio = work / "speech.wav"
        sf.write(audio, speech(6.0, seed=7)[0], 16000)
    setup = 0.0
    run, a2e = args.run, args.audio2exp
    if run is None or a2e is None:
        from minerf.prepare.pipeline import PrepareOptions, prepare
        from minerf_dub.demo import DEMO_RESOLUTION, NERF_STEPS

        start = time.perf_counter()
        clip = prepare(make_demo_video(work / "train.mp4", DemoSpec(seconds=4.0, size=384, seed=1)), work / "train_clip", PrepareOptions(resolution=DEMO_RESOLUTION), progress=False)
        if run is None:
            from minerf.train.trainer import TrainOptions, train

            run = work / "run"
            train([clip.path], run, TrainOptions(preset="tiny", iterations=NERF_STEPS, validate_every=0, evaluate=False, progress=False))
        if a2e is None:
            from audio2exp.train import AUDIO2EXP_PRESETS
            from audio2exp.train import train as train_a2e

            a2e = work / "a2e"
            train_a2e([clip.path], a2e, train_config=AUDIO2EXP_PRESETS["default"][0], net_config=AUDIO2EXP_PRESETS["default"][1])
        setup = time.perf_counter() - start
    options = DubOptions(
        run=run, audio2exp=a2e, personalize_steps=args.personalize_steps, syncnet_weights=args.syncnet_weights,
        sync_search=args.sync_search, sync_search_seconds=args.sync_search_seconds,
    )
    results = []
    for name in ("first", "cached"):
        start = time.perf_counter()
        result = dub(video, audio, work / f"dub_{name}.mp4", options, progress=False)
        wall = time.perf_counter() - start
        results.append(
            {
                "case": name,
                "output_seconds": result.seconds,
                "wall_seconds": round(wall, 2),
                "wall_per_output_second": round(wall / result.seconds, 2),
                "stage_seconds_per_output_second": {k: round(v / result.seconds, 3) for k, v in result.timings.items()},
                "personalized": result.personalized,
                "scored": result.score is not None,
                "sync_search": result.sync_search and {k: result.sync_search[k] for k in ("offsets", "lse_c_at_0", "chosen", "frames")},
            }
        )
    print(json.dumps({"device": "cuda" if torch.cuda.is_available() else "cpu", "threads": torch.get_num_threads(), "setup_seconds": round(setup, 1), "runs": results}, indent=2))


if __name__ == "__main__":
    main()
