"""A show's first training runs on many long 1080p takes: decoding within a share of the budget, or all of it.

A real show's dailies are hundreds of takes of a minute or more; two cores decode 1080p at 60-70 frames/s, and
a head that learns at the footage's own size (upscale) decodes each take a second time at that size. This
makes TAKES takes of SECONDS seconds at 1920x1080 from the shared footage (each clip scaled up with Lanczos
and played back and forth until long enough; H.264, 24 fps), then times `engine.train.train` on them with
the same budget in two ways, each in its own process from an empty frame cache:
- `share` (what runs do): clips not yet cached are decoded newest first for `decode_share` of the budget
  (engine.train.clip_choice); then RUNS - 1 more runs on the same cache, as the nightly runs that follow;
- `all` (what runs did before, and what a user gets by decoding before training): every take is decoded
  before the first step.
For each run: wall seconds, seconds until the first training step, clips trained on (held out included),
steps per head and the peak resident memory. `--clip-frames 0` trains on every frame of a take (else runs of
TrainSettings.clip_frames spread over it). Writes bench/out/dailies_decode-<clip frames>.{json,md}.

    .venv/bin/python bench/dailies_decode.py --footage ../shared/footage [--takes 8 --seconds 10 --budget 40]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, footage_clips, machine, md_table, write_json
from engine.media import MovieWriter, read_frames_uint8


def make_takes(footage: Path, folder: Path, takes: int, seconds: float) -> list[Path]:
    """TAKES 1080p takes from the footage's clips (in turn), each played back and forth to SECONDS."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = footage_clips(footage)
    made = []
    for i in range(takes):
        path = folder / f"sh{i + 1:03d}0_1.mp4"
        made.append(path)
        if path.is_file():
            continue
        frames = [f.rgb for f in read_frames_uint8(sources[i % len(sources)])]
        loop = frames + frames[-2:0:-1]
        want = round(seconds * 24)
        with MovieWriter(path, 24, 1920, 1080, codec="h264") as writer:
            for k in range(want):
                writer.write(cv2.resize(loop[k % len(loop)], (1920, 1080), interpolation=cv2.INTER_LANCZOS4))
    return made


def one_run(
    takes: list[str], budget: float, out: str, cache: str, mode: str, clip_frames: int | None
) -> dict[str, Any]:
    """One training run in this process; what `main` reports of it."""
    from engine.options import TrainOptions
    from engine.train import TrainClip, TrainSettings, loop, train

    if mode == "all":  # the run before engine.train.clip_choice: every clip decoded before the first step

        def every_clip(sources: Any, cached: Any, decode: Any, _until: float, _clock: Any) -> list[Any]:
            return [cached(c) or decode(c) for c in sources]

        loop.choose_clips = every_clip
    started = time.monotonic()
    first_step: list[float] = []

    def on_stage(stage: Any) -> None:
        if stage.name == "train" and not first_step:
            first_step.append(time.monotonic() - started)

    clips = [TrainClip(id=Path(t).stem, path=Path(t)) for t in takes]
    result = train(
        clips,
        TrainOptions(budget_seconds=budget),
        out,
        settings=TrainSettings(cache_dir=Path(cache), clip_frames=clip_frames),
        on_stage=on_stage,
    )
    manifest = result.version.manifest if result.version is not None else None
    trained = sorted({c.id.split("[")[0] for c in (manifest.clips + manifest.holdout)}) if manifest else []
    return {
        "wall_s": time.monotonic() - started,
        "to_first_step_s": first_step[0] if first_step else None,
        "clips": len(trained),
        "steps": result.steps,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def run_in_process(
    takes: list[Path], budget: float, out: Path, cache: Path, mode: str, clip_frames: int | None
) -> dict[str, Any]:
    args = [str(t) for t in takes]
    code = (
        "import json, sys; sys.path.insert(0, '.'); from bench.dailies_decode import one_run; "
        f"print('RESULT', json.dumps(one_run({args!r}, {budget}, {str(out)!r}, {str(cache)!r}, {mode!r}, {clip_frames!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1]
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"the {mode} run failed:\n{done.stderr[-2000:]}")
    return dict(json.loads(lines[-1][len("RESULT ") :]), mode=mode, load_after=machine()["load_average"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--footage", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "footage"
    )
    parser.add_argument("--takes", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--budget", type=float, default=40.0)
    parser.add_argument("--runs", type=int, default=3, help="runs in the share mode, one after another")
    parser.add_argument(
        "--clip-frames", type=int, default=240, help="TrainSettings.clip_frames (0: every frame of a take)"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    work = args.out / "dailies_decode"
    takes = make_takes(args.footage, work / f"takes-{args.seconds:g}s", args.takes, args.seconds)
    before = machine()
    rows: list[dict[str, Any]] = []
    for mode, runs in (("all", 1), ("share", args.runs)):
        cache = work / f"cache-{mode}"
        subprocess.run(["rm", "-rf", str(cache), str(work / f"models-{mode}")], check=True)
        for k in range(runs):
            clip_frames = args.clip_frames or None
            row = run_in_process(
                takes, args.budget, work / f"models-{mode}" / f"v{k + 1}", cache, mode, clip_frames
            )
            rows.append(dict(row, run=k + 1))
            print(json.dumps(rows[-1]), flush=True)
    write_json(
        args.out / f"dailies_decode-{args.clip_frames or 'all'}.json",
        {"args": vars(args), "machine": before, "runs": rows},
    )
    table = md_table(
        [
            "mode",
            "run",
            "wall s",
            "s to first step",
            "clips",
            "steps (interp/regrade/denoise/upscale/cleanup)",
            "peak RSS GB",
            "load after",
        ],
        [
            [
                r["mode"],
                r["run"],
                r["wall_s"],
                r["to_first_step_s"] or "-",
                f"{r['clips']} of {args.takes}",
                "/".join(
                    str(r["steps"].get(h, 0))
                    for h in ("interpolate", "regrade", "denoise", "upscale", "cleanup")
                ),
                r["peak_rss_gb"],
                " ".join(f"{v:.1f}" for v in r["load_after"]),
            ]
            for r in rows
        ],
    )
    header = (
        f"{args.takes} takes of {args.seconds:g} s at 1080p, budget {args.budget:g} s, clip_frames "
        f"{args.clip_frames or 'every frame'}, load before {before['load_average']}\n\n"
    )
    name = f"dailies_decode-{args.clip_frames or 'all'}"
    (args.out / f"{name}.md").write_text(header + table + "\n")
    print(header + table)


if __name__ == "__main__":
    main()
