"""A model version is a folder: weights.safetensors (every head's tensors) + manifest.json.

Loading never unpickles anything: the weight file must be safetensors and match the sha256 in the manifest,
and the manifest must match its seal (engine.model.seal), chained to its parent's: any edit is refused with
a one-line ModelError. `verify_version` runs every check without loading tensors (for `rushes model show`).
Reading and checking a version imports no torch: the nets and safetensors' torch side load in `load_model` and
`save_model` only, so listing and showing versions start fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from safetensors import SafetensorError

from engine.model.manifest import FORMAT_VERSION, Manifest
from engine.model.seal import SealError, check_seal, sealed

if TYPE_CHECKING:  # torch: only where tensors are loaded or saved
    import torch

    from engine.model.show import ShowModel

WEIGHTS = "weights.safetensors"
MANIFEST = "manifest.json"
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin")


class ModelError(Exception):
    """A model folder cannot be used (missing, tampered, not safetensors, wrong format)."""


class ModelOutdated(ModelError):
    """A version an older Rushes made, which this one cannot use: its manifest has no seal (and none was recorded
    when it was trained), or its weights are of other heads. Nothing in it is trusted; a new version is trained
    without it, and a fix meanwhile takes the classical stand-in (engine.model.classical)."""


@dataclass
class ModelVersion:
    folder: Path
    manifest: Manifest
    model: ShowModel

    @property
    def version(self) -> str:
        return self.manifest.version


def version_number(text: str) -> int:
    """The number of a version as a user writes it: `v3` (as `rushes model list` prints it) or `3`."""
    found = re.fullmatch(r"[vV]?(\d{1,9})", text.strip())
    if found is None:
        raise ModelError(f"{text!r} is not a version: write it as v3 or 3 (see `rushes model list`)")
    return int(found.group(1))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_tensors(
    tensors: Mapping[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None
) -> None:
    """A safetensors file written through open(), so that it takes the process's umask as every other file Rushes
    writes: safetensors' save_file makes its files 0600 whatever the umask, and a render node or an artist in the
    daemon's group could not read the weights (docs/operations.md, "File modes")."""
    from safetensors.torch import save

    data = save(dict(tensors), metadata=metadata)
    with path.open("wb") as fh:
        fh.write(data)


def save_model(folder: str | Path, model: ShowModel, manifest: Manifest) -> ModelVersion:
    """Write weights then manifest (each atomically); the manifest records the weights' sha256."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (WEIGHTS + ".tmp")
    weights = {k: v.contiguous() for k, v in model.state_dict().items()}  # safetensors stores row-major only
    save_tensors(weights, tmp, metadata={"format": "rushes-show-model"})
    os.replace(tmp, out / WEIGHTS)
    manifest = manifest.model_copy(
        update={
            "weights_sha256": sha256_file(out / WEIGHTS),
            "heads": list(model.nets),
            "config": {**manifest.config, "heads": model.configs},
        }
    )
    if manifest.parent and not manifest.parent_seal:
        manifest = manifest.model_copy(update={"parent_seal": _sibling_seal(out, manifest.parent)})
    data = sealed(manifest.model_dump(mode="json"))
    tmp_m = out / (MANIFEST + ".tmp")
    tmp_m.write_text(json.dumps(data, indent=2))
    os.replace(tmp_m, out / MANIFEST)
    return ModelVersion(out, Manifest.model_validate(data), model)


def _sibling_seal(folder: Path, parent: str) -> str:
    """The seal of the parent version when it sits beside `folder` (models/SHOW/v1, v2 ...), else ""."""
    try:
        return str(_read_sealed(folder.parent / parent).get("seal", ""))
    except ModelError:
        return ""


def _check_safetensors(path: Path) -> None:
    with path.open("rb") as fh:
        head = fh.read(9)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise ModelError(
            f"{path} is a pickle (torch.save) file, not safetensors; re-export it with safetensors"
        )
    if len(head) < 9 or head[8:9] != b"{" or struct.unpack("<Q", head[:8])[0] > path.stat().st_size:
        raise ModelError(f"{path} is not a safetensors file; re-export the model with safetensors")


def _no_constant(name: str) -> Any:
    """NaN and Infinity, which Python's json reads but no manifest Rushes writes holds (its seal refuses them)."""
    raise ValueError(f"{name} is not a JSON number")


