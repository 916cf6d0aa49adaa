"""The render step: real encodes of small clips, probed and decoded back."""

from __future__ import annotations

import errno
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import opentimelineio as otio
import pytest

import daemon.stages.rendering as rendering
from daemon.stages.rendering import Layout, RenderedFiles, RenderError, RenderPlan, RenderSink
from engine.lut import identity, read_cube
from engine.media import MediaError, probe, read_frames_uint8, read_image
from integrations.editorial import read_timeline

W, H = 160, 96
COUNT = 10


def picture(index: int, width: int = W, height: int = H, level: float = 0.0) -> np.ndarray:
    """A gradient whose brightness steps with `index`, so each frame can be told apart."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 0.1 + 0.07 * index + level
    rgb = np.stack([base + 0.1 * x / width, base + 0.1 * y / height, np.full_like(x, base)], axis=-1)
    return np.clip(rgb, 0, 1).astype(np.float32)


def before_frame(index: int, width: int = W, height: int = H) -> np.ndarray:
    return picture(index, width, height) * np.float32(0.5)  # dark: the "before" of a regrade


def make_plan(tmp_path: Path, **kw: Any) -> RenderPlan:
    values: dict[str, Any] = {
        "out_dir": tmp_path / "renders" / "demo" / "sh010" / "12-regrade",
        "name": "sh010_regrade_r12",
        "kind": "regrade",
        "fps": Fraction(24),
        "first_frame": 1001,
        "timecode": "01:00:00:00",
    }
    values.update(kw)
    return RenderPlan(**values)


def render(
    plan: RenderPlan,
    count: int = COUNT,
    before_size: tuple[int, int] = (W, H),
    after_size: tuple[int, int] = (W, H),
    lut: np.ndarray | None = None,
    first: int | None = None,
) -> RenderedFiles:
    start = plan.first_frame if first is None else first
    with RenderSink(plan) as sink:
        for i in range(count):
            sink.add(start + i, before_frame(i, *before_size), picture(i, *after_size))
        return sink.finish(lut=lut)


def decoded(path: Path) -> list[np.ndarray]:
    return [f.rgb for f in read_frames_uint8(path)]


def siblings(plan: RenderPlan) -> list[str]:
    return sorted(p.name for p in plan.out_dir.parent.iterdir())


def test_review_files_exist_and_probe_right(tmp_path: Path) -> None:
    plan = make_plan(tmp_path)
    files = render(plan)
    assert (files.first_frame, files.last_frame, files.frame_count) == (1001, 1010, COUNT)
    for path in (files.review_movie, files.before_after, files.thumbnail, files.otio):
        assert path.parent == plan.out_dir and path.is_file()
    assert files.review_movie.name == "sh010_regrade_r12.mp4"
    assert files.before_after.name == "sh010_regrade_r12_before_after.mp4"
    assert files.frames is None and files.cube is None
    review = probe(files.review_movie)
    assert (review.codec, review.width, review.height) == ("h264", W, H)
    assert review.frame_count == COUNT and review.fps == 24 and review.timecode == "01:00:00:00"
    pair = probe(files.before_after)
    assert pair.frame_count == COUNT and pair.width == 2 * W and pair.height % 2 == 0
    assert pair.timecode == "01:00:00:00"
    assert siblings(plan) == ["12-regrade"]  # no temporary folder is left


def test_review_movie_holds_the_after_frames_in_order(tmp_path: Path) -> None:
    files = render(make_plan(tmp_path))
    means = [frame.mean() / 255 for frame in decoded(files.review_movie)]
    expected = [picture(i).mean() for i in range(COUNT)]
    assert np.allclose(means, expected, atol=0.01)


def test_before_after_side_by_side_panels_and_labels(tmp_path: Path) -> None:
    files = render(make_plan(tmp_path))
    layout = Layout.for_size("side", W, H)
    frames = decoded(files.before_after)
    assert len(frames) == COUNT
    frame = frames[3].astype(np.float32) / 255
    band, panels = frame[: layout.band_height], frame[layout.band_height :]
    assert abs(panels[:, :W].mean() - before_frame(3).mean()) < 0.02
    assert abs(panels[:, W:].mean() - picture(3).mean()) < 0.02
    # the labels are light text on the dark band, over each half
    for half in (band[:, :W], band[:, W:]):
        assert half.max() > 0.6
        assert np.median(half) < 0.15


def test_upscaled_after_frames(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, kind="upscale", name="sh010_upscale_r1")
    files = render(plan, count=4, before_size=(W // 2, H // 2), after_size=(W, H))
    assert (probe(files.review_movie).width, probe(files.review_movie).height) == (W, H)
    pair = probe(files.before_after)
    assert (pair.width, pair.frame_count) == (2 * W, 4)
    layout = Layout.for_size("side", W, H)
    left = decoded(files.before_after)[1][layout.band_height :, :W].astype(np.float32) / 255
    assert np.abs(left - before_frame(1)).mean() < 0.02  # the half-size before, scaled up to match


def test_wide_frames_give_a_before_after_at_most_1920_wide(tmp_path: Path) -> None:
    files = render(make_plan(tmp_path), count=2, before_size=(1282, 722), after_size=(1282, 722))
    pair = probe(files.before_after)
    assert pair.width == 1920 and pair.height % 2 == 0 and pair.frame_count == 2
    assert probe(files.review_movie).width in (1282,)


def test_wipe_moves_from_before_to_after(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, before_after="wipe")
    files = render(plan)
    pair = probe(files.before_after)
    assert (pair.width, pair.frame_count, pair.timecode) == (W, COUNT, "01:00:00:00")
    layout = Layout.for_size("wipe", W, H)
    frames = [f[layout.band_height :].astype(np.float32) / 255 for f in decoded(files.before_after)]
    first, last = frames[0], frames[-1]
    assert abs(first[:, W // 4 :].mean() - before_frame(0).mean()) < 0.02  # all before at the start
    assert abs(last[:, : 3 * W // 4].mean() - picture(COUNT - 1).mean()) < 0.02  # all after at the end
    middle = frames[COUNT // 2]  # after on the left of the line, before on its right
    assert middle[:, :20].mean() > middle[:, -20:].mean() + 0.1
    assert not (plan.out_dir / "sh010_regrade_r12_wipe_buffer.mkv").exists()


def test_thumbnail_is_the_middle_frame(tmp_path: Path) -> None:
    files = render(make_plan(tmp_path), count=7)
    thumb = read_image(files.thumbnail)
    assert thumb.shape == (H, W, 3)
    distances = [abs(thumb.mean() - picture(i).mean()) for i in range(7)]
    assert int(np.argmin(distances)) == 3


def test_thumbnail_is_at_most_640_wide(tmp_path: Path) -> None:
    files = render(make_plan(tmp_path), count=1, before_size=(1000, 400), after_size=(1000, 400))
    assert read_image(files.thumbnail).shape == (256, 640, 3)


def test_prores_finishing(tmp_path: Path) -> None:
    files = render(make_plan(tmp_path, finishing="prores"))
    assert files.frames is not None and files.frames.endswith("sh010_regrade_r12_prores.mov")
    info = probe(files.frames)
    assert info.codec == "prores" and info.pix_fmt == "yuv422p10le"
    assert (info.frame_count, info.fps, info.timecode) == (COUNT, 24, "01:00:00:00")


@pytest.mark.parametrize(("daily", "delivered"), [("yuv422p10le", "yuv422p10le"), ("yuv420p", "yuv422p")])
def test_a_dnxhr_deliverable_for_an_avid_facility_in_mxf(tmp_path: Path, daily: str, delivered: str) -> None:
    plan = make_plan(tmp_path, finishing="dnxhr", source_pix_fmt=daily)

    files = render(plan, count=3, before_size=(256, 144), after_size=(256, 144))

    assert files.frames is not None and files.frames.endswith("sh010_regrade_r12_dnxhr.mxf")
    info = probe(files.frames)
    assert (info.codec, info.pix_fmt, info.frame_count, info.timecode) == (
        "dnxhd",
        delivered,
        3,
        "01:00:00:00",
    )


def test_the_prores_deliverable_keeps_an_interlaced_dailys_field_order_and_the_review_is_progressive(
    tmp_path: Path,
) -> None:
    files = render(make_plan(tmp_path, finishing="prores", scan="bottom field first"), count=2)

    assert files.frames is not None and probe(files.frames).interlaced == "bottom field first"
    assert probe(files.review_movie).interlaced is None  # what web review players show


def test_the_prores_deliverable_keeps_the_dailys_footage_tags(tmp_path: Path) -> None:
    tags = {"com.apple.quicktime.model": "iPhone 15 Pro", "creation_time": "2026-11-30T10:00:00.000000Z"}

    files = render(make_plan(tmp_path, finishing="prores", tags=tags))

    assert files.frames is not None and probe(files.frames).tags == tags


@pytest.mark.parametrize(
    ("daily", "delivered"),
    [
        ("yuv420p", "yuv422p10le"),
        ("yuv444p12le", "yuv444p12le"),
        ("gbrpf16le", "yuv444p12le"),
        (None, "yuv422p10le"),
    ],
)
def test_the_prores_deliverable_keeps_a_full_chroma_dailys_chroma(
    tmp_path: Path, daily: str | None, delivered: str
) -> None:
    files = render(make_plan(tmp_path, finishing="prores", source_pix_fmt=daily), count=2)

    assert files.frames is not None and probe(files.frames).pix_fmt == delivered  # 4444 reads back as 12 bits


def test_exr_finishing(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, finishing="exr")
    files = render(plan)
    assert files.frames == str(plan.out_dir / "sh010_regrade_r12.####.exr")
    info = probe(files.frames)
    assert (info.first_frame, info.last_frame, info.frame_count) == (1001, 1010, COUNT)
    assert info.pix_fmt == "gbrpf16le" and info.fps == 24
    frame = read_image(plan.out_dir / "sh010_regrade_r12.1004.exr")
    assert np.allclose(frame, picture(3), atol=2e-3)


def test_the_exr_deliverable_of_a_float_plate_is_float(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, finishing="exr", source_pix_fmt="gbrpf32le")
    files = render(plan)
    assert files.frames is not None and probe(files.frames).pix_fmt == "gbrpf32le"  # half rounds to 11 bits
    assert np.array_equal(read_image(plan.out_dir / "sh010_regrade_r12.1004.exr"), picture(3))


@pytest.mark.parametrize("before_after", ["side", "wipe"])
def test_the_movies_hold_the_frame_before_a_hole_and_the_exr_frames_keep_it(
    tmp_path: Path, before_after: str
) -> None:
    plan = make_plan(tmp_path, finishing="exr", before_after=before_after)
    with RenderSink(
        plan
    ) as sink:  # frames 1004-1006 missing from the daily (files, or dropped while recording)
        for number in (1001, 1002, 1003, 1007, 1008):
            sink.add(number, before_frame(number - 1001), picture(number - 1001))
        files = sink.finish()

    review = decoded(files.review_movie)
    assert len(review) == probe(files.before_after).frame_count == files.frame_count == 8  # the shot's length
    shown = [int(np.argmin([abs(f.mean() / 255 - picture(i).mean()) for i in range(8)])) for f in review]
    assert shown == [0, 1, 2, 2, 2, 2, 6, 7]  # 1003 held over the hole: 1007 plays at its own time
    exr = probe(str(files.frames))
    assert exr.frame_count == 5 and exr.missing_frames == [1004, 1005, 1006]
    otio_clip = read_timeline(files.otio).find_clips()[0]
    assert otio_clip.source_range is not None and otio_clip.source_range.duration.value == 8
    holding = otio.schema.ImageSequenceReference.MissingFramePolicy.hold  # as the movies do over the hole
    assert otio_clip.media_reference.missing_frame_policy == holding


@pytest.mark.parametrize("before_after", ["side", "wipe"])
def test_a_pause_in_the_numbers_stays_a_pause_in_every_movie(tmp_path: Path, before_after: str) -> None:
    plan = make_plan(tmp_path, before_after=before_after)
    with RenderSink(plan) as sink:  # 1004-1059 missing: over 2 s at 24 fps, a pause
        for number in (1001, 1002, 1003, 1060, 1061):
            sink.add(number, before_frame(number % 7), picture(number % 7))
        files = sink.finish()

    for movie in (files.review_movie, files.before_after):
        info = probe(movie)
        assert (info.frame_count, info.dropped, info.last_frame) == (5, [(2, 56)], 60), (
            movie
        )  # as long as the shot
    otio_clip = read_timeline(files.otio).find_clips()[0]
    assert otio_clip.source_range is not None and otio_clip.source_range.duration.value == 61


def test_cube_reads_back(tmp_path: Path) -> None:
    lut = np.clip(identity(9) * 0.8 + 0.1, 0, 1)
    files = render(make_plan(tmp_path), count=3, lut=lut)
    assert files.cube == files.review_movie.with_suffix(".cube")
    assert np.allclose(read_cube(files.cube), lut, atol=1e-5)


def test_otio_reads_back_with_range_and_timecode(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, fps=Fraction(24000, 1001))
    files = render(plan)
    (clip,) = read_timeline(files.otio).find_clips()
    assert clip.media_reference.target_url == str(files.review_movie)
    available = clip.media_reference.available_range
    assert available.duration.to_frames() == COUNT
    assert available.start_time.rate == pytest.approx(24000 / 1001)
    assert otio.opentime.to_timecode(available.start_time, available.start_time.rate) == "01:00:00:00"
    assert clip.metadata["rushes"]["first_frame"] == 1001
    assert clip.metadata["rushes"]["last_frame"] == 1010


@pytest.mark.parametrize("finishing", ["prores", "dnxhr", "exr"])
def test_the_otio_clip_relinks_to_the_deliverable_with_the_review_movie_beside_it(
    tmp_path: Path, finishing: str
) -> None:
    files = render(
        make_plan(tmp_path, finishing=finishing), count=3, before_size=(256, 144), after_size=(256, 144)
    )

    (clip,) = read_timeline(files.otio).find_clips()
    delivered = clip.media_reference
    if finishing == "exr":
        assert isinstance(delivered, otio.schema.ImageSequenceReference)
        named = [
            delivered.target_url_for_image_number(i) for i in range(delivered.number_of_images_in_sequence())
        ]
        assert named == [str(files.frames).replace("####", str(n)) for n in (1001, 1002, 1003)]
        assert all(Path(name).is_file() for name in named)
    else:
        assert delivered.target_url == files.frames and Path(delivered.target_url).is_file()
    assert clip.media_references()["review"].target_url == str(files.review_movie)
    start = delivered.available_range.start_time
    assert (otio.opentime.to_timecode(start, start.rate), delivered.available_range.duration.value) == (
        "01:00:00:00",
        3,
    )


def test_timecode_follows_the_first_frame_number(tmp_path: Path) -> None:
    """The plan's timecode is that of plan.first_frame; a render starting two frames later starts later."""
    files = render(make_plan(tmp_path), count=3, first=1003)
    assert (files.first_frame, files.last_frame) == (1003, 1005)
    assert probe(files.review_movie).timecode == "01:00:00:02"


