"""The two stages measured together: a studio base model, then show models from it and from scratch.

    .venv/bin/python bench/base.py --footage ../shared/footage [--base-budget 7200] [--show-budget 600]
        [--modes clips,tails] [--run clips-scratch|clips-base|tails-scratch|tails-base] [--report-only]
        [--heads interpolate,...] [--base-frames N --modes clips] [--no-sequences]

1. Holds out footage the way bench/quality.py does, for both protocols at once: whole clips (`clips`,
   seed-chosen, as engine.train.dataset.split_holdout picks them) and the last `--holdout` share of every
   clip (`tails`). The base is trained (engine.train.train, every head, kind "base") on what neither
   protocol scores: the early frames of the clips not held out, so no held-out frame is ever seen by it.
   `--base-frames N` trains a base for the `clips` protocol alone on the first N frames of those clips
   (all of a clip as a studio's archive would be, not only the frames no protocol scores). The base
   also reads davis/'s frame sequences (`--no-sequences`: not): footage no protocol scores, so all of it may
   go to the base, as all of a studio's archive would.
2. For each protocol, trains a show model from scratch and one from the base with the same show budget,
   in the same run, and scores both on the protocol's held-out footage against the classical baselines:
   the show budget is all training, and every held-out clip is then scored whole (TrainSettings
   score_every_clip), so the two runs of a protocol are scored on identical frames.
`--heads` runs the protocol for some heads only, each with the seconds it has in the whole protocol: both
budgets are scaled by those heads' share of the budget (TrainSettings.head_shares), so a slice measures what
the full run would for them in a fraction of its time (decoding, which the full run's heads share, aside).
Writes bench/out/base.json and bench/out/base.md: per head, the margin over the best baseline of the
issue's goal (bench/common.GOALS), from scratch and from the base, plus the learned parts (interpolate
over its own flow path, regrade without a reference over the ungraded input). The JSON also keeps each
run's training loss by head (`loss_curve`: up to LOSS_POINTS [step, running mean loss] pairs), so a run that
trained badly can be told from one that generalised badly.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, get_args

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    DEGRADATIONS,
    DEGRADATIONS_HELP,
    GOALS,
    OUT,
    davis_masks,
    eval_options,
    footage_clips,
    machine,
    md_table,
    sequence_clips,
    write_json,
)

from engine.heads import head_names
from engine.model import ModelVersion, load_model
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings, split_holdout, train
from engine.train.dataset import load_clip
from engine.train.precision import base_settings
from engine.train.settings import CpuBf16
from engine.train.threads import ThreadGovernor

EXTRA_GOALS = {"interpolate_learned": 0.3, "regrade_no_reference": 2.0}
LOSS_POINTS = 60  # [step, loss] pairs kept per head in the JSON's loss curves
DECLARATION = "bench: ../shared/footage, footage the project may use for benchmarks (its README)"


def budget_fraction(heads: list[str]) -> float:
    """The share of a training run's budget that `heads` get when every head trains (TrainSettings.head_shares)."""
    shares = TrainSettings().head_shares
    total = sum(shares.get(h, 1.0) for h in head_names())
    return sum(shares.get(h, 1.0) for h in heads) / total


def loss_curve(
    losses: dict[str, list[float]], steps: dict[str, int], every: int, points: int = LOSS_POINTS
) -> dict[str, list[list[float]]]:
    """Each head's training loss at up to `points` evenly spaced steps, as [step, loss] pairs. A run records
    the running mean of every `every` steps (its TrainSettings.progress_every, engine.train.loop) and of the
    steps left over at the head's end, so value k ends at step (k + 1) * every, the last at the head's steps."""
    curves: dict[str, list[list[float]]] = {}
    for head, values in losses.items():
        picks = np.unique(np.linspace(0, len(values) - 1, min(points, len(values))).round().astype(int))
        last = steps.get(head, len(values) * every)
        curves[head] = [[float(min((k + 1) * every, last)), float(values[k])] for k in picks]
    return curves


def tick(governor: ThreadGovernor) -> None:
    """Progress callback: let torch's threads follow the machine's load."""
    governor.tick()


