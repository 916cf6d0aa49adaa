"""3D LUTs: .cube files, application paths agreeing with each other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine import lut


def _grade() -> np.ndarray:
    return np.clip(lut.identity(9) ** 1.3 * np.array([1.1, 0.95, 0.9], np.float32), 0, 1).astype(np.float32)


def test_cube_round_trip(tmp_path: Path) -> None:
    table = _grade()
    path = lut.write_cube(tmp_path / "grade.cube", table)
    assert "LUT_3D_SIZE 9" in path.read_text()
    np.testing.assert_allclose(lut.read_cube(path), table, atol=1e-6)


def test_a_title_with_quotes_or_line_breaks_stays_one_quoted_line(tmp_path: Path) -> None:
    """The title names the Version (its shot): a quote or a line break in a shot's name broke the TITLE line."""
    import PyOpenColorIO as ocio

    path = lut.write_cube(tmp_path / "grade.cube", _grade(), title='sh"010\nLUT_3D_SIZE 2 regrade')
    first, second = path.read_text().splitlines()[:2]
    assert first == 'TITLE "sh\'010 LUT_3D_SIZE 2 regrade"' and second == "LUT_3D_SIZE 9"
    np.testing.assert_allclose(lut.read_cube(path), _grade(), atol=1e-6)
    config = ocio.Config.CreateRaw()
    transform = ocio.FileTransform(src=str(path), interpolation=ocio.INTERP_LINEAR)
    config.getProcessor(transform)  # OpenColorIO reads it


def test_cube_red_changes_fastest(tmp_path: Path) -> None:
    path = lut.write_cube(tmp_path / "id.cube", lut.identity(2))
    rows = [line for line in path.read_text().splitlines() if line[:1].isdigit()]
    assert rows[:2] == ["0.000000 0.000000 0.000000", "1.000000 0.000000 0.000000"]


def test_bad_cube_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.cube"
    path.write_text("LUT_3D_SIZE 4\n0 0 0\n")
    with pytest.raises(lut.LutError, match="needs 64"):
        lut.read_cube(path)


def test_apply_paths_agree() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((40, 50, 3)).astype(np.float32)
    table = _grade()
    exact = np.clip(img**1.3 * np.array([1.1, 0.95, 0.9]), 0, 1)
    ours = lut.apply_lut(img, table)
    torch_out = lut.apply_lut_torch(torch.from_numpy(img).permute(2, 0, 1)[None], torch.from_numpy(table))
    np.testing.assert_allclose(ours, torch_out[0].permute(1, 2, 0).numpy(), atol=1e-5)
    assert np.abs(ours - exact).max() < 0.05
    u8 = (img * 255 + 0.5).astype(np.uint8)
    baked = lut.apply_baked(u8, lut.bake_u8(table))
    assert np.abs(baked.astype(int) - (lut.apply_lut(u8, table) * 255 + 0.5).astype(int)).max() <= 1


def test_identity_lut_is_a_no_op() -> None:
    img = np.random.default_rng(1).random((16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(lut.apply_lut(img, lut.identity(17)), img, atol=1e-6)


def test_baked_lut_keeps_channels_apart() -> None:
    swap = lut.identity(5)[..., [2, 0, 1]]  # (r, g, b) -> (b, r, g)
    img = np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(lut.apply_baked(img, lut.bake_u8(swap)), img[..., [2, 0, 1]])
