"""The fix stage on a small real clip and a fresh show model (every head starts as its classical base): a
FixJob renders the shot's newest daily and leaves one publication and one PublishJob in the outbox; a
request that cannot work is Permanent (dead-lettered, not retried)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from daemon.catalog import Catalog, fixes, models_repo
from daemon.catalog import jobs as job_repo
from daemon.catalog.dailies import DailyFacts, register_daily
from daemon.jobs.outcomes import NotYet, Permanent
from daemon.jobs.payloads import FixJob, PublishJob
from daemon.settings import Settings, ShowConfig
from daemon.stages.fixing import auto_frames_done, fixed_frames, load_promoted, prepare, run_fix
from daemon.stages.publishing import VersionFiles
from engine.baselines.restore import denoise_nlmeans
from engine.media import MediaInfo, probe, write_sequence
from engine.media.pixels import to_float32
from engine.model import Manifest, ModelError, ShowModel, save_model
from tests import footage
from tests.daemon.stages.conftest import SHOW


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: on a busy machine (the suite runs beside other work) two threads are ten times slower
    on these tiny frames."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def on_disk(path: str | Path) -> dict[str, Any]:
    """A daily's size and mtime as ingest records them (a sequence's: its frames' sum and latest), which a fix
    checks its files against (daemon.stages.fixing.delivered_again)."""
    stats = [p.stat() for p in sorted(Path(path).parent.glob(re.sub("#+", "*", Path(path).name)))]
    return {"size_bytes": sum(st.st_size for st in stats), "mtime": max(st.st_mtime for st in stats)}


def daily(catalog: Catalog, tmp_path: Path, shot: str = "sh010", path: Path | None = None) -> Path:
    """A daily of `shot` registered in the catalog: `path`, or a movie of 4 frames made for it."""
    path = path or footage.movie(tmp_path / f"{shot}_v1.mp4", n=4, size=(64, 48))
    with catalog.session() as s:
        register_daily(
            s,
            SHOW,
            DailyFacts(path=str(path), content_hash=shot, shot=shot, frame_count=4, **on_disk(path)),
        )
    return path


def promoted_model(
    settings: Settings,
    catalog: Catalog,
    metrics: dict[str, dict[str, float]] | None = None,
    heads: tuple[str, ...] = ("denoise", "cleanup"),
    **fields: Any,
) -> None:
    folder = settings.models_dir / SHOW / "v1"
    manifest = Manifest(show=SHOW, version="v1", metrics=metrics or {}, **fields)
    save_model(folder, ShowModel.fresh(list(heads)), manifest)
    with catalog.session() as s:
        models_repo.add_version(s, SHOW, str(folder), version=1)
        models_repo.promote(s, SHOW, 1)


def request(
    catalog: Catalog, kinds: list[str], params: dict[str, str] | None = None, key: str = "memory:event:1"
) -> int:
    with catalog.session() as s:
        row, _ = fixes.add_fix_request(s, SHOW, key, "sh010", kinds, params, task_id=3)
        return row.id


def fixed_daily(
    settings: Settings, catalog: Catalog, tmp_path: Path, source: Path, params: dict[str, str] | None = None
) -> tuple[Path, str | None]:
    """A denoise fix of the daily `source` by a fresh model: its review movie and deliverable frames."""
    daily(catalog, tmp_path, path=source)
    promoted_model(settings, catalog)
    request_id = request(catalog, ["denoise"], params)
    run_fix(settings, catalog, FixJob(request_id, "denoise", "memory:event:1"))
    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        return Path(pub.movie_path), VersionFiles.from_json(dict(pub.extra_files)).frames


def test_a_fix_job_renders_and_leaves_one_publication_and_publish_job_in_the_outbox(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    source = daily(catalog, tmp_path)
    promoted_model(settings, catalog)
    request_id = request(catalog, ["denoise"], {"deliver": "none"})
    job = FixJob(request_id, "denoise", "memory:event:1")
    with catalog.session() as s:  # the job as the daemon's fix lane holds it
        job_repo.enqueue(s, "fix", job.key(), job.to_json())
        held = job_repo.claim(s, "w", ["fix"], 60)
        assert held is not None
    result = run_fix(settings, catalog, job, held.id)
    with catalog.session(readonly=True) as s:
        assert job_repo.progress_of(s, held.id) == "frame 4 of 4"  # what `rushes status` showed as it went
    again = run_fix(settings, catalog, job)  # repeated after a crash: taken from the outbox, queued once
    assert result["frames"] == again["frames"] == 4 and result["model_version"] == 1
    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        [queued] = job_repo.list_jobs(s, kind="publish", limit=None)
        state = fixes.get_fix_request(s, request_id).state  # type: ignore[union-attr]
        extra, movie, source_path = dict(pub.extra_files), Path(pub.movie_path), pub.source_path
        assert PublishJob.from_json(queued.payload) == PublishJob(pub.id, "memory:event:1", "denoise")
        assert queued.key == pub.key == "publish:memory:event:1:denoise" and queued.max_attempts == 50
    assert state == "rendered" and source_path == str(source) and movie.is_file()
    files = VersionFiles.from_json(extra)
    assert files.code == f"sh010_rushes_denoise_r{request_id}" and files.first_frame == 0
    assert isinstance(extra["first_frame"], int) and files.last_frame == 3
    assert files.description is not None and "denoise on sh010" in files.description.read_text()


def test_a_request_answered_then_retried_by_hand_no_longer_shows_the_reason_it_was_not_done(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """`rushes status` listed the request as published beside "the daily ... is no longer on disk"."""
    daily(catalog, tmp_path)
    promoted_model(settings, catalog)
    request_id = request(catalog, ["denoise"], {"deliver": "none"})
    with catalog.session() as s:
        fixes.set_fix_state(s, request_id, "failed", error="the daily is no longer on disk: put it back")
    run_fix(settings, catalog, FixJob(request_id, "denoise", "memory:event:1"))  # put back, retried by hand
    with catalog.session(readonly=True) as s:
        again = fixes.get_fix_request(s, request_id)
        assert again is not None and (again.state, again.error) == ("rendered", None)


def test_a_fix_taken_from_the_outbox_counts_the_frames_its_render_did_over_a_pause_in_the_recording(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    stamps = [*range(4), *range(20, 24)]  # the recorder paused for 4 s at 4 fps: left out of the movies
    source = footage.movie_with_sound(tmp_path / "sh010_v1.mov", fps=4, stamps=stamps, clap_at=0.5)
    daily(catalog, tmp_path, path=source)
    promoted_model(settings, catalog)
    job = FixJob(request(catalog, ["denoise"], {"deliver": "none"}), "denoise", "memory:event:1")

    rendered = run_fix(settings, catalog, job)
    again = run_fix(settings, catalog, job)  # its daemon died before it was told: taken from the outbox

    assert rendered["frames"] == probe(rendered["movie"]).frame_count == 8
    assert again == rendered


@pytest.mark.parametrize("repeated", [True, False])
def test_an_interpolate_fix_with_frames_found_says_in_its_version_which_it_rebuilt_or_that_it_found_none(
    settings: Settings, catalog: Catalog, tmp_path: Path, repeated: bool
) -> None:
    # a supervisor reviewed, and could approve, a Version identical to the daily without a word that frames=auto
    # found nothing to rebuild (`rushes fix` said so; the daemon's description did not)
    from engine.media import write_movie

    frames = footage.frames(8, (64, 48))
    if repeated:
        frames[4] = frames[3].copy()  # a frame repeated by the camera or a conversion
    source = write_movie(tmp_path / "sh010_v1.mp4", np.stack(frames), 24, crf=0)
    daily(catalog, tmp_path, path=source)  # no model yet: the classical flow path rebuilds
    run_fix(settings, catalog, FixJob(request(catalog, ["interpolate"], {}), "interpolate", "memory:event:1"))
    with catalog.session(readonly=True) as s:
        [pub] = [p for r in fixes.list_fix_requests(s, SHOW) for p in r.publications]
        said = (Path(pub.movie_path).parent / "description.txt").read_text()
    if repeated:
        assert "frames=auto rebuilt 1 repeated frame(s) from their neighbours: " in said
    else:
        assert (
            "frames=auto found no repeated or missing frame, so the output's frames are the input's" in said
        )


def test_a_frame_auto_made_where_the_input_lacked_it_is_said_made_once() -> None:
    # it was listed as made and again among the repeated frames rebuilt
    said = auto_frames_done((1012, 1015), [1012], "frames=auto")
    assert (
        said
        == "frames=auto made the missing frame(s) 1012 and rebuilt 1 repeated frame(s) from their neighbours: 1015."
    )


def test_a_dailys_sync_sound_plays_on_the_same_frames_of_its_fixs_review_movie(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    source = footage.movie_with_sound(tmp_path / "sh010_v1.mov", 12, clap_at=0.25)

    movie, frames = fixed_daily(settings, catalog, tmp_path, source, {"deliver": "prores"})

    for made in (movie, Path(frames or "")):
        assert abs(footage.clap_time(made) - 0.25) < 0.001, made
    assert "Sound: the daily's (1 stream(s)), in sync." in (movie.parent / "description.txt").read_text()


def test_a_dailys_named_tracks_keep_their_names_in_the_versions_files_and_its_subtitles_are_said_left_out(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    import av

    recorded = footage.movie_with_sound(tmp_path / "recorded.mov", 12, layout="mono")
    source = footage.named_with_subtitles(recorded, tmp_path / "sh010_v1.mov", [("eng", "Boom")])

    movie, frames = fixed_daily(settings, catalog, tmp_path, source, {"deliver": "prores"})

    for made in (movie, Path(frames or "")):  # the review .mp4 and the ProRes deliverable
        with av.open(str(made)) as container:
            [track] = container.streams.audio
            named = (track.metadata.get("language"), track.metadata.get("handler_name"))
        assert named == ("eng", "Boom"), made
    said = " ".join((movie.parent / "description.txt").read_text().split())
    assert "The daily's subtitles (1 stream(s)) are left out: a fix carries its picture" in said


def test_a_recorders_daily_with_dropped_frames_keeps_its_timing_and_sound_in_the_versions_files(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    stamps = [*range(6), *range(9, 16)]  # frames 6-8 dropped while recording; the clap at frame 12
    source = footage.movie_with_sound(tmp_path / "sh010_v1.mov", stamps=stamps, clap_at=0.5)

    movie, frames = fixed_daily(settings, catalog, tmp_path, source, {"deliver": "prores"})

    for made in (movie, Path(frames or "")):
        assert probe(str(made)).frame_count == 16, made  # 6-8 held over: every later frame at its own time
        assert abs(footage.clap_time(made) - 0.5) < 0.001, made
    said = (movie.parent / "description.txt").read_text()
    assert "The daily lacks frames 6-8 (dropped while recording): the movies hold the frame before" in said


def test_a_cg_dailys_exr_deliverable_keeps_each_frames_aovs_and_the_description_says_so(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    import OpenEXR

    from engine.media.exr import read_exr_layers

    (tmp_path / "cg").mkdir()
    for number, beauty in zip((1001, 1002, 1003, 1004), footage.frames(4, (64, 48)), strict=True):
        channels = {"RGB": beauty.astype(np.float16), "Z": np.full((48, 64), float(number), np.float32)}
        OpenEXR.File({"type": OpenEXR.scanlineimage}, channels).write(
            str(tmp_path / "cg" / f"sh010.{number}.exr")
        )

    movie, frames = fixed_daily(
        settings, catalog, tmp_path, tmp_path / "cg" / "sh010.####.exr", {"deliver": "exr"}
    )

    assert frames is not None and np.all(read_exr_layers(Path(frames.replace("####", "1003")))["Z"] == 1003)
    said = (movie.parent / "description.txt").read_text()
    assert "The daily's other EXR channels (Z) are kept as they are in the EXR frames" in said


def test_an_exr_deliverable_numbers_its_frames_with_as_many_digits_as_the_plates(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """A conform relinks by the plate's naming: pl.001001.exr's fix came back as NAME.1001.exr."""
    from engine.media import write_image

    numbers = (1001, 1002, 1003, 1004)
    for number, picture in zip(numbers, footage.frames(4, (64, 48)), strict=True):
        write_image(tmp_path / "pl" / f"pl.{number:06d}.exr", picture)
    _, frames = fixed_daily(
        settings, catalog, tmp_path, tmp_path / "pl" / "pl.######.exr", {"deliver": "exr"}
    )
    assert frames is not None and frames.endswith(".######.exr")
    made = sorted(p.name for p in Path(frames).parent.glob("*.exr"))
    assert made == [Path(frames).name.replace("######", f"{n:06d}") for n in numbers]


def test_a_version_says_which_of_the_dailys_missing_frames_the_fix_rebuilt(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """An interpolate of frames=1003-1005 over a daily lacking 1004 rebuilt it, and its description said the
    movies held the frame before the gap."""
    from engine.media import write_image

    numbers = (1001, 1002, 1003, 1005, 1006, 1007)
    for number, picture in zip(numbers, footage.frames(6, (64, 48)), strict=True):
        write_image(tmp_path / "pl" / f"pl.{number}.png", picture)
    daily(catalog, tmp_path, path=tmp_path / "pl" / "pl.####.png")
    promoted_model(settings, catalog, heads=("interpolate", "denoise"))
    said = {}
    for n, (kind, params) in enumerate((("interpolate", {"frames": "1003-1005"}), ("denoise", {})), 1):
        request_id = request(catalog, [kind], params, key=f"memory:event:{n}")
        run_fix(settings, catalog, FixJob(request_id, kind, f"memory:event:{n}"))
        with catalog.session(readonly=True) as s:
            [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
            said[kind] = (Path(pub.movie_path).parent / "description.txt").read_text()
    assert "The daily lacks frame 1004: this fix rebuilt it." in said["interpolate"]
    assert "The daily lacks frame 1004: the movies hold the frame before each gap over it" in said["denoise"]


@pytest.mark.parametrize(
    ("ext", "space"),
    [("exr", "ACEScct's curve on the EXR's own primaries"), ("png", "the daily's own code values")],
)
def test_a_regrades_version_says_what_it_graded_in_and_what_its_cube_maps(
    settings: Settings, catalog: Catalog, tmp_path: Path, ext: str, space: str
) -> None:
    """A colourist handed the .cube of an EXR plate's regrade applied it to the light and got nonsense: it maps
    ACEScct, which neither the description nor the file said."""
    pattern = tmp_path / "plate" / f"sh010.####.{ext}"
    write_sequence(str(pattern), footage.frames(3, (64, 48)), 1001)
    daily(catalog, tmp_path, path=pattern)
    promoted_model(settings, catalog, heads=("regrade",))
    request_id = request(catalog, ["regrade"], {"reference": "1002"})

    run_fix(settings, catalog, FixJob(request_id, "regrade", "memory:event:1"))

    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        files = VersionFiles.from_json(dict(pub.extra_files))
    assert files.description is not None and files.cube is not None
    assert f"Graded in {space}" in files.description.read_text()
    assert f"regrade: {space} in and out" in Path(files.cube).read_text().splitlines()[0]


def test_a_cg_dailys_overscan_is_fixed_and_kept_in_its_exr_deliverable_and_its_movies_show_the_picture(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    import OpenEXR

    from engine.media.exr import read_exr_layers

    for number, picture in zip((1001, 1002, 1003), footage.frames(3, (72, 56)), strict=True):
        footage.render_with_overscan(tmp_path / "cg" / f"sh010.{number}.exr", picture, pad=4, depth=number)

    movie, frames = fixed_daily(
        settings, catalog, tmp_path, tmp_path / "cg" / "sh010.####.exr", {"deliver": "exr"}
    )

    assert frames is not None
    header = OpenEXR.File(frames.replace("####", "1002")).header()
    assert [w.tolist() for w in header["displayWindow"]] == [[0, 0], [63, 47]]
    assert [w.tolist() for w in header["dataWindow"]] == [[-4, -4], [67, 51]]
    kept = read_exr_layers(Path(frames.replace("####", "1002")), (4, 4, 4, 4))["Z"]
    assert kept.shape == (56, 72) and np.all(kept == 1002)  # the AOVs over the overscan too
    assert (probe(str(movie)).width, probe(str(movie)).height) == (64, 48)  # the review shows the picture
    said = (movie.parent / "description.txt").read_text()
    assert (
        "overscan past its display window (left 4, top 4, right 4, bottom 4) is fixed with the picture"
        in said
    )


def test_an_anamorphic_dailys_fix_is_reviewed_desqueezed_and_delivered_as_stored(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    from fractions import Fraction

    from engine.media import write_movie

    source = write_movie(tmp_path / "sh010_v1.mov", footage.frames(4, (64, 48)), 24, pixel_aspect=Fraction(2))

    movie, frames = fixed_daily(settings, catalog, tmp_path, source, {"deliver": "prores"})

    assert (probe(str(movie)).width, probe(str(movie)).height) == (64, 24)
    assert probe(frames or "").pixel_aspect == 2
    said = (movie.parent / "description.txt").read_text()
    assert "Review pictures desqueezed to square pixels (pixel aspect 2:1)" in said


def test_a_phones_hdr_daily_is_reviewed_in_sdr_and_delivered_in_hdr(
    settings: Settings, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.color import DEFAULT_CONFIG, DisplayView, ViewSpec
    from engine.media import read_clip, write_movie
    from engine.media.info import ColourTags

    monkeypatch.delenv("OCIO", raising=False)
    hlg = ColourTags(primaries=9, transfer=18, matrix=9)
    source = write_movie(
        tmp_path / "IMG_0001.mov", footage.frames(4, (64, 48)), 30, codec="prores", colour=hlg
    )
    daily(catalog, tmp_path, path=source)
    promoted_model(settings, catalog)
    request_id = request(catalog, ["denoise"])  # no deliverable asked for: one is kept in HDR all the same

    run_fix(settings, catalog, FixJob(request_id, "denoise", "memory:event:1"))

    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        movie, frames = Path(pub.movie_path), VersionFiles.from_json(dict(pub.extra_files)).frames
    daily_pixels = read_clip(str(source))
    tone_mapped = DisplayView(ViewSpec(DEFAULT_CONFIG, "Rec.2100-HLG - Display")).shown(daily_pixels)
    assert probe(str(movie)).colour == ColourTags(1, 13, 1)  # the SDR display's (sRGB), what reviewers see
    assert abs(float(read_clip(str(movie)).mean() - tone_mapped.mean())) < 0.03
    assert abs(float(tone_mapped.mean() - daily_pixels.mean())) > 0.03  # the mapping is visible
    assert frames is not None and probe(frames).colour == hlg  # the fix itself stays HDR
    assert (
        "Review pictures tone-mapped to SDR through OpenColorIO (Rec.2100-HLG - Display ->"
        in (movie.parent / "description.txt").read_text()
    )
    assert abs(float(read_clip(frames).mean() - daily_pixels.mean())) < 0.02


def test_a_retime_carries_no_sound_and_a_silent_daily_none_at_all(tmp_path: Path) -> None:
    from daemon.stages.fixing import carried_sound

    talking = footage.movie_with_sound(tmp_path / "talk.mov", 4)
    silent = footage.movie(tmp_path / "silent.mov", 4)

    assert carried_sound(probe(str(talking)), prepare("denoise", {}, str(talking), probe(str(talking))))
    retime = prepare("interpolate", {"factor": "2"}, str(talking), probe(str(talking)))
    assert carried_sound(probe(str(talking)), retime) is None  # twice as long as its sound
    assert carried_sound(probe(str(silent)), prepare("denoise", {}, str(silent), probe(str(silent)))) is None


def test_the_versions_description_traces_its_weights_to_the_base_and_its_declaration(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    from engine.model.manifest import BaseRef

    daily(catalog, tmp_path)
    base = BaseRef(
        name="ACME", version="b3", weights_sha256="ab" * 32, declaration="owned: shot by ACME", clips=12
    )
    promoted_model(settings, catalog, base=base)
    request_id = request(catalog, ["denoise"])

    run_fix(settings, catalog, FixJob(request_id, "denoise", "memory:event:1"))

    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        text = (VersionFiles.from_json(dict(pub.extra_files)).description or Path()).read_text()
    assert 'grown from the studio base ACME b3 (12 corpus clip(s), declared "owned: shot by ACME")' in text
    assert "from scratch" not in text  # what it used to say of every version


def fixed_exr_daily(
    settings: Settings,
    catalog: Catalog,
    pixels: np.ndarray,
    folder: Path,
    kind: str = "denoise",
    params: dict[str, str] | None = None,
) -> tuple[str, Path]:
    """A fix (denoise unless `kind`) of an EXR daily of `pixels` (sh010.1001...): its EXR frames' pattern and
    review movie."""
    from engine.media import write_sequence

    pattern = str(folder / "sh010.####.exr")
    write_sequence(pattern, pixels, 1001)
    with catalog.session() as s:
        facts = DailyFacts(
            path=pattern, content_hash="exr", shot="sh010", frame_count=len(pixels), **on_disk(pattern)
        )
        register_daily(s, SHOW, facts)
    promoted_model(settings, catalog, heads=("denoise", "cleanup", kind))
    request_id = request(catalog, [kind], params)
    run_fix(settings, catalog, FixJob(request_id, kind, "memory:event:1"))
    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        frames = VersionFiles.from_json(dict(pub.extra_files)).frames
        movie = Path(pub.movie_path)
    assert frames is not None and frames.endswith(".####.exr")  # kept without deliver=exr
    return frames, movie


def test_an_exr_dailys_fix_is_reviewed_through_the_shows_view_and_keeps_its_light_as_exr_frames(
    settings: Settings, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.color import DEFAULT_CONFIG, DisplayView, ViewSpec
    from engine.media import read_frames, read_frames_uint8
    from engine.media.pixels import to_uint8

    monkeypatch.delenv("OCIO", raising=False)
    light = footage.frames(4, (64, 48)) ** np.float32(2.2) * np.float32(8.0)  # lights far over 1.0

    frames, movie = fixed_exr_daily(settings, catalog, light, tmp_path / "plates")

    fixed = np.stack([f.rgb for f in read_frames(frames)])
    assert float(fixed.max()) > 4.0 and abs(float(fixed.mean() / light.mean()) - 1.0) < 0.05
    view = DisplayView(ViewSpec(DEFAULT_CONFIG, "scene_linear"))
    for values, shown in zip(fixed, read_frames_uint8(movie), strict=True):
        assert abs(float(shown.rgb.mean()) - float(to_uint8(view.shown(values)).mean())) < 2.0


def test_a_cg_renders_alpha_goes_into_the_fixs_exr_frames(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    from engine.media import read_frames
    from engine.media.decode import read_alpha

    mattes = np.zeros((4, 48, 64, 1), np.float32)
    for i in range(4):  # a different matte on every frame
        mattes[i, 6 + 5 * i : 30 + 5 * i, 8:40] = 1.0
    light = footage.frames(4, (64, 48)) ** np.float32(2.2)

    frames, _ = fixed_exr_daily(
        settings, catalog, np.concatenate([light, mattes], axis=3), tmp_path / "renders"
    )

    kept = list(read_alpha(frames))
    assert [n for n, _ in kept] == [1001, 1002, 1003, 1004]
    for (_, alpha), matte in zip(kept, mattes, strict=True):
        assert np.array_equal(alpha, matte[..., 0])
    assert next(iter(read_frames(frames))).rgb.shape == (48, 64, 3)


def test_a_cg_renders_rebuilt_frames_have_the_alpha_of_where_the_element_went(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    from engine.media.decode import read_alpha

    element = np.zeros((5, 48, 64, 4), np.float32)
    texture = footage.frames(1, (64, 48))[0]
    for i in range(5):  # a textured square, premultiplied, 6 px a frame over nothing; 1003 rendered twice
        x = 4 + 6 * min(i, 1) if i == 2 else 4 + 6 * i
        element[i, 10:32, x : x + 20] = np.dstack([texture[10:32, 20:40], np.ones((22, 20))])

    frames, _ = fixed_exr_daily(
        settings, catalog, element, tmp_path / "renders", "interpolate", {"frames": "1003"}
    )

    kept = dict(read_alpha(frames))
    assert sorted(kept) == [1001, 1002, 1003, 1004, 1005]
    where_it_went = np.zeros((48, 64), np.float32)
    where_it_went[10:32, 16:36] = 1.0
    assert np.abs(kept[1003] - where_it_went).mean() < 0.1 * np.abs(element[2, ..., 3] - where_it_went).mean()
    for number in (1001, 1002, 1004, 1005):
        assert np.abs(kept[number] - element[number - 1001, ..., 3]).max() < 1e-3, number


def test_a_fix_on_a_kitsu_shot_with_no_daily_yet_names_it_as_its_files_would_be(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """Kitsu's shot names repeat across sequences and episodes (E01/SQ01/SH020, E02/SQ01/SH020): "shot SH020 has
    no daily" told the wrangler neither which shot nor what to name its file. The request still goes by the bare
    name (a daily named either way is found when it is asked again)."""
    from daemon.stages.requests import record_fix_request
    from integrations.trackers.base import FixRequest

    promoted_model(settings, catalog)
    qualified = ("E02_SQ01_SH020", "SQ01_SH020")
    asked = FixRequest("kitsu:comment:7", SHOW, "s7", "SH020", "t7", ("denoise",), qualified_codes=qualified)
    with catalog.session() as s:
        assert record_fix_request(s, asked, [ShowConfig(code=SHOW)], tracker="kitsu") == 1
        [row] = fixes.list_fix_requests(s, SHOW)
        assert (row.shot, row.qualified_codes) == ("SH020", list(qualified))
        request_id = row.id
    with pytest.raises(Permanent) as waits:
        run_fix(settings, catalog, FixJob(request_id, "denoise"))
    assert str(waits.value) == (
        f"shot E02_SQ01_SH020 of {SHOW} has no readable daily to fix yet: a movie or sequence whose name gives shot "
        "E02_SQ01_SH020 by the show's path template must reach one of the show's ingest folders first"
    )
    daily(catalog, tmp_path, shot="E02_SQ01_SH020")  # named as the answer says; the coordinator asks again
    with catalog.session() as s:
        assert record_fix_request(
            s, replace(asked, key="kitsu:comment:8"), [ShowConfig(code=SHOW)], tracker="kitsu"
        )
        assert sorted(r.shot for r in fixes.list_fix_requests(s, SHOW)) == ["E02_SQ01_SH020", "SH020"]


@pytest.mark.parametrize("shot", ["..", "seq/010", "\u00e9" * 140])
def test_a_shot_named_with_a_slash_dots_or_past_a_file_names_length_renders_inside_the_shows_folder(
    settings: Settings, catalog: Catalog, tmp_path: Path, shot: str
) -> None:
    """A shot's name is whatever its tracker allows: ".." put the render outside the show's folder, "/" nested it
    in folders of its own, and 280 bytes failed it with "File name too long". The Version keeps the full name."""
    daily(catalog, tmp_path, shot=shot, path=footage.movie(tmp_path / "daily_v1.mp4", n=4, size=(64, 48)))
    promoted_model(settings, catalog)
    with catalog.session() as s:
        row, _ = fixes.add_fix_request(
            s, SHOW, "memory:event:1", shot, ["denoise"], {"deliver": "none"}, task_id=3
        )
        request_id = row.id
    run_fix(settings, catalog, FixJob(request_id, "denoise", "memory:event:1"))
    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        movie, files = Path(pub.movie_path), VersionFiles.from_json(dict(pub.extra_files))
    renders = settings.renders_dir(ShowConfig(code=SHOW)).resolve()
    assert movie.is_file() and movie.resolve().parent.parent.parent == renders  # <renders>/<shot>/<render>/
    assert all(len(p.name.encode()) <= 255 for p in movie.parent.iterdir())
    assert files.code == f"{shot}_rushes_denoise_r{request_id}"


def test_a_shot_whose_file_was_quarantined_is_answered_with_why_not_that_it_has_to_arrive(
    settings: Settings, catalog: Catalog
) -> None:
    """The coordinator was told the shot's movie "must reach one of the show's ingest folders first" while it
    sat there, quarantined for its name: what it needed was a rename."""
    from daemon.catalog import dailies as daily_repo

    promoted_model(settings, catalog)
    request_id = request(catalog, ["denoise"])
    with catalog.session() as s:
        reason = "file name is not valid UTF-8 (bytes shown as \\xNN); rename it with a UTF-8 name"
        daily_repo.quarantine(s, SHOW, "/in/SH010_caf\\xe9_1.mov", 10, 1.0, reason)
    with pytest.raises(Permanent) as refused:
        run_fix(settings, catalog, FixJob(request_id, "denoise"))
    assert str(refused.value) == (
        "the file that looks like this shot's daily, SH010_caf\\xe9_1.mov, is in the show's ingest folder but "
        f"was quarantined ({reason}): mend that, and it is taken up"
    )
    with catalog.session() as s:  # the shot's own name in those bytes: café, as a Windows share wrote it
        row, _ = fixes.add_fix_request(s, SHOW, "memory:event:2", "café_sh020", ["denoise"], task_id=4)
        daily_repo.quarantine(s, SHOW, "/in/caf\\xe9_sh020_1.mov", 10, 1.0, reason)
        other = row.id
    with pytest.raises(Permanent) as latin:
        run_fix(settings, catalog, FixJob(other, "denoise"))
    assert "this shot's daily, caf\\xe9_sh020_1.mov, is in the show's ingest folder" in str(latin.value)
    with catalog.session() as s:  # a name that holds the shot's as part of a longer one is another shot's
        third = fixes.add_fix_request(s, SHOW, "memory:event:3", "caf", ["denoise"], task_id=5)[0].id
    with pytest.raises(Permanent, match="has no readable daily to fix yet"):
        run_fix(settings, catalog, FixJob(third, "denoise"))
    with catalog.session() as s:  # a shot whose bare name other sequences share goes by its own names only
        daily_repo.quarantine(s, SHOW, "/in/sq01_SH030_1.mov", 10, 1.0, "movie is damaged")
        fourth, _ = fixes.add_fix_request(
            s, SHOW, "memory:event:4", "SH030", ["denoise"], task_id=6, qualified_codes=("sq03_SH030",)
        )
        fourth_id = fourth.id
    with pytest.raises(Permanent, match=r"shot sq03_SH030 of .* has no readable daily to fix yet"):
        run_fix(settings, catalog, FixJob(fourth_id, "denoise"))


def test_requests_that_cannot_work_are_permanent(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    promoted_model(settings, catalog)
    with pytest.raises(Permanent, match="fix request 99 does not exist"):
        run_fix(settings, catalog, FixJob(99, "denoise"))
    request_id = request(catalog, ["cleanup"])
    with pytest.raises(Permanent, match="has no readable daily to fix yet: its movie or sequence must reach"):
        run_fix(settings, catalog, FixJob(request_id, "cleanup"))
    daily(catalog, tmp_path)
    with pytest.raises(Permanent, match="cleanup needs a mask"):
        run_fix(settings, catalog, FixJob(request_id, "cleanup"))
    with catalog.session() as s:
        fixes.get_fix_request(s, request_id).params = {"deliver": "dnxhd"}  # type: ignore[union-attr]
    with pytest.raises(Permanent, match="deliver=dnxhd is not known: use prores, dnxhr or exr"):
        run_fix(settings, catalog, FixJob(request_id, "denoise"))
    with catalog.session() as s:
        fixes.get_fix_request(s, request_id).params = {"deliver": "dnxhr"}  # type: ignore[union-attr]
    with pytest.raises(
        Permanent, match="deliver=dnxhr takes frames of at least 256x120, not 64x48: use prores"
    ):
        run_fix(settings, catalog, FixJob(request_id, "denoise"))


def test_a_dnxhr_deliverable_of_a_daily_at_a_rate_mxf_cannot_hold_is_answered_before_the_work(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    daily(catalog, tmp_path, path=footage.movie(tmp_path / "timelapse.mov", n=2, size=(256, 144), fps=12))
    promoted_model(settings, catalog)
    request_id = request(catalog, ["denoise"], {"deliver": "dnxhr"})

    with pytest.raises(
        Permanent, match=r"deliver=dnxhr writes an MXF, and an MXF holds only .*, not 12 fps: use prores"
    ):
        run_fix(settings, catalog, FixJob(request_id, "denoise"))


def test_a_cleanup_mask_reaching_past_the_frame_is_cut_to_it_and_the_version_says_so(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    daily(catalog, tmp_path)  # 64x48
    promoted_model(settings, catalog)
    request_id = request(catalog, ["cleanup"], {"mask": "40,30,40,40"})

    run_fix(settings, catalog, FixJob(request_id, "cleanup", "memory:event:1"))

    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        files = VersionFiles.from_json(dict(pub.extra_files))
    assert files.description is not None
    assert (
        "mask=40,30,40,40 reaches past the 64x48 frame: only its part inside it, 40,30,24,18, was cleaned."
        in files.description.read_text().splitlines()
    )
    with catalog.session() as s:  # asked again, with the mask moved past the frame
        outside, _ = fixes.add_fix_request(
            s, SHOW, "memory:event:2", "sh010", ["cleanup"], {"mask": "70,30,4,4"}, task_id=3
        )
    with pytest.raises(
        Permanent, match="mask=70,30,4,4 lies outside the 64x48 frame: give x,y,w,h inside it"
    ):
        run_fix(settings, catalog, FixJob(outside.id, "cleanup", "memory:event:2"))


def test_before_the_shows_first_model_a_fix_is_rendered_by_its_classical_tool_and_says_so(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    daily(catalog, tmp_path)  # no model trained yet
    request_id = request(catalog, ["interpolate", "regrade"], {"frames": "1-2"})

    result = run_fix(settings, catalog, FixJob(request_id, "interpolate", "memory:event:1"))

    assert result["frames"] == 4 and result["model_version"] is None
    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        model_version, files = pub.model_version, VersionFiles.from_json(dict(pub.extra_files))
    assert model_version is None and files.description is not None
    text = files.description.read_text()
    assert f"Model: none yet for {SHOW}\n" in text
    assert f"Show {SHOW} has no trained model yet, so the classical DIS optical flow made this fix" in text
    # regrade with no reference restores the show's learned look: nothing classical stands in for it
    with pytest.raises(Permanent, match=r"regrade without reference= restores show .* has none yet"):
        run_fix(settings, catalog, FixJob(request_id, "regrade", "memory:event:1"))
    with catalog.session() as s:
        fixes.get_fix_request(s, request_id).params = {"reference": "2"}  # type: ignore[union-attr]
    assert run_fix(settings, catalog, FixJob(request_id, "regrade", "memory:event:1"))["frames"] == 4


def test_after_an_upgrade_a_version_an_older_rushes_made_is_not_used_the_classical_tools_fix_until_retrained(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """A release before sealed manifests wrote them without a seal and recorded none: after the upgrade the
    requests in flight and new ones are fixed by the classical tools (they used to be failed for good, the
    coordinator told to correct the request); a seal deleted from a version this Rushes trained is refused."""
    daily(catalog, tmp_path)
    promoted_model(settings, catalog)
    manifest_path = settings.models_dir / SHOW / "v1" / "manifest.json"
    data = json.loads(manifest_path.read_text())
    seal = data.pop("seal")
    manifest_path.write_text(json.dumps(data, indent=2))  # as the older release wrote it
    request_id = request(catalog, ["denoise", "regrade"])

    result = run_fix(settings, catalog, FixJob(request_id, "denoise", "memory:event:1"))

    assert result["frames"] == 4 and result["model_version"] is None
    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        files = VersionFiles.from_json(dict(pub.extra_files))
    assert files.description is not None
    text = files.description.read_text()
    assert f"Model: none yet for {SHOW} (v1 was made by an older Rushes, which this one cannot use)\n" in text
    assert (
        f"Show {SHOW}'s model v1 was made by an older Rushes, which this one cannot use, so the classical "
        f"NL-means made this fix; fixes use the show's model once `rushes train --show {SHOW}`"
    ) in text
    with pytest.raises(Permanent, match=rf"^show {SHOW}'s model v1 was made by an older Rushes.*train it"):
        run_fix(
            settings, catalog, FixJob(request_id, "regrade", "memory:event:1")
        )  # no reference: no stand-in
    with catalog.session() as s:  # a version this Rushes trained records its seal: deleting it is tampering
        [row] = models_repo.list_versions(s, SHOW)
        row.metrics = {**(row.metrics or {}), "seal": seal}
    asked_again = request(catalog, ["denoise"], key="memory:event:2")
    with pytest.raises(Permanent, match="it has no seal, yet it had one when it was trained"):
        run_fix(settings, catalog, FixJob(asked_again, "denoise", "memory:event:2"))


def test_a_retime_at_quality_best_renders_and_an_unknown_quality_is_permanent(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    daily(catalog, tmp_path)
    promoted_model(settings, catalog, heads=("interpolate",))
    best = request(catalog, ["interpolate"], {"factor": "2", "quality": "best", "deliver": "none"})
    assert run_fix(settings, catalog, FixJob(best, "interpolate"))["frames"] == 7  # 4 frames retimed 2x
    with catalog.session() as s:  # another event: a request is one per event
        row, _ = fixes.add_fix_request(
            s, SHOW, "memory:event:2", "sh010", ["interpolate"], {"factor": "2", "quality": "fastest"}
        )
        bad = row.id
    with pytest.raises(Permanent, match="quality=fastest is not a quality: write quality=best"):
        run_fix(settings, catalog, FixJob(bad, "interpolate"))


def test_a_retimes_version_says_its_rate_and_timecode_for_editorial(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    from fractions import Fraction

    from integrations.editorial import read_timeline

    source = footage.movie(
        tmp_path / "sh010_1.mov", n=4, size=(64, 48), fps=Fraction(24000, 1001), timecode="00:59:59:22"
    )
    daily(catalog, tmp_path, path=source)
    promoted_model(settings, catalog, heads=("interpolate",))
    retime = request(catalog, ["interpolate"], {"factor": "2"})

    movie = Path(run_fix(settings, catalog, FixJob(retime, "interpolate"))["movie"])

    assert (probe(movie).frame_count, probe(movie).timecode) == (7, "00:59:59:22")
    assert (
        "A 2x retime: 7 frames at 23.976 fps (the daily's rate), timecode 00:59:59:22 (the daily's first) to "
        "01:00:00:04, each of the daily's frames but the last followed by 1 made one(s), so it plays 2x slower "
        "and past its first frame its timecode counts the retimed frames, not the daily's."
    ) in (movie.parent / "description.txt").read_text()
    (clip,) = read_timeline(movie.with_suffix(".otio")).find_clips()
    assert (clip.metadata["rushes"]["retime"], clip.source_range.duration.value) == (2, 7)
    assert clip.metadata["rushes"]["daily"] == str(source)  # the file it replaces in the cut


def test_a_shows_movie_first_frame_numbers_the_frames_a_request_names_and_the_version_carries(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    numbered = Settings(
        data_dir=settings.data_dir,
        shows=[ShowConfig(code=SHOW, tracker_project=SHOW, movie_first_frame=1001)],
    )
    daily(catalog, tmp_path)
    promoted_model(numbered, catalog, heads=("interpolate",))
    rebuilt = request(catalog, ["interpolate"], {"frames": "1002", "deliver": "prores"})
    assert run_fix(numbered, catalog, FixJob(rebuilt, "interpolate"))["frames"] == 4
    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, rebuilt).publications  # type: ignore[union-attr]
        files = VersionFiles.from_json(dict(pub.extra_files))
    assert (files.first_frame, files.last_frame) == (1001, 1004)
    assert files.frames is not None and probe(files.frames, first_frame=1001).frame_range == range(1001, 1005)
    # EXR frames of a movie daily would hold its display-encoded values, which the comp reads as linear light
    as_exr = request(catalog, ["interpolate"], {"frames": "1002", "deliver": "exr"}, key="memory:event:3")
    with pytest.raises(Permanent, match=r"sh010_v1\.mp4's pictures are display-encoded \(BT\.709\)"):
        run_fix(numbered, catalog, FixJob(as_exr, "interpolate"))
    with catalog.session() as s:  # the file's own count is not the show's
        row, _ = fixes.add_fix_request(s, SHOW, "memory:event:2", "sh010", ["interpolate"], {"frames": "2"})
    with pytest.raises(Permanent, match="frames 2 lie outside the shot's frames 1001-1004"):
        run_fix(numbered, catalog, FixJob(row.id, "interpolate"))


def test_each_fix_of_a_request_describes_only_its_own_parameters(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """`regrade reference=2; denoise` gave the denoise Version's description "(reference=2)", a parameter the
    denoise never read: a supervisor took it for what the fix did."""
    daily(catalog, tmp_path)
    promoted_model(settings, catalog, heads=("regrade", "denoise"))
    asked = request(catalog, ["regrade", "denoise"], {"reference": "2", "deliver": "none"})

    for kind in ("regrade", "denoise"):
        run_fix(settings, catalog, FixJob(asked, kind, "memory:event:1"))

    with catalog.session(readonly=True) as s:
        pubs = fixes.get_fix_request(s, asked).publications  # type: ignore[union-attr]
        said = {p.fix_kind: VersionFiles.from_json(dict(p.extra_files)).description for p in pubs}
    first_lines = {kind: (path or Path()).read_text().splitlines()[0] for kind, path in said.items()}
    assert first_lines == {
        "regrade": "Rushes fix: regrade on sh010 (reference=2, deliver=none)",
        "denoise": "Rushes fix: denoise on sh010 (deliver=none)",  # the request's deliver= is every fix's
    }


def test_a_bare_reference_name_is_answered_with_a_frame_number_the_shot_has(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """`reference=sh040` was answered "write reference=1001" on a show whose movies count from 0, where frame
    1001 is outside every shot: the answer names a frame of the shot's own, as the show counts them (its last:
    its first, which the grade starts from, would change nothing)."""
    daily(catalog, tmp_path)  # a movie of 4 frames: 0-3 on a show without movie_first_frame
    promoted_model(settings, catalog, heads=("regrade",))
    asked = request(catalog, ["regrade"], {"reference": "sh040"})
    with pytest.raises(
        Permanent,
        match=r"write reference=3 \(a frame of this shot in the look it should take: its frames are 0-3\), or",
    ):
        run_fix(settings, catalog, FixJob(asked, "regrade"))
    numbered = Settings(
        data_dir=settings.data_dir,
        shows=[ShowConfig(code=SHOW, tracker_project=SHOW, movie_first_frame=1001)],
    )
    with pytest.raises(
        Permanent,
        match=r"write reference=1004 \(a frame of this shot in the look it should take: its frames are 1001-1004",
    ):
        run_fix(numbered, catalog, FixJob(asked, "regrade"))


@pytest.mark.parametrize("kind", ["upscale", "denoise"])
def test_a_coordinators_quality_best_reaches_the_head_as_its_self_ensemble(
    kind: str, catalog: Catalog, tmp_path: Path
) -> None:
    """`upscale quality=best` or `denoise quality=best` on a task (or `rushes fix --quality best`): the head's
    apply() gets `ensemble` (what it computes: tests/engine/test_upscale_adapt.py, test_orientation.py);
    without it, one pass."""
    source = str(daily(catalog, tmp_path))
    info = probe(source)
    assert prepare(kind, {"quality": "best", "deliver": "exr"}, source, info).params == {"ensemble": 4}
    assert prepare(kind, {}, source, info).params == {}


BELOW_NLMEANS = {"psnr": 30.0, "baseline_best": 32.07, "psnr_nlmeans": 32.07, "nlmeans_strength": 8.0}


def test_a_head_below_its_classical_baseline_is_not_used_the_baseline_is_and_the_version_says_so(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    source = daily(catalog, tmp_path)
    promoted_model(settings, catalog, {"denoise": BELOW_NLMEANS})
    info = probe(source)
    model, _ = load_promoted(catalog, SHOW)
    fixed = list(fixed_frames(model, prepare("denoise", {}, str(source), info), info))
    assert len(fixed) == 4
    for (
        _,
        before,
        after,
    ) in fixed:  # `before` is held as 8 bits (the review shows 8 bits), the source was 8-bit
        expected = denoise_nlmeans(to_float32(before), 8.0)
        assert np.array_equal(after, expected)  # NL-means, not the (identity) fresh net

    request_id = request(catalog, ["denoise"])
    run_fix(settings, catalog, FixJob(request_id, "denoise", "memory:event:1"))
    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        files = VersionFiles.from_json(dict(pub.extra_files))
    assert files.description is not None
    text = files.description.read_text()
    assert "The denoise head did not beat the classical NL-means on this show's held-out clips" in text
    assert "(-2.07 dB against it): this fix used NL-means instead of the show model." in text


def test_a_worker_loads_the_promoted_model_once_and_again_when_its_files_change(
    settings: Settings, catalog: Catalog
) -> None:
    promoted_model(settings, catalog)
    first, number = load_promoted(catalog, SHOW)
    again, _ = load_promoted(catalog, SHOW)
    assert number == 1 and again is first, "fix after fix in one worker: one load (and one compiled runtime)"
    weights = settings.models_dir / SHOW / "v1" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # a weight file changed on disk since it was loaded
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_promoted(catalog, SHOW)


def graded_element(
    settings: Settings,
    catalog: Catalog,
    folder: Path,
    alpha: np.ndarray,
    reference: Path | str,
    keep_alpha: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """A regrade, to `reference`, of a premultiplied EXR element: the same straight colour on every frame, each
    pixel's coverage `alpha` (HxW). Its straight colour and the fix's frames (RGBA with `keep_alpha`)."""
    from engine.media import write_sequence

    straight = np.repeat(footage.frames(1, (64, 48)) ** np.float32(2.2), 3, axis=0)
    pixels = np.concatenate(
        [straight * alpha[None, ..., None], np.broadcast_to(alpha[None, ..., None], (3, 48, 64, 1))], 3
    )
    pattern = folder / "el.####.exr"
    write_sequence(str(pattern), pixels.astype(np.float32), 1001)
    info = probe(str(pattern))
    model, _ = load_promoted(catalog, SHOW)
    prepared = prepare("regrade", {"reference": str(reference)}, str(pattern), info)
    frames = fixed_frames(model, prepared, info, alpha=keep_alpha)
    return straight[0], np.stack([after for _, _, after in frames])


def test_a_premultiplied_elements_regrade_grades_its_colour_not_its_coverage(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """A CG element's soft edge is graded as the colour it covers with, not as a darker colour; where it covers
    nothing it stays as it was, even under a grade that lifts black."""
    from engine.media import write_image

    promoted_model(settings, catalog, heads=("regrade",))
    look = (footage.frames(1, (64, 48))[0] ** np.float32(2.2)) ** np.float32(0.6) * 0.8 + 0.05  # lifted, bent
    write_image(tmp_path / "look.exr", look.astype(np.float32))
    opaque = np.ones((48, 64), np.float32)
    soft = np.broadcast_to(
        np.linspace(0.25, 1.0, 64, dtype=np.float32), (48, 64)
    ).copy()  # an edge 64 px wide

    straight, solid = graded_element(settings, catalog, tmp_path / "solid", opaque, tmp_path / "look.exr")
    _, edged = graded_element(settings, catalog, tmp_path / "soft", soft, tmp_path / "look.exr")

    assert float(np.abs(solid[0] - straight).mean()) > 0.02  # the grade changes the colour
    error = np.abs(edged[0] - solid[0] * soft[..., None])  # graded colour, times the coverage
    # a few pixels whose straight colour, divided back out of half floats, falls on the other side of a step of
    # the 8-bit LUT path differ by that step; before, the mean error was 0.18
    assert float(error.mean()) < 0.002 and float(np.percentile(error, 99)) < 0.005
    # kept beside the graded colour, the alpha is each frame's own (read once, with the colour's division)
    _, kept = graded_element(
        settings, catalog, tmp_path / "kept", soft, tmp_path / "look.exr", keep_alpha=True
    )
    assert kept.shape[-1] == 4 and np.array_equal(kept[..., :3], edged)
    assert np.abs(kept[..., 3] - soft).max() < 1e-3

    holes = soft.copy()
    holes[:, :8] = 0.0  # covers nothing there
    _, holed = graded_element(settings, catalog, tmp_path / "holes", holes, tmp_path / "look.exr")
    assert float(np.abs(holed[:, :, :8]).max()) == 0.0  # before: painted with the lifted black

    # matched to a frame of its own (every frame the same): its colour is seen straight there too, so it stays
    straight, itself = graded_element(settings, catalog, tmp_path / "own", soft, "1002")
    error = np.abs(itself[0] - straight * soft[..., None])
    # before: 0.09, the reference seen darker than the frames; an opaque element matched to itself: 0.004
    assert float(error.mean()) < 0.01, float(error.mean())


def test_a_request_fixes_the_take_it_names_else_the_newest(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """Supervisors circle a take: `take=2` fixes take 2 though take 3 came in after it."""
    for take, frames in (("1", 4), ("2", 5), ("3", 6)):  # told apart by their lengths
        movie = footage.movie(tmp_path / f"sh010_{take}.mp4", n=frames, size=(64, 48))
        with catalog.session() as s:
            facts = DailyFacts(
                path=str(movie),
                content_hash=take,
                shot="sh010",
                take=take,
                frame_count=frames,
                **on_disk(movie),
            )
            register_daily(s, SHOW, facts)
    promoted_model(settings, catalog)

    def fixed(**params: str) -> int:
        with catalog.session() as s:
            row, _ = fixes.add_fix_request(
                s, SHOW, f"memory:event:{params}", "sh010", ["denoise"], params, task_id=3
            )
        return int(run_fix(settings, catalog, FixJob(row.id, "denoise", row.request_key))["frames"])

    assert fixed(take="2") == 5
    assert fixed(take="02") == 5  # as a slate writes it
    assert fixed() == 6  # no take named: the newest
    with pytest.raises(Permanent, match=r"shot sh010 has no take 7: its takes are 1, 2, 3; name one of them"):
        fixed(take="7")


def test_a_fix_whose_unheard_attempt_was_published_is_not_rendered_again_over_its_version(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """A Ray task finished the fix after its daemon lost the Ray head (or a daemon was killed after its fix
    queued the publication, before it heard the job end), and its Version went out; the job ran again. It used
    to render the fix again, over the movie the Version in review shows, and move the published request back
    to rendered."""
    daily(catalog, tmp_path)
    promoted_model(settings, catalog)
    request_id = request(catalog, ["denoise"], {"deliver": "none"})
    job = FixJob(request_id, "denoise", "memory:event:1")
    first = run_fix(settings, catalog, job)
    with catalog.session() as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        fixes.mark_published(s, pub.id, 501)
        fixes.set_fix_state(s, request_id, "published")
    movie = Path(first["movie"])
    written = movie.stat()
    again = run_fix(settings, catalog, job)
    assert again == first
    assert (movie.stat().st_ino, movie.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    with catalog.session(readonly=True) as s:
        assert fixes.get_fix_request(s, request_id).state == "published"  # type: ignore[union-attr]
        assert len(job_repo.list_jobs(s, kind="publish", limit=None)) == 1


def test_a_daily_copied_over_while_it_is_fixed_is_not_published_and_the_job_is_tried_again(
    settings: Settings, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lab delivering a take again copies the new file over the old one in place while a fix reads it: the
    render holds frames of both (it used to be published as the fix of the daily, at the old file's size and
    the new one's length). It is refused before the outbox, with a retryable error, and the attempt after the
    new file's ingest fixes the file as it is."""
    from daemon.stages import fixing

    source = daily(catalog, tmp_path)
    promoted_model(settings, catalog)
    request_id = request(catalog, ["denoise"], {"deliver": "none"})
    job = FixJob(request_id, "denoise", "memory:event:1")
    real_render = fixing.render

    def render_while_delivered_again(*args: Any, **kw: Any) -> Any:
        with source.open("r+b") as f:  # `cp` over an existing file: the same inode, truncated and rewritten
            f.truncate(0)
            f.write(
                footage.movie(tmp_path / "again" / "sh010_v1.mp4", n=6, size=(48, 32), seed=5).read_bytes()
            )
        return real_render(*args, **kw)

    monkeypatch.setattr(fixing, "render", render_while_delivered_again)
    with pytest.raises(RuntimeError, match=r"changed on disk while it was being fixed") as err:
        run_fix(settings, catalog, job)
    assert not isinstance(err.value, Permanent)  # retried, not dead-lettered
    with catalog.session(readonly=True) as s:
        assert fixes.get_fix_request(s, request_id).publications == []  # type: ignore[union-attr]
        assert job_repo.list_jobs(s, kind="publish", limit=None) == []
    shot_renders = settings.renders_dir(settings.shows[0]) / "sh010"
    assert not shot_renders.exists() or not any(shot_renders.iterdir())  # the mixed render is not left behind
    monkeypatch.setattr(fixing, "render", real_render)
    with pytest.raises(RuntimeError, match=r"delivered again since it was ingested"):  # not catalogued yet
        run_fix(settings, catalog, job)
    with catalog.session() as s:  # the watcher ingests the new file
        facts = DailyFacts(
            path=str(source), content_hash="again", shot="sh010", frame_count=6, **on_disk(source)
        )
        register_daily(s, SHOW, facts)
    assert run_fix(settings, catalog, job)["frames"] == 6  # the next attempt: the file as it is now


