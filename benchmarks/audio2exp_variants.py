"""audio2exp training variants under K-fold cross-validation on the real clips, JSON.

    python benchmarks/audio2exp_variants.py --clips DIR_OF_PREPARED_CLIPS [--folds 5] \\
        [--variant NAME KEY=VALUE ...]... > variants.json
    python -m benchmarks.audio2exp_variants ...                 # the same

Every variant is the default preset with some fields of ``Audio2ExpTrainConfig`` / ``Audio2ExpConfig``
changed (values are JSON: ``steps=300``, ``dilations=[1,2]``, ``balance_clips=false``).
Without ``--variant`` the sweep below runs. For each variant: K trainings, each holding out
the k-th block of every clip (``audio2exp.cross_validation.cross_validate``), and the pooled
held-out mouth MSE, per-clip relative MSE and mouth-opening correlation of the network and of
the baselines (clip mean expression, envelope regressions). ``beats_baselines`` says whether
the network is better than the clip mean and the all-clips envelope regression on both the
MSE and the opening correlation. This measures how much of the mouth motion inside speech
any of these settings can predict from audio; it chooses nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from audio2exp.cross_validation import (
    METHODS,
    beats_baselines,
    configured,
    cross_validate,
    parse_variant,
    prepared_speech_clips,
    speech_clips,
)
from minerf_base.atomic import atomic_write_json
from minerf_base.cli_support import report_errors

SHARED = Path(os.environ.get("MINERF_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
VIDEOS = SHARED / "videos"

SWEEP: dict[str, dict] = {
    "default": {},
    "fewer_steps": {"steps": 300},
    "narrower": {"hidden": 16},
    "more_dropout": {"dropout": 0.5},
    "weight_decay": {"weight_decay": 0.1},
    "no_velocity_loss": {"velocity_weight": 0.0},
    "opening_loss_1": {"opening_weight": 1.0},
    "opening_loss_3": {"opening_weight": 3.0},
    "short_window": {"dilations": [1, 2]},
    "mouth_weight_3": {"mouth_weight": 3.0},
    "unbalanced_clips": {"balance_clips": False},
    "no_gain_jitter": {"gain_jitter_db": 0.0},
}


def parse_args() -> tuple[argparse.Namespace, dict[str, dict]]:
    """The arguments and the variants to run; a bad variant is refused before any training."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=None, help="folder of prepared clips (default: prepare ../shared/data/videos at 128 px)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--variant", nargs="+", action="append", metavar="NAME [KEY=VALUE]", help="a variant to run (repeatable); default: the built-in sweep")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    try:
        variants = dict(parse_variant(words) for words in args.variant) if args.variant else SWEEP
        for settings in variants.values():
            configured("default", settings)
    except (ValueError, TypeError) as err:
        parser.error(str(err))
    return args, variants


def variant_entry(clips: list[Path], folds: int, work: Path, settings: dict) -> dict:
    """One variant cross-validated: its settings, seconds, whether it beats the baselines and
    the pooled measures of every method."""
    start = time.perf_counter()
    result = cross_validate(clips, folds, work, METHODS, overrides=settings)
    entry = {"settings": settings, "seconds": round(time.perf_counter() - start, 1), "beats_baselines": beats_baselines(result)}
    return entry | {m: {k: result[m][k] for k in ("mouth_mse", "relative_mouth_mse", "opening_corr_pooled")} for m in METHODS}


@report_errors
def main() -> None:
    args, variants = parse_args()
    report: dict = {"folds": args.folds, "variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips, not_prepared = (speech_clips(args.clips), {}) if args.clips else prepared_speech_clips(VIDEOS, work)
        report["clips"] = [p.name for p in clips]
        report["not_prepared"] = not_prepared
        for name, settings in variants.items():
            report["variants"][name] = entry = variant_entry(clips, args.folds, work / name, settings)
            print(f"{name}: {json.dumps(entry)}", file=sys.stderr, flush=True)
            if args.out is not None:  # partial results survive an interrupted sweep
                atomic_write_json(args.out, report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
