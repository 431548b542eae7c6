"""audio2exp training variants under K-fold cross-validation on the real clips, JSON.

    python benchmarks/audio2exp_variants.py --clips DIR_OF_PREPARED_CLIPS [--folds 5] \\
        [--variant NAME KEY=VALUE ...]... > variants.json

Every variant is the default preset with some fields of ``Audio2ExpTrainConfig`` / ``Audio2ExpConfig``
changed (values are JSON: ``steps=300``, ``dilations=[1,2]``, ``balance_clips=false``).
Without ``--variant`` the sweep below runs. For each variant: K trainings, each holding out
the k-th block of every clip (``benchmarks/audio2exp_eval.cross_validate``), and the pooled
held-out mouth MSE, per-clip relative MSE and mouth-opening correlation of the network and of
the baselines (clip mean expression, envelope regressions). ``beats_baselines`` says whether
the network is better than the clip mean and the all-clips envelope regression on both the
MSE and the opening correlation. This measures how much of the mouth motion inside speech
any of these settings can predict from audio; it chooses nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

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

METHODS = ("audio2exp", "mean_expression", "envelope_linear", "envelope_linear_per_clip")


def parse_variant(words: list[str]) -> tuple[str, dict]:
    """``["NAME", "KEY=VALUE", ...]`` -> ``(NAME, {KEY: value})``; values are JSON, else text."""
    if not words:
        raise ValueError("--variant needs a name")
    name, settings = words[0], {}
    for word in words[1:]:
        key, sep, text = word.partition("=")
        if not sep or not key:
            raise ValueError(f"--variant {name}: {word!r} is not KEY=VALUE")
        try:
            settings[key] = json.loads(text)
        except json.JSONDecodeError:
            settings[key] = text
    return name, settings


def beats_baselines(result: dict) -> bool:
    """The network's pooled MSE is below the clip mean's and the envelope regression's, and
    its opening correlation above the envelope regression's (the mean's is 0)."""
    net, mean, env = result["audio2exp"], result["mean_expression"], result["envelope_linear"]
    return net["mouth_mse"] < min(mean["mouth_mse"], env["mouth_mse"]) and net["opening_corr_pooled"] > max(0.0, env["opening_corr_pooled"])


def main() -> None:
    from benchmarks.audio2exp_eval import configured, cross_validate, prepared_clips
    from minerf_base.atomic import atomic_write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=None, help="folder of prepared clips (default: prepare ../shared/data/videos at 128 px)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--variant", nargs="+", action="append", metavar="NAME [KEY=VALUE]", help="a variant to run (repeatable); default: the built-in sweep")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    try:  # refuse a bad variant before any training
        variants = dict(parse_variant(words) for words in args.variant) if args.variant else SWEEP
        for settings in variants.values():
            configured("default", settings)
    except (ValueError, TypeError) as err:
        parser.error(str(err))

    report: dict = {"folds": args.folds, "variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips = prepared_clips(args.clips, work)
        report["clips"] = [p.name for p in clips]
        for name, settings in variants.items():
            start = time.perf_counter()
            result = cross_validate(clips, args.folds, work / name, METHODS, overrides=settings)
            entry = {"settings": settings, "seconds": round(time.perf_counter() - start, 1), "beats_baselines": beats_baselines(result)}
            entry |= {m: {k: result[m][k] for k in ("mouth_mse", "relative_mouth_mse", "opening_corr_pooled")} for m in METHODS}
            report["variants"][name] = entry
            print(f"{name}: {json.dumps(entry)}", file=sys.stderr, flush=True)
            if args.out is not None:  # partial results survive an interrupted sweep
                atomic_write_json(args.out, report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