def test_exception_inside_the_block_leaves_no_folder(tmp_path: Path) -> None:
    plan = make_plan(tmp_path)
    with pytest.raises(RuntimeError), RenderSink(plan) as sink:
        sink.add(1001, before_frame(0), picture(0))
        raise RuntimeError("the head failed")
    assert siblings(plan) == []


def test_rerender_replaces_the_old_render(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, finishing="exr")
    render(plan, count=COUNT)
    again = make_plan(tmp_path, finishing="none")
    with RenderSink(again) as sink:
        for i in range(4):
            sink.add(1001 + i, before_frame(i), picture(i))
        # until finish() the old render stays whole where the publish step looks
        assert probe(plan.out_dir / "sh010_regrade_r12.mp4").frame_count == COUNT
        assert len(list(plan.out_dir.glob("*.exr"))) == COUNT
        files = sink.finish()
    assert probe(files.review_movie).frame_count == 4
    assert not list(plan.out_dir.glob("*.exr"))  # nothing of the old render is mixed in
    assert siblings(plan) == ["12-regrade"]


def test_leftover_temp_folder_from_a_crash_is_removed(tmp_path: Path) -> None:
    plan = make_plan(tmp_path)
    stale = plan.out_dir.with_name(f"{plan.out_dir.name}.tmp-99999")
    stale.mkdir(parents=True)
    (stale / "sh010_regrade_r12.mp4").write_bytes(b"half a movie")
    render(plan, count=2)
    assert siblings(plan) == ["12-regrade"]


