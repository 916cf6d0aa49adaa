"""Fix parameters: the text a coordinator writes (`frames=1012-1016`, `reference=1001`, `mask=x,y,w,h`),
parsed and checked by the head that uses it.

Each head declares a frozen `FixParams` subclass (its `params_type`) in its own module. Two steps, both
raising ParamError (one sentence naming the parameter and what to write):
1. `parse(raw)`: pure; the string values of the keys the head reads -> typed fields (a factor in its range,
   frame numbers, a rectangle). engine.heads.parse_fix_params picks those keys out of a request and refuses
   a key that no head reads.
2. `bind(shot)`: checks the fields against the footage (frames inside the shot, a rectangle inside the
   frame), loads what they name (a reference frame, mask images) and returns the head's apply() parameters.
`frame_factor()` says how many output frames each source frame step becomes (a retime's factor, else 1), and
`notes(shot)` what the fix did with a parameter besides taking it as written (a rectangle reaching past the
frame, cut to it), a sentence each, for the Version's description and `rushes fix`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from engine.baselines.color import CLIPPED_HIGH, CLIPPED_LOW
from engine.heads.errors import ParamError
from engine.media import MediaError, MediaInfo, probe, read_frames, read_image
from engine.media.alpha import has_alpha
from engine.media.decode import read_alpha
from engine.media.images import read_alpha_image, read_header
from engine.media.working import read_working, scene_linear, to_working


@dataclass(frozen=True)
class Shot:
    """The footage a fix runs on: its path (movie or sequence pattern) and what probe found in it."""

    path: str
    info: MediaInfo


@dataclass(frozen=True)
class FixParams:
    """A head's fix parameters, parsed; this base class is the params of a head that reads none."""

    keys: ClassVar[tuple[str, ...]] = ()  # the text keys the head reads

    @classmethod
    def parse(cls, raw: Mapping[str, str]) -> Self:
        """Typed params from `raw` (only `keys`, values stripped); ParamError when a value cannot work."""
        return cls()

    def bind(self, shot: Shot) -> dict[str, Any]:
        """apply()'s parameters for `shot`: checked against it, with what they name loaded."""
        return {}

    def frame_factor(self) -> int:
        """Output frames per source frame step (a retime's factor), else 1."""
        return 1

    def notes(self, shot: Shot) -> list[str]:
        """What the fix of `shot` does with these parameters besides taking them as written, a sentence each."""
        return []


def parse_int(name: str, text: str, low: int, high: int, example: str) -> int:
    """A whole number from `low` to `high` inclusive, or a ParamError naming `name` with an `example`."""
    try:
        value = int(text)
    except ValueError:  # also past Python's 4,300 digits
        said = text if len(text) <= 24 else f"{text[:12]}...({len(text)} characters)"
        raise ParamError(f"{name}={said} must be a whole number, e.g. {example}") from None
    if not low <= value <= high:
        raise ParamError(f"{name}={value} is out of range: use {low} to {high}, e.g. {example}")
    return value


QUALITIES = ("default", "best")  # the `quality` fix parameter of the heads that have a slower, better way


def parse_quality(text: str, best: str) -> str:
    """The `quality` fix parameter: "default" or "best" (`best`: what it costs, for the message)."""
    value = text.strip().lower()
    if value not in QUALITIES:
        raise ParamError(f"quality={text} is not a quality: write quality=best ({best}) or quality=default")
    return value


@dataclass(frozen=True)
class EnsembleParams(FixParams):
    """The params of a head whose one parameter is `quality`: "best" runs it as a self-ensemble of
    `best_ensemble` turned copies (its `ensemble` apply parameter, engine.heads.orientation)."""

    best_ensemble: ClassVar[int] = 4
    best_cost: ClassVar[str] = "4 turned copies, about 4x the time"  # what best costs, for the message
    quality: str = "default"

    @classmethod
    def parse(cls, raw: Mapping[str, str]) -> Self:
        return cls(quality=parse_quality(raw.get("quality", "default"), cls.best_cost))

    def bind(self, shot: Shot) -> dict[str, Any]:
        return {"ensemble": self.best_ensemble} if self.quality == "best" else {}


def frames_text(numbers: list[int], shown: int = 4) -> str:
    """A short list of frame numbers for a message: "1001, 1002, 1003, 1004 and 3 more"."""
    head = ", ".join(str(n) for n in numbers[:shown])
    return head + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")


# Loading what parameters name, at bind() time.

RECT = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff", ".dpx")


