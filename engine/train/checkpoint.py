"""Training checkpoints without pickles: weights and optimizer tensors in safetensors, the rest in JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch.optim.swa_utils import AveragedModel

from engine.model.show import ShowModel
from engine.model.version import save_tensors
from engine.train.averaging import average_tensors, load_averages

WEIGHTS = "weights.safetensors"
OPTIM = "optimizer.safetensors"
AVERAGES = "averages.safetensors"  # the heads' running weight averages (engine.train.averaging)
STRETCHES = "stretches.safetensors"  # the weights the head in hand's best stretch started from (engine.train.fallback)
STATE = "state.json"


@dataclass
class HeadProgress:
    step: int = 0
    elapsed: float = 0.0
    done: bool = False
    rng: dict[str, Any] = field(default_factory=dict)  # numpy bit_generator.state
    losses: list[float] = field(default_factory=list)  # running loss every `loss_every` steps
    norms: list[float] = field(default_factory=list)  # the last steps' gradient norms (engine.train.clipping)
    clipped: int = 0  # steps whose gradient was scaled down to its limit (engine.train.clipping)
    skipped: int = 0  # steps not taken: their gradient was not finite


Weights = dict[str, torch.Tensor]  # a net's state_dict


class CheckpointError(Exception):
    """A checkpoint file that cannot be read: cut short (a full disk, a copy), emptied or edited by hand."""


def unreadable(path: Path, exc: BaseException) -> CheckpointError:
    said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return CheckpointError(f"checkpoint file {path} cannot be read ({said})")


def read_json(path: Path) -> Any:
    """A JSON file of the checkpoint folder; CheckpointError (one line, naming it) when it cannot be read."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise unreadable(path, exc) from None


def _tensors(path: Path) -> Weights:
    try:
        return load_file(str(path))
    except (OSError, ValueError, SafetensorError) as exc:
        raise unreadable(path, exc) from None


@dataclass
class CheckpointState:
    seed: int
    heads: list[str]
    progress: dict[str, HeadProgress]
    extra: dict[str, Any] = field(default_factory=dict)
    # by head in training, by role ("kept": its best stretch's start, "opening": the stretch in hand's start)
    stretches: dict[str, dict[str, Weights]] = field(default_factory=dict)


def _flatten_stretches(stretches: Mapping[str, Mapping[str, Weights]]) -> Weights:
    return {
        f"{head}:{role}:{key}": value.detach().cpu().contiguous()
        for head, roles in stretches.items()
        for role, weights in roles.items()
        for key, value in weights.items()
    }


def _unflatten_stretches(tensors: Mapping[str, torch.Tensor]) -> dict[str, dict[str, Weights]]:
    out: dict[str, dict[str, Weights]] = {}
    for name, value in tensors.items():
        head, role, key = name.split(":", 2)
        out.setdefault(head, {}).setdefault(role, {})[key] = value
    return out


def _flatten_optim(
    optims: Mapping[str, torch.optim.Optimizer],
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    for head, opt in optims.items():
        sd = opt.state_dict()
        for idx, state in sd["state"].items():
            for key, value in state.items():
                t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
                tensors[f"{head}.{idx}.{key}"] = t.detach().cpu().contiguous()
        meta[head] = sd["param_groups"]
    return tensors, meta


def _unflatten_optim(
    tensors: dict[str, torch.Tensor], head: str, groups: list[dict[str, Any]]
) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    prefix = f"{head}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, name = key[len(prefix) :].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": groups}


def save_checkpoint(
    folder: Path,
    model: ShowModel,
    optims: Mapping[str, torch.optim.Optimizer],
    state: CheckpointState,
    averages: Mapping[str, AveragedModel] | None = None,
) -> None:
    """Write the checkpoint atomically (state.json last, so a half-written checkpoint is never read)."""
    folder.mkdir(parents=True, exist_ok=True)
    opt_tensors, groups = _flatten_optim(optims)
    weights = {k: v.contiguous() for k, v in model.state_dict().items()}  # a net mid-head is channels-last
    save_tensors(weights, folder / (WEIGHTS + ".tmp"))
    save_tensors(opt_tensors, folder / (OPTIM + ".tmp"))
    save_tensors(average_tensors(averages or {}), folder / (AVERAGES + ".tmp"))
    save_tensors(_flatten_stretches(state.stretches), folder / (STRETCHES + ".tmp"))
    payload = {
        "seed": state.seed,
        "heads": state.heads,
        "progress": {h: vars(p) for h, p in state.progress.items()},
        "param_groups": groups,
        "extra": state.extra,
    }
    (folder / (STATE + ".tmp")).write_text(json.dumps(payload))
    os.replace(folder / (WEIGHTS + ".tmp"), folder / WEIGHTS)
    os.replace(folder / (OPTIM + ".tmp"), folder / OPTIM)
    os.replace(folder / (AVERAGES + ".tmp"), folder / AVERAGES)
    os.replace(folder / (STRETCHES + ".tmp"), folder / STRETCHES)
    os.replace(folder / (STATE + ".tmp"), folder / STATE)


def check_checkpoint(folder: Path) -> None:
    """Check every file of the checkpoint in `folder` (when there is one) before a run resumes from it: its state
    read, each tensor file's header against the file's length (a file cut short or emptied fails there; the
    tensors are read once, when the run loads them); CheckpointError naming the first that cannot be read."""
    if not (folder / STATE).is_file():
        return
    read_json(folder / STATE)
    for name in (WEIGHTS, OPTIM, AVERAGES, STRETCHES):
        path = folder / name
        if path.is_file() or name in (WEIGHTS, OPTIM):
            try:
                with safe_open(str(path), "pt"):
                    pass
            except (OSError, SafetensorError) as exc:
                raise unreadable(path, exc) from None


def load_checkpoint(
    folder: Path,
    model: ShowModel,
    optims: Mapping[str, torch.optim.Optimizer],
    seed: int,
    averages: Mapping[str, AveragedModel] | None = None,
) -> CheckpointState | None:
    """Restore weights, optimizer state and weight averages in place; None when there is no checkpoint of
    this run (same heads, same seed). A checkpoint written before averages (or stretches) were kept resumes
    with fresh ones."""
    if not (folder / STATE).is_file():
        return None
    payload = read_json(folder / STATE)
    try:
        if sorted(payload["heads"]) != sorted(model.heads) or payload["seed"] != seed:
            return None
        model.load_state(_tensors(folder / WEIGHTS))
        opt_tensors = _tensors(folder / OPTIM)
        for head, opt in optims.items():
            opt.load_state_dict(_unflatten_optim(opt_tensors, head, payload["param_groups"][head]))
        if averages and (folder / AVERAGES).is_file():
            load_averages(averages, _tensors(folder / AVERAGES))
        known = {f.name for f in fields(HeadProgress)}  # a field a later Rushes added is left to it
        progress = {
            h: HeadProgress(**{k: v for k, v in p.items() if k in known})
            for h, p in payload["progress"].items()
        }
        stretches = (
            _unflatten_stretches(_tensors(folder / STRETCHES)) if (folder / STRETCHES).is_file() else {}
        )
    except (
        torch.OutOfMemoryError,
        torch.AcceleratorError,
    ):  # the device's trouble, not the checkpoint's: kept
        raise
    except (KeyError, TypeError, AttributeError, ValueError, RuntimeError) as exc:  # edited, or another net's
        raise CheckpointError(f"the checkpoint in {folder} does not fit this run's nets ({exc})") from None
    return CheckpointState(payload["seed"], payload["heads"], progress, payload.get("extra", {}), stretches)
