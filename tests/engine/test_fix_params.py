"""Each head parses and checks a coordinator's fix parameters, and says in one line what to change."""

from pathlib import Path

import numpy as np
import pytest

from engine.heads import FixParams, ParamError, Shot, parse_fix_params
from engine.heads.cleanup import CleanupParams
from engine.heads.denoise import DenoiseParams
from engine.heads.interpolate import InterpolateParams
from engine.heads.params import Rect, covered
from engine.heads.regrade import RegradeParams
from engine.heads.upscale import UpscaleParams
from engine.media import probe
from tests import footage


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> Shot:
    """A real six-frame PNG sequence numbered 1001-1006, 96x64."""
    pattern = footage.sequence(tmp_path_factory.mktemp("shot"), "sh010", first=1001, n=6)
    return Shot(pattern, probe(pattern))


def test_interpolate_reads_a_retime_factor_or_frames_to_rebuild() -> None:
    assert parse_fix_params("interpolate", {"factor": "2x"}) == InterpolateParams(factor=2)
    assert parse_fix_params("interpolate", {"factor": 4}).frame_factor() == 4
    assert parse_fix_params("interpolate", {"frames": "1002-1003"}).frame_factor() == 1
    assert parse_fix_params("interpolate", {}) == InterpolateParams()  # auto: the dropped frames found
    best = parse_fix_params("interpolate", {"factor": "2", "quality": "Best"})
    assert best == InterpolateParams(factor=2, quality="best")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"factor": "9"}, "factor=9 is out of range: use 2 to 8"),
        ({"factor": "1"}, "factor=1 is out of range"),
        ({"factor": "fast"}, "factor=fast must be a whole number"),
        ({"factor": "2", "frames": "1002"}, "not both"),
        ({"frames": "1005-1002"}, "runs backwards"),
        (
            {"frames": "1001--1005"},
            "has two dashes; write it as 1001-1005",
        ),  # it said "write it as -1005-1001"
        ({"frames": ","}, "names no frame"),
        (
            {"frames": "1001-9999999999"},
            "range '1001-9999999999' names 9,999,998,999 frames, more than any shot",
        ),
        ({"frames": "1-600000,1-600000"}, "the ranges name 1,200,000 frames, more than any shot"),
        ({"quality": "fastest"}, "quality=fastest is not a quality: write quality=best"),
    ],
)
def test_a_bad_interpolate_parameter_is_refused_in_one_line(raw: dict[str, str], message: str) -> None:
    with pytest.raises(ParamError, match=message) as err:
        parse_fix_params("interpolate", raw)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("kind", "params"), [("upscale", UpscaleParams), ("denoise", DenoiseParams)])
def test_quality_best_asks_for_the_self_ensemble(kind: str, params: type[FixParams], shot: Shot) -> None:
    """`quality=best` runs the net on 4 turned copies (upscale: of each frame, denoise: of each tile) and
    averages them (the apply() parameter `ensemble`, tested in test_upscale_adapt and test_orientation);
    without it the net runs once."""
    assert parse_fix_params(kind, {}).bind(shot) == {}
    best = parse_fix_params(kind, {"quality": " BEST "})
    assert best == params(quality="best")  # type: ignore[call-arg]
    assert best.bind(shot) == {"ensemble": 4}
    with pytest.raises(
        ParamError, match=r"quality=max is not a quality: write quality=best \(4 turned"
    ) as err:
        parse_fix_params(kind, {"quality": "max"})
    assert "\n" not in str(err.value)


def test_a_retime_of_a_one_frame_shot_is_refused_as_having_nothing_to_retime(tmp_path: Path) -> None:
    """A 2x retime of a one-frame daily said it "plays 2x slower" and wrote the frame unchanged, exit 0."""
    movie = footage.movie(tmp_path / "still.mp4", n=1, size=(96, 64))
    with pytest.raises(
        ParamError, match="factor=2 retimes by making frames between the shot's, and it has one"
    ):
        parse_fix_params("interpolate", {"factor": "2"}).bind(Shot(str(movie), probe(movie)))


def test_frames_outside_the_shot_are_refused_when_bound_to_it(shot: Shot) -> None:
    assert InterpolateParams(frames=frozenset({1002, 1003})).bind(shot) == {"frames": {1002, 1003}}
    best = InterpolateParams(factor=2, quality="best")
    assert best.bind(shot) == {"factor": 2, "quality": "best"}  # what the fix's apply() reads
    params = parse_fix_params("interpolate", {"frames": "1005-1009"})
    with pytest.raises(ParamError, match=r"frames 1007, 1008, 1009 lie outside the shot's frames 1001-1006"):
        params.bind(shot)


