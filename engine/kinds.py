"""The fix kinds: one per head of the show model, in display order (torch-free).

This is the one list of kinds. `engine.heads` registers a head for each (its order also splits a training
budget), and the daemon hands the list to the tracker adapters and checks `rushes fix --kind` against it;
both read it from here so that a command that only needs the names never imports torch.
"""

from __future__ import annotations

HEAD_ORDER: tuple[str, ...] = ("interpolate", "regrade", "denoise", "upscale", "cleanup")

# The text keys of a fix request each head reads (its FixParams.keys), here so that the daemon's poller can tell
# two requests for the same fix apart without importing the heads.
PARAM_KEYS: dict[str, tuple[str, ...]] = {
    "interpolate": ("factor", "frames", "quality"),
    "regrade": ("reference",),
    "denoise": ("quality",),
    "upscale": ("quality",),
    "cleanup": ("mask",),
}

__all__ = ["HEAD_ORDER", "PARAM_KEYS"]
