"""Show model versions: ShowModel (nets of every head), folders of safetensors + manifest, promotion.

The names load on first use (PEP 562), so that `from engine.model import load_manifest` reads and checks
manifests without importing torch (the nets) or OpenCV (the promotion's fallback tools): `rushes model list`
and `rushes model show` start in well under a second.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.model.classical import cannot_stand_in, classical_note, classical_version
    from engine.model.manifest import ClipRecord, Manifest, code_version
    from engine.model.promotion import (
        HeadVerdict,
        Promotion,
        decide,
        fallback_note,
        head_source,
        promotable,
    )
    from engine.model.show import ShowModel
    from engine.model.version import (
        ModelError,
        ModelOutdated,
        ModelVersion,
        load_manifest,
        load_model,
        save_model,
        sha256_file,
        verify_version,
        version_number,
    )

_WHERE = {
    "cannot_stand_in": "classical",
    "classical_note": "classical",
    "classical_version": "classical",
    "ClipRecord": "manifest",
    "Manifest": "manifest",
    "code_version": "manifest",
    "HeadVerdict": "promotion",
    "Promotion": "promotion",
    "decide": "promotion",
    "fallback_note": "promotion",
    "head_source": "promotion",
    "promotable": "promotion",
    "ShowModel": "show",
    "ModelError": "version",
    "ModelOutdated": "version",
    "ModelVersion": "version",
    "load_manifest": "version",
    "load_model": "version",
    "save_model": "version",
    "sha256_file": "version",
    "verify_version": "version",
    "version_number": "version",
}

__all__ = [
    "ClipRecord",
    "HeadVerdict",
    "Manifest",
    "ModelError",
    "ModelOutdated",
    "ModelVersion",
    "Promotion",
    "ShowModel",
    "cannot_stand_in",
    "classical_note",
    "classical_version",
    "code_version",
    "decide",
    "fallback_note",
    "head_source",
    "load_manifest",
    "load_model",
    "promotable",
    "save_model",
    "sha256_file",
    "verify_version",
    "version_number",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'engine.model' has no attribute {name!r}")
    value = getattr(import_module(f"engine.model.{module}"), name)
    globals()[name] = value
    return value
