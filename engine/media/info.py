"""What a piece of media is (MediaInfo) and how reading it fails (MediaError)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # the facts of a file need no numpy to be read
    import numpy.typing as npt

MediaKind = Literal["movie", "sequence"]
Margins = tuple[int, int, int, int]  # left, top, right, bottom, in pixels
NO_MARGINS: Margins = (0, 0, 0, 0)


class MediaError(Exception):
    """Media that cannot be read or written; `reason` is one line, fit for a quarantine record."""

    def __init__(self, reason: str, path: str | None = None) -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path else reason)


class MovieEnded(MediaError):
    """A movie decoded to fewer frames than were asked of it: `decoded` frames (0-based count from its first)."""

    def __init__(self, reason: str, path: str | None, decoded: int) -> None:
        super().__init__(reason, path)
        self.decoded = decoded


@dataclass(frozen=True)
class ColourTags:
    """A movie's colour tags, as FFmpeg numbers them (H.273): primaries, transfer and YUV matrix, e.g. BT.709 is
    (1, 1, 1); BT.2020 with HLG (a phone's HDR video) is (9, 18, 9), with PQ (9, 16, 9)."""

    primaries: int
    transfer: int
    matrix: int

    def transfer_name(self) -> str:
        """The transfer by its common name ("BT.709", "HLG"), else its number."""
        return str(_TRANSFERS.get(self.transfer, self.transfer))

    def described(self) -> str:
        """The tags by name, with their numbers: "primaries BT.709, transfer BT.709, matrix BT.709 (H.273: 1, 1,
        1)"; a number without a common name stays a number."""
        named = (
            f"primaries {_PRIMARIES.get(self.primaries, self.primaries)}, "
            f"transfer {_TRANSFERS.get(self.transfer, self.transfer)}, "
            f"matrix {_MATRICES.get(self.matrix, self.matrix)}"
        )
        return f"{named} (H.273: {self.primaries}, {self.transfer}, {self.matrix})"


# The H.273 code points a daily commonly carries, by name.
_PRIMARIES = {1: "BT.709", 5: "BT.601 625", 6: "BT.601 525", 9: "BT.2020", 11: "DCI-P3", 12: "Display P3"}
_TRANSFERS = {
    1: "BT.709",
    4: "gamma 2.2",
    5: "gamma 2.8",
    6: "BT.601",
    8: "linear",
    13: "sRGB",
    14: "BT.2020",
    15: "BT.2020",
    16: "PQ",
    18: "HLG",
}
_MATRICES = {0: "RGB", 1: "BT.709", 5: "BT.601", 6: "BT.601", 9: "BT.2020", 10: "BT.2020 constant"}

BT709 = ColourTags(1, 1, 1)


@dataclass(frozen=True)
class SoundInfo:
    """A movie's sound (its first audio stream a fix can carry): FFmpeg's codec name, sample rate (Hz) and channel
    count, how many such streams it has (a camera's or a recorder's tracks), and how many it has that cannot be
    read (engine.media.audio; with none readable, `streams` is 0 and the rest describes the first)."""

    codec: str
    sample_rate: int
    channels: int
    streams: int = 1
    unreadable: int = 0


@dataclass(frozen=True)
class MediaInfo:
    """Facts about a movie file or an image sequence, as probed.

    Frame numbers: a sequence keeps the numbers of its files; a movie counts from 0 (its timecode is kept
    apart in `timecode`) along its timeline, so frames a recorder dropped are numbers it lacks, as a sequence
    lacks files. `frame_count` counts frames that exist, so
    `last_frame - first_frame + 1 == frame_count + len(missing_frames)`.
    """

    path: str
    kind: MediaKind
    codec: str
    width: int
    height: int
    fps: Fraction
    frame_count: int
    first_frame: int
    last_frame: int
    timecode: str | None = None
    missing_frames: list[int] = field(default_factory=list)
    pix_fmt: str | None = None
    color_range: Literal["tv", "pc"] | None = None
    size_bytes: int = 0
    # A movie's display rotation (degrees counter-clockwise, from its display matrix); decoding applies it,
    # and width/height are the upright (displayed) size.
    rotation: int = 0
    # A movie's scan: None for progressive frames, else "top field first", "bottom field first" or "interlaced"
    # (field order unknown). Decoding does not deinterlace: each frame holds two moments, one per field.
    interlaced: str | None = None
    # A movie's colour tags when it has any (None: untagged, read and written as BT.709); a fix's movie output
    # carries them, so its pixels are read as the source's were.
    colour: ColourTags | None = None
    # A movie's timestamp gaps, frames dropped while recording (a phone, a screen or capture recorder): (the
    # number of the frame before the gap, how many frames are missing there). The numbers in the gaps are in
    # `missing_frames`, and decoding from this MediaInfo numbers the frames around them (engine.media.decode).
    dropped: list[tuple[int, int]] = field(default_factory=list)
    # Whether those gaps are the slots a rate change mid-take leaves (a phone's 30 fps, then 24: placed on a
    # timeline of its faster rate, engine.media.probe.rate_change_gaps), not frames dropped.
    rate_changed: bool = False
    # A movie's sound (engine.media.audio), None for a silent movie or a sequence; a fix's movie output carries it
    # where the fix keeps the source's timing.
    sound: SoundInfo | None = None
    # How many subtitle streams a movie has; a fix writes none of them (its movie carries picture and sound).
    subtitles: int = 0
    # How wide each stored pixel shows (engine.media.aspect): 2 for a 2x anamorphic squeeze, 1 for square pixels.
    pixel_aspect: Fraction = Fraction(1)
    # The reel (tape) name, a movie's from its timecode track, a sequence's from its first EXR's `reelName`: with
    # the timecode, what an edit conforms by.
    reel: str | None = None
    # An EXR sequence's pixels past its display window (its first frame's overscan: left, top, right, bottom).
    # Frames are read over the display window alone, unless `grown` (with_overscan()).
    overscan: Margins = NO_MARGINS
    # Whether frames read from this MediaInfo hold the overscan around the display window (a fix whose EXR frames
    # keep it, for a compositor's lens distortion); width and height are then that grown size.
    grown: bool = False
    # An EXR sequence's channels besides its picture (its first frame's: a CG render's AOVs, depth, IDs). A fix's
    # EXR frames keep them beside the fixed picture where each is the source frame at its size (HeaderSource).
    layers: tuple[str, ...] = ()
    # A movie's container tags about its footage (a phone's or a camera's make and model, its creation time and
    # place, a comment; not the muxer's own), which a fix's movie keeps.
    tags: dict[str, str] = field(default_factory=dict)

    def with_overscan(self) -> MediaInfo:
        """This sequence read with its overscan around the display window (unchanged when it has none)."""
        if self.grown or not any(self.overscan):
            return self
        left, top, right, bottom = self.overscan
        return replace(self, width=self.width + left + right, height=self.height + top + bottom, grown=True)

    @property
    def frame_range(self) -> range:
        """first_frame..last_frame inclusive, as a range."""
        return range(self.first_frame, self.last_frame + 1)

    @property
    def duration_seconds(self) -> float:
        return float(len(self.frame_range) / self.fps) if self.fps else 0.0


@dataclass(frozen=True)
class Overscan:
    """Frames read with their overscan (MediaInfo.with_overscan): the margins past the display window and the
    grown size they were read at. A fix's frame of another scale (an upscale's) has margins at its own scale."""

    margins: Margins
    width: int
    height: int

    @classmethod
    def of(cls, info: MediaInfo) -> Overscan | None:
        return cls(info.overscan, info.width, info.height) if info.grown else None

    def margins_of(self, shape: tuple[int, ...]) -> Margins:
        """The margins of a fixed frame of `shape` (H, W, ...)."""
        sx, sy = shape[1] / self.width, shape[0] / self.height
        left, top, right, bottom = self.margins
        return round(left * sx), round(top * sy), round(right * sx), round(bottom * sy)

    def shown(self, frame: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """The display window of a fixed frame (a view of it)."""
        left, top, right, bottom = self.margins_of(frame.shape)
        return frame[top : frame.shape[0] - bottom, left : frame.shape[1] - right]