def test_frames_without_a_kept_frame_on_each_side_are_refused(shot: Shot) -> None:
    """`frames=1001-1003` of a shot running 1001-1006 wrote three copies of 1004 (the shot opened on a hold) and
    said nothing: a frame is rebuilt from the frames the shot keeps before and after it."""
    for asked, refused in (
        ("1001-1003", "1001, 1002, 1003"),
        ("1006", "1006"),
        ("1002-1006", "1002, 1003, 1004, 1005"),
    ):
        with pytest.raises(
            ParamError,
            match=rf"^frames {refused}(?: and \d+ more)? have no frame of the shot kept on both sides",
        ):
            parse_fix_params("interpolate", {"frames": asked}).bind(shot)
    assert parse_fix_params("interpolate", {"frames": "1002-1005"}).bind(shot) == {
        "frames": {1002, 1003, 1004, 1005}
    }


def test_an_unknown_key_is_refused_and_another_heads_key_is_left_to_it() -> None:
    with pytest.raises(ParamError, match=r"unknown fix parameter 'strength': denoise takes quality$"):
        parse_fix_params("denoise", {"strength": "3"})
    with pytest.raises(ParamError, match=r"regrade takes reference \(any fix also takes deliver\)"):
        parse_fix_params("regrade", {"refrence": "1001"}, ignore=("deliver",))
    # "interpolate frames=1012-1016; regrade reference=1001" asks both fixes with one set of parameters
    assert parse_fix_params("regrade", {"frames": "1012-1016", "reference": "1001"}) == RegradeParams(1001)
    assert parse_fix_params("upscale", {"deliver": "exr"}, ignore=("deliver",)) == UpscaleParams()
    assert parse_fix_params("denoise", {"deliver": "exr"}, ignore=("deliver",)) == DenoiseParams()


@pytest.mark.parametrize("text", ["--5", "1001-1002", "9" * 5000, "12.5"])
def test_a_reference_that_is_neither_a_frame_nor_a_file_is_one_line(text: str) -> None:
    """`reference=--5` raised a bare ValueError (a traceback from `rushes fix`), 5,000 digits one from Python's
    int limit in the daemon."""
    with pytest.raises(ParamError) as refused:
        parse_fix_params("regrade", {"reference": text})
    assert "reference=" in str(refused.value) and "e.g. 1001" in str(refused.value)
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 120
    assert parse_fix_params("regrade", {"reference": "-12"}) == RegradeParams(-12)
    assert parse_fix_params("regrade", {"reference": "grade ref.png"}) == RegradeParams(Path("grade ref.png"))


def test_a_regrade_reference_of_a_frame_of_the_shot_is_not_the_frame_its_grade_is_fitted_on(
    shot: Shot, tmp_path: Path
) -> None:
    """`regrade reference=1001` on a shot starting at 1001 (the docs' own example) published the daily unchanged
    as a Version for review: the grade, fitted on the first frame, took it to its own look. The frame named is now
    left out of those the grade is fitted on; a one-frame shot's only frame is refused."""
    assert RegradeParams(reference=1001).bind(shot)["reference_frame"] == 1001
    one = footage.sequence(tmp_path / "one", "one", first=1001, n=1)
    with pytest.raises(
        ParamError,
        match=r"^reference=1001 is the shot's only frame, so matching it would change nothing: name a",
    ):
        RegradeParams(reference=1001).bind(Shot(one, probe(one)))


def test_regrade_loads_its_reference_frame_from_the_shot(shot: Shot, tmp_path: Path) -> None:
    loaded = RegradeParams(reference=1003).bind(shot)["reference"]
    assert loaded.shape == (64, 96, 3)
    assert RegradeParams().bind(shot) == {"precise": True}  # a 16-bit PNG: graded at its own precision
    with pytest.raises(ParamError, match=r"reference=2000 is outside the shot's frames 1001-1006"):
        RegradeParams(reference=2000).bind(shot)
    with pytest.raises(ParamError, match="neither a frame number of the shot nor an image file"):
        parse_fix_params("regrade", {"reference": str(tmp_path / "missing.png")}).bind(shot)


