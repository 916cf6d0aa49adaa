"""`rushes probe INPUT [--first-frame N] [--json]`: what Rushes reads of a movie or an image sequence before it trains on it or fixes
it: size and pixel aspect, rate and length, timecode and reel, colour tags, alpha, scan, sound, and the frames a
sequence lacks or a recorder dropped. The same facts ingest and `rushes fix` act on (engine.media.probe)."""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daemon.cli.app import app, fail, out

if TYPE_CHECKING:  # the media stack (PyAV, NumPy) loads when the command runs, not with every command
    from engine.media import MediaInfo


def _with_remedy(exc: Exception) -> str:
    """The error, with what to do unless it says so already."""
    text = str(exc)
    if any(f"{sep} {verb} " in text for sep in ":;," for verb in ("give", "use")):
        return text
    return f"{text}: give a readable movie or sequence"


@app.command("probe")
def probe_cmd(
    input_: Annotated[
        str, typer.Argument(metavar="INPUT", help="A movie, or a sequence like sh010.####.exr.")
    ],
    first_frame: Annotated[
        int,
        typer.Option(
            "--first-frame",
            min=0,
            help="Number a movie's first frame so, as its show does (movie_first_frame, e.g. 1001); "
            "a sequence keeps its files' numbers.",
        ),
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print every fact as JSON.")] = False,
) -> None:
    """Say what Rushes reads of a movie or an image sequence."""
    from engine.media import MediaError, probe

    try:
        info = probe(input_, first_frame=first_frame)
    except MediaError as exc:
        raise fail(_with_remedy(exc)) from None
    if as_json:
        facts = {
            k: v for k, v in dataclasses.asdict(info).items() if k != "grown"
        }  # how it is read, not a fact
        typer.echo(json.dumps(_jsonable(facts), indent=2))  # plain: rich coloured it on a terminal or a pty
        return
    for line in describe(info):
        out.print(line, highlight=False, markup=False)


def describe(info: MediaInfo) -> list[str]:
    """The facts of `info`, a line each: what it is, then only what it has."""
    from engine.media.alpha import has_alpha
    from engine.media.sequences import frameset_string

    seconds = info.duration_seconds
    size = f"{info.width}x{info.height}"
    if info.pixel_aspect != 1:
        shown = float(info.width * info.pixel_aspect / info.height)
        size += f" (pixel aspect {_ratio(info.pixel_aspect)}: a {shown:.2f}:1 picture)"
    lines = [
        f"{info.path}: {info.kind}, {info.codec} {size}, {_rate(info.fps)} fps, "
        f"{info.frame_count} frames ({seconds:.1f} s), frames {info.first_frame}-{info.last_frame}"
    ]
    if info.timecode or info.reel:
        parts = [
            f"timecode {info.timecode}" if info.timecode else "",
            f"reel {info.reel}" if info.reel else "",
        ]
        lines.append("  " + ", ".join(p for p in parts if p))
    if info.colour is not None:
        lines.append(f"  colour tags: {info.colour.described()}")
    if has_alpha(info.pix_fmt):
        lines.append(f"  alpha: yes ({info.pix_fmt})")
    if info.interlaced:
        lines.append(f"  interlaced: {info.interlaced}")
    if info.sound is not None:
        s = info.sound
        if s.streams:
            lines.append(
                f"  sound: {s.codec}, {s.sample_rate} Hz, {s.channels} channel(s), {s.streams} stream(s)"
                + (f", {s.unreadable} more that cannot be read" if s.unreadable else "")
            )
        else:
            lines.append(f"  sound: {s.unreadable} stream(s) that cannot be read (a fix leaves them out)")
    if info.subtitles:
        lines.append(f"  subtitles: {info.subtitles} stream(s) (a fix leaves them out)")
    if info.tags:
        listed = ", ".join(f"{key}={value}" for key, value in list(info.tags.items())[:6])
        lines.append(f"  tags: {listed}" + (f" and {len(info.tags) - 6} more" if len(info.tags) > 6 else ""))
    if info.layers:
        lines.append(f"  other EXR channels: {', '.join(info.layers)}")
    if any(info.overscan):
        left, top, right, bottom = info.overscan
        lines.append(
            f"  overscan past the display window: left {left}, top {top}, right {right}, bottom {bottom}"
        )
    if info.missing_frames:
        lines.append(f"  missing frames: {frameset_string(info.missing_frames)}")
    if info.dropped:
        gaps = ", ".join(f"{count} after {number}" for number, count in info.dropped[:5])
        why = "slots left by its rate change mid-take" if info.rate_changed else "dropped while recording"
        lines.append(f"  {why}: {gaps}" + (" ..." if len(info.dropped) > 5 else ""))
    return lines


def _ratio(value: Fraction) -> str:
    return f"{value.numerator}:{value.denominator}"


def _rate(fps: Fraction) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{float(fps):.3f}"


def _jsonable(value: Any) -> Any:
    """asdict output with Fractions as text, as every --json writes them: "24", a fraction where it is one
    ("24000/1001"; it wrote "24/1", which `dailies list --json` writes "24")."""
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