@dataclass(frozen=True)
class Rect:
    """A rectangle in pixels: left, top, width, height."""

    x: int
    y: int
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.width},{self.height}"

    def within(self, width: int, height: int) -> Rect:
        """The part of this rectangle inside a `width` x `height` frame (of no area when none is)."""
        x, y = min(self.x, width), min(self.y, height)
        return Rect(x, y, min(self.x + self.width, width) - x, min(self.y + self.height, height) - y)


def rect_note(rect: Rect, info: MediaInfo) -> str | None:
    """One sentence when `rect` reaches past the frame (it is cut to the frame), else None."""
    inside = rect.within(info.width, info.height)
    if inside == rect or not inside.width or not inside.height:
        return None
    return (
        f"mask={rect} reaches past the {info.width}x{info.height} frame: only its part inside it, {inside}, "
        "was cleaned."
    )


def load_mask(spec: Rect | str, info: MediaInfo) -> np.ndarray | dict[int, np.ndarray]:
    """A mask for every frame (a rectangle's bool H,W, True = fill; an image's coverage, uint8 H,W, 0-255), or one
    per frame number from a movie/sequence (lined up by _mask_offset; a shot frame without a mask frame is left as
    it is).
    White means fill."""
    if isinstance(spec, Rect):
        if not spec.width or not spec.height:
            raise ParamError(f"mask={spec} has no area: give its width and height (x,y,w,h) of 1 or more")
        inside = spec.within(info.width, info.height)  # a rectangle reaching past the frame is cut to it
        if not inside.width or not inside.height:
            raise ParamError(
                f"mask={spec} lies outside the {info.width}x{info.height} frame: give x,y,w,h inside it"
            )
        mask = np.zeros((info.height, info.width), bool)
        mask[inside.y : inside.y + inside.height, inside.x : inside.x + inside.width] = True
        return mask
    try:
        if Path(spec).suffix.lower() in IMAGE_SUFFIXES and Path(spec).is_file():
            sized = read_header(Path(spec))  # this file's own (probe would read a numbered one's sequence)
            _check_shape(f"mask={spec}", sized.width, sized.height, info)
            return _selecting(spec, [_framed(spec, _still_mask(spec), info)])[0]
        mask_info = probe(spec, sound=False)
        _check_shape(f"mask={spec}", mask_info.width, mask_info.height, info)
        offset = _mask_offset(mask_info, info)
        # only the mask frames of the shot's frames (the offset lines the two up, so some always are)
        lo = max(mask_info.first_frame, info.first_frame - offset)
        hi = min(mask_info.last_frame, info.last_frame - offset)
        masks = {n + offset: _framed(spec, m, info) for n, m in _sequence_masks(mask_info, lo, hi).items()}
        _selecting(spec, list(masks.values()))
        return masks
    except MediaError as exc:
        raise ParamError(f"mask={spec}: {exc.reason}; give x,y,w,h, an image, or a movie/sequence") from exc


def _still_mask(path: str) -> np.ndarray:
    """An image's mask: its alpha where it has one that is not opaque everywhere (a matte: opaque = fill, as a
    roto exported on transparency), else its white. An RGBA matte's alpha used to be dropped: the fill took its
    colour, all black (nothing filled) or all white (the whole frame)."""
    alpha = coverage(read_alpha_image(path))
    return alpha if is_matte([alpha]) else _white(read_image(path))


def _sequence_masks(mask: MediaInfo, lo: int, hi: int) -> dict[int, np.ndarray]:
    """A mask movie's or sequence's masks of frames lo..hi by its own numbers, read as _still_mask reads an image:
    its alpha where it has one that is not opaque everywhere (a roto written as RGBA), else its white. Their alpha
    used to be dropped: a cutout's bright plate was filled, a matte on black RGB refused as selecting no pixel."""
    if has_alpha(mask.pix_fmt):
        mattes = {n: coverage(a) for n, a in read_alpha(mask, lo, hi)}
        if is_matte(list(mattes.values())):
            return mattes
        del mattes  # opaque everywhere (a ProRes 4444 export's): its colour is the mask, read next
    return {f.number: _white(f.rgb) for f in read_frames(mask, lo, hi)}


def is_matte(alphas: list[np.ndarray]) -> bool:
    """Whether a mask's alpha (coverage) is its matte: transparent somewhere, less than half covered, in a frame;
    an alpha opaque everywhere leaves the mask to its colour."""
    return any(bool((alpha < HALF).any()) for alpha in alphas)


