"""The heads of the show model. Each head module registers itself (engine.heads.base.register) on import."""

from __future__ import annotations

import importlib
import importlib.util

from engine.heads.base import HEADS, Batch, Head, HeadError, NumberedFrame, net_device, register

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


__all__ = [
    "HEADS",
    "HEAD_ORDER",
    "Batch",
    "Head",
    "HeadError",
    "NumberedFrame",
    "get_head",
    "head_names",
    "net_device",
    "register",
]