def test_disk_full_is_one_line_and_leaves_the_old_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = make_plan(tmp_path)
    render(plan, count=3)

    def full_disk(path: Path, lut: np.ndarray, title: str = "") -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rendering, "write_cube", full_disk)
    with pytest.raises(RenderError) as caught:
        render(plan, count=5, lut=identity(3))
    message = str(caught.value)
    cube = plan.out_dir / "sh010_regrade_r12.cube"
    assert message == f"disk full while writing {cube}; free space on {plan.out_dir.parent}"
    assert siblings(plan) == ["12-regrade"]
    assert probe(plan.out_dir / "sh010_regrade_r12.mp4").frame_count == 3  # the old render is untouched


def test_disk_full_from_the_encoder_is_recognised() -> None:
    assert rendering.is_disk_full(MediaError("encoding failed: No space left on device", "/r/a.mp4"))
    assert rendering.is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not rendering.is_disk_full(MediaError("encoding failed: Invalid argument", "/r/a.mp4"))


def test_frames_out_of_order_or_resized_are_refused(tmp_path: Path) -> None:
    plan = make_plan(tmp_path)
    with pytest.raises(RenderError, match="must ascend"), RenderSink(plan) as sink:
        sink.add(1002, before_frame(0), picture(0))
        sink.add(1001, before_frame(1), picture(1))
    with pytest.raises(RenderError, match="one size"), RenderSink(plan) as sink:
        sink.add(1001, before_frame(0), picture(0))
        sink.add(1002, before_frame(1), picture(1, 2 * W, 2 * H))
    assert siblings(plan) == []


