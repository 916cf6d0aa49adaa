"""The fix step: a shot's latest daily through one head of the show's promoted model, rendered for review.

`fixed_frames` is the pure part (source frames in, (number, before, after) out, streaming); `run_fix` is the
durable job: it renders into a temporary folder renamed into place, then puts the publication in the outbox
and queues its publish job in one transaction. Repeating it after a crash re-renders and queues nothing twice.
"""

from __future__ import annotations

import collections
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from daemon.catalog import Catalog, fixes, models_repo
from daemon.catalog import dailies as daily_repo
from daemon.catalog import jobs as job_repo
from daemon.crashpoints import crash_point
from daemon.logs import get_logger
from daemon.publishing import publish_key, version_code
from daemon.runner import Permanent
from daemon.settings import Settings
from daemon.shows import get_show
from engine.heads import get_head
from engine.heads.base import HeadError
from engine.infer.runtime import InferenceSettingError, inference_device, limited_threads
from engine.infer.stream import Background, prefetch
from engine.lut import read_cube
from engine.media import MediaError, MediaInfo, probe, read_frames, read_image
from engine.media.pixels import to_uint8
from engine.model import ModelVersion, load_model

if TYPE_CHECKING:  # imported where used: rendering pulls in the editorial stack
    from daemon.rendering import RenderedFiles, RenderPlan

log = get_logger("rushes.fix")

RECT = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$")


class FixError(ValueError):
    """A fix was asked with parameters that cannot work (one line, says what to change)."""


class NoModel(Exception):
    def __init__(self, show: str) -> None:
        super().__init__(f"show {show} has no trained model yet: run `rushes train --show {show}` first")


@dataclass(frozen=True)
class Prepared:
    kind: str
    params: dict[str, Any]
    factor: int  # output frames per source frame step (retime), else 1
    cube_path: Path | None


def mask_from(spec: str, info: MediaInfo) -> Any:
    """A cleanup mask: "x,y,w,h" (a rectangle on every frame), an image (every frame), or a movie/sequence
    (one mask per frame, by frame number). White means fill."""
    rect = RECT.match(spec)
    if rect:
        x, y, w, h = (int(v) for v in rect.groups())
        mask = np.zeros((info.height, info.width), bool)
        mask[y : y + h, x : x + w] = True
        if not mask.any():
            raise FixError(f"mask rectangle {spec} lies outside the {info.width}x{info.height} frame")
        return mask
    path = Path(spec)
    if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff", ".dpx") and path.is_file():
        return _binary(read_image(path))
    try:
        mask_info = probe(spec)
    except MediaError as exc:
        raise FixError(f"mask {spec}: {exc.reason}; give x,y,w,h, an image, or a movie/sequence") from exc
    offset = info.first_frame - mask_info.first_frame
    return {f.number + offset: _binary(f.rgb) for f in read_frames(spec)}


def _binary(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb, np.float32).mean(axis=2) > 0.5


def reference_from(spec: str, source: str, info: MediaInfo) -> np.ndarray:
    """A regrade reference: a frame number of the source, or an image file."""
    if spec.strip().lstrip("-").isdigit():
        number = int(spec)
        if number not in info.frame_range:
            raise FixError(
                f"reference frame {number} is outside the shot's frames {info.first_frame}-{info.last_frame}"
            )
        frame = next(iter(read_frames(source, number, number)), None)
        if frame is None:
            raise FixError(f"reference frame {number} is missing from {source}")
        return frame.rgb
    path = Path(spec)
    if not path.is_file():
        raise FixError(f"reference {spec} is neither a frame number of the shot nor an image file")
    return read_image(path)


