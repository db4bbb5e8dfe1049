"""Checks of ex07_dilation: an N-d kernel with holes, a stack of dilations designed under a weight
budget (verified by computing its field), and a black-box layer's settings recovered by probing.

Cases and usual mistakes are data: ``DESIGN_CRITERIA`` (what a design must satisfy, each with the
message a failing design gets) and ``PROBE_MISTAKES`` (wrong readings of a probed layer).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import torch

import convlib.check as check
from convlib.checks.core import adapt

__all__ = [
    "check_dilate_kernel",
    "design_verdict",
    "check_dilation_design",
    "hidden_layer",
    "check_probe_layer",
]


# --------------------------------------------------------------------------------------------
# task 1: dilate a kernel along any number of trailing axes


def _dilate_reference(K: torch.Tensor, dilation: Sequence[int]) -> torch.Tensor:
    n = len(dilation)
    sizes = [d * (k - 1) + 1 for k, d in zip(K.shape[-n:], dilation, strict=True)]
    out = K.new_zeros((*K.shape[:-n], *sizes))
    index: Any = (..., *[slice(None, None, d) for d in dilation])
    out[index] = K
    return out


def check_dilate_kernel(
    fn: Callable[..., Any],
    K: torch.Tensor,
    dilation: Sequence[int],
    *,
    fname: str = "dilate_kernel",
) -> None:
    """``fn(K, dilation)`` with ``dilation`` a tuple for the last len(dilation) axes of K."""
    dilation = tuple(dilation)
    mistakes: list[tuple[str, Callable[[], torch.Tensor]]] = []
    if dilation != dilation[::-1]:
        mistakes.append(
            (
                "the dilations are applied to the axes in reverse order: dilation[0] belongs to "
                "the first of the last len(dilation) axes (K.shape[-len(dilation)])",
                lambda: _dilate_reference(K, dilation[::-1]),
            )
        )
    if len(dilation) != 2 and K.ndim >= 2:
        mistakes.append(
            (
                "you dilated the last two axes only: dilate the last len(dilation) axes",
                lambda: _dilate_reference(K, (dilation[-1],) * 2),
            )
        )
    hint = "each dilated axis spans d*(k - 1) + 1 entries (not d*k): no trailing zeros"
    expected = _dilate_reference(K, dilation)
    check.check_function(
        fn, (K, dilation), {}, expected, variants=mistakes, fname=fname, shape_hint=hint
    )


# --------------------------------------------------------------------------------------------
# task 2: a hole-free stack of dilated k x k layers under a weight budget

# What a design must satisfy, in the order of the verdict's entries, and what a design that
# fails it is told.
DESIGN_CRITERIA = (
    (
        "valid",
        "every layer must be a pair (kernel_size, dilation) of ints, kernel_size odd and >= 1, "
        "dilation >= 1",
    ),
    (
        "field",
        "the stack's receptive field is smaller than the target: each layer widens it by "
        "dilation * (kernel_size - 1)",
    ),
    (
        "no holes",
        "your stack leaves holes: some pixels inside its field reach the output by no path "
        "(gridding). A layer with dilation d only fills the gaps if the layers before it "
        "already cover d consecutive pixels",
    ),
    (
        "budget",
        "over the weight budget: a k x k layer costs k*k weights per pair of channels",
    ),
)

# The verdict is computed in the student's kernel, from the student's layers, by code compiled
# outside convlib's files (forbid would flag convlib's own frames).
_VERDICT_SOURCE = '''
def design_verdict(layers, field, max_weights):
    """1/0 per criterion: valid, field >= target, no holes, weights <= budget."""
    try:
        layers = [(int(k), int(d)) for k, d in layers]
        valid = all(k >= 1 and k % 2 == 1 and d >= 1 for k, d in layers)
    except (TypeError, ValueError):
        return torch.zeros(4, dtype=torch.long)
    if not valid:
        return torch.tensor([0, 1, 1, 1])
    reached = {0}  # offsets from the output unit that some path reaches, along one axis
    for k, d in layers:
        reached = {o + d * (t - (k - 1) // 2) for o in reached for t in range(k)}
    size = max(reached) - min(reached) + 1
    weights = sum(k * k for k, _ in layers)
    flags = [True, size >= field, len(reached) == size, weights <= max_weights]
    return torch.tensor([int(f) for f in flags])


def designed(fn):
    def verdict(field, max_weights):
        return design_verdict(fn(field, max_weights), field, max_weights)
    return verdict
'''
design_verdict = adapt(_VERDICT_SOURCE, "design_verdict")
_designed = adapt(_VERDICT_SOURCE, "designed")


def _design_mistakes() -> list[tuple[str, Callable[[], torch.Tensor]]]:
    """Every combination of failed criteria, named: the verdict a design with those faults gets."""
    mistakes: list[tuple[str, Callable[[], torch.Tensor]]] = []
    for failed in itertools.product((0, 1), repeat=len(DESIGN_CRITERIA) - 1):
        if not any(failed):
            continue
        flags = [1] + [1 - f for f in failed]
        text = "; ".join(m for (_, m), f in zip(DESIGN_CRITERIA[1:], failed, strict=True) if f)
        mistakes.append((text, functools.partial(torch.tensor, flags)))
    mistakes.append((DESIGN_CRITERIA[0][1], lambda: torch.tensor([0, 1, 1, 1])))
    mistakes.append((DESIGN_CRITERIA[0][1], lambda: torch.zeros(4, dtype=torch.long)))
    return mistakes


def check_dilation_design(
    fn: Callable[..., Any], field: int, max_weights: int, *, fname: str = "design_dilations"
) -> None:
    """``fn(field, max_weights)`` -> [(kernel_size, dilation), ...]: k x k layers, stride 1, whose
    stack covers at least ``field`` pixels per axis with no holes and at most ``max_weights``
    weights per pair of channels. Judged on the verdict of its layers (``design_verdict``)."""
    check.check_function(
        _designed(fn),
        (field, max_weights),
        {},
        torch.ones(len(DESIGN_CRITERIA), dtype=torch.long),
        fname=fname,
        forbidden=frozenset(),
        shape_hint="the verdict has one entry per criterion: "
        + ", ".join(name for name, _ in DESIGN_CRITERIA),
        variants=_design_mistakes(),
    )


# --------------------------------------------------------------------------------------------
# task 3: recover a hidden layer's kernel_size, stride, padding and dilation by probing it

# The hidden layer and the probe's adapter, compiled outside convlib's files: the student's
# function calls the layer.
_PROBE_SOURCE = '''
def hidden_layer(kernel_size, stride, padding, dilation, seed):
    """A one-channel k x k convolution with positive weights and hidden settings."""
    generator = torch.Generator().manual_seed(seed)
    shape = (1, 1, kernel_size, kernel_size)
    weight = 0.5 + torch.rand(shape, generator=generator, dtype=torch.float64)
    conv = torch.nn.functional.conv2d

    def layer(X):
        """X: (N, 1, H, W) -> (N, 1, H', W')."""
        K = weight.to(X.device, X.dtype)
        return conv(X, K, stride=stride, padding=padding, dilation=dilation)

    return layer


def probing(fn, layer):
    def settings(name):
        return torch.tensor([int(v) for v in fn(layer)], dtype=torch.long)
    return settings


# What reads a Python function's insides rather than its outputs. A closure's cells, its code and
# its globals are readable in Python: the prompt forbids it and this flags it in fn's own source.
INTERNALS = (
    "__closure__", "cell_contents", "getclosurevars", "__code__", "co_consts", "__dict__",
    "__globals__", "__defaults__",
)


def internals_read(fn):
    def flag(name):
        try:
            source = __import__("inspect").getsource(fn)
        except (OSError, TypeError):  # no source (a builtin, a partial): nothing to flag
            source = ""
        return torch.tensor([int(any(word in source for word in INTERNALS))])
    return flag
'''
hidden_layer = adapt(_PROBE_SOURCE, "hidden_layer")
_probing = adapt(_PROBE_SOURCE, "probing")
_internals_read = adapt(_PROBE_SOURCE, "internals_read")

# (message, the wrong reading of (kernel_size, stride, padding, dilation))
PROBE_MISTAKES: tuple[tuple[str, Callable[[int, int, int, int], tuple[int, ...]]], ...] = (
    (
        "stride and dilation swapped: the stride is how far the window moves from one output to "
        "the next; the dilation is the spacing of the taps inside one window",
        lambda k, s, p, d: (k, d, p, s),
    ),
    (
        "you returned the span d*(k - 1) + 1 as the kernel size: count the taps, not the pixels "
        "the window covers",
        lambda k, s, p, d: (d * (k - 1) + 1, s, p, 1),
    ),
    (
        "padding off: an impulse at input pixel x first reaches the output whose window starts "
        "at x - (its tap's offset) + padding",
        lambda k, s, p, d: (k, s, 0, d),
    ),
)


def check_probe_layer(
    fn: Callable[..., Any],
    kernel_size: int,
    stride: int,
    padding: int,
    dilation: int,
    *,
    seed: int,
    fname: str = "probe_layer",
) -> None:
    """``fn(layer)`` -> (kernel_size, stride, padding, dilation) of a hidden conv ``layer``."""
    layer = hidden_layer(kernel_size, stride, padding, dilation, seed)
    truth = (kernel_size, stride, padding, dilation)
    mistakes = [
        (m, functools.partial(torch.tensor, wrong(*truth), dtype=torch.long))
        for m, wrong in PROBE_MISTAKES
        if wrong(*truth) != truth
    ]
    check.check_function(
        _internals_read(fn),
        (f"hidden layer {seed}",),
        {},
        torch.zeros(1, dtype=torch.long),
        fname=f"{fname} (probing only)",
        forbidden=frozenset(),
        variants=[
            (
                "your function reads the layer's insides (its closure, code or globals): find "
                "the settings only from what the layer outputs",
                functools.partial(torch.ones, 1, dtype=torch.long),
            )
        ],
    )
    check.check_function(
        _probing(fn, layer),
        (f"hidden layer {seed}",),
        {},
        torch.tensor(truth, dtype=torch.long),
        fname=fname,
        forbidden=frozenset(),
        shape_hint="return four ints: (kernel_size, stride, padding, dilation)",
        variants=mistakes,
    )