def test_finish_without_frames_is_refused(tmp_path: Path) -> None:
    plan = make_plan(tmp_path)
    with pytest.raises(RenderError, match="no frames"), RenderSink(plan) as sink:
        sink.finish()
    assert siblings(plan) == []


def test_a_scene_referred_daily_is_reviewed_through_its_view_and_delivered_as_it_is(tmp_path: Path) -> None:
    from engine.color import DEFAULT_CONFIG, DisplayView, ViewSpec

    view = DisplayView(ViewSpec(DEFAULT_CONFIG, "scene_linear", "Rec.1886 Rec.709 - Display"))
    plan = make_plan(tmp_path, finishing="exr", view=view)
    scene = [picture(i) * np.float32(4.0) for i in range(3)]  # linear light, much of it over 1.0
    with RenderSink(plan) as sink:
        for i, after in enumerate(scene):
            sink.add(1001 + i, rendering.as_uint8(view.shown(before_frame(i))), sink.compact(after))
        files = sink.finish()

    for after, reviewed in zip(scene, decoded(files.review_movie), strict=True):
        expected = rendering.as_uint8(view.shown(after)).astype(int)
        assert (
            np.abs(reviewed.astype(int) - expected).mean() < 2.0
        )  # the display picture, H.264's error aside
        assert np.abs(reviewed.astype(int) - rendering.as_uint8(after).astype(int)).mean() > 20  # not clipped
    delivered = read_image(plan.out_dir / "sh010_regrade_r12.1002.exr")
    assert np.allclose(delivered, scene[1], rtol=2e-3)  # the deliverable keeps the scene's values
    assert delivered.max() > 1.0


