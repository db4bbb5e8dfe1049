"""Checks of ex12_conv1d_3d (chapter 12, causal convolution and WaveNet).

Tasks: one step of a causal convolution with a cached buffer, a dilated causal stack run step by
step (the check feeds it one time step at a time, so no future input can be read), and the
fewest dilations that see a given history without holes. The usual mistakes are data:
``STEP_MISTAKES``, ``STACK_MISTAKES``, ``DESIGN_FLAGS``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

import convlib.check as check
from convlib.checks import core

__all__ = [
    "check_causal_step",
    "check_stream",
    "check_design_dilations",
    "causal_stack",
    "reach",
    "fewest_layers",
    "STEP_MISTAKES",
    "STACK_MISTAKES",
    "DESIGN_FLAGS",
]


def _window(buffer: torch.Tensor, x_t: torch.Tensor, d: int) -> torch.Tensor:
    """(N, C_in, k): the inputs the newest output reads, oldest first."""
    return torch.cat([buffer, x_t[..., None]], dim=-1)[..., ::d]


def _step(
    buffer: torch.Tensor, x_t: torch.Tensor, K: torch.Tensor, d: int
) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.einsum("nca,oca->no", _window(buffer, x_t, d), K)
    return y, torch.cat([buffer, x_t[..., None]], dim=-1)[..., 1:]


# (message, which output it concerns (0: y_t, 1: the new buffer), the wrong answer)
STEP_MISTAKES: list[tuple[str, int, Callable[..., torch.Tensor]]] = [
    (
        "the taps are reversed: K[..., -1] multiplies the NEWEST input x_t, K[..., 0] the oldest",
        0,
        lambda b, x, K, d: _step(b, x, K.flip(-1), d)[0],
    ),
    (
        "dilation is ignored: the taps read every d-th entry of the buffer, ending at x_t",
        0,
        lambda b, x, K, d: _step(b[..., b.shape[-1] - (K.shape[-1] - 1) :], x, K, 1)[0],
    ),
    (
        "the new buffer drops the newest input: shift the oldest one out and append x_t",
        1,
        lambda b, x, K, d: torch.cat([x[..., None], b], dim=-1)[..., :-1],
    ),
    (
        "the buffer is not updated: return it shifted by one step, with x_t at the end",
        1,
        lambda b, x, K, d: b,
    ),
]


def check_causal_step(
    fn: Callable[..., Any],
    buffer: torch.Tensor,
    x_t: torch.Tensor,
    K: torch.Tensor,
    dilation: int = 1,
    *,
    fname: str = "causal_step",
) -> None:
    """``fn(buffer, x_t, K, dilation) -> (y_t, new_buffer)``; buffer (N, C_in, d(k - 1))."""
    args = (buffer, x_t, K, dilation)
    hints = ["y_t is (N, C_out)", "the buffer keeps its shape (N, C_in, dilation*(k - 1))"]
    for part, expected in enumerate(_step(*args)):
        check.check_function(
            core.pick(fn, part),
            args,
            {},
            expected,
            fname=fname,
            forbidden=core.ALL_CONV,
            shape_hint=hints[part],
            variants=[
                (message, functools.partial(wrong, *args))
                for message, which, wrong in STEP_MISTAKES
                if which == part
            ],
        )


def causal_stack(
    X: torch.Tensor, kernels: Sequence[torch.Tensor], dilations: Sequence[int], relu: bool = True
) -> torch.Tensor:
    """The whole signal through the causal stack at once: left padding, ReLU between layers."""
    for i, (K, d) in enumerate(zip(kernels, dilations, strict=True)):
        X = F.conv1d(F.pad(X, (d * (K.shape[-1] - 1), 0)), K, dilation=d)
        if relu and i < len(kernels) - 1:
            X = torch.relu(X)
    return X


# (message, the wrong output from X, kernels, dilations)
STACK_MISTAKES: list[tuple[str, Callable[..., torch.Tensor]]] = [
    (
        "no ReLU between the layers (the last layer has none)",
        lambda X, Ks, ds: causal_stack(X, Ks, ds, relu=False),
    ),
    (
        "the dilations are ignored (every layer reads consecutive steps)",
        lambda X, Ks, ds: causal_stack(X, Ks, [1] * len(ds)),
    ),
    (
        "the taps are reversed: a kernel's last tap multiplies the newest input",
        lambda X, Ks, ds: causal_stack(X, [K.flip(-1) for K in Ks], ds),
    ),
]

# Runs the student's stream one time step at a time: step t sees x[..., t] only.
_RUN_STREAM = core.adapt(
    "def run(make_stream):\n"
    "    def make_stream_fed_step_by_step(X, kernels, dilations):\n"
    "        step = make_stream(kernels, dilations)\n"
    "        return torch.stack([step(X[:, :, t].clone()) for t in range(X.shape[2])], dim=2)\n"
    "    return make_stream_fed_step_by_step\n",
    "run",
)


def check_stream(
    fn: Callable[..., Any],
    X: torch.Tensor,
    kernels: Sequence[torch.Tensor],
    dilations: Sequence[int],
    *,
    fname: str = "make_stream",
) -> None:
    """``fn(kernels, dilations)`` returns ``step(x_t) -> y_t``; fed X one step at a time, the
    outputs equal the whole causal stack (``causal_stack``)."""
    args = (X, list(kernels), list(dilations))
    check.check_function(
        _RUN_STREAM(fn),
        args,
        {},
        causal_stack(*args),
        fname=fname,
        forbidden=core.ALL_CONV,
        shape_hint="each step returns (N, C_out) of the last layer",
        variants=[(m, functools.partial(wrong, *args)) for m, wrong in STACK_MISTAKES],
    )


# The design is judged by three properties (1 = holds); a wrong design's flags name its faults.
DESIGN_FLAGS = [
    "it uses more layers than needed (each layer can multiply the history seen by at most k)",
    "its receptive field is smaller than asked",
    "some inputs inside its receptive field reach no output (holes): a dilation larger than "
    "the history the layers below it see skips steps",
]

# Compiled outside convlib's files: the check runs them on the student's design while it records
# what the student's code calls (a call into convlib there would read as using its answer).
_DESIGN_SOURCE = """
import itertools

