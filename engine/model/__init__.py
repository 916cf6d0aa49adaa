"""Show model versions: ShowModel (nets of every head), folders of safetensors + manifest, promotion."""

from engine.model.manifest import ClipRecord, Manifest, code_version
from engine.model.promotion import promotable
from engine.model.show import ShowModel
from engine.model.version import (
    ModelError,
    ModelVersion,
    load_manifest,
    load_model,
    save_model,
    sha256_file,
    verify_version,
)

__all__ = [
    "ClipRecord",
    "Manifest",
    "ModelError",
    "ModelVersion",
    "ShowModel",
    "code_version",
    "load_manifest",
    "load_model",
    "promotable",
    "save_model",
    "sha256_file",
    "verify_version",
]
