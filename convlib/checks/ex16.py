"""Checks of ex16_speed (chapter 16, from loops to one matrix product).

Tasks: ``conv2d_gemm`` (``convlib.check.check_conv2d`` and ``core.check_no_output_loop``), its
speed against the course's loops (``core.check_speedup``), the Winograd matrices derived from
interpolation points, and a 1D Winograd convolution built on them. The usual mistakes are data:
``MATRIX_MISTAKES`` (wrong matrices a derivation gives) and ``SIGNAL_MISTAKES``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch

import convlib.check as check
from convlib.checks import core

__all__ = [
    "check_winograd_matrices",
    "check_winograd_conv1d",
    "toom_cook",
    "MATRIX_MISTAKES",
    "SIGNAL_MISTAKES",
]


def _vandermonde(points: Sequence[float], columns: int) -> torch.Tensor:
    """Rows [1, p, p^2, ...] per finite point, then [0, ..., 0, 1] for the point at infinity."""
    rows = [[float(p) ** j for j in range(columns)] for p in points]
    rows.append([0.0] * (columns - 1) + [1.0])
    return torch.tensor(rows, dtype=torch.float64)


def toom_cook(m: int, r: int, points: Sequence[float]) -> tuple[torch.Tensor, ...]:
    """A^T (m, a), G (a, r), B^T (a, a), a = m + r - 1, of F(m, r) from the points (and infinity).

    Correlation is the transpose of the polynomial product e(x) g(x) = c(x): with V the full
    Vandermonde matrix, c = V^-1 [(V_r g) * (V_m e)], so y = V_m^T [(V_r g) * (V^-T d)].
    """
    V = _vandermonde(points, m + r - 1)
    return _vandermonde(points, m).T, _vandermonde(points, r), torch.linalg.inv(V).T


def _apply(matrices: Sequence[torch.Tensor], d: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    AT, G, BT = matrices
    return AT @ ((G @ g.T) * (BT @ d.T))


def _correlate(d: torch.Tensor, g: torch.Tensor, m: int) -> torch.Tensor:
    """(m, B): output i of tile b is sum_a d[b, i + a] g[b, a]."""
    r = g.shape[1]
    return torch.stack([(d[:, i : i + r] * g).sum(1) for i in range(m)])


# (message, wrong matrices from the right ones and the points' Vandermonde matrix)
MATRIX_MISTAKES: list[tuple[str, Callable[[tuple[torch.Tensor, ...], torch.Tensor], Any]]] = [
    (
        "your matrices compute the polynomial product's transform B^T = V^-1 instead of its "
        "transpose V^-T: correlation is the TRANSPOSE of the polynomial product",
        lambda M, V: (M[0], M[1], torch.linalg.inv(V)),
    ),
    (
        "your algorithm convolves (the kernel reversed): correlation reads d[i + a] g[a]; "
        "reverse the kernel's role (or the order of G's columns)",
        lambda M, V: (M[0], M[1].flip(1), M[2]),
    ),
]

_ALGORITHM = core.adapt(
    "def algorithm(fn, d, g):\n"
    "    def winograd_matrices(m, r, points):\n"
    "        AT, G, BT = fn(m, r, points)\n"
    "        a = m + r - 1\n"
    "        for name, M, shape in (('A^T', AT, (m, a)), ('G', G, (a, r)), ('B^T', BT, (a, a))):\n"
    "            if tuple(M.shape) != shape:\n"
    "                raise ValueError(f'{name} has shape {tuple(M.shape)}, expected {shape}')\n"
    "        AT, G, BT = (M.to(d) for M in (AT, G, BT))\n"
    "        return AT @ ((G @ g.T) * (BT @ d.T))\n"
    "    return winograd_matrices\n",
    "algorithm",
)


def check_winograd_matrices(
    fn: Callable[..., Any],
    m: int,
    r: int,
    points: Sequence[float],
    *,
    tiles: int = 6,
    seed: int = 0,
    fname: str = "winograd_matrices",
) -> None:
    """``fn(m, r, points) -> (AT, G, BT)`` makes a correct F(m, r): A^T [(G g) * (B^T d)] is the
    correlation of every tile d (m + r - 1 values) with every kernel g (r values)."""
    device = check.device()
    d = check.randn(tiles, m + r - 1, seed=seed, device=device)
    g = check.randn(tiles, r, seed=seed + 1, device=device)
    right = tuple(M.to(d) for M in toom_cook(m, r, points))
    V = _vandermonde(points, m + r - 1).to(d)
    variants = [
        (message, lambda wrong=wrong: _apply(wrong(right, V), d, g))
        for message, wrong in MATRIX_MISTAKES
    ]
    check.check_function(
        _ALGORITHM(fn, d, g),
        (m, r, list(points)),
        {},
        _correlate(d, g, m),
        fname=fname,
        forbidden=core.ALL_CONV,
        shape_hint=f"A^T is (m, m + r - 1) = ({m}, {m + r - 1}): one row per output of a tile",
        variants=variants,
        atol=1e-9,
        rtol=1e-7,
    )


def _tiles(x: torch.Tensor, g: torch.Tensor, m: int, step: int) -> torch.Tensor:
    """The m outputs of each tile of m + r - 1 samples, the tiles starting every ``step`` samples:
    with step = m, the valid cross-correlation of x with g ((L - r + 1) a multiple of m)."""
    a = m + g.shape[0] - 1
    starts = torch.arange(0, x.shape[0] - a + 1, step, device=x.device)
    keep = (starts[:, None] + torch.arange(m, device=x.device)).reshape(-1)
    return core.corr1d(x, g)[keep]


# (message, the kernel reversed?, the tiles' step from m and r): the wrong output is _tiles'
SIGNAL_MISTAKES: list[tuple[str, bool, Callable[[int, int], int]]] = [
    (
        "your output is the convolution (kernel reversed): the valid cross-correlation reads "
        "x[t + a] g[a]",
        True,
        lambda m, r: m,
    ),
    (
        "your tiles do not overlap: consecutive input tiles start m samples apart, so they share "
        "r - 1 samples (each tile gives m outputs)",
        False,
        lambda m, r: m + r - 1,
    ),
]


def check_winograd_conv1d(
    fn: Callable[..., Any],
    x: torch.Tensor,
    g: torch.Tensor,
    m: int,
    points: Sequence[float],
    *,
    fname: str = "winograd_conv1d",
) -> None:
    """``fn(x, g, m, points)``: the valid cross-correlation of x: (L,) with g: (r,) by F(m, r)
    tiles, (L - r + 1) a multiple of m; checked against ``F.conv1d``."""
    r = g.shape[0]
    variants = [
        (message, functools.partial(_tiles, x, g.flip(0) if flip else g, m, step(m, r)))
        for message, flip, step in SIGNAL_MISTAKES
    ]
    check.check_function(
        fn,
        (x, g, m, list(points)),
        {},
        core.corr1d(x, g),
        fname=fname,
        forbidden=core.ALL_CONV,
        shape_hint="the valid cross-correlation has L - r + 1 outputs",
        variants=variants,
        atol=1e-8,
        rtol=1e-6,
    )
