"""Media I/O: probe, frame-exact decode and atomic encode of movies and image sequences.

Built on PyAV (FFmpeg), the OpenEXR binding and fileseq. Everything a user can get wrong
raises MediaError with a one-line `reason`.
"""

from .decode import read_clip, read_frames, read_frames_uint8
from .encode import MovieWriter, write_movie, write_numbered_sequence, write_sequence
from .frames import Frame
from .images import read_image, write_image
from .info import MediaError, MediaInfo
from .probe import probe
from .sequences import SequenceFiles, SequenceSpec, find_sequence, parse_sequence
from .timecode import TimecodeError, frames_to_timecode, offset_timecode, timecode_to_frames

__all__ = [
    "Frame",
    "MediaError",
    "MediaInfo",
    "MovieWriter",
    "SequenceFiles",
    "SequenceSpec",
    "TimecodeError",
    "find_sequence",
    "frames_to_timecode",
    "offset_timecode",
    "parse_sequence",
    "probe",
    "read_clip",
    "read_frames",
    "read_frames_uint8",
    "read_image",
    "timecode_to_frames",
    "write_image",
    "write_movie",
    "write_numbered_sequence",
    "write_sequence",
]
