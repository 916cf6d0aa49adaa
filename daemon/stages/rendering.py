"""The render step of a fix: fixed frames streamed in, everything the supervisor reviews written out.

A RenderSink takes (number, before, after) frames one at a time and keeps memory constant: the review movie
(H.264), the before/after movie, an optional finishing deliverable (ProRes, DNxHR in MXF for an Avid
facility, or half-float EXR frames)
are encoded as frames arrive. finish() adds the thumbnail (the middle frame, read back from the review
movie), the .cube LUT of a regrade and the OTIO file, then moves the whole folder into place.

Everything is written into a temporary sibling folder `<out_dir>.tmp-<pid>` and renamed onto `out_dir`
at the end (an older render of the same name is swapped out in one step where the file system can), so
the publish step never sees half a render. A crash leaves only the temporary folder, which the next
render of the same plan removes; an exception inside the `with` block removes it at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from engine.color import DisplayView, in_rec709_primaries
from engine.lut import LutError, write_cube
from engine.media import (
    MediaError,
    MovieWriter,
    TimecodeError,
    offset_timecode,
    parse_sequence,
    read_frames_uint8,
    write_image,
)
from engine.media.alpha import with_alpha
from engine.media.aspect import SQUARE, desqueezed, square_size
from engine.media.audio import SoundSpan
from engine.media.encode import Codec, HeaderSource, dnxhr_pix_fmt, pause_frames, prores_pix_fmt
from engine.media.frames import exr_bit_depth
from engine.media.info import NO_MARGINS, ColourTags, Margins, Overscan
from engine.media.pixels import to_uint8
from integrations.editorial import EditorialError, clip_timeline, write_timeline

Finishing = Literal["none", "prores", "dnxhr", "exr"]
# The finishing movies: the file each is written to (after the Version's code) and its codec.
_DELIVERABLE_MOVIES: dict[str, tuple[str, Codec]] = {
    "prores": ("_prores.mov", "prores"),
    "dnxhr": ("_dnxhr.mxf", "dnxhr"),
}
BeforeAfter = Literal["side", "wipe"]

MAX_COMPARE_WIDTH = 1920  # the before/after movie is scaled down to at most this width
MAX_THUMB_WIDTH = 640
REVIEW_CRF = 18
# Review movies go to trackers that re-encode or trim them (Kitsu's normalisation drops the video of H.264 with
# B-frames and an edit list): no B-frames, which every review player and transcoder takes. A 10-frame rate
# control lookahead: x264's default 40 held 1.6 GB of 4K frames per encoder, 10 holds 0.9 GB (docs/benchmarks.md).
REVIEW_OPTIONS = {"bf": "0", "rc-lookahead": "10"}


def _review_writer(
    path: Path, plan: RenderPlan, width: int, height: int, timecode: str | None
) -> MovieWriter:
    """An H.264 review movie writer (REVIEW_CRF, no B-frames), with the daily's colour tags (a view's picture:
    its display's, engine.color.DisplayView.tags) and sound."""
    return MovieWriter(
        path,
        plan.fps,
        width,
        height,
        "h264",
        timecode,
        crf=REVIEW_CRF,
        options=REVIEW_OPTIONS,
        colour=plan.view.tags if plan.view is not None else plan.colour,
        sound=plan.sound,
    )


WIPE_BUFFER_CRF = 8  # the wipe's two-pass buffer: near lossless, encoded fast
BAND_COLOUR = (24, 24, 24)
TEXT_COLOUR = (235, 235, 235)
FONT = cv2.FONT_HERSHEY_SIMPLEX
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_DISK_FULL_TEXT = tuple(os.strerror(code) for code in _DISK_FULL)


class RenderError(Exception):
    """A render that cannot be written (one line: what failed and what to do)."""


