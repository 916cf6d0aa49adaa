"""The encoding the heads work in: display-referred frames as they are, scene-linear ones through a log curve.

The heads and their classical tools take values within 0..1 and keep 8 bits where they quantize (the training
cache, NL-means). A movie, a DPX, PNG or JPEG frame is display-referred (or a camera's log): already so. An
EXR holds scene-linear light (the format's convention): its highlights go far above 1.0 and its shadows need
far more than 8 bits' steps, so as it is a fix would clip every light at 1.0 and an 8-bit step would band its
shadows. Its frames are therefore worked on in ACEScct's encoding (the Academy's log curve, S-2016-001, with
its linear toe), applied per channel in whatever primaries the EXR holds: 0..222.9 maps to 0..1, mid grey
0.18 to 0.41, about 14.6 steps of 8 bits a stop. `to_working` goes in, `from_working` comes back exactly (up
to float rounding); negative values (out-of-gamut pixels) follow the toe's straight line and clip at 0 in the
heads.

In that encoding an error is a ratio of light: a head's overshoot of 0.1 at an edge is 1.75 stops, so the
ringing of an upscale or the colour shift of NL-means near a light would come back many times brighter than
anything in the shot. A fix that does not set out to change exposure (all but regrade) therefore keeps its
frames within the working values the shot's frames have shown so far (`SeenRange`).

Every read of a daily for the heads goes through `read_working` / `read_working_uint8` (training, a fix's
source and its regrade reference frames, approved pairs); a fix's frames are turned back with
`from_working` before they are written, so an EXR comes back scene-linear.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .decode import Source, read_frames, read_frames_uint8
from .frames import Frame
from .info import ColourTags, MediaInfo
from .pixels import to_float32, to_uint8

F32 = npt.NDArray[np.float32]

# The name a model's manifest records for the encoding its scene-linear clips were read in.
WORKING_ENCODING = "ACEScct"

# ACEScct (S-2016-001): the linear toe below X_BREAK, log2 above it.
X_BREAK = 0.0078125
Y_BREAK = 0.155251141552511
TOE_SLOPE = 10.5402377416545
TOE_OFFSET = 0.0729055341958355
LOG_OFFSET, LOG_SCALE = 9.72, 17.52

SCENE_LINEAR_SUFFIXES = (".exr",)


def scene_linear(source: Source) -> bool:
    """Whether a source holds scene-linear light (an EXR movie or sequence), worked on through the log curve."""
    path = source.path if isinstance(source, MediaInfo) else str(source)
    return Path(path).suffix.lower() in SCENE_LINEAR_SUFFIXES


def display_encoded_exr(name: str, colour: ColourTags | None, instead: str) -> str:
    """Why a daily that is not scene-linear is not written as EXR frames: their values would be its display
    encoding, which compositing (and Rushes' own reading of an EXR) takes for linear light."""
    encoding = f" ({colour.transfer_name()})" if colour is not None else ""
    return (
        f"EXR frames hold scene-linear light, and {name}'s pictures are display-encoded{encoding}: Rushes does not "
        f"turn them into linear light, so as EXR they would read wrong in the comp; {instead}"
    )


def to_working(rgb: npt.NDArray[np.floating]) -> F32:
    """Scene-linear values in the log encoding (float32)."""
    x = np.asarray(rgb, np.float32)
    logged = (np.log2(np.maximum(x, np.float32(X_BREAK))) + np.float32(LOG_OFFSET)) / np.float32(LOG_SCALE)
    return np.where(x <= X_BREAK, np.float32(TOE_SLOPE) * x + np.float32(TOE_OFFSET), logged).astype(
        np.float32
    )


def from_working(rgb: npt.NDArray[np.generic]) -> F32:
    """Log-encoded values (float, or uint8/uint16 codes) back to scene-linear light (float32)."""
    y = to_float32(np.asarray(rgb))
    linear = np.exp2(np.maximum(y, np.float32(Y_BREAK)) * np.float32(LOG_SCALE) - np.float32(LOG_OFFSET))
    return np.where(y <= Y_BREAK, (y - np.float32(TOE_OFFSET)) / np.float32(TOE_SLOPE), linear).astype(
        np.float32
    )


@dataclass
class SeenRange:
    """The lowest and highest working values of the frames seen so far; `clip` keeps a frame within them."""

    low: float = float("inf")
    high: float = float("-inf")

    def see(self, frame: npt.NDArray[np.floating]) -> None:
        self.low = min(self.low, float(frame.min()))
        self.high = max(self.high, float(frame.max()))

    def clip(self, frame: npt.NDArray[np.generic]) -> F32:
        values = to_float32(np.asarray(frame))
        return values if self.low > self.high else np.clip(values, self.low, self.high).astype(np.float32)


HELD = 64  # source frames ExactLight holds at most (as many as a fix's frames in flight)


@dataclass
class ExactLight:
    """The source frames in flight of a 32-bit float EXR, so that the pixels a fix leaves as they were (the frames
    an interpolate keeps, the picture outside a cleanup mask) go back bit for bit: the log encoding's round trip
    is exact only to half float's precision (40.0 came back 39.999996). `keep` each frame as it is read, with the
    working values the head is given, `restored` each fixed frame as it is written, frames written in ascending
    numbers."""

    frames: dict[int, tuple[F32, F32]] = field(default_factory=dict)  # by number: (light, working values)

    def keep(self, number: int, linear: npt.NDArray[np.floating], working: F32) -> None:
        self.frames[number] = (np.asarray(linear, np.float32), working)
        while len(self.frames) > HELD:
            del self.frames[next(iter(self.frames))]

    def restored(self, number: int, working: npt.NDArray[np.generic], fixed: F32) -> F32:
        """`fixed` (from_working of the head's `working` frame, made at source frame `number`: a retime's frames
        between two source frames at the earlier) with each pixel the head left at that frame's working value given
        back its own light; frames before `number` are let go."""
        for held in [n for n in self.frames if n < number]:
            del self.frames[held]
        original, given = self.frames.get(number, (None, None))
        if original is None or given is None or original.shape != fixed.shape:
            return fixed
        left = np.all(np.asarray(working) == given, axis=-1)
        if not left.any():
            return fixed
        out = fixed.copy()
        out[left] = original[left]
        return out


def read_working(source: Source, start: int | None = None, end: int | None = None) -> Iterator[Frame]:
    """read_frames, in the working encoding (float32); a bad source or range fails at the call, as there."""
    frames = read_frames(source, start, end)
    if not scene_linear(source):
        return frames
    return (Frame(f.number, to_working(f.rgb)) for f in frames)


def read_working_uint8(
    source: Source, start: int | None = None, end: int | None = None, *, linear: bool | None = None
) -> Iterator[Frame]:
    """read_frames_uint8, in the working encoding: of the source's own kind, or of a daily that is `linear`
    when given (a fix's EXR frames hold what its daily held, whatever their format)."""
    if not (scene_linear(source) if linear is None else linear):
        return read_frames_uint8(source, start, end)
    return (Frame(f.number, to_uint8(to_working(f.rgb))) for f in read_frames(source, start, end))
