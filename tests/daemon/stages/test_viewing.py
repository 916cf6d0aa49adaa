"""Which dailies are reviewed through OpenColorIO, with which config, and a show's wrong colour settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.jobs.outcomes import Permanent
from daemon.settings import ReviewColor
from daemon.stages.fixing import _review_view
from daemon.stages.viewing import ReviewLook, review_look, view_spec
from engine.color import DEFAULT_CONFIG, ViewSpec


def test_exr_dailies_are_scene_linear_and_other_kinds_shown_as_they_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OCIO", raising=False)
    color = ReviewColor()

    assert view_spec(color, "/plates/sh010/sh010.####.EXR") == ViewSpec(DEFAULT_CONFIG, "scene_linear")
    for daily in ("/dailies/A001C003.mov", "/scans/sh010.####.dpx", "/refs/sh010.####.png"):
        assert view_spec(color, daily) is None


def test_the_shows_config_comes_first_then_ocio_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIO", "/studio/ocio/config.ocio")
    log_dailies = ReviewColor(sources={"mov": "ARRI LogC3 (EI800)"}, display="sRGB - Display")

    assert view_spec(log_dailies, "/d/A001.mov") == ViewSpec(
        "/studio/ocio/config.ocio", "ARRI LogC3 (EI800)", "sRGB - Display"
    )
    # its EXR plates stay scene-linear: listing the log movies alone used to show them as display-encoded
    assert view_spec(log_dailies, "/d/sh010.####.exr") == ViewSpec(
        "/studio/ocio/config.ocio", "scene_linear", "sRGB - Display"
    )
    assert (
        view_spec(ReviewColor(sources={".MOV": "ACEScct"}), "/d/A001.mov") is not None
    )  # as a user spells it
    own = ReviewColor(config="/show/aces.ocio")
    assert view_spec(own, "/d/sh010.####.exr") == ViewSpec("/show/aces.ocio", "scene_linear")


def test_a_wrong_colour_space_fails_the_fix_for_good_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCIO", raising=False)
    with pytest.raises(Permanent) as raised:
        _review_view(ReviewColor(sources={"exr": "ACES cg"}), "ABC", "/p/sh010.####.exr", None)

    message = str(raised.value)
    assert message.startswith("shows[ABC].color: 'ACES cg' is not a colour space or role")
    assert "\n" not in message
    assert _review_view(ReviewColor(), "ABC", "/d/A001.mov", None) == (None, False)


def test_an_hdr_movie_is_reviewed_tone_mapped_to_sdr_and_delivered_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.media.info import BT709, ColourTags

    monkeypatch.setenv("OCIO", "/studio/ocio/config.ocio")
    hlg, pq = ColourTags(9, 18, 9), ColourTags(9, 16, 9)

    phone = review_look(ReviewColor(), "/d/IMG_0001.mov", hlg)
    assert phone == ReviewLook(
        ViewSpec(DEFAULT_CONFIG, "Rec.2100-HLG - Display"), scene=False
    )  # any show config
    assert review_look(ReviewColor(), "/d/IMG_0002.mov", pq).spec.source == "Rec.2100-PQ - Display"  # type: ignore[union-attr]
    assert review_look(ReviewColor(), "/d/A001.mov", BT709) is None
    named = ReviewColor(sources={"hlg": "HLG camera"}, display="sRGB - Display")
    assert review_look(named, "/d/IMG_0001.mov", hlg) == ReviewLook(
        ViewSpec("/studio/ocio/config.ocio", "HLG camera", "sRGB - Display"), scene=False
    )
    assert review_look(ReviewColor(), "/p/sh010.####.exr", None) == ReviewLook(
        ViewSpec("/studio/ocio/config.ocio", "scene_linear"), scene=True
    )


def test_a_display_and_view_typed_in_another_case_are_the_configs_and_a_missing_ocio_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # "srgb - display" was refused though OCIO finds colour spaces so; a bad $OCIO was filed under
    # color.config, a key the file did not have
    from daemon.settings import ShowConfig
    from daemon.stages.viewing import color_problems, display_view

    monkeypatch.delenv("OCIO", raising=False)
    typed = ViewSpec(DEFAULT_CONFIG, "ACEScg", "srgb - display", "aces 2.0 - sdr 100 nits (rec.709)")
    assert display_view(typed).name == "ACEScg -> sRGB - Display / ACES 2.0 - SDR 100 nits (Rec.709)"
    monkeypatch.setenv("OCIO", str(tmp_path / "gone.ocio"))
    [line] = color_problems([ShowConfig(code="A")])
    assert line.startswith(
        f"shows[0].color.config (not set: $OCIO is used): OCIO config {tmp_path / 'gone.ocio'}"
    )


def test_config_check_names_a_colour_space_the_ocio_config_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """`rushes config check` used to say ok, and every fix of such a daily failed on it later, on its task."""
    from daemon.settings import ShowConfig
    from daemon.stages.viewing import color_problems

    monkeypatch.delenv("OCIO", raising=False)
    shows = [
        ShowConfig(code="A", color=ReviewColor(sources={"exr": "scene_linear", "dpx": "ADX10"})),
        ShowConfig(code="B", color=ReviewColor(sources={"dpx": "Cineon log"})),
    ]

    [line] = color_problems(shows)

    assert line.startswith(
        "shows[1].color.sources.dpx: 'Cineon log' is not a colour space or role of the OCIO"
    )


def test_an_exr_plate_tagged_aces2065_1_is_seen_in_it_and_an_untagged_one_as_its_kind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """ACES plates are AP0 (their `chromaticities` say so); seen as the config's scene_linear (ACEScg), their review
    pictures were too saturated. A show's plates and its CG renders are all `.exr`."""
    import numpy as np
    import OpenEXR

    monkeypatch.delenv("OCIO", raising=False)
    ap0 = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)
    for name, header in (("plate", {"chromaticities": ap0}), ("render", {})):
        (tmp_path / name).mkdir()
        for number in (1001, 1002):
            OpenEXR.File(
                {"type": OpenEXR.scanlineimage, **header}, {"RGB": np.full((8, 8, 3), 0.18, np.float16)}
            ).write(str(tmp_path / name / f"sh010.{number}.exr"))

    plate = view_spec(ReviewColor(), str(tmp_path / "plate" / "sh010.####.exr"))
    render = view_spec(ReviewColor(), str(tmp_path / "render" / "sh010.####.exr"))

    assert plate is not None and plate.source == "ACES2065-1"
    assert render is not None and render.source == "scene_linear"
    # a show that names its EXR space is taken at its word (a writer may stamp any primaries on a render)
    named = view_spec(ReviewColor(sources={"exr": "ACEScg"}), str(tmp_path / "plate" / "sh010.####.exr"))
    assert named is not None and named.source == "ACEScg"
    assert (
        "ACES2065-1 -> sRGB - Display"
        in _review_view(ReviewColor(), "ABC", str(tmp_path / "plate" / "sh010.####.exr"), None)[0].name
    )  # type: ignore[union-attr]
