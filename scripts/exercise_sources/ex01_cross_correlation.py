# %% markdown id=title
# # Exercise 1: cross-correlation from scratch
#
# **Total: {total_points} points.** Book chapter 1 (cross-correlation and convolution).
#
# The chapter prints `corr2d` as a loop over output positions and `convolve2d` as `corr2d` with a
# flipped kernel. Here you write a vectorised `corr2d` (a loop over the kernel's few taps instead
# of the many output positions), the "full" convolution of signal processing, and the way back:
# the kernel recovered from an input and its output.
#
# How this notebook works:
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. The visible asserts there are
#   a subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional` and tell you what differs.
# - Build everything from indexing, slicing, `sum`, `*` and `@`. Calling the operation you are
#   implementing (`torch.nn.functional.conv2d`, an alias of it, or `convlib`) scores 0 for that task.
# - Return tensors on the device and with the dtype of the input: create new tensors with
#   `X.new_zeros(shape)`, which does both.
# - Before submitting, run **Kernel > Restart & Run All**, or from a terminal
#   `nbgrader validate ex01_cross_correlation.ipynb`.
#
# Notation: `X` input, `K` kernel, `Y` output, `kh, kw` kernel height and width.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex01 as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_corr2d
# ## 1. Cross-correlation over the kernel's taps (3 points)
#
# A 2D cross-correlation slides the kernel `K` of shape `(kh, kw)` over the input `X` of shape
# `(H, W)` and, at every position where the kernel fits entirely, takes the sum of the elementwise
# product:
#
# $$Y[i, j] = \sum_{a=0}^{kh-1} \sum_{b=0}^{kw-1} X[i + a, j + b] \, K[a, b]$$
#
# so `Y` has shape `(H - kh + 1, W - kw + 1)`. Deep-learning libraries call this operation
# "convolution". The chapter computes it with two loops over the `(H - kh + 1) * (W - kw + 1)`
# output positions. Write `corr2d(X, K)` with a Python loop over the `kh * kw` kernel taps instead,
# each tap contributing a whole slice of `X` at once (work out which slice). No Python loop over
# output positions: the check counts the lines your function runs on a small and on a large input.
# Build it from slicing, `*` and `+`: `Tensor.unfold`, `F.unfold` and torch's convolutions score 0.
#
# Worked example: `X = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]` and `K = [[0, 1], [2, 3]]` give
# `Y = [[19, 25], [37, 43]]`, since `0*0 + 1*1 + 3*2 + 4*3 = 19`.

# %% solution id=corr2d
def corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """2D cross-correlation. X: (H, W), K: (kh, kw) -> Y: (H - kh + 1, W - kw + 1)."""
    ### BEGIN SOLUTION
    kh, kw = K.shape
    H_out, W_out = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    Y = X.new_zeros((H_out, W_out))
    for a in range(kh):
        for b in range(kw):
            Y += X[a : a + H_out, b : b + W_out] * K[a, b]
    return Y
    ### END SOLUTION

# %% test id=test_corr2d points=3
X = torch.arange(9.0, dtype=torch.float64, device=device).reshape(3, 3)
K = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64, device=device)
check.check_corr2d(corr2d, X, K)  # the worked example
practice.check_corr2d_taps(corr2d, check.randn(5, 6, seed=1, device=device), check.randn(3, 2, seed=2, device=device))
check.compare(
    corr2d(X, K),
    torch.tensor([[19.0, 25.0], [37.0, 43.0]], dtype=torch.float64, device=device),
    call="corr2d(X, K) on the worked example",
)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex01", None)
practice = importlib.import_module("convlib.checks.ex01")
for seed, (H, W, kh, kw) in enumerate([(4, 4, 1, 1), (6, 5, 2, 3), (7, 8, 4, 4), (3, 9, 3, 1)]):
    X = check.randn(H, W, seed=100 + seed, device=device)
    K = check.randn(kh, kw, seed=200 + seed, device=device)
    practice.check_corr2d_taps(corr2d, X, K)
### END HIDDEN TESTS

# %% markdown id=md_convolve2d
# ## 2. The "full" convolution of signal processing (3 points)
#
# In mathematics and signal processing, the convolution of `X` with `K` uses the kernel rotated by
# 180 degrees, and its default output is *full*: every position where the kernel overlaps `X` at
# all (`numpy.convolve` and `scipy.signal.convolve2d` default to it), of shape
# `(H + kh - 1, W + kw - 1)`, as if `X` were surrounded by zeros. Write
# `convolve2d(X, K, mode="valid")`: with `mode="valid"` the true convolution of the chapter (the
# output shape of `corr2d`), with `mode="full"` the full one. You may call your `corr2d`.
#
# With the worked example above, `convolve2d(X, K)` is `[[5, 11], [23, 29]]`, and
# `convolve2d(X, K, mode="full")` is 4x4 with corners `0`, `2`, `12`, `24` (check one on paper).

