"""daemon.file_names.path_part: a tracker's shot name as one safe, bounded path component."""

from __future__ import annotations

import pytest

from daemon.file_names import MAX_PART_BYTES, path_part


@pytest.mark.parametrize("name", ["sh010", "E02_SQ01_SH020", "plate élan", ".hidden", "a..b"])
def test_a_name_that_is_already_a_file_name_is_kept_as_it_is(name: str) -> None:
    assert path_part(name) == name


@pytest.mark.parametrize(
    ("name", "part"),
    [
        ("..", "__"),
        (".", "_"),
        ("", "_"),
        ("seq/010", "seq_010"),
        ("a\\b\nc\x7f", "a_b_c_"),
        ("../../etc", ".._.._etc"),
    ],
)
def test_separators_control_characters_and_bare_dots_cannot_leave_the_folder(name: str, part: str) -> None:
    assert path_part(name) == part


def test_a_long_name_is_cut_at_a_characters_edge_and_told_apart_from_others_cut_alike() -> None:
    first, second = "\u00e9" * 100 + "A", "\u00e9" * 100 + "B"  # 201 bytes, the same first 200
    cut = path_part(first)
    assert len(cut.encode()) <= MAX_PART_BYTES and cut.startswith("\u00e9" * 50)
    assert cut == path_part(first) != path_part(second)  # the same name always gives the same part
    assert "~" in cut and cut.encode().decode() == cut  # no half character at the cut
    assert len(path_part("x" * 400, max_bytes=40).encode()) == 40
