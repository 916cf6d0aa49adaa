"""Upscale nets for the engine's tests: a freshly built net whose weights all act (none left at zero)."""

from __future__ import annotations

import torch

from engine.heads import get_head


def acting_upscale_net(unshuffle: int = 1) -> torch.nn.Module:
    """The upscale head's net with every weight drawn small and non-zero (seeded), so its correction is not
    the zero a fresh net's last layer gives, and any path that drops or reorders it shows."""
    head = get_head("upscale")
    net = head.build({**head.default_config(), "unshuffle": unshuffle, "adapt": 0})
    torch.manual_seed(7)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.02)
    return net.eval()