def test_a_black_reference_is_refused_as_having_no_look_to_match(shot: Shot, tmp_path: Path) -> None:
    """An all-black still as the reference "succeeded": the daily was published unchanged as its regrade, its
    .cube an exact identity."""
    from engine.media import write_image

    write_image(tmp_path / "black.png", np.zeros((64, 96, 3), np.float32))
    with pytest.raises(
        ParamError,
        match=r"black.png is black or clipped nearly everywhere \(0.0% of its pixels hold detail\)",
    ):
        parse_fix_params("regrade", {"reference": str(tmp_path / "black.png")}).bind(shot)
    dim = np.zeros((64, 96, 3), np.float32)
    dim[:8, :12] = 0.3  # a night frame: a lit window is enough to match
    write_image(tmp_path / "night.png", dim)
    assert parse_fix_params("regrade", {"reference": str(tmp_path / "night.png")}).bind(shot)


def test_a_reference_still_of_the_other_encoding_than_the_shot_is_refused(shot: Shot, tmp_path: Path) -> None:
    from engine.media import write_image

    picture = footage.frames(1, (64, 48))[0]
    write_image(tmp_path / "look.png", picture)  # a colourist's still: a display picture
    write_image(tmp_path / "look.exr", picture)  # a still of scene-linear light
    plate = footage.sequence(tmp_path / "plate", "plate", first=1001, n=3, ext="exr", size=(64, 48))
    exr_shot = Shot(plate, probe(plate))

    with pytest.raises(
        ParamError, match=r"look.png holds a display picture but the shot holds scene-linear light"
    ):
        RegradeParams.parse({"reference": str(tmp_path / "look.png")}).bind(exr_shot)
    with pytest.raises(
        ParamError, match=r"look.exr holds scene-linear light \(EXR\) but the shot holds a display"
    ):
        RegradeParams.parse({"reference": str(tmp_path / "look.exr")}).bind(shot)
    assert RegradeParams.parse({"reference": str(tmp_path / "look.exr")}).bind(exr_shot)[
        "reference"
    ].shape == (48, 64, 3)


def test_cleanup_needs_a_mask_inside_the_frame(shot: Shot) -> None:
    with pytest.raises(ParamError, match="cleanup needs a mask: mask=x,y,w,h"):
        parse_fix_params("cleanup", {})
    params = parse_fix_params("cleanup", {"mask": " 10, 20, 30, 8 "})
    assert params == CleanupParams(mask=Rect(10, 20, 30, 8))
    mask = params.bind(shot)["masks"]
    assert mask.shape == (64, 96) and int(mask.sum()) == 30 * 8 and mask[20, 10] and not mask[19, 10]
    with pytest.raises(ParamError, match="mask=200,0,5,5 lies outside the 96x64 frame"):
        parse_fix_params("cleanup", {"mask": "200,0,5,5"}).bind(shot)
    with pytest.raises(ParamError, match="mask=10,20,0,8 has no area: give its width and height"):
        parse_fix_params("cleanup", {"mask": "10,20,0,8"}).bind(shot)
    assert params.notes(shot) == []


def test_a_mask_rectangle_reaching_past_the_frame_is_cut_to_it_and_says_so(shot: Shot) -> None:
    """mask=80,40,40,40 on a 96x64 frame was cut to the frame without a word, while the docs said a rectangle
    outside the frame fails: the part inside is cleaned, and the fix says which part."""
    params = parse_fix_params("cleanup", {"mask": "80,40,40,40"})

    mask = params.bind(shot)["masks"]

    assert int(mask.sum()) == 16 * 24 and mask[40:, 80:].all()
    assert params.notes(shot) == [
        "mask=80,40,40,40 reaches past the 96x64 frame: only its part inside it, 80,40,16,24, was cleaned."
    ]


def test_a_mask_sequence_gives_one_mask_per_frame_of_the_shot(shot: Shot, tmp_path: Path) -> None:
    pattern = footage.sequence(tmp_path, "matte", first=1, n=6)  # numbered 1.. , the shot 1001..
    masks = parse_fix_params("cleanup", {"mask": pattern}).bind(shot)["masks"]
    assert sorted(masks) == list(range(1001, 1007))
    assert all(
        isinstance(m, np.ndarray) and m.dtype == np.uint8 and m.shape == (64, 96) for m in masks.values()
    )