def margins(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    """dB over the goal's reference for every head, plus the two learned-part rows."""
    out: dict[str, float] = {}
    for head, (refs, _goal) in GOALS.items():
        m = metrics.get(head, {})
        values = [m[f"psnr_{b}"] for b in refs if f"psnr_{b}" in m]
        if "psnr" in m and values:
            out[head] = m["psnr"] - max(values)
    interp, regrade = metrics.get("interpolate", {}), metrics.get("regrade", {})
    if "psnr" in interp and "psnr_base" in interp:
        out["interpolate_learned"] = interp["psnr"] - interp["psnr_base"]
    if "psnr_no_reference" in regrade and "psnr_input" in regrade:
        out["regrade_no_reference"] = regrade["psnr_no_reference"] - regrade["psnr_input"]
    return out


def base_clips(clips: list[TrainClip], args: argparse.Namespace) -> tuple[list[TrainClip], list[str]]:
    """The early frames of the clips that `clips` mode does not hold out (nothing any protocol scores), at
    the larger of the training and the native resolution (the run reduces them to each). With
    `--base-frames`, those clips' first that many frames instead: beyond the frames `tails` scores, so
    such a base serves the `clips` protocol only (main() refuses `tails` with it)."""
    cache = args.out / "cache"
    loaded = [load_clip(c, args.resolution, cache, args.frames) for c in clips]
    held = {r.id for r in split_holdout(loaded, args.holdout, args.seed, mode="clips").holdout_records}
    size = max(args.resolution, args.native_resolution)
    out = []
    for clip, lc in zip(clips, loaded, strict=True):
        if clip.id in held:
            continue
        n = len(lc.frames)
        keep = n - round(n * args.holdout)
        frames = lc.frames
        if args.base_frames:  # the whole of a clip `clips` does not hold out, up to --base-frames
            frames = load_clip(clip, size, cache, args.base_frames).frames
            keep = len(frames)
        elif size != args.resolution:
            frames = load_clip(clip, size, cache, args.frames).frames
        out.append(TrainClip(id=f"{clip.id}[:{keep}]", frames=np.asarray(frames[:keep])))
    if args.sequences:
        out += sequence_clips(args.footage, size, cache, args.frames, DECLARATION)
    return out, sorted(held)


def run_settings(args: argparse.Namespace) -> dict[str, Any]:
    """TrainSettings' cpu_bf16 from --cpu-bf16 and draw_workers from --draw-workers, or nothing (each run's own
    default) for the one not given."""
    out: dict[str, Any] = {"cpu_bf16": args.cpu_bf16} if args.cpu_bf16 else {}
    if args.draw_workers is not None:
        out["draw_workers"] = args.draw_workers
    return out


def run_show(
    clips: list[TrainClip],
    args: argparse.Namespace,
    mode: str,
    base: ModelVersion | None,
    masks: list[np.ndarray],
) -> dict[str, Any]:
    label = f"{mode}-{'base' if base is not None else 'scratch'}"
    settings = TrainSettings(
        cache_dir=args.out / "cache",
        max_frames_per_clip=args.frames,
        show="bench",
        holdout_mode=mode,  # type: ignore[arg-type]
        checkpoint_seconds=300,
        score_every_clip=True,  # the whole budget trains; both runs of a protocol score the same frames
        **run_settings(args),
    )
    t0 = time.time()
    result = train(
        clips,
        TrainOptions(
            budget_seconds=args.show_budget * budget_fraction(args.heads),
            seed=args.seed,
            resolution=args.resolution,
            native_resolution=args.native_resolution,
            holdout_fraction=args.holdout,
        ),
        args.out / "base-run" / label,
        settings=settings,
        heads=args.heads,
        base=base,
        progress=lambda *_: tick(args.governor),
        eval_options=eval_options(masks, args.degradations) or None,
    )
    assert result.version is not None
    print(f"{label}: {time.time() - t0:.0f} s, steps {result.steps}", flush=True)
    return {
        "metrics": result.metrics,
        "steps": result.steps,
        "margins": margins(result.metrics),
        "loss_curve": loss_curve(result.losses, result.steps, settings.progress_every),
        "wall_seconds": time.time() - t0,
        "holdout": [c.id for c in result.version.manifest.holdout],
        "degradations": args.degradations,
    }


TIE_DB = 0.05  # the promotion rule's evaluation noise (engine.model.promotion.TOLERANCE_DB)


def _verdict(scratch: float | None, based: float | None) -> str:
    if scratch is None or based is None:
        return "—"
    if abs(based - scratch) < TIE_DB:
        return "tie"
    return "yes" if based > scratch else "NO"


def report(data: dict[str, Any], args: argparse.Namespace) -> str:
    rows = []
    runs = data["runs"]

    def margin(label: str, key: str) -> float | None:
        value = runs.get(label, {}).get("margins", {}).get(key)
        return None if value is None else float(value)

    def text(value: float | None) -> str:
        return "—" if value is None else f"{value:+.2f}"

    for key in [*GOALS, *EXTRA_GOALS]:
        goal = GOALS[key][1] if key in GOALS else EXTRA_GOALS[key]
        cells: list[Any] = [key]
        met, wins = [], []
        for mode in ("clips", "tails"):
            scratch, based = margin(f"{mode}-scratch", key), margin(f"{mode}-base", key)
            cells += [text(scratch), text(based)]
            met.append("—" if based is None else ("yes" if based >= goal else "NO"))
            wins.append(_verdict(scratch, based))
        cells += [f">= +{goal:.1f}", " / ".join(met), " / ".join(wins)]
        rows.append(cells)
    load = data["machine"]["load_average"][0]
    lines = [
        "# Base model, then show models from it and from scratch",
        "",
        f"`{' '.join(sys.argv)}`: base {data['base']['wall_seconds']:.0f} s ({data['base']['steps']} steps), "
        f"each show model {args.show_budget * budget_fraction(data['heads']):.0f} s of training then scored on "
        f"every held-out frame (heads: {', '.join(data['heads'])}), "
        f"{data['machine']['cpu_count']} CPU cores "
        f"(load average {load:.1f} at the end), {args.resolution}p (upscale: the footage's own size up to "
        f"{args.native_resolution}p; 0: {args.resolution}p too), first {args.frames} frames per clip.",
        "",
        f"Base corpus: {', '.join(data['base']['clips'])} (no held-out frame of either protocol).  ",
        f"Held out in `clips`: {', '.join(data['held_out_clips'])}; in `tails`: the last "
        f"{args.holdout:.0%} of every clip. Regrade and denoise are scored under each run's degradations "
        "(--degradations; the runs table).",
        "",
        md_table(
            [
                "head (dB over the goal's reference)",
                "clips scratch",
                "clips base",
                "tails scratch",
                "tails base",
                "goal",
                "goal met from base (clips / tails)?",
                "base beats scratch (clips / tails)?",
            ],
            rows,
        ),
        "",
        "interpolate_learned: the head over its own flow path; regrade_no_reference: over the ungraded input.",
        "",
        md_table(
            ["run", "wall s", "degradations", *(f"{h}: steps / frames scored" for h in data["heads"])],
            _run_rows(runs, data),
        ),
    ]
    return "\n".join(lines) + "\n"


def _run_rows(runs: dict[str, Any], data: dict[str, Any]) -> list[list[Any]]:
    """Per show run: its wall time, and per head the steps it trained and the held-out frames it was scored on
    (equal within a protocol when both runs scored every clip)."""
    rows = []
    for label in RUNS:
        if label not in runs:
            continue
        run = runs[label]
        cells: list[Any] = [label, f"{run['wall_seconds']:.0f}", run.get("degradations", "synthetic")]
        for head in data["heads"]:
            frames = run["metrics"].get(head, {}).get("frames")
            cells.append(f"{run['steps'].get(head, 0)} / {'—' if frames is None else f'{frames:.0f}'}")
        rows.append(cells)
    return rows


RUNS = ("clips-scratch", "clips-base", "tails-scratch", "tails-base")


def one_run(args: argparse.Namespace) -> None:
    """One show run against the base a full run already wrote (so the runs of one table can share a
    machine in parallel); its result goes to base-<run>.json."""
    args.governor = ThreadGovernor(every_s=60.0)
    clips = [TrainClip(id=f"{p.parent.name}/{p.name}", path=p) for p in footage_clips(args.footage)]
    mode, start = args.run.split("-")
    base = load_model(args.out / "base-run" / "base") if start == "base" else None
    result = run_show(clips, args, mode, base, davis_masks(args.footage))
    write_json(args.out / f"base-{args.run}.json", {"runs": {args.run: result}, "machine": machine()})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--base-budget", type=float, default=7200.0)
    ap.add_argument("--show-budget", type=float, default=600.0)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument(
        "--native-resolution",
        type=int,
        default=TrainOptions().native_resolution,
        help="short side cap of the frames upscale trains and is scored on (0: at --resolution, as before)",
    )
    ap.add_argument(
        "--base-frames",
        type=int,
        default=0,
        help="the base reads the first N frames of each clip the `clips` protocol does not hold out, not "
        "only the early frames of --frames that no protocol scores (0); such a base serves `clips` only",
    )
    ap.add_argument(
        "--sequences",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the base also trains on davis/'s frame sequences (their first --frames), which no protocol "
        "scores (default; --no-sequences: camera/ and cg/ only, as every run before 2026-12-04)",
    )
    ap.add_argument("--degradations", choices=DEGRADATIONS, default="synthetic", help=DEGRADATIONS_HELP)
    ap.add_argument("--holdout", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--modes",
        default="clips,tails",
        help="the protocols this run trains show models for after the base (e.g. `clips`, with "
        "`--run tails-base` and `--run tails-scratch` in a second process once the base is written)",
    )
    ap.add_argument(
        "--heads",
        default=",".join(head_names()),
        help="train and score only these heads, each with the seconds it has in the whole protocol (both "
        "budgets scaled by their share)",
    )
    ap.add_argument(
        "--cpu-bf16",
        choices=get_args(CpuBf16),
        default=None,
        help="bfloat16 training on the CPU for the heads that opt in, in the base and the show runs "
        "(TrainSettings.cpu_bf16; default: as the product trains them, the base in float32, show runs auto)",
    )
    ap.add_argument(
        "--draw-workers",
        type=int,
        default=None,
        help="worker processes drawing training batches (TrainSettings.draw_workers; default: on a GPU one per "
        "core less one, none on a CPU): fewer when several runs share a GPU machine",
    )
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite base.md from base.json and any base-<run>.json (runs not done show a dash)",
    )
    ap.add_argument(
        "--run",
        choices=RUNS,
        default=None,
        help="only this show run, from the base already trained in --out (writes base-<run>.json)",
    )
    args = ap.parse_args()
    # the training loop's notes (a head's limited gradients, its autocast) go to stderr with the run's log
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("engine.train.loop").setLevel(logging.INFO)
    args.heads = [h for h in args.heads.split(",") if h]
    unknown = sorted(set(args.heads) - set(head_names()))
    if unknown:
        ap.error(f"--heads: no head named {', '.join(unknown)}; the heads are {', '.join(head_names())}")
    args.governor = None
    tails = "tails" in args.modes.split(",") if not args.run else args.run.startswith("tails")
    if args.base_frames and tails and not args.report_only:
        ap.error(
            "--base-frames: a base that reads past the early frames has seen the same shots' frames the "
            "`tails` protocol scores; use it with --modes clips (or --run clips-...) only"
        )
    if args.report_only:
        saved = json.loads((args.out / "base.json").read_text())
        for part in sorted(args.out.glob("base-*.json")):
            saved["runs"].update(json.loads(part.read_text())["runs"])
        (args.out / "base.md").write_text(report(saved, args))
        print(report(saved, args))
        return
    if args.run:
        one_run(args)
        return

    threads = args.governor = ThreadGovernor(every_s=60.0)  # threads from the load now, re-read each minute
    clips = [TrainClip(id=f"{p.parent.name}/{p.name}", path=p) for p in footage_clips(args.footage)]
    masks = davis_masks(args.footage)
    corpus, held = base_clips(clips, args)
    settings = base_settings(  # as `rushes base train` trains one
        TrainSettings(
            cache_dir=args.out / "cache",
            show="bench-base",
            checkpoint_seconds=300,
            **run_settings(args),
        )
    )
    t0 = time.time()
    based = train(
        corpus,
        TrainOptions(
            budget_seconds=args.base_budget * budget_fraction(args.heads),
            seed=args.seed,
            resolution=args.resolution,
            native_resolution=args.native_resolution,
            holdout_fraction=0.0,
        ),
        args.out / "base-run" / "base",
        heads=args.heads,
        settings=settings,
        manifest_fields={"kind": "base", "declaration": DECLARATION, "corpus": [str(args.footage)]},
        progress=lambda *_: tick(threads),
    )
    assert based.version is not None
    print(f"base: {time.time() - t0:.0f} s, steps {based.steps}", flush=True)
    data: dict[str, Any] = {
        "base": {
            "steps": based.steps,
            "loss_curve": loss_curve(based.losses, based.steps, settings.progress_every),
            "wall_seconds": time.time() - t0,
            "clips": [c.id for c in corpus],
            "base_frames": args.base_frames,
        },
        "held_out_clips": held,
        "heads": args.heads,
        "runs": {},
    }
    for mode in [m for m in args.modes.split(",") if m]:
        for base in (None, based.version):
            label = f"{mode}-{'base' if base is not None else 'scratch'}"
            data["runs"][label] = run_show(clips, args, mode, base, masks)
            write_json(args.out / "base.json", {**data, "machine": machine()})
    data["machine"] = machine()
    write_json(args.out / "base.json", data)
    text = report(data, args)
    (args.out / "base.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
