"""Which criterion finds the true audio/video alignment: LSE-C or LSE-C at offset 0? Prints JSON.

    python benchmarks/sync_search_criterion.py [--weights W] [--videos V ...] [--max-delay 3]
    python -m benchmarks.sync_search_criterion ...                 # the same

Each real video (default: two GRID clips of ../shared/data) is scored with its own audio
delayed by -D..D frames (``lipsync.media.shift_audio``). A search like ``minerf-dub
--sync-search`` keeps the delay with the highest value of its criterion, so a good criterion
picks delay 0 (the recording's own alignment). Reported per video: both criteria per delay,
SyncNet's offset, and the delay each criterion picks (``minerf_dub.sync_search.choose_offset``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

SHARED = Path(os.environ.get("MINERF_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DATA = SHARED / "videos"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None, help="SyncNet weights (default: the usual lookup)")
    parser.add_argument("--videos", type=Path, nargs="+", default=[DATA / "grid_sbia1a.mpg", DATA / "grid_swiz3n.mpg"])
    parser.add_argument("--max-delay", type=int, default=3)
    args = parser.parse_args()
    import lipsync
    from lipsync.media import read_audio, shift_audio
    from minerf_dub.sync_search import (
        candidate_offsets,
        choose_offset,
        confidence_at_zero,
    )

    delays = candidate_offsets(args.max_delay)
    rows, start = [], time.perf_counter()
    for video in args.videos:
        audio = read_audio(video)
        results = [lipsync.score(video, audio=shift_audio(audio, d), weights=args.weights) for d in delays]
        lse_c = [round(r.lse_c, 4) for r in results]
        at_zero = [round(confidence_at_zero(r), 4) for r in results]
        rows.append(
            {
                "video": video.name,
                "delays": delays,
                "syncnet_offset": [r.offset for r in results],
                "lse_c": lse_c,
                "lse_c_at_0": at_zero,
                "picked_by_lse_c": choose_offset(delays, lse_c),
                "picked_by_lse_c_at_0": choose_offset(delays, at_zero),
            }
        )
    summary = {key: sum(row[key] == 0 for row in rows) for key in ("picked_by_lse_c", "picked_by_lse_c_at_0")}
    print(json.dumps({"weights": results[0].weights_id, "videos_finding_delay_0": summary, "num_videos": len(rows), "seconds": round(time.perf_counter() - start, 1), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
