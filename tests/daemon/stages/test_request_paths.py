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
        "relative.png",
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


def test_frame_numbers_rectangles_and_files_in_the_shows_folders_pass(roots: list[Path]) -> None:
    inbox, references = roots
    check_request_paths({"reference": "1012", "mask": "10, 20, 30, 40"}, roots)
    check_request_paths(
        {"reference": str(references / "look.png"), "mask": str(inbox / "sh010" / "m.####.png")}, roots
    )
    check_request_paths({"frames": "/etc/shadow"}, roots)  # not a path parameter: the head validates it
