"""The fix stage: a shot's latest daily through one head of the show's promoted model, rendered for review.

`fixed_frames` is the pure part (source frames in, (number, before, after) out, streaming); `run_fix` is the
durable job (a FixJob): it renders into a temporary folder renamed into place (daemon.stages.rendering), then
puts the publication in the outbox and queues its PublishJob in one transaction (`queue_publish`).
Repeating it after a crash re-renders and queues nothing twice (the publication's key is the job's key).
"""

from __future__ import annotations

import collections
import functools
import os
import re
import shutil
import socket
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from daemon.catalog import Catalog, Daily, fixes, models_repo
from daemon.catalog import dailies as daily_repo
from daemon.crashpoints import crash_point
from daemon.file_names import path_part
from daemon.jobs.outcomes import NotYet, Permanent
from daemon.jobs.payloads import TRACKER_ATTEMPTS, FixJob, PublishJob, queue
from daemon.jobs.progress import JobProgress
from daemon.logs import get_logger
from daemon.settings import ReviewColor, Settings, ShowConfig
from daemon.shows import get_show
from daemon.stages.daily_files import FileState, changed_since_ingest, daily_gone, source_state, unseen_folder
from daemon.stages.publishing import VersionFiles, version_code
from daemon.stages.rendering import RenderedFiles, RenderPlan, RenderSink
from daemon.stages.request_params import DAEMON_KEYS, asked_of, own_params, params_for, take_key
from daemon.stages.request_paths import allowed_roots, check_request_paths
from daemon.stages.viewing import display_view, review_look
from engine.baselines.fallback import baseline_frames, recorded_tool
from engine.color import ColorError, DisplayView
from engine.heads import FixOutputs, FixRun, HeadError, Shot, get_head, parse_fix_params
from engine.heap import return_frame_blocks
from engine.infer.runtime import InferenceSettingError, inference_device, limited_threads
from engine.infer.stream import Background, prefetch
from engine.media import MediaError, MediaInfo, TimecodeError, offset_timecode, probe, read_frames
from engine.media.alpha import SourceAlpha, has_alpha, premultiplied, premultiply, unpremultiply, with_alpha
from engine.media.audio import SoundSpan
from engine.media.decode import read_alpha
from engine.media.encode import DNXHR_MIN_SIZE, PAUSE_SECONDS, HeaderSource, mxf_rate_problem
from engine.media.info import ColourTags, Margins, Overscan
from engine.media.pixels import to_uint8
from engine.media.sequences import frames_named, is_pattern, parse_sequence
from engine.media.working import (
    WORKING_ENCODING,
    ExactLight,
    SeenRange,
    display_encoded_exr,
    from_working,
    scene_linear,
    to_working,
)
from engine.model import (
    Manifest,
    ModelError,
    ModelOutdated,
    ModelVersion,
    ShowModel,
    cannot_stand_in,
    classical_note,
    classical_version,
    fallback_note,
    head_source,
    load_model,
)
from engine.model.version import MANIFEST, WEIGHTS

log = get_logger("rushes.fix")


class FixError(ValueError):
    """A fix was asked with parameters that cannot work (one line, says what to change)."""


class SourceChanged(RuntimeError):
    """The daily's files changed on disk while a fix read them (delivered again, copied over in place): what was
    rendered may mix two files, so it is not published and the job is tried again (a retryable failure). Also
    raised before a fix reads files changed since ingest hashed them (delivered_again), tried again once it has."""


class FolderUnseen(RuntimeError):
    """This machine does not see the show's folder that holds a daily (a Ray node without the share mounted, or
    with it at another path): nothing in the request or the daily is wrong, so the job is tried again (a
    retryable failure) rather than answered as a daily gone from disk."""


def delivered_again(request: Request, state: tuple[FileState, ...]) -> str | None:
    """Why the fix waits, when the daily's files (`state`, source_state) are not as ingest hashed them (a lab's
    new version copied over them under the same name, not yet ingested: ingest waits for it to hold still, then
    hashes it): the catalog's hash, which the rejections are matched by and the Version records, is the old
    file's. None when they are as ingested, or gone (_probed says so)."""
    if request.ingested is None or not changed_since_ingest(state, *request.ingested):
        return None
    return (
        f"the daily {request.source} was delivered again since it was ingested (its size or time is another), "
        "so the fix waits for its ingest to catalogue the new file, and is tried again"
    )


class NoModel(Exception):
    """The show has no model this Rushes can use: none trained yet, or (`outdated`, its number as v1) only a
    promoted version an older Rushes made (engine.model.ModelOutdated)."""

    def __init__(self, show: str, outdated: str = "") -> None:
        had = (
            f"'s model {outdated} was made by an older Rushes, which this one cannot use" if outdated else ""
        )
        super().__init__(
            f"show {show}{had or ' has no trained model yet'}: train it (`rushes train --show {show}`) or wait "
            "for its nightly training, then ask again"
        )
        self.outdated = outdated


# Decoded frames waiting for the head (float32: 100 MB each at 4K). One waits in the queue and the decoder
# holds the next: decoding still overlaps the head; a deeper queue only adds frames held (docs/benchmarks.md).
DECODE_AHEAD = 1
# Fixed frames waiting for the encoders (8 bits where the render writes only 8-bit files: RenderSink.compact).
ENCODE_BEHIND = 2


@dataclass(frozen=True)
class Prepared:
    kind: str
    params: dict[str, Any]  # the head's apply() parameters, checked against the shot and loaded
    factor: int  # output frames per source frame step (retime), else 1
    notes: tuple[str, ...] = ()  # what the head did with a parameter besides taking it as written


@dataclass(frozen=True)
class FixMemory:
    """What a fix of one kind holds in memory: a base (the process, its libraries, the inference runtime, the
    flows, which are computed at a capped size) and so many bytes a pixel of the frame it makes (frames decoded
    ahead, the head's float copies and tiles, frames waiting for the encoders; upscale's output frame has 4
    pixels for each of its source's)."""

    base: int
    per_output_pixel: int

    def needed(self, width: int, height: int, scale: int = 1) -> int:
        return self.base + self.per_output_pixel * width * height * scale * scale


