"""`rushes train`, `rushes fix`, `rushes model list|show`: the show model from the command line."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daemon.cli import exits
from daemon.cli.app import (
    app,
    command_group,
    counted_progress,
    err,
    fail,
    folding_table,
    lines_to_stderr,
    out,
    process_age,
    settings,
)
from daemon.context import open_context
from daemon.shows import get_show
from engine.kinds import HEAD_ORDER

if TYPE_CHECKING:
    from fractions import Fraction

    from daemon.cli.outputs import Carried
    from daemon.settings import ReviewColor
    from daemon.stages.fixing import Prepared
    from engine.color import DisplayView
    from engine.media import MediaInfo
    from engine.model import ModelVersion

# The show model (torch) is imported inside the commands that use it, so every other command starts quickly.

model_app = command_group("model", "Model versions of a show: lineage and scores.")

# seconds alone (600), or hours, minutes and seconds in that order, each once (2h, 90s, 1h30m, 1m 30s)
DURATION = re.compile(
    r"^\s*(?:(?P<alone>\d+(?:\.\d+)?)|(?=\d)(?:(?P<h>\d+(?:\.\d+)?)\s*h)?\s*(?:(?P<m>\d+(?:\.\d+)?)\s*m)?\s*"
    r"(?:(?P<s>\d+(?:\.\d+)?)\s*s)?)\s*$"
)


MAX_DURATION_S = 30 * 24 * 3600  # a budget of more than 30 days is a typo (and past what a date can add)


def parse_duration(text: str) -> float:
    """A --budget in seconds; a one-line error for anything that is not one, none at all, or over 30 days."""
    match = DURATION.match(text)
    if not match or not any(match.groupdict().values()):
        raise fail(f"--budget {text!r} is not a duration: use e.g. 600, 90s, 10m, 2h or 1h30m")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    seconds = sum(n * {"alone": 1, "s": 1, "m": 60, "h": 3600}[k] for k, n in parts.items())
    if seconds <= 0:  # a zero budget would otherwise read as "none given" and train for the show's default
        raise fail(f"--budget {text!r} is no time at all: give a budget such as 90s, 10m or 2h")
    if seconds > MAX_DURATION_S:
        raise fail(f"--budget {text!r} is over 30 days: give a budget such as 10m or 2h")
    return seconds


@app.command("train")
def train_cmd(
    show: Annotated[str, typer.Option("--show", "-s", help="The show to train.")],
    budget: Annotated[str | None, typer.Option(help="Time budget, e.g. 10m (default: the show's).")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda (default: the show's).")] = None,
    base: Annotated[
        str | None,
        typer.Option(
            help="A studio base the show's first version starts from: NAME (its newest version) or NAME@v2 "
            "(default: the show's train.base)."
        ),
    ] = None,
    afresh: Annotated[
        bool,
        typer.Option(
            "--afresh",
            help="Start afresh as a first version (from --base, or the show's train.base, else from scratch), "
            "not from the promoted version: e.g. to leave a base trained on footage withdrawn since.",
        ),
    ] = False,
) -> None:
    """Train the show model on the show's catalogued dailies now, in the foreground."""
    # the budget covers the whole command: starting Python, loading torch, training, writing
    started = time.monotonic() - process_age()
    from daemon.stages.training import CLI_RUN, TrainingInProgress, run_training

    seconds = parse_duration(budget) if budget is not None else None
    if device not in (None, "auto", "cpu", "cuda"):
        raise fail(f"--device {device!r}: use auto, cpu or cuda")
    ctx = open_context(settings())
    try:
        from daemon.cli.progress import TrainView  # rich's live display: only for a training
        from daemon.wrapping import ShowWrapped, refuse_if_wrapped

        try:
            refuse_if_wrapped(ctx.catalog, show)
        except ShowWrapped as exc:
            raise fail(str(exc)) from None

        with TrainView(show, err) as view:
            try:
                result = run_training(
                    ctx.settings,
                    ctx.catalog,
                    show,
                    job_id=CLI_RUN,
                    budget=seconds,
                    device=device,
                    progress=view.on_loss,
                    on_stage=view.on_stage,
                    base=base,
                    started=started,
                    afresh=afresh,
                )
            except TrainingInProgress as exc:  # passes by itself when that run ends: as a locked catalog
                raise fail(str(exc), exits.TRY_LATER) from None
    finally:
        ctx.close()
    if result.skipped:
        raise fail(result.skipped)
    verdict = (
        "promoted" if result.promoted else "kept (no head beat both its baseline and the promoted model)"
    )
    out.print(f"{show} v{result.version} {verdict}: {result.folder}", highlight=False)
    for head, scores in sorted(result.metrics.items()):
        out.print(f"  {head:12s} {_score_text(scores)}", highlight=False)
    for text in result.verdicts.values():
        out.print(f"  {text}", highlight=False)
    for text in result.left_out:
        out.print(f"  {text}", highlight=False, markup=False)


def _score_text(scores: dict[str, float]) -> str:
    if "psnr" not in scores:
        return "-"
    text = f"PSNR {scores['psnr']:.2f} dB"
    if "baseline_best" in scores:
        text += f" (best baseline {scores['baseline_best']:.2f}, {scores['psnr'] - scores['baseline_best']:+.2f} dB)"
    return text


