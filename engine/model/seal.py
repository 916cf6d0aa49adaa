"""Seals of model manifests: a SHA-256 over the whole manifest, chained to the parent version's seal.

A manifest says what a model was trained on (every clip with its content hash), its scores and the sha256
of its weights; an edit to any of it (a clip hash, a score, the weights' hash after swapping the weights)
would make the model lie about its provenance. So:
- `seal` is the SHA-256 of the manifest's canonical JSON (keys sorted, no whitespace) without the `seal`
  key itself; it is written last and checked first, so ANY edit to manifest.json is refused;
- `parent_seal` records the parent version's seal when the child was made, so re-sealing an edited
  ancestor breaks every descendant's chain (a hash chain over the lineage);
- weights are covered through `weights_sha256`, which is inside the sealed part.
The seal is computed over the JSON object as stored, never over a re-serialised model, so it does not
depend on how pydantic formats floats or dates. Pure functions on plain data; no I/O here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

PREFIX = "sha256:"


class SealError(ValueError):
    """A manifest whose seal is missing or does not match its content (one line)."""


def canonical(data: dict[str, Any]) -> bytes:
    """The bytes a seal covers: every key but `seal`, sorted, compact, UTF-8."""
    body = {k: v for k, v in data.items() if k != "seal"}
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def seal_of(data: dict[str, Any]) -> str:
    return PREFIX + hashlib.sha256(canonical(data)).hexdigest()


def sealed(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with its seal added (replacing any old one)."""
    return {**{k: v for k, v in data.items() if k != "seal"}, "seal": seal_of(data)}


def check_seal(data: dict[str, Any]) -> str:
    """The manifest's seal when it matches its content; SealError otherwise."""
    seal = data.get("seal")
    if not isinstance(seal, str) or not seal:
        raise SealError(
            "it has no seal (made by a Rushes that did not seal manifests, or the seal was deleted)"
        )
    if seal != seal_of(data):
        raise SealError("its seal does not match its content (the manifest was edited after it was written)")
    return seal
