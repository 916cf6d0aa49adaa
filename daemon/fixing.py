"""The fix step: a shot's latest daily through one head of the show's promoted model, rendered for review.

`fixed_frames` is the pure part (source frames in, (number, before, after) out, streaming); `run_fix` is the
durable job: it renders into a temporary folder renamed into place, then puts the publication in the outbox
and queues its publish job in one transaction. Repeating it after a crash re-renders and queues nothing twice.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

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
from engine.heads import FixOutputs, FixRun, HeadError, Shot, get_head, parse_fix_params
from engine.media import MediaError, MediaInfo, probe, read_frames
from engine.model import ModelVersion, load_model

log = get_logger("rushes.fix")


class FixError(ValueError):
    """A fix was asked with parameters that cannot work (one line, says what to change)."""


class NoModel(Exception):
    def __init__(self, show: str) -> None:
        super().__init__(f"show {show} has no trained model yet: run `rushes train --show {show}` first")


DAEMON_KEYS = ("deliver",)  # fix parameters the daemon reads itself (the heads read the others)


@dataclass(frozen=True)
class Prepared:
    kind: str
    params: dict[str, Any]  # the head's apply() parameters, checked against the shot and loaded
    factor: int  # output frames per source frame step (retime), else 1


def prepare(kind: str, params: Mapping[str, Any], source: str, info: MediaInfo) -> Prepared:
    """Turn a request's text parameters into what the head takes: the head parses and checks them."""
    try:
        parsed = parse_fix_params(kind, params, ignore=DAEMON_KEYS)
        return Prepared(kind, parsed.bind(Shot(source, info)), parsed.frame_factor())
    except HeadError as exc:
        raise FixError(str(exc)) from None


@dataclass(frozen=True)
class FixedFrames:
    """(output number, before, after) for every output frame, streaming; then the head's `outputs`."""

    run: FixRun
    frames: Iterator[tuple[int, np.ndarray, np.ndarray]]

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        return self.frames

    @property
    def outputs(self) -> FixOutputs:
        return self.run.outputs


def fixed_frames(model: ModelVersion, prepared: Prepared, source: str, first_frame: int) -> FixedFrames:
    """The fix of `source`, frame by frame; `before` is the source frame shown opposite (for a retime, the
    source frame at or before that moment)."""
    recent: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()

    def tee() -> Iterator[tuple[int, np.ndarray]]:
        for frame in read_frames(source):
            recent[frame.number] = frame.rgb
            while len(recent) > 64:
                recent.popitem(last=False)
            yield frame.number, frame.rgb

    head = get_head(prepared.kind)
    params = head.run_params(prepared.params, model.manifest.metrics.get(prepared.kind, {}))
    try:
        run = head.fix(model.model.net(prepared.kind), tee(), params)
    except HeadError as exc:
        raise FixError(str(exc)) from exc

    def triples() -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        try:
            for number, after in run:
                src = (
                    first_frame + (number - first_frame) // prepared.factor if prepared.factor > 1 else number
                )
                before = recent.get(src)
                if (
                    before is None
                ):  # a rebuilt frame that the source lacks: show its nearest earlier neighbour
                    before = recent[max((n for n in recent if n <= src), default=min(recent))]
                yield number, before, after
        except HeadError as exc:
            raise FixError(str(exc)) from exc

    return FixedFrames(run, triples())


def load_promoted(catalog: Catalog, show: str) -> tuple[ModelVersion, int]:
    with catalog.session() as s:
        row = models_repo.latest_promoted(s, show)
        if row is None:
            raise NoModel(show)
        folder, number = row.path, row.version
    return load_model(folder), number


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
    from daemon.rendering import RenderPlan, RenderSink

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
    try:
        prepared = prepare(kind, kind_params, source, info)
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
        with RenderSink(plan) as sink:
            fixed = fixed_frames(model, prepared, source, info.first_frame)
            for out_number, before, after in fixed:
                sink.add(out_number, before, after)
            files = sink.finish(lut=fixed.outputs.lut)
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


__all__ = ["FixError", "NoModel", "fixed_frames", "prepare", "run_fix"]