def _selecting(spec: str, masks: list[np.ndarray]) -> list[np.ndarray]:
    """`masks`, or ParamError when they select no pixel, or every pixel of every frame: a mask painted the other
    way round, or in a colour, "succeeded" with the plate unchanged or wholly refilled."""
    if not any(bool(covered(m).any()) for m in masks):
        raise ParamError(
            f"mask={spec} selects no pixel to clean: paint the region white on black (or opaque on transparent)"
        )
    if all(bool(covered(m).all()) for m in masks):
        raise ParamError(
            f"mask={spec} selects the whole frame: paint only the region to clean white, the rest black"
        )
    return masks


def mask_gaps(spec: Rect | str, info: MediaInfo) -> list[int]:
    """The shot's frame numbers a mask sequence skips inside its own range (a roto with a frame not rendered):
    those frames are left as they are, which the fix says. None for a rectangle, an image or a movie."""
    if isinstance(spec, Rect) or (Path(spec).suffix.lower() in IMAGE_SUFFIXES and Path(spec).is_file()):
        return []
    try:
        mask_info = probe(spec, sound=False)
    except MediaError:
        return []  # bind() has said why already
    offset = _mask_offset(mask_info, info)
    return sorted(n + offset for n in mask_info.missing_frames if n + offset in info.frame_range)


def _mask_offset(mask: MediaInfo, shot: MediaInfo) -> int:
    """What to add to a mask frame's number to get the shot frame it masks: 0 for a sequence whose numbers fall
    in the shot's numbered frames (a roto of frames 1010-1020 masks those frames), be the shot a sequence or a
    movie the show numbers (`movie_first_frame`, e.g. 1001: such a roto used to be slid onto the shot's first
    frames); else its first frame lines up with the shot's first (a mask movie counts from 0, a sequence may be
    numbered from 1 beside a movie counted from 0)."""
    overlaps = mask.first_frame <= shot.last_frame and mask.last_frame >= shot.first_frame
    numbered = shot.kind == "sequence" or shot.first_frame != 0
    if mask.kind == "sequence" and numbered and overlaps:
        return 0
    return shot.first_frame - mask.first_frame


# How far a mask's aspect ratio may stray from the shot's and still be the same picture at another size (a
# proxy's rounding: 853x480 against 1920x1080 is 0.05%); beyond it, scaling would move the hole.
MASK_ASPECT_TOLERANCE = 0.01
# A mask or a reference image may be up to this many times the shot's frames each way (a full-size still beside
# proxy dailies); beyond, it is refused before it is read.
MAX_SCALE = 4


def _framed(spec: str, mask: np.ndarray, info: MediaInfo) -> np.ndarray:
    """`mask` when it frames the shot's picture (the same size, or the same aspect ratio at another size,
    which the head scales: an anamorphic shot's mask may be painted on its desqueezed picture); else
    ParamError, since stretching it would fill the wrong place."""
    _check_framing(spec, mask.shape[1], mask.shape[0], info)
    return mask


def _check_framing(spec: str, w: int, h: int, info: MediaInfo) -> None:
    """_framed's check of a mask `w` x `h`."""
    if (h, w) != (info.height, info.width):
        aspect, stored = w / h, info.width / info.height
        shapes = (stored, stored * float(info.pixel_aspect))  # as stored, and as shown in square pixels
        if all(abs(aspect / shape - 1) > MASK_ASPECT_TOLERANCE for shape in shapes):
            raise ParamError(
                f"mask={spec} is {w}x{h}, not the shape of the shot's {info.width}x{info.height} frames:"
                " give a mask of the shot's size (or the same picture at another size)"
            )


def _check_shape(named: str, width: int, height: int, info: MediaInfo) -> None:
    """ParamError, before a mask's or a reference's pixels are converted (an EXR's not read: its header only),
    when it is more than MAX_SCALE times the shot's frames each way (a 35 kB 8000x4500 PNG named as the mask of a
    320x180 shot took a gigabyte to read), or, for a mask, not of their shape (_framed)."""
    if width > MAX_SCALE * info.width or height > MAX_SCALE * info.height:
        raise ParamError(
            f"{named} is {width}x{height}, more than {MAX_SCALE} times the shot's {info.width}x{info.height} "
            "frames: give one of the shot's size"
        )
    if named.startswith("mask="):
        _check_framing(named.removeprefix("mask="), width, height, info)