# %% solution id=convolve2d
def convolve2d(X: torch.Tensor, K: torch.Tensor, mode: str = "valid") -> torch.Tensor:
    """True 2D convolution. X: (H, W), K: (kh, kw) -> Y: (H - kh + 1, W - kw + 1) for "valid",
    (H + kh - 1, W + kw - 1) for "full"."""
    ### BEGIN SOLUTION
    if mode == "full":
        kh, kw = K.shape
        Xp = X.new_zeros((X.shape[0] + 2 * (kh - 1), X.shape[1] + 2 * (kw - 1)))
        Xp[kh - 1 : kh - 1 + X.shape[0], kw - 1 : kw - 1 + X.shape[1]] = X
        X = Xp
    return corr2d(X, K.flip(0, 1))
    ### END SOLUTION

# %% test id=test_convolve2d points=3
X = torch.arange(9.0, dtype=torch.float64, device=device).reshape(3, 3)
K = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64, device=device)
practice.check_convolve2d_mode(convolve2d, X, K, "valid")  # the worked example
practice.check_convolve2d_mode(convolve2d, check.randn(5, 6, seed=3, device=device), check.randn(3, 2, seed=4, device=device), "valid")
check.compare(
    convolve2d(X, K),
    torch.tensor([[5.0, 11.0], [23.0, 29.0]], dtype=torch.float64, device=device),
    call="convolve2d(X, K) on the worked example",
)
practice.check_convolve2d_mode(convolve2d, X, K, "full")  # the worked example, full
practice.check_convolve2d_mode(convolve2d, check.randn(5, 6, seed=3, device=device), check.randn(3, 2, seed=4, device=device), "full")
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex01", None)
practice = importlib.import_module("convlib.checks.ex01")
for seed, (H, W, kh, kw) in enumerate([(5, 5, 2, 2), (6, 7, 3, 2), (4, 8, 1, 3)]):
    X = check.randn(H, W, seed=300 + seed, device=device)
    K = check.randn(kh, kw, seed=400 + seed, device=device)
    practice.check_convolve2d_mode(convolve2d, X, K, "valid")
    practice.check_convolve2d_mode(convolve2d, X, K, "full")
### END HIDDEN TESTS

# %% markdown id=md_recover
# ## 3. The way back: recover the kernel (4 points)
#
# A colleague ran an unknown `(kh, kw)` kernel over the image `X` and kept only the output `Y`
# (`H - kh + 1` by `W - kw + 1`), measured with some noise. Write `recover_kernel(X, Y, kernel_size)`
# that returns the kernel `K` whose cross-correlation with `X` is closest to `Y` in the least-squares
# sense: the `K` minimising $\sum_{i,j} (Y[i, j] - (X \star K)[i, j])^2$. Every output pixel is one
# linear equation in the `kh * kw` unknown entries of `K`; set up that system and solve it (for
# example with `torch.linalg.lstsq` or `torch.linalg.pinv`). Without noise you get the kernel
# exactly back. The same rules hold: no torch convolution.
#
# Hint: `corr2d(X, Y)` has the right shape, but it is not the answer. When is it?

# %% solution id=recover_kernel
def recover_kernel(X: torch.Tensor, Y: torch.Tensor, kernel_size: tuple[int, int]) -> torch.Tensor:
    """Least-squares kernel. X: (H, W), Y: (H - kh + 1, W - kw + 1), kernel_size (kh, kw)
    -> K: (kh, kw) with corr2d(X, K) closest to Y."""
    ### BEGIN SOLUTION
    kh, kw = kernel_size
    H_out, W_out = Y.shape
    # one column per tap: the slice of X that tap multiplies, flattened over the output pixels
    A = torch.stack([X[a : a + H_out, b : b + W_out].reshape(-1) for a in range(kh) for b in range(kw)], dim=1)
    K = torch.linalg.lstsq(A, Y.reshape(-1, 1)).solution
    return K.reshape(kh, kw)
    ### END SOLUTION

# %% test id=test_recover_kernel points=4
X = check.randn(7, 9, seed=10, device=device)
K_true = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0]], dtype=torch.float64, device=device)  # an edge detector
Y = check.torch_reference().conv2d(X[None, None], K_true[None, None])[0, 0]  # corr2d(X, K_true)
check.compare(recover_kernel(X, Y, (2, 3)), K_true, call="recover_kernel(X, corr2d(X, K_true), (2, 3))", atol=1e-8, rtol=1e-6)
practice.check_recover_kernel(recover_kernel, X, Y + 0.1 * check.randn(*Y.shape, seed=11, device=device), (2, 3))
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex01", None)
practice = importlib.import_module("convlib.checks.ex01")
for seed, (H, W, kh, kw, noise) in enumerate([(6, 6, 3, 3, 0.0), (8, 5, 1, 4, 0.05), (9, 9, 4, 2, 0.2)]):
    X = check.randn(H, W, seed=1000 + seed, device=device)
    X = X + X.roll(1, 1)  # neighbouring pixels correlated, as in images
    Y = check.randn(H - kh + 1, W - kw + 1, seed=1100 + seed, device=device) * noise
    Y += torch.stack([X[a : a + H - kh + 1, b : b + W - kw + 1] for a in range(kh) for b in range(kw)]).mul(
        check.randn(kh * kw, 1, 1, seed=1200 + seed, device=device)).sum(0)
    practice.check_recover_kernel(recover_kernel, X, Y, (kh, kw))
### END HIDDEN TESTS
