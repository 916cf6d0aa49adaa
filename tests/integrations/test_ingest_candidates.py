"""Grouping, candidate building and the reconcile scan, on real files in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.media.sequences import find_sequence
from integrations.ingest.candidates import LEAVES_ROOT, Candidate, Rejected
from integrations.ingest.grouping import group_images
from integrations.ingest.hashing import content_hash
from integrations.ingest.options import IngestOptions
from integrations.ingest.scan import scan_root


def ingest_options(**values: object) -> IngestOptions:
    return IngestOptions.model_validate(values)


def write(path: Path, data: bytes = b"media") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def by_path(found: list[Candidate | Rejected]) -> dict[str, Candidate | Rejected]:
    return {str(item.path): item for item in found}


def test_grouping_keeps_a_sequence_with_holes_as_one() -> None:
    frames = [1001, 1002, 1003, 1007, 1010]
    paths = [Path(f"/r/sh010/sh010.{frame:04d}.exr") for frame in frames]
    (group,) = group_images(reversed(paths))
    assert group.pattern == Path("/r/sh010/sh010.####.exr")
    assert group.frames == tuple(frames)
    assert group.files == tuple(paths)


def test_grouping_separates_sequences_and_keeps_unpadded_ones() -> None:
    paths = [Path(f"/r/a/a.{frame}.png") for frame in (8, 9, 10, 11)] + [Path("/r/b/b.0001.png")]
    groups = group_images(paths)
    assert [(g.pattern, g.frames) for g in groups] == [
        (Path("/r/a/a.@.png"), (8, 9, 10, 11)),
        (Path("/r/b/b.####.png"), (1,)),
    ]


def test_scan_finds_movies_and_sequences_with_shots(tmp_path: Path) -> None:
    movie = write(tmp_path / "day1" / "sh010_2.mov", b"x" * 10)
    frames = [write(tmp_path / "sh020" / f"sh020.{f:04d}.exr", b"y" * 3) for f in (1, 2, 4)]
    found = by_path(scan_root(tmp_path, ingest_options()))
    assert found[str(movie)] == Candidate(
        root=tmp_path, kind="movie", path=movie, files=(movie,), size=10,
        mtime=movie.stat().st_mtime, shot="sh010", take="2",
    )  # fmt: skip
    sequence = found[str(tmp_path / "sh020" / "sh020.####.exr")]
    assert isinstance(sequence, Candidate)
    assert (sequence.kind, sequence.shot, sequence.take) == ("sequence", "sh020", None)
    assert sequence.frames == (1, 2, 4) and sequence.files == tuple(frames) and sequence.size == 9
    assert sequence.mtime == max(frame.stat().st_mtime for frame in frames)


@pytest.mark.parametrize("sign_padded", [True, False], ids=["sign-in-padding", "sign-outside"])
def test_a_sequence_numbered_below_zero_is_one_daily_of_every_frame_as_the_fix_reads_it(
    tmp_path: Path, sign_padded: bool
) -> None:
    """A plate numbered -3..2: written -003 (printf's %04d), half of it vanished from its daily; written -0003
    (as Rushes writes it), ingest made two sequences of it, and the daily's bytes were never those the fix found,
    so every fix of it waited for a delivery that never came, then was dead-lettered."""
    names = [f"{n:04d}" if n >= 0 or sign_padded else f"-{-n:04d}" for n in range(-3, 3)]  # -003 or -0003
    frames = [write(tmp_path / "neg" / f"neg.{name}.png", b"z" * (i + 1)) for i, name in enumerate(names)]
    found = by_path(scan_root(tmp_path, ingest_options()))
    (sequence,) = found.values()
    assert isinstance(sequence, Candidate) and sequence.path == tmp_path / "neg" / "neg.####.png"
    assert sequence.frames == (-3, -2, -1, 0, 1, 2) and sequence.size == 21
    assert list(find_sequence(str(sequence.path)).files.values()) == frames  # the files the fix reads


def test_a_frame_below_zero_written_both_ways_is_not_joined_into_one_frame_of_two_files() -> None:
    paths = [Path("/r/neg/neg.-003.png"), Path("/r/neg/neg.-0003.png"), Path("/r/neg/neg.0000.png")]
    assert sorted(len(group.files) == len(set(group.frames)) for group in group_images(paths)) == [True, True]


def test_scan_rejects_what_it_cannot_ingest_and_skips_temp_and_sidecar_files(tmp_path: Path) -> None:
    write(tmp_path / "sh010_1.mov.part")
    write(tmp_path / ".staging" / "sh011_1.mov")
    write(tmp_path / "sh010_1.wav")
    write(tmp_path / "sh010_1.ale")
    zipped = write(tmp_path / "sh010_1.zip")
    original = write(tmp_path / "A001_C003.R3D")
    empty = write(tmp_path / "sh012_1.mov", b"")
    unnamed = write(tmp_path / "sh013.mov")
    still = write(tmp_path / "poster.png")
    stray = write(tmp_path / "sh014" / "other.0001.png")
    found = by_path(scan_root(tmp_path, ingest_options()))
    reasons = {path: item.reason for path, item in found.items() if isinstance(item, Rejected)}
    assert set(found) == set(reasons)  # nothing here is ingestible
    assert reasons[str(zipped)].startswith("not a supported media file (.zip)")
    assert reasons[str(original)].startswith(
        "a RED camera original (.R3D), which Rushes cannot decode: ingest the"
    )
    assert reasons[str(empty)] == "file is empty"
    assert reasons[str(unnamed)] == "name does not match the path template '{shot}_{take}.{ext}'"
    assert reasons[str(still)].startswith("image has no frame number")
    assert reasons[str(stray.parent / "other.####.png")].startswith("sequence does not match")
    assert len(reasons) == 6


def test_symlinks_leaving_the_root_are_rejected(tmp_path: Path) -> None:
    root, outside = tmp_path / "ingest", tmp_path / "elsewhere"
    secret = write(outside / "sh099_1.mov")
    write(outside / "plates" / "sh098.0001.exr")
    root.mkdir()
    (root / "sh099_1.mov").symlink_to(secret)
    (root / "plates").symlink_to(outside / "plates", target_is_directory=True)
    inner = write(root / "real" / "sh010_1.mov")
    (root / "sh010_1.mov").symlink_to(inner)  # a link inside the root is fine
    (root / "sh011_1.mov").symlink_to(root / "missing.mov")
    found = by_path(scan_root(root, ingest_options(roots=[root])))
    assert found[str(root / "sh099_1.mov")] == Rejected(
        root / "sh099_1.mov", LEAVES_ROOT, (root / "sh099_1.mov",)
    )
    assert found[str(root / "plates")] == Rejected(
        root / "plates", "path leaves the ingest root through a symlink", (root / "plates",)
    )
    broken = found[str(root / "sh011_1.mov")]
    assert isinstance(broken, Rejected) and broken.reason.startswith("symlink target does not exist")
    assert isinstance(found[str(root / "sh010_1.mov")], Candidate)
    assert isinstance(found[str(inner)], Candidate)


def test_content_hash_streams_and_names_frames(tmp_path: Path) -> None:
    movie = write(tmp_path / "a.mov", os.urandom(10_000))
    copy = write(tmp_path / "b.mov", movie.read_bytes())
    assert content_hash([movie]) == content_hash([copy]) == content_hash([movie], chunk=333)
    assert content_hash([movie]).startswith("blake2b:") and len(content_hash([movie])) == 8 + 64
    frames = [write(tmp_path / f"s.{f}.png", bytes([f]) * 5) for f in (1, 2)]
    renamed = [write(tmp_path / f"t.{f}.png", bytes([f]) * 5) for f in (1, 2)]
    assert content_hash(frames) != content_hash(renamed)
    assert content_hash(frames) != content_hash(frames[::-1])
    assert content_hash(frames) == content_hash(frames, chunk=2)
