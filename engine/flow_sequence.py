"""Frame sequences through the flow path: retime, fill missing frames, detect dropped and duplicated frames.

Frames are `(frame_number, H,W,3 float32 0..1)` pairs in ascending number order, or H,W,4 with an alpha
(a CG element's coverage), which a made frame gets by the same warps and blend as its colour (flows, cuts
and refiners see the colour alone). Everything streams: at most four source frames (and their flows) are held
at a time. Nothing is interpolated across a cut (engine.shots.is_cut): a frame wanted between two shots
repeats the nearer one, and a neighbour on the other side of a cut is not used for curved motion.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence

import cv2
import numpy as np

from engine import flow, shots

NumberedFrame = tuple[int, np.ndarray]
Refiner = Callable[[flow.Parts, float], np.ndarray]
Wanted = Callable[[int], bool]


class SequenceError(ValueError):
    """A frame range or retime factor cannot be honoured."""


MAX_LISTED_FRAMES = 1_000_000  # more than any shot holds (11.5 hours at 24 fps)


# The dashes a word processor or a chat puts in "1012-1016" (en dash, em dash, minus sign...): read as the hyphen.
_DASHES = str.maketrans(dict.fromkeys([*map(chr, range(0x2010, 0x2016)), "\u2212", "\ufe63", "\uff0d"], "-"))


def parse_frames(spec: str | Collection[int]) -> set[int]:
    """Frame numbers from "1012-1016", "1012,1014", "1012-1014,1020" or a collection of ints. A list naming
    more than MAX_LISTED_FRAMES frames is refused before any is made: "frames=1-9999999999" from a tracker
    would otherwise fill the memory of the machine rendering it, at every attempt."""
    if not isinstance(spec, str):
        return {int(n) for n in spec}
    out: set[int] = set()
    listed = 0
    joined = re.sub(r"\s*([-,])\s*", r"\1", spec.translate(_DASHES).strip())  # "1012 - 1016", "1012, 1014"
    for part in re.split(r"[,\s]+", joined):  # "1003 1005" is a list (it read as frame 10031005)
        if not part:
            continue
        try:
            if "-" in part[1:]:
                cut = part.index("-", 1)
                lo, hi = int(part[:cut]), int(part[cut + 1 :])
                if part[cut + 1 :].startswith("-") and lo >= 0:  # 1001--1005: a dash doubled, not frame -1005
                    raise SequenceError(f"frame range {part!r} has two dashes; write it as {lo}-{abs(hi)}.")
                if hi < lo:
                    raise SequenceError(f"frame range {part!r} runs backwards; write it as {hi}-{lo}.")
                listed += hi - lo + 1
                if listed > MAX_LISTED_FRAMES:
                    what = f"frame range {part!r} names" if listed == hi - lo + 1 else "the ranges name"
                    raise SequenceError(
                        f"{what} {listed:,} frames, more than any shot holds; name frames of this shot, like "
                        "1012-1016."
                    )
                out.update(range(lo, hi + 1))
            else:
                out.add(int(part))
        except ValueError as exc:
            if isinstance(exc, SequenceError):
                raise
            raise SequenceError(
                f"cannot read frame list {spec!r}; write it like 1012-1016 or 1012,1014."
            ) from exc
    return out


class _Flows:
    """Flows between consecutive kept frames, computed on demand and cached by the pair's first number."""

    def __init__(self) -> None:
        self.cache: dict[tuple[flow.FlowConfig, int, int], np.ndarray] = {}
        self.images: dict[tuple[flow.FlowConfig, int], np.ndarray] = {}  # each frame's flow image, once
        self.cuts: dict[tuple[int, int], bool] = {}

    def image(self, config: flow.FlowConfig, a: NumberedFrame) -> np.ndarray:
        key = (config, a[0])
        if key not in self.images:
            self.images[key] = flow.flow_image(a[1], config)
        return self.images[key]

    def get(self, config: flow.FlowConfig, a: NumberedFrame, b: NumberedFrame) -> np.ndarray:
        key = (config, a[0], b[0])
        if key not in self.cache:
            if a[1].shape != b[1].shape:
                raise flow.FlowError(
                    f"frames {a[0]} and {b[0]} differ in size ({a[1].shape} vs {b[1].shape}); "
                    "resize them to one size first."
                )
            self.cache[key] = flow.flow_between(self.image(config, a), self.image(config, b), config)
        return self.cache[key]

    def cut(self, a: NumberedFrame | None, b: NumberedFrame | None) -> bool:
        """Whether a cut lies between frames a and b (False when either is missing)."""
        if a is None or b is None:
            return False
        key = (a[0], b[0])
        if key not in self.cuts:
            self.cuts[key] = shots.is_cut(flow.colour_of(a[1]), flow.colour_of(b[1]))
        return self.cuts[key]

    def forget_before(self, number: int) -> None:
        for key in [k for k in self.cache if min(k[1:]) < number]:
            del self.cache[key]
        for image in [k for k in self.images if k[1] < number]:
            del self.images[image]
        for pair in [p for p in self.cuts if p[0] < number]:
            del self.cuts[pair]


