"""The hostile corpus: bad files and odd names made on the spot (never stored), each with the reason Rushes
must give for it, beside a few good dailies that must be catalogued whatever lands next to them.

Every maker writes into an ingest root laid out as the default templates expect: movies `SHOT_TAKE.ext`
at the top, sequences `SHOT/SHOT.####.ext`. `BAD` maps each case's name to (maker, expected words of the
one-line reason); the maker returns the path ingest will report (a movie, a pattern or a link).
"""

from __future__ import annotations

import gzip
import os
import socket
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.media import write_image, write_movie, write_sequence
from tests import footage

# ---- building blocks ------------------------------------------------------------------------------------


def _clip(n: int = 6, size: tuple[int, int] = (64, 48), seed: int = 0) -> np.ndarray:
    return footage.frames(n, size, seed=seed)


def movie_bytes(
    tmp: Path, n: int = 6, size: tuple[int, int] = (64, 48), seed: int = 0, ext: str = "mp4"
) -> bytes:
    path = tmp / f"clip_{n}_{size[0]}x{size[1]}_{seed}.{ext}"
    if not path.exists():
        write_movie(path, _clip(n, size, seed), 24)
    return path.read_bytes()


def image_bytes(tmp: Path, ext: str, size: tuple[int, int] = (64, 48)) -> bytes:
    path = tmp / f"still_{size[0]}x{size[1]}.{ext}"
    if not path.exists():
        write_image(path, _clip(1, size)[0])
    return path.read_bytes()


def sequence(root: Path, shot: str, ext: str, n: int = 5, size: tuple[int, int] = (64, 48)) -> list[Path]:
    """Frames 1001.. of a good sequence; returns their paths in order."""
    folder = root / shot
    folder.mkdir(parents=True, exist_ok=True)
    write_sequence(str(folder / f"{shot}.####.{ext}"), _clip(n, size, seed=len(shot)), 1001)
    return sorted(folder.glob(f"{shot}.*.{ext}"))


def pattern(root: Path, shot: str, ext: str) -> Path:
    return root / shot / f"{shot}.####.{ext}"


# ---- the bad cases ---------------------------------------------------------------------------------------------

Maker = Callable[[Path, Path], Path]  # (ingest root, scratch folder) -> the path ingest reports


def _write(name: str, data: bytes) -> Maker:
    def make(root: Path, tmp: Path) -> Path:
        (root / name).write_bytes(data)
        return root / name

    return make


def _movie_cut(name: str, keep: Callable[[bytes], bytes]) -> Maker:
    def make(root: Path, tmp: Path) -> Path:
        (root / name).write_bytes(keep(movie_bytes(tmp)))
        return root / name

    return make


def _moov_size_zeroed(data: bytes) -> bytes:
    at = data.find(b"moov") - 4
    return data[:at] + struct.pack(">I", 3) + data[at + 4 :]


def _tiny_movie(name: str, size: tuple[int, int]) -> Maker:
    def make(root: Path, tmp: Path) -> Path:
        (root / name).write_bytes(movie_bytes(tmp, size=size))
        return root / name

    return make


def _image_as_movie(name: str, ext: str) -> Maker:
    def make(root: Path, tmp: Path) -> Path:
        (root / name).write_bytes(image_bytes(tmp, ext))
        return root / name

    return make


def _audio_only(name: str) -> Maker:
    def make(root: Path, tmp: Path) -> Path:
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=d=0.2", str(root / name)],
            check=True,
        )
        return root / name

    return make


def _cut_mid_gop(name: str) -> Maker:
    """An MPEG-2 transport stream cut a second in with `-c copy`: it starts with B-frames whose references were
    cut away, so its packets count frames that do not decode (ffmpeg plays it from the next keyframe)."""

    def make(root: Path, tmp: Path) -> Path:
        whole = tmp / f"{name}.whole.ts"
        source = [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=64x48:r=25:d=3",
            "-c:v",
            "mpeg2video",
            "-g",
            "12",
            "-bf",
            "2",
        ]
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *source, str(whole)], check=True)
        cut = ["-ss", "1", "-i", str(whole), "-c", "copy", str(root / name)]
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *cut], check=True)
        return root / name

    return make