# Measured with `rushes fix` of every kind, a fresh net of each head (interpolate with its refiner on, the most it
# holds), 24 frames of 1000x1000 and 2000x2000 as an H.264 movie and as a half-float EXR sequence (the larger
# peak of the two), fitted as base + bytes a pixel and rounded up by about a tenth (`bench/fix_memory.py`,
# docs/benchmarks.md "The memory of a fix"): denoise 1.03 / 1.36 GB, regrade 0.56 / 0.89, interpolate 1.74 /
# 2.51, upscale 1.09 / 2.95, cleanup 0.73 / 1.51.
FIX_MEMORY = {
    "denoise": FixMemory(1024 << 20, 130),
    "regrade": FixMemory(512 << 20, 130),
    "interpolate": FixMemory(1600 << 20, 290),
    "upscale": FixMemory(512 << 20, 170),
    "cleanup": FixMemory(512 << 20, 290),
}
CGROUP_ROOT = Path("/sys/fs/cgroup")


def machine_memory() -> int:
    """The bytes of memory this process may use: the machine's, or less where a cgroup v2 limit holds it (a
    container's, a systemd unit's MemoryMax): the tightest memory.max from this process's cgroup up."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return min([total, *cgroup_limits(CGROUP_ROOT, Path("/proc/self/cgroup"))])


def cgroup_limits(root: Path, membership: Path) -> list[int]:
    """The memory.max figures (bytes; "max" is none) of the cgroup v2 a process is in (its `membership` file's
    "0::/path" line) and of every cgroup above it, up to `root`."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return []
    own = next((line.split(":", 2)[2] for line in lines if line.startswith("0::")), "/")
    folder, limits = root / own.lstrip("/"), []
    while True:
        try:
            text = (folder / "memory.max").read_text().strip()
        except OSError:
            text = ""
        if text.isdigit():
            limits.append(int(text))
        if folder == root or root not in folder.parents:
            return limits
        folder = folder.parent


def check_memory(info: MediaInfo, kind: str) -> None:
    """FixError, before anything is decoded, when a fix of `info`'s frames would need more memory than the
    machine has: a 16000x16000 daily (its header within the 16384-pixel limit) would otherwise be killed by
    the kernel at every attempt, taking other work on the machine with it."""
    needed = FIX_MEMORY[kind].needed(info.width, info.height, get_head(kind).scale)
    have = machine_memory()
    if needed > have:
        raise FixError(
            f"frames of {info.width}x{info.height} ({info.width * info.height / 1e6:.0f} MP) need about "
            f"{needed / 2**30:.1f} GB of memory for the {kind} fix, more than the {have / 2**30:.1f} GB of this "
            "machine: fix a smaller proxy of the shot, or run fixes on a machine with more memory"
        )


def prepare(kind: str, params: Mapping[str, Any], source: str, info: MediaInfo) -> Prepared:
    """Turn a request's text parameters into what the head takes: the head parses and checks them."""
    try:
        parsed = parse_fix_params(kind, params, ignore=DAEMON_KEYS)
        shot = Shot(source, info)
        bound = parsed.bind(shot)
    except HeadError as exc:
        raise FixError(str(exc)) from None
    reference = getattr(parsed, "reference", None)
    if kind == "regrade" and isinstance(reference, int) and premultiplied(info.path, info.pix_fmt):
        bound["reference"] = straight_frame(info, reference)  # seen as the frames are (Straightened)
    return Prepared(kind, bound, parsed.frame_factor(), tuple(parsed.notes(shot)))


def straight_frame(info: MediaInfo, number: int) -> np.ndarray:
    """Frame `number` of a premultiplied source, divided by its alpha, in the working encoding."""
    frame = next(iter(read_frames(info, number, number)))
    alpha = SourceAlpha(read_alpha(info, number, number)).of(number)
    rgb = unpremultiply(frame.rgb, alpha)
    return to_working(rgb) if scene_linear(info) else rgb


def carried_sound(info: MediaInfo, prepared: Prepared) -> SoundSpan | None:
    """The sound a fix's movies carry: the source movie's, when the fix keeps its timing (a retime's frames
    play longer than the sound); None for a silent source or a retime."""
    if info.sound is None or not info.sound.streams or info.kind != "movie" or prepared.factor != 1:
        return None
    return SoundSpan(Path(info.path))


def layers_note(info: MediaInfo, kind: str, exr_output: bool, source: str = "input") -> str | None:
    """A sentence on the `source`'s EXR channels besides its picture (AOVs, depth, IDs): kept as they are in a
    fix's EXR frames, or why not; None when it has none."""
    if not info.layers:
        return None
    named = ", ".join(dict.fromkeys(name.rsplit(".", 1)[0] for name in info.layers))
    channels = f"The {source}'s other EXR channels ({named})"
    if not exr_output:
        return f"{channels} are left out: only an EXR sequence holds them."
    if kind == "interpolate":
        return f"{channels} are left out: a fix that makes frames has none for them."
    if kind == "upscale":
        return f"{channels} are left out: they are at the {source}'s size."
    return f"{channels} are kept as they are in the EXR frames: only the picture is fixed."


def subtitles_note(info: MediaInfo, source: str = "input") -> str | None:
    """A sentence on the `source`'s subtitle streams, which a fix leaves out; None when it has none."""
    if not info.subtitles:
        return None
    return (
        f"The {source}'s subtitles ({info.subtitles} stream(s)) are left out: a fix carries its picture and "
        "sound only; add them back in your editor."
    )


def keeping_overscan(info: MediaInfo, prepared: Prepared, exr_frames: bool) -> tuple[MediaInfo, Prepared]:
    """The source read with its overscan (MediaInfo.with_overscan) and the fix's masks grown to match, with the
    overscan left alone, when the fix writes EXR frames, which keep it (a compositor's lens distortion pulls
    those pixels into the picture); as they are otherwise."""
    if not exr_frames or info.kind != "sequence" or not any(info.overscan):
        return info, prepared
    masks = prepared.params.get("masks")
    if masks is not None:
        grow = functools.partial(_grown_mask, margins=info.overscan, size=(info.height, info.width))
        grown = {n: grow(m) for n, m in masks.items()} if isinstance(masks, dict) else grow(masks)
        prepared = replace(prepared, params={**prepared.params, "masks": grown})
    return info.with_overscan(), prepared


def _grown_mask(mask: np.ndarray, margins: Margins, size: tuple[int, int]) -> np.ndarray:
    """A mask of the display window padded by the overscan's margins at its own scale (a mask may be the picture
    at another size), which it leaves alone."""
    sy, sx = mask.shape[0] / size[0], mask.shape[1] / size[1]
    left, top, right, bottom = margins
    pad = ((round(top * sy), round(bottom * sy)), (round(left * sx), round(right * sx)))
    return np.pad(mask, pad, constant_values=False)


