"""The heads of the show model. Each head module registers itself (engine.heads.base.register) on import.

HEAD_ORDER is the one list of fix kinds: a fix request names a head. The daemon hands these names to the
trackers (which may not import the engine) as plain strings.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Collection, Mapping

from engine.heads.base import HEADS, Batch, FixOutputs, FixRun, Head, NumberedFrame, net_device, register
from engine.heads.errors import HeadError, ParamError
from engine.heads.params import FixParams, Shot

# Order matters only for display and for splitting a training budget.
HEAD_ORDER = ("interpolate", "regrade", "denoise", "upscale", "cleanup")

for _name in HEAD_ORDER:
    _module = f"engine.heads.{_name}"
    if importlib.util.find_spec(_module) is not None:  # a head whose module has not landed is simply absent
        importlib.import_module(_module)


def get_head(name: str) -> Head:
    try:
        return HEADS[name]
    except KeyError:
        raise HeadError(f"unknown head {name!r}; this build has {sorted(HEADS)}") from None


def head_names() -> list[str]:
    return [n for n in HEAD_ORDER if n in HEADS] + sorted(set(HEADS) - set(HEAD_ORDER))


def parse_fix_params(kind: str, raw: Mapping[str, object], ignore: Collection[str] = ()) -> FixParams:
    """`kind`'s typed fix parameters from a request's key/values. One request may ask several fixes with
    one set of parameters, so a key that another head reads is left to it; a key that no head reads (and
    that is not in `ignore`, the caller's own keys) is refused with a ParamError."""
    head = get_head(kind)
    known = {k for h in HEADS.values() for k in h.params_type.keys} | set(ignore)
    unknown = sorted(set(raw) - known)
    if unknown:
        takes = ", ".join(head.params_type.keys) or "no parameters of its own"
        extra = f" (any fix also takes {', '.join(sorted(ignore))})" if ignore else ""
        raise ParamError(f"unknown fix parameter {unknown[0]!r}: {kind} takes {takes}{extra}")
    return head.parse_params(raw)


__all__ = [
    "HEADS",
    "HEAD_ORDER",
    "Batch",
    "FixOutputs",
    "FixParams",
    "FixRun",
    "Head",
    "HeadError",
    "NumberedFrame",
    "ParamError",
    "Shot",
    "get_head",
    "head_names",
    "net_device",
    "parse_fix_params",
    "register",
]
