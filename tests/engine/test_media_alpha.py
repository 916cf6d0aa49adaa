"""Alpha channels: written and read back by every format that holds one, refused by those that do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.media import MediaError, MovieWriter, probe, read_frames, write_image, write_sequence
from engine.media.alpha import ALPHA_PIX_FMT, has_alpha, with_alpha
from engine.media.decode import read_alpha
from engine.synth import camera_move, photo


def matte(n: int, height: int = 64, width: int = 96) -> np.ndarray:
    """A soft-edged box that moves right frame by frame, over a half-transparent floor."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    mattes = []
    for i in range(n):
        box = np.clip(np.minimum(x - 20 - 4 * i, y - 10) / 4, 0, 1) * (x < 60 + 4 * i) * (y < 40)
        mattes.append(np.maximum(box, 0.5 * (y >= 50)).astype(np.float32))
    return np.stack(mattes)


@pytest.fixture(scope="module")
def rgba() -> np.ndarray:
    rgb = camera_move(photo("rocket"), 3, size=(96, 64), seed=2)
    return np.concatenate([rgb, matte(3)[..., None]], axis=3)


@pytest.mark.parametrize(
    ("ext", "bits", "step"),
    [("png", 8, 1 / 255), ("png", 16, 1 / 65535), ("tif", 8, 1 / 255), ("tif", 16, 1 / 65535),
     ("dpx", 8, 1 / 255), ("dpx", None, 1 / 65535), ("exr", None, 1e-3)],
)  # fmt: skip
def test_a_sequence_keeps_each_frames_alpha(
    tmp_path: Path, rgba: np.ndarray, ext: str, bits: int | None, step: float
) -> None:
    write_sequence(tmp_path / f"el.####.{ext}", rgba, first_frame=1001, bit_depth=bits)

    info = probe(str(tmp_path / f"el.####.{ext}"))
    alphas = list(read_alpha(info))

    assert has_alpha(info.pix_fmt)
    assert [n for n, _ in alphas] == [1001, 1002, 1003]
    for (_, alpha), frame in zip(alphas, rgba, strict=True):
        assert np.abs(alpha - frame[..., 3]).max() <= step
    colour = next(iter(read_frames(info))).rgb  # the colour reads as it always did, three channels
    assert colour.shape == (64, 96, 3)
    assert np.abs(colour - rgba[0, ..., :3]).max() <= max(step, 1 / 255) * 2


def test_prores_4444_keeps_alpha_and_422_has_none(tmp_path: Path, rgba: np.ndarray) -> None:
    with MovieWriter(tmp_path / "el.mov", 24, 96, 64, codec="prores", pix_fmt=ALPHA_PIX_FMT) as writer:
        for frame in rgba:
            writer.write(frame)
    with MovieWriter(tmp_path / "plain.mov", 24, 96, 64, codec="prores") as writer:
        writer.write(rgba[0, ..., :3])

    info = probe(str(tmp_path / "el.mov"))

    assert has_alpha(info.pix_fmt) and info.codec == "prores"
    for (number, alpha), frame in zip(read_alpha(info), rgba, strict=True):
        assert np.abs(alpha - frame[..., 3]).max() < 2e-3, number
    plain = probe(str(tmp_path / "plain.mov"))
    assert not has_alpha(plain.pix_fmt)
    assert np.all(next(read_alpha(plain))[1] == 1.0)  # a source without alpha reads as opaque


def test_formats_without_alpha_refuse_rgba_frames_by_name(tmp_path: Path, rgba: np.ndarray) -> None:
    with pytest.raises(MediaError, match="JPEG has no alpha channel"):
        write_image(tmp_path / "f.jpg", rgba[0])
    writer = MovieWriter(tmp_path / "f.mp4", 24, 96, 64)
    with pytest.raises(MediaError, match="HxWx3"):
        writer.write(rgba[0])
    writer.write(rgba[0, ..., :3])
    writer.close()
    assert not has_alpha(probe(str(tmp_path / "f.mp4")).pix_fmt)
    (tmp_path / "f.mp4").unlink()
    assert not (tmp_path / "f.jpg").exists() and not (tmp_path / "f.mp4").exists()


def test_an_upscaled_frame_gets_its_alpha_resized_within_zero_and_one(rgba: np.ndarray) -> None:
    big = np.zeros((128, 192, 3), np.float32)

    joined = with_alpha(big, rgba[0, ..., 3])

    assert joined.shape == (128, 192, 4) and joined.dtype == np.float32
    alpha = joined[..., 3]
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    assert abs(float(alpha.mean()) - float(rgba[0, ..., 3].mean())) < 0.01
    assert alpha[120, 100] == pytest.approx(0.5, abs=0.01)  # the floor stays half transparent