def overscan_note(info: MediaInfo, source: str = "input") -> str | None:
    """A sentence on the `source`'s EXR overscan (pixels past the display window): fixed and kept in EXR frames
    (`info` read with it), or left out; None when it has none."""
    if not any(info.overscan):
        return None
    left, top, right, bottom = info.overscan
    margins = f"left {left}, top {top}, right {right}, bottom {bottom}"
    said = f"The {source}'s overscan past its display window ({margins})"
    if info.grown:
        return f"{said} is fixed with the picture and kept in the EXR frames."
    return f"{said} is left out: only EXR frames hold it."


def header_source(info: MediaInfo, prepared: Prepared) -> HeaderSource | None:
    """The source frames whose headers a fix's EXR or DPX frames keep: a sequence's; None for a movie."""
    if info.kind != "sequence":
        return None
    return HeaderSource(info.path, info.first_frame, prepared.factor, layers=prepared.kind != "interpolate")


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


def _exact_light(source: MediaInfo, prepared: Prepared) -> ExactLight | None:
    """The source frames held so that the pixels a fix leaves go back bit for bit (a 32-bit float EXR's: the log
    encoding's round trip is exact only to half float), for the kinds that leave pixels: interpolate (the frames
    it keeps, a retime's too) and cleanup (outside its mask)."""
    if prepared.kind not in ("interpolate", "cleanup") or "f32" not in (source.pix_fmt or ""):
        return None
    return ExactLight() if scene_linear(source) else None


def _straightened(source: MediaInfo, prepared: Prepared) -> Straightened | None:
    """A grade changes colour, not coverage: a premultiplied source's (an EXR with alpha) is graded straight, then
    multiplied back, or its soft edges would be graded as darker colours (spatial fixes work on it as it is)."""
    if prepared.kind != "regrade" or not premultiplied(source.path, source.pix_fmt):
        return None
    return Straightened(source)


def fixed_frames(
    model: ModelVersion,
    prepared: Prepared,
    source: MediaInfo,
    view: DisplayView | None = None,
    alpha: bool = False,
) -> FixedFrames:
    """The fix of `source`, frame by frame, numbered as its frames are (a movie's dropped frames are numbers
    it lacks); `before` is the source frame shown opposite (for a retime, the source frame at or before that
    moment), as 8 bits, through `view` when given (a scene-referred daily). With `alpha` (a source that has
    one), every `after` is HxWx4: the fixed colour and the source frame's alpha (resized for upscale), or for
    interpolate, whose made frames have no source frame, the alpha carried through the flow path beside the
    colour (engine.flow_sequence), so a made frame's coverage moves with its picture."""
    return_frame_blocks()  # frame-sized buffers go back to the system when freed (engine.heap), in every fix
    first_frame = source.first_frame
    # Only the frames the head holds ahead of its output are kept here, as 8 bits (they are shown in 8-bit
    # review movies): memory stays flat however long the shot (engine.infer.stream).
    recent: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()

    # A scene-linear source is worked on in the log encoding and written back as light (engine.media.working),
    # within the light its frames hold unless the fix is a regrade.
    linear = scene_linear(source)
    seen = SeenRange() if linear and prepared.kind != "regrade" else None
    exact = _exact_light(source, prepared)
    straight = _straightened(source, prepared)
    # the source's alphas, read once: a straightened grade holds each frame's own until it is multiplied back
    alphas = SourceAlpha(read_alpha(source)) if alpha and straight is None else None
    through = alphas if prepared.kind == "interpolate" else None  # the alphas carried through the head

    def tee() -> Iterator[tuple[int, np.ndarray]]:
        for frame in prefetch(read_frames(source), depth=DECODE_AHEAD):
            recent[frame.number] = to_uint8(frame.rgb if view is None else view.shown(frame.rgb))
            while len(recent) > 64:
                recent.popitem(last=False)
            rgb = frame.rgb if straight is None else straight.unpremultiplied(frame.number, frame.rgb)
            if linear:
                scene, rgb = rgb, to_working(rgb)
                if exact is not None:
                    exact.keep(frame.number, scene, rgb)
                if seen is not None:
                    seen.see(rgb)
            yield frame.number, rgb if through is None else with_alpha(rgb, through.of(frame.number))

    def light(after: np.ndarray, src: int) -> np.ndarray:
        """The head's frame made at source frame `src`, as the source holds it (light, for a scene-linear one)."""
        if not linear:
            return after
        fixed = from_working(after if seen is None else seen.clip(after))
        return fixed if exact is None else exact.restored(src, after, fixed)

    run = _run(model, prepared, tee())

    def triples() -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        try:
            for number, after in run:
                src = first_frame + (number - first_frame) // prepared.factor
                shown = src if src in recent else max((n for n in recent if n <= src), default=min(recent))
                before = recent[shown]  # a rebuilt frame that the source lacks: its nearest earlier neighbour
                while next(iter(recent)) < shown:  # output ascends: frames before the one shown are done
                    recent.popitem(last=False)
                fixed = light(after if through is None else after[..., :3], src)
                coverage = None
                if straight is not None:
                    fixed, coverage = straight.premultiplied(number, fixed)
                elif through is not None:
                    coverage = after[..., 3]
                elif alphas is not None:
                    coverage = alphas.of(number)
                if alpha and coverage is not None:
                    fixed = with_alpha(fixed, coverage)
                yield number, before, fixed
        except (HeadError, InferenceSettingError) as exc:  # e.g. a runtime named in settings is missing
            raise FixError(str(exc)) from exc

    return FixedFrames(run, triples())