# A mask read from an image is its coverage, 0-255 (uint8, the size of a bool mask): a soft (feathered or
# anti-aliased) matte's edge is filled in proportion, as a compositor's merge through it would (cut at half, its
# outer feather, where a removed object's motion blur lies, was left in the plate and the fill ended in a hard
# edge). A pixel covered less than COVERED is left as it is (a JPEG's noise in the black); OPAQUE is full cover.
# A white a lossy mask (a JPEG, an H.264 mask movie) leaves at 247-254 is OPAQUE too: 2% of the plate showed through
# in its block pattern where a hard mask used to be filled whole.
COVERED = 8
OPAQUE = 255
HALF = 128


def coverage(values: np.ndarray) -> np.ndarray:
    """A matte's values (0..1 float) as coverage, uint8 0-255 (snapped: under COVERED none, within COVERED of
    OPAQUE whole)."""
    return snapped(np.asarray(np.clip(np.asarray(values, np.float32) * 255 + 0.5, 0, 255), np.uint8))


def snapped(cover: np.ndarray) -> np.ndarray:
    """Coverage (uint8) with what a lossy or scaled mask leaves near its ends put at them, in place."""
    cover[cover < COVERED] = 0
    cover[cover > OPAQUE - COVERED] = OPAQUE
    return cover


def covered(mask: np.ndarray) -> np.ndarray:
    """Where a mask (bool, or coverage uint8) fills."""
    return mask if mask.dtype == bool else np.asarray(mask >= COVERED)


def _white(rgb: np.ndarray) -> np.ndarray:
    """An RGB mask's coverage: white fills, black keeps, grey in between; a colour is its least channel (a mask
    painted red fills nothing, and is refused as selecting no pixel)."""
    return coverage(np.asarray(rgb, np.float32).min(axis=2))


# A reference with fewer of its pixels than this holding detail (neither black nor clipped, in every channel) has
# no look to match: an all-black still "succeeded" with the daily published unchanged as its regrade.
REFERENCE_DETAIL = 0.01


def load_reference(spec: int | str, shot: Shot) -> np.ndarray:
    """A reference frame (H,W,3): a frame number of the shot, or an image file; ParamError when it is black
    or clipped nearly everywhere."""
    image = _reference_image(spec, shot)
    share = detail_share(image)
    if share < REFERENCE_DETAIL:
        raise ParamError(
            f"reference={spec} is black or clipped nearly everywhere ({share:.1%} of its pixels hold detail), "
            "so it has no look to match: give a frame or a still that shows the look the shot should take"
        )
    return image


def detail_share(image: np.ndarray) -> float:
    """The share of `image`'s pixels whose every channel is neither black nor clipped (a code value from 2 to
    253 of 255), those a grade can be matched on."""
    values = np.asarray(image, np.float32)
    if np.issubdtype(np.asarray(image).dtype, np.integer):
        values = values / np.float32(np.iinfo(np.asarray(image).dtype).max)
    return float(((values > CLIPPED_LOW) & (values < CLIPPED_HIGH)).all(axis=-1).mean())


def _reference_image(spec: int | str, shot: Shot) -> np.ndarray:
    """load_reference's frame or image, read."""
    info = shot.info
    if isinstance(spec, int):
        if spec not in info.frame_range:
            raise ParamError(
                f"reference={spec} is outside the shot's frames {info.first_frame}-{info.last_frame}:"
                " give a frame number of the shot or an image file"
            )
        frame = next(iter(read_working(info, spec, spec)), None)  # as the head sees the shot
        if frame is None:
            raise ParamError(f"reference={spec}: that frame is missing from {shot.path}; give another")
        return frame.rgb
    if not Path(spec).is_file():
        raise ParamError(f"reference={spec} is neither a frame number of the shot nor an image file")
    light = scene_linear(spec)
    if light != scene_linear(info):  # a grade matched across the two would match an encoding, not a look
        holds = {True: "scene-linear light (EXR)", False: "a display picture"}
        like = "a still like it (PNG, TIFF, JPEG or DPX)" if light else "an EXR still"
        raise ParamError(
            f"reference={spec} holds {holds[light]} but the shot holds {holds[not light]}: give a frame of the "
            f"shot (reference={info.last_frame}, say) or {like}"
        )
    try:
        sized = read_header(Path(spec))  # this file's own (probe would read a numbered one's sequence)
        _check_shape(f"reference={spec}", sized.width, sized.height, info)
        image = read_image(spec)
    except MediaError as exc:
        raise ParamError(f"reference={spec}: {exc.reason}; give a frame number or a readable image") from exc
    return to_working(image) if light else image  # an EXR still is light, as an EXR shot is
