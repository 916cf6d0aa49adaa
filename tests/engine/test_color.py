"""Display transforms through OpenColorIO's built-in studio config: the picture, and names that are wrong."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import PyOpenColorIO as ocio
import pytest

from engine.color import DEFAULT_CONFIG, ColorError, DisplayView, ViewSpec
from engine.synth import photo

REC709 = "Rec.1886 Rec.709 - Display"


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    """A photograph as scene-linear light over five stops, with a few negatives (as ACEScg plates have)."""
    linear = photo("astronaut")[:120, :160].astype(np.float32) ** 2.2
    stops = np.linspace(-2, 3, linear.shape[1], dtype=np.float32)
    scene = linear * np.exp2(stops)[None, :, None]
    scene[:4, :4] = -0.002
    return scene


def test_the_picture_is_ocios_own_transform_of_every_pixel(scene: np.ndarray) -> None:
    config = ocio.Config.CreateFromFile(DEFAULT_CONFIG)
    whole = np.ascontiguousarray(scene.copy())
    transform = ocio.DisplayViewTransform(src="ACEScg", display=REC709, view=config.getDefaultView(REC709))
    config.getProcessor(transform).getDefaultCPUProcessor().applyRGB(whole)

    shown = DisplayView(ViewSpec(DEFAULT_CONFIG, "scene_linear", REC709)).shown(scene)

    assert shown.shape == scene.shape and shown.dtype == np.float32
    assert np.abs(shown - np.clip(whole, 0, 1)).max() < 1e-6  # strips on threads, the same as one call
    assert shown.min() >= 0.0 and shown.max() <= 1.0
    assert scene[0, 0, 0] == pytest.approx(-0.002)  # the source frame is left as it was


def test_mid_grey_shows_as_a_mid_tone_and_brighter_light_brighter() -> None:
    view = DisplayView(ViewSpec(DEFAULT_CONFIG, "scene_linear", REC709))
    levels = np.array([[[0.045] * 3, [0.18] * 3, [0.72] * 3, [20.0] * 3]], np.float32)

    shown = view.shown(levels)[0, :, 0]

    assert 0.3 < shown[1] < 0.5  # 18% grey: a mid tone, where clipping the linear value would show 0.18
    assert list(shown) == sorted(shown) and shown[3] > 0.95
    assert view.name.startswith("ACEScg -> Rec.1886 Rec.709 - Display / ")


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        (ViewSpec(DEFAULT_CONFIG, "ACEScgg"), "'ACEScgg' is not a colour space or role"),
        (ViewSpec(DEFAULT_CONFIG, "ACEScg", "sRGB Display"), "'sRGB Display' is not a display"),
        (ViewSpec(DEFAULT_CONFIG, "ACEScg", REC709, "Filmic"), "'Filmic' is not a view of the display"),
    ],
)
def test_a_wrong_name_is_one_line_listing_the_choices(spec: ViewSpec, named: str) -> None:
    with pytest.raises(ColorError) as raised:
        DisplayView(spec)
    message = str(raised.value)
    assert named in message and "use one of" in message and "\n" not in message


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ColorError, match="give a config file or an ocio:// name"):
        DisplayView(ViewSpec(str(tmp_path / "show.ocio"), "ACEScg"))


def _show(view: DisplayView, scene: np.ndarray, expected: np.ndarray) -> None:
    assert np.abs(view.shown(scene) - expected).max() < 1e-6


@pytest.mark.fresh_interpreter  # as a daemon forks its workers: a test worker's process holds other tests' threads
def test_a_forked_process_shows_pictures_too() -> None:
    """A child forked after the parent showed a picture has none of its threads: it starts its own."""
    scene = np.random.default_rng(0).random((120, 160, 3), dtype=np.float32) * 4
    view = DisplayView(ViewSpec(DEFAULT_CONFIG, "scene_linear", REC709))
    expected = view.shown(scene)  # the parent's strip threads are running now
    child = multiprocessing.get_context("fork").Process(target=_show, args=(view, scene, expected))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0


def test_a_views_picture_is_tagged_as_its_display_encodes_it() -> None:
    """The built-in config's default display is sRGB: its picture tagged BT.709 was shown with BT.709's curve."""
    from engine.media.info import ColourTags

    assert DisplayView(ViewSpec(DEFAULT_CONFIG, "scene_linear")).tags == ColourTags(1, 13, 1)
    assert DisplayView(
        ViewSpec(DEFAULT_CONFIG, "scene_linear", "Rec.1886 Rec.709 - Display")
    ).tags == ColourTags(1, 1, 1)
    assert DisplayView(ViewSpec(DEFAULT_CONFIG, "scene_linear", "Display P3 - Display")).tags == ColourTags(
        12, 13, 1
    )


def test_a_wide_gamut_pictures_thumbnail_is_in_rec709_primaries_greys_kept_and_colours_as_a_browser_shows_them() -> (
    None
):
    """A JPEG thumbnail is shown as sRGB: a BT.2020 frame's red (its values, read as BT.709) is redder in BT.709,
    greys stay grey, a BT.709 frame stays as it is (tests/daemon/stages/test_review_in_browser.py shows it in
    Chromium)."""
    from engine.color import in_rec709_primaries
    from engine.media.info import ColourTags

    picture = np.array([[[200, 60, 50], [128, 128, 128], [0, 0, 0]]], np.uint8)
    bt2020 = in_rec709_primaries(picture, ColourTags(9, 14, 9))
    assert (
        bt2020[0, 0, 0] > 215 and bt2020[0, 0, 1] < 50
    )  # as Chromium shows the BT.2020 movie: more saturated
    assert np.abs(bt2020[0, 1:].astype(int) - picture[0, 1:]).max() <= 1  # greys and black kept
    assert in_rec709_primaries(picture, ColourTags(1, 1, 1)) is picture
    assert in_rec709_primaries(picture, None) is picture
    assert in_rec709_primaries(picture, ColourTags(9, 16, 9)) is picture  # PQ: no SDR light to convert
    assert in_rec709_primaries(picture, ColourTags(9, 18, 9)) is picture  # HLG
