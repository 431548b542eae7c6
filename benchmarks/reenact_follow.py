"""Re-enactment: a target video driven by another person's video (``minerf-dub TARGET
--expressions-from`` the driver's prepared clip), with the speaker lift at the default gain, at
gain 1, and with the driver's raw expressions; per pair, the output's mouth opening (face
tracker) against the driver's real one (``minerf_dub.reenact_follow``); prints JSON.

    python benchmarks/reenact_follow.py --pair TARGET_VIDEO DRIVER_VIDEO [--pair ...] \\
        [--run RUN] [--audio2exp A2E] [--work DIR]

A target the run does not know is personalized (cached as ``minerf-dub`` does). Outputs go to
``WORK/pair{k}/<setting>.mp4`` and are reused when present.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from minerf_base.cli_support import report_errors
from minerf_dub.defaults import DEFAULT_PERSONALIZE_STEPS


@report_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", nargs=2, type=Path, action="append", required=True, metavar=("TARGET", "DRIVER"))
    parser.add_argument("--run", type=Path, default=None)
    parser.add_argument("--audio2exp", type=Path, default=None)
    parser.add_argument("--personalize-steps", type=int, default=DEFAULT_PERSONALIZE_STEPS)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    from minerf_dub.pipeline import DubOptions
    from minerf_dub.reenact_follow import SETTINGS, reenactment_follow

    options = DubOptions(run=args.run, audio2exp=args.audio2exp, personalize_steps=args.personalize_steps)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        pairs = [reenactment_follow(t, d, options, work / f"pair{k}", progress=True) for k, (t, d) in enumerate(args.pair)]
    means = {name: round(sum(p[name]["opening_corr"] for p in pairs) / len(pairs), 3) for name in SETTINGS}
    print(json.dumps({"pairs": pairs, "mean_opening_corr": means}, indent=2))


if __name__ == "__main__":
    main()