def test_a_views_review_movies_are_tagged_as_its_display_encodes_them(tmp_path: Path) -> None:
    """The built-in config's default display is sRGB: its pictures tagged BT.709 were shown with the wrong curve."""
    from engine.color import DEFAULT_CONFIG, DisplayView, ViewSpec
    from engine.media.info import ColourTags

    view = DisplayView(ViewSpec(DEFAULT_CONFIG, "scene_linear"))
    plan = make_plan(tmp_path, finishing="prores", view=view, colour=view.tags)
    with RenderSink(plan) as sink:
        for i in range(2):
            sink.add(1001 + i, rendering.as_uint8(view.shown(before_frame(i))), sink.compact(picture(i)))
        files = sink.finish()

    assert files.frames is not None
    for movie in (files.review_movie, files.before_after, Path(files.frames)):
        assert probe(str(movie)).colour == ColourTags(1, 13, 1)  # sRGB's curve, BT.709's primaries


@pytest.mark.parametrize("before_after", ["side", "wipe"])
def test_the_review_files_carry_the_dailys_sound_on_its_frames(tmp_path: Path, before_after: str) -> None:
    from engine.media.audio import SoundSpan
    from tests import footage

    daily = footage.movie_with_sound(tmp_path / "A001C003.mov", COUNT, clap_at=0.25, seconds=2.0)
    plan = make_plan(tmp_path, finishing="prores", before_after=before_after, sound=SoundSpan(daily))

    files = render(plan)

    for movie in (files.review_movie, files.before_after, Path(files.frames or "")):
        assert abs(footage.clap_time(movie) - 0.25) < 0.001, movie  # a supervisor hears the clap on its frame
        samples, rate = footage.sound_of(movie)
        assert samples.shape[1] / rate == pytest.approx(COUNT / 24, abs=0.03), movie  # cut at the last frame
    assert probe(Path(files.frames or "")).sound.codec == "pcm_s24le"  # type: ignore[union-attr]
    assert probe(files.review_movie).sound.codec == "aac"  # type: ignore[union-attr]


