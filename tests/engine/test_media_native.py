"""Native output capture: what C libraries print is collected, and the terminal gets its descriptors back."""

from __future__ import annotations

import os

import pytest

from engine.media.native import captured_output


def test_what_native_code_prints_is_captured_and_descriptors_are_restored(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with captured_output() as said:
        os.write(1, b"Warning: Exception raised reading pixel data\n")
        os.write(2, b"x.exr: (EXR_ERR_CORRUPT_CHUNK) Unable to decompress\n")
    assert said.lines == [
        "Warning: Exception raised reading pixel data",
        "x.exr: (EXR_ERR_CORRUPT_CHUNK) Unable to decompress",
    ]
    with pytest.raises(RuntimeError), captured_output():
        raise RuntimeError("the binding failed")
    os.write(2, b"after\n")
    seen = capfd.readouterr()
    assert seen.out == "" and seen.err == "after\n"
