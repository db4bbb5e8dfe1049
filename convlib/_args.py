"""Argument checking shared by every operation.

Each public op calls these helpers on its first lines, before any computation, so a bad call fails
with a ``ValueError``/``TypeError`` raised here that names the argument, the values it got and,
where there is one, the fix. Nothing deeper in the stack should ever be the first to complain.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

IntOrTuple = int | Sequence[int]


def ntuple(value: IntOrTuple, n: int, name: str) -> tuple[int, ...]:
    """Expand an int-or-sequence argument (``stride=2`` or ``stride=(2, 1)``) to an n-tuple of ints.

    Raises ``TypeError`` for non-integers and ``ValueError`` for a sequence of the wrong length.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got bool {value!r}")
    if isinstance(value, int):
        return (value,) * n
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = tuple(value)
        if len(items) == 1:
            items = items * n
        if len(items) != n:
            raise ValueError(
                f"{name} must be an int or a tuple of {n} ints (one per spatial dimension), "
                f"got {value!r} with {len(items)} entries"
            )
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int):
                raise TypeError(f"{name} must contain ints, got {value!r}")
        return items
    raise TypeError(
        f"{name} must be an int or a tuple of {n} ints, got {type(value).__name__} {value!r}"
    )


def check_positive(values: tuple[int, ...], name: str) -> None:
    """Require every entry to be >= 1 (stride, dilation, kernel size)."""
    if any(v < 1 for v in values):
        raise ValueError(f"{name} must be positive, got {values}")


def check_nonnegative(values: tuple[int, ...], name: str) -> None:
    """Require every entry to be >= 0 (padding)."""
    if any(v < 0 for v in values):
        raise ValueError(f"{name} must be non-negative, got {values}")


def check_tensor(x: object, name: str) -> torch.Tensor:
    """Require a ``torch.Tensor``; returns it typed."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_ndim(x: torch.Tensor, name: str, allowed: Sequence[int], layout: str) -> None:
    """Require ``x.ndim`` to be one of ``allowed``; ``layout`` describes the expected shape.

    Example: ``check_ndim(x, "input", (3, 4), "(N, C_in, H, W) or unbatched (C_in, H, W)")``.
    """
    if x.ndim not in allowed:
        dims = " or ".join(f"{d}D" for d in allowed)
        raise ValueError(
            f"{name} must be {dims} with layout {layout}, "
            f"got {x.ndim}D tensor of shape {tuple(x.shape)}"
        )


def check_floating(x: torch.Tensor, name: str) -> None:
    """Require a floating-point (or complex) dtype: integer convolution is not supported."""
    if not (x.is_floating_point() or x.is_complex()):
        raise TypeError(
            f"{name} must have a floating-point dtype, got {x.dtype}; convert with {name}.float()"
        )


def check_same_device_dtype(
    reference: torch.Tensor, ref_name: str, other: torch.Tensor, name: str
) -> None:
    """Require ``other`` to live on the same device and have the same dtype as ``reference``."""
    if other.device != reference.device:
        raise ValueError(
            f"{name} is on {other.device} but {ref_name} is on {reference.device}; "
            f"move both to one device, e.g. {name}.to({ref_name}.device)"
        )
    if other.dtype != reference.dtype:
        raise TypeError(
            f"{name} has dtype {other.dtype} but {ref_name} has dtype {reference.dtype}; "
            f"cast one of them, e.g. {name}.to({ref_name}.dtype)"
        )


def check_int(value: object, name: str) -> int:
    """Require a plain int (not bool), e.g. ``groups``; returns it typed."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    return value


def check_optional_tensor(x: object, name: str) -> torch.Tensor | None:
    """Require ``None`` or a ``torch.Tensor`` (an optional ``bias``)."""
    if x is None:
        return None
    return check_tensor(x, name)