def reach(kernel_size, dilations):
    # (receptive field, holes) of a causal stack: how far back it sees, and how many inputs in
    # that span no path reaches
    seen = {0}
    for d in dilations:
        seen = {s + a * d for s in seen for a in range(kernel_size)}
    return max(seen) + 1, max(seen) + 1 - len(seen)

def fewest_layers(field, kernel_size):
    # no stack without holes sees more than kernel_size ** layers steps
    return next(n for n in itertools.count() if kernel_size ** n >= field)

def judge(fn):
    def design_dilations(field, kernel_size):
        dilations = [int(d) for d in fn(field, kernel_size)]
        if any(d < 1 for d in dilations):
            raise ValueError(f"dilations must be >= 1, got {dilations}")
        seen, holes = reach(kernel_size, dilations)
        flags = [len(dilations) <= fewest_layers(field, kernel_size), seen >= field, holes == 0]
        return torch.tensor([float(f) for f in flags], dtype=torch.float64)
    return design_dilations
"""
reach = core.adapt(_DESIGN_SOURCE, "reach")
fewest_layers = core.adapt(_DESIGN_SOURCE, "fewest_layers")
_JUDGE_DESIGN = core.adapt(_DESIGN_SOURCE, "judge")


def check_design_dilations(
    fn: Callable[..., Any], field: int, kernel_size: int, *, fname: str = "design_dilations"
) -> None:
    """``fn(field, kernel_size)``: the fewest dilations whose causal stack sees ``field`` steps
    and reaches every one of them."""
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = []
    for wrong in itertools.product((1.0, 0.0), repeat=3):
        if min(wrong) == 0.0:
            text = "; ".join(m for m, f in zip(DESIGN_FLAGS, wrong, strict=True) if f == 0.0)
            variants.append((text, functools.partial(torch.tensor, wrong, dtype=torch.float64)))
    check.check_function(
        _JUDGE_DESIGN(fn),
        (field, kernel_size),
        {},
        torch.ones(3, dtype=torch.float64),
        fname=fname,
        forbidden=core.ALL_CONV,
        variants=variants,
    )