@dataclass(frozen=True)
class RenderPlan:
    out_dir: Path  # final folder, e.g. <renders>/<show>/<shot>/<request_id>-<kind>
    name: str  # base file name, e.g. "sh010_interpolate_r12"
    kind: str  # the fix kind, for labels
    fps: Fraction
    first_frame: int  # number of the first output frame
    timecode: str | None  # of the first output frame
    finishing: Finishing = "none"
    before_after: BeforeAfter = "side"
    # A scene-referred daily's display transform (daemon.stages.viewing): the fixed frames go through it for
    # the review movie, the before/after and the ProRes deliverable, not for the EXR one; `before` frames
    # come already shown (daemon.stages.fixing.fixed_frames).
    view: DisplayView | None = None
    # Whether the ProRes deliverable is the view's picture too (a scene-referred daily, which has no display
    # picture of its own); False for an HDR movie, whose review pictures alone are tone-mapped through the view
    # and whose ProRes keeps the daily's encoding and `colour` tags.
    view_deliverable: bool = True
    # The daily's colour tags (engine.media.info.ColourTags), which the review, before/after and ProRes movies
    # carry so that players read their pixels as the daily's; None for BT.709. A view's picture (review movies, and
    # the ProRes of a scene-referred daily) carries its display's tags instead (engine.color.DisplayView.tags).
    colour: ColourTags | None = None
    # The digits of the daily's frame numbers (an image sequence's padding; 0 for a movie): the EXR
    # deliverable's frames have as many, and at least four.
    frame_digits: int = 0
    # What a regrade's .cube maps, in and out (daemon.stages.fixing.grade_space): its title says so.
    grade_space: str = "the daily's own code values"
    # The daily has alpha (and the fix keeps its frames' numbers): the ProRes deliverable is 4444 with it and
    # the EXR one has an A channel, each frame's the source frame's (add()'s `alpha`). Review movies have none.
    alpha: bool = False
    # The daily's sound (engine.media.audio.SoundSpan): the review, before/after and ProRes movies carry it from
    # the first frame on; None for a silent daily or a retime.
    sound: SoundSpan | None = None
    # How wide the daily's pixels show (engine.media.aspect; 2 for a 2x anamorphic squeeze): the ProRes and EXR
    # deliverables keep the fixed pixels as stored and say so; review, before/after and thumbnail pictures are
    # shown in square pixels, as the camera framed them, whatever the review player makes of the tag.
    pixel_aspect: Fraction = SQUARE
    # A sequence daily's frames: each EXR deliverable frame keeps the header of the frame it was made from (its
    # primaries, camera and lens metadata); None for a movie.
    headers: HeaderSource | None = None
    reel: str | None = (
        None  # the daily's reel name, which every deliverable keeps (a .mov's, an .mxf's tape, EXR)
    )
    # the daily's container tags (camera, creation time), which the deliverable keeps
    tags: dict[str, str] | None = None
    source_pix_fmt: str | None = None  # the daily's pixel format: the ProRes of a full-chroma daily is 4444
    # an interlaced daily's field order, which the deliverable keeps (the review stays progressive)
    scan: str | None = None
    # An EXR daily read with its overscan (daemon.stages.fixing.keeping_overscan): the EXR deliverable keeps it
    # past its display window, every movie and picture shows the display window.
    overscan: Overscan | None = None
    # A retime's output frames per daily frame (interpolate factor=), which the OTIO clip's metadata says; 1 else.
    retime: int = 1
    daily: str | None = None  # the daily's file (a sequence's pattern), named in the OTIO clip's metadata


@dataclass(frozen=True)
class RenderedFiles:
    review_movie: Path
    before_after: Path
    thumbnail: Path
    otio: Path
    frames: str | None  # ProRes or DNxHR movie path, or EXR sequence pattern (####), when finishing != none
    cube: Path | None  # the .cube LUT of a regrade
    first_frame: int
    last_frame: int
    frame_count: int
    rebuilt: tuple[int, ...] | None = None  # interpolate frames=auto: the repeated frames it rebuilt


# --- pixels -------------------------------------------------------------------------------------------


