"""`rushes base train|list|show`: studio base models, trained on a declared corpus the studio owns.

A base version lives under `<data_dir>/bases/NAME/vN` (engine.model.base). Training shows a progress bar
on a terminal (head, steps/s, loss, time left) and one log line every LOG_EVERY_S seconds when piped;
torch's CPU threads follow the machine's load (engine.train.threads). Ctrl-C or SIGTERM checkpoints and
stops; `--resume` continues the same run.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daemon.cli import exits
from daemon.cli.app import command_group, err, fail, out, settings
from daemon.cli.model import parse_duration
from daemon.context import prepare_home

if TYPE_CHECKING:
    from engine.model.base import BaseRun
    from engine.options import TrainOptions

base_app = command_group("base", "Studio base models: train on a declared corpus, list, show.")

LOG_EVERY_S = 30.0


def _bases_root() -> Path:
    s = settings()
    prepare_home(s.data_dir)
    return s.data_dir / "bases"


def _clock(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class TrainProgress:
    """Steps/s, loss and time left of a base run: a rich bar on a terminal, periodic lines otherwise."""

    def __init__(self, label: str, budget_s: float, done_s: float, max_steps: int | None, heads: int) -> None:
        self.label, self.budget_s, self.done_s = label, budget_s, done_s
        self.total_steps = max_steps * heads if max_steps else None
        self.started = time.monotonic()
        self.steps: dict[str, int] = {}
        self.window: list[tuple[float, int]] = []
        self.last_line = 0.0
        self.bar: Any = None  # a rich Progress, on a terminal only
        if err.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn

            self.bar = Progress(
                TextColumn("{task.description}", markup=False), BarColumn(), console=err, transient=True
            )
            self.task = self.bar.add_task(label, total=1.0)

    def __enter__(self) -> TrainProgress:
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def update(self, head: str, step: int, loss: float, _elapsed: float) -> None:
        now = time.monotonic()
        self.steps[head] = step
        total = sum(self.steps.values())
        self.window = [(t, n) for t, n in self.window if now - t < 60.0] + [(now, total)]
        t0, n0 = self.window[0]
        if len(self.window) < 2:  # one point so far: the rate since this run started
            t0, n0 = self.started, 0
        rate = (total - n0) / (now - t0) if now > t0 else 0.0
        spent = self.done_s + now - self.started
        if self.total_steps:
            fraction = total / self.total_steps
            left = (self.total_steps - total) / rate if rate > 0 else float("nan")
        else:
            fraction, left = spent / self.budget_s, self.budget_s - spent
        text = f"{self.label}: {head} step {step}, {rate:.1f} steps/s, loss {loss:.4f}, {_clock(left) if left == left else '?'} left"
        if self.bar is not None:
            self.bar.update(self.task, description=text, completed=min(fraction, 1.0))
        elif now - self.last_line >= LOG_EVERY_S:
            self.last_line = now
            err.print(text, highlight=False, markup=False)


def _stop_flag() -> threading.Event:
    """Ctrl-C and SIGTERM ask training to checkpoint and return."""
    flag = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: flag.set())
    return flag


# base train's longer options (typer reads them from these aliases)
Declarations = Annotated[
    list[str] | None,
    typer.Option(
        "--declare",
        help="Ownership or licence of the corpus, e.g. 'owned: shot by ACME for show X': one for every "
        "--corpus, or one per --corpus in the same order.",
    ),
]
NativeResolution = Annotated[
    int | None,
    typer.Option(
        "--native-resolution",
        min=0,
        help="Short side cap of the frames upscale trains on at the footage's own size "
        "(default 1080; 0: at --resolution like the other heads).",
    ),
]
Workers = Annotated[
    int,
    typer.Option(
        "--workers",
        min=1,
        help="Data-parallel workers on the Ray cluster (executor kind ray); 1: this process.",
    ),
]


def _say_unread(run: BaseRun) -> None:
    """The line naming the corpus files the run cannot read (left out of it), if any."""
    from engine.train.corpus import corpus_unread, declared_corpus

    unread = unread_line(corpus_unread(declared_corpus(run.folders, run.folder_declarations())))
    if unread:
        err.print(unread, highlight=False, markup=False)


@base_app.command("train")
def base_train(
    name: Annotated[str, typer.Option("--name", "-n", help="The base's name, e.g. ACME.")],
    corpus: Annotated[
        list[Path] | None, typer.Option("--corpus", help="A folder of footage the studio owns (repeatable).")
    ] = None,
    declare: Declarations = None,
    budget: Annotated[str | None, typer.Option(help="Time budget, e.g. 2h or 90m (default 2h).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Continue the interrupted run of NAME.")] = False,
    max_frames: Annotated[
        int | None, typer.Option(min=1, help="Frames read per clip (default: all).")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="Steps per head instead of the budget (a reproducible run).")
    ] = None,
    resolution: Annotated[
        int | None, typer.Option(min=64, help="Short side of the training frames, pixels (default 256).")
    ] = None,
    native_resolution: NativeResolution = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the run (default 0).")] = None,
    head: Annotated[
        list[str] | None, typer.Option("--head", help="Train only this head (repeatable; default: all).")
    ] = None,
    workers: Workers = 1,
    cpus_per_worker: Annotated[int, typer.Option(min=1, help="CPUs (and torch threads) per worker.")] = 1,
) -> None:
    """Train every head of a base model, self-supervised, on the corpus folders."""
    from engine.heads import head_names
    from engine.model import ModelError
    from engine.train import DatasetError, TrainSettings
    from engine.train.base import RunInProgress, claim_run, run_heads, trained_seconds
    from engine.train.precision import base_settings
    from integrations.executors import ExecutorError
    from integrations.executors.ray_train import StoppedWaiting

    options = _train_options(
        "2h" if budget is None else budget,  # `--budget=` stays refused as empty
        device,
        0 if seed is None else seed,
        256 if resolution is None else resolution,
        native_resolution,
    )
    _check_heads(head)
    address = _ray_address(workers)
    root = _bases_root()
    _refuse_withdrawn_footage(_run_folders(root, name, corpus or [], resume))
    try:
        with claim_run(  # locked: another run of NAME meanwhile is refused
            root, name, corpus or [], declare, options, resume=resume, max_frames=max_frames
        ) as (folder, run):
            label = f"base {name} {folder.name}"
            if resume:  # what it was started with is the run's (run.json): other values were ignored
                seconds = None if budget is None else parse_duration(budget)
                _refuse_changed(label, run, seconds, resolution, seed, native_resolution, max_frames)
            head = run_heads(run, folder, head)  # a resumed run's own heads
            _say_unread(run)
            cfg = base_settings(TrainSettings(max_steps=max_steps, progress_every=5))  # also for the workers
            total = len(head or head_names())
            with TrainProgress(label, run.budget_seconds, trained_seconds(folder), max_steps, total) as bar:
                if workers > 1:
                    from daemon.cli.base_workers import train_on_workers

                    train_on_workers(
                        folder, run, options, cfg, head, workers=workers, cpus_per_worker=cpus_per_worker,
                        address=address, update=bar.update,
                        say=lambda line: err.print(line, highlight=False, markup=False),
                    )  # fmt: skip
                    threads = f"{workers} workers"
                else:
                    threads = _train_here(folder, run, options, cfg, head, bar)
    except StoppedWaiting as exc:  # Ray Train still waits inside Ray: the process ends without its shutdown
        fail(str(exc), code=130)
        sys.stderr.flush()
        os._exit(130)
    except RunInProgress as exc:  # passes by itself when that run ends: as a locked catalog
        raise fail(str(exc), exits.TRY_LATER) from None
    except (DatasetError, ModelError, ExecutorError) as exc:
        raise fail(str(exc)) from None
    _finished(name, folder, label, threads)


def _refuse_changed(label: str, run: BaseRun, *given: float | int | None) -> None:
    """One line (exit 2) when an option given with --resume (budget seconds, resolution, seed, native resolution,
    max frames: None where not given) is not what the run was started with."""
    recorded = {
        "--budget": run.budget_seconds,
        "--resolution": run.resolution,
        "--seed": run.seed,
        "--native-resolution": run.native_resolution,
        "--max-frames": run.max_frames,
    }
    changed = [
        f"{key} {f'{recorded[key]:g}s' if key == '--budget' else recorded[key]}"
        for key, value in zip(recorded, given, strict=True)
        if value is not None and value != recorded[key]
    ]
    if changed:
        raise fail(
            f"{label} was started with {', '.join(changed)}: resume it with the same, or without them (a new run "
            "with other settings starts once this one is finished)"
        )


def _run_folders(root: Path, name: str, corpus: list[Path], resume: bool) -> list[Path]:
    """The corpus folders the run reads: those given, or a resumed run's own (none where there is no run to
    resume: claim_run says so)."""
    from engine.model.base import read_run, unfinished

    if corpus or not resume:
        return [folder.expanduser().resolve() for folder in corpus]
    pending = unfinished(root, name)
    return [Path(folder) for folder in read_run(pending).folders] if pending else []


def _refuse_withdrawn_footage(folders: list[Path]) -> None:
    """One line for a corpus folder holding what no model may learn from: a show's daily excluded from
    training, where the show ingested it or as a copy of a movie daily elsewhere (the same bytes under any name:
    an archive of the show) (the exclusion would not hold for the base, nor for the shows grown from it), or
    Rushes' own data folder (its renders are fixes of the shows' dailies)."""
    from daemon.catalog import dailies as daily_repo
    from daemon.context import open_context
    from engine.train.corpus import listed_files

    ctx = open_context(settings())
    try:
        with ctx.catalog.session(readonly=True) as s:
            excluded = [
                _Withdrawn(d.show.code, d.id, d.path, d.excluded_reason or "", d.content_hash, d.size_bytes)
                for d in daily_repo.excluded(s, None)
            ]
        data_dir = ctx.settings.data_dir.resolve()
    finally:
        ctx.close()
    for folder in folders:
        if data_dir.is_relative_to(folder) or folder.is_relative_to(data_dir):
            where = "holds" if data_dir.is_relative_to(folder) else "is inside"
            raise fail(
                f"corpus folder {folder} {where} Rushes' data folder {data_dir} (renders of the shows' dailies, "
                "model caches): give the folders of the footage the studio owns, outside it"
            )
        for daily in excluded:
            if Path(daily.path).is_relative_to(folder) and listed_files(
                daily.path
            ):  # there, where a base reads it
                raise fail(
                    f"corpus folder {folder} holds daily {daily.id} of show {daily.show}, {daily.path}, excluded "
                    f"from training ({daily.reason}): move it out of the corpus, or give folders without it"
                )
        copy = _copy_of_withdrawn(folder, excluded)
        if copy is not None:
            path, daily = copy
            raise fail(
                f"corpus folder {folder} holds {path}, a copy of daily {daily.id} of show {daily.show} "
                f"({daily.path}), excluded from training ({daily.reason}): move it out of the corpus, or give "
                "folders without it"
            )


@dataclass(frozen=True)
class _Withdrawn:
    """A daily excluded from training, as the corpus check needs it."""

    show: str
    id: int
    path: str
    reason: str
    content_hash: str | None
    size: int | None  # bytes, all its files


def _copy_of_withdrawn(folder: Path, excluded: list[_Withdrawn]) -> tuple[Path, _Withdrawn] | None:
    """A movie under `folder` with the bytes of an excluded movie daily (its content hash is of its bytes
    alone), and that daily; None when there is none. Only files of a daily's size are read."""
    from engine.media.sequences import MOVIE_EXTENSIONS
    from integrations.ingest.hashing import content_hash

    by_size: dict[int, list[_Withdrawn]] = {}
    for daily in excluded:
        if daily.size and daily.content_hash and Path(daily.path).suffix.lower() in MOVIE_EXTENSIONS:
            by_size.setdefault(daily.size, []).append(daily)
    if not by_size:
        return None
    for dirpath, _dirs, names in os.walk(folder):
        for name in sorted(names):
            path = Path(dirpath) / name
            if path.suffix.lower() not in MOVIE_EXTENSIONS:
                continue
            try:
                size = path.stat().st_size
            except OSError:
                continue
            for daily in by_size.get(size, []):
                if content_hash([path], with_names=False) == daily.content_hash:
                    return path, daily
    return None


