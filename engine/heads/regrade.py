"""regrade: restore exposure / white balance / contrast, or match a shot to a reference frame.

An image-adaptive 3D LUT (after Zeng et al. 2020) on top of a classical base. The base is the matched
grade (engine.baselines.color.fit_grade): the reference is aligned onto the frame with optical flow and
the exact inverse of an exposure / white-balance / gamma / contrast change (seven numbers; the gammas only
where they explain the pairs clearly better) is fitted robustly on the aligned pixel pairs, then baked into a LUT; with no reference the base is the identity. A tiny CNN
looks at thumbnails of the frame and the reference and predicts weights of a few learned basis LUTs
added to the base: LUT = base + sum_k w_k * basis_k, applied with trilinear interpolation. The bases
start at zero, so a fresh net is exactly its base. Trained self-supervised: a show frame is perturbed
(engine.degrade.regrade: +-1.5 stops, white-balance gains, contrast; or, for a `production_grades` share,
engine.degrade.production: +-2 stops with clipped highlights, white balance far off, display gamma
and contrast, whose clipped highlights the base cannot bring back), the reference is another untouched
frame of the same clip, and the target is the original. Sometimes the reference is left out (all
zeros), so the head also learns to restore towards the show's own look with no reference. With no
reference the LUT starts from the inverse of the grade error that brings the frame closest to the show's
look (engine.heads.regrade_inverse: the look is learned from the show's ungraded frames, plus a small MLP
correction), trained on `inverse_examples` graded thumbnails per example whose grade is known; a fresh one
has no look and predicts no error (the identity).

apply() params: {"reference": H,W,3 array (optional), "source": "first" | "each", "precise": bool,
"inverse": bool (default True; run_params() turns it off where it did not gain on the held-out clips)}. With
"first" (default) one LUT is predicted from one frame of the shot's head (HEAD_FRAMES: the one of middle
brightness) and applied to every frame (no flicker) through
the baked 8-bit fast path; "precise" uses float trilinear instead, which a shot deeper than 8 bits gets
(RegradeParams.bind): the 8-bit path would band its gradients into 256 steps. fix() also returns the (first) LUT it
applied in its outputs, for the renderer to deliver as a .cube.
Fix parameters (RegradeParams): `reference=1001` (a frame of the shot) or `reference=/path/still.png`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any, ClassVar, Self

import cv2
import numpy as np
import torch
from torch import nn

from engine import lut as luts
from engine.baselines import color
from engine.degrade.production import Grade, apply_grade, production_grade
from engine.heads.base import (
    Batch,
    FixOutputs,
    FixRun,
    Head,
    HeadError,
    NumberedFrame,
    as_float,
    chw,
    crop_box,
    eval_indices,
    net_device,
    register,
)
from engine.heads.errors import ParamError
from engine.heads.params import FixParams, Shot, load_reference, parse_int
from engine.heads.regrade_inverse import InverseGrade, curve_lut, grade_vector, inverse_loss
from engine.heads.scoring import score_sheet, summarize
from engine.kinds import PARAM_KEYS
from engine.media.frames import known_bit_depth
from engine.media.info import MediaInfo
from engine.media.working import scene_linear
from engine.metrics import psnr, ssim

THUMB = 64
MAX_FRAME = 10**9  # the largest frame number a reference= may name
# The learned no-reference inverse is applied only when it beat the ungraded input by this much on the
# held-out clips (an under-trained one can move a frame the wrong way).
MIN_INVERSE_GAIN_DB = 0.05
# Graded thumbnails per training step on which the no-reference inverse's loss is taken (all of them teach
# the look): each costs a fit to the look (engine.heads.regrade_inverse.fit_to_look).
INVERSE_LOSS_THUMBS = 32


@dataclass(frozen=True)
class RegradeParams(FixParams):
    """Match `reference` (a frame number of the shot, or an image file); None restores the show's look."""

    keys: ClassVar[tuple[str, ...]] = PARAM_KEYS["regrade"]
    reference: int | Path | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, str]) -> Self:
        text = raw.get("reference", "")
        if not text:
            return cls()
        if re.fullmatch(r"-?[0-9]+", text):  # a frame of the shot (`²` or `--5` is neither frame nor file)
            return cls(reference=parse_int("reference", text, -MAX_FRAME, MAX_FRAME, "1001"))
        if re.fullmatch(r"[-+]?[0-9\s.,+-]*", text):
            raise ParamError(f"reference={text} is neither a frame number nor an image file: give e.g. 1001")
        return cls(reference=Path(text))

    def bind(self, shot: Shot) -> dict[str, Any]:
        deep = {"precise": True} if deeper_than_8_bits(shot.info) else {}
        if self.reference is None:
            return deep
        if isinstance(self.reference, int):
            if shot.info.frame_count < 2 and self.reference == shot.info.first_frame:
                raise ParamError(
                    f"reference={self.reference} is the shot's only frame, so matching it would change nothing: "
                    "name a still of the look the shot should take"
                )  # else the grade is fitted on another frame than it (reference_frame)
            return {
                "reference": load_reference(self.reference, shot),
                "reference_frame": self.reference,
                **deep,
            }
        return {"reference": load_reference(str(self.reference), shot), **deep}


