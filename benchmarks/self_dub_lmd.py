"""Self-dub accuracy: a video dubbed with its own audio, and with the same audio cut into
0.2-0.5 s segments and shuffled (the control), measured against its real frames -- mouth
landmark distance (LMD), mouth-opening correlation and spread, face-crop PSNR and identity
distance (ACD) per case (``minerf_dub.self_dub.measure_case``; docs/dubbing.md says what each
number means); prints JSON.

    python benchmarks/self_dub_lmd.py                          # the generated demo portrait
    python benchmarks/self_dub_lmd.py --video V --run RUN --audio2exp A2E [--video V2 ...]
    python -m benchmarks.self_dub_lmd ...                       # the same

Without --run / --audio2exp it trains small models on the demo portrait
(:func:`minerf_dub.demo.train_demo_minerf`: tiny MI-NeRF, 400 steps, default audio2exp; ``--resolution``,
``--nerf-steps`` change that) and self-dubs the portrait. ``--tracked`` also re-renders the
clip's own tracked expressions (no audio2exp): what the NeRF alone reaches. With several
``--video`` it also reports ``pooled``: own vs shuffled over all their frames together, and
each case's opening correlation, opening spread, face PSNR and ACD as the mean per clip and
the value over all frames (``minerf_dub.self_dub.pooled_cases``).
Every clip's result is also kept in ``WORK/clipK/result.json`` as soon as it is done
(``minerf_dub.self_dub.self_dub_many``).

    python benchmarks/self_dub_lmd.py --pool WORK [WORK2 ...]

pools the self-dubs already in earlier work folders (their ``clip*/landmarks.npz``, and for
face PSNR and ACD their ``clip*/result.json``), e.g.
clips dubbed with different models, without rendering anything
(``minerf_dub.self_dub.pool_work_folders``).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from minerf_base.cli_support import report_errors
from minerf_dub.defaults import DEFAULT_EXPRESSION_GAIN, DEFAULT_PERSONALIZE_STEPS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, action="append", default=[])
    parser.add_argument("--run", type=Path, default=None)
    parser.add_argument("--audio2exp", type=Path, default=None)
    parser.add_argument("--resolution", type=int, default=96, help="demo only: crop size")
    parser.add_argument("--nerf-steps", type=int, default=400, help="demo only: MI-NeRF steps")
    parser.add_argument("--a2e-preset", default="default", help="demo only: audio2exp preset")
    parser.add_argument("--personalize-steps", type=int, default=DEFAULT_PERSONALIZE_STEPS)
    parser.add_argument("--personalize-seed", type=int, default=0, help="seed of each personalization (another draw of the same training)")
    parser.add_argument("--sync-search", type=int, default=0, metavar="N", help="dub with minerf-dub's offset search of -N..N frames (0: off)")
    parser.add_argument("--expression-gain", type=float, default=DEFAULT_EXPRESSION_GAIN, help="minerf-dub's --expression-gain for the audio-driven cases (default: minerf-dub's)")
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed (and demo training seed)")
    parser.add_argument("--tracked", action="store_true")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--pool", type=Path, nargs="+", default=None, metavar="WORK", help="only pool the self-dubs in these work folders")
    return parser.parse_args()


def demo_models(work: Path, args: argparse.Namespace) -> tuple[Path, Path, Path, dict]:
    """(video, run, audio2exp, setup) trained on the generated portrait like ``minerf-dub --demo``."""
    from minerf.demo_media import DemoSpec, make_demo_video
    from minerf_dub.demo import DemoTraining, train_demo_audio2exp, train_demo_minerf
    from minerf_dub.sources import cached_clip

    start = time.perf_counter()
    video = make_demo_video(work / "demo_input.mp4", DemoSpec(seconds=4.0, size=384))
    clip = cached_clip(video, args.resolution, progress=False).path
    training = DemoTraining(nerf_steps=args.nerf_steps, audio2exp_preset=args.a2e_preset, seed=args.seed)
    run = train_demo_minerf(clip, work / "run", training, progress=False)
    a2e = train_demo_audio2exp(clip, work / "a2e", training, progress=False)
    setup = {"demo": True, "resolution": args.resolution, "nerf_steps": args.nerf_steps, "a2e_preset": args.a2e_preset, "seconds": round(time.perf_counter() - start, 1)}
    return video, run, a2e, setup


@report_errors
def main() -> None:
    args = parse_args()
    if args.pool:
        from minerf_dub.self_dub import pool_work_folders

        print(json.dumps(pool_work_folders(args.pool, args.seed), indent=2))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="self_dub_lmd_"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MINERF_CACHE", str(work / "cache"))
    import torch

    from minerf_dub.pipeline import DubOptions
    from minerf_dub.self_dub import self_dub_many

    videos, run, a2e, setup = list(args.video), args.run, args.audio2exp, None
    if run is None or a2e is None:
        video, run, a2e, setup = demo_models(work, args)
        videos = videos or [video]
    options = DubOptions(run=run, audio2exp=a2e, personalize_steps=args.personalize_steps, personalize_seed=args.personalize_seed, sync_search=args.sync_search, expression_gain=args.expression_gain)
    dubs = self_dub_many(videos, options, work, seed=args.seed, tracked=args.tracked)
    report = {"device": "cuda" if torch.cuda.is_available() else "cpu", "threads": torch.get_num_threads(), "setup": setup, "work": str(work), "expression_gain": options.expression_gain, **dubs}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