def _read_sealed(folder: Path) -> dict[str, Any]:
    """manifest.json of `folder` as stored, checked against its seal."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ModelError(f"{folder} is not a model version: it has no {MANIFEST}")
    try:
        data = json.loads(path.read_text(), parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(
            f"{path} is not valid JSON ({str(exc).splitlines()[0]}); restore it or retrain"
        ) from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a model manifest (not a JSON object); restore it or retrain")
    if "seal" not in data:
        raise ModelOutdated(
            f"{path} is refused: it has no seal, so a Rushes older than this one made it (or the seal was "
            "deleted), and this one cannot use it: train a new version, which starts without it"
        )
    try:
        check_seal(data)
    except SealError as exc:
        raise ModelError(f"{path} is refused: {exc}; restore it or retrain") from None
    return data


def _check_chain(folder: Path, manifest: Manifest) -> None:
    """Each ancestor beside `folder` still has the seal its child recorded (stops where a folder is gone)."""
    seen = {folder.name}
    child = manifest
    while child.parent and child.parent_seal and child.parent not in seen:
        seen.add(child.parent)
        parent_folder = folder.parent / child.parent
        if not (parent_folder / MANIFEST).is_file():
            return
        data = _read_sealed(parent_folder)
        if data.get("seal") != child.parent_seal:
            raise ModelError(
                f"{parent_folder / MANIFEST} is refused: it was re-sealed after {child.version} was trained "
                "from it (the lineage's hash chain is broken); restore it or retrain"
            )
        child = _validated(parent_folder, data)


def _validated(folder: Path, data: dict[str, Any]) -> Manifest:
    path = folder / MANIFEST
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ModelError(f"{path} is not a valid model manifest ({str(exc).splitlines()[0]})") from None
    if manifest.format_version > FORMAT_VERSION:
        raise ModelError(
            f"{path} has format version {manifest.format_version}; this build reads up to {FORMAT_VERSION}, upgrade rushes"
        )
    return manifest


def load_manifest(folder: str | Path) -> Manifest:
    """The manifest of a model version, refused (ModelError, one line) unless it matches its seal."""
    base = Path(folder)
    return _validated(base, _read_sealed(base))


def verify_version(folder: str | Path, expected_seal: str | None = None) -> Manifest:
    """Every check load_model makes, without loading tensors: no pickles, a sealed manifest whose lineage
    chain holds, safetensors weights matching the manifest's sha256. `expected_seal`: the seal recorded
    elsewhere (the catalog) when the version was made; a manifest edited and re-sealed since differs from it.
    Returns the manifest."""
    base = Path(folder)
    if not base.is_dir():
        raise ModelError(f"model folder {base} does not exist")
    pickles = sorted(p.name for p in base.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise ModelError(
            f"model folder {base} holds pickle files {pickles}; only safetensors weights are loaded"
        )
    try:
        manifest = load_manifest(base)
    except ModelOutdated:
        if not expected_seal:
            raise
        raise ModelError(  # sealed when it was trained: the seal was deleted since
            f"{base / MANIFEST} is refused: it has no seal, yet it had one when it was trained (the seal was "
            "deleted); restore it or retrain"
        ) from None
    if expected_seal and manifest.seal != expected_seal:
        raise ModelError(
            f"{base / MANIFEST} is refused: its seal is not the one recorded when it was trained (it was edited "
            "and re-sealed); restore it or retrain"
        )
    _check_chain(base, manifest)
    weights = base / WEIGHTS
    if not weights.is_file():
        raise ModelError(f"model folder {base} has no {WEIGHTS}")
    _check_safetensors(weights)
    if not manifest.weights_sha256 or sha256_file(weights) != manifest.weights_sha256:
        raise ModelError(
            f"{weights} does not match the sha256 in its manifest (tampered or corrupt); retrain or restore it"
        )
    return manifest


def load_model(folder: str | Path, device: str = "cpu", expected_seal: str | None = None) -> ModelVersion:
    """Load a model version folder, refusing pickles, any edit to its manifest (verify_version) and any weight
    file whose sha256 does not match."""
    from safetensors.torch import load_file

    from engine.model.show import ShowModel

    base = Path(folder)
    manifest = verify_version(base, expected_seal)
    weights = base / WEIGHTS
    try:
        tensors = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{weights} cannot be read as safetensors ({exc})") from None
    configs = manifest.config.get("heads", {})
    model = ShowModel.fresh(manifest.heads, configs)
    try:
        model.load_state(tensors)
    except RuntimeError as exc:
        raise ModelOutdated(
            f"{weights} does not fit this build's heads ({str(exc).splitlines()[0][:160]}): it was trained "
            "by another Rushes version; train a new version (`rushes train`), which starts without it"
        ) from None
    return ModelVersion(base, manifest, model.to(device).eval())
