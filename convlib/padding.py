"""Padding built on indexing: ``pad(input, pad, mode, value)`` with ``F.pad``'s rules.

Every padded tensor is the input read at a list of indices per dimension: constant padding copies
the input into a tensor filled with ``value``; reflect, replicate and circular read the input at
indices that bounce off, stick to, or wrap around its edges.

For a length-5 row ``[a b c d e]`` padded by 2 on each side:

    constant   0 0 | a b c d e | 0 0
    reflect    c b | a b c d e | d c      (mirror, edge not repeated)
    replicate  a a | a b c d e | e e      (repeat the edge)
    circular   d e | a b c d e | a b      (wrap around)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._args import check_tensor

__all__ = ["pad", "PAD_MODES"]

PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_pairs(pad: Sequence[int], ndim: int) -> list[tuple[int, int]]:
    """Validate torch's flat pad tuple; return (left, right) per padded dim, LAST dim first."""
    if isinstance(pad, str) or not isinstance(pad, Sequence):
        raise TypeError(
            f"pad must be a tuple of ints (left, right) per dim from the last dim backwards, "
            f"got {pad!r}"
        )
    for v in pad:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"pad must contain ints, got {tuple(pad)!r}")
    if len(pad) % 2:
        raise ValueError(
            f"pad must have an even length (a (left, right) pair per dim), got {len(pad)} "
            f"entries: {tuple(pad)!r}"
        )
    if len(pad) // 2 > ndim:
        raise ValueError(
            f"pad {tuple(pad)!r} pads {len(pad) // 2} dims but input has only {ndim} dims"
        )
    return [(pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)]


def _edge_indices(
    size: int, left: int, right: int, mode: str, device: torch.device
) -> torch.Tensor:
    """Indices into a dim of length ``size`` (already cropped) that pad it by left/right >= 0."""
    positions = torch.arange(-left, size + right, device=device)
    if mode == "reflect":
        # Bounce off index 0 and index size-1 without repeating the edge.
        positions = positions.abs()
        return torch.where(positions >= size, 2 * (size - 1) - positions, positions)
    if mode == "replicate":
        return positions.clamp(0, size - 1)
    return positions % size  # circular


def pad(
    input: torch.Tensor,
    pad: Sequence[int],
    mode: str = "constant",
    value: float | None = None,
) -> torch.Tensor:
    """Pad ``input`` like ``torch.nn.functional.pad``, without calling it.

    input: any shape; ``pad`` = (left_last, right_last, left_2nd_last, right_2nd_last, ...) pads
    dims from the last one backwards. Negative entries crop. ``mode`` is 'constant' (fill with
    ``value``, default 0), 'reflect', 'replicate' or 'circular'; the last three pad the last 1, 2
    or 3 dims of a batched or unbatched (N, C, ...) / (C, ...) input.
    """
    X = check_tensor(input, "input")
    if mode not in PAD_MODES:
        raise ValueError(f"mode must be one of {PAD_MODES}, got mode={mode!r}")
    pairs = _pad_pairs(pad, X.ndim)
    if mode != "constant":
        if value is not None and value != 0:
            raise ValueError(
                f"value={value!r} is only used by mode='constant'; mode={mode!r} takes no value"
            )
        padded_dims = len(pairs)
        if padded_dims not in (1, 2, 3) or X.ndim not in (padded_dims + 1, padded_dims + 2):
            raise ValueError(
                f"mode={mode!r} with a pad of length {len(pad)} pads the last {padded_dims} dims "
                f"of a {padded_dims + 1}D or {padded_dims + 2}D input, got a {X.ndim}D input of "
                f"shape {tuple(X.shape)}; use a pad of length 2, 4 or 6 matching the spatial dims"
            )
    # Validate every dim before touching data.
    for i, (left, right) in enumerate(pairs):
        dim = X.ndim - 1 - i
        size = X.shape[dim]
        cropped = size + min(left, 0) + min(right, 0)
        if size + left + right < 0 or cropped < 0:
            raise ValueError(
                f"pad {tuple(pad)!r} crops dim {dim} of size {size} below zero "
                f"(negative pad entries crop; they may remove at most {size} elements)"
            )
        if mode == "constant":
            continue
        if cropped < 1:
            raise ValueError(
                f"pad {tuple(pad)!r} crops dim {dim} (size {size}) to nothing, so mode={mode!r} "
                f"has nothing to copy from"
            )
        grow = max(left, 0), max(right, 0)
        if mode == "reflect" and max(grow) >= cropped:
            raise ValueError(
                f"reflect padding must be smaller than the input size: pad {grow} on dim {dim} of "
                f"size {cropped}; use mode='replicate' or a smaller pad"
            )
        if mode == "circular" and max(grow) > cropped:
            raise ValueError(
                f"circular padding may wrap around at most once: pad {grow} on dim {dim} of "
                f"size {cropped}"
            )

    # Crop first (negative entries), then grow (positive entries).
    crop: list[slice] = [slice(None)] * X.ndim
    for i, (left, right) in enumerate(pairs):
        dim = X.ndim - 1 - i
        crop[dim] = slice(max(-left, 0), X.shape[dim] - max(-right, 0))
    X = X[tuple(crop)]
    grows = [(max(left, 0), max(right, 0)) for left, right in pairs]

    if mode == "constant":
        out_shape = list(X.shape)
        inside: list[slice] = [slice(None)] * X.ndim
        for i, (left, right) in enumerate(grows):
            dim = X.ndim - 1 - i
            out_shape[dim] = X.shape[dim] + left + right
            inside[dim] = slice(left, left + X.shape[dim])
        Y = X.new_full(out_shape, 0 if value is None else value)
        Y[tuple(inside)] = X  # autograd records this copy, so gradients flow back to X
        return Y

    Y = X
    for i, (left, right) in enumerate(grows):
        dim = X.ndim - 1 - i
        index = _edge_indices(X.shape[dim], left, right, mode, X.device)
        Y = Y.index_select(dim, index)
    return Y
