"""Proof that media can be read before anyone relies on it: sizes a head can work on, and sampled decodes.

A probe that only reads headers lets through a movie whose frames cannot be decoded, a sequence with one
corrupt frame in the middle, or a 1x1 picture no head can train on; all of these then fail much later, in
training or in a fix. The checks here, run by `probe()`:
- every picture is between MIN_SIDE and MAX_SIDE pixels on each side (MIN_SIDE: the smallest frame the
  heads' patches and the 2x upscale can use; MAX_SIDE: a header claiming more is corrupt or hostile and
  would exhaust memory on decode);
- a sequence: every frame's header (engine.media.headers: signature, size, written to its end) with the
  same size as the first frame, and a full decode of its first, middle and last frames;
- a movie: a full decode of its first, middle and last frames, each of the promised size.
Each failure is a MediaError with one line naming the frame and the problem.
"""

from __future__ import annotations

from pathlib import Path

from .decode import SEEK_MIN_FRAMES, read_frames_uint8
from .headers import frame_size
from .images import read_image
from .info import MediaError, MovieEnded
from .sequences import SequenceFiles

MIN_SIDE = 16
MAX_SIDE = 16384


def check_size(width: int, height: int, where: str) -> None:
    """MediaError unless both sides are within MIN_SIDE..MAX_SIDE pixels."""
    if width <= 0 or height <= 0:  # FFmpeg refused the size its header declares
        raise MediaError(
            "its picture size is unknown (the decoder refused the size in its header, which is likely corrupt); "
            "export it again",
            where,
        )
    if width < MIN_SIDE or height < MIN_SIDE:
        raise MediaError(
            f"too small: {width}x{height} pixels; Rushes needs at least {MIN_SIDE}x{MIN_SIDE}", where
        )
    if width > MAX_SIDE or height > MAX_SIDE:
        raise MediaError(
            f"too large: {width}x{height} pixels; Rushes reads at most {MAX_SIDE} pixels on a side", where
        )


def sampled(numbers: list[int]) -> list[int]:
    """The first, middle and last of some frame numbers (fewer when there are fewer)."""
    if not numbers:
        return []
    return sorted({numbers[0], numbers[len(numbers) // 2], numbers[-1]})


def naming_frame(number: int, exc: MediaError) -> MediaError:
    """`exc` (one frame's) with its frame number leading its reason, which is all a quarantine keeps: the
    operator of a 2,000-frame sequence learns which file to replace."""
    if exc.reason.startswith("frame "):
        return exc
    return MediaError(f"frame {number}: {exc.reason}", exc.path)


def verify_sequence(seq: SequenceFiles, width: int, height: int) -> None:
    """Every frame's header says (width, height) and the sampled frames decode to that size; a frame that
    cannot be read is named in the reason."""
    check_size(width, height, seq.spec.pattern)
    for number, path in seq.files.items():
        try:
            size = frame_size(path)
        except MediaError as exc:
            raise naming_frame(number, exc) from None
        if size != (width, height):
            raise MediaError(
                f"frame {number} is {size[0]}x{size[1]} but the sequence is {width}x{height}", str(path)
            )
    for number in sampled(list(seq.files)):
        try:
            rgb = read_image(seq.files[number], "uint8")
        except MediaError as exc:
            raise naming_frame(number, exc) from None
        if rgb.shape[:2] != (height, width):
            raise MediaError(
                f"frame {number} decodes to {rgb.shape[1]}x{rgb.shape[0]}, not {width}x{height}",
                str(seq.files[number]),
            )


def verify_movie(
    path: Path, frame_count: int, width: int, height: int, *, first_decoded: bool = False
) -> None:
    """The first, middle and last frames decode, upright, to (width, height). first_decoded: the caller has
    decoded frame 0 already (probe does, for the rotation). Middle and last frames close together are read
    in one pass (one seek), far apart with one seek each."""
    check_size(width, height, str(path))
    wanted = [i for i in sampled(list(range(frame_count))) if not (first_decoded and i == 0)]
    spans: list[tuple[int, int]] = []
    for index in wanted:
        if spans and index - spans[-1][1] <= 2 * SEEK_MIN_FRAMES:
            spans[-1] = (spans[-1][0], index)
        else:
            spans.append((index, index))
    for lo, hi in spans:
        try:
            seen = {
                f.number: f.rgb.shape
                for f in read_frames_uint8(path, lo, hi, first_frame=0)
                if f.number in wanted
            }
        except MovieEnded as ended:  # what a user meets is the file, not the frames verification asked for
            raise MediaError(
                f"its video holds {frame_count} frames but only {ended.decoded} decode: a movie cut without "
                "re-encoding (starting or ending mid-GOP) cannot be read whole; export it again, re-encoded",
                str(path),
            ) from None
        for index in (i for i in wanted if lo <= i <= hi):
            if index not in seen:
                raise MediaError(f"frame {index} cannot be decoded", str(path))
            shape = seen[index]
            if shape[:2] != (height, width):
                raise MediaError(
                    f"frame {index} decodes to {shape[1]}x{shape[0]}, not {width}x{height}", str(path)
                )