def test_a_daily_deleted_since_it_was_ingested_is_answered_as_nothing_to_correct_in_the_request(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """The lab pulled a delivery back: the coordinator's request was right, the file is what is missing. It
    used to be answered 'cannot be read any more: not found' with 'correct the request'."""
    source = daily(catalog, tmp_path)
    promoted_model(settings, catalog)
    request_id = request(catalog, ["denoise"])
    source.unlink()
    with pytest.raises(
        NotYet, match=r"sh010_v1.mp4 is no longer on disk \(moved or deleted since it was ingested\)"
    ):
        run_fix(settings, catalog, FixJob(request_id, "denoise"))


def test_a_machine_that_does_not_see_the_shows_folder_retries_the_fix_rather_than_answering_it(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """A Ray node without the show's share mounted (an empty mount point) ran the fix: the daily is there on
    the daemon's host. The coordinator used to be answered that it was moved or deleted, the request dead."""
    share = tmp_path / "share"
    source = daily(catalog, tmp_path, path=footage.movie(share / "sh010_v1.mp4", n=4, size=(64, 48)))
    show = ShowConfig(code=SHOW, tracker_project=SHOW, ingest={"roots": [{"path": share}]})  # type: ignore[arg-type]
    on_the_node = Settings(data_dir=settings.data_dir, shows=[show])
    promoted_model(on_the_node, catalog)
    request_id = request(catalog, ["denoise"])
    share.rename(tmp_path / "share-on-the-daemons-host")
    share.mkdir()  # the node's mount point, nothing mounted on it
    with pytest.raises(
        RuntimeError, match=rf"does not see {share} \(missing or empty here\), which holds the daily {source}"
    ) as unseen:
        run_fix(on_the_node, catalog, FixJob(request_id, "denoise"))
    assert not isinstance(unseen.value, Permanent)  # tried again, never answered on the task
    share.rmdir()  # no mount point at that path at all
    with pytest.raises(RuntimeError, match="mount the show's folders at the same paths on every machine"):
        run_fix(on_the_node, catalog, FixJob(request_id, "denoise"))


def test_the_memory_a_fix_may_use_is_the_tightest_cgroup_limit_from_the_daemons_up(tmp_path: Path) -> None:
    """A systemd unit's MemoryMax (or a container's limit) holds the daemon below the machine's memory; the
    root's memory.max alone missed a unit's."""
    from daemon.stages.fixing import cgroup_limits

    unit = tmp_path / "system.slice" / "rushes.service"
    unit.mkdir(parents=True)
    (unit / "memory.max").write_text(f"{8 << 30}\n")
    (unit.parent / "memory.max").write_text("max\n")
    (tmp_path / "memory.max").write_text(f"{64 << 30}\n")
    membership = tmp_path / "cgroup"
    membership.write_text("0::/system.slice/rushes.service\n")
    assert cgroup_limits(tmp_path, membership) == [8 << 30, 64 << 30]
    membership.write_text("0::/\n")  # a container: its own root
    assert cgroup_limits(tmp_path, membership) == [64 << 30]
    assert cgroup_limits(tmp_path, tmp_path / "none") == []  # no cgroup v2


def test_a_sequence_daily_with_a_stray_frame_is_answered_with_the_stray_frame_not_as_gone(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """A frame misnumbered sh010.9999999999.png landed beside a delivered sequence: the daily is there, and the
    answer names the frame to rename. It was answered 'no longer on disk: put it back'."""
    pattern = footage.sequence(tmp_path / "plates", "sh010", first=1001, n=4, size=(64, 48))
    daily(catalog, tmp_path, path=Path(pattern))
    promoted_model(settings, catalog)
    request_id = request(catalog, ["denoise"])
    stray = Path(pattern.replace("####", "9999999999"))
    stray.write_bytes(Path(pattern.replace("####", "1001")).read_bytes())

    with pytest.raises(Permanent, match="rename or remove the stray frame"):
        run_fix(settings, catalog, FixJob(request_id, "denoise"))
    stray.unlink()
    for frame in Path(pattern).parent.iterdir():
        frame.unlink()
    with pytest.raises(
        NotYet, match="is no longer on disk"
    ):  # every frame gone: the delivery was pulled back
        run_fix(settings, catalog, FixJob(request_id, "denoise"))


def test_a_fix_needing_more_memory_than_the_machine_has_is_refused_before_any_frame_is_decoded(
    settings: Settings, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 16000x16000 daily passes ingest (16384 pixels a side at most) and its fix needs some 36 GB: it used to
    be killed by the kernel at each of its attempts, with whatever else ran on the machine. Here the machine is
    made small instead of the daily large."""
    from daemon.stages import fixing

    big = MediaInfo(
        path="big_1.mov",
        kind="movie",
        codec="mjpeg",
        width=16000,
        height=16000,
        fps=Fraction(24),
        frame_count=6,
        first_frame=0,
        last_frame=5,
    )
    monkeypatch.setattr(fixing, "machine_memory", lambda: 23 << 30)
    with pytest.raises(
        fixing.FixError, match=r"frames of 16000x16000 \(256 MP\) need about 32\.0 GB of memory"
    ):
        fixing.check_memory(big, "denoise")
    fixing.check_memory(replace(big, width=7680, height=4320), "denoise")  # 8K: about 5 GB
    monkeypatch.setattr(fixing, "machine_memory", lambda: 8 << 30)
    with pytest.raises(
        fixing.FixError, match=r"need about 21\.5 GB of memory for the upscale fix, more than the 8\.0"
    ):
        fixing.check_memory(replace(big, width=7680, height=4320), "upscale")  # to 15360x8640
    monkeypatch.setattr(fixing, "machine_memory", lambda: 24 << 30)
    fixing.check_memory(replace(big, width=7680, height=4320), "upscale")  # 170 bytes an output pixel

    source = daily(catalog, tmp_path)
    promoted_model(settings, catalog)
    request_id = request(catalog, ["denoise"])
    monkeypatch.setattr(fixing, "machine_memory", lambda: 256 << 20)
    with pytest.raises(NotYet, match=r"more than the 0\.2 GB of this machine: fix a smaller proxy"):
        run_fix(settings, catalog, FixJob(request_id, "denoise"))
    assert source.is_file()