@app.command("fix")
def fix_cmd(
    show: Annotated[
        str,
        typer.Option(
            "--show", "-s", help="Whose promoted model to use (before its first, the classical tool)."
        ),
    ],
    kind: Annotated[str, typer.Option(help="interpolate, regrade, denoise, upscale or cleanup.")],
    input_: Annotated[str, typer.Option("--input", "-i", help="A movie, or a sequence like sh010.####.exr.")],
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="A movie (.mp4 or .mkv H.264, .mov or .mxf ProRes) or a sequence."
        ),
    ],
    factor: Annotated[
        int | None, typer.Option(help="interpolate: retime factor (2 gives 2N-1 frames).")
    ] = None,
    frames: Annotated[
        str | None, typer.Option(help="interpolate: frames to rebuild, e.g. 1012-1016 or auto.")
    ] = None,
    reference: Annotated[
        str | None, typer.Option(help="regrade: a frame number of the input, or an image.")
    ] = None,
    mask: Annotated[
        str | None, typer.Option(help="cleanup: x,y,w,h, or an image/movie, white where to fill.")
    ] = None,
    quality: Annotated[
        str | None,
        typer.Option(
            help="interpolate, denoise, upscale: best for a better result in 4 to 5 times the time, or default."
        ),
    ] = None,
    first_frame: Annotated[
        int | None,
        typer.Option(
            "--first-frame",
            min=0,
            help="Number a movie's first frame so (e.g. 1001) for --frames, --reference and a sequence output's "
            "names (default: the show's movie_first_frame); a sequence keeps its files' numbers.",
        ),
    ] = None,
    lut: Annotated[
        Path | None,
        typer.Option(
            "--lut",
            help="regrade: also write the grade as a .cube LUT here, for the colourist or the comp (it maps the "
            "input's own code values; an EXR's light in ACEScct).",
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an output that exists (a sequence's frames this fix does not make are removed).",
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print what was written as JSON for a wrapper; every other line goes to stderr."
        ),
    ] = False,
) -> None:
    """Apply one head of the show's model to any movie or image sequence (before its first, the classical tool)."""
    given = {"factor": factor, "frames": frames, "reference": reference, "mask": mask, "quality": quality}
    params = _checked_params(kind, given, input_, output, overwrite)
    _check_lut(kind, lut, overwrite)
    with lines_to_stderr(as_json):
        report = _fix(show, kind, params, input_, Outputs(output, lut), first_frame)
    if as_json:
        typer.echo(json.dumps(asdict(report), indent=2))


@dataclass(frozen=True)
class FixReport:
    """What `rushes fix --json` prints: where the frames went and what made them. `model_version`: the show's
    version whose head was used, None before its first; `classical`: the classical tool made the fix (no model
    yet, or the head did not beat it); `first_frame`/`last_frame`: the numbers written (a sequence's names, a
    movie's frames as the show counts them)."""

    output: str
    show: str
    kind: str
    frames: int
    first_frame: int | None
    last_frame: int | None
    model_version: int | None
    classical: bool
    lut: str | None


@dataclass(frozen=True)
class Outputs:
    """Where `rushes fix` writes: the frames, and a regrade's .cube when --lut names one."""

    frames: str
    lut: Path | None = None


@dataclass(frozen=True)
class Rendered:
    """What `rushes fix` wrote: how many frames, their numbers, the missing numbers already said before the work
    (a recording's gaps), what interpolate's frames=auto found to rebuild (_rebuilt_note), and the line saying
    where a regrade's LUT went (None without --lut)."""

    written: int
    numbers: list[int]
    said: set[int]
    rebuilt: str | None
    lut_note: str | None = None


def _fix(
    show: str, kind: str, params: dict[str, Any], input_: str, outputs: Outputs, first_frame: int | None
) -> FixReport:
    """`rushes fix` once its options are checked: the model (or the classical tool), the render, what it did."""
    from daemon.cli.outputs import output_state
    from daemon.stages.fixing import FixError, model_for_fix
    from engine.model import ModelError

    ctx = open_context(settings())
    try:
        config = get_show(ctx.settings, ctx.catalog, show)
        _check_scene_output(outputs.frames, input_, config.color)
        try:
            model, number = model_for_fix(ctx.catalog, show, kind, params, reference="--reference")
        except (FixError, ModelError) as exc:
            raise fail(str(exc)) from None
        outdated = model.manifest.config.get("stands_in_for", "")
        had = f"{outdated} was made by an older Rushes" if outdated else "has no trained model yet"
        name = f"{show} v{number}" if number is not None else f"the classical tool ({show} {had})"
        if number is not None:
            _say_clipped_light(model.manifest, input_, show, number)
        view = _movie_view(config.color, show, input_, outputs.frames)
        before = output_state(outputs.frames)
        try:
            rendered = _render(
                model,
                name,
                kind,
                params,
                input_,
                outputs,
                view,
                config.movie_first_frame if first_frame is None else first_frame,
            )
        except KeyboardInterrupt:  # the output is written whole or not at all (daemon.cli.outputs)
            raise fail(f"interrupted: {_left(outputs.frames, before)}", code=130) from None
        except SystemExit as stop:  # SIGTERM (a farm manager's): said in the job's log as Ctrl-C is
            if stop.code == exits.TERMINATED:
                err.print(f"terminated: {_left(outputs.frames, before)}", highlight=False, markup=False)
            raise
    finally:
        ctx.close()
    fell_back = _say_fixed(
        rendered.written, outputs.frames, kind, model.manifest, name, classical=number is None
    )
    for line in (rendered.rebuilt, rendered.lut_note):
        if line:
            out.print(line, highlight=False)
    _say_holes(outputs.frames, rendered.numbers, rendered.said)
    return FixReport(
        output=_written_to(outputs.frames),
        show=show,
        kind=kind,
        frames=rendered.written,
        first_frame=min(rendered.numbers, default=None),
        last_frame=max(rendered.numbers, default=None),
        model_version=number,
        classical=number is None or fell_back,
        lut=str(outputs.lut) if outputs.lut else None,
    )