def unread_line(paths: list[Path]) -> str | None:
    """The one line saying which corpus files a base run does not read (by extension, the first named), or
    None when it reads them all: a camera's raw originals or stills in an archive are not trained on."""
    from engine.train.corpus import LINKED_FOLDER, unread_kind

    if not paths:
        return None
    kinds = Counter(unread_kind(path) for path in paths)
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    linked = (
        "; give a linked folder's target as a --corpus of its own (with its declaration)"
        if LINKED_FOLDER in kinds
        else ""
    )
    return (
        f"not read: {len(paths)} corpus entries, neither movies nor image sequences of 3 frames or more that "
        f"it can read ({counts}), e.g. {paths[0]}; convert what should be trained on (a camera's raw to ProRes or "
        f"EXR){linked}"
    )


def _check_heads(heads: list[str] | None) -> None:
    """One line for a `--head` that is not a head."""
    from engine.heads import head_names

    unknown = sorted(set(heads or []) - set(head_names()))
    if unknown:
        raise fail(f"--head {unknown[0]!r} is not a head; use one of {', '.join(head_names())}")


def _train_options(
    budget: str, device: str, seed: int, resolution: int, native_resolution: int | None
) -> TrainOptions:
    """The run's TrainOptions from the command line (native_resolution None: the options' own default)."""
    from engine.options import TrainOptions

    if device not in ("auto", "cpu", "cuda"):
        raise fail(f"--device {device!r}: use auto, cpu or cuda")
    return TrainOptions(
        budget_seconds=parse_duration(budget),
        device=device,  # type: ignore[arg-type]
        seed=seed,
        resolution=resolution,
        holdout_fraction=0.1,
        **({} if native_resolution is None else {"native_resolution": native_resolution}),
    )


