"""Chapter 2: a layer owns its kernel, gradient descent learns it, and fields grow with depth."""

from __future__ import annotations

import torch
from torch import nn

from convlib.teaching.ch01_cross_correlation import corr2d


class Conv2D(nn.Module):
    """One-channel convolutional layer: a learnable kernel and bias around corr2d.
    kernel_size: (kh, kw); forward: X (H, W) -> Y (H - kh + 1, W - kw + 1)."""

    def __init__(self, kernel_size: tuple[int, int]) -> None:
        super().__init__()
        # A random start: nobody designs the kernel, training shapes it.
        self.weight = nn.Parameter(torch.randn(kernel_size))
        self.bias = nn.Parameter(torch.zeros(1))  # one bias, added to every output entry

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return corr2d(X, self.weight) + self.bias


def learn_kernel(
    X: torch.Tensor, Y: torch.Tensor, kernel_size: tuple[int, int], lr: float, steps: int
) -> tuple[Conv2D, list[float]]:
    """Fit a Conv2D to one (input, target) pair by gradient descent on the squared error.
    X: (H, W), Y: (H - kh + 1, W - kw + 1) -> the trained layer and the loss at every step."""
    layer = Conv2D(kernel_size).to(device=X.device, dtype=X.dtype)
    losses = []
    for _ in range(steps):
        loss = ((layer(X) - Y) ** 2).sum()
        # autograd differentiates through corr2d's loops
        dK, db = torch.autograd.grad(loss, (layer.weight, layer.bias))
        with torch.no_grad():  # a small step downhill, not itself part of the graph
            layer.weight.sub_(lr * dK)
            layer.bias.sub_(lr * db)
        losses.append(loss.item())
    return layer, losses


def receptive_fields(layers: list[tuple[int, int, int]]) -> list[int]:
    """Receptive field size after each layer: r_l = r_(l-1) + d_l (k_l - 1) s_1 ... s_(l-1).
    layers: (kernel size k, stride s, dilation d) per layer, input side first -> [r_1, ..., r_L]."""
    fields, r, jump = [], 1, 1  # jump: input pixels between neighbouring units of the last layer
    for k, s, d in layers:
        r += d * (k - 1) * jump  # k taps, d apart, each one jump of input pixels from the next
        jump *= s
        fields.append(r)
    return fields