def _left(output: str, before: tuple[tuple[str, int, int], ...]) -> str:
    """What a fix stopped by a signal left at its output (whole or nothing): nothing, or the fix itself where the
    signal came once it was in place (it used to say nothing was written then too)."""
    from daemon.cli.outputs import output_state

    if output_state(output) == before:
        return f"nothing was written to {output} (a file there before is as it was)"
    return f"the fix was written whole to {output} before it stopped (what was there before is replaced)"


def _checked_params(
    kind: str, given: dict[str, Any], input_: str, output: str, overwrite: bool = False
) -> dict[str, Any]:
    """The fix parameters given, or the one line (exit 2) for a kind, an option or an output that cannot work."""
    from daemon.cli.outputs import existing_output, existing_output_text, overwrites
    from engine.heads import get_head

    if kind not in HEAD_ORDER:
        raise fail(f"--kind {kind!r} is not a fix: use one of {', '.join(HEAD_ORDER)}")
    params = {k: v for k, v in given.items() if v is not None}
    for key in params:
        if key not in get_head(kind).params_type.keys:
            raise fail(_unread_option(kind, key))
    if overwrites(input_, output):
        raise fail(
            f"--output {output} is the input: a fix never overwrites its source; write to another path"
        )
    _check_output_name(output, input_)
    existing = existing_output(output)
    if existing and not overwrite:
        raise fail(
            f"--output {output} exists ({existing_output_text(output, existing)}): add --overwrite to replace it, "
            "or write to another path"
        )
    return params


def _check_lut(kind: str, lut: Path | None, overwrite: bool) -> None:
    """The one line (exit 2), before the work, for a --lut that cannot be written: another kind than regrade, a
    name that is not a .cube, a file there already without --overwrite."""
    if lut is None:
        return
    if kind != "regrade":
        raise fail(f"--lut: only regrade makes a LUT ({kind} does not); drop --lut")
    if lut.suffix.lower() != ".cube":
        raise fail(f"--lut {lut} is not a .cube file: name one ending in .cube")
    if lut.is_dir():
        raise fail(f"--lut {lut} is a folder: name a .cube file in it")
    if lut.exists() and not overwrite:
        raise fail(f"--lut {lut} exists: add --overwrite to replace it, or write to another path")
    folder = next(p for p in (lut.absolute().parent, *lut.absolute().parents) if p.exists())
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise fail(
            f"--lut {lut} cannot be written: {folder} is not a folder you can write to; write it elsewhere"
        )


@dataclass(frozen=True)
class StagedLut:
    """A grade's .cube written beside its place under a temporary name, before the frames go into theirs: a LUT
    that cannot be written fails the fix with the output as it was (the frames used to be in place first, beside
    the earlier grade's LUT). `note`: the line that says what was written."""

    partial: Path | None  # None: the regrade applied no LUT
    path: Path
    note: str

    def place(self) -> str:
        if self.partial is not None:
            os.replace(self.partial, self.path)
        return self.note

    def discard(self) -> None:
        if self.partial is not None:
            self.partial.unlink(missing_ok=True)


def _stage_lut(path: Path, lut: Any, info: MediaInfo, input_: str) -> StagedLut:
    """The grade's .cube written whole beside `path` under a temporary name (StagedLut.place renames it on)."""
    import numpy as np

    from daemon.stages.fixing import grade_space
    from engine.lut import write_cube

    if lut is None:
        return StagedLut(None, path, f"the regrade applied no LUT, so none was written to {path}")
    space = grade_space(info)
    partial = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_cube(
            partial, np.asarray(lut, np.float32), title=f"{Path(input_).name} regrade: {space} in and out"
        )
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise fail(
            f"--lut {path} could not be written ({exc.strerror or exc}), so the fix was not written either (what "
            "was at its outputs is as it was): run it again with a --lut in a folder you can write to"
        ) from None
    return StagedLut(partial, path, f"wrote the grade as a LUT to {path} ({space} in and out)")


def _check_scene_output(output: str, input_: str, color: ReviewColor) -> None:
    """The one line (exit 2), before the work, for EXR frames asked of a source that is not scene-linear: a
    camera's log the show's `color.sources` names is said so, and kept only by an image sequence (its .mov shows
    the fix through the view: the advice to write one lost the log)."""
    from engine.media.working import display_encoded_exr, scene_linear

    if Path(output).suffix.lower() != ".exr" or scene_linear(input_):
        return
    name = Path(input_).name
    space = color.sources.get(Path(input_).suffix.lower().lstrip("."))
    if space is None:
        instead = "write a .mov (ProRes) or a .tif, .dpx or .png sequence instead"
        raise fail(f"--output {output}: {display_encoded_exr(name, None, instead)}")
    raise fail(
        f"--output {output}: EXR frames hold scene-linear light, and {name}'s pictures are {space} (the show's "
        "color.sources): Rushes does not turn them into linear light, so as EXR they would read wrong in the comp; "
        f"write a .dpx, .tif or .png sequence instead, which keeps {space} (a .mov shows the fix through the "
        "show's view)"
    )


def _check_output_name(output: str, input_: str) -> None:
    """The one line (exit 2), before the work, for an output that names no file Rushes writes: a folder, or a
    name without a movie's or an image's extension."""
    from daemon.cli.outputs import is_sequence
    from engine.media.encode import MOVIE_SUFFIXES

    path = Path(output)
    example = f"{Path(input_).stem.split('.')[0] or 'fixed'}_fixed"
    if output.endswith(("/", "\\")) or path.is_dir():
        named = path / example
        images = ".####.exr" if Path(input_).suffix.lower() == ".exr" else ".####.tif"
        raise fail(f"--output {output} is a folder: name a file in it, e.g. {named}.mov or {named}{images}")
    if not is_sequence(output) and path.suffix.lower() not in MOVIE_SUFFIXES:
        movies = " ".join(sorted(MOVIE_SUFFIXES))
        raise fail(
            f"--output {output} is neither a movie ({movies}) nor images (.exr .dpx .png .tif .jpg): give one "
            "of those extensions"
        )


