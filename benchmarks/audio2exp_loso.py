"""audio2exp on speakers it never heard: leave-one-speaker-out, inside speech, per speaker and pooled.

    python benchmarks/audio2exp_loso.py --clips DIR [--features whisper logmel] [--max-folds 8]
        [--whisper-layer K] [--steps N] [--set KEY=VALUE ...] [--shipped CHECKPOINT] [--out FILE]
    python -m benchmarks.audio2exp_loso ...                     # the same

``--clips`` is a folder of prepared clips (complete ones with audio are used). For every
front end, :func:`audio2exp.loso.loso_evaluate` trains the ``speech`` preset once per fold
(one speaker per fold, or the speakers dealt into ``--max-folds`` folds) and scores the
held-out speakers against the clip mean, the envelope regression and a ridge regression on
the same features. ``--shipped`` also scores a trained checkpoint on the clips of the folder
whose speakers it never heard (baselines fitted on the :data:`RIGHTS_CLEAR` clips it was
trained on). Prints JSON: pooled and per-clip-averaged measures, per-speaker opening r, the
number of speakers where the network beats each baseline, and speech-vs-pause AUCs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from audio2exp.cross_validation import parse_variant, speech_clips
from audio2exp.features import FeatureConfig
from audio2exp.loso import METHODS, LosoOptions, evaluate_on_unseen, loso_evaluate
from audio2exp.speakers import speaker_of
from minerf_base.atomic import atomic_write_text

RIGHTS_CLEAR = (
    "grid_", "obama_address_", "lieu_address", "noem_address", "klobuchar_address", "trump_address",
    "address_radio2_", "address_radio34_", "menendez_address", "markey_address",
)
"""Name prefixes of the clips whose rights allow shipping a model trained on them: GRID
(CC BY 4.0) and the public-domain US federal addresses (../shared/data/README.md)."""


def summary(report: dict) -> dict:
    """The report without its per-clip tables, rounded."""
    out = {k: report[k] for k in ("protocol", "directions", "clips", "speakers", "speakers_where_audio2exp_beats", "speech_vs_pause") if k in report}
    for m in METHODS:
        out[m] = {part: {k: round(v, 3) for k, v in report[m][part].items()} for part in ("pooled", "clip_average")}
        out[m]["per_speaker_opening_r"] = {s: round(v["opening_r"], 3) for s, v in report[m]["per_speaker"].items()}
        out[m]["per_speaker_opening_std_ratio"] = {s: round(v["opening_std_ratio"], 3) for s, v in report[m]["per_speaker"].items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, required=True, help="folder of prepared clips")
    parser.add_argument("--features", nargs="*", default=["whisper", "logmel"], choices=["whisper", "logmel"])
    parser.add_argument("--max-folds", type=int, default=None, help="deal the speakers into this many folds (default: one per speaker)")
    parser.add_argument("--whisper-layer", type=int, default=-1, help="whisper features: -1 = the encoder's output, K = encoder block K")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="training / network settings changed from the preset (e.g. members=3 hidden=64)")
    parser.add_argument("--shipped", type=Path, default=None, help="also score this checkpoint (trained on the rights-clear clips) on the speakers it never heard")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here (after every part)")
    args = parser.parse_args()
    clips = speech_clips(args.clips)
    report: dict = {"clip_names": [p.name for p in clips]}
    if args.shipped is not None:
        train = [p for p in clips if p.name.startswith(RIGHTS_CLEAR)]
        heard = {speaker_of(p.name) for p in train}
        held = [p for p in clips if speaker_of(p.name) not in heard]
        report["shipped_on_unseen_speakers"] = summary(evaluate_on_unseen(args.shipped, train, held))
        write(report, args.out)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.features:
            start = time.perf_counter()
            options = LosoOptions(features=FeatureConfig(kind=kind, layer=args.whisper_layer if kind == "whisper" else -1), overrides={**parse_variant(["set", *args.set])[1], **({"steps": args.steps} if args.steps else {})}, max_folds=args.max_folds)
            report[kind] = summary(loso_evaluate(clips, Path(tmp) / kind, options))
            report[kind]["seconds"] = round(time.perf_counter() - start, 1)
            write(report, args.out)
    print(json.dumps(report, indent=2))


def write(report: dict, out: Path | None) -> None:
    if out is not None:
        atomic_write_text(out, json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