def deeper_than_8_bits(info: MediaInfo) -> bool:
    """Whether a shot's frames hold more than 8 bits a component (10-bit video, a 16-bit PNG or TIFF, a DPX
    scan, an EXR): its grade is applied at its own precision, not through the 8-bit table."""
    bits = known_bit_depth(info.pix_fmt)
    return scene_linear(info) or (bits is not None and bits > 8)


def thumbnail(frame: np.ndarray, size: int = THUMB) -> np.ndarray:
    return cv2.resize(as_float(frame), (size, size), interpolation=cv2.INTER_AREA)


def random_grade(rng: np.random.Generator) -> dict[str, Any]:
    """A random lighting change within the head's training range."""
    gains = np.exp(rng.uniform(-0.25, 0.25, 3))
    gains = gains / gains[1]
    return {
        "exposure_stops": float(rng.uniform(-1.5, 1.5)),
        "white_balance": tuple(float(g) for g in gains),
        "contrast": float(np.exp(rng.uniform(np.log(0.7), np.log(1.4)))),
    }


def grade_error(
    rng: np.random.Generator, production: bool
) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]:
    """A random grade error as a function of frames, as on set (`production`) or the gentler synthetic one;
    and its five numbers (engine.heads.regrade_inverse.grade_vector)."""
    if production:
        grade = production_grade(rng)
    else:
        params = random_grade(rng)
        grade = Grade(
            exposure_stops=params["exposure_stops"],
            white_balance=params["white_balance"],
            contrast=params["contrast"],
        )
    return (lambda frames: apply_grade(frames, grade)), grade_vector(grade)


def _stats(x: torch.Tensor) -> torch.Tensor:
    """Per-channel mean, std and 10/50/90 % quantiles of thumbnails (N,3,h,w) -> (N,15)."""
    flat = x.flatten(2)
    q = torch.quantile(flat, torch.tensor([0.1, 0.5, 0.9], device=x.device, dtype=x.dtype), dim=2)
    return torch.cat([flat.mean(2), flat.std(2), q.permute(1, 0, 2).flatten(1)], 1)