def _ray_address(workers: int) -> str | None:
    """The Ray cluster's address for `--workers N` (N > 1); one line when the executor is not Ray."""
    if workers == 1:
        return None
    executor = settings().executor
    if executor.kind != "ray":
        raise fail(
            f"--workers {workers} trains on a Ray cluster: set executor.kind to ray (and executor.ray_address) "
            "in the config, or leave --workers out to train in this process"
        )
    return executor.ray_address


def _train_here(
    folder: Path, run: Any, options: Any, cfg: Any, heads: list[str] | None, bar: TrainProgress
) -> str:
    """The run in this process, torch's threads following the load; returns "N thread(s)"."""
    from engine.train.base import train_base
    from engine.train.threads import ThreadGovernor

    governor = ThreadGovernor()
    stop = _stop_flag()

    def progress(head: str, step: int, loss: float, elapsed: float) -> None:
        governor.tick()
        bar.update(head, step, loss, elapsed)

    train_base(folder, run, options, cfg, progress=progress, stop=stop.is_set, heads=heads)
    return f"{governor.threads} thread(s)"


def _finished(name: str, folder: Path, label: str, threads: str) -> None:
    """The one line a finished run prints, or the stop message (exit 130) when it stopped at a checkpoint."""
    from engine.model import load_manifest
    from engine.model.base import is_finished

    if not is_finished(folder):
        raise fail(
            f"{label} stopped at its checkpoint; continue it with `rushes base train --name {name} --resume`",
            130,
        )
    m = load_manifest(folder)
    for clip in m.skipped:
        err.print(f"skipped {clip.id}: {clip.reason}", highlight=False, markup=False)
    skipped = f", {len(m.skipped)} skipped (cannot be read; listed in its manifest)" if m.skipped else ""
    held = _held_out(m.holdout_mode, len(m.holdout))
    out.print(
        f"base {name} {folder.name}: {len(m.clips)} clip(s) trained, {held}{skipped}, "
        f"steps {sum(m.steps.values())} ({threads}): {folder}",
        highlight=False,
        markup=False,
    )


