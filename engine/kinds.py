"""The fix kinds: one per head of the show model, in display order (torch-free).

This is the one list of kinds. `engine.heads` registers a head for each (its order also splits a training
budget), and the daemon hands the list to the tracker adapters and checks `rushes fix --kind` against it;
both read it from here so that a command that only needs the names never imports torch.
"""

from __future__ import annotations

HEAD_ORDER: tuple[str, ...] = ("interpolate", "regrade", "denoise", "upscale", "cleanup")

__all__ = ["HEAD_ORDER"]
