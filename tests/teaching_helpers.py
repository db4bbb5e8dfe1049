"""What the teaching-layer tests share: float64, the tolerance, random leaves and a gradient check.

``tests/test_teaching_*.py`` import these (pytest puts ``tests/`` on ``sys.path``), so each
comparison against torch is written once.
"""

from __future__ import annotations

from typing import Any

import torch

TOL: dict[str, Any] = {"rtol": 1e-10, "atol": 1e-10}
F64 = torch.float64


def _rand(*shape: int, device: str = "cpu") -> torch.Tensor:
    return torch.randn(*shape, dtype=F64, device=device, requires_grad=True)


def _same_grads(ours: torch.Tensor, theirs: torch.Tensor, inputs: list[torch.Tensor]) -> None:
    """Values equal, and the gradients of a random linear loss equal, for every input."""
    torch.testing.assert_close(ours, theirs, **TOL)
    weights = torch.randn_like(ours)
    g_ours = torch.autograd.grad((ours * weights).sum(), inputs)
    g_theirs = torch.autograd.grad((theirs * weights).sum(), inputs)
    for a, b in zip(g_ours, g_theirs, strict=True):
        torch.testing.assert_close(a, b, **TOL)