def _pair_flows(window: list[NumberedFrame | None], flows: _Flows, config: flow.FlowConfig) -> flow.PairFlows:
    prev, a, b, nxt = window
    assert a is not None and b is not None
    prev = None if flows.cut(prev, a) else prev
    nxt = None if flows.cut(b, nxt) else nxt
    gap = b[0] - a[0]
    return flow.PairFlows(
        flows.get(config, a, b),
        flows.get(config, b, a),
        flows.get(config, a, prev) if (config.quadratic and prev is not None) else None,
        flows.get(config, b, nxt) if (config.quadratic and nxt is not None) else None,
        span_prev=(a[0] - prev[0]) / gap if prev is not None else 1.0,
        span_next=(nxt[0] - b[0]) / gap if nxt is not None else 1.0,
        prev=None if prev is None else prev[1],
        nxt=None if nxt is None else nxt[1],
    )


def _fill_gap(
    window: list[NumberedFrame | None],
    numbers: list[int],
    flows: _Flows,
    config: flow.FlowConfig,
    refine: Refiner | None,
) -> Iterator[NumberedFrame]:
    """Frames for `numbers` between window[1] and window[2]; window[0]/window[3] are the outer frames."""
    a, b = window[1], window[2]
    assert a is not None and b is not None
    if flows.cut(a, b):  # two shots: each wanted frame repeats the nearer side
        for n in numbers:
            yield n, (a[1] if n - a[0] <= b[0] - n else b[1])
        return
    settings = flow.members(config)
    pfs = [_pair_flows(window, flows, c) for c in settings]
    for n in numbers:
        t = (n - a[0]) / (b[0] - a[0])
        if refine is None:
            outs = [
                flow.interpolate_with_flows(a[1], b[1], pf, t, c) for pf, c in zip(pfs, settings, strict=True)
            ]
            yield n, outs[0] if len(outs) == 1 else np.mean(outs, axis=0).astype(np.float32)
        else:
            parts = [
                flow.interpolate_reverse(a[1], b[1], pf, t, c) for pf, c in zip(pfs, settings, strict=True)
            ]
            yield n, _refined(refine, flow.mean_parts(parts), t)


def _refined(refine: Refiner, parts: flow.Parts, t: float) -> np.ndarray:
    """The refiner's colour of the frame at t, with the flow path's alpha when the frames carry one."""
    colour = refine(parts.colour(), t)
    if parts.frame.shape[2] != 4:
        return colour
    return np.dstack([colour, parts.frame[..., 3:]]).astype(np.float32, copy=False)