def _say_clipped_light(manifest: Any, input_: str, show: str, number: int) -> None:
    """One line, before the work, when the version learned EXR dailies clipped (daemon.stages.fixing)."""
    from daemon.stages.fixing import clipped_light_note

    note = clipped_light_note(manifest, input_, show, number)
    if note:
        out.print(note, highlight=False)


def _movie_view(color: ReviewColor, show: str, input_: str, output: str) -> DisplayView | None:
    """The display transform a movie written from a scene-referred input goes through (the show's `color`
    settings, as the daemon's review movies; `_render` says it in one line); None for a sequence or another
    input."""
    from daemon.cli.outputs import is_sequence
    from daemon.stages.viewing import display_view, view_spec
    from engine.color import ColorError

    spec = view_spec(color, input_)
    if spec is None or is_sequence(output):
        return None
    try:
        return display_view(spec)
    except ColorError as exc:
        raise fail(f"shows[{show}].color: {exc}") from None


def _say_view(view: DisplayView | None) -> None:
    if view is not None:
        out.print(
            f"The movie shows the fix through {view.name} (the show's color settings); write a sequence to keep "
            "the scene's values.",
            highlight=False,
        )


def _render(
    model: ModelVersion,
    name: str,
    kind: str,
    params: dict[str, Any],
    input_: str,
    outputs: Outputs,
    view: DisplayView | None = None,
    first_frame: int = 0,
) -> Rendered:
    """The fix of `input_` written to `outputs` with a progress bar, through `view` when given. A movie's
    frames are numbered from `first_frame`, as its show counts them (its `movie_first_frame`, as the daemon's
    fixes do); a sequence keeps its files' numbers."""
    from daemon.cli.outputs import terminate_cleanly, write_output
    from daemon.cli.progress import CountedLines
    from daemon.stages import fixing
    from engine.media import probe

    info = probe(input_, first_frame=first_frame)
    output = outputs.frames
    numbers: list[int] = []
    _said_before(info, kind, output, view)
    try:
        fixing.check_memory(info, kind)
        prepared = fixing.prepare(kind, params, input_, info)
        for note in prepared.notes:
            out.print(note, highlight=False, markup=False)
        info, prepared = fixing.keeping_overscan(info, prepared, _exr_sequence(output))
        _check_still(output, fixing.output_frames(info, prepared))
        _check_mxf_rate(output, info.fps)
        _say_overscan(info)
        keep_alpha = _keeps_alpha(info, kind, output)
        sound = fixing.carried_sound(info, prepared)
        _say_sound(info, prepared.factor, output)
        _say_subtitles(info)
        if (retimed := fixing.retime_note(info, prepared, "input")) is not None:
            out.print(retimed, highlight=False)
        stream = fixing.fixed_frames(model, prepared, info, alpha=keep_alpha)
        with counted_progress() as bar:
            label, total = f"{kind} with {name}", fixing.output_frames(info, prepared)
            task = bar.add_task(label, total=total)
            piped = None if err.is_terminal else CountedLines(label, total, err)
            staged: list[StagedLut] = []  # the grade's LUT, written beside its place before the frames go in

            def afters() -> Any:
                for n, _before, after in stream:
                    bar.advance(task)
                    numbers.append(n)
                    if piped is not None:
                        piped.count(len(numbers))
                    yield n, after if view is None else view.shown(after)
                if outputs.lut is not None:  # the grade is known once the frames are
                    staged.append(_stage_lut(outputs.lut, stream.outputs.lut, info, input_))

            with terminate_cleanly():
                try:
                    written = write_output(output, afters(), _carried(info, prepared, sound, view))
                    lut_note = staged[0].place() if staged else None
                finally:
                    for lut in staged:
                        lut.discard()
    except fixing.FixError as exc:
        raise fail(str(exc)) from None
    return Rendered(
        written,
        numbers,
        set(info.missing_frames) if info.dropped else set(),
        _rebuilt_note(
            stream.outputs.rebuilt,
            sorted(prepared.params.get("missing", ())),
            (info.first_frame, info.last_frame),
        ),
        lut_note,
    )


def _said_before(info: MediaInfo, kind: str, output: str, view: DisplayView | None) -> None:
    """What is said, and refused, of the input and the output before the fix is prepared (once the input is
    read: an input that cannot be is its one line)."""
    _say_view(view)
    _say_interlaced(info)
    _say_dropped(info)
    _say_layers(info, kind, output)
    _say_padded(info, kind, output)
    _check_h264_size(info, kind, output)


def _carried(info: MediaInfo, prepared: Prepared, sound: Any, view: DisplayView | None) -> Carried:
    """What the output keeps of its source besides the frames: rate, timecode, numbering, colour tags (through a
    view, its display's), sound, pixel aspect, headers, reel, scan and overscan."""
    from daemon.cli.outputs import Carried
    from daemon.stages.fixing import header_source
    from engine.media.info import Overscan

    return Carried(
        info.fps,
        info.timecode,
        info.first_frame,
        colour=info.colour if view is None else view.tags,
        sound=sound,
        pixel_aspect=info.pixel_aspect,
        headers=header_source(info, prepared),
        reel=info.reel,
        tags=info.tags,
        pix_fmt=info.pix_fmt,
        codec=info.codec,
        scan=info.interlaced,
        overscan=Overscan.of(info),
    )