def test_exr_deliverable_frames_keep_the_headers_of_the_dailys_frames(tmp_path: Path) -> None:
    import OpenEXR

    from engine.media.encode import HeaderSource
    from engine.media.exr import read_exr_attributes

    plates = tmp_path / "plates"
    plates.mkdir()
    for number in range(1001, 1001 + COUNT):
        header = {"type": OpenEXR.scanlineimage, "comments": f"frame {number}"}
        OpenEXR.File(header, {"RGB": np.zeros((H, W, 3), np.float16)}).write(
            str(plates / f"sh010.{number}.exr")
        )
    plan = make_plan(tmp_path, finishing="exr", headers=HeaderSource(str(plates / "sh010.####.exr"), 1001))

    files = render(plan)

    frames = files.frames or ""
    assert read_exr_attributes(Path(frames.replace("####", "1003")))["comments"] == "frame 1003"


def test_exr_deliverable_frames_carry_each_frames_timecode(tmp_path: Path) -> None:
    from engine.media.images import read_header

    files = render(make_plan(tmp_path, finishing="exr", timecode="01:00:00:00"))

    frames = files.frames or ""
    assert probe(frames).timecode == "01:00:00:00"
    assert read_header(Path(frames.replace("####", "1004"))).timecode == "01:00:00:03"