def fill(
    frames: Iterable[NumberedFrame],
    wanted: Collection[int] | Wanted,
    config: flow.FlowConfig | None = None,
    refine: Refiner | None = None,
) -> Iterator[NumberedFrame]:
    """Rebuild the wanted frame numbers from their nearest kept neighbours; other frames pass through.

    Input frames whose number is wanted are dropped and rebuilt; wanted numbers missing from the input are
    created between their neighbours. Wanted numbers before the first or after the last kept frame repeat
    that frame (nothing to interpolate from). `refine(parts, t)` replaces the classical result when given.
    """
    config = config or flow.RECOMMENDED
    is_wanted: Wanted = wanted if callable(wanted) else set(wanted).__contains__
    explicit = sorted(wanted) if not callable(wanted) else []
    arrived: list[int] = []  # input frames found wanted: made too before the first or after the last kept one

    def outside(below: int | None = None, above: int | None = None) -> list[int]:
        """The wanted numbers before `below` or after `above`, which repeat the nearest kept frame."""
        return sorted(
            {
                n
                for n in (*explicit, *arrived)
                if (below is not None and n < below) or (above is not None and n > above)
            }
        )

    flows = _Flows()
    kept: list[NumberedFrame] = []  # the last up-to-4 kept frames
    emitted_to: int | None = None  # the last kept frame already yielded
    last_number: int | None = None

    def gap_numbers(lo: int, hi: int) -> list[int]:
        return [n for n in range(lo + 1, hi) if is_wanted(n)]

    for number, frame in frames:
        if last_number is not None and number <= last_number:
            raise SequenceError(f"frame {number} comes after frame {last_number}; frames must ascend.")
        last_number = number
        if is_wanted(number):
            arrived.append(number)
            continue
        if not kept:
            # Wanted numbers before the first kept frame: repeat it.
            for n in outside(below=number):
                yield n, frame
            yield number, frame
            emitted_to = number
        kept.append((number, frame))
        kept = kept[-4:]
        # Once we hold the frame after next, the gap between kept[-3] and kept[-2] can be filled.
        if len(kept) >= 3:
            a, b = kept[-3], kept[-2]
            numbers = gap_numbers(a[0], b[0])
            if numbers:
                window = [kept[-4] if len(kept) >= 4 else None, a, b, kept[-1]]
                yield from _fill_gap(window, numbers, flows, config, refine)
            yield b
            emitted_to = b[0]
            flows.forget_before(kept[-4][0] if len(kept) >= 4 else a[0])
    if not kept:
        return
    if len(kept) >= 2 and emitted_to != kept[-1][0]:
        a, b = kept[-2], kept[-1]
        numbers = gap_numbers(a[0], b[0])
        if numbers:
            window = [kept[-3] if len(kept) >= 3 else None, a, b, None]
            yield from _fill_gap(window, numbers, flows, config, refine)
        yield b
    last = kept[-1]
    for n in outside(above=last[0]):
        yield n, last[1]


def retime(
    frames: Iterable[NumberedFrame],
    factor: int,
    config: flow.FlowConfig | None = None,
    refine: Refiner | None = None,
) -> Iterator[NumberedFrame]:
    """Slow motion by an integer factor: N frames in, (N-1)*factor+1 out, every original kept unchanged.

    Output frames are numbered from the first input number on, one number per output frame.
    """
    if factor < 1:
        raise SequenceError(f"retime factor {factor} must be a whole number of at least 1 (2 or 4).")
    it = iter(frames)
    first = next(it, None)
    if first is None:
        return
    start = first[0]

    def renumbered() -> Iterator[NumberedFrame]:
        yield start, first[1]
        for k, (_, frame) in enumerate(it, start=1):
            yield start + k * factor, frame

    yield from fill(renumbered(), lambda n: (n - start) % factor != 0, config, refine)


