# %% markdown id=title
# # Exercise 16: from loops to one matrix product
#
# **Total: {total_points} points.** Book chapter 16.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional` on seeded random inputs and tell
#   you what differs. Calling a convolution (`F.conv2d`, `F.conv1d`, ...), `F.unfold`,
#   `Tensor.unfold` or `convlib` scores 0 for that task. Build from slicing, `*`, `sum`, `einsum`
#   and `@`.
# - Return tensors on the input's device and dtype: `X.new_zeros(shape)` creates one.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex16_speed.ipynb`.
#
# The chapter climbs a speed ladder for the plain convolution and hands you Winograd's F(2, 3)
# matrices. Here you build the fast layer for every argument (bias, stride, padding, dilation),
# measure it against the course's own loops, and derive Winograd's matrices yourself, for any tile
# and kernel size, from the interpolation points they come from.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex16 as practice
from convlib.checks import core

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_gemm
# ## 1. im2col + GEMM, with every argument (4 points)
#
# Write `conv2d_gemm(X, K, bias=None, stride=1, padding=0, dilation=1)`, the same as
# `F.conv2d(X, K, bias, stride, padding, dilation)` for `X: (N, C_in, H, W)` and
# `K: (C_out, C_in, kh, kw)`, with no Python loop over output positions: gather what every output
# position reads into one column matrix, do all the multiply-adds in a single matrix product, and
# reshape. Chapter 16's all-windows view has neither dilation nor bias; chapter 10's im2col reads
# one window at a time. `F.unfold` and `Tensor.unfold` are not allowed. The check runs your
# function on a small and a large input and fails if the number of Python lines it executes grows
# with the number of output positions.