def _rebuilt_note(rebuilt: tuple[int, ...] | None, missing: list[int], frames: tuple[int, int]) -> str | None:
    """One line, after the work, saying what interpolate's frames=auto made (daemon.stages.fixing.auto_frames_done),
    and where it found nothing, how to name frames of this input (`frames`, its first and last); None when frames
    were named or retimed."""
    from daemon.stages.fixing import auto_frames_done

    done = auto_frames_done(rebuilt, missing, "--frames auto")
    if done is None or rebuilt or missing:
        return done
    first, last = frames
    start = min(first + (last - first) // 3 + 1, last)  # a few frames inside it, never past its ends
    example = f"{start}-{min(start + 2, last)}" if start < last else str(start)
    return (
        f"{done}: name the frames to rebuild with --frames (this input's are {first}-{last}), e.g. --frames "
        f"{example}."
    )


def _say_sound(info: MediaInfo, factor: int, output: str) -> None:
    """One line, before the work, when the input's sound does not all go into the output: sound that cannot be
    read (engine.media.audio), a retime (it plays longer than the sound), a sequence (it holds none)."""
    from daemon.cli.outputs import is_sequence

    sound = info.sound
    if sound is None:
        return
    if sound.unreadable:
        which = (
            "The input's sound" if not sound.streams else f"{sound.unreadable} of the input's sound streams"
        )
        out.print(
            f"{which} cannot be read (no decoder, or a channel layout PyAV cannot handle), so the output leaves "
            "it out; add it back in your editor.",
            highlight=False,
        )
    if not sound.streams:
        return
    if is_sequence(output):
        out.print(f"The sequence has no sound: the input's sound stays in {info.path}.", highlight=False)
    elif factor != 1:
        out.print(
            f"The movie has no sound: a {factor}x retime plays {factor} times as long as the input's sound.",
            highlight=False,
        )


def _say_subtitles(info: MediaInfo) -> None:
    """One line, before the work, when the input has subtitle streams: the output leaves them out."""
    from daemon.stages.fixing import subtitles_note

    note = subtitles_note(info)
    if note is not None:
        out.print(note, highlight=False)


def _say_padded(info: MediaInfo, kind: str, output: str) -> None:
    """One line, before the work, when an H.264 movie cannot hold the frames' size: its 4:2:0 chroma needs even
    sides, so the writer repeats the last column or row (engine.media.encode.MovieWriter)."""
    from daemon.cli.outputs import PRORES_SUFFIXES, is_sequence

    if is_sequence(output) or Path(output).suffix.lower() in PRORES_SUFFIXES or kind == "upscale":
        return
    width, height = info.width, info.height
    if width % 2 == 0 and height % 2 == 0:
        return
    out.print(
        f"H.264 holds only even sizes, so the movie is {width + width % 2}x{height + height % 2}, the input's "
        f"last {'column' if width % 2 else 'row'}{' and row' if width % 2 and height % 2 else ''} repeated: "
        f"write a .mov or a sequence to keep {width}x{height}.",
        highlight=False,
    )


# H.264's largest frame (level 6.2): 139,264 macroblocks of 16x16, about 8192x4352. Past it, players and
# decoders refuse the movie; libx264 writes it all the same.
H264_MAX_MACROBLOCKS = 139_264


def _check_h264_size(info: MediaInfo, kind: str, output: str) -> None:
    """The one line (exit 2), before the work, for an H.264 movie larger than H.264 holds (an upscale of a 6K
    plate to .mp4: 12288x6480, which players refuse); and one line saying an upscale's size."""
    from daemon.cli.outputs import PRORES_SUFFIXES, is_sequence

    scale = 2 if kind == "upscale" else 1
    width, height = info.width * scale, info.height * scale
    if kind == "upscale":
        out.print(f"The upscale writes {width}x{height} frames, twice the input's.", highlight=False)
    if is_sequence(output) or Path(output).suffix.lower() in PRORES_SUFFIXES:
        return
    if -(-width // 16) * -(-height // 16) > H264_MAX_MACROBLOCKS:
        raise fail(
            f"--output {output}: a {width}x{height} H.264 movie is larger than H.264 holds (about 8192x4352), "
            "which browsers, review tools and hardware players refuse: write a .mov (ProRes) or an image sequence "
            "instead"
        )


def _say_overscan(info: MediaInfo) -> None:
    """One line, before the work, when the input's EXR frames hold pixels past their display window: kept or
    not."""
    from daemon.stages.fixing import overscan_note

    note = overscan_note(info)
    if note is not None:
        out.print(note, highlight=False)


def _check_mxf_rate(output: str, fps: Fraction) -> None:
    """The one line (exit 2), before the work, when an .mxf output cannot hold the input's rate."""
    from engine.media.encode import mxf_rate_problem

    problem = mxf_rate_problem(fps) if Path(output).suffix.lower() == ".mxf" else None
    if problem is not None:
        raise fail(f"--output {output}: {problem}; write a .mov instead")


def _check_still(output: str, frames: int) -> None:
    """The one line (exit 2), before the work, when one image is to be written and the fix makes more frames."""
    from daemon.cli.outputs import is_still

    if is_still(output) and frames != 1:
        path = Path(output)
        # out.1001.tif, a frame's name meant for the sequence: out.####.tif
        stem = re.sub(r"\.\d+$", "", path.stem) or path.stem
        pattern = path.with_name(f"{stem}.####{path.suffix}")
        raise fail(
            f"--output {output} is one image, but the fix makes {frames} frames: write a sequence, {pattern}"
        )


def _exr_sequence(output: str) -> bool:
    from daemon.cli.outputs import is_sequence

    return is_sequence(output) and output.lower().endswith(".exr")


def _say_layers(info: MediaInfo, kind: str, output: str) -> None:
    """One line, before the work, when the input's EXR frames hold channels besides the picture: kept or not."""
    from daemon.stages.fixing import layers_note

    note = layers_note(info, kind, _exr_sequence(output))
    if note is not None:
        out.print(note, highlight=False)


def _say_interlaced(info: MediaInfo) -> None:
    """One line, before the work, when the input is interlaced: the heads do not deinterlace."""
    if info.interlaced:
        out.print(
            f"The input is interlaced ({info.interlaced}): the heads see each frame as one picture, so moving "
            "edges keep their combing; deinterlace it first (e.g. ffmpeg -vf bwdif) for a clean fix. A movie of "
            "the fix says the same field order.",
            highlight=False,
        )


def _say_dropped(info: MediaInfo) -> None:
    """One line, before the work, when the movie's timestamps skip frames (dropped while recording): where, and
    what a fix does with the gaps (their numbers are missing frames, as a sequence's holes are); another for the
    gaps long enough to be pauses."""
    from engine.media.encode import PAUSE_SECONDS, pause_frames

    if not info.dropped:
        return
    missing = sum(count for _, count in info.dropped)
    after = ", ".join(str(number) for number, _ in info.dropped[:5]) + (
        " ..." if len(info.dropped) > 5 else ""
    )
    why = (
        "its rate changes mid-take: placed at its faster rate, its slower frames leave slots"
        if info.rate_changed
        else "dropped while recording"
    )
    out.print(
        f"The movie's timestamps skip {missing} frame(s), after frame(s) {after} ({why}): "
        "--kind interpolate --frames auto rebuilds them; any other fix holds the frame before each gap over it "
        "in a movie (and leaves the numbers out of a sequence), so the sound stays in sync.",
        highlight=False,
    )
    pauses = [number for number, count in info.dropped if count > pause_frames(info.fps)]
    if pauses:
        out.print(
            f"The gap(s) after frame(s) {', '.join(map(str, pauses[:5]))} last over {PAUSE_SECONDS} s: the "
            "recording paused there, so the fix keeps each pause as it is (nothing rebuilt or held over it).",
            highlight=False,
        )


def _keeps_alpha(info: MediaInfo, kind: str, output: str) -> bool:
    """Whether the fix carries the source's alpha into the output; when the source has alpha that the output
    will not, says so (before the work) with what would keep it."""
    from daemon.cli.outputs import carries_alpha
    from engine.media.alpha import has_alpha

    if not has_alpha(info.pix_fmt):
        return False
    if not carries_alpha(output):
        out.print(
            f"The input has an alpha channel and {Path(output).suffix or output} holds none, so the output "
            "drops it: write .mov or .mxf (ProRes 4444), or a .exr, .png, .tif or .dpx sequence, to keep it.",
            highlight=False,
        )
        return False
    return True


def _say_holes(output: str, numbers: list[int], said: set[int]) -> None:
    """Say which frames the output lacks, when the fix skipped some (a source's holes), unless `said` before the
    work (a recording's gaps: _say_dropped): a sequence keeps the holes, a movie (no frame numbers) holds the
    frame before each."""
    from daemon.cli.outputs import is_sequence
    from engine.media.encode import PAUSE_SECONDS
    from engine.media.sequences import frames_named

    have = set(numbers)
    holes = [n for n in range(numbers[0], numbers[-1] + 1) if n not in have] if numbers else []
    if not holes or set(holes) <= said:
        return
    if is_sequence(output):
        out.print(
            f"The input lacks {frames_named(holes)}, and so does the sequence written: rebuild them with "
            "--kind interpolate --frames auto.",
            highlight=False,
        )
    else:
        out.print(
            f"The input lacks {frames_named(holes)}, so the movie holds the frame before each hole "
            f"over it (a hole of over {PAUSE_SECONDS} s stays a pause): rebuild them instead "
            "(--kind interpolate --frames auto) or write a sequence.",
            highlight=False,
        )


def _unread_option(kind: str, key: str) -> str:
    """The one line for an option `kind`'s fix does not read, naming the kinds that do."""
    from engine.heads import get_head

    takers = [k for k in HEAD_ORDER if key in get_head(k).params_type.keys]
    named = " and ".join([", ".join(takers[:-1]), takers[-1]] if len(takers) > 1 else takers)
    return f"--{key}: {kind} does not read it; drop --{key} ({named} take{'s' * (len(takers) == 1)} it)"


def _say_fixed(
    written: int, output: str, kind: str, manifest: Any, model: str, classical: bool = False
) -> bool:
    """What `rushes fix` made, and whether the classical tool stood in for the head (with its margin; `classical`:
    for a show with no model yet). True when the classical tool made it."""
    from engine.model import classical_note, fallback_note

    if classical:
        out.print(f"wrote {written} frame(s) to {_written_to(output)} ({kind}, classical)", highlight=False)
        out.print(
            classical_note(kind, manifest.show, manifest.config.get("stands_in_for", "")), highlight=False
        )
        return True
    note = fallback_note(manifest.sources, manifest.metrics, kind)
    used = f"model {model}" if note is None else f"classical fallback; model {model}"
    out.print(f"wrote {written} frame(s) to {_written_to(output)} ({kind}, {used})", highlight=False)
    if note:
        out.print(note, highlight=False)
    return note is not None


def _written_to(output: str) -> str:
    """Where the frames went: a sequence as its pattern in one form (sh010.%04d.exr as sh010.####.exr)."""
    from engine.media import parse_sequence
    from engine.media.sequences import is_pattern

    return parse_sequence(output).pattern if is_pattern(output) else output


@model_app.command("list")
def model_list(
    show: Annotated[str | None, typer.Option("--show", "-s", help="Only this show.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Model versions with their parent, promotion and scores."""
    rows = _versions(show)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        out.print("no model versions yet: train one with `rushes train --show CODE`")
        return
    table = folding_table("show", "version", "parent", "promoted", "clips", "heads (PSNR vs best baseline)")
    for r in rows:
        heads = "; ".join(f"{h} {_score_text(m)}" for h, m in sorted(r["metrics"].items()))
        table.add_row(
            r["show"],
            f"v{r['version']}" + _version_note(r),
            f"v{r['parent']}" if r["parent"] else "-",
            "yes" if r["promoted"] else "",
            "-" if r["refused"] else str(r["clips"]),
            f"refused: {r['refused']}" if r["refused"] else heads,
        )
    out.print(table)


def _version_note(row: dict[str, Any]) -> str:
    """What `model list` says after a version's number: made by an older Rushes, or not trained to its end (being
    trained now, by whom, or left by a stopped run, which the next `rushes train` continues)."""
    from engine.model.base import held_by

    if row["outdated"]:
        return " (made by an older Rushes: not used)"
    if row["state"] != "training":
        return ""
    holder = held_by(Path(row["folder"])) if row["folder"] else None
    if holder is not None:
        return f" (being trained: {holder})"
    if row["job"] == "cli":
        return " (stopped before its end: the next `rushes train` of the show continues it)"
    return f" (stopped before its end: its train job {row['job']} continues it when it runs again)"


@model_app.command("show")
def model_show(
    version_text: Annotated[str, typer.Argument(metavar="VERSION", help="A version, e.g. v3 or 3.")],
    show: Annotated[str, typer.Option("--show", "-s", help="The show.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """One version's manifest: lineage, training clips with hashes, config, scores."""
    from engine.model import ModelError, verify_version, version_number

    try:
        version = version_number(version_text)
    except ModelError as exc:
        raise fail(str(exc)) from None
    match = [r for r in _versions(show) if r["version"] == version]
    if not match:
        raise fail(f"show {show} has no model v{version} (see `rushes model list --show {show}`)")
    folder = Path(match[0]["folder"])
    try:
        manifest = verify_version(folder, match[0]["seal"]).model_dump(mode="json")
    except ModelError as exc:
        raise fail(f"model v{version} of {show} is refused: {exc}") from None
    base_trace = _trace_base(manifest)
    if as_json:
        typer.echo(json.dumps({**match[0], "base_trace": base_trace, "manifest": manifest}, indent=2))
        return
    out.print(
        f"{show} v{version} in {folder}" + (" (promoted)" if match[0]["promoted"] else ""), highlight=False
    )
    out.print(
        f"parent: {manifest.get('parent') or '-'}  seed: {manifest['seed']}  code: {manifest['code_version']}"
    )
    if manifest.get("fresh_start"):
        out.print(
            f"started afresh, not grown from the promoted version: {manifest['fresh_start']}",
            highlight=False,
            markup=False,
        )
    out.print(
        f"trained on {len(manifest['clips'])} clip(s), held out {len(manifest['holdout'])} ({manifest['holdout_mode']}):"
    )
    for clip in manifest["clips"]:
        out.print(f"  {clip['id']}  {clip['frames']} frames  {clip['content_hash']}", highlight=False)
    if manifest["holdout"]:  # what the scores below were measured on
        out.print("scored on the held-out clip(s):")
    for clip in manifest["holdout"]:
        out.print(f"  {clip['id']}  {clip['frames']} frames  {clip['content_hash']}", highlight=False)
    _print_lineage(manifest, base_trace)
    for head, scores in sorted(manifest["metrics"].items()):
        parent = manifest["parent_metrics"].get(head, {})
        extra = f" (parent {parent['psnr']:.2f} dB)" if "psnr" in parent else ""
        out.print(f"  {head:12s} {_score_text(scores)}{extra}", highlight=False)


@model_app.command("promote")
def model_promote(
    version_text: Annotated[str, typer.Argument(metavar="VERSION", help="A version, e.g. v3 or 3.")],
    show: Annotated[str, typer.Option("--show", "-s", help="The show.")],
) -> None:
    """Put a version that was in service before back in service (going back from a newer one the supervisors
    find worse): fixes use it from their next render, and the next training grows from it."""
    from daemon.catalog import models_repo
    from daemon.stages.lineage import withdrawn_in_lineage
    from engine.model import ModelError, verify_version, version_number

    try:
        version = version_number(version_text)
    except ModelError as exc:
        raise fail(str(exc)) from None
    ctx = open_context(settings())
    try:
        get_show(ctx.settings, ctx.catalog, show)
        with ctx.catalog.session(readonly=True) as s:
            row = models_repo.get_version(s, show, version)
            current = models_repo.latest_promoted(s, show)
            in_service = current.version if current is not None else None
            seal = models_repo.recorded_seal(row) if row is not None else None
            known = (
                (row.path, bool(row.promoted), (row.metrics or {}).get("state", "trained")) if row else None
            )
        if known is None:
            raise fail(f"show {show} has no model v{version} (see `rushes model list --show {show}`)")
        folder, was_promoted, state = known
        if in_service == version:
            out.print(f"{show} v{version} is in service already: nothing to do", highlight=False)
            return
        if state != "trained" or not was_promoted:
            why = (
                "is still training"
                if state != "trained"
                else "was never in service (it did not pass its evaluation)"
            )
            raise fail(f"{show} v{version} {why}: only a version that was in service can be put back")
        try:
            manifest = verify_version(folder, seal)
        except ModelError as exc:
            raise fail(f"model v{version} of {show} is refused: {exc}") from None
        withdrawn = withdrawn_in_lineage(ctx.catalog, show, manifest, ctx.settings.data_dir / "bases")
        if withdrawn:
            raise fail(f"{show} v{version} cannot be put back: {withdrawn}")
        with ctx.catalog.session() as s:
            models_repo.promote(s, show, version)
    finally:
        ctx.close()
    instead = f" in place of v{in_service}" if in_service is not None else ""
    out.print(
        f"{show} v{version} is in service again{instead}: fixes use it from their next render, and the next "
        "training grows from it",
        highlight=False,
    )


def _trace_base(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """Whether the base the version grew from is still there as it recorded it (engine.model.base.trace_base):
    {"folder", "verified", "problem"}; None for a version grown from scratch."""
    from engine.model.base import trace_base
    from engine.model.manifest import BaseRef

    if not manifest.get("base"):
        return None
    folder, problem = trace_base(BaseRef.model_validate(manifest["base"]), settings().data_dir / "bases")
    return {"folder": str(folder) if folder else None, "verified": not problem, "problem": problem}


def _print_lineage(manifest: dict[str, Any], trace: dict[str, Any] | None = None) -> None:
    """Where the weights come from beyond the show's clips: the base and its declared corpus, and whether
    that base is still as recorded (`trace`); and what went in besides the dailies (approved pairs) or was
    left out (exclusions, approved pairs not learnt from)."""
    base = manifest.get("base")
    if base:
        out.print(
            f"grown from base {base['name']} {base['version']} (weights sha256 {base['weights_sha256']}, "
            f"{base['clips']} corpus clip(s), see `rushes base show {base['name']} --version {base['version']}`)",
            highlight=False,
            markup=False,
        )
        out.print(f"  base corpus declared: {base['declaration']}", highlight=False, markup=False)
        if trace is not None and trace["verified"]:
            out.print(
                f"  base verified in {trace['folder']}: its seal and weights are the ones recorded",
                highlight=False,
                markup=False,
            )
        elif trace is not None:
            out.print(f"  the trace to the base is broken: {trace['problem']}", highlight=False, markup=False)
    else:
        out.print("trained from scratch on the show's footage (no base)")
    for ex in manifest.get("exclusions", []):
        out.print(f"  excluded {ex['id']}: {ex['reason']}", highlight=False, markup=False)
    steps = manifest.get("steps", {})
    for ex in manifest.get("examples", []):
        how = f"weight {ex['weight']:g}" if ex["trained"] else "listed, not trainable for this head"
        if not ex["trained"] and steps.get(ex["head"]) == 0:
            how = f"weight {ex['weight']:g}, not learned from: its head took no training step in this version"
        out.print(
            f"  approved pair {ex['id']} ({_known_as(ex)}{ex['head']}, {ex['frames']} frames, {how})",
            highlight=False,
            markup=False,
        )
    for ex in manifest.get("pairs_left_out", []):  # versions made before they were listed have none
        out.print(
            f"  approved pair left out {ex['id']} ({_known_as(ex)}{ex['head']}): {ex['reason']}",
            highlight=False,
            markup=False,
        )


def _known_as(pair: dict[str, Any]) -> str:
    """An approved pair's tracker Version and code, where its manifest has them, before its other details."""
    return f"{pair['label']}; " if pair.get("label") else ""


def _listed(folder: str, state: str, recorded_seal: str | None) -> tuple[int, str | None]:
    """(its training clips, why its manifest is refused or None) of a version as `rushes model list` shows it:
    the manifest's seal and the one recorded when it was trained are checked, its weights are not hashed
    (`rushes model show` does). A version still training has no manifest yet, and nothing is refused."""
    from engine.model import ModelError, ModelOutdated, load_manifest

    try:
        manifest = load_manifest(folder)
    except ModelOutdated:  # an older Rushes' version: listed as such ("outdated"), not as refused
        return 0, None
    except ModelError as exc:
        return 0, (str(exc) if state == "trained" else None)
    if recorded_seal and manifest.seal != recorded_seal:
        return 0, "its seal is not the one recorded when it was trained (it was edited and re-sealed)"
    return len(manifest.clips), None


def _versions(show: str | None) -> list[dict[str, Any]]:
    from daemon.catalog import models_repo

    ctx = open_context(settings())
    try:
        from daemon.shows import all_shows
        from daemon.status import made_by_older_rushes

        codes = [s.code for s in all_shows(ctx.settings, ctx.catalog) if show in (None, s.code)]
        if show is not None and not codes:
            get_show(ctx.settings, ctx.catalog, show)
        rows = []
        with ctx.catalog.session(readonly=True) as s:
            for code in codes:
                promoted = models_repo.latest_promoted(s, code)
                for v in models_repo.list_versions(s, code):
                    m = v.metrics or {}
                    manifest_clips, refused = _listed(
                        v.path, m.get("state", "trained"), models_repo.recorded_seal(v)
                    )
                    rows.append(
                        {
                            "show": code,
                            "version": v.version,
                            "parent": v.parent_version,
                            "promoted": promoted is not None and promoted.version == v.version,
                            "state": m.get("state", "trained"),
                            "job": m.get("job"),  # the train job that made it ("cli": `rushes train`)
                            "folder": v.path,
                            "clips": manifest_clips,
                            "refused": refused,
                            "metrics": m.get("heads", {}),
                            "seal": models_repo.recorded_seal(v),
                            "outdated": made_by_older_rushes(v),
                            "created": v.created_at.isoformat() if v.created_at else None,
                        }
                    )
    finally:
        ctx.close()
    return rows
