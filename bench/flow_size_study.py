"""How small the interpolate head's flows may be at 1080p: PSNR and time of rebuilt frames, per pixel cap.

    .venv/bin/python bench/flow_size_study.py --footage ../shared/footage --size 1920x1080 \
        --caps none,656640,291600 --times 64,72

Each clip of `camera/` and `cg/` is decoded around the given frame numbers and scaled to `--size`
(the footage is 720p: 1080p here is upscaled footage, softer than a native 1080p camera). Frame t is
rebuilt from t-1 and t+1 (t-3 and t+3 for curved motion) by flow.interpolate with flow.RECOMMENDED's
settings and each `max_work_pixels` cap ("none": 3/4 size, the setting before the cap); PSNR against
the true frame, and seconds per rebuilt frame, every setting on the same frames in the same run.
Writes bench/out/flow_size_study.json and .md.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, footage_clips, md_table, write_json

from engine import flow
from engine.media.decode import read_clip
from engine.metrics import psnr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--caps", default="none,656640,291600", help="max_work_pixels values, 'none' = no cap")
    ap.add_argument("--times", default="64,72", help="frame numbers rebuilt in each clip")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    caps = {
        c: replace(flow.RECOMMENDED, max_work_pixels=None if c == "none" else int(c))
        for c in args.caps.split(",")
    }
    times = [int(t) for t in args.times.split(",")]
    scores: dict[str, list[float]] = {c: [] for c in caps}
    seconds: dict[str, float] = dict.fromkeys(caps, 0.0)
    rows = []
    for path in footage_clips(args.footage):
        raw = read_clip(path, min(times) - 3, max(times) + 3)
        frames = [cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1) for f in raw]
        row: list[object] = [f"{path.parent.name}/{path.stem}"]
        for name, config in caps.items():
            got = []
            for t in (t - min(times) + 3 for t in times):
                start = time.perf_counter()
                out = flow.interpolate(
                    frames[t - 1], frames[t + 1], 0.5, frames[t - 3], frames[t + 3], config
                )
                seconds[name] += time.perf_counter() - start
                got.append(psnr(out, frames[t]))
            scores[name] += got
            row.append(float(np.mean(got)))
        rows.append(row)
        print(row, flush=True)
    count = len(scores[next(iter(caps))])
    means = {c: float(np.mean(v)) for c, v in scores.items()}
    first = next(iter(caps))
    rows.append(["mean", *means.values()])
    rows.append([f"dB vs {first}", *(means[c] - means[first] for c in caps)])
    rows.append(["s per frame", *(seconds[c] / count for c in caps)])
    data = {"size": [width, height], "times": times, "psnr": scores, "mean": means, "seconds": seconds}
    write_json(args.out / "flow_size_study.json", data)
    sizes = {c: "x".join(map(str, flow.work_size(height, width, caps[c])[::-1])) for c in caps}
    md = [
        f"# Flow working size at {args.size}",
        "",
        f"`{' '.join(sys.argv)}`: {count} rebuilt frames per setting.",
        "",
        md_table(["clip", *(f"cap {c} ({sizes[c]})" for c in caps)], rows),
        "",
    ]
    (args.out / "flow_size_study.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