def _impossible_size(name: str) -> Maker:
    """An MJPEG movie whose headers (the stsd entry and each frame's SOF) declare 16384x16384, which FFmpeg's
    decoder refuses: its size reads 0x0 (it was quarantined as "too small: 0x0 pixels")."""

    def make(root: Path, tmp: Path) -> Path:
        made = tmp / f"{name}.made.mov"
        source = ["-f", "lavfi", "-i", "testsrc2=s=64x48:r=24:d=0.2", "-c:v", "mjpeg"]
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *source, str(made)], check=True)
        data = bytearray(made.read_bytes())
        huge = struct.pack(">HH", 16384, 16384)
        at = data.find(b"\xff\xc0")
        while at >= 0:  # start of frame: length, precision, then height and width
            data[at + 5 : at + 9] = huge
            at = data.find(b"\xff\xc0", at + 2)
        entry = data.find(b"jpeg")  # the sample entry's width and height follow its fourcc by 28 bytes
        data[entry + 28 : entry + 32] = huge
        (root / name).write_bytes(bytes(data))
        return root / name

    return make


def _bytes_name(name: bytes) -> Maker:
    """A good movie under a name that is not UTF-8 (a Latin-1 byte from an old Windows share)."""

    def make(root: Path, tmp: Path) -> Path:
        path = Path(os.fsdecode(os.fsencode(root) + b"/" + name))
        path.write_bytes(movie_bytes(tmp, seed=99))
        return path

    return make


def _bytes_folder_sequence(folder: bytes) -> Maker:
    """A good sequence in a folder whose name is not UTF-8: one rejection for the sequence, not one per frame."""

    def make(root: Path, tmp: Path) -> Path:
        where = Path(os.fsdecode(os.fsencode(root) + b"/" + folder))
        sequence(where.parent, where.name, "png")
        return where / f"{where.name}.####.png"

    return make


def _fifo(name: str) -> Maker:
    def make(root: Path, tmp: Path) -> Path:
        os.mkfifo(root / name)
        return root / name

    return make


def _socket(name: str) -> Maker:
    def make(root: Path, tmp: Path) -> Path:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(root / name))
        return root / name

    return make


def _link(name: str, target: Callable[[Path, Path], str]) -> Maker:
    def make(root: Path, tmp: Path) -> Path:
        os.symlink(target(root, tmp), root / name)
        return root / name

    return make


def _loop(name: str) -> Maker:
    def make(root: Path, tmp: Path) -> Path:
        os.symlink(root / f"{name}.other", root / name)
        os.symlink(root / name, root / f"{name}.other")
        return root / name

    return make


def _frame_damage(shot: str, ext: str, damage: Callable[[list[Path], Path], None]) -> Maker:
    """A good sequence with `damage(frames, tmp)` done to it."""

    def make(root: Path, tmp: Path) -> Path:
        frames = sequence(root, shot, ext)
        damage(frames, tmp)
        return pattern(root, shot, ext)

    return make


def _truncate(index: int, keep: float = 0.5) -> Callable[[list[Path], Path], None]:
    def damage(frames: list[Path], tmp: Path) -> None:
        data = frames[index].read_bytes()
        frames[index].write_bytes(data[: int(len(data) * keep)])

    return damage


def _garble(index: int, start: int, length: int) -> Callable[[list[Path], Path], None]:
    def damage(frames: list[Path], tmp: Path) -> None:
        data = bytearray(frames[index].read_bytes())
        data[start : start + length] = bytes(range(7, 7 + length))
        frames[index].write_bytes(bytes(data))

    return damage


def _replace(index: int, data: Callable[[Path], bytes]) -> Callable[[list[Path], Path], None]:
    def damage(frames: list[Path], tmp: Path) -> None:
        frames[index].write_bytes(data(tmp))

    return damage


def _png_claiming(width: int, height: int) -> Callable[[Path], bytes]:
    def data(tmp: Path) -> bytes:
        good = bytearray(image_bytes(tmp, "png"))
        good[16:24] = struct.pack(">II", width, height)
        return bytes(good)

    return data


def _small_sequence(shot: str, ext: str, size: tuple[int, int]) -> Maker:
    def make(root: Path, tmp: Path) -> Path:
        sequence(root, shot, ext, n=3, size=size)
        return pattern(root, shot, ext)

    return make