class RegradeNet(nn.Module):
    """Thumbnail CNN -> weights of `count` basis LUTs of `size`^3 added to the identity."""

    def __init__(self, count: int = 6, size: int = 17, width: int = 16, with_reference: bool = False) -> None:
        super().__init__()
        # Whether the learned LUTs are added when there is a reference too. Off by default: on held-out
        # real clips the matched grade alone scored 42.0 dB and with 150 s of learned residual 38.6.
        self.with_reference = with_reference
        self.register_buffer("identity", torch.from_numpy(luts.identity(size)))
        self.basis = nn.Parameter(torch.zeros(count, size, size, size, 3))
        layers: list[nn.Module] = []
        c_in = 3
        for c in (width, 2 * width, 4 * width, 4 * width):
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.LeakyReLU(0.1, inplace=True)]
            c_in = c
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.encoder = nn.Sequential(*layers)
        feats = 3 * 4 * width + 2 * 15 + 1
        self.weights = nn.Sequential(
            nn.Linear(feats, 64), nn.LeakyReLU(0.1, inplace=True), nn.Linear(64, count)
        )
        # No reference: the inverse of the grade error, from the frame's global statistics (a fresh one: none)
        self.inverse = InverseGrade()

    def grade_params(self, thumb: torch.Tensor) -> torch.Tensor:
        """The five numbers of the grade error (engine.heads.regrade_inverse) seen in thumbnails (N,3,h,w)."""
        out: torch.Tensor = self.inverse(thumb)
        return out

    def lut(
        self,
        thumb: torch.Tensor,
        ref_thumb: torch.Tensor,
        base: torch.Tensor | None = None,
        inverse: bool = True,
    ) -> torch.Tensor:
        """Per-image LUTs (N,S,S,S,3) from thumbnails (N,3,h,w); an all-zero reference means none.

        `base` (N,S,S,S,3), the classical starting LUT (the matched grade towards the reference), replaces the identity.
        `inverse`: without a reference, start from the predicted inverse of the grade error (else the identity).
        """
        has_ref = (ref_thumb.flatten(1).abs().sum(1, keepdim=True) > 0).to(thumb.dtype)
        e_in = self.encoder(thumb).flatten(1)
        e_ref = self.encoder(ref_thumb).flatten(1) * has_ref
        feats = torch.cat([e_in, e_ref, e_in - e_ref, _stats(thumb), _stats(ref_thumb) * has_ref, has_ref], 1)
        w = self.weights(feats)
        if not self.with_reference:
            w = w * (1 - has_ref)
        identity = torch.as_tensor(self.identity)
        start = identity.unsqueeze(0) if base is None else base
        if not inverse:
            return start + torch.einsum("nk,kabcd->nabcd", w, self.basis)
        # no reference: start from the predicted inverse of the grade error instead of the identity
        undo = curve_lut(self.inverse(thumb), identity) - identity
        start = start + (1 - has_ref).view(-1, 1, 1, 1, 1) * undo
        return start + torch.einsum("nk,kabcd->nabcd", w, self.basis)

    def forward(
        self,
        image: torch.Tensor,
        thumb: torch.Tensor,
        ref_thumb: torch.Tensor,
        base: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return luts.apply_lut_torch(image, self.lut(thumb, ref_thumb, base))


def base_lut(frame: np.ndarray, reference: np.ndarray | None, size: int) -> np.ndarray:
    """The classical start: the matched grade towards the reference as a LUT, or the identity without one."""
    if reference is None or not reference.any():
        return luts.identity(size)
    return color.fit_grade(as_float(frame), as_float(reference)).lut(size)


def lut_to_chw(lut: np.ndarray) -> np.ndarray:
    """(S,S,S,3) -> (3, S*S, S), so a LUT travels in a batch like an image."""
    s = lut.shape[0]
    return np.ascontiguousarray(lut.reshape(s * s, s, 3).transpose(2, 0, 1))


def lut_from_chw(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, S*S, S) -> (N, S, S, S, 3)."""
    n, _, _, s = x.shape
    return x.permute(0, 2, 3, 1).reshape(n, s, s, s, 3)


def _smoothness(basis: torch.Tensor) -> torch.Tensor:
    """Total variation of the basis LUTs, keeping them smooth where training colours are sparse."""
    return sum((basis.diff(dim=d) ** 2).mean() for d in (1, 2, 3)) / 3  # type: ignore[return-value]


# A one-LUT grade ("source": "first") is fitted on the frame of middle brightness among the shot's first this
# many: fitted on its first frame, a sync flash there made the whole shot 1.2 stops too dark, a black frame there
# (a slate's, a fade's) made the grade an identity, published as the fix.
HEAD_FRAMES = 5


def middle_brightness(frames: list[np.ndarray]) -> int:
    """The index of the frame of middle mean brightness in `frames` (the brighter of two middles)."""
    means = [float(np.asarray(f[::4, ::4], np.float32).mean()) for f in frames]
    return int(np.argsort(means, kind="stable")[len(means) // 2])


@register
class RegradeHead(Head):
    name = "regrade"
    baselines = ("reinhard", "histogram")
    params_type = RegradeParams

    def default_config(self) -> dict[str, Any]:
        return {
            "luts": 6,
            "lut_size": 33,
            "width": 16,
            "eval_frames": 4,
            "no_reference": 0.15,
            "tv": 1e-3,
            "reference_offset": 24,
            # share of training examples graded as on set (engine.degrade.production: +-2 stops with
            # clipped highlights, white balance far off, display gamma); the rest by engine.degrade.regrade
            "production_grades": 0.5,
            # graded thumbnails per example for the no-reference inverse (engine.heads.regrade_inverse)
            "inverse_examples": 24,
            "residual_with_reference": False,  # evaluate(): the reference is this many frames away (about 1 s)
        }

    def build(self, config: Mapping[str, Any]) -> torch.nn.Module:
        cfg = {**self.default_config(), **config}
        return RegradeNet(
            int(cfg["luts"]), int(cfg["lut_size"]), int(cfg["width"]), bool(cfg["residual_with_reference"])
        )

    def sample(self, clip: np.ndarray, rng: np.random.Generator, crop: int) -> dict[str, np.ndarray]:
        t = int(rng.integers(0, len(clip)))
        r = int(rng.integers(0, len(clip)))
        cfg = self.default_config()
        grade, _ = grade_error(rng, rng.random() < float(cfg["production_grades"]))
        frame = as_float(clip[t])
        y, x, h, w = crop_box(frame.shape[0], frame.shape[1], crop, rng)
        target = frame[y : y + h, x : x + w]
        graded = grade(target[None])[0]
        whole = grade(frame[None])[0]
        thumb = thumbnail(whole)
        no_ref = rng.random() < float(self.default_config()["no_reference"])
        ref = np.zeros((THUMB, THUMB, 3), np.float32) if no_ref else thumbnail(clip[r])
        base = base_lut(whole, None if no_ref else clip[r], int(cfg["lut_size"]))
        return {
            "input": chw(graded),
            "thumb": chw(thumb),
            "ref_thumb": chw(ref),
            "base_lut": lut_to_chw(base),
            "target": chw(target),
            **self.inverse_examples(clip, rng, int(cfg["inverse_examples"]), float(cfg["production_grades"])),
        }

    def inverse_examples(
        self, clip: np.ndarray, rng: np.random.Generator, count: int, production: float
    ) -> dict[str, np.ndarray]:
        """`count` thumbnails of random frames of the clip under random grade errors, for the no-reference
        part (thumbnails are cheap: many per example): graded, original and the grades' five numbers."""
        graded, clean, numbers = [], [], []
        for _ in range(count):
            small = thumbnail(clip[int(rng.integers(0, len(clip)))], 2 * THUMB)
            grade, vector = grade_error(rng, rng.random() < production)
            graded.append(chw(thumbnail(grade(small[None])[0])))
            clean.append(chw(thumbnail(small)))
            numbers.append(vector)
        return {"inv_graded": np.stack(graded), "inv_clean": np.stack(clean), "inv_grades": np.stack(numbers)}

    def loss(self, net: torch.nn.Module, batch: Batch) -> torch.Tensor:
        out = net(batch["input"], batch["thumb"], batch["ref_thumb"], lut_from_chw(batch["base_lut"]))
        tv = float(self.default_config()["tv"])
        basis = net.basis if isinstance(net, RegradeNet) else torch.zeros(1, 2, 2, 2, 3)
        err: torch.Tensor = (out - batch["target"]).abs().mean() + tv * _smoothness(basis)
        if isinstance(net, RegradeNet) and "inv_graded" in batch:
            err = err + self.inverse_loss(
                net,
                batch["inv_graded"].flatten(0, 1),
                batch["inv_clean"].flatten(0, 1),
                batch["inv_grades"].flatten(0, 1),
            )
        return err

    def inverse_loss(
        self, net: RegradeNet, graded: torch.Tensor, clean: torch.Tensor, grades: torch.Tensor
    ) -> torch.Tensor:
        """The no-reference part's training step on thumbnails (N,3,h,w) under known grade errors (N,5):
        learn the show's look from the clean ones (engine.heads.regrade_inverse.InverseGrade.learn_look),
        then the loss of the predicted inverse on the first INVERSE_LOSS_THUMBS (the fit to the look costs
        about 12 ms of CPU per thumbnail)."""
        if net.training:
            net.inverse.learn_look(clean)
        k = INVERSE_LOSS_THUMBS
        return inverse_loss(net.grade_params(graded[:k]), graded[:k], clean[:k], grades[:k])

    def predict_lut(
        self,
        net: torch.nn.Module,
        frame: np.ndarray,
        reference: np.ndarray | None = None,
        inverse: bool = True,
    ) -> np.ndarray:
        """The LUT (S,S,S,3, indexed [r,g,b]) that fixes `frame`, optionally towards `reference`
        (`inverse`: with no reference, start from the learned inverse of the grade error)."""
        if not isinstance(net, RegradeNet):
            raise HeadError("the regrade head needs a RegradeNet; rebuild the model with this head")
        device = net_device(net)
        small = thumbnail(frame)
        ref = thumbnail(reference) if reference is not None else np.zeros((THUMB, THUMB, 3), np.float32)
        size = int(net.basis.shape[1])
        thumb = torch.from_numpy(chw(small))[None].to(device)
        ref_t = torch.from_numpy(chw(ref))[None].to(device)
        base = torch.from_numpy(base_lut(frame, reference, size))[None].to(device)
        with torch.no_grad():
            out = net.lut(thumb, ref_t, base, inverse)[0]
        return np.clip(out.float().cpu().numpy(), 0, 1).astype(np.float32)

    def evaluate(
        self,
        net: torch.nn.Module,
        clips: list[np.ndarray],
        rng: np.random.Generator,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, float]:
        """Perturb held-out frames, restore them given another frame of the clip as reference
        (`reference_offset` frames away, at most half the clip). "psnr_base" is the head's classical base
        alone (the matched grade), to measure the learned part against. `options["grades"]`: "synthetic"
        (default, engine.degrade.regrade) or "production" (engine.degrade.production)."""
        opts = {**self.default_config(), **(options or {})}
        production = opts.get("grades", "synthetic") == "production"
        scores = score_sheet(
            "psnr", "ssim", "psnr_reinhard", "psnr_histogram", "psnr_base", "psnr_input", "psnr_no_reference"
        )
        for clip in clips:
            offset = max(1, min(int(opts["reference_offset"]), len(clip) // 2))
            for t in eval_indices(len(clip), int(opts["eval_frames"])):
                truth = as_float(clip[t])
                r = t + offset if t + offset < len(clip) else max(t - offset, 0)
                ref = as_float(clip[r])
                graded = grade_error(rng, production)[0](truth[None])[0]
                out = luts.apply_lut(graded, self.predict_lut(net, graded, ref))
                scores["psnr"].append(psnr(out, truth))
                scores["ssim"].append(ssim(out, truth))
                scores["psnr_no_reference"].append(
                    psnr(luts.apply_lut(graded, self.predict_lut(net, graded)), truth)
                )
                scores["psnr_base"].append(psnr(color.matched_grade(graded, ref), truth))
                scores["psnr_reinhard"].append(psnr(color.reinhard(graded, ref), truth))
                scores["psnr_histogram"].append(psnr(color.histogram_match(graded, ref), truth))
                scores["psnr_input"].append(psnr(graded, truth))
        return summarize(self, scores, "regrade evaluation needs at least one held-out frame")

    def run_params(self, params: Mapping[str, Any], metrics: Mapping[str, float]) -> dict[str, Any]:
        """Without a reference, use the learned inverse of the grade error only where it restored the
        held-out frames better than leaving them alone (`psnr_no_reference` over `psnr_input`)."""
        out = dict(params)
        if "inverse" not in out and "psnr_no_reference" in metrics and "psnr_input" in metrics:
            out["inverse"] = metrics["psnr_no_reference"] - metrics["psnr_input"] >= MIN_INVERSE_GAIN_DB
        return out

    def apply(
        self,
        net: torch.nn.Module,
        frames: Iterable[NumberedFrame],
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[NumberedFrame]:
        return self._stream(net, frames, params, lambda _lut: None)

    def fix(
        self,
        net: torch.nn.Module,
        frames: Iterable[Any],
        params: Mapping[str, Any] | None = None,
    ) -> FixRun:
        """apply(), with the first LUT it applied as `outputs.lut`."""
        first: list[np.ndarray] = []

        def keep(lut: np.ndarray) -> None:
            if not first:
                first.append(lut)

        return FixRun(
            self._stream(net, frames, params, keep), lambda: FixOutputs(lut=first[0] if first else None)
        )

    def _stream(
        self,
        net: torch.nn.Module,
        frames: Iterable[NumberedFrame],
        params: Mapping[str, Any] | None,
        on_lut: Callable[[np.ndarray], None],
    ) -> Iterator[NumberedFrame]:
        """Checks `params` now, then streams (a generator) with `on_lut` told every LUT it predicts."""
        params = dict(params or {})
        source = params.get("source", "first")
        if source not in ("first", "each"):
            raise HeadError(f"regrade source {source!r} must be 'first' (one LUT per shot) or 'each'")
        reference = params.get("reference")
        ref = as_float(np.asarray(reference)) if reference is not None else None
        if ref is not None and (ref.ndim != 3 or ref.shape[2] != 3):
            raise HeadError(f"the regrade reference must be an RGB frame (H, W, 3), got shape {ref.shape}")
        inverse = bool(params.get("inverse", True))
        apart = params.get("reference_frame")  # a frame of the shot as the reference: not the one fitted on
        precise = bool(params.get("precise", False))
        return self._apply(net, frames, ref, source, precise, on_lut, inverse, apart)

    def _apply(
        self,
        net: torch.nn.Module,
        frames: Iterable[NumberedFrame],
        ref: np.ndarray | None,
        source: str,
        precise: bool,
        on_lut: Callable[[np.ndarray], None],
        inverse: bool = True,
        apart: int | None = None,
    ) -> Iterator[NumberedFrame]:
        """The frames graded, a generator: "first", by the shot's one grade, fitted on the frame of middle
        brightness among its first HEAD_FRAMES but frame `apart` (the reference's own, when it is a frame of the
        shot: fitted on it, the grade would change nothing); "each", by a LUT predicted from each frame."""
        lut: np.ndarray | None = None
        baked: np.ndarray | None = None
        frames = iter(frames)
        head = list(islice(frames, HEAD_FRAMES)) if source == "first" else []
        if head:  # fitted on a frame its head's slate, flash or black cannot be
            fitted = [f for n, f in head if n != apart] or [f for _, f in head]
            lut = self.predict_lut(net, fitted[middle_brightness(fitted)], ref, inverse)
            baked = None if precise else luts.bake_u8(lut)
            on_lut(lut)
        for number, frame in chain(head, frames):
            if lut is None or source == "each":
                lut = self.predict_lut(net, frame, ref, inverse)
                baked = None if precise else luts.bake_u8(lut)
                on_lut(lut)
            if baked is not None:
                u8 = frame if frame.dtype == np.uint8 else (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)
                yield number, np.multiply(luts.apply_baked(u8, baked), np.float32(1 / 255), dtype=np.float32)
            else:
                yield number, luts.apply_lut_deep(as_float(frame), lut)
