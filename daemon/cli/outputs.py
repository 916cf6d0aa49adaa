"""Where `rushes fix` writes: never over its input, and whole or not at all.

- `overwrites(input, output)`: the output is the source file itself, or the same sequence's frames under
  any spelling (`####`, `%04d`, one member frame); the command refuses it before reading anything.
- `write_output`: numbered frames in. A movie goes through MovieWriter (a hidden temp file renamed into place
  at the end), its frames one after another; a sequence keeps each frame's number (a source with holes keeps
  them) and is written into a hidden folder beside its destination, its frames moved into place only once
  every frame is written, so a failed fix leaves no frames behind; then the frames of the same pattern that an
  earlier write left and this fix did not make are removed, so the sequence holds this fix's frames only.
- `existing_output(output)`: the files a fix to `output` would replace (the movie or image, or every frame of
  the pattern in its folder); `rushes fix` refuses an output that exists unless given --overwrite.
- `Carried`: what an output keeps of its source: rate, timecode (a movie's, and each frame's of an EXR or DPX
  sequence), colour tags, sound (a movie output carries the
  source movie's sound when given one, daemon.stages.fixing.carried_sound), pixel aspect (in any output) and
  each source frame's header (an EXR's attributes, a DPX's film and television headers) in a sequence of the
  same format.
- `carries_alpha(output)`: whether the output's format holds the alpha of a source that has one (a PNG,
  TIFF, DPX or EXR sequence; .mov/.mxf as ProRes 4444); the fix then hands HxWx4 frames
  (daemon.stages.fixing.fixed_frames). JPEG, .mp4 and .mkv have none.
- `terminate_cleanly()`: while it is active SIGTERM raises SystemExit(143) in the main thread, so the temp
  file or folder is removed on the way out as on any error. SIGKILL cannot be caught: it may leave a hidden
  `.NAME.HOST-PID-TOKEN.tmp` file or folder (ingest ignores both), never a half-written output; the next
  write of the same output on this host removes it (engine.media.files.sweep_stale_temps).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import FrameType
from typing import Any

from daemon.cli import exits
from engine.media import MediaError, MovieWriter, parse_sequence, write_image, write_numbered_sequence
from engine.media.aspect import SQUARE
from engine.media.audio import SoundSpan
from engine.media.encode import DNXHR_MIN_SIZE, Codec, HeaderSource, dnxhr_pix_fmt, prores_pix_fmt
from engine.media.files import prepare_output, temp_name
from engine.media.frames import exr_bit_depth, known_bit_depth
from engine.media.info import NO_MARGINS, ColourTags, Overscan
from engine.media.sequences import SequenceSpec, frameset_string, is_image_path, is_pattern
from engine.media.timecode import FrameTimecode

# Movie outputs in ProRes (what an editorial hand-off expects of them: 422 HQ, or 4444 for a full-chroma source,
# engine.media.encode.prores_pix_fmt); others (.mp4, .mkv) in H.264.
PRORES_SUFFIXES = (".mov", ".mxf")


# Image formats without an alpha channel.
NO_ALPHA_SUFFIXES = (".jpg", ".jpeg")
HELD = (signal.SIGINT, signal.SIGTERM)  # what a fix holds back while it puts its output in place


def is_sequence(path: str) -> bool:
    """Whether an output is images: a sequence's pattern (sh010.####.exr) or one image (plate_fixed.png)."""
    return is_pattern(path) or is_image_path(path)


def is_still(path: str) -> bool:
    """Whether an output is one image: an image's name, no pattern (digits in it are part of the name)."""
    return is_image_path(path) and not is_pattern(path)


def _frames(text: str) -> bool:
    return is_pattern(text) or is_image_path(text)


def overwrites(input_: str, output: str) -> bool:
    """Whether writing `output` would replace the source (the same file, or the same sequence's frames)."""
    if _frames(input_) != _frames(output):
        return False
    if _frames(output):
        src, dst = parse_sequence(input_), parse_sequence(output)
        same_folder = src.directory.resolve() == dst.directory.resolve()
        return same_folder and (src.head, src.extension) == (dst.head, dst.extension)
    source, target = Path(input_), Path(output)
    if source.resolve() == target.resolve():
        return True
    try:  # the same file by another name: a hard link, or another case on a case-insensitive share (IN.MOV)
        return target.exists() and os.path.samefile(source, target)
    except OSError:
        return False


def existing_output(output: str) -> list[Path]:
    """The files already there that a fix to `output` would replace: the movie or the image, or every frame of the
    sequence's pattern in its folder, whatever its number (an earlier fix's frames that this one may not make)."""
    if not is_pattern(output):
        path = Path(output)
        return [path] if path.exists() and not path.is_dir() else []
    return sorted(_pattern_members(parse_sequence(output)).values())


