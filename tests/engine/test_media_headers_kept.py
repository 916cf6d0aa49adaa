"""A fix's EXR and DPX frames keep the header of the frame each was made from: an EXR's primaries, camera and
lens metadata, a DPX's film and television headers and its pixels' transfer (a film scan's printing density); an
EXR's other channels (a CG render's AOVs, depth, IDs) where the frame is its source frame at its size."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import OpenEXR

from engine.media.dpx import read_dpx_timecode, with_dpx_header
from engine.media.encode import HeaderSource, write_numbered_sequence
from engine.media.exr import read_exr_attributes, read_exr_header, read_exr_layers
from engine.media.images import encode_image_bytes, read_image, write_image

AP0 = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)


def _camera_plate(path: Path) -> None:
    header = {
        "compression": OpenEXR.PIZ_COMPRESSION,
        "type": OpenEXR.scanlineimage,
        "chromaticities": AP0,  # ACES 2065-1: read with Rec.709 primaries, every colour would be wrong
        "owner": "ACME Pictures",
        "arri/lensModel": "Master Prime 32mm",  # what matchmove reads
        "focus": 2.5,
        "worldToCamera": np.eye(4, dtype=np.float32),
    }
    OpenEXR.File(header, {"RGB": np.full((24, 32, 3), 0.18, np.float16)}).write(str(path))


def test_an_exr_frame_keeps_the_attributes_of_the_frame_it_was_made_from(tmp_path: Path) -> None:
    _camera_plate(tmp_path / "plate.1001.exr")

    write_image(
        tmp_path / "fixed.1001.exr", np.full((48, 64, 3), 0.2, np.float32), like=tmp_path / "plate.1001.exr"
    )

    kept = read_exr_attributes(tmp_path / "fixed.1001.exr")
    assert np.allclose(kept["chromaticities"], AP0, atol=1e-6)
    assert (kept["owner"], kept["arri/lensModel"], kept["focus"]) == (
        "ACME Pictures",
        "Master Prime 32mm",
        2.5,
    )
    assert read_image(tmp_path / "fixed.1001.exr").shape == (48, 64, 3)  # its own layout: an upscale's size
    assert OpenEXR.File(str(tmp_path / "fixed.1001.exr")).header()["compression"] == OpenEXR.PIZ_COMPRESSION


def test_a_dwaa_plates_fix_stays_dwaa_at_its_level_and_an_untagged_one_is_zip(tmp_path: Path) -> None:
    plate = {
        "compression": OpenEXR.DWAA_COMPRESSION,
        "dwaCompressionLevel": 60.0,
        "type": OpenEXR.scanlineimage,
    }
    grain = np.random.default_rng(0).normal(0.18, 0.02, (64, 96, 3)).astype(np.float16)
    OpenEXR.File(plate, {"RGB": grain}).write(str(tmp_path / "plate.1001.exr"))

    write_image(tmp_path / "fixed.1001.exr", grain.astype(np.float32), like=tmp_path / "plate.1001.exr")
    write_image(tmp_path / "plain.1001.exr", grain.astype(np.float32))

    kept = OpenEXR.File(str(tmp_path / "fixed.1001.exr")).header()
    assert (kept["compression"], kept["dwaCompressionLevel"]) == (OpenEXR.DWAA_COMPRESSION, 60.0)
    assert OpenEXR.File(str(tmp_path / "plain.1001.exr")).header()["compression"] == OpenEXR.ZIP_COMPRESSION


def test_a_sequence_keeps_each_frames_own_header_and_a_retime_its_sources(tmp_path: Path) -> None:
    for number in (1001, 1002):
        _camera_plate(tmp_path / f"plate.{number}.exr")
        header = OpenEXR.File(str(tmp_path / f"plate.{number}.exr")).header()
        header["comments"] = f"take {number}"
        OpenEXR.File(header, {"RGB": np.full((24, 32, 3), 0.18, np.float16)}).write(
            str(tmp_path / f"plate.{number}.exr")
        )
    frames = [np.zeros((24, 32, 3), np.float32)] * 3

    like = HeaderSource(str(tmp_path / "plate.####.exr"), 1001, factor=2)  # 1001, made 1002, 1003 of 1002
    write_numbered_sequence(
        str(tmp_path / "retimed.####.exr"), zip((1001, 1002, 1003), frames, strict=True), 24, like=like
    )

    comments = [read_exr_attributes(tmp_path / f"retimed.{n}.exr")["comments"] for n in (1001, 1002, 1003)]
    assert comments == ["take 1001", "take 1001", "take 1002"]


def test_a_dpx_frame_keeps_a_film_scans_headers_in_its_own_byte_order() -> None:
    scan = bytearray(b"SDPX" + b"\xff" * 2044)  # a scanner's big-endian header
    scan[4:8] = struct.pack(">I", 8192)
    scan[801:803] = bytes([1, 1])  # printing density: a log scan, not linear light
    scan[1732:1745] = b"A001_C003_42 "  # the film header's frame id
    scan[1920:1924] = struct.pack(">I", 0x01000012)  # 01:00:00:12
    scan[1948:1952] = struct.pack(">f", 1.7)  # gamma
    fixed = encode_image_bytes(".dpx", np.zeros((24, 32, 3), np.float32))

    out = with_dpx_header(fixed, fps=None, timecode=None, like=bytes(scan))

    assert out[:4] == b"XPDS"  # FFmpeg's own little-endian header, with the scan's fields turned round
    assert out[801:803] == bytes([1, 1]) and out[1732:1744] == b"A001_C003_42"
    assert read_dpx_timecode(out) == "01:00:00:12"
    assert struct.unpack("<f", out[1948:1952])[0] == np.float32(1.7)
    assert np.array_equal(
        read_image_bytes(out), read_image_bytes(with_dpx_header(fixed, fps=None, timecode=None))
    )


def test_a_log_dpx_without_industry_headers_keeps_its_transfer_and_colorimetric_codes() -> None:
    """FFmpeg (and converters built on it) write the generic header alone; its log scan's fix stayed log."""
    scan = bytearray(encode_image_bytes(".dpx", np.full((24, 32, 3), 0.5, np.float32)))
    assert struct.unpack("<I", scan[4:8])[0] == 1664  # the pixels straight after the generic header
    scan[801:803] = bytes([3, 1])  # logarithmic (Cineon), printing density: Nuke reads it as Cineon log
    fixed = encode_image_bytes(".dpx", np.zeros((24, 32, 3), np.float32))

    out = with_dpx_header(fixed, fps=None, timecode=None, like=bytes(scan))

    assert out[801:803] == bytes([3, 1])


