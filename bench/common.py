"""Shared by the show-model benchmarks: footage discovery, real masks, reports (JSON + markdown), PNG crops."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from engine.train import TrainClip, split_holdout
from engine.train.corpus import corpus_clips, declared_corpus
from engine.train.dataset import load_clip
from engine.train.precision import native_bf16

OUT = Path(__file__).resolve().parent / "out"

# Goals of issue 4: (the baselines whose best the margin is taken against, dB over it).
GOALS: dict[str, tuple[tuple[str, ...], float]] = {
    "interpolate": (("minterpolate", "dis"), 1.0),
    "regrade": (("reinhard", "histogram"), 3.0),
    "upscale": (("lanczos",), 3.0),
    "denoise": (("nlmeans", "nlmeans_multi"), 4.0),
    "cleanup": (("telea",), 3.0),
}


def footage_clips(footage: Path, folders: Sequence[str] = ("camera", "cg")) -> list[Path]:
    clips: list[Path] = []
    for folder in folders:
        clips += sorted((footage / folder).glob("*.mp4"))
    if not clips:
        raise SystemExit(
            f"no clips under {footage}/{{{','.join(folders)}}}: pass --footage ../shared/footage"
        )
    return clips


def held_out_shots(
    footage: Path, mode: str, cache: Path, resolution: int, frames: int, holdout: float, seed: int
) -> list[tuple[str, np.ndarray]]:
    """(name, frames) of every held-out shot of `mode` ("clips" or "tails"), in split order: the footage of
    footage_clips held out as a show run does (engine.train.dataset.split_holdout), decoded through `cache`."""
    clips = [TrainClip(id=f"{p.parent.name}/{p.name}", path=p) for p in footage_clips(footage)]
    loaded = [load_clip(c, resolution, cache, frames) for c in clips]
    split = split_holdout(loaded, holdout, seed, mode=mode)
    names = [f"{r.id}#{k}" for r in split.holdout_records for k in range(len(r.cuts) + 1)]
    return list(zip(names, split.holdout, strict=True))


def sequence_clips(footage: Path, size: int, cache: Path, frames: int, declaration: str) -> list[TrainClip]:
    """The frame sequences of davis/ (not its *_mask folders) as base corpus clips: footage that neither
    protocol scores (the show runs train and score camera/ and cg/ only), so all of it can go to the base."""
    corpus = declared_corpus([footage / "davis"], declaration)
    seqs = [c for c in corpus_clips(corpus) if not Path(c.id).parent.name.endswith("_mask")]
    return [
        TrainClip(
            id=f"davis/{Path(c.id).parent.name}", frames=np.asarray(load_clip(c, size, cache, frames).frames)
        )
        for c in seqs
    ]


DEGRADATIONS = ("synthetic", "production")
DEGRADATIONS_HELP = (
    "production: score regrade on on-set grade errors (clipped highlights, far white balance, gamma) and "
    "denoise on signal-dependent grain through 4:2:0 coding (engine.degrade.production), the degradations of "
    "issue 10's point 6; synthetic: the gentler exposure / white balance / contrast grades and sigma-15 noise"
)


def eval_options(masks: list[np.ndarray], degradations: str) -> dict[str, dict[str, Any]]:
    """Per-head evaluate() options: real masks for cleanup; production-like degradations when asked."""
    opts: dict[str, dict[str, Any]] = {"cleanup": {"masks": masks}} if masks else {}
    if degradations == "production":
        opts["regrade"] = {"grades": "production"}
        opts["denoise"] = {"noise": "grain"}
    return opts


def davis_masks(footage: Path) -> list[np.ndarray]:
    """Every davis/*_mask folder as a T,H,W bool sequence (real object shapes, white = object)."""
    seqs = []
    for folder in sorted((footage / "davis").glob("*_mask")):
        frames: list[np.ndarray] = []
        for p in sorted(folder.glob("*.png")):
            img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
            if img is not None:
                frames.append(np.asarray(img))
        if frames:
            seqs.append(np.stack(frames) > 127)
    return seqs


def timed_ray_workers() -> None:
    """Ray starts its worker processes at nice 15 (`RAY_worker_niceness`), so that a driver on the same node
    keeps priority; a timed bench runs its Ray workers at normal priority like every timed run here, or
    niced work elsewhere on the box takes most of their CPU (a niced process weighs 15 against a nice-15
    worker's 36, against 1024 at normal priority). Call before the bench starts its Ray nodes."""
    os.environ["RAY_worker_niceness"] = "0"  # noqa: SIM112  (Ray reads it by this name)


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()),
        "platform": platform.platform(),
        "torch": torch.__version__,
        # CPU training of the heads that allow it runs in bfloat16 (engine.train.precision); JSON written before
        # 2026-12-04 has `amx_bf16` instead, the same question asked of AMX alone
        "native_bf16": native_bf16(),
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str))


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def save_strip(path: Path, images: dict[str, np.ndarray], crop: int = 160) -> None:
    """Same-place crops of named images side by side (labelled), centred where "input" differs most from
    "truth" (the hole of a cleanup, the busiest edges of an upscale), else at the frame's centre."""
    first = next(iter(images.values()))
    h, w = first.shape[:2]
    c = min(crop, h, w)
    cy, cx = h // 2, w // 2
    if "input" in images and "truth" in images and images["input"].shape == images["truth"].shape:
        diff = np.abs(images["input"] - images["truth"]).mean(axis=2).astype(np.float32)
        diff = cv2.blur(diff, (31, 31))
        cy, cx = np.unravel_index(int(np.argmax(diff)), diff.shape)
    y = int(min(max(cy - c // 2, 0), h - c))
    x = int(min(max(cx - c // 2, 0), w - c))
    tiles = []
    for name, img in images.items():
        if img.shape[:2] != (h, w):
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_NEAREST)
        small = np.clip(img[y : y + c, x : x + c] * 255 + 0.5, 0, 255).astype(np.uint8)
        big = cv2.resize(small, (c * 2, c * 2), interpolation=cv2.INTER_NEAREST)
        tile = np.ascontiguousarray(np.asarray(big)[..., ::-1])
        cv2.putText(tile, name, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3)
        cv2.putText(tile, name, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
        tiles.append(tile)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(tiles, 1))