class Straightened:
    """A premultiplied source's colour divided by its alpha on the way into a grade, and multiplied back by the
    same alpha on the way out (frame for frame: a regrade makes no frames); each frame's alpha and pixels are
    held in between, for the few frames the head reads ahead."""

    def __init__(self, source: MediaInfo) -> None:
        self.alphas = SourceAlpha(read_alpha(source))
        self.held: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def unpremultiplied(self, number: int, rgb: np.ndarray) -> np.ndarray:
        alpha = self.alphas.of(number)
        self.held[number] = (alpha, rgb)
        return unpremultiply(rgb, alpha)

    def premultiplied(self, number: int, graded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The graded frame multiplied back, and the alpha it was multiplied by."""
        alpha, source = self.held.pop(number)
        return premultiply(graded, alpha, source), alpha


def _run(model: ModelVersion, prepared: Prepared, frames: Iterator[tuple[int, np.ndarray]]) -> FixRun:
    """The head on its net, or, where the head did not beat its classical tool on the show's held-out
    clips (engine.model.promotion), that tool: streamed, or the head on a fresh net (its classical base)."""
    kind, m = prepared.kind, model.manifest
    head = get_head(kind)
    scores = m.metrics.get(kind, {})
    if kind not in model.model.nets:  # a version made with fewer heads (an older release's, a partial one)
        raise FixError(
            f"model {m.show} {m.version} has no {kind} head (it has {', '.join(sorted(model.model.nets))}): "
            f"train a version that has one with `rushes train --show {m.show}`"
        )
    net = model.model.net(kind)
    source = head_source(m.sources, m.metrics, kind)
    if source.startswith("baseline:"):
        stream = baseline_frames(kind, recorded_tool(source), frames, scores)
        if stream is not None:
            return FixRun(stream)
        net = ShowModel.fresh([kind], m.config.get("heads", {})).net(kind)
    try:
        return head.fix(net, frames, head.run_params(prepared.params, scores))
    except HeadError as exc:
        raise FixError(str(exc)) from exc


KEEP_MODELS = 2  # promoted models kept loaded in this process (_load_kept)


def model_for_fix(
    catalog: Catalog, show: str, kind: str, params: Mapping[str, Any], reference: str = "reference="
) -> tuple[ModelVersion, int | None]:
    """The show's promoted version and its number; before its first one, the classical stand-in and None
    (engine.model.classical), or a FixError when the stand-in cannot make this fix (`reference`: how the asker
    names a reference)."""
    try:
        return load_promoted(catalog, show)
    except NoModel as exc:
        refusal = cannot_stand_in(kind, params, show, reference)
        if refusal is not None:
            raise FixError(str(exc) if exc.outdated else refusal) from None
        return classical_version(show, (kind,), stands_in_for=exc.outdated), None


def load_promoted(catalog: Catalog, show: str) -> tuple[ModelVersion, int]:
    """The show's promoted model version, loaded and verified against its seal once per process: kept by its
    folder, seal, device and its files' sizes and modification times, so any change to them loads it again
    (and verifies it again)."""
    with catalog.session() as s:
        row = models_repo.latest_promoted(s, show)
        if row is None:
            raise NoModel(show)
        folder, number, seal = row.path, row.version, models_repo.recorded_seal(row)
    try:
        device = inference_device()
    except InferenceSettingError as exc:
        raise Permanent(str(exc)) from exc
    try:
        return _load_kept(folder, seal, device, _file_stamps(Path(folder))), number
    except ModelOutdated as exc:  # after an upgrade: the classical tools fix until a new version is trained
        log.warning("fix.model_outdated", show=show, version=number, reason=str(exc))
        raise NoModel(show, outdated=f"v{number}") from exc


@functools.lru_cache(maxsize=KEEP_MODELS)
def _load_kept(
    folder: str, seal: str | None, device: str, stamps: tuple[tuple[int, int] | None, ...]
) -> ModelVersion:
    """load_model, kept: a Ray worker runs fix after fix of the same show, and a model kept is also the key of
    its compiled inference runtimes (engine.infer.runtime caches them per net), which a model loaded again for
    every fix would export and compile again (1-4 s per net at 1080p). `stamps` only keys the cache; a
    ModelError is not kept."""
    return load_model(folder, expected_seal=seal, device=device)


def _file_stamps(folder: Path) -> tuple[tuple[int, int] | None, ...]:
    """Size and modification time of the version's weights and manifest (None for a missing file)."""
    stamps: list[tuple[int, int] | None] = []
    for name in (WEIGHTS, MANIFEST):
        try:
            st = (folder / name).stat()
        except OSError:
            stamps.append(None)  # load_model says what is missing
        else:
            stamps.append((st.st_size, st.st_mtime_ns))
    return tuple(stamps)


def describe(
    kind: str,
    params: Mapping[str, Any],
    shot: str,
    daily_path: str,
    take: str | None,
    model: ModelVersion,
    number: int | None,
    show: str,
) -> str:
    m = model.manifest
    scores = m.metrics.get(kind, {})
    lines = [
        f"Rushes fix: {kind} on {shot}"
        + (f" ({', '.join(f'{k}={v}' for k, v in params.items())})" if params else ""),
        f"Source: {daily_path}" + (f" (take {take})" if take else ""),
    ]
    if number is None:  # the classical stand-in
        outdated = model.manifest.config.get("stands_in_for", "")
        had = f" ({outdated} was made by an older Rushes, which this one cannot use)" if outdated else ""
        lines += [f"Model: none yet for {show}{had}", classical_note(kind, show, outdated)]
        return "\n".join(lines)
    lines.append(
        f"Model: {show} v{number}" + (f" (parent {m.parent})" if m.parent else "") + f", {_lineage(m)}"
    )
    if scores:
        psnr, best = scores.get("psnr"), scores.get("baseline_best")
        text = f"Held-out scores: PSNR {psnr:.2f} dB" if psnr is not None else "Held-out scores:"
        if "ssim" in scores:
            text += f", SSIM {scores['ssim']:.3f}"
        if best is not None and psnr is not None:
            text += f"; best classical baseline {best:.2f} dB ({psnr - best:+.2f} dB)"
        lines.append(text)
    for note in (fallback_note(m.sources, m.metrics, kind), clipped_light_note(m, daily_path, show, number)):
        if note:
            lines.append(note)
    return "\n".join(lines)


# What a regrade of an EXR grades, and its .cube maps: the EXR's light through ACEScct's log curve, each channel in
# the EXR's own primaries (engine.media.working): OCIO's ACEScct only for a plate in ACEScg (an ACES2065-1 plate's
# cube applied through OCIO's ACEScct came out 0.09 stops off on average, red 5% low).
EXR_GRADE_SPACE = "ACEScct's curve on the EXR's own primaries"


def grade_space(info: MediaInfo) -> str:
    """What a regrade of `info` grades, and its .cube maps: an EXR's EXR_GRADE_SPACE, else the daily's own code
    values as they are encoded."""
    return EXR_GRADE_SPACE if scene_linear(info) else "the daily's own code values"


def review_notes(plan: RenderPlan, info: MediaInfo, prepared: Prepared) -> list[str]:
    """What the Version's files do with the daily besides the fix, a sentence each, so a supervisor comparing them
    with the daily knows: what the head did with a parameter (a mask cut to the frame), a view, a desqueeze, the
    sound, and what a fix leaves out."""
    notes = list(prepared.notes)
    retimed = retime_note(info, prepared, "daily")
    if retimed is not None:
        notes.append(retimed)
    if prepared.kind == "regrade":
        space = plan.grade_space
        notes.append(
            f"Graded in {space} (its light in ACEScct's log encoding, not converted to ACEScg's primaries): the "
            ".cube maps that encoding to itself, which is OCIO's ACEScct for a plate in ACEScg."
            if space == EXR_GRADE_SPACE
            else f"Graded in {space}: the .cube applies to them as they are encoded."
        )
    if plan.view is not None and plan.view_deliverable:
        notes.append(
            f"Review pictures through OpenColorIO ({plan.view.name}); the EXR frames keep the scene's values."
        )
    elif plan.view is not None:
        kept = {"dnxhr": "the DNxHR keeps", "prores": "the ProRes keeps"}.get(
            plan.finishing, "no deliverable keeps"
        )
        notes.append(
            f"Review pictures tone-mapped to SDR through OpenColorIO ({plan.view.name}); {kept} the daily's HDR."
        )
    if plan.pixel_aspect != 1:
        aspect = f"{plan.pixel_aspect.numerator}:{plan.pixel_aspect.denominator}"
        notes.append(
            f"Review pictures desqueezed to square pixels (pixel aspect {aspect}); deliverables keep them as stored."
        )
    sound = info.sound
    if sound is not None and sound.streams:
        if plan.sound is not None:
            notes.append(f"Sound: the daily's ({sound.streams} stream(s)), in sync.")
        else:
            notes.append(f"Silent: a {prepared.factor}x retime plays longer than the daily's sound.")
    if sound is not None and sound.unreadable:
        notes.append(f"{sound.unreadable} of the daily's sound stream(s) cannot be read and are left out.")
    subtitles = subtitles_note(info, "daily")
    if subtitles is not None:
        notes.append(subtitles)
    overscan = overscan_note(info, "daily")
    if overscan is not None:
        notes.append(overscan)
    layers = layers_note(info, prepared.kind, exr_output=True, source="daily")
    if layers is not None and plan.finishing == "exr":
        notes.append(layers)
    if info.missing_frames:
        lacks = f"The daily lacks {frames_named(info.missing_frames)}" + (
            (
                " (slots its rate change mid-take leaves)"
                if info.rate_changed
                else " (dropped while recording)"
            )
            if info.dropped
            else ""
        )
        made = set(info.missing_frames) & _rebuilt(prepared)
        held = (
            f"the movies hold the frame before each {'other ' if made else ''}gap over it (a gap of over "
            f"{PAUSE_SECONDS} s stays a pause), so they keep its timing."
        )
        if made == set(info.missing_frames):
            notes.append(f"{lacks}: this fix rebuilt {'it' if len(made) == 1 else 'them'}.")
        elif made:
            notes.append(f"{lacks}: this fix rebuilt {frames_named(sorted(made))}; {held}")
        else:
            notes.append(f"{lacks}: {held}")
    return notes


def auto_frames_done(rebuilt: tuple[int, ...] | None, missing: Sequence[int], option: str) -> str | None:
    """One line saying what interpolate's frames=auto (`option`, as the caller names it) made: the frames the
    input lacks and the repeated frames it found and rebuilt, or that it found neither, so the output's frames
    are the input's; None when frames were named or retimed."""
    from engine.media.sequences import frameset_string

    if rebuilt is None:
        return None
    lacked = set(missing)  # a frame the input lacked is said made, once
    rebuilt = tuple(n for n in rebuilt if n not in lacked)
    done = []
    if missing:
        done.append(f"made the missing frame(s) {frameset_string(list(missing))}")
    if rebuilt:
        done.append(
            f"rebuilt {len(rebuilt)} repeated frame(s) from their neighbours: {frameset_string(list(rebuilt))}"
        )
    if done:
        return f"{option} {' and '.join(done)}."
    return f"{option} found no repeated or missing frame, so the output's frames are the input's"


def _rebuilt(prepared: Prepared) -> set[int]:
    """The frame numbers an interpolate fix makes: the holes it found (auto, a retime) and the frames named."""
    made = set(prepared.params.get("missing") or ())
    named = prepared.params.get("frames")
    if prepared.kind == "interpolate" and isinstance(named, set | frozenset):
        made |= set(named)
    return made


def retime_note(info: MediaInfo, prepared: Prepared, source: str) -> str | None:
    """What a retime's files are, in a sentence, for editorial (None for any other fix): how many frames at what
    rate, from which timecode to which, and that past its first frame its timecode no longer names the `source`'s
    frames, since it plays slower at the same rate."""
    factor = prepared.factor
    if factor == 1:
        return None
    count = output_frames(info, prepared)
    fps = Fraction(info.fps).limit_denominator(1001)
    rate = str(fps.numerator) if fps.denominator == 1 else f"{float(fps):.3f}"
    span = ""
    if info.timecode is not None:
        try:
            span = f", timecode {info.timecode} (the {source}'s first) to {offset_timecode(info.timecode, count - 1, fps)}"
        except TimecodeError:
            span = f", from timecode {info.timecode} (the {source}'s first)"
    return (
        f"A {factor}x retime: {count} frames at {rate} fps (the {source}'s rate){span}, each of the {source}'s "
        f"frames but the last followed by {factor - 1} made one(s), so it plays {factor}x slower and past its first frame its "
        f"timecode counts the retimed frames, not the {source}'s."
    )


def _lineage(m: Manifest) -> str:
    """Where a version's weights come from, in a clause: the studio base and its declared corpus, the parent's
    weights, or nothing (from scratch), then the show clips it trained on and the code."""
    clips = f"{len(m.clips)} clip(s) of this show"
    if m.base is not None:
        grown = (
            f"grown from the studio base {m.base.name} {m.base.version} ({m.base.clips} corpus clip(s), "
            f'declared "{m.base.declaration}") and trained on {clips}'
        )
    elif m.parent:
        grown = f"trained on {clips} from its parent's weights"
    else:
        grown = f"trained from scratch on {clips} only"
    return f"{grown}; code {m.code_version}"


def clipped_light_note(manifest: Manifest, source: str, show: str, number: int) -> str | None:
    """One sentence when a fix of a scene-linear `source` uses a version that learned its show's EXR clips with
    their light clipped at 1.0 (made before they were read in the log encoding, engine.media.working), else
    None: such heads see the shot's lights as they never saw them in training."""
    if not scene_linear(source) or manifest.scene_linear == WORKING_ENCODING:
        return None
    if not any(".exr" in clip.id.lower() for clip in (*manifest.clips, *manifest.holdout)):
        return None
    return (
        f"{show} v{number} learned its EXR dailies with their light clipped at 1.0 (it was trained before Rushes "
        f"read EXR frames in {WORKING_ENCODING}): train a new version (rushes train --show {show}) for fixes "
        "of EXR frames."
    )


@dataclass(frozen=True)
class Request:
    """What a fix job reads of its request: the shot, its newest daily and the request's parameters."""

    id: int
    key: str
    show: str
    shot: str
    params: dict[str, Any]
    source: str  # the newest readable daily of the shot
    take: str | None
    source_hash: str | None = None  # its content as the catalog knows it (a plate delivered again is other)
    ingested: tuple[int, float] | None = None  # its size and mtime when ingest hashed it (source_hash's)


def run_fix(settings: Settings, catalog: Catalog, job: FixJob, job_id: int | None = None) -> dict[str, Any]:
    """The durable fix job: render into place (writing its progress to job `job_id`'s row as it goes), then
    put the publication in the outbox and queue its publish job in one transaction. A fix already in the
    outbox is not rendered again (`in_outbox`)."""
    earlier = in_outbox(catalog, job)
    if earlier is not None:
        return earlier
    request = start_request(catalog, job.request_id)
    show = get_show(settings, catalog, request.show)
    kind = job.fix_kind
    params = params_for(kind, request.params)
    try:
        model, number = model_for_fix(catalog, request.show, kind, params)
    except FixError as exc:
        raise Permanent(str(exc)) from exc
    except ModelError as exc:  # retrying cannot mend a tampered or outdated version
        raise Permanent(f"the promoted {request.show} model: {exc}") from exc
    read_from = source_state(request.source)
    waiting = delivered_again(request, read_from)
    if waiting is not None:  # its hash is the old file's: neither the rejections nor the Version may go by it
        raise SourceChanged(waiting)
    rejected = same_as_rejected(catalog, request, kind, number)
    if rejected is not None:
        raise Permanent(rejected)
    info = _probed(request.source, show.movie_first_frame, [root.path for root in show.ingest.roots])
    # A tracker user never makes the daemon open a file outside the show's folders.
    check_request_paths(params, allowed_roots(settings, show), frames=info.frame_range)
    try:
        check_memory(info, kind)
    except FixError as exc:  # nothing in the request to correct: the machine, or the footage
        raise NotYet(str(exc)) from exc
    try:
        prepared = prepare(kind, params, request.source, info)
    except FixError as exc:
        raise Permanent(str(exc)) from exc
    name = version_code(request.shot, kind, request.id)  # the Version's, in the tracker
    shot_part = path_part(request.shot)  # anything its tracker allows, made one safe part of a path
    out_dir = settings.renders_dir(show) / shot_part / version_code(shot_part, kind, request.id)
    info, prepared, plan = _render_plan(show, request, params, info, prepared, out_dir)
    files = render(model, prepared, info, plan, None if job_id is None else JobProgress(catalog, job_id))
    if source_state(request.source) != read_from:  # a lab's re-delivery copied over it as it was read
        # this fix's own folder, never published: the next attempt makes it again
        shutil.rmtree(out_dir, ignore_errors=True)
        raise SourceChanged(
            f"the daily {request.source} changed on disk while it was being fixed (delivered again?), so this "
            "render is not published and the fix is made again from the file as it is now"
        )
    crash_point("fix.rendered", target="both")
    description = describe(  # the parameters of this fix only, not every kind's of the request
        kind,
        own_params(kind, request.params),
        request.shot,
        request.source,
        request.take,
        model,
        number,
        request.show,
    )
    missing = sorted(prepared.params.get("missing", ()))
    found = auto_frames_done(
        files.rebuilt, missing, "frames=auto"
    )  # what the supervisor reviews: or the daily
    description += "".join(
        f"\n{line}" for line in [*review_notes(plan, info, prepared), *([found] if found else [])]
    )
    desc_path = out_dir / "description.txt"
    desc_path.write_text(description + "\n")
    queue_publish(catalog, request, kind, files, VersionFiles.of(name, desc_path, files), number)
    log.info(
        "fix.rendered",
        show=request.show,
        shot=request.shot,
        kind=kind,
        frames=files.frame_count,
        movie=str(files.review_movie),
    )
    return {"movie": str(files.review_movie), "frames": files.frame_count, "model_version": number}


def in_outbox(catalog: Catalog, job: FixJob) -> dict[str, Any] | None:
    """The result of an earlier attempt of this fix that reached the outbox, else None. Such an attempt ended
    unheard: its Ray task finished after the daemon had lost the cluster, or its daemon died before it was
    told. Rendering it again would write over the files its Version may already show in review, and move its
    request back from published (or approved) to rendered."""
    with catalog.session(readonly=True) as s:
        request = fixes.get_fix_request(s, job.request_id)
        key = PublishJob(0, request.request_key, job.fix_kind).key() if request is not None else None
        publication = fixes.get_publication_by_key(s, key) if key is not None else None
        if publication is None:
            return None
        files = VersionFiles.from_json(dict(publication.extra_files))
        movie, number = publication.movie_path, publication.model_version
    log.info("fix.in_outbox", request=job.request_id, kind=job.fix_kind, movie=movie)
    # the review movie's frames, as the attempt that rendered it said; a row from before they were kept: its
    # frame range (a pause in a recording, left out of the movie, counted too)
    frames = files.frame_count if files.frame_count is not None else files.last_frame - files.first_frame + 1
    return {"movie": movie, "frames": frames, "model_version": number}


def _probed(source: str, first_frame: int, roots: Sequence[Path]) -> MediaInfo:
    """The daily as it stands; NotYet when it is gone from disk (nothing in the request to correct: a delivery
    pulled back or moved), FolderUnseen when this machine does not see the folder it is in (`roots`: the show's
    ingest roots), Permanent when it is there and cannot be read any more."""
    try:
        return probe(source, first_frame=first_frame)
    except MediaError as exc:
        if daily_gone(source):
            unseen = unseen_folder(source, roots)
            if unseen is not None:
                raise FolderUnseen(
                    f"this machine ({socket.gethostname()}) does not see {unseen} (missing or empty here), "
                    f"which holds the daily {source}: mount the show's folders at the same paths on every "
                    "machine that runs jobs, each Ray node too (docs/operations.md, Shared paths); the job is "
                    "tried again"
                ) from exc
            raise NotYet(
                f"the daily {source} is no longer on disk (moved or deleted since it was ingested): "
                "put it back, or deliver the shot again"
            ) from exc
        raise Permanent(f"the daily {source} cannot be read any more: {exc.reason}") from exc


def _render_plan(
    show: ShowConfig,
    request: Request,
    params: Mapping[str, Any],
    info: MediaInfo,
    prepared: Prepared,
    out_dir: Path,
) -> tuple[MediaInfo, Prepared, RenderPlan]:
    """What the fix's files are made of and through (the daily and fix as kept with their overscan): its view,
    finishing deliverable, colour tags, alpha, sound, headers and the rest of what the daily carries."""
    view, scene = _review_view(show.color, request.show, request.source, info.colour)
    finishing = _finishing(params, info)  # the request's deliver=, which the head does not read
    if finishing == "none" and view is not None:
        # the fix's values beside its display picture (approvals train on them): a scene-referred daily's as
        # EXR, an HDR movie's in its own encoding
        finishing = "exr" if scene else "prores"
    info, prepared = keeping_overscan(info, prepared, exr_frames=finishing == "exr")
    plan = RenderPlan(
        out_dir=out_dir,
        name=out_dir.name,
        kind=prepared.kind,
        fps=Fraction(info.fps),
        first_frame=info.first_frame,
        timecode=info.timecode,
        finishing=finishing,
        view=view,
        view_deliverable=scene,
        colour=view.tags if scene and view is not None else info.colour,  # a view's picture: its display's
        grade_space=grade_space(info),
        alpha=finishing in ("prores", "exr") and has_alpha(info.pix_fmt),  # a deliverable keeps the daily's
        sound=carried_sound(info, prepared),
        pixel_aspect=info.pixel_aspect,
        headers=header_source(info, prepared),
        reel=info.reel,
        tags=info.tags,
        source_pix_fmt=info.pix_fmt,
        scan=info.interlaced,
        overscan=Overscan.of(info),
        retime=prepared.factor,
        daily=request.source,
        frame_digits=parse_sequence(info.path).padding if is_pattern(info.path) else 0,
    )
    return info, prepared, plan


def start_request(catalog: Catalog, request_id: int) -> Request:
    """Read the request and its shot's newest daily, and mark it rendering (Permanent when either is gone)."""
    with catalog.session() as s:
        row = fixes.get_fix_request(s, request_id)
        if row is None:
            raise Permanent(f"fix request {request_id} does not exist")
        dailies = daily_repo.dailies_for_shot(s, row.show.code, row.shot)
        if not dailies:
            named = tuple(row.qualified_codes or ())
            renamed = renamed_from(s, row.show.code, row.shot_id, row.shot, named)
            held = quarantined_daily(
                s, row.show.code, named or (row.shot,)
            )  # a bare name another shot shares: no
            raise NotYet(renamed or held or no_daily_yet(row.shot, row.show.code, named))
        daily = chosen_take(dailies, row.params.get("take"), row.shot)
        if row.state == "failed":  # answered, and a job of it retried by hand: its old reason no longer holds
            row.error = None
        fixes.set_fix_state(s, request_id, "rendering")
        return Request(
            row.id,
            row.request_key,
            row.show.code,
            row.shot,
            dict(row.params),
            daily.path,
            daily.take,
            daily.content_hash,
            (daily.size_bytes, daily.mtime),
        )


def renamed_from(
    s: Session, show: str, shot_id: str | None, shot: str, qualified_codes: tuple[str, ...] = ()
) -> str | None:
    """Why a renamed shot has no daily: its tracker shot was fixed from another code's dailies before (renumbered
    in the tracker since, or on Kitsu moved to another sequence, its files named as before); None when it was
    not. The shot is named as its files are to be named (Kitsu: by its most specific qualified name)."""
    named = qualified_codes[0] if qualified_codes else shot
    for code in fixes.codes_before(s, show, shot_id, shot):
        dailies = daily_repo.dailies_for_shot(s, show, code)
        if dailies:
            name = Path(dailies[-1].path).name
            renamed = name.replace(dailies[-1].shot or code, named, 1)
            return (
                f"shot {named} of {show} has no daily named for it, but this tracker shot was fixed from the "
                f"dailies of {code} before ({name}), its name before it was renamed in the tracker: rename those "
                f"files as the show's path template reads {named} (e.g. {renamed}), and the dailies follow them"
            )
    return None


def same_as_rejected(catalog: Catalog, request: Request, kind: str, model_version: int | None) -> str | None:
    """Why the fix is not made again, when it would be the same as one a supervisor rejected (a task set to fix
    again after the rejection, nothing changed): the same daily content, model version and parameters make the
    same pictures; None when something differs."""
    if request.source_hash is None:
        return None
    with catalog.session(readonly=True) as s:
        for pub in fixes.rejected_of(s, request.show, request.shot, kind, request.source_hash):
            if pub.fix_request_id == request.id or pub.model_version != model_version:
                continue
            if not same_fix(kind, pub.fix_request.params, request.params):
                continue
            code = (pub.extra_files or {}).get("code") or f"request {pub.fix_request_id}'s {kind}"
            note = f" ({' '.join(pub.review_note.split())})" if pub.review_note else ""
            model = (
                f"model v{model_version}" if model_version is not None else "no model (the classical tool)"
            )
            return (
                f"it would be the same as {code}, which the supervisor rejected{note}: the same daily, {model} and "
                f"parameters make the same pictures; change the parameters, or ask again once the show's model is "
                "trained again or the shot's plate is delivered again"
            )
    return None


def same_fix(kind: str, one: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether two requests' parameters ask the same fix of `kind` of a daily: the head's as it reads them
    (`frames=1010-1012` and `frames=1010,1011,1012` alike: as text, a rejected fix asked again in another spelling
    was published again, the same pictures), the daemon's as written; the take aside (the daily pins it)."""
    asked = [{k: v for k, v in asked_of(kind, params).items() if k != "take"} for params in (one, other)]
    if asked[0] == asked[1]:
        return True
    daemons = [{k: v for k, v in a.items() if k in DAEMON_KEYS} for a in asked]  # deliver=, as written
    if daemons[0] != daemons[1]:
        return False
    try:
        read = [
            parse_fix_params(kind, own_params(kind, params), ignore=DAEMON_KEYS) for params in (one, other)
        ]
    except HeadError:
        return False
    return read[0] == read[1]


ESCAPED_BYTE = re.compile(r"\\x([0-9a-fA-F]{2})")  # a byte daily_repo.stored_path wrote as text


def quarantined_daily(s: Session, show: str, names: tuple[str, ...]) -> str | None:
    """Why a shot whose file is in an ingest folder has no daily: a quarantined file whose name holds one of the
    shot's `names` (in any case, as a whole word: sh01 is not sh010's), with the reason it was quarantined; None
    when there is none. (The answer
    said the file had still to reach the folder, where it had to be renamed or mended.)"""
    wanted = [unicodedata.normalize("NFC", name).casefold() for name in names if name]
    for row in reversed(daily_repo.quarantined(s, show)):
        name = Path(row.path).name
        # a name's bytes that are not UTF-8, kept as \xNN, read as the Latin-1 a Windows share wrote (café)
        read = ESCAPED_BYTE.sub(lambda m: chr(int(m.group(1), 16)), name)
        folded = unicodedata.normalize("NFC", read).casefold()
        if any(re.search(rf"(?<![^\W_]){re.escape(code)}(?![^\W_])", folded) for code in wanted):
            return (
                f"the file that looks like this shot's daily, {name}, is in the show's ingest folder but was "
                f"quarantined ({row.error}): mend that, and it is taken up"
            )
    return None


def no_daily_yet(shot: str, show: str, qualified_codes: tuple[str, ...]) -> str:
    """Why a fix waits for its shot's first daily; where the tracker's shot name repeats (Kitsu's SH020 in every
    sequence and episode) the shot is named as its files would be, by its most specific qualified name."""
    if not qualified_codes:
        return (
            f"shot {shot} of {show} has no readable daily to fix yet: its movie or sequence must reach one of "
            "the show's ingest folders first"
        )
    named = qualified_codes[0]
    return (
        f"shot {named} of {show} has no readable daily to fix yet: a movie or sequence whose name gives shot "
        f"{named} by the show's path template must reach one of the show's ingest folders first"
    )


def chosen_take(dailies: Sequence[Daily], take: Any, shot: str) -> Daily:
    """The daily a request fixes: of take `take=` when it names one (the circled take, not the newest), else
    the newest (the last ingested); Permanent, naming the takes there are, when the shot has no such take."""
    if take is None or str(take).strip() == "":
        return dailies[-1]
    wanted = take_key(str(take))
    found = [d for d in dailies if d.take is not None and take_key(d.take) == wanted]
    if found:
        return found[-1]  # the same take delivered again: its newest delivery
    takes = sorted({d.take for d in dailies if d.take is not None}, key=take_key)
    have = f"its takes are {', '.join(takes)}" if takes else "its dailies name no take"
    raise Permanent(
        f"shot {shot} has no take {take}: {have}; name one of them, or leave take= out for the newest"
    )


def output_frames(info: MediaInfo, prepared: Prepared) -> int:
    """How many frames the fix writes: an interpolate fix also makes the frames the source lacks."""
    if prepared.kind != "interpolate":
        return int(info.frame_count)
    span = len(info.frame_range)
    return span * prepared.factor - (prepared.factor - 1)


def render(
    model: ModelVersion,
    prepared: Prepared,
    source: MediaInfo,
    plan: RenderPlan,
    progress: Callable[[int, int], None] | None = None,
) -> RenderedFiles:
    """Stream the fixed frames into the review files of `plan` (a FixError is Permanent), telling `progress`
    (frames done, frames in all) after each. Decoding runs ahead of the head and encoding behind it, each in
    its own thread (engine.infer.stream); frame-sized buffers go back to the system when freed (engine.heap),
    so memory stays flat over a long shot."""
    total = output_frames(source, prepared)
    try:
        with RenderSink(plan) as sink, limited_threads():  # OpenCV's flows too, by the machine's load
            fixed = fixed_frames(model, prepared, source, plan.view, alpha=plan.alpha)
            with Background[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]](
                lambda f: sink.add(*f), depth=ENCODE_BEHIND
            ) as encoder:
                for done, (number, before, after) in enumerate(fixed, 1):
                    colour, alpha = (
                        (np.ascontiguousarray(after[..., :3]), after[..., 3]) if plan.alpha else (after, None)
                    )
                    encoder.put((number, before, sink.compact(colour), alpha))
                    if progress is not None:
                        progress(done, max(total, done))
            return replace(sink.finish(lut=fixed.outputs.lut), rebuilt=fixed.outputs.rebuilt)
    except FixError as exc:
        raise Permanent(str(exc)) from exc


def queue_publish(
    catalog: Catalog,
    request: Request,
    kind: str,
    files: RenderedFiles,
    outbox: VersionFiles,
    model_version: int | None,
) -> None:
    """The outbox: the publication row and its publish job, under one key, in one transaction."""
    job = PublishJob(0, request.key, kind)
    with catalog.session() as s:
        pub, _ = fixes.add_publication(
            s,
            request.id,
            kind,
            job.key(),
            str(files.review_movie),
            before_after_path=str(files.before_after),
            source_path=request.source,
            source_hash=request.source_hash,
            model_version=model_version,
            extra_files=outbox.to_json(),
        )
        queue(s, replace(job, publication_id=pub.id), show=request.show, max_attempts=TRACKER_ATTEMPTS)
        fixes.set_fix_state(s, request.id, "rendered")


def _review_view(
    color: ReviewColor, show: str, source: str, colour: ColourTags | None
) -> tuple[DisplayView | None, bool]:
    """The display transform of the daily's review pictures (daemon.stages.viewing), and whether its
    deliverables go through it too (a scene-referred daily); Permanent when the show's colour settings cannot
    be used, since retrying will not mend them."""
    look = review_look(color, source, colour)
    if look is None:
        return None, False
    try:
        return display_view(look.spec), look.scene
    except ColorError as exc:
        raise Permanent(f"shows[{show}].color: {exc}") from exc


def _finishing(params: Mapping[str, Any], info: MediaInfo) -> Any:
    value = str(params.get("deliver", "none")).lower()
    if value not in ("none", "prores", "dnxhr", "exr"):
        raise Permanent(f"deliver={value} is not known: use prores, dnxhr or exr")
    if value == "dnxhr" and (info.width < DNXHR_MIN_SIZE[0] or info.height < DNXHR_MIN_SIZE[1]):
        least = f"{DNXHR_MIN_SIZE[0]}x{DNXHR_MIN_SIZE[1]}"
        raise Permanent(
            f"deliver=dnxhr takes frames of at least {least}, not {info.width}x{info.height}: use prores"
        )
    rate_problem = mxf_rate_problem(info.fps) if value == "dnxhr" else None
    if rate_problem is not None:
        raise Permanent(f"deliver=dnxhr writes an MXF, and {rate_problem}: use prores")
    if value == "exr" and not scene_linear(info):
        raise Permanent(
            display_encoded_exr(
                Path(info.path).name, info.colour, "ask for deliver=prores (or dnxhr) instead"
            )
        )
    return value


__all__ = ["FixError", "NoModel", "fixed_frames", "model_for_fix", "output_frames", "prepare", "run_fix"]