def _exr_without_rgb(shot: str) -> Maker:
    def make(root: Path, tmp: Path) -> Path:
        import OpenEXR

        folder = root / shot
        folder.mkdir()
        planes = {"A": np.zeros((32, 32), np.float32), "Z": np.ones((32, 32), np.float32)}
        for n in (1001, 1002):
            OpenEXR.File({"type": OpenEXR.scanlineimage}, planes).write(str(folder / f"{shot}.{n}.exr"))
        return pattern(root, shot, "exr")

    return make


def _exr_frame_without_blue(shot: str) -> Maker:
    """Five RGB frames, one of them (1002, which no sampled decode reads) without its B channel."""

    def make(root: Path, tmp: Path) -> Path:
        import OpenEXR

        folder = root / shot
        folder.mkdir()
        for n in range(1001, 1006):
            planes = {c: np.full((32, 32), 0.5, np.float32) for c in ("RG" if n == 1002 else "RGB")}
            OpenEXR.File({"type": OpenEXR.scanlineimage}, planes).write(str(folder / f"{shot}.{n}.exr"))
        return pattern(root, shot, "exr")

    return make


@dataclass(frozen=True)
class Case:
    make: Maker
    reason: str  # words the one-line reason must contain


BAD: dict[str, Case] = {
    # movies that are not movies
    "empty movie": Case(_write("em010_1.mov", b""), "file is empty"),
    "text named .mov": Case(_write("tx010_1.mov", b"not a movie at all\n" * 50), "not a media file"),
    "random bytes named .mxf": Case(_write("rb010_1.mxf", bytes(range(256)) * 40), "not a media file"),
    "gzip named .mkv": Case(_write("gz010_1.mkv", gzip.compress(b"x" * 5000)), "not a media file"),
    "PNG renamed .mov": Case(
        _image_as_movie("pn010_1.mov", "png"), "not a movie: the file is a single PNG picture"
    ),
    "JPEG renamed .mp4": Case(_image_as_movie("jp010_1.mp4", "jpg"), "not a movie"),
    "audio only": Case(_audio_only("au010_1.mov"), "no video stream"),
    # movies cut or damaged
    "movie cut in half": Case(_movie_cut("ct010_1.mp4", lambda d: d[: len(d) // 2]), "truncated"),
    "movie head only": Case(_movie_cut("hd010_1.mp4", lambda d: d[:64]), "truncated"),
    "moov atom size zeroed": Case(_movie_cut("mv010_1.mp4", _moov_size_zeroed), "atom has an invalid size"),
    "movie of 1x1 pixels": Case(
        _tiny_movie("px010_1.mp4", (2, 2)), "too small: 2x2 pixels; Rushes needs at least 16x16"
    ),
    "movie of 8x8 pixels": Case(_tiny_movie("px020_1.mp4", (8, 8)), "too small: 8x8"),
    "movie 640x8 (a sliver)": Case(_tiny_movie("px030_1.mp4", (640, 8)), "too small: 640x8"),
    # names and kinds of file
    "unknown extension": Case(_write("uk010_1.xyz", b"data"), "not a supported media file (.xyz)"),
    "no extension": Case(_write("noext_1", b"data"), "not a supported media file (no extension)"),
    "name outside the template": Case(
        _write("justaname.mov", b"x" * 100), "does not match the path template"
    ),
    "image without a frame number": Case(_write("poster.png", b"x" * 100), "image has no frame number"),
    "name not valid UTF-8": Case(_bytes_name(b"caf\xe9010_1.mp4"), "file name is not valid UTF-8"),
    "sequence in a folder not valid UTF-8": Case(
        _bytes_folder_sequence(b"sq\xe9010"),
        "a folder on its path (the ingest folder, or one in it) is not valid UTF-8",
    ),
    "FIFO named .mov": Case(_fifo("ff010_1.mov"), "not a regular file (a FIFO)"),
    "socket named .mov": Case(_socket("so010_1.mov"), "not a regular file (a socket)"),
    "symlink loop": Case(_loop("lp010_1.mov"), "symlink loop"),
    "broken symlink": Case(
        _link("bl010_1.mov", lambda r, t: str(r / "gone.mov")), "symlink target does not exist"
    ),
    "symlink leaving the root": Case(
        _link("lv010_1.mov", lambda r, t: "/etc/hostname"), "leaves the ingest root"
    ),
    # sequences with one bad frame among good ones
    "EXR frame with a garbled header (middle)": Case(
        _frame_damage("ex010", "exr", _garble(2, 8, 40)), "frame 1003: "
    ),
    "EXR frame with a garbled header (first)": Case(
        _frame_damage("ex020", "exr", _garble(0, 8, 40)), "frame 1001: not a readable EXR"
    ),
    "EXR frame cut in half (middle)": Case(_frame_damage("ex030", "exr", _truncate(2)), "frame 1003: "),
    "EXR frame cut in half (second)": Case(_frame_damage("ex040", "exr", _truncate(1)), "frame 1002: "),
    "EXR frame replaced by text": Case(
        _frame_damage("ex050", "exr", _replace(3, lambda t: b"hello" * 20)), "frame 1004: "
    ),
    "movie whose headers declare a size the decoder refuses": Case(
        _impossible_size("hs010_1.mov"), "its picture size is unknown"
    ),
    "movie cut mid-GOP without re-encoding": Case(_cut_mid_gop("gp010_1.ts"), "cut without re-encoding"),
    "EXR without RGB channels": Case(_exr_without_rgb("ex060"), "EXR has no RGB channels"),
    "EXR sequence with a frame missing a channel": Case(
        _exr_frame_without_blue("ex080"), "frame 1002: EXR has no RGB channels (it has G, R)"
    ),
    "PNG frame cut in half": Case(_frame_damage("pg010", "png", _truncate(3)), "frame 1004: truncated PNG"),
    "PNG frame replaced by text": Case(
        _frame_damage("pg020", "png", _replace(1, lambda t: b"text" * 30)), "frame 1002: not a PNG file"
    ),
    "PNG frame claiming 20000x20000": Case(
        _frame_damage("pg030", "png", _replace(2, _png_claiming(20000, 20000))),
        "is 20000x20000 but the sequence is 64x48",
    ),
    "PNG frame of another size": Case(
        _frame_damage("pg040", "png", _replace(4, lambda t: image_bytes(t, "png", (32, 32)))),
        "is 32x32 but the sequence is 64x48",
    ),
    "PNG sequence of 8x8 frames": Case(_small_sequence("pg050", "png", (8, 8)), "too small: 8x8"),
    "JPEG frame cut in half": Case(_frame_damage("jg010", "jpg", _truncate(2)), "frame 1003: truncated JPEG"),
    "JPEG frame replaced by zeros": Case(
        _frame_damage("jg020", "jpg", _replace(0, lambda t: bytes(500))),
        "frame 1001: cannot decode jpeg frame",
    ),
    "DPX frame cut in half": Case(_frame_damage("dx010", "dpx", _truncate(2)), "frame 1003: truncated DPX"),
    "DPX frame with a wrong magic": Case(
        _frame_damage("dx020", "dpx", _garble(1, 0, 4)), "frame 1002: not a DPX file"
    ),
    "EXR sequence of 1x1 frames": Case(_small_sequence("ex070", "exr", (1, 1)), "too small: 1x1"),
}

GOOD_MOVIES = ("gd010_1.mp4", "gd020_1.mov", "gd030_2.mp4")
GOOD_SEQUENCES = (("gs010", "exr"), ("gs020", "png"), ("gs030", "dpx"))


def make_good(root: Path, tmp: Path) -> list[Path]:
    """Good dailies (distinct content each) among the bad ones; returns the paths ingest reports."""
    paths = []
    for i, name in enumerate(GOOD_MOVIES):
        ext = name.rsplit(".", 1)[1]
        (root / name).write_bytes(movie_bytes(tmp, n=6, seed=10 + i, ext=ext))
        paths.append(root / name)
    for shot, ext in GOOD_SEQUENCES:
        sequence(root, shot, ext)
        paths.append(pattern(root, shot, ext))
    # good frames beside sound that cannot be read: a layout PyAV aborts on, a codec no decoder knows
    paths.append(footage.movie_with_unreadable_sound(root / "sd010_1.mov", n=6))
    unknown = footage.movie_with_sound(root / "sd020_1.mov", 6)
    unknown.write_bytes(unknown.read_bytes().replace(b"in24", b"zzzz", 1))
    paths.append(unknown)
    return paths


def make_bad(root: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    """Every BAD case written under `root`: name -> (path ingest reports, expected reason words)."""
    return {name: (case.make(root, tmp), case.reason) for name, case in BAD.items()}
