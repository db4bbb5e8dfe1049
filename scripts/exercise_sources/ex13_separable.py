# %% markdown id=title
# # Exercise 13: spatially separable kernels
#
# **Total: {total_points} points.** Book chapter 13.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional.conv2d` and `torch.linalg.svd` on
#   seeded random inputs and tell you what differs. `torch.linalg` (svd, svdvals) is allowed; a
#   convolution (`F.conv2d`, `F.conv1d`, ...), `F.unfold`, `Tensor.unfold` or `convlib` scores 0
#   for that task.
# - Return tensors on the input's device and dtype.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex13_separable.ipynb`.
#
# The chapter factors a separable kernel with the SVD and applies it as two 1D passes. Here you
# make the decision robust to rounding (a tolerance, and a unique answer), apply the passes to a
# whole batch of multi-channel images with padding, and generalise to kernels of any rank: a sum
# of separable passes, the best low-rank approximation.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.check_practice as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_factors
# ## 1. Is it separable? Return unique factors (3 points)
#
# A kernel `K: (kh, kw)` is separable when it is an outer product `col[:, None] * row[None, :]`,
# that is when its rank is 1. Kernels computed in floating point are rarely exactly rank 1, so
# decide with a tolerance relative to the largest singular value: with singular values
# `s1 >= s2 >= ...`, `K` is separable when `s2 <= tol * s1` (a 1x`kw` or `kh`x1 kernel always is).
# Write `separable_factors(K, tol=1e-6)` returning `None` when `K` is not separable, else the pair
# `(col, row)` of shapes `(kh,)` and `(kw,)` with `torch.outer(col, row) ≈ K`, made unique by two
# conventions: the factors are *balanced* (each carries `sqrt(s1)`, so `col.norm() == row.norm()`)
# and `col`'s entry of largest magnitude is positive.
#
# Careful: `torch.linalg.matrix_rank(K)` uses a tolerance of about `1e-15 * s1`, so it calls a
# kernel with rounding noise of `1e-12` rank 2. Use `tol`.

# %% solution id=separable_factors
def separable_factors(K: torch.Tensor, tol: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor] | None:
    """K: (kh, kw) -> None, or (col: (kh,), row: (kw,)) with outer(col, row) = K, balanced."""
    ### BEGIN SOLUTION
    U, S, Vh = torch.linalg.svd(K)
    if len(S) > 1 and S[1] > tol * S[0]:
        return None
    col = U[:, 0] * S[0].sqrt()
    row = Vh[0] * S[0].sqrt()
    if col[col.abs().argmax()] < 0:
        col, row = -col, -row
    return col, row
    ### END SOLUTION

# %% test id=test_separable_factors points=3
sobel = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=torch.float64, device=device)
practice.check_separable_factors(separable_factors, sobel)  # [1, 2, 1] times [1, 0, -1]
practice.check_separable_factors(separable_factors, check.randn(3, 3, seed=1, device=device))  # rank 3
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
u, v = check.randn(5, seed=2, device=device), check.randn(4, seed=3, device=device)
practice.check_separable_factors(separable_factors, -torch.outer(u, v))
practice.check_separable_factors(separable_factors, torch.outer(u, v) + 1e-12 * check.randn(5, 4, seed=4, device=device))
practice.check_separable_factors(separable_factors, torch.outer(u, v) + 1e-3 * check.randn(5, 4, seed=5, device=device))
practice.check_separable_factors(separable_factors, check.randn(1, 5, seed=6, device=device))
practice.check_separable_factors(separable_factors, check.randn(7, 2, seed=7, device=device))
g = torch.exp(-torch.arange(-3.0, 4.0, dtype=torch.float64, device=device) ** 2 / 4)
practice.check_separable_factors(separable_factors, torch.outer(g, g))  # a Gaussian blur
### END HIDDEN TESTS

# %% markdown id=md_two_pass
# ## 2. Two 1D passes over a batch, with padding (3 points)
#
# Write `separable_conv2d(X, col, row, padding)`: every channel of `X: (N, C, H, W)` cross-correlated
# with the kernel `outer(col, row)`, zero padding `padding = (ph, pw)`, output
# `(N, C, H + 2*ph - kh + 1, W + 2*pw - kw + 1)`, computed as two 1D passes: first along `H` with
# `col` (`kh` taps), then along `W` with `row` (`kw` taps). Each pass is a loop over its taps that
# adds a scaled slice, so the work grows like `kh + kw`, not `kh * kw`: the check counts it.