def test_a_roto_of_some_of_the_shots_frames_masks_those_frames_by_number(shot: Shot, tmp_path: Path) -> None:
    pattern = footage.sequence(tmp_path / "roto", "roto", first=1003, n=3)  # frames 1003-1005 of 1001-1006
    movie = footage.movie(tmp_path / "matte.mp4", n=3, size=(96, 64))  # a movie counts from 0

    by_number = parse_fix_params("cleanup", {"mask": pattern}).bind(shot)["masks"]
    from_first = parse_fix_params("cleanup", {"mask": str(movie)}).bind(shot)["masks"]

    assert sorted(by_number) == [1003, 1004, 1005]  # 1001, 1002 and 1006 are left as they are
    assert sorted(from_first) == [1001, 1002, 1003]


def test_a_roto_of_a_movie_the_show_numbers_from_1001_masks_its_frames_by_number(tmp_path: Path) -> None:
    """A show counting its movies from 1001 (movie_first_frame): a roto of 1003-1005 was slid onto the shot's
    first frames (1001-1003 cleaned where nothing was painted, 1004-1005 left), and its gap named wrongly."""
    movie = footage.movie(tmp_path / "sh010_1.mp4", n=6, size=(96, 64))
    numbered = Shot(str(movie), probe(movie, first_frame=1001))
    pattern = footage.sequence(tmp_path / "roto", "roto", first=1003, n=3)
    assert sorted(parse_fix_params("cleanup", {"mask": pattern}).bind(numbered)["masks"]) == [
        1003,
        1004,
        1005,
    ]
    (tmp_path / "roto" / "roto.1004.png").unlink()
    params = parse_fix_params("cleanup", {"mask": pattern})
    assert sorted(params.bind(numbered)["masks"]) == [1003, 1005]
    assert params.notes(numbered) == ["The mask sequence lacks frame 1004: left as the shot has them."]
    counted = Shot(str(movie), probe(movie))  # counted from 0: a roto numbered 1.. lines up with its first
    ones = footage.sequence(tmp_path / "ones", "m", first=1, n=6)
    assert sorted(parse_fix_params("cleanup", {"mask": ones}).bind(counted)["masks"]) == list(range(6))


def test_a_roto_sequence_written_with_alpha_is_read_by_its_alpha(shot: Shot, tmp_path: Path) -> None:
    """A roto written as RGBA frames (Nuke's Roto node, or the plate cut out) had its alpha dropped, as a single
    image's once was: a cutout cleaned the plate's bright parts, a matte on black RGB was refused as selecting
    no pixel "(or opaque on transparent)", which it was."""
    from engine.media import write_image

    region = np.zeros((64, 96), np.float32)
    region[30:50, 40:60] = 1.0
    plate = np.random.default_rng(3).uniform(0, 1, (64, 96, 3)).astype(np.float32)
    for name, rgb in (("cutout", plate), ("matte", np.zeros((64, 96, 3), np.float32))):
        for n in range(1001, 1007):
            write_image(tmp_path / name / f"{name}.{n}.png", np.dstack([rgb, region]))
        masks = parse_fix_params("cleanup", {"mask": str(tmp_path / name / f"{name}.####.png")}).bind(shot)[
            "masks"
        ]
        assert sorted(masks) == list(range(1001, 1007))
        assert all(covered(m).sum() == 400 and covered(m)[30:50, 40:60].all() for m in masks.values()), name


def test_a_roto_missing_a_frame_in_its_range_says_that_frame_is_left_as_it_is(
    shot: Shot, tmp_path: Path
) -> None:
    """A per-frame mask sequence with 1004 not rendered: 1004 came out untouched and the fix said nothing."""
    pattern = footage.sequence(tmp_path / "roto", "roto", first=1001, n=6)
    (tmp_path / "roto" / "roto.1004.png").unlink()
    params = parse_fix_params("cleanup", {"mask": pattern})
    assert sorted(params.bind(shot)["masks"]) == [1001, 1002, 1003, 1005, 1006]
    assert params.notes(shot) == ["The mask sequence lacks frame 1004: left as the shot has them."]
    whole = parse_fix_params("cleanup", {"mask": footage.sequence(tmp_path / "all", "m", first=1001, n=6)})
    assert whole.notes(shot) == []