def _small_gray(frame: np.ndarray, width: int) -> np.ndarray:
    gray = flow.to_gray_u8(frame)
    h, w = gray.shape
    if w > width:
        gray = cv2.resize(gray, (width, max(8, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return gray


def _local_median(values: np.ndarray, i: int, exclude: set[int], radius: int = 5) -> float:
    idx = [
        j for j in range(max(1, i - radius), min(len(values), i + radius + 1)) if j != i and j not in exclude
    ]
    return float(np.median(values[idx])) if idx else float("nan")


# A frame is called repeated against the steps between its neighbours, measured where the picture changes most
# (the largest mean of any 8x8 block of the difference, so a small subject moving in a locked-off shot counts):
# at most DUPLICATE_RATIO of their median, in a shot whose steps reach STILL_FLOOR (a shot that barely changes,
# a fade or a still, has no repeat to tell apart); and in a run of at most LONGEST_REPEAT (a camera dropping
# frames repeats one or two: more in a row is a hold, shot so, and left as it is).
DUPLICATE_RATIO = 0.2
STILL_FLOOR = 2 / 255
LONGEST_REPEAT = 2
_BLOCK = 8


def _step(gray: np.ndarray, previous: np.ndarray) -> float:
    """How much the picture changed between two small grays where it changed most: the largest 8x8 block mean
    of their difference, 0..1."""
    diff = cv2.absdiff(gray, previous)
    h, w = diff.shape
    blocks = cv2.resize(
        diff.astype(np.float32), (max(1, w // _BLOCK), max(1, h // _BLOCK)), interpolation=cv2.INTER_AREA
    )
    return float(blocks.max()) / 255


def detect_drops(
    frames: Iterable[np.ndarray],
    width: int = 320,
    jump: float = 1.6,
    duplicate_ratio: float = DUPLICATE_RATIO,
) -> list[tuple[int, str]]:
    """Find duplicated frames (a repeat of the previous one, where the shot moves: see DUPLICATE_RATIO) and
    dropped frames (a motion jump ~2x the local median between a frame and the previous one, meaning a frame is
    missing before it).

    Returns (frame index, "duplicated" | "dropped") in index order. A duplicate's following jump is
    explained by the duplicate itself and not reported again.
    """
    grays = [_small_gray(f, width) for f in frames]
    n = len(grays)
    if n < 3:
        return []
    dis = flow.dis_solver(flow.FlowConfig(finest_scale=None))
    steps = np.zeros(n)
    motion = np.zeros(n)
    for i in range(1, n):
        steps[i] = _step(grays[i], grays[i - 1])
        f = dis.calc(grays[i - 1], grays[i], None)
        motion[i] = float(np.mean(np.hypot(f[..., 0], f[..., 1])))
    found: dict[int, str] = {}
    for i in range(1, n):
        if _duplicated(steps, i, duplicate_ratio):
            found[i] = "duplicated"
    dups = set(found)
    for i in range(1, n):
        if i in dups or (i - 1) in dups:
            continue
        med = _local_median(motion, i, dups | {j + 1 for j in dups})
        if np.isfinite(med) and motion[i] > max(jump * med, 0.5):
            found[i] = "dropped"
    return sorted(found.items())


def _duplicated(steps: Sequence[float] | np.ndarray, i: int, duplicate_ratio: float, radius: int = 5) -> bool:
    """Whether frame i (i >= 1) repeats the previous one, against the local median of the steps between frames
    (see DUPLICATE_RATIO); `steps` holds every step up to i + radius (or to the shot's end)."""
    window = [steps[j] for j in range(max(1, i - radius), min(len(steps), i + radius + 1)) if j != i]
    if not window:
        return False
    median = float(np.median(window))
    if median < STILL_FLOOR:
        return False

    def small(j: int) -> bool:
        return 1 <= j < len(steps) and steps[j] <= duplicate_ratio * median

    if not small(i):
        return False
    run = 1
    for direction in (-1, 1):
        j = i + direction
        while run <= LONGEST_REPEAT and small(j):
            run, j = run + 1, j + direction
    return run <= LONGEST_REPEAT


def with_duplicates_found(
    frames: Iterable[NumberedFrame],
    found: set[int],
    width: int = 320,
    duplicate_ratio: float = DUPLICATE_RATIO,
) -> Iterator[NumberedFrame]:
    """The frames as they come, each number added to `found` before its frame is yielded when detect_drops would
    call it duplicated: the same answer while holding 6 frames (the median's reach ahead), not the whole shot,
    so `fill(with_duplicates_found(frames, found), found.__contains__)` rebuilds them in flat memory; but for a
    repeat at the shot's end, which detect_drops names and this does not add: with no frame after it, it could
    come out only as the copy it is."""
    radius = 5
    ahead: collections.deque[NumberedFrame] = collections.deque()
    steps: list[float] = [0.0]
    previous: np.ndarray | None = None
    index = 0  # the shot index of ahead[0]

    def release(count: int, last: bool = False) -> Iterator[NumberedFrame]:
        nonlocal index
        batch = []
        for _ in range(count):
            repeated = index >= 1 and len(steps) >= 3 and _duplicated(steps, index, duplicate_ratio, radius)
            batch.append((ahead.popleft(), repeated))
            index += 1
        end = len(batch) if last else 0
        while end and batch[end - 1][1]:  # repeats at the shot's end (a run fits in the frames held)
            end -= 1
            batch[end] = (batch[end][0], False)
        for (number, frame), repeated in batch:
            if repeated:
                found.add(number)
            yield number, frame

    for number, frame in frames:
        gray = _small_gray(frame, width)
        if previous is not None:
            steps.append(_step(gray, previous))
        previous = gray
        ahead.append((number, frame))
        if len(ahead) > radius:  # ahead[0]'s median window is all seen
            yield from release(1)
    yield from release(len(ahead), last=True)


def frames_to_fix(found: Sequence[tuple[int, str]]) -> list[int]:
    """Indices to rebuild from detect_drops' answer: the duplicated frames (a dropped frame has no slot)."""
    return [i for i, kind in found if kind == "duplicated"]