# %% solution id=separable_conv2d
def separable_conv2d(X: torch.Tensor, col: torch.Tensor, row: torch.Tensor, padding: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """X: (N, C, H, W), col: (kh,), row: (kw,) -> (N, C, H + 2*ph - kh + 1, W + 2*pw - kw + 1)."""
    ### BEGIN SOLUTION
    N, C, H, W = X.shape
    ph, pw = padding
    kh, kw = col.shape[0], row.shape[0]
    Xp = X.new_zeros((N, C, H + 2 * ph, W + 2 * pw))
    Xp[:, :, ph : ph + H, pw : pw + W] = X
    Ho, Wo = Xp.shape[2] - kh + 1, Xp.shape[3] - kw + 1
    V = X.new_zeros((N, C, Ho, Xp.shape[3]))
    for a in range(kh):
        V += col[a] * Xp[:, :, a : a + Ho, :]
    Y = X.new_zeros((N, C, Ho, Wo))
    for b in range(kw):
        Y += row[b] * V[:, :, :, b : b + Wo]
    return Y
    ### END SOLUTION

# %% test id=test_separable_conv2d points=3
X = check.randn(2, 3, 8, 9, seed=8, device=device)
col, row = check.randn(3, seed=9, device=device), check.randn(5, seed=10, device=device)
practice.check_separable_conv2d(separable_conv2d, X, col, row)
practice.check_separable_conv2d(separable_conv2d, X, col, row, (1, 2))
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (xs, kh, kw, pad) in enumerate([((1, 1, 6, 6), 1, 4, (0, 3)), ((3, 2, 7, 5), 5, 2, (2, 0)), ((1, 4, 10, 10), 7, 7, (3, 3))]):
    X = check.randn(*xs, seed=90 + seed, device=device)
    practice.check_separable_conv2d(separable_conv2d, X, check.randn(kh, seed=95 + seed, device=device), check.randn(kw, seed=99 + seed, device=device), pad)
### END HIDDEN TESTS

# %% markdown id=md_low_rank
# ## 3. Any kernel as a sum of separable passes (3 points)
#
# The SVD writes any kernel as `K = sum_r s_r * outer(U[:, r], Vh[r])`, and keeping the first
# `rank` terms gives the best approximation of that rank (Eckart–Young). Write
# `low_rank_conv2d(X, K, rank, padding)`: `X` filtered as in task 2 with the rank-`rank`
# approximation of `K: (kh, kw)`, computed as `rank` pairs of 1D passes (call your
# `separable_conv2d`). With `rank = min(kh, kw)` it is the exact convolution.

# %% solution id=low_rank_conv2d
def low_rank_conv2d(X: torch.Tensor, K: torch.Tensor, rank: int, padding: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """X: (N, C, H, W), K: (kh, kw) -> X filtered with K's best rank-`rank` approximation."""
    ### BEGIN SOLUTION
    U, S, Vh = torch.linalg.svd(K)
    Y = None
    for r in range(rank):
        term = separable_conv2d(X, U[:, r] * S[r], Vh[r], padding)
        Y = term if Y is None else Y + term
    return Y
    ### END SOLUTION

# %% test id=test_low_rank_conv2d points=3
X = check.randn(1, 2, 9, 9, seed=11, device=device)
K = check.randn(5, 5, seed=12, device=device)
practice.check_low_rank_conv2d(low_rank_conv2d, X, K, 2)
practice.check_low_rank_conv2d(low_rank_conv2d, X, K, 5, (2, 2))  # full rank: exact
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (xs, ks, r, pad) in enumerate([((2, 1, 8, 7), (3, 4), 1, (1, 0)), ((1, 3, 10, 10), (7, 7), 3, (3, 3)), ((1, 1, 6, 6), (4, 2), 2, (0, 1))]):
    X = check.randn(*xs, seed=120 + seed, device=device)
    practice.check_low_rank_conv2d(low_rank_conv2d, X, check.randn(*ks, seed=130 + seed, device=device), r, pad)
### END HIDDEN TESTS
