"""Winograd minimal filtering F(m x m, 3 x 3) for stride-1 3x3 convolutions.

Each output tile of m x m values is computed from an (m+2) x (m+2) input tile ``d`` and the 3x3
kernel ``g`` as ``Y = A^T [ (G g G^T) * (B^T d B) ] A`` where ``*`` is elementwise. For F(2x2, 3x3)
that is 16 multiplications per tile instead of 36 (2.25x fewer). Summed over input channels, the
elementwise product becomes 16 independent GEMMs (one per tile position), which is where the time
goes; the transforms are additions.

The matrices come from polynomial interpolation (Toom-Cook): evaluate the kernel and the data
polynomials at m+1 points plus infinity, multiply pointwise, interpolate. ``derive_winograd``
does that derivation; ``BT``, ``G``, ``AT`` are Lavin and Gray's scaled F(2, 3) matrices.
"""

from __future__ import annotations

from fractions import Fraction

import torch

from .._args import IntOrTuple
from ._common import ConvArgs, add_bias, zero_pad

# F(2, 3) from Lavin & Gray (2016): points 0, 1, -1 and infinity, scaled so B^T and A^T are integer.
Matrix = list[list[float]]

BT: Matrix = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
G: Matrix = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
AT: Matrix = [[1, 1, 1, 0], [0, 1, -1, -1]]


def _invert(M: list[list[Fraction]]) -> list[list[Fraction]]:
    """Exact inverse of a small square matrix by Gauss-Jordan elimination on fractions."""
    n = len(M)
    A = [row[:] + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(M)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if A[r][col] != 0)
        A[col], A[pivot] = A[pivot], A[col]
        scale = A[col][col]
        A[col] = [v / scale for v in A[col]]
        for r in range(n):
            if r != col and A[r][col] != 0:
                f = A[r][col]
                A[r] = [a - f * b for a, b in zip(A[r], A[col], strict=True)]
    return [row[n:] for row in A]


def derive_winograd(
    m: int = 2, r: int = 3, points: tuple[float, ...] = (0, 1, -1)
) -> tuple[Matrix, Matrix, Matrix]:
    """Derive (B^T, G, A^T) of F(m, r) by Toom-Cook interpolation at ``points`` plus infinity.

    n = m + r - 1 evaluation points are needed: ``len(points) == n - 1``. With V the n x n matrix
    that evaluates a degree n-1 polynomial at the points (last row: infinity, the leading
    coefficient), linear convolution of g (length r) and h (length m) is
    ``V^-1 [(V_r g) * (V_m h)]``; transposing that algorithm gives correlation:
    ``y = V_m^T [(V_r g) * (V^-T d)]``, so ``A^T = V_m^T``, ``G = V_r``, ``B^T = V^-T``.
    Shapes: B^T (n, n), G (n, r), A^T (m, n).
    """
    n = m + r - 1
    if len(points) != n - 1:
        raise ValueError(
            f"derive_winograd: points needs n - 1 = {n - 1} entries for F({m}, {r}), got {points}"
        )
    pts = [Fraction(p) for p in points]

    def evaluation(cols: int) -> list[list[Fraction]]:
        rows = [[p**j for j in range(cols)] for p in pts]
        rows.append(
            [Fraction(int(j == cols - 1)) for j in range(cols)]
        )  # infinity: leading coefficient
        return rows

    V_inv = _invert(evaluation(n))
    BT_ = [[float(V_inv[j][i]) for j in range(n)] for i in range(n)]
    G_ = [[float(v) for v in row] for row in evaluation(r)]
    AT_ = [[float(row[i]) for row in evaluation(m)] for i in range(m)]
    return BT_, G_, AT_


def conv_winograd(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    m: int = 2,
) -> torch.Tensor:
    """2D convolution with a 3x3 kernel, stride 1, dilation 1 by Winograd F(m x m, 3 x 3).

    X: (N, C_in, H, W); K: (C_out, C_in/groups, 3, 3). Returns (N, C_out, H_out, W_out).
    ``m=2`` uses the standard matrices; ``m=4`` derives F(4, 3) at points 0, +-1, +-2 (fewer
    multiplications, larger float32 error).
    """
    a = ConvArgs(X, K, bias, stride, padding, dilation, groups, "conv_winograd")
    if a.d != 2:
        raise ValueError(
            f"conv_winograd: only 2D convolutions, got weight of shape {tuple(K.shape)}"
        )
    if a.kernel != (3, 3):
        raise ValueError(
            f"conv_winograd: kernel must be 3x3, got weight kernel {a.kernel}; use conv_im2col"
        )
    if a.stride != (1, 1):
        raise ValueError(f"conv_winograd: stride must be 1, got stride={a.stride}; use conv_im2col")
    if a.dilation != (1, 1):
        raise ValueError(
            f"conv_winograd: dilation must be 1, got dilation={a.dilation}; use conv_im2col"
        )
    if m == 2:
        BT_, G_, AT_ = BT, G, AT
    elif m == 4:
        BT_, G_, AT_ = derive_winograd(4, 3, (0, 1, -1, 2, -2))
    else:
        raise ValueError(f"conv_winograd: m must be 2 or 4, got m={m}")
    n = m + 2
    Ho, Wo = a.out
    th, tw = -(-Ho // m), -(-Wo // m)  # tiles per dim (ceil)
    Xp = zero_pad(X, a.padding)
    # Extra zeros at the bottom/right so the last tile is whole; its extra outputs are cropped.
    extra_h, extra_w = th * m + 2 - Xp.shape[2], tw * m + 2 - Xp.shape[3]
    if extra_h or extra_w:
        big = Xp.new_zeros(a.N, a.C_in, th * m + 2, tw * m + 2)
        big[:, :, : Xp.shape[2], : Xp.shape[3]] = Xp
        Xp = big
    Gs = a.groups
    Cg = a.C_in // Gs
    T = th * tw
    # Input transform B^T d B of every tile as ONE matrix product: flattening the n x n tile,
    # vec(B^T d B) = (B^T kron B^T) vec(d). The tiles overlap (stride m, size n), so this copies
    # the input about (n/m)^2 times; V comes out as (n*n, N*C_in*tiles), the layout the GEMMs need.
    Xp = Xp.contiguous()
    st = Xp.stride()
    tiles = Xp.as_strided(
        (a.N, a.C_in, th, tw, n, n), (st[0], st[1], m * st[2], m * st[3], st[2], st[3])
    ).reshape(a.N * a.C_in * T, n * n)
    BT_t = torch.tensor(BT_, dtype=X.dtype, device=X.device)
    V = (torch.kron(BT_t, BT_t) @ tiles.T).view(n * n, a.N, Gs, Cg, T)
    # Kernel transform G g G^T, then one GEMM per tile position:
    # (C_out/G, C_in/G) @ (C_in/G, tiles).
    Gm = torch.tensor(G_, dtype=X.dtype, device=X.device)
    U = torch.einsum("ai,ocij,bj->aboc", Gm, K, Gm).reshape(n * n, 1, Gs, a.C_out // Gs, Cg)
    M = torch.matmul(U, V).view(n * n, a.N * a.C_out * T)
    # Output transform A^T M A, again one matrix product: (m*m, n*n) @ (n*n, N*C_out*tiles).
    AT_t = torch.tensor(AT_, dtype=X.dtype, device=X.device)
    Y = (torch.kron(AT_t, AT_t) @ M).view(m, m, a.N, a.C_out, th, tw)
    Y = Y.permute(2, 3, 4, 0, 5, 1).reshape(a.N, a.C_out, th * m, tw * m)[:, :, :Ho, :Wo]
    return add_bias(Y, bias)