@pytest.mark.parametrize("finishing", ["prores", "dnxhr", "exr"])
def test_every_deliverable_of_a_movie_daily_keeps_its_reel_name(tmp_path: Path, finishing: str) -> None:
    plan = make_plan(tmp_path, finishing=finishing, timecode="14:02:11:05", reel="A003C012")
    files = render(plan, count=2, before_size=(256, 144), after_size=(256, 144))

    assert (
        files.frames is not None and probe(files.frames).reel == "A003C012"
    )  # a conform goes by reel and timecode


@pytest.mark.parametrize("finishing", ["prores", "exr"])
def test_an_anamorphic_dailys_review_is_in_square_pixels_and_its_deliverable_as_stored(
    tmp_path: Path, finishing: str
) -> None:
    plan = make_plan(tmp_path, finishing=finishing, pixel_aspect=Fraction(2))  # a 2x squeeze

    files = render(plan)

    review = probe(files.review_movie)
    assert (review.width, review.height, review.pixel_aspect) == (W, H // 2, 1)  # as the camera framed it
    assert decoded(files.before_after)[0].shape[0] < H  # both panels desqueezed too
    delivered = probe(files.frames or "")
    assert (delivered.width, delivered.height, delivered.pixel_aspect) == (
        W,
        H,
        2,
    )  # the fixed pixels, tagged


def test_the_review_files_carry_the_dailys_colour_tags(tmp_path: Path) -> None:
    from engine.media.info import ColourTags

    hlg = ColourTags(primaries=9, transfer=18, matrix=9)
    files = render(make_plan(tmp_path, finishing="prores", colour=hlg))

    for movie in (files.review_movie, files.before_after, Path(files.frames or "")):
        assert probe(movie).colour == hlg, movie
    reviewed = decoded(files.review_movie)[3].astype(int)
    assert np.abs(reviewed - rendering.as_uint8(picture(3)).astype(int)).mean() < 2.0  # read as written


def test_the_before_after_burns_in_each_frames_number_and_timecode(tmp_path: Path) -> None:
    """A supervisor pausing the comparison names the frame to the artist: its number and timecode are in the
    band, frame by frame, in both layouts (the review movie stays clean: approvals train on its pictures)."""
    width, height = 640, 360
    for mode in ("side", "wipe"):
        plan = make_plan(tmp_path / mode, before_after=mode)
        with RenderSink(plan) as sink:
            for i in (0, 1, 3):  # frame 1003 missing: the hole holds 1002, and its number
                sink.add(1001 + i, before_frame(i, width, height), picture(i, width, height))
            files = sink.finish()
        layout = Layout.for_size(mode, width, height)
        labels = ("before", "after: regrade") if mode == "side" else ("after: regrade", "before")
        bands = [f[: layout.band_height].astype(np.float32) for f in decoded(files.before_after)]
        expected = {
            n: layout.band(*labels, counter=f"{n}  01:00:00:{n - 1001:02d}").astype(np.float32)
            for n in (1001, 1002, 1004)
        }
        shown = [1001, 1002, 1002, 1004]
        assert len(bands) == len(shown), mode
        for band, number in zip(bands, shown, strict=True):
            errors = {n: float(np.abs(band - e).mean()) for n, e in expected.items()}
            assert min(errors, key=errors.__getitem__) == number, (mode, number, errors)
        assert expected[1001].tobytes() != layout.band(*labels).tobytes()  # the counter fits at this size
        review = decoded(files.review_movie)[0].astype(np.float32) / 255
        assert abs(review.mean() - picture(0, width, height).mean()) < 0.01  # no burn-in on the review movie