def _held_out(mode: str, held: int) -> str:
    """What a base scored on: whole clips held out, or the last frames of each (with fewer than 3 clips)."""
    if mode == "tails" and held:
        return "the last frames of each held out"
    return f"{held} held out"


def _summary(entry: dict[str, Any]) -> dict[str, Any]:
    from engine.model.base import corpus_clip_count

    m = entry["manifest"]
    if m is None:
        return {k: entry[k] for k in ("version", "state", "folder", "reason") if k in entry}
    return {
        "version": entry["version"],
        "state": entry["state"],
        "folder": entry["folder"],
        "declaration": m.declaration,
        "corpus": m.corpus,
        "clips": len(m.clips),
        "holdout": len(m.holdout),
        "holdout_mode": m.holdout_mode,
        "corpus_clips": corpus_clip_count(m),
        "steps": m.steps,
        "weights_sha256": m.weights_sha256,
        "created": m.created.isoformat(),
    }


def _list_detail(row: dict[str, Any]) -> str:
    """What `rushes base list` says of one version after its name."""
    if row["state"] == "trained":
        held = _held_out(row["holdout_mode"], row["holdout"])
        return f"{row['corpus_clips']} clip(s) ({held}), declared: {row['declaration']}"
    if row["state"] == "refused":
        return f"refused: {row['reason']}"
    if row["state"] == "training":
        return f"training now ({row['reason']})"
    return "unfinished (--resume)"