def output_state(output: str) -> tuple[tuple[str, int, int], ...]:
    """What is at `output` now, file by file (path, inode, modification time): a fix stopped by a signal tells
    from it whether its output was put in place before the signal came."""
    state = []
    for path in existing_output(output):
        try:
            stat = path.stat()
        except OSError:
            continue
        state.append((str(path), stat.st_ino, stat.st_mtime_ns))
    return tuple(state)


@contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM held back for the duration and delivered at its end: a sequence's frames moved into
    place one by one are all moved, never a mix of this fix's frames and the ones there before. Held by handlers
    that note them (a signal mask would hold them for this thread only: the codecs' threads would take them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {signum: signal.signal(signum, lambda got, _frame: caught.append(got)) for signum in HELD}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught:
            signal.raise_signal(caught[0])  # to the handler it had: SystemExit(143), KeyboardInterrupt


def existing_output_text(output: str, existing: list[Path]) -> str:
    """What `existing_output` found, in a few words: "a movie", "an image" or "5 frames, 1001-1005"."""
    if not is_pattern(output):
        return "an image" if is_still(output) else "a movie"
    numbers = sorted(_pattern_members(parse_sequence(output)))
    return f"{len(existing)} frame(s), {frameset_string(numbers)}"


def _pattern_members(spec: SequenceSpec) -> dict[int, Path]:
    """Every file of the folder named as a frame of `spec` (empty ones too), by number."""
    member = re.compile(rf"^{re.escape(spec.head)}(-?)(\d+){re.escape(spec.tail)}$")
    found: dict[int, Path] = {}
    try:
        entries = list(os.scandir(spec.directory))
    except OSError:
        return found
    for entry in entries:
        m = member.match(entry.name)
        digits = m[2] if m else ""
        if not m or (len(digits) != spec.padding and not (len(digits) > spec.padding and digits[0] != "0")):
            continue
        if not entry.is_dir():
            found[-int(digits) if m[1] else int(digits)] = Path(entry.path)
    return found


def carries_alpha(output: str) -> bool:
    """Whether the output's format holds an alpha channel."""
    suffix = Path(output).suffix.lower()
    return suffix not in NO_ALPHA_SUFFIXES if is_sequence(output) else suffix in PRORES_SUFFIXES


@contextmanager
def terminate_cleanly() -> Iterator[None]:
    """SIGTERM becomes SystemExit(143) for the duration, so outputs in progress are discarded cleanly."""

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(exits.TERMINATED)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass(frozen=True)
class Carried:
    """What an output keeps of its source besides the frames: its rate and timecode, its colour tags (a movie's),
    its sound (a movie's: daemon.stages.fixing.carried_sound) and its pixel aspect (anamorphic frames)."""

    fps: Fraction
    timecode: str | None = None  # of the source's first frame, numbered `first_frame`
    first_frame: int = 0
    colour: ColourTags | None = None
    sound: SoundSpan | None = None
    pixel_aspect: Fraction = SQUARE
    headers: HeaderSource | None = None  # a sequence's frames, whose headers an EXR or DPX output keeps
    reel: str | None = (
        None  # the reel name, which a .mov keeps beside the timecode, an .mxf as its tape, EXRs
    )
    tags: dict[str, str] | None = None  # a movie's container tags about its footage (camera, creation time)
    pix_fmt: str | None = None  # the source's pixel format: ProRes 4444 for full chroma (prores_pix_fmt)
    codec: str | None = None  # the source's codec: a DNxHD/DNxHR daily's .mov/.mxf fix is DNxHR (movie_codec)
    scan: str | None = None  # an interlaced source's field order, which its movie keeps
    # frames read with their overscan, which EXR frames keep (daemon.stages.fixing.keeping_overscan)
    overscan: Overscan | None = None


def write_output(output: str, frames: Iterable[tuple[int, Any]], carried: Carried) -> int:
    """Write fixed (number, frame) pairs to a movie or a sequence, whole or not at all, with what it keeps of its
    source (`carried`); returns how many."""
    if is_still(output):
        return _write_still(Path(output), frames, carried)
    if is_sequence(output):
        return _write_sequence_whole(output, frames, carried)
    return _write_movie(Path(output), frames, carried)


# formats written in 8 or 16 bits (DPX keeps its source's own)
EIGHT_OR_SIXTEEN_BIT = (".png", ".tif", ".tiff")


def kept_depth(output: str, pix_fmt: str | None) -> int | None:
    """8 where the output is PNG or TIFF and its source has 8 bits a component (an 8-bit PNG, JPEG or H.264
    daily): its fix is written in the bits it came in, not twice the size; 32 where the output is EXR and its
    source a full-float EXR. None: the writer's own choice (16 bits from floating-point frames, half EXR)."""
    if Path(output).suffix.lower() == ".exr":
        return exr_bit_depth(pix_fmt)
    if Path(output).suffix.lower() not in EIGHT_OR_SIXTEEN_BIT:
        return None
    bits = known_bit_depth(pix_fmt)
    return 8 if bits == 8 else None


def _write_sequence_whole(output: str, frames: Iterable[tuple[int, Any]], carried: Carried) -> int:
    spec = parse_sequence(output)
    try:
        spec.directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MediaError(
            f"cannot create the output folder: {exc.strerror or exc}", str(spec.directory)
        ) from None
    staging = temp_name(prepare_output(spec.directory / (spec.head or "frames")))
    try:
        staging.mkdir()
    except OSError as exc:  # a folder that exists but may not be written
        raise MediaError(
            f"cannot write in the output folder: {exc.strerror or exc}", str(spec.directory)
        ) from None
    try:
        timecode = (
            None
            if carried.timecode is None
            else FrameTimecode(carried.first_frame, carried.timecode, carried.fps)
        )
        written = write_numbered_sequence(
            str(staging / Path(output).name),
            frames,
            fps=carried.fps,
            bit_depth=kept_depth(output, carried.pix_fmt),
            pixel_aspect=carried.pixel_aspect,
            timecode=timecode,
            like=carried.headers,
            overscan=carried.overscan,
            reel=carried.reel,
        )
        if not written:
            raise MediaError("the fix produced no frames", output)
        earlier = _pattern_members(spec)
        with signals_held():
            for path in written:
                os.replace(path, spec.directory / path.name)
            _remove_stale_frames(earlier, {spec.directory / path.name for path in written})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(written)


def _remove_stale_frames(earlier: dict[int, Path], kept: set[Path]) -> None:
    """Remove the frames an earlier write of the same pattern left that this fix did not make (a longer clip's
    tail, a hole's made frame), so the sequence is this fix's alone."""
    for path in earlier.values():
        if path not in kept:
            path.unlink(missing_ok=True)


def _write_still(path: Path, frames: Iterable[tuple[int, Any]], carried: Carried) -> int:
    """The one frame of a fix of one image, written as an image with its source's header."""
    made = list(itertools.islice(frames, 2))
    if len(made) != 1:
        raise MediaError(f"the fix made {len(made)} frames where one image was to be written", str(path))
    number, rgb = made[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(
        path,
        rgb,
        bit_depth=kept_depth(str(path), carried.pix_fmt),
        fps=carried.fps,
        pixel_aspect=carried.pixel_aspect,
        timecode=carried.timecode,
        like=None if carried.headers is None else carried.headers.path(number),
        layers_from=None if carried.headers is None else carried.headers.layer_source(number),
        overscan=NO_MARGINS if carried.overscan is None else carried.overscan.margins_of(rgb.shape),
        reel=carried.reel,
    )
    return 1


def movie_codec(path: Path, carried: Carried, frame_shape: tuple[int, ...]) -> tuple[Codec, str | None]:
    """The codec and pixel format of a movie output: H.264 in .mp4/.mkv; in .mov/.mxf ProRes (4444 for a
    full-chroma source or alpha), or DNxHR for a DNxHD/DNxHR source (an Avid facility's), where its frames are
    large enough and have no alpha to keep."""
    if path.suffix.lower() not in PRORES_SUFFIXES:
        return "h264", None
    height, width, channels = frame_shape
    avid = carried.codec == "dnxhd" and width >= DNXHR_MIN_SIZE[0] and height >= DNXHR_MIN_SIZE[1]
    if avid and channels == 3:
        return "dnxhr", dnxhr_pix_fmt(carried.pix_fmt)
    return "prores", prores_pix_fmt(carried.pix_fmt, channels == 4)


def _write_movie(path: Path, frames: Iterable[tuple[int, Any]], carried: Carried) -> int:
    """The frames in a movie, which keeps the shot's timing over holes in their numbers (MovieWriter.write_at):
    returns how many frames it holds."""
    writer: MovieWriter | None = None
    try:
        for number, frame in frames:
            if writer is None:
                codec, pix_fmt = movie_codec(path, carried, frame.shape)
                writer = MovieWriter(
                    path,
                    carried.fps,
                    frame.shape[1],
                    frame.shape[0],
                    codec=codec,
                    timecode=carried.timecode,
                    pix_fmt=pix_fmt,
                    colour=carried.colour,
                    sound=carried.sound,
                    pixel_aspect=carried.pixel_aspect,
                    reel=carried.reel,
                    tags=carried.tags,
                    scan=carried.scan,
                )
                writer.__enter__()
            writer.write_at(number, frame)
    except BaseException as exc:
        if writer is not None:
            writer.__exit__(type(exc), exc, exc.__traceback__)
        raise
    if writer is None:
        raise MediaError("the fix produced no frames", str(path))
    writer.__exit__(None, None, None)
    return writer.frames_written