def test_a_mask_image_of_another_shape_is_refused_and_a_proxy_of_the_same_picture_is_taken(
    shot: Shot, tmp_path: Path
) -> None:
    from engine.media import write_image

    square, proxy = tmp_path / "square.png", tmp_path / "proxy.png"
    write_image(square, np.ones((64, 64, 3), np.float32))  # drawn on another frame: stretching moves the hole
    region = np.zeros((32, 48, 3), np.float32)
    region[8:16, 10:20] = 1.0
    write_image(proxy, region)  # the shot's 96x64 picture at half size
    with pytest.raises(
        ParamError, match=r"mask=.*square.png is 64x64, not the shape of the shot's 96x64 frames"
    ):
        parse_fix_params("cleanup", {"mask": str(square)}).bind(shot)
    assert parse_fix_params("cleanup", {"mask": str(proxy)}).bind(shot)["masks"].shape == (32, 48)
    matte = footage.sequence(tmp_path / "matte", "m", first=1, n=6, size=(64, 64))
    with pytest.raises(ParamError, match="is 64x64, not the shape"):
        parse_fix_params("cleanup", {"mask": matte}).bind(shot)


def test_a_mask_or_reference_far_larger_than_the_shot_is_refused_before_it_is_read_and_a_long_matte_is_cut(
    shot: Shot, tmp_path: Path
) -> None:
    """A 35 kB 8000x4500 PNG named as the mask (or the reference) of a 320x180 shot took a gigabyte to read, and a
    long movie named as a matte had every frame read and kept, those past the shot's end too."""
    from engine.media import write_image

    huge = tmp_path / "huge.png"
    write_image(huge, np.zeros((640, 960, 3), np.float32))  # ten times the shot's 96x64 each way
    for kind, key in (("cleanup", "mask"), ("regrade", "reference")):
        with pytest.raises(ParamError, match="is 960x640, more than 4 times the shot's 96x64 frames"):
            parse_fix_params(kind, {key: str(huge)}).bind(shot)
    beside = tmp_path / "ref_v2.png"  # of the shot's size, beside a numbered sibling far larger
    write_image(tmp_path / "ref_v1.png", np.zeros((640, 960, 3), np.float32))
    write_image(beside, np.full((64, 96, 3), 0.5, np.float32))
    assert parse_fix_params("regrade", {"reference": str(beside)}).bind(shot)
    long = footage.movie(tmp_path / "matte.mp4", n=20, size=(96, 64))  # the shot has six frames
    assert sorted(parse_fix_params("cleanup", {"mask": str(long)}).bind(shot)["masks"]) == list(
        range(1001, 1007)
    )


def test_a_mattes_alpha_is_its_mask_and_one_selecting_nothing_or_everything_is_refused(
    shot: Shot, tmp_path: Path
) -> None:
    """A roto exported on transparency had its alpha dropped: the fill read its colour, black (the plate left as
    it was) or white (the whole frame refilled), and said it was done."""
    from engine.media import write_image

    def mask(name: str, rgb: float, alpha: np.ndarray | None = None) -> str:
        pixels = np.full((64, 96, 3), rgb, np.float32)
        write_image(tmp_path / name, pixels if alpha is None else np.dstack([pixels, alpha]))
        return str(tmp_path / name)

    region = np.zeros((64, 96), np.float32)
    region[30:50, 40:60] = 1.0
    for rgb in (0.0, 1.0):  # the region in the alpha, whatever the colour under it
        bound = parse_fix_params("cleanup", {"mask": mask(f"matte{rgb}.png", rgb, region)}).bind(shot)[
            "masks"
        ]
        assert covered(bound).sum() == 400 and covered(bound)[30:50, 40:60].all()
    with pytest.raises(ParamError, match=r"selects no pixel to clean: paint the region white on black"):
        parse_fix_params("cleanup", {"mask": mask("black.png", 0.0)}).bind(shot)
    with pytest.raises(ParamError, match=r"selects the whole frame: paint only the region to clean white"):
        parse_fix_params("cleanup", {"mask": mask("white.png", 1.0)}).bind(shot)


def test_a_mask_painted_on_an_anamorphic_shots_desqueezed_picture_is_taken(tmp_path: Path) -> None:
    from fractions import Fraction

    from engine.media import write_image, write_movie

    movie = write_movie(tmp_path / "ana.mov", footage.frames(3, (64, 48)), 24, pixel_aspect=Fraction(2))
    shot = Shot(str(movie), probe(str(movie)))
    painted = tmp_path / "painted.png"
    picture = np.zeros((24, 64, 3), np.float32)
    picture[4:12, 8:24] = 1.0  # the region to clean
    write_image(painted, picture)  # 64x48 stored pixels at 2:1 show as 64x24

    assert parse_fix_params("cleanup", {"mask": str(painted)}).bind(shot)["masks"].shape == (24, 64)
