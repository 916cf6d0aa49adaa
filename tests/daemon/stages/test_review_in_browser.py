"""A supervisor reviews Rushes' Versions in a web browser: the dailies studios deliver (8-bit H.264 with sync sound
at 23.976, an anamorphic 10-bit ProRes of an odd size at 25, a scene-linear EXR sequence, a phone's HDR HLG movie
at 29.97) are fixed by the fix stage, published to the local tracker by the ShotGrid adapter, fetched back as a
reviewer's page fetches them, and played in headless Chromium (tests/browser.py): each review movie, before/after
and thumbnail plays at its size and length, with its sound, in the colours of the daily through the view the
review is made with, the thumbnail in the colours its movie shows; and a Version's movie can be seeked in straight from the tracker's url, as a supervisor
scrubs to a frame. One Chromium launch looks at every file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from daemon.catalog import Catalog, fixes
from daemon.catalog import shows as show_repo
from daemon.catalog.dailies import DailyFacts, register_daily
from daemon.context import prepare_home
from daemon.jobs.payloads import FixJob
from daemon.settings import Settings, ShowConfig
from daemon.stages.fixing import run_fix
from daemon.stages.publishing import version_spec
from engine.color import DEFAULT_CONFIG, DisplayView, ViewSpec, in_rec709_primaries
from engine.media import read_frames, write_movie, write_sequence
from engine.media.aspect import square_size
from engine.media.info import ColourTags
from engine.media.pixels import to_uint8
from integrations.trackers.sgserver import SGServer
from integrations.trackers.shotgrid import ShotGridTracker
from tests import footage
from tests.browser import REGIONS, Look, chromium, look_at
from tests.daemon.stages.conftest import SHOW
from tests.daemon.stages.test_fixing import on_disk, promoted_model, request
from tests.integrations.sg_fixtures import FAST, KINDS, client, make_show, options, running_server

FRAMES = 12
SQUEEZED = (161, 120)  # an odd width, stored 2x squeezed: reviewed at 161x60 in square pixels
HLG = ColourTags(primaries=9, transfer=18, matrix=9)
BT2020 = ColourTags(primaries=9, transfer=14, matrix=9)  # a grade's SDR master in BT.2020


@dataclass(frozen=True)
class Daily:
    """A kind of daily: how to make it in a folder, its rate, and its first frame as the review should show it."""

    make: Callable[[Path], str]
    fps: Fraction
    shown: Callable[[str], np.ndarray]  # the daily's path -> its first frame as displayed, HxWx3 float 0..1
    sound: bool = False


def _first(path: str) -> np.ndarray:
    return next(iter(read_frames(path))).rgb


def _through(view: str) -> Callable[[str], np.ndarray]:
    return lambda path: DisplayView(ViewSpec(DEFAULT_CONFIG, view)).shown(_first(path))


def _exr(folder: Path) -> str:
    pattern = str(folder / "sh010.####.exr")
    write_sequence(pattern, footage.frames(FRAMES, (160, 96)) ** np.float32(2.2) * np.float32(4.0), 1001)
    return pattern


DAILIES = {
    "h264_sound": Daily(
        lambda f: str(footage.movie_with_sound(f / "a.mov", FRAMES, Fraction(24000, 1001), size=(160, 96))),  # type: ignore[arg-type]
        Fraction(24000, 1001),
        _first,
        sound=True,
    ),
    "anamorphic": Daily(
        lambda f: str(
            write_movie(
                f / "a.mov", footage.frames(FRAMES, SQUEEZED), 25, codec="prores", pixel_aspect=Fraction(2)
            )
        ),
        Fraction(25),
        _first,
    ),
    "exr": Daily(_exr, Fraction(24), _through("scene_linear")),
    "bt2020": Daily(
        lambda f: str(
            write_movie(f / "a.mov", footage.frames(FRAMES, (160, 96)), 24, codec="prores", colour=BT2020)
        ),
        Fraction(24),
        lambda path: in_rec709_primaries(to_uint8(_first(path)), BT2020) / np.float32(255),  # colour-managed
    ),
    "hlg": Daily(
        lambda f: str(
            write_movie(
                f / "IMG_0001.mov",
                footage.frames(FRAMES, (160, 96)),
                Fraction(30000, 1001),
                codec="prores",
                colour=HLG,
            )
        ),
        Fraction(30000, 1001),
        _through("Rec.2100-HLG - Display"),
    ),
}


@dataclass(frozen=True)
class Reviewed:
    findings: dict[str, dict[str, Any]]
    shown: dict[str, np.ndarray]  # each daily's first frame as displayed
    sizes: dict[str, tuple[int, int]]  # each daily's stored size


def _fixed(folder: Path, daily: Daily) -> tuple[Settings, Catalog, int, str]:
    """A denoise fix of the daily by the fix stage, in a home of its own: its settings, catalog, publication id
    and the daily's path."""
    home = folder / "home"
    prepare_home(home)
    settings = Settings(data_dir=home, shows=[ShowConfig(code=SHOW, tracker_project=SHOW)])
    catalog = Catalog(settings.catalog)
    catalog.migrate()
    path = daily.make(folder)
    with catalog.session() as s:
        show_repo.ensure_show(s, SHOW)
        facts = DailyFacts(path=path, content_hash=path, shot="sh010", frame_count=FRAMES, **on_disk(path))
        register_daily(s, SHOW, facts)
    promoted_model(settings, catalog)
    key = f"memory:event:{folder.name}"  # each its own Version on the tracker
    request_id = request(catalog, ["denoise"], {"deliver": "none"}, key=key)
    run_fix(settings, catalog, FixJob(request_id, "denoise", key))
    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        return settings, catalog, pub.id, path


