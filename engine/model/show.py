"""ShowModel: the nets of every head of one show's model, with their configs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from engine.heads import get_head, head_names


@dataclass
class ShowModel:
    nets: dict[str, torch.nn.Module] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def fresh(
        cls, heads: Iterable[str] | None = None, configs: Mapping[str, Mapping[str, Any]] | None = None
    ) -> ShowModel:
        """New nets (no-ops over their classical bases) for `heads` (default: every registered head)."""
        model = cls()
        for name in heads if heads is not None else head_names():
            head = get_head(name)
            cfg = {**head.default_config(), **dict((configs or {}).get(name, {}))}
            model.nets[name] = head.build(cfg)
            model.configs[name] = cfg
        return model

    @property
    def heads(self) -> list[str]:
        return list(self.nets)

    def net(self, head: str) -> torch.nn.Module:
        try:
            return self.nets[head]
        except KeyError:
            raise KeyError(f"this show model has no {head!r} head; it has {sorted(self.nets)}") from None

    def to(self, device: torch.device | str) -> ShowModel:
        for net in self.nets.values():
            net.to(device)
        return self

    def eval(self) -> ShowModel:
        for net in self.nets.values():
            net.eval()
        return self

    def train(self) -> ShowModel:
        for net in self.nets.values():
            net.train()
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Every head's tensors under "<head>.<param>" (CPU, contiguous: ready for safetensors)."""
        return {
            f"{name}.{key}": value.detach().cpu().contiguous()
            for name, net in self.nets.items()
            for key, value in net.state_dict().items()
        }

    def load_state(self, tensors: Mapping[str, torch.Tensor], strict: bool = True) -> None:
        """Load "<head>.<param>" tensors into the nets (heads absent from `tensors` keep their weights)."""
        for name, net in self.nets.items():
            prefix = f"{name}."
            own = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            if own or strict:
                net.load_state_dict(own, strict=True)