@base_app.command("list")
def base_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Every base with its versions, corpus size and declaration."""
    from engine.model.base import describe, names

    root = _bases_root()
    rows = [{"name": n, **_summary(e)} for n in names(root) for e in describe(root, n)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        out.print(
            "no base models yet: train one with `rushes base train --name NAME --corpus DIR --declare TEXT`"
        )
        return
    for r in rows:
        detail = _list_detail(r)
        out.print(f"{r['name']}\t{r['version']}\t{detail}", highlight=False, markup=False)


@base_app.command("show")
def base_show(
    name: Annotated[str, typer.Argument(help="The base's name.")],
    version: Annotated[
        str | None, typer.Option(help="A version such as v2 or 2 (default: the newest).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    check_corpus: Annotated[
        bool,
        typer.Option(
            "--check-corpus",
            help="Hash every corpus clip on disk again and say which changed or are gone (exit 1 if any); "
            "reads the whole corpus.",
        ),
    ] = False,
) -> None:
    """One base version's manifest: declaration, every corpus clip with its hash and cuts, steps, scores."""
    from engine.model import ModelError, verify_version
    from engine.model.base import version_folder

    root = _bases_root()
    try:
        folder = version_folder(root, name, version)
        manifest = verify_version(folder)  # the weights are the ones its manifest lists, or it is refused
    except ModelError as exc:
        raise fail(str(exc)) from None
    check = _corpus_check(manifest) if check_corpus else None
    if as_json:
        shown = {"name": name, "folder": str(folder), "manifest": manifest.model_dump(mode="json")}
        typer.echo(json.dumps({**shown, **({"corpus_check": check} if check is not None else {})}, indent=2))
    else:
        _print_base(name, folder, manifest, check)
    if check is not None and (check["changed"] or check["gone"]):
        raise typer.Exit(1)


def _corpus_check(manifest: Any) -> dict[str, Any]:
    """The corpus clips a base lists, hashed on disk again (engine.train.corpus.listed_changes): how many,
    which changed, which are gone. A held-out tail is a listed clip's end, so it is not hashed twice."""
    from engine.train.corpus import listed_changes

    records = manifest.clips + ([] if manifest.holdout_mode == "tails" else manifest.holdout)
    changed, gone = listed_changes({c.id: c.content_hash for c in records})
    return {"clips": len(records), "changed": changed, "gone": gone}


def _print_corpus_check(check: dict[str, Any]) -> None:
    if not check["changed"] and not check["gone"]:
        out.print(f"corpus check: all {check['clips']} clip(s) on disk hash as listed", highlight=False)
        return
    for clip_id in check["changed"]:
        out.print(
            f"corpus check: {clip_id} changed since the base was trained on it", highlight=False, markup=False
        )
    for clip_id in check["gone"]:
        out.print(f"corpus check: {clip_id} is gone (moved or deleted)", highlight=False, markup=False)
    out.print(
        "the base was trained on the footage as its manifest lists it: restore those files to show it",
        highlight=False,
    )


def _print_base(name: str, folder: Path, manifest: Any, check: dict[str, Any] | None = None) -> None:
    """`rushes base show` for a person: declaration, corpus clips with their hashes, skipped files, steps, scores."""
    out.print(f"base {name} {manifest.version} in {folder}", highlight=False, markup=False)
    if len(set(manifest.declarations.values())) > 1:
        out.print("declared, by corpus folder:", highlight=False)
        for folder_text, text in manifest.declarations.items():
            out.print(f"  {folder_text}: {text}", highlight=False, markup=False)
    else:
        out.print(f"declared: {manifest.declaration}", highlight=False, markup=False)
    out.print(
        f"corpus: {', '.join(manifest.corpus)}  seed: {manifest.seed}  code: {manifest.code_version}",
        highlight=False,
        markup=False,
    )
    out.print(f"weights sha256: {manifest.weights_sha256}", highlight=False, markup=False)
    held = _held_out(manifest.holdout_mode, len(manifest.holdout))
    out.print(f"trained on {len(manifest.clips)} clip(s), {held}:", highlight=False)
    for clip in manifest.clips + manifest.holdout:
        held = " (held out)" if clip in manifest.holdout else ""
        cuts = f" cuts {clip.cuts}" if clip.cuts else ""
        out.print(
            f"  {clip.id}  {clip.frames} frames{cuts}  {clip.content_hash}{held}",
            highlight=False,
            markup=False,
        )
    if manifest.skipped:
        out.print(f"skipped {len(manifest.skipped)} corpus file(s) that cannot be read (never trained on):")
    for unread in manifest.skipped:
        out.print(f"  {unread.id}  {unread.content_hash}: {unread.reason}", highlight=False, markup=False)
    out.print("steps: " + ", ".join(f"{h} {n}" for h, n in manifest.steps.items()), highlight=False)
    for head, scores in manifest.metrics.items():
        if "psnr" in scores and "baseline_best" in scores:
            margin = scores["psnr"] - scores["baseline_best"]
            out.print(
                f"  {head:12s} PSNR {scores['psnr']:.2f} dB on held-out clips ({margin:+.2f} dB against the best classical tool)"
            )
    if check is not None:
        _print_corpus_check(check)