def test_a_png_frame_keeps_the_icc_profile_and_gamma_of_the_frame_it_was_made_from(tmp_path: Path) -> None:
    """A still mastered in another colour space than sRGB says so in its ICC profile: dropped, every viewer showed
    the fix as sRGB."""
    from PIL import Image, ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()  # stands for a P3 one
    picture = (np.linspace(0, 1, 32 * 24 * 3).reshape(24, 32, 3) * 255).astype(np.uint8)
    Image.fromarray(picture).save(tmp_path / "still.1001.png", icc_profile=profile)

    write_image(tmp_path / "fixed.1001.png", picture, like=tmp_path / "still.1001.png")
    write_image(
        tmp_path / "fixed16.1001.png", picture.astype(np.float32) / 255, like=tmp_path / "still.1001.png"
    )

    for fixed in ("fixed.1001.png", "fixed16.1001.png"):
        with Image.open(tmp_path / fixed) as image:
            assert image.info.get("icc_profile") == profile
            image.load()  # every chunk's CRC checked
    assert np.array_equal(
        np.round(read_image(tmp_path / "fixed.1001.png") * 255), picture
    )  # pixels as written


def test_a_12_bit_scans_fix_stays_12_bits_and_a_10_bit_ones_10(tmp_path: Path) -> None:
    ramp = np.linspace(0, 1, 64 * 96 * 3, dtype=np.float32).reshape(64, 96, 3)
    for bits in (10, 12):
        write_image(tmp_path / f"scan{bits}.1001.dpx", ramp, bit_depth=bits)
        write_image(tmp_path / f"fixed{bits}.1001.dpx", ramp, like=tmp_path / f"scan{bits}.1001.dpx")

        assert (tmp_path / f"fixed{bits}.1001.dpx").read_bytes()[803] == bits  # the header's bit size
        assert len(np.unique(read_image(tmp_path / f"fixed{bits}.1001.dpx"))) == 1 << bits  # and every level


def read_image_bytes(data: bytes) -> np.ndarray:
    import av

    ctx = av.CodecContext.create("dpx", "r")
    return ctx.decode(av.Packet(data))[0].to_ndarray()