def as_uint8(rgb: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    return np.ascontiguousarray(to_uint8(rgb))


def fit(image: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    """`image` resized to width x height: area averaging to shrink, nearest neighbour to enlarge (shows the
    source's real pixels, e.g. the input of an upscale)."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    interpolation = cv2.INTER_AREA if width <= w and height <= h else cv2.INTER_NEAREST
    return cv2.resize(image, (width, height), interpolation=interpolation)  # type: ignore[return-value]


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


@dataclass(frozen=True)
class Layout:
    """Sizes of the before/after movie: one or two panels under a label band."""

    mode: BeforeAfter
    panel_width: int
    panel_height: int
    band_height: int
    font_scale: float
    thickness: int

    @classmethod
    def for_size(cls, mode: BeforeAfter, width: int, height: int) -> Layout:
        panels = 2 if mode == "side" else 1
        panel_width = min(width, MAX_COMPARE_WIDTH // panels)
        if mode == "wipe" or panel_width != width:
            panel_width = _even(panel_width)
        panel_height = _even(height * panel_width / width)
        scale = float(np.clip(panel_width / 1000, 0.35, 1.2))
        thickness = 1 if scale < 0.8 else 2
        (_, text_h), baseline = cv2.getTextSize("Ag", FONT, scale, thickness)
        band = _even(text_h + baseline + 2 * max(3, text_h // 2))
        return cls(mode, panel_width, panel_height, band, scale, thickness)

    @property
    def width(self) -> int:
        return self.panel_width * (2 if self.mode == "side" else 1)

    @property
    def height(self) -> int:
        return self.band_height + self.panel_height

    def band(self, left: str, right: str, counter: str = "") -> npt.NDArray[np.uint8]:
        """The dark label band: `left` over the left part, `right` right-aligned over the right part (side by
        side: from the right panel's start), and `counter` (the frame's number and timecode, burned in) at the
        far right side by side, centred in a wipe, where it fits beside the labels (else left out)."""
        band = np.empty((self.band_height, self.width, 3), np.uint8)
        band[:] = BAND_COLOUR
        (_, text_h), baseline = cv2.getTextSize("Ag", FONT, self.font_scale, self.thickness)
        y = (self.band_height + text_h - baseline) // 2 + baseline // 2
        pad = max(4, text_h // 2)
        left_w, right_w, counter_w = (self._text_width(text) for text in (left, right, counter))
        right_x = self.panel_width + pad if self.mode == "side" else self.width - right_w - pad
        texts = [(left, pad), (right, right_x)]
        if counter:
            if self.mode == "side":
                counter_x, room = self.width - counter_w - pad, (right_x + right_w + 2 * pad, self.width)
            else:
                counter_x, room = (self.width - counter_w) // 2, (pad + left_w + 2 * pad, right_x - 2 * pad)
            if room[0] <= counter_x and counter_x + counter_w <= room[1]:
                texts.append((counter, counter_x))
        for text, x in texts:
            cv2.putText(band, text, (x, y), FONT, self.font_scale, TEXT_COLOUR, self.thickness, cv2.LINE_AA)
        return band

    def _text_width(self, text: str) -> int:
        return int(cv2.getTextSize(text, FONT, self.font_scale, self.thickness)[0][0]) if text else 0


def side_by_side(
    before: npt.NDArray[np.uint8], after: npt.NDArray[np.uint8], layout: Layout, band: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8]:
    w, h = layout.panel_width, layout.panel_height
    frame = np.empty((layout.height, layout.width, 3), np.uint8)
    frame[: layout.band_height] = band
    frame[layout.band_height :, :w] = fit(before, w, h)
    frame[layout.band_height :, w:] = fit(after, w, h)
    return frame


def wipe(
    before: npt.NDArray[np.uint8],
    after: npt.NDArray[np.uint8],
    x: int,
    layout: Layout,
    band: npt.NDArray[np.uint8],
) -> npt.NDArray[np.uint8]:
    """`after` left of the line at column x, `before` right of it, the labels above."""
    frame = np.empty((layout.height, layout.width, 3), np.uint8)
    frame[: layout.band_height] = band
    frame[layout.band_height :, :x] = after[:, :x]
    frame[layout.band_height :, x:] = before[:, x:]
    line = max(1, layout.panel_width // 400)
    lo, hi = max(0, x - line), min(layout.width, x + line)
    frame[layout.band_height :, lo:hi] = TEXT_COLOUR
    return frame


def wipe_position(index: int, count: int, width: int) -> int:
    """The wipe line's column for frame `index` of `count`: from the left edge to the right one."""
    return width // 2 if count < 2 else round(width * index / (count - 1))


def thumbnail(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    h, w = rgb.shape[:2]
    if w <= MAX_THUMB_WIDTH:
        return rgb
    return fit(rgb, MAX_THUMB_WIDTH, max(1, round(h * MAX_THUMB_WIDTH / w)))


# --- folders ------------------------------------------------------------------------------------------


def temp_dir(out_dir: Path) -> Path:
    return out_dir.with_name(f"{out_dir.name}.tmp-{os.getpid()}")


def clear_leftovers(out_dir: Path) -> None:
    """Remove the temporary folders an interrupted render of `out_dir` left behind."""
    stem = glob.escape(out_dir.name)
    for pattern in (f"{stem}.tmp-*", f"{stem}.old-*"):
        for leftover in out_dir.parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    return int(renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)) == 0


def move_into_place(new: Path, target: Path) -> None:
    """Rename the finished folder `new` onto `target`, replacing an older one."""
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the old render
        return
    old = target.with_name(f"{target.name}.old-{os.getpid()}")
    os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        return True
    return isinstance(exc, MediaError) and any(text in exc.reason for text in _DISK_FULL_TEXT)


# --- the sink -----------------------------------------------------------------------------------------


class RenderSink:
    """Streams fixed frames into the review files of one plan; use as a context manager, call finish()."""

    def __init__(self, plan: RenderPlan) -> None:
        self.plan = plan
        self.tmp = temp_dir(plan.out_dir)
        self.count = 0
        self.first_number: int | None = None
        self.last_number: int | None = None
        self._size: tuple[int, int] | None = None  # after frames: width, height
        self._layout: Layout | None = None
        self._labels: tuple[str, str] | None = None
        self._wipe_numbers: list[int] = []  # the frame number each frame of the wipe's buffer shows
        self._writers: dict[str, MovieWriter] = {}
        self._pauses: dict[int, int] = {}  # frames written before a pause (MovieWriter.skip): its length
        self._exr = parse_sequence(str(self.tmp / f"{plan.name}{self._exr_frames}"))
        self._open = True
        with self._writing(plan.out_dir):
            plan.out_dir.parent.mkdir(parents=True, exist_ok=True)
            clear_leftovers(plan.out_dir)
            self.tmp.mkdir()

    # paths ----------------------------------------------------------------------------------------------

    def _path(self, folder: Path, suffix: str) -> Path:
        return folder / f"{self.plan.name}{suffix}"

    @property
    def _exr_frames(self) -> str:
        """The EXR deliverable's numbering: `.####.exr`, or as many digits as the daily's frames have (a plate
        numbered pl.001001.exr is relinked in the conform by six)."""
        return f".{'#' * max(self.plan.frame_digits, 4)}.exr"

    @property
    def _review(self) -> Path:
        return self._path(self.tmp, ".mp4")

    @property
    def _before_after(self) -> Path:
        return self._path(self.tmp, "_before_after.mp4")

    @property
    def _wipe_buffer(self) -> Path:
        return self._path(self.tmp, "_wipe_buffer.mkv")

    @property
    def _deliverable(self) -> Path:
        return self._path(self.tmp, _DELIVERABLE_MOVIES[self.plan.finishing][0])

    # errors ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self, path: Path) -> Iterator[None]:
        """Turn failures while writing `path` into one-line RenderErrors; the sink is abandoned."""
        final = self.plan.out_dir / path.relative_to(self.tmp) if path.is_relative_to(self.tmp) else path
        try:
            yield
        except RenderError:
            self.abort()
            raise
        except (OSError, MediaError, LutError, EditorialError, TimecodeError) as exc:
            self.abort()
            if is_disk_full(exc):
                raise RenderError(
                    f"disk full while writing {final}; free space on {self.plan.out_dir.parent}"
                ) from None
            reason = exc.reason if isinstance(exc, MediaError) else (getattr(exc, "strerror", None) or exc)
            raise RenderError(f"cannot write {final}: {reason}") from None

    def _fail(self, message: str) -> RenderError:
        self.abort()
        return RenderError(message)

    # streaming ------------------------------------------------------------------------------------------

    def __enter__(self) -> RenderSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()  # after finish() there is nothing left to remove

    def _check(self, number: int, before: npt.NDArray[Any], after: npt.NDArray[Any]) -> None:
        if not self._open:
            raise RenderError(f"render {self.plan.name} is already finished or abandoned; start a new one")
        for label, rgb in (("before", before), ("after", after)):
            if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
                raise self._fail(f"{label} frame {number} must be an HxWx3 RGB array, got shape {rgb.shape}")
        if self.last_number is not None and number <= self.last_number:
            raise self._fail(
                f"frame {number} comes after frame {self.last_number}; rendered frames must ascend"
            )
        size = (after.shape[1], after.shape[0])
        if self._size is not None and size != self._size:
            raise self._fail(
                f"frame {number} is {size[0]}x{size[1]} but the render started at "
                f"{self._size[0]}x{self._size[1]}; every fixed frame must have one size"
            )

    def _margins(self, frame: npt.NDArray[Any]) -> Margins:
        """The overscan an EXR frame made from `frame` keeps past its display window."""
        return NO_MARGINS if self.plan.overscan is None else self.plan.overscan.margins_of(frame.shape)

    def _band(self, number: int) -> npt.NDArray[np.uint8]:
        """The before/after's label band of frame `number`, its number and timecode burned in."""
        assert self._layout is not None and self._labels is not None
        timecode = self._movie_timecode(number)
        counter = f"{number}  {timecode}" if timecode is not None else str(number)
        return self._layout.band(*self._labels, counter=counter)

    def _movie_timecode(self, first_number: int) -> str | None:
        plan = self.plan
        if plan.timecode is None:
            return None
        try:
            return offset_timecode(plan.timecode, first_number - plan.first_frame, plan.fps)
        except TimecodeError as exc:
            raise self._fail(f"render {plan.name}: {exc}") from None

    def _start(self, number: int, width: int, height: int) -> None:
        plan = self.plan
        self._size = (width, height)
        self.first_number = number
        timecode = self._movie_timecode(number)
        width, height = square_size(width, height, plan.pixel_aspect)  # review pictures: square pixels
        self._layout = Layout.for_size(plan.before_after, width, height)
        labels = ("before", f"after: {plan.kind}")
        self._labels = labels if plan.before_after == "side" else labels[::-1]
        with self._writing(self._review):
            self._writers["review"] = _review_writer(self._review, plan, width, height, timecode)
        layout = self._layout
        if plan.before_after == "side":
            with self._writing(self._before_after):
                self._writers["before_after"] = _review_writer(
                    self._before_after, plan, layout.width, layout.height, timecode
                )
        else:
            with self._writing(self._before_after):
                self._writers["wipe_buffer"] = MovieWriter(
                    self._wipe_buffer,
                    plan.fps,
                    layout.panel_width,
                    2 * layout.panel_height,
                    "h264",
                    crf=WIPE_BUFFER_CRF,
                    pix_fmt="yuv444p",
                    preset="ultrafast",
                )
        if plan.finishing in _DELIVERABLE_MOVIES:
            codec = _DELIVERABLE_MOVIES[plan.finishing][1]
            pix_fmt = (
                dnxhr_pix_fmt(plan.source_pix_fmt)
                if codec == "dnxhr"
                else prores_pix_fmt(plan.source_pix_fmt, plan.alpha)
            )
            with self._writing(self._deliverable):
                self._writers["deliverable"] = MovieWriter(
                    self._deliverable,
                    plan.fps,
                    *self._size,
                    codec,
                    timecode,
                    pix_fmt=pix_fmt,
                    colour=plan.colour,
                    sound=plan.sound,
                    pixel_aspect=plan.pixel_aspect,
                    reel=plan.reel,
                    tags=plan.tags,
                    scan=plan.scan,
                )

    def compact(self, after: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """`after` as add() will use it, in as few bytes as keep every pixel it writes: 8 bits when every file
        of the plan is 8-bit (a 4K float32 frame is 100 MB, its 8 bits 25 MB), else as it is (ProRes takes 10
        bits, EXR the floats, a display transform the scene's values). For frames queued on their way here
        (daemon.stages.fixing.render)."""
        return as_uint8(after) if self.plan.finishing == "none" and self.plan.view is None else after

    def add(
        self,
        number: int,
        before: npt.NDArray[Any],
        after: npt.NDArray[Any],
        alpha: npt.NDArray[np.float32] | None = None,
    ) -> None:
        """One output frame: `after` is the fixed frame, `before` the source frame shown opposite it (any
        size; scaled to the after size for the comparison). HxWx3 float32 0..1 (or uint8). With a `view`,
        `after` holds the scene's values and `before` is already the display picture. With the plan's
        `alpha`, `alpha` is the source frame's (HxW, resized to `after` when it differs). With the plan's
        `overscan`, frames hold it: the EXR frames keep it, everything else shows the display window."""
        grown, grown_alpha = after, alpha
        if self.plan.overscan is not None:
            before, after = self.plan.overscan.shown(before), self.plan.overscan.shown(after)
            alpha = None if alpha is None else self.plan.overscan.shown(alpha)
        self._check(number, before, after)
        if self.plan.alpha and alpha is None:
            raise self._fail(f"frame {number} came without the alpha the plan of {self.plan.name} keeps")
        if self._size is None:
            self._start(number, after.shape[1], after.shape[0])
        assert self._layout is not None
        shown = after if self.plan.view is None else self.plan.view.shown(after)
        reviewed = desqueezed(shown, self.plan.pixel_aspect)
        movies: dict[str, npt.NDArray[Any]] = {"review": reviewed}
        if "deliverable" in self._writers:
            delivered = shown if self.plan.view_deliverable else after
            movies["deliverable"] = delivered if alpha is None else with_alpha(delivered, alpha)
        if self.plan.finishing == "exr":
            path = self._exr.path(number)
            kept = np.asarray(grown, np.float32) if grown_alpha is None else with_alpha(grown, grown_alpha)
            with self._writing(path):
                write_image(
                    path,
                    kept,
                    bit_depth=exr_bit_depth(self.plan.source_pix_fmt),  # a float plate's stays float
                    fps=self.plan.fps,
                    pixel_aspect=self.plan.pixel_aspect,
                    timecode=self._movie_timecode(number),  # each frame's own, as the daily's
                    like=None if self.plan.headers is None else self.plan.headers.path(number),
                    layers_from=None if self.plan.headers is None else self.plan.headers.layer_source(number),
                    overscan=self._margins(kept),
                    reel=self.plan.reel,
                )
        layout = self._layout
        before8, after8 = as_uint8(before), as_uint8(reviewed)
        if layout.mode == "side":
            movies["before_after"] = side_by_side(before8, after8, layout, self._band(number))
        else:
            w, h = layout.panel_width, layout.panel_height
            movies["wipe_buffer"] = np.concatenate([fit(before8, w, h), fit(after8, w, h)])
        # over a pause, the wipe's second pass leaves the same frame times empty before this frame
        hole = -1 if self.last_number is None else number - self.last_number - 1
        if hole > pause_frames(self.plan.fps):
            self._pauses[self._writers["review"].frames_written] = hole
        for key, frame in movies.items():  # over a hole in the numbers each movie keeps the shot's timing
            with self._writing(self._before_after if key == "wipe_buffer" else self._writers[key].path):
                written = self._writers[key].frames_written
                self._writers[key].write_at(number, frame)  # (the EXR frames keep the hole)
            if key == "wipe_buffer":  # a hole's frames hold the frame before it, and its number
                held = self._writers[key].frames_written - written - 1
                self._wipe_numbers += [number if self.last_number is None else self.last_number] * held + [
                    number
                ]
        self.count = self._writers["review"].frames_written
        self.last_number = number

    # finishing ------------------------------------------------------------------------------------------

    def _close(self, key: str) -> None:
        writer = self._writers.pop(key, None)
        if writer is not None:  # the wipe's buffer is named as the before/after movie it becomes
            with self._writing(self._before_after if key == "wipe_buffer" else writer.path):
                writer.close()

    def _write_wipe(self) -> None:
        """Second pass of a wipe: the buffered panels, composed now that the frame count is known."""
        assert self._layout is not None
        layout, plan = self._layout, self.plan
        timecode = self._movie_timecode(self.first_number or plan.first_frame)
        done = 0
        with self._writing(self._before_after):
            writer = _review_writer(self._before_after, plan, layout.width, layout.height, timecode)
            self._writers["before_after"] = writer
            h = layout.panel_height
            for frame in read_frames_uint8(self._wipe_buffer):
                x = wipe_position(done, self.count, layout.width)
                if done in self._pauses:
                    writer.skip(self._pauses[done])
                band = self._band(self._wipe_numbers[done])
                writer.write(wipe(frame.rgb[:h], frame.rgb[h : 2 * h], x, layout, band))
                done += 1
        if done != self.count:
            raise self._fail(
                f"the wipe buffer of {plan.name} holds {done} of {self.count} frames; render again"
            )
        self._close("before_after")
        self._wipe_buffer.unlink()

    def _write_thumbnail(self, path: Path) -> None:
        """The review movie's middle frame as a JPEG, in BT.709 primaries (a JPEG without a profile is shown as
        sRGB; a wide-gamut movie's frame kept in its own primaries looked paler than the movie beside it)."""
        middle = self.count // 2
        tags = self.plan.view.tags if self.plan.view is not None else self.plan.colour
        with self._writing(path):
            frame = next(iter(read_frames_uint8(self._review, middle, middle)))
            write_image(path, thumbnail(in_rec709_primaries(frame.rgb, tags)), quality=90)

    def finish(self, lut: npt.NDArray[Any] | None = None) -> RenderedFiles:
        """Close every file, add thumbnail, .cube (when `lut` is given: N,N,N,3) and OTIO, move into place."""
        plan = self.plan
        if not self._open:
            raise RenderError(f"render {plan.name} is already finished or abandoned; start a new one")
        if self.count == 0 or self.first_number is None or self.last_number is None:
            raise self._fail(f"render {plan.name} got no frames; the fix produced nothing to review")
        for key in ("review", "deliverable", "before_after", "wipe_buffer"):
            self._close(key)
        if plan.before_after == "wipe":
            self._write_wipe()
        self._write_thumbnail(self._path(self.tmp, ".jpg"))
        if lut is not None:
            cube = self._path(self.tmp, ".cube")
            with self._writing(cube):
                write_cube(
                    cube,
                    np.asarray(lut, np.float32),
                    title=f"{plan.name} {plan.kind}: {plan.grade_space} in and out",
                )
        review_final = self._path(plan.out_dir, ".mp4")
        frames: str | None = None
        if plan.finishing in _DELIVERABLE_MOVIES:
            frames = str(self._path(plan.out_dir, _DELIVERABLE_MOVIES[plan.finishing][0]))
        elif plan.finishing == "exr":
            frames = str(self._path(plan.out_dir, self._exr_frames))
        otio_path = self._path(self.tmp, ".otio")
        length = self.last_number - self.first_number + 1  # the movie's frame times, its pauses' too
        with self._writing(otio_path):
            timecode = self._movie_timecode(self.first_number)
            timeline = clip_timeline(
                plan.name,
                str(review_final),
                self.first_number,
                length,
                plan.fps,
                timecode,
                reel=plan.reel,
                sound=plan.sound is not None,
                deliverable=frames,  # what a conform relinks to; the review movie beside it
                retime=plan.retime,
                daily=plan.daily,
            )
            write_timeline(otio_path, timeline)
        with self._writing(plan.out_dir):
            move_into_place(self.tmp, plan.out_dir)
        self._open = False
        return RenderedFiles(
            review_movie=review_final,
            before_after=self._path(plan.out_dir, "_before_after.mp4"),
            thumbnail=self._path(plan.out_dir, ".jpg"),
            otio=self._path(plan.out_dir, ".otio"),
            frames=frames,
            cube=self._path(plan.out_dir, ".cube") if lut is not None else None,
            first_frame=self.first_number,
            last_frame=self.last_number,
            frame_count=self.count,
        )

    def abort(self) -> None:
        """Abandon the render: close the encoders and remove the temporary folder (idempotent)."""
        if not self._open:
            return
        self._open = False
        for writer in self._writers.values():
            with contextlib.suppress(Exception):
                writer.__exit__(RenderError, None, None)  # discards its temporary file
        self._writers.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)


__all__ = ["RenderError", "RenderPlan", "RenderSink", "RenderedFiles"]