def prepare(kind: str, params: Mapping[str, Any], source: str, info: MediaInfo, workdir: Path) -> Prepared:
    """Turn a request's text parameters into what the head takes."""
    p: dict[str, Any] = {}
    factor = 1
    if kind == "interpolate":
        if "factor" in params:
            try:
                factor = int(str(params["factor"]).rstrip("x"))
            except ValueError:
                raise FixError(f"factor {params['factor']!r} must be a whole number like 2 or 4") from None
            if factor < 2:
                raise FixError("factor must be 2 or more")
            p["factor"] = factor
        else:
            p["frames"] = str(params.get("frames", "auto"))
    elif kind == "regrade":
        if params.get("reference"):
            p["reference"] = reference_from(str(params["reference"]), source, info)
        p["cube_path"] = str(workdir / "regrade.cube")
    elif kind == "cleanup":
        if not params.get("mask"):
            raise FixError(
                "cleanup needs a mask: mask=x,y,w,h, or an image or movie that is white where to fill"
            )
        p["masks"] = mask_from(str(params["mask"]), info)
    cube = Path(p["cube_path"]) if "cube_path" in p else None
    return Prepared(kind, p, factor, cube)


def fixed_frames(
    model: ModelVersion, prepared: Prepared, source: str, first_frame: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(output number, before, after) for every output frame, streaming; `before` is the source frame shown
    opposite (for a retime, the source frame at or before that moment)."""
    # Only the frames the head holds ahead of its output are kept here, as 8 bits (they are shown in 8-bit
    # review movies): memory stays flat however long the shot (engine.infer.stream).
    recent: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()

    def tee() -> Iterator[tuple[int, np.ndarray]]:
        for frame in prefetch(read_frames(source), depth=2):
            recent[frame.number] = to_uint8(frame.rgb)
            while len(recent) > 64:
                recent.popitem(last=False)
            yield frame.number, frame.rgb

    net = model.model.net(prepared.kind)
    head = get_head(prepared.kind)
    params = head.run_params(prepared.params, model.manifest.metrics.get(prepared.kind, {}))
    try:
        for number, after in head.apply(net, tee(), params):
            src = first_frame + (number - first_frame) // prepared.factor if prepared.factor > 1 else number
            shown = src if src in recent else max((n for n in recent if n <= src), default=min(recent))
            before = recent[shown]  # a rebuilt frame that the source lacks: its nearest earlier neighbour
            while next(iter(recent)) < shown:  # output ascends: frames before the one shown are done
                recent.popitem(last=False)
            yield number, before, after
    except (HeadError, InferenceSettingError) as exc:  # e.g. a runtime named in settings is not installed
        raise FixError(str(exc)) from exc


def render(
    model: ModelVersion, prepared: Prepared, source: str, first_frame: int, plan: RenderPlan
) -> RenderedFiles:
    """Decode, fix and render one shot into `plan` (a daemon.rendering.RenderPlan); its RenderedFiles.
    Decoding runs ahead of the head and encoding behind it, each in its own thread (engine.infer.stream)."""
    from daemon.rendering import RenderSink

    with RenderSink(plan) as sink, limited_threads():  # OpenCV's flows too, by the machine's load
        with Background[tuple[int, np.ndarray, np.ndarray]](lambda f: sink.add(*f), depth=2) as encoder:
            for frame in fixed_frames(model, prepared, source, first_frame):
                encoder.put(frame)
        cube = prepared.cube_path
        return sink.finish(lut=read_cube(cube) if cube and cube.exists() else None)


def load_promoted(catalog: Catalog, show: str) -> tuple[ModelVersion, int]:
    with catalog.session() as s:
        row = models_repo.latest_promoted(s, show)
        if row is None:
            raise NoModel(show)
        folder, number = row.path, row.version
    try:
        device = inference_device()
    except InferenceSettingError as exc:
        raise Permanent(str(exc)) from exc
    return load_model(folder, device=device), number


def describe(
    kind: str,
    params: Mapping[str, Any],
    shot: str,
    daily_path: str,
    take: str | None,
    model: ModelVersion,
    number: int,
    show: str,
) -> str:
    m = model.manifest
    scores = m.metrics.get(kind, {})
    lines = [
        f"Rushes fix: {kind} on {shot}"
        + (f" ({', '.join(f'{k}={v}' for k, v in params.items())})" if params else ""),
        f"Source: {daily_path}" + (f" (take {take})" if take else ""),
        f"Model: {show} v{number}"
        + (f" (parent {m.parent})" if m.parent else "")
        + f", trained from scratch on {len(m.clips)} clip(s) of this show only; code {m.code_version}",
    ]
    if scores:
        psnr, best = scores.get("psnr"), scores.get("baseline_best")
        text = f"Held-out scores: PSNR {psnr:.2f} dB" if psnr is not None else "Held-out scores:"
        if "ssim" in scores:
            text += f", SSIM {scores['ssim']:.3f}"
        if best is not None and psnr is not None:
            text += f"; best classical baseline {best:.2f} dB ({psnr - best:+.2f} dB)"
        lines.append(text)
    return "\n".join(lines)


def run_fix(
    settings: Settings, catalog: Catalog, request_id: int, kind: str, round_: int = 0
) -> dict[str, Any]:
    """The durable fix job: render, then queue the publish (payload: request_id, kind)."""
    from daemon.rendering import RenderPlan

    with catalog.session() as s:
        request = fixes.get_fix_request(s, request_id)
        if request is None:
            raise Permanent(f"fix request {request_id} does not exist")
        show_code, shot, params, key = (
            request.show.code,
            request.shot,
            dict(request.params),
            request.request_key,
        )
        dailies = daily_repo.dailies_for_shot(s, show_code, shot)
        if not dailies:
            raise Permanent(f"shot {shot} of {show_code} has no readable daily to fix: ingest one first")
        daily = dailies[-1]
        source, take = daily.path, daily.take
        fixes.set_fix_state(s, request_id, "rendering")
    show = get_show(settings, catalog, show_code)
    model, number = load_promoted(catalog, show_code)
    try:
        info = probe(source)
    except MediaError as exc:
        raise Permanent(f"the daily {source} cannot be read any more: {exc.reason}") from exc
    kind_params = {
        k.split(".", 1)[-1]: v for k, v in params.items() if "." not in k or k.startswith(kind + ".")
    }
    name = version_code(shot, kind, request_id, round_)
    out_dir = settings.renders_dir(show) / shot / name
    with tempfile.TemporaryDirectory(prefix="fix-", dir=settings.data_dir / "tmp") as work:
        try:
            prepared = prepare(kind, kind_params, source, info, Path(work))
        except FixError as exc:
            raise Permanent(str(exc)) from exc
        plan = RenderPlan(
            out_dir=out_dir,
            name=name,
            kind=kind,
            fps=Fraction(info.fps),
            first_frame=info.first_frame,
            timecode=info.timecode,
            finishing=_finishing(kind_params),
        )
        try:
            files = render(model, prepared, source, info.first_frame, plan)
        except FixError as exc:
            raise Permanent(str(exc)) from exc
    crash_point("fix.rendered", target="both")
    description = describe(kind, kind_params, shot, source, take, model, number, show_code)
    desc_path = out_dir / "description.txt"
    desc_path.write_text(description + "\n")
    extra = {
        "code": name,
        "description": str(desc_path),
        "thumbnail": str(files.thumbnail),
        "otio": str(files.otio),
        "first_frame": str(files.first_frame),
        "last_frame": str(files.last_frame),
        **({"cube": str(files.cube)} if files.cube else {}),
        **({"frames": files.frames} if files.frames else {}),
    }
    pkey = publish_key(key, kind, round_)
    with catalog.session() as s:
        pub, _ = fixes.add_publication(
            s,
            request_id,
            kind,
            pkey,
            str(files.review_movie),
            before_after_path=str(files.before_after),
            source_path=source,
            model_version=number,
            extra_files=extra,
        )
        job_repo.enqueue(s, "publish", pkey, {"publication_id": pub.id}, show=show_code, max_attempts=50)
        fixes.set_fix_state(s, request_id, "rendered")
    log.info(
        "fix.rendered",
        show=show_code,
        shot=shot,
        kind=kind,
        frames=files.frame_count,
        movie=str(files.review_movie),
    )
    return {"movie": str(files.review_movie), "frames": files.frame_count, "model_version": number}


def _finishing(params: Mapping[str, Any]) -> Any:
    value = str(params.get("deliver", "none")).lower()
    if value not in ("none", "prores", "exr"):
        raise Permanent(f"deliver={value} is not known: use prores or exr")
    return value


__all__ = ["FixError", "NoModel", "fixed_frames", "prepare", "render", "run_fix"]