def test_a_frame_rebuilt_in_a_hole_keeps_the_header_of_the_frame_before_it(tmp_path: Path) -> None:
    for number in (1001, 1003):  # 1002 never rendered
        OpenEXR.File(
            {"type": OpenEXR.scanlineimage, "comments": f"take {number}"},
            {"RGB": np.zeros((24, 32, 3), np.float16)},
        ).write(str(tmp_path / f"plate.{number}.exr"))

    like = HeaderSource(str(tmp_path / "plate.####.exr"), 1001)

    assert [like.path(n) for n in (1001, 1002, 1003)] == [
        tmp_path / "plate.1001.exr",
        tmp_path / "plate.1001.exr",
        tmp_path / "plate.1003.exr",
    ]
    assert HeaderSource(str(tmp_path / "other.####.exr"), 1001).path(1001) is None


def _render_with_aovs(path: Path, number: int, size: tuple[int, int] = (24, 32)) -> None:
    """A CG render's frame: its beauty as RGB, and AOVs beside it in their own types."""
    h, w = size
    OpenEXR.File(
        {"type": OpenEXR.scanlineimage},
        {
            "RGB": np.full((h, w, 3), 0.18, np.float16),
            "A": np.ones((h, w), np.float16),
            "diffuse.R": np.full((h, w), number / 4000, np.float16),
            "Z": np.full((h, w), float(number), np.float32),
            "crypto00.R": np.arange(h * w, dtype=np.uint32).reshape(h, w),
        },
    ).write(str(path))


def test_an_exr_fix_keeps_each_frames_own_aovs_and_a_made_or_resized_frame_none(tmp_path: Path) -> None:
    for number in (1001, 1002, 1004):  # 1003 missing: a fix rebuilds it
        _render_with_aovs(tmp_path / f"render.{number}.exr", number)
    frames = [(n, np.full((24, 32, 3), 0.2, np.float32)) for n in (1001, 1002, 1003, 1004)]

    assert read_exr_header(tmp_path / "render.1001.exr").layers == ("Z", "crypto00.R", "diffuse.R")
    write_numbered_sequence(
        str(tmp_path / "fixed.####.exr"),
        frames,
        24,
        like=HeaderSource(str(tmp_path / "render.####.exr"), 1001, layers=True),
    )
    write_image(
        tmp_path / "big.1001.exr",
        np.zeros((48, 64, 3), np.float32),
        like=tmp_path / "render.1001.exr",
        layers_from=tmp_path / "render.1001.exr",
    )

    kept = read_exr_layers(tmp_path / "fixed.1002.exr")
    assert set(kept) == {"Z", "crypto00.R", "diffuse.R"}  # the picture (RGB, A) is the fix's own
    assert kept["Z"].dtype == np.float32 and np.all(kept["Z"] == 1002)  # the frame's own, not another's
    assert kept["crypto00.R"].dtype == np.uint32 and kept["crypto00.R"][1, 2] == 34  # IDs exactly
    assert np.allclose(kept["diffuse.R"], 1002 / 4000, atol=1e-3)
    assert (
        read_exr_layers(tmp_path / "fixed.1003.exr") == {}
    )  # a frame made in the hole has no AOVs of its own
    assert read_exr_layers(tmp_path / "big.1001.exr") == {}  # an upscale's frame: AOVs of another size
    assert np.allclose(read_image(tmp_path / "fixed.1002.exr"), 0.2, atol=1e-3)


def test_an_exrs_layers_are_read_over_its_display_window(tmp_path: Path) -> None:
    OpenEXR.File(
        {
            "type": OpenEXR.scanlineimage,
            "dataWindow": ((-2, -1), (33, 24)),
            "displayWindow": ((0, 0), (31, 23)),
        },
        {"RGB": np.zeros((26, 36, 3), np.float16), "Z": np.arange(26 * 36, dtype=np.float32).reshape(26, 36)},
    ).write(str(tmp_path / "over.exr"))

    z = read_exr_layers(tmp_path / "over.exr")["Z"]

    assert z.shape == (24, 32) and z[0, 0] == 1 * 36 + 2  # display (0, 0) is data column 2 of row 1


