"""Path templates map dailies paths to shot, take, show and date."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from pydantic import ValidationError

from integrations.ingest.candidates import Rejected
from integrations.ingest.options import IngestOptions
from integrations.ingest.scan import scan_root
from integrations.ingest.templates import Match, Templates


def ingest_options(**values: object) -> IngestOptions:
    return IngestOptions.model_validate(values)


def test_movie_template_reads_show_date_shot_take() -> None:
    templates = Templates("{show}/{date}/{shot}_{take}.{ext}", "{shot}/{shot}.####.{ext}")
    assert templates.match_movie("MYSHOW/20240131/ep01_sh010_3.mov") == Match(
        shot="ep01_sh010", take="3", show="MYSHOW", date="20240131", ext="mov"
    )
    # folders above the template are free
    assert templates.match_movie("incoming/MYSHOW/20240131/sh010_3.mxf") == Match(
        shot="sh010", take="3", show="MYSHOW", date="20240131", ext="mxf"
    )


def test_a_shot_named_decomposed_by_a_mac_is_read_composed() -> None:
    """Deliveries from a Mac (NFD) and from Linux (NFC) of the same shot were two shots of one name."""
    templates = Templates("{shot}_{take}.{ext}", "{shot}/{shot}.####.{ext}")
    composed = unicodedata.normalize("NFC", "café010")
    decomposed = unicodedata.normalize("NFD", "café010")
    assert decomposed != composed
    take = unicodedata.normalize("NFD", "é1")
    assert templates.match_movie(f"{decomposed}_{take}.mov") == Match(shot=composed, take="é1", ext="mov")
    sequence = templates.match_sequence(f"{decomposed}/{decomposed}.####.exr")
    assert sequence is not None and sequence.shot == composed


def test_non_matching_names_give_none() -> None:
    templates = Templates("{show}/{date}/{shot}_{take}.{ext}", "{shot}/{shot}.####.{ext}")
    assert templates.match_movie("sh010_3.mov") is None  # no show/date folders
    assert templates.match_movie("MYSHOW/20240131/sh010.mov") is None  # no take
    assert templates.match_sequence("sh010/sh020.####.exr") is None  # folder and file disagree on the shot


def test_template_without_take_gives_none_and_leading_slash_anchors() -> None:
    templates = Templates("/{shot}.{ext}", "{shot}.####.{ext}")
    assert templates.match_movie("sh010.mov") == Match(shot="sh010", ext="mov")
    assert templates.match_movie("deeper/sh010.mov") is None


@pytest.mark.parametrize("pattern", ["sh010/sh010.####.exr", "sh010/sh010.%04d.exr", "sh010/sh010.@@@@.exr"])
@pytest.mark.parametrize(
    "template", ["{shot}/{shot}.####.{ext}", "{shot}/{shot}.%04d.{ext}", "{shot}/{shot}.@.{ext}"]
)
def test_sequence_padding_forms_match_each_other(template: str, pattern: str) -> None:
    match = Templates("{shot}_{take}.{ext}", template).match_sequence(f"plates/{pattern}")
    assert match == Match(shot="sh010", ext="exr")


def test_field_regex_narrows_a_field() -> None:
    templates = Templates(r"{shot:[a-z]{2}\d{3}}_{take:\d+}.{ext}", "{shot}.####.{ext}")
    assert templates.match_movie("sh010_12.mov") == Match(shot="sh010", take="12", ext="mov")
    assert templates.match_movie("shot010_12.mov") is None
    assert templates.match_movie("sh010_v2.mov") is None


@pytest.mark.parametrize(
    ("movie", "sequence", "message"),
    [
        ("{shot}.####.{ext}", "{shot}.####.{ext}", "belongs in sequence_template"),
        ("{shoot}_{take}.{ext}", "{shot}.####.{ext}", "unknown field {shoot}"),
        ("{take}.{ext}", "{shot}.####.{ext}", "has no {shot} field"),
        ("{shot_{take}.{ext}", "{shot}.####.{ext}", "never closed"),
        ("", "{shot}.####.{ext}", "is empty"),
        ("{shot:(}.{ext}", "{shot}.####.{ext}", "regex of {shot} is invalid"),
        ("{shot:(?i)sh\\d+}_{take}.{ext}", "{shot}.####.{ext}", "do not fit together"),  # a flag mid-pattern
        ("{shot:(?P<shot>x)}.{ext}", "{shot}.####.{ext}", "do not fit together"),
        ("{shot}.{ext}", "{shot}.{ext}", "needs exactly one frame token"),
        ("{shot}.{ext}", "{shot}.####.####.{ext}", "found 2"),
    ],
)
def test_template_errors_are_one_clear_sentence(movie: str, sequence: str, message: str) -> None:
    with pytest.raises(ValueError, match="template") as raised:
        Templates(movie, sequence)
    assert message in str(raised.value)


def test_options_reject_a_bad_template_at_load_time() -> None:
    with pytest.raises(ValidationError, match="belongs in sequence_template"):
        ingest_options(path_template="{shot}.####.mov")


def test_several_templates_are_tried_in_order_and_a_name_none_reads_is_refused_naming_them(
    tmp_path: Path,
) -> None:
    templates = Templates(["{shot}_{take}.{ext}", "{show}-{shot}-v{take}.{ext}"], "{shot}/{shot}.####.{ext}")
    old, new = templates.match_movie("sh020_1.mov"), templates.match_movie("MRS-sh030-v002.mov")
    assert old is not None and (old.shot, old.take) == ("sh020", "1")
    assert new is not None and (new.show, new.shot, new.take) == ("MRS", "sh030", "002")
    (tmp_path / "cups.mov").write_bytes(b"not read: its name is refused first")
    options = ingest_options(path_template=["{shot}_{take}.{ext}", "{show}-{shot}-v{take}.{ext}"])
    [rejected] = scan_root(tmp_path, options)
    assert isinstance(rejected, Rejected) and rejected.reason == (
        "name does not match the path templates '{shot}_{take}.{ext}' or '{show}-{shot}-v{take}.{ext}'"
    )
    with pytest.raises(ValidationError, match="sequence_template must be a template or a list of templates"):
        ingest_options(sequence_template=5)


def test_a_name_holding_a_line_break_is_refused_not_a_shot_that_breaks_every_list(tmp_path: Path) -> None:
    """`sh1<newline>2_1.mp4` was registered as shot "sh1\\n2": `rushes dailies list` (tab-separated, a line a
    daily) and the logs split it in two."""
    from integrations.ingest.candidates import CONTROL_NAME

    (tmp_path / "sh1\n2_1.mp4").write_bytes(b"x" * 100)
    (tmp_path / "sh3\t4").mkdir()
    for frame in range(1001, 1006):  # a sequence: one rejection, not one a frame
        (tmp_path / "sh3\t4" / f"sh3.{frame}.exr").write_bytes(b"x" * 100)
    found = scan_root(tmp_path, ingest_options())
    assert sorted((f.path.name, f.reason, len(f.files)) for f in found if isinstance(f, Rejected)) == [
        ("sh1\n2_1.mp4", CONTROL_NAME, 1),
        ("sh3.####.exr", CONTROL_NAME, 5),
    ]
