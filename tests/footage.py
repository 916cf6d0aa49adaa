"""Footage the tests make for themselves: camera moves over scikit-image photos, encoded with engine.media."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from engine import synth
from engine.media import write_movie, write_sequence


def frames(
    n: int = 12, size: tuple[int, int] = (160, 96), photo: str = "astronaut", seed: int = 0
) -> np.ndarray:
    return synth.camera_move(synth.photo(photo), n, size, seed=seed)


def movie(
    path: Path,
    n: int = 12,
    size: tuple[int, int] = (160, 96),
    fps: int | Fraction = 24,
    timecode: str | None = None,
    photo: str = "astronaut",
    seed: int = 0,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_movie(path, frames(n, size, photo, seed), fps, timecode=timecode)
    return path


def sequence(
    folder: Path,
    name: str,
    first: int = 1001,
    n: int = 6,
    ext: str = "png",
    size: tuple[int, int] = (96, 64),
    skip: tuple[int, ...] = (),
) -> str:
    """Write name.####.ext frames first..first+n-1, leaving out the frame numbers in `skip`; returns the pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    pattern = str(folder / f"{name}.####.{ext}")
    write_sequence(pattern, frames(n, size), first)
    for number in skip:
        (folder / f"{name}.{number:04d}.{ext}").unlink()
    return pattern


def movie_with_gaps(path: Path, stamps: list[int], size: tuple[int, int] = (64, 48), fps: int = 24) -> Path:
    """An H.264 movie whose frames carry these timestamps (in frames at `fps`): a skipped number is a frame
    dropped while recording, as a phone or a capture recorder leaves it."""
    import av

    pictures = frames(len(stamps), size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for stamp, rgb in zip(stamps, pictures, strict=True):
            frame = av.VideoFrame.from_ndarray(np.round(rgb * 255).astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = stamp, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path