def test_a_sequence_read_with_its_overscan_is_written_with_it_at_its_own_scale(tmp_path: Path) -> None:
    from engine.media import probe, read_frames
    from engine.media.info import Overscan
    from tests import footage

    rendered = np.random.default_rng(0).uniform(0, 1, (2, 40, 56, 3)).astype(np.float16).astype(np.float32)
    for number, picture in zip((1001, 1002), rendered, strict=True):
        footage.render_with_overscan(tmp_path / f"render.{number}.exr", picture, pad=4)
    info = probe(str(tmp_path / "render.####.exr"))

    assert (info.width, info.height, info.overscan) == (48, 32, (4, 4, 4, 4))
    assert next(iter(read_frames(info))).rgb.shape == (32, 48, 3)  # the display window alone
    grown = info.with_overscan()
    frames = [(f.number, f.rgb) for f in read_frames(grown)]
    assert np.array_equal(np.stack([rgb for _, rgb in frames]), rendered)  # every rendered pixel
    like = HeaderSource(grown.path, 1001, layers=True)
    write_numbered_sequence(
        str(tmp_path / "fixed.####.exr"), frames, 24, like=like, overscan=Overscan.of(grown)
    )
    doubled = [(n, np.repeat(np.repeat(rgb, 2, 0), 2, 1)) for n, rgb in frames]  # as an upscale makes them
    write_numbered_sequence(str(tmp_path / "up.####.exr"), doubled, 24, overscan=Overscan.of(grown))

    fixed = OpenEXR.File(str(tmp_path / "fixed.1001.exr")).header()
    assert [w.tolist() for w in fixed["displayWindow"]] == [[0, 0], [47, 31]]
    assert [w.tolist() for w in fixed["dataWindow"]] == [[-4, -4], [51, 35]]
    assert np.array_equal(read_image(tmp_path / "fixed.1001.exr", grow=(4, 4, 4, 4)), rendered[0])
    assert read_exr_layers(tmp_path / "fixed.1001.exr", (4, 4, 4, 4))["Z"].shape == (40, 56)  # AOVs grown too
    up = OpenEXR.File(str(tmp_path / "up.1001.exr")).header()
    assert [w.tolist() for w in up["dataWindow"]] == [[-8, -8], [103, 71]]
    assert probe(str(tmp_path / "up.####.exr")).overscan == (8, 8, 8, 8)


def test_a_multi_part_renders_other_parts_are_kept_after_the_fixed_picture(tmp_path: Path) -> None:
    def render(path: Path, number: int) -> None:
        beauty = OpenEXR.Part(
            {"type": OpenEXR.scanlineimage}, {"RGB": np.full((20, 30, 3), 0.5, np.float16)}, "beauty"
        )
        depth = OpenEXR.Part(
            {"type": OpenEXR.scanlineimage}, {"Z": np.full((20, 30), number, np.float32)}, "depth"
        )
        OpenEXR.File([beauty, depth]).write(str(path))

    for number in (1001, 1002):
        render(tmp_path / f"render.{number}.exr", number)
    frames = [(n, np.full((20, 30, 3), 0.25, np.float32)) for n in (1001, 1002)]

    assert read_exr_header(tmp_path / "render.1001.exr").layers == ("part depth",)
    like = HeaderSource(str(tmp_path / "render.####.exr"), 1001, layers=True)
    write_numbered_sequence(str(tmp_path / "fixed.####.exr"), frames, 24, like=like)
    doubled = [(n, np.zeros((40, 60, 3), np.float32)) for n, _ in frames]  # an upscale's: no part of its size
    write_numbered_sequence(str(tmp_path / "up.####.exr"), doubled, 24, like=like)

    fixed = OpenEXR.File(str(tmp_path / "fixed.1002.exr"), separate_channels=True)
    assert [part.name() for part in fixed.parts] == ["beauty", "depth"]
    assert np.all(fixed.parts[1].channels["Z"].pixels == 1002)  # each frame's own
    assert np.allclose(read_image(tmp_path / "fixed.1002.exr"), 0.25)  # the picture is the fix
    assert len(OpenEXR.File(str(tmp_path / "up.1002.exr")).parts) == 1


def _render_in_layers(path: Path, picture: str = "ViewLayer.Combined", h: int = 16, w: int = 24) -> None:
    """A frame as Blender writes a multilayer render: no plain R, G, B; its picture and passes in layers."""
    channels = {
        f"{picture}.{c}": np.full((h, w), v, np.float16)
        for c, v in zip("RGBA", (0.5, 0.25, 0.125, 1), strict=True)
    }
    channels |= {f"ViewLayer.AO.{c}": np.full((h, w), 0.9, np.float16) for c in "RGB"}
    channels["ViewLayer.Depth.Z"] = np.full((h, w), 7.0, np.float32)
    OpenEXR.File({"type": OpenEXR.scanlineimage}, channels).write(str(path))