# %% solution id=conv2d_gemm
def conv2d_gemm(X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1, padding: int = 0, dilation: int = 1) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_out, C_in, kh, kw), bias: (C_out,) -> (N, C_out, H', W')."""
    ### BEGIN SOLUTION
    N, C_in, H, W = X.shape
    C_out, _, kh, kw = K.shape
    s, p, d = stride, padding, dilation
    Xp = X.new_zeros((N, C_in, H + 2 * p, W + 2 * p))
    Xp[:, :, p : p + H, p : p + W] = X
    Ho = (H + 2 * p - d * (kh - 1) - 1) // s + 1
    Wo = (W + 2 * p - d * (kw - 1) - 1) // s + 1
    taps = [
        Xp[:, :, a * d : a * d + (Ho - 1) * s + 1 : s, b * d : b * d + (Wo - 1) * s + 1 : s]
        for a in range(kh)
        for b in range(kw)
    ]
    cols = torch.stack(taps, dim=2).reshape(N, C_in * kh * kw, Ho * Wo)
    Y = (K.reshape(C_out, -1) @ cols).reshape(N, C_out, Ho, Wo)
    if bias is not None:
        Y = Y + bias[None, :, None, None]
    return Y
    ### END SOLUTION

# %% test id=test_conv2d_gemm points=4
X = check.randn(2, 3, 7, 7, seed=1, device=device)
K = check.randn(4, 3, 3, 3, seed=2, device=device)
b = check.randn(4, seed=3, device=device)
check.check_conv2d(conv2d_gemm, X, K, bias=b, stride=2, padding=1, dilation=2, fname="conv2d_gemm", forbidden=check.CONV_OPS | check.UNFOLD_OPS)
big = check.randn(2, 3, 30, 30, seed=4, device=device)
core.check_no_output_loop(conv2d_gemm, (X, K, b), (big, K, b), {"stride": 1, "padding": 1}, fname="conv2d_gemm")
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex16"):
    sys.modules.pop(name, None)
core = importlib.import_module("convlib.checks.core")
for seed, (xs, ks, s, p, d) in enumerate([((1, 2, 8, 6), (3, 2, 2, 3), 1, 2, 1), ((2, 1, 9, 9), (2, 1, 3, 3), 3, 0, 2), ((1, 4, 5, 5), (2, 4, 1, 1), 2, 0, 1)]):
    X = check.randn(*xs, seed=10 + seed, device=device)
    K = check.randn(*ks, seed=20 + seed, device=device)
    check.check_conv2d(conv2d_gemm, X, K, bias=check.randn(ks[0], seed=30 + seed, device=device), stride=s, padding=p, dilation=d, fname="conv2d_gemm", forbidden=check.CONV_OPS | check.UNFOLD_OPS)
big = check.randn(1, 2, 40, 24, seed=5, device=device)
K = check.randn(3, 2, 3, 3, seed=6, device=device)
core.check_no_output_loop(conv2d_gemm, (big[..., :8, :8], K), (big, K), {"dilation": 2}, fname="conv2d_gemm")
### END HIDDEN TESTS

# %% markdown id=md_speed
# ## 2. Measure it: at least 5 times faster than the loops (2 points)
#
# The check times your `conv2d_gemm` against the course's loop version, `core.reference_loops`
# (one `einsum` per output position, chapter 16's first rung with every argument), on the same
# `(1, 8, 32, 32)` input with a `(8, 8, 3, 3)` kernel, best of several runs each, and requires a
# ratio of at least 5 (a correct im2col version is typically a hundred times faster or more; the margin
# absorbs a busy machine). The yardstick is the course's code, read afresh from disk by the hidden
# test: your own loops play no part. Use the scratch cell to time things yourself, e.g. with
# `%timeit`.

# %% scratch id=scratch_speed
# Try it: %timeit core.reference_loops(X, K, padding=1)  and  %timeit conv2d_gemm(X, K, padding=1)

# %% test id=test_speedup points=2
X = check.randn(1, 8, 32, 32, seed=7, device=device)
K = check.randn(8, 8, 3, 3, seed=8, device=device)
core.check_speedup(conv2d_gemm, (X, K), {"padding": 1}, fast_name="conv2d_gemm", min_ratio=5)
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex16"):
    sys.modules.pop(name, None)
core = importlib.import_module("convlib.checks.core")
X = check.randn(2, 4, 28, 28, seed=9, device=device)
K = check.randn(6, 4, 3, 3, seed=10, device=device)
core.check_speedup(conv2d_gemm, (X, K), {"stride": 1, "dilation": 2}, fast_name="conv2d_gemm", min_ratio=5)
### END HIDDEN TESTS

# %% markdown id=md_derive
# ## 3. Derive Winograd's matrices (3 points)
#
# The chapter hands you the matrices of F(2, 3). Winograd's minimal filtering algorithm F(m, r)
# computes `m` outputs of an `r`-tap cross-correlation from a tile of `a = m + r - 1` inputs `d`
# with only `a` multiplications, as
#
# $$y = A^T\left[(G\,g) \odot (B^T d)\right], \qquad A^T: (m, a), \quad G: (a, r), \quad B^T: (a, a).$$
#
# The matrices come from polynomials (Toom-Cook). The product $c(x) = e(x)\,g(x)$ of a polynomial
# $e$ with `m` coefficients and $g$ with `r` coefficients has `a` coefficients, so it is known
# from its values at `a` points: here the `a - 1` finite `points` you are given and the *point at
# infinity*, whose "value" is the leading coefficient. Evaluate, multiply the values (the `a`
# multiplications), interpolate back: that is the polynomial product, a full convolution. The
# correlation $y_i = \sum_j d_{i+j}\, g_j$ is what you need; as a linear map of the input it is
# the transpose of the convolution's map $e \mapsto c$, so transpose the algorithm.
#
# Write `winograd_matrices(m, r, points)` returning `(AT, G, BT)` as float64 tensors. The check
# runs your algorithm on random tiles and kernels for F(2, 3), F(4, 3), F(3, 2) and F(2, 5) and
# compares it with the correlation; it names a convolution (kernel reversed) and an interpolation
# that was not transposed. Derive it on paper for F(2, 3) with points `[0, 1, -1]` first, and
# compare with the chapter's matrices (they differ by a scaling of the `a` products).

# %% solution id=winograd_matrices
def winograd_matrices(m: int, r: int, points: list[float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """F(m, r) from a - 1 = m + r - 2 finite points and infinity -> A^T (m, a), G (a, r), B^T (a, a)."""
    ### BEGIN SOLUTION
    def vandermonde(columns: int) -> torch.Tensor:
        rows = [[float(p) ** j for j in range(columns)] for p in points]
        return torch.tensor(rows + [[0.0] * (columns - 1) + [1.0]], dtype=torch.float64)

    V = vandermonde(m + r - 1)
    return vandermonde(m).T, vandermonde(r), torch.linalg.inv(V).T
    ### END SOLUTION

# %% test id=test_winograd_matrices points=3
practice.check_winograd_matrices(winograd_matrices, 2, 3, [0, 1, -1])
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex16"):
    sys.modules.pop(name, None)
practice = importlib.import_module("convlib.checks.ex16")
for seed, (m, r, points) in enumerate([(2, 3, [0, 2, -0.5]), (4, 3, [0, 1, -1, 2, -2]), (3, 2, [0, 1, -1]), (2, 5, [0, 1, -1, 0.5, -2]), (6, 3, [0, 1, -1, 2, -2, 0.5, -0.5])]):
    practice.check_winograd_matrices(winograd_matrices, m, r, points, seed=10 * seed + 1)
### END HIDDEN TESTS

# %% markdown id=md_winograd
# ## 4. A signal through F(m, r) tiles (3 points)
#
# Write `winograd_conv1d(x, g, m, points)` for a signal `x: (L,)` and a kernel `g: (r,)` with
# `L - r + 1` a multiple of `m`: the valid cross-correlation `F.conv1d(x[None, None],
# g[None, None])[0, 0]` (length `L - r + 1`), computed with your F(m, r) matrices on all tiles at
# once. Consecutive tiles must overlap (which step between tile starts gives every output exactly
# once?), the kernel transform `G g` is computed once, and there is no Python loop over the tiles:
# the check counts the lines your function runs on a short and on a long signal.

# %% solution id=winograd_conv1d
def winograd_conv1d(x: torch.Tensor, g: torch.Tensor, m: int, points: list[float]) -> torch.Tensor:
    """x: (L,), g: (r,), (L - r + 1) % m == 0 -> (L - r + 1,), by F(m, r) tiles."""
    ### BEGIN SOLUTION
    r = g.shape[0]
    a = m + r - 1
    AT, G, BT = (M.to(x) for M in winograd_matrices(m, r, points))
    tiles = (x.shape[0] - r + 1) // m
    index = torch.arange(tiles, device=x.device)[:, None] * m + torch.arange(a, device=x.device)
    D = x[index]  # (tiles, a): tile t is x[t*m : t*m + a]
    Y = AT @ ((G @ g)[:, None] * (BT @ D.T))  # (m, tiles)
    return Y.T.reshape(-1)
    ### END SOLUTION

# %% test id=test_winograd_conv1d points=3
x, g = check.randn(14, seed=11, device=device), check.randn(3, seed=12, device=device)
practice.check_winograd_conv1d(winograd_conv1d, x, g, 2, [0, 1, -1])
core.check_no_output_loop(winograd_conv1d, (x, g, 2, [0, 1, -1]), (check.randn(402, seed=13, device=device), g, 2, [0, 1, -1]), fname="winograd_conv1d", what="tiles", instead="gather every tile at once (an index tensor, or strided slices)")
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex16"):
    sys.modules.pop(name, None)
core = importlib.import_module("convlib.checks.core")
practice = importlib.import_module("convlib.checks.ex16")
for seed, (L, r, m, points) in enumerate([(4, 3, 2, [0, 1, -1]), (30, 3, 4, [0, 1, -1, 2, -2]), (13, 5, 3, [0, 1, -1, 2, -2, 0.5]), (101, 2, 4, [0, 1, -1, 2])]):
    x, g = check.randn(L, seed=40 + seed, device=device), check.randn(r, seed=50 + seed, device=device)
    practice.check_winograd_conv1d(winograd_conv1d, x, g, m, points)
core.check_no_output_loop(winograd_conv1d, (x[:13], g, 4, [0, 1, -1, 2]), (x, g, 4, [0, 1, -1, 2]), fname="winograd_conv1d", what="tiles", instead="gather every tile at once (an index tensor, or strided slices)")
### END HIDDEN TESTS
