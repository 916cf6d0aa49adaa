"""engine.train.layout: nets train with channels-last weights and come back in the default layout."""

from __future__ import annotations

import torch

from engine.heads import get_head
from engine.train.layout import channels_last


def test_a_net_trains_channels_last_and_is_row_major_again_after_the_block() -> None:
    net = get_head("denoise").build({})
    convs = [p for p in net.parameters() if p.dim() == 4]
    before = [p.detach().clone() for p in convs]
    with channels_last(net):
        assert all(
            p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in convs
        )
        net(torch.rand(2, 9, 32, 32)).abs().mean().backward()
    assert all(p.is_contiguous() for p in net.parameters())
    assert all(p.grad is None or p.grad.is_contiguous() for p in net.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, convs, strict=True))  # moved, not changed


def test_a_net_with_parameters_of_other_ranks_keeps_them_as_they_are() -> None:
    net = get_head("regrade").build({})
    shapes = {n: (p.shape, p.stride()) for n, p in net.named_parameters() if p.dim() != 4}
    assert shapes  # the regrade net has some
    with channels_last(net):
        assert {n: (p.shape, p.stride()) for n, p in net.named_parameters() if p.dim() != 4} == shapes


def test_channels_last_computes_what_the_default_layout_computes() -> None:
    torch.manual_seed(0)
    net, x = get_head("denoise").build({}), torch.rand(2, 9, 40, 40)
    with torch.no_grad():
        for p in net.parameters():  # a trained net's weights, not a fresh one's (its last layer is zero)
            p.normal_(0.0, 0.1)
        plain = net(x)
        with channels_last(net):
            fast = net(x)
    assert plain.abs().mean() > 0.01 and torch.allclose(plain, fast, rtol=1e-4, atol=1e-5)