def test_a_render_in_layers_is_read_and_fixed_in_its_picture_layer_and_keeps_its_passes(
    tmp_path: Path,
) -> None:
    """Blender's ViewLayer.AO came first by name: the AO pass was fixed and written as the picture, the beauty
    (ViewLayer.Combined) left untouched, and the pass lost."""
    for number in (1001, 1003):  # 1002 missing: a fix rebuilds it
        _render_in_layers(tmp_path / f"render.{number}.exr")
    source = tmp_path / "render.1001.exr"

    assert read_exr_header(source).layers == (
        "ViewLayer.AO.B",
        "ViewLayer.AO.G",
        "ViewLayer.AO.R",
        "ViewLayer.Depth.Z",
    )
    assert np.allclose(read_image(source)[0, 0], (0.5, 0.25, 0.125))  # the beauty, not the AO pass
    frames = [(n, np.full((16, 24, 4), 0.2, np.float32)) for n in (1001, 1002, 1003)]
    like = HeaderSource(str(tmp_path / "render.####.exr"), 1001, layers=True)
    write_numbered_sequence(str(tmp_path / "fixed.####.exr"), frames, 24, like=like)

    for number in (1001, 1002):  # kept and rebuilt frames alike: the picture in its own layer
        written = OpenEXR.File(str(tmp_path / f"fixed.{number}.exr"), separate_channels=True).channels()
        assert {"ViewLayer.Combined.R", "ViewLayer.Combined.A"} <= set(written) and "R" not in written
        assert np.allclose(written["ViewLayer.Combined.G"].pixels, 0.2, atol=1e-3)
    kept = read_exr_layers(tmp_path / "fixed.1001.exr")
    assert np.allclose(kept["ViewLayer.AO.R"], 0.9, atol=1e-3) and np.all(kept["ViewLayer.Depth.Z"] == 7.0)


def test_a_composited_blender_render_is_read_from_its_composite(tmp_path: Path) -> None:
    """Blender's composited multilayer file holds Composite.Combined beside ViewLayer.Combined: both are named as
    the picture, and the composite is the picture."""
    _render_in_layers(tmp_path / "comp.exr")
    channels = dict(OpenEXR.File(str(tmp_path / "comp.exr"), separate_channels=True).channels())
    planes = {name: channel.pixels for name, channel in channels.items()}
    planes |= {f"Composite.Combined.{c}": np.full((16, 24), 0.75, np.float16) for c in "RGBA"}
    OpenEXR.File({"type": OpenEXR.scanlineimage}, planes).write(str(tmp_path / "comp.exr"))
    assert np.allclose(read_image(tmp_path / "comp.exr")[0, 0], 0.75)
    assert "ViewLayer.Combined.R" in read_exr_header(tmp_path / "comp.exr").layers


def test_a_render_of_several_passes_none_named_as_its_picture_is_refused_naming_them(tmp_path: Path) -> None:
    import pytest

    from engine.media import MediaError

    _render_in_layers(tmp_path / "passes.exr", picture="ViewLayer.Albedo")
    with pytest.raises(MediaError, match=r"several layers of them \(ViewLayer\.AO, ViewLayer\.Albedo\)"):
        read_exr_header(tmp_path / "passes.exr")


def test_a_stereo_exr_is_refused_rather_than_one_eye_fixed(tmp_path: Path) -> None:
    """The left eye was fixed, the right kept as a layer and `multiView` dropped: a mono file of mismatched
    eyes."""
    import pytest

    from engine.media import MediaError

    plane = np.full((8, 8), 0.5, np.float16)
    channels = {name: plane for name in ("R", "G", "B", "right.R", "right.G", "right.B")}
    header = {"type": OpenEXR.scanlineimage, "multiView": ["left", "right"]}
    OpenEXR.File(header, channels).write(str(tmp_path / "stereo.exr"))
    with pytest.raises(MediaError, match=r"a stereo EXR \(views left, right\).*write each eye as a sequence"):
        read_exr_header(tmp_path / "stereo.exr")
