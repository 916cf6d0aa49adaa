"""Upscale at the footage's own size: the head's net plain and fine-tuned on the shot (`adapt`), per clip.

    .venv/bin/python bench/upscale_study.py --footage ../shared/footage --variant head --protocol clips \
        --cpu-seconds 300 --resolution 256 --save /tmp/up256.pt      # the net as show runs train it (256p)
    .venv/bin/python bench/upscale_native.py --footage ../shared/footage --net 256p=/tmp/up256.pt \
        [--net 720p=/tmp/up720.pt] --resolution 256,720

Show runs train at 256p (TrainOptions.resolution) and the benchmarks score there, but fixes run at the
footage's own size. For each clip of camera/, cg/ and davis/ (decoded at each --resolution short side, never
upscaled: at 720 every clip is at its own size), five frames spread over the clip are the truth; each is
box-downscaled 2x (the head's degradation) and upscaled by Lanczos, bicubic, each --net as trained (`plain`)
and that net fine-tuned for --steps on the five low-resolution frames as a fix does (`adapt`: the head's
adapt(), truth never seen). PSNR over RGB with 4 output pixels cut from every side; margins are over the best
of Lanczos/bicubic. The clips bench/quality.py holds out with seed 0 (03_blocks, tears_of_steel) and davis/
were never trained on; the others were, at 256p. Writes bench/out/upscale_native.json and .md.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, machine, md_table, write_json
from upscale_study import HELD, load

from engine.baselines.restore import downscale, upscale_bicubic, upscale_lanczos
from engine.heads import get_head
from engine.metrics import psnr

INNER = np.s_[4:-4, 4:-4]


@dataclass
class Row:
    clip: str
    resolution: int
    size: str  # the frames' own size at this resolution, W x H
    seen: bool  # trained on (at 256p) by the --net runs
    net: str
    lanczos: float
    bicubic: float
    plain: float
    adapt: float

    @property
    def best(self) -> float:
        return max(self.lanczos, self.bicubic)


def davis(footage: Path, resolution: int) -> dict[str, np.ndarray]:
    """davis/<name> frame folders (not the *_mask ones), area-downscaled so the short side is at most
    `resolution`."""
    out = {}
    for folder in sorted(
        p for p in (footage / "davis").iterdir() if p.is_dir() and not p.name.endswith("_mask")
    ):
        frames = np.stack([cv2.imread(str(f))[:, :, ::-1] for f in sorted(folder.iterdir())])
        short = min(frames.shape[1:3])
        if short > resolution:
            s = resolution / short
            size = (round(frames.shape[2] * s), round(frames.shape[1] * s))
            frames = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
        out[f"davis/{folder.name}"] = frames
    return out


def upscale(net: torch.nn.Module, lr: np.ndarray) -> np.ndarray:
    head = get_head("upscale")
    with torch.no_grad():
        y = head.forward(net, torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1)))[None])  # type: ignore[attr-defined]
    return np.clip(y[0].numpy().transpose(1, 2, 0), 0.0, 1.0)


def score(clip: str, frames: np.ndarray, resolution: int, tag: str, net: torch.nn.Module, steps: int) -> Row:
    head = get_head("upscale")
    h, w = frames.shape[1] // 4 * 4, frames.shape[2] // 4 * 4  # the low-resolution frame keeps an even size
    idx = np.linspace(0, len(frames) - 1, 5).round().astype(int)
    hrs = [frames[t, :h, :w].astype(np.float32) / 255.0 for t in idx]
    lrs = [downscale(hr, 2, "area") for hr in hrs]
    tuned = head.adapt(net, lrs, steps)  # type: ignore[attr-defined]

    def mean(make: object) -> float:
        return float(np.mean([psnr(make(lr)[INNER], hr[INNER]) for lr, hr in zip(lrs, hrs, strict=True)]))  # type: ignore[operator]

    return Row(
        clip=clip,
        resolution=resolution,
        size=f"{w}x{h}",
        seen=not any(k in clip for k in HELD) and not clip.startswith("davis/"),
        net=tag,
        lanczos=mean(upscale_lanczos),
        bicubic=mean(upscale_bicubic),
        plain=mean(lambda lr: upscale(net, lr)),
        adapt=mean(lambda lr: upscale(tuned, lr)),
    )


def report(rows: list[Row], steps: int) -> str:
    table = md_table(
        [
            "clip",
            "res",
            "size",
            "trained on",
            "net",
            "plain over best",
            f"adapt{steps} over best",
            "adapt - plain",
        ],
        [
            (
                r.clip,
                r.resolution,
                r.size,
                "yes" if r.seen else "no",
                r.net,
                r.plain - r.best,
                r.adapt - r.best,
                r.adapt - r.plain,
            )
            for r in rows
        ],
    )
    means = []
    for res in sorted({r.resolution for r in rows}):
        for tag in sorted({r.net for r in rows}):
            for seen in (False, True):
                sel = [r for r in rows if r.resolution == res and r.net == tag and r.seen == seen]
                if sel:
                    means.append(
                        (
                            res,
                            tag,
                            "yes" if seen else "no",
                            len(sel),
                            float(np.mean([r.plain - r.best for r in sel])),
                            float(np.mean([r.adapt - r.best for r in sel])),
                            float(min(r.adapt - r.plain for r in sel)),
                        )
                    )
    summary = md_table(
        ["res", "net", "trained on", "clips", "plain over best", "adapt over best", "worst adapt - plain"],
        means,
    )
    return f"# Upscale at the footage's own size\n\n{table}\n\nMeans:\n\n{summary}\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument(
        "--net", action="append", required=True, help="TAG=PATH of a head net (upscale_study --save)"
    )
    ap.add_argument("--resolution", default="256,720", help="comma list of short sides")
    ap.add_argument("--steps", type=int, default=100, help="fine-tuning steps on the shot (the head's adapt)")
    ap.add_argument("--frames", type=int, default=90)
    args = ap.parse_args()
    torch.set_num_threads(1)
    head = get_head("upscale")
    nets = {}
    for spec in args.net:
        tag, _, path = spec.partition("=")
        net = head.build({**head.default_config(), "adapt": 0})
        net.load_state_dict({**torch.load(path, weights_only=True), "adapt_steps": torch.tensor(0)})
        nets[tag] = net.eval()
    rows: list[Row] = []
    start = time.monotonic()
    for res in (int(r) for r in args.resolution.split(",")):
        clips = {**load(args.footage, res, args.frames), **davis(args.footage, res)}
        for name, frames in clips.items():
            for tag, net in nets.items():
                rows.append(score(name, frames, res, tag, net, args.steps))
                r = rows[-1]
                print(
                    f"{res} {tag} {name}: plain {r.plain - r.best:+.2f}, adapt {r.adapt - r.best:+.2f} dB over best",
                    flush=True,
                )
    data = {
        "args": vars(args),
        "machine": machine(),
        "wall_s": time.monotonic() - start,
        "rows": [asdict(r) for r in rows],
    }
    write_json(OUT / "upscale_native.json", data)
    (OUT / "upscale_native.md").write_text(report(rows, args.steps))
    print(report(rows, args.steps))


if __name__ == "__main__":
    main()
