"""Fix requests from the tracker cannot make the daemon open files outside the show's folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon.jobs.outcomes import Permanent
from daemon.settings import Settings, ShowConfig
from daemon.stages.request_paths import allowed_roots, check_request_paths, references_dir


@pytest.fixture
def roots(tmp_path: Path) -> list[Path]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    show = ShowConfig(code="SHW", ingest={"roots": [{"path": inbox}]})  # type: ignore[arg-type]
    settings = Settings(data_dir=tmp_path / "home", shows=[show])
    references_dir(settings, show).mkdir(parents=True)
    return allowed_roots(settings, show)


@pytest.mark.parametrize(
    "value",
    [
        "/etc/shadow",
        "/etc/passwd",
        "{inbox}/../../etc/hostname",
        "{inbox}/link_to_etc/passwd",
    ],
)
def test_a_path_outside_the_shows_folders_is_refused_for_good_in_one_line(
    value: str, roots: list[Path]
) -> None:
    inbox = roots[0]
    os.symlink("/etc", inbox / "link_to_etc")
    for key in ("reference", "mask"):
        with pytest.raises(
            Permanent, match=f"^{key} .* is outside the show's folders; put the file in "
        ) as refused:
            check_request_paths({key: value.format(inbox=inbox)}, roots)
        assert "\n" not in str(refused.value)


@pytest.mark.parametrize("value", ["sh040", "look.png", "../inbox/look.png", "first frame"])
def test_a_name_that_is_not_a_full_path_is_answered_with_what_to_write(value: str, roots: list[Path]) -> None:
    """A coordinator matching shot sh030 to sh040 wrote `reference=sh040` and was told "'sh040' is outside the
    show's folders; put the file in ...", which reads as if a file sh040 were expected; a bare file name was
    looked for wherever the daemon runs. Both are answered with the two forms a reference or a mask takes."""
    references = roots[-1]
    with pytest.raises(Permanent) as refused:
        check_request_paths({"reference": value}, roots, frames=range(1001, 1049))
    assert str(refused.value) == (
        f"reference {value!r} is neither a frame number of this shot nor the full path of a still: write"
        f" reference=1048 (a frame of this shot in the look it should take: its frames are 1001-1048), or put"
        f" a still (of another shot,"
        f" to match its look) in {references} and write its full path"
    )
    with pytest.raises(
        Permanent, match=r"^mask .* is neither a rectangle x,y,w,h nor the full path of a mask"
    ):
        check_request_paths({"mask": value}, roots)


def test_frame_numbers_rectangles_and_files_in_the_shows_folders_pass(roots: list[Path]) -> None:
    inbox, references = roots
    check_request_paths({"reference": "1012", "mask": "10, 20, 30, 40"}, roots)
    check_request_paths(
        {"reference": str(references / "look.png"), "mask": str(inbox / "sh010" / "m.####.png")}, roots
    )
    check_request_paths({"frames": "/etc/shadow"}, roots)  # not a path parameter: the head validates it
