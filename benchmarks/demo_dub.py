"""``minerf-dub --demo`` as a new user runs it: wall time, stage times, and whether the dubbed
mouth opens and closes with the new speech; prints JSON.

    python benchmarks/demo_dub.py [--work DIR] [--tiny]
    python -m benchmarks.demo_dub ...                              # the same

The demo runs in a fresh cache (so preparation, the audio2exp training and the
personalization all count). ``--tiny`` dubs with a ``tiny`` MI-NeRF trained on the portrait
alone (the demo before it used the shipped model; its training counts in the wall time).
Two measures of the dubbed mouth:

* ``opening_spread``: the report's face-tracker opening (inner-lip gap over eye distance) on
  the dub's frames, its standard deviation over that of the source frames shown;
* ``dark_mouth_r``: per frame, the share of dark pixels (grey < 70 of 255: the open mouth's
  interior; :func:`minerf.eval.mouth.dark_share`) in a box around the lips, correlated with
  the envelope the synthetic speech was made with (when the mouth should be open), at lag 0
  and at the best lag of -2..2 frames (positive: the dub's mouth comes later).
  The box is the union of the lip boxes of the source video's frames: the dub keeps the
  source's head motion. ``source_dark_mouth_r`` is the same measure on the source video
  against its own speech's envelope (whose mouth follows it by construction): the measure's
  ceiling. The face tracker finds blurred lips poorly; the dark area does not need it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from minerf_base.cli_support import report_errors

MAX_LAG = 2


def lagged_r(dark: np.ndarray, envelope: np.ndarray) -> dict[str, float]:
    """Correlation of the dark share with the envelope at lag 0 and at the best lag."""
    from audio2exp.av_offset import lag_correlations

    n = min(len(dark), len(envelope))
    r = lag_correlations(envelope[:n], dark[:n], np.arange(n), MAX_LAG)
    best = int(np.argmax(r))
    return {"r_at_0": round(float(r[MAX_LAG]), 3), "best_lag": best - MAX_LAG, "r_at_best_lag": round(float(r[best]), 3)}


def tiny_run(work: Path) -> Path:
    """A ``tiny`` MI-NeRF trained on the demo portrait (written as the demo writes it)."""
    from minerf_dub.demo import DEMO_RESOLUTION, train_demo_minerf, write_demo_media
    from minerf_dub.sources import cached_clip

    video, _ = write_demo_media(work)
    return train_demo_minerf(cached_clip(video, DEMO_RESOLUTION, progress=False).path, work / "tiny_minerf", progress=False)


@report_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, help="folder for the demo's files (default: a new temporary one)")
    parser.add_argument("--tiny", action="store_true", help="dub with a tiny MI-NeRF trained on the portrait (the earlier demo)")
    parser.add_argument("--personalize-steps", type=int, default=None, help="personalization steps of the shipped model (default: minerf-dub --demo's)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="demo_dub_"))
    os.environ["MINERF_CACHE"] = str(work / "cache")
    from minerf.demo_media import envelope_at_frames, speech
    from minerf.eval.mouth import dark_share, lips_union_box
    from minerf_base.clip import load_clip
    from minerf_base.video_in import iter_frames
    from minerf_dub.defaults import dub_defaults
    from minerf_dub.demo import DEMO_VIDEO, SPEECH_SECONDS, SPEECH_SEED, run_demo
    from minerf_dub.pipeline import DubOptions, prepared_source

    start = time.perf_counter()
    steps, gain, lift = dub_defaults(args.personalize_steps, None, demo=True)
    options = DubOptions(run=tiny_run(work) if args.tiny else None, personalize_steps=steps, expression_gain=gain, speaker_lift=lift)
    result = run_demo(work / "dubbed.mp4", options, progress=False)
    wall = time.perf_counter() - start
    report = json.loads(Path(result.report["data"]).read_text())
    opening, shown = np.array(report["opening"], float), np.array(report["source_opening"], float)
    source = work / "demo_input.mp4"
    clip = load_clip(prepared_source(source, options).path)  # the demo's, cached
    box = lips_union_box(clip)
    dub_env = envelope_at_frames(speech(SPEECH_SECONDS, seed=SPEECH_SEED)[1], result.frames, result.fps)
    source_env = envelope_at_frames(speech(DEMO_VIDEO.seconds, DEMO_VIDEO.seed)[1], clip.num_frames, DEMO_VIDEO.fps)
    print(json.dumps({
        "benchmark": "demo_dub",
        "model": "tiny, trained on the portrait" if args.tiny else "shipped, personalized",
        "wall_seconds": round(wall, 1),
        "stage_seconds": result.timings,
        "frames": result.frames,
        "personalized": result.personalized,
        "opening_spread": round(float(np.nanstd(opening) / np.nanstd(shown)), 3),
        "mean_opening": {"dub": round(float(np.nanmean(opening)), 4), "source_shown": round(float(np.nanmean(shown)), 4)},
        "lip_box": box,
        "dark_mouth_r": lagged_r(dark_share(iter_frames(result.output), box), dub_env),
        "source_dark_mouth_r": lagged_r(dark_share(iter_frames(source), box), source_env),
        "score": result.score,
        "work": str(work),
    }, indent=2))


if __name__ == "__main__":
    main()
