"""Shared by the tests of the practice checks (tests/test_checks_*.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import convlib.check as check


def fails(run: Callable[[], object], *needles: str) -> str:
    """``run()`` fails a check, and its message holds every needle (whitespace-insensitive)."""
    with pytest.raises(AssertionError) as info:
        run()
    text = " ".join(str(info.value).split())
    for needle in needles:
        assert " ".join(needle.split()) in text, text
    return text


def r(*shape: int, seed: int = 0) -> torch.Tensor:
    """A seeded random tensor, as the checks make them."""
    return check.randn(*shape, seed=seed)