def _published(server: SGServer, name: str, folder: Path, daily: Daily, page: Path) -> tuple[str, str]:
    """The daily fixed and published; its review movie, before/after and thumbnail downloaded from the tracker
    into `page` (<name>.mp4, <name>_before_after.mp4, <name>.jpg): the review movie's url on the tracker, and
    the daily's path."""
    sg = client(server)
    if not sg.find("Project", []):
        make_show(sg, code=SHOW, shots=1)
    shot = sg.find_one("Shot", [], ["id"])
    task = sg.find_one("Task", [], ["id"])
    assert shot is not None and task is not None
    settings, catalog, pub_id, path = _fixed(folder, daily)
    spec, _, _ = version_spec(settings, catalog, pub_id)
    catalog.dispose()
    spec = replace(spec, shot_id=shot["id"], task_id=task["id"])
    published = ShotGridTracker(options(server), kinds=KINDS, policy=FAST).publish_version(spec)
    version = {"type": "Version", "id": published.version_id}
    found = sg.find_one("Version", [["id", "is", published.version_id]], ["sg_uploaded_movie", "image"])
    [before_after] = sg.find(
        "Attachment",
        [["attachment_links", "is", version], ["filename", "ends_with", "_before_after.mp4"]],
        ["this_file"],
    )
    sg.download_attachment(found["sg_uploaded_movie"], file_path=str(page / f"{name}.mp4"))
    sg.download_attachment({"url": found["image"]}, file_path=str(page / f"{name}.jpg"))
    sg.download_attachment(before_after["this_file"], file_path=str(page / f"{name}_before_after.mp4"))
    return str(found["sg_uploaded_movie"]["url"]), path


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reviewed]:
    chromium()  # before the work: a missing Chromium fails at once, saying how to install it
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny frames on a busy machine: one thread is the fastest
    root = tmp_path_factory.mktemp("review")
    page = root / "page"
    page.mkdir()
    server = running_server(root / "sg")
    try:
        looks: list[Look] = []
        shown, sizes = {}, {}
        for name, daily in DAILIES.items():
            (root / name).mkdir()
            url, path = _published(server, name, root / name, daily, page)
            looks += [Look(name + suffix, name + suffix) for suffix in (".mp4", "_before_after.mp4", ".jpg")]
            middle = (FRAMES // 2 + 0.5) / float(daily.fps)  # the thumbnail's frame, as the movie shows it
            looks.append(Look(f"{name}@thumbnail", f"{name}.mp4", at=middle))
            shown[name] = daily.shown(path)
            sizes[name] = (shown[name].shape[1], shown[name].shape[0])
            if name == "h264_sound":
                looks.append(Look("seek", url, pixels=False, seek=FRAMES / 2 / float(daily.fps)))
        yield Reviewed(look_at(page, looks), shown, sizes)
    finally:
        server.stop()
        torch.set_num_threads(threads)


def _region_means(picture: np.ndarray) -> np.ndarray:
    h, w = picture.shape[:2]
    return np.array(
        [
            picture[int(t * h) : int(b * h), int(l * w) : int(r * w)].reshape(-1, 3).mean(0)
            for l, t, r, b in REGIONS  # noqa: E741
        ]
    )


@pytest.mark.parametrize("name", list(DAILIES))
def test_a_versions_review_movie_before_after_and_thumbnail_play_in_chromium_as_the_daily_looks(
    reviewed: Reviewed, name: str
) -> None:
    daily = DAILIES[name]
    review, compare, thumb = (reviewed.findings[name + s] for s in (".mp4", "_before_after.mp4", ".jpg"))
    for found in (review, compare, thumb):
        assert found["played"] and "error" not in found, found
    width, height = reviewed.sizes[name]
    if name == "anamorphic":
        width, height = square_size(*SQUEEZED, Fraction(2))
    assert abs(review["width"] - width) <= 1 and review["height"] == height, (
        review
    )  # square pixels, as framed
    assert (thumb["width"], thumb["height"]) == (review["width"], review["height"])
    length = FRAMES / float(daily.fps)
    for movie in (review, compare):
        assert abs(movie["duration"] - length) < 0.5 / float(daily.fps), movie
        assert (movie["soundBytes"] > 0) == daily.sound, movie
    expected = to_uint8(reviewed.shown[name]).astype(np.float64)
    if expected.shape[:2] != (review["height"], review["width"]):
        expected = cv2.resize(expected, (review["width"], review["height"]), interpolation=cv2.INTER_AREA)
    drift = np.abs(np.array(review["regions"]) - _region_means(expected)).max()
    assert drift < 6.0, (name, review["regions"], _region_means(expected).tolist())


@pytest.mark.parametrize("name", list(DAILIES))
def test_a_versions_thumbnail_shows_the_colours_its_movie_shows_in_chromium(
    reviewed: Reviewed, name: str
) -> None:
    """A JPEG without a profile is shown as sRGB: a BT.2020 daily's thumbnail kept its BT.2020 values and showed
    paler than the movie Chromium shows colour-managed (28.6 code values of 255 apart in a quarter of the frame)."""
    thumb, movie = reviewed.findings[name + ".jpg"], reviewed.findings[f"{name}@thumbnail"]
    drift = np.abs(np.array(thumb["regions"]) - np.array(movie["regions"])).max()
    assert drift < 6.0, (name, thumb["regions"], movie["regions"])  # JPEG and decoders differ by up to 4


def test_a_supervisor_scrubs_to_a_frame_of_a_versions_movie_straight_from_the_local_tracker(
    reviewed: Reviewed,
) -> None:
    seek = reviewed.findings["seek"]
    middle = FRAMES / 2 / float(DAILIES["h264_sound"].fps)
    assert seek["seekable"] > middle, seek  # Chromium seeks only where the server answers byte ranges
    assert abs(seek["seekedTo"] - middle) < 0.05, seek
