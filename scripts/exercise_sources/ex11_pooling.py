# %% markdown id=title
# # Exercise 11: pooling
#
# **Total: {total_points} points.** Book chapter 11.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional` on seeded random inputs and tell
#   you what differs. Build everything from indexing, slicing, `sum`, `*` and `@`: calling the
#   operation you implement (`torch.nn.functional.max_pool2d`, `avg_pool2d` and friends, or `convlib`) scores 0 for that task.
# - Return tensors on the input's device and dtype: `X.new_zeros(shape)` creates one.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex11_pooling.ipynb`.
#
# The chapter prints max and average pooling as loops over output positions, without `dilation`,
# `ceil_mode` or `count_include_pad=False`, routes a max pool's gradient through the indices torch
# reports, and loops over the bins of adaptive pooling. Here you compute those indices yourself
# (ties included), derive the backward pass of average pooling when the padding does not count,
# and pool adaptively with no loop at all.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex11 as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_max_pool
# ## 1. Max pooling that knows where its maxima are (4 points)
#
# Write `max_pool2d(X, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False)` for
# `X: (N, C, H, W)` and int arguments, returning the pair `(Y, indices)` of
# `torch.nn.functional.max_pool2d(..., return_indices=True)`: `indices[n, c, i, j]` is where
# `Y[n, c, i, j]` sits in channel `c` of `X`, as the flat index `h * W + w`. The chapter's
# version has neither `dilation` (taps `dilation` pixels apart) nor `ceil_mode` (round the output
# size up, keeping a last partial window that starts inside the input or the left padding), and
# loops over output positions. Here, **no Python loop over output positions**. When a window holds
# its maximum twice, torch reports the first in the window's row-major order: so must you (the
# tests use inputs with many ties). The check counts your lines of Python on a small and on a
# large input.

# %% solution id=max_pool2d
def max_pool2d(X: torch.Tensor, kernel_size: int, stride: int | None = None, padding: int = 0, dilation: int = 1, ceil_mode: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """X: (N, C, H, W) -> Y, indices: (N, C, out_h, out_w), the max of every (dilated) window."""
    ### BEGIN SOLUTION
    k, s, p, d = kernel_size, (kernel_size if stride is None else stride), padding, dilation
    N, C, H, W = X.shape
    span = d * (k - 1) + 1

    def size(n: int) -> int:
        out = (n + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= n + p:
            out -= 1  # the last window would start in the right padding
        return out

    out_h, out_w = size(H), size(W)
    rows, cols = max(H + 2 * p, (out_h - 1) * s + span), max(W + 2 * p, (out_w - 1) * s + span)
    Xp = X.new_full((N, C, rows, cols), float("-inf"))
    Xp[:, :, p : p + H, p : p + W] = X
    Y = X.new_full((N, C, out_h, out_w), float("-inf"))
    index = torch.zeros((N, C, out_h, out_w), dtype=torch.long, device=X.device)
    i = torch.arange(out_h, device=X.device)[:, None]
    j = torch.arange(out_w, device=X.device)[None, :]
    for a in range(k):
        for b in range(k):
            window = Xp[:, :, a * d : a * d + (out_h - 1) * s + 1 : s, b * d : b * d + (out_w - 1) * s + 1 : s]
            wins = window > Y  # strictly: a tie keeps the earlier tap
            Y = torch.where(wins, window, Y)
            index = torch.where(wins, (i * s + a * d - p) * W + (j * s + b * d - p), index)
    return Y, index
    ### END SOLUTION

# %% test id=test_max_pool2d points=4
X = check.randn(1, 2, 4, 4, seed=1, device=device).round()  # whole numbers: many ties
practice.check_max_pool2d_indices(max_pool2d, X, 2)
practice.check_max_pool2d_indices(max_pool2d, X, 3, stride=1, padding=1)
practice.check_max_pool2d_indices(max_pool2d, check.randn(1, 1, 5, 5, seed=2, device=device).round(), 2, ceil_mode=True)
practice.check_max_pool2d_indices(max_pool2d, check.randn(2, 2, 7, 7, seed=3, device=device).round(), 2, stride=2, padding=1, dilation=2)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex11", None)
practice = importlib.import_module("convlib.checks.ex11")
for seed, (xs, k, s, p, d, ceil) in enumerate([((2, 3, 6, 6), 3, 2, 1, 1, False), ((1, 2, 7, 5), 2, None, 1, 1, True), ((1, 1, 3, 3), 3, None, 0, 1, False), ((2, 1, 8, 9), 4, 3, 2, 1, True), ((1, 2, 9, 8), 3, 2, 1, 2, True), ((1, 1, 7, 7), 2, 1, 0, 3, False), ((1, 1, 6, 6), 2, 2, 1, 3, True)]):
    practice.check_max_pool2d_indices(max_pool2d, check.randn(*xs, seed=10 + seed, device=device).mul(0.7).round(), k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
### END HIDDEN TESTS

# %% markdown id=md_avg_backward
# ## 2. The backward pass of average pooling, padding or not (3 points)
#
# Write `avg_pool2d_backward(dY, input_size, kernel_size, stride=None, padding=0,
# count_include_pad=True)`: given `dY = dL/dY: (N, C, H', W')` for
# `Y = torch.nn.functional.avg_pool2d(X, kernel_size, stride, padding,
# count_include_pad=count_include_pad)` and `input_size = (H, W)`, return `dL/dX: (N, C, H, W)`.
# The zero padding is not part of `X`; with `count_include_pad=False` a window near the border
# is the mean of only the real pixels it covers. Windows may overlap (stride smaller than the
# kernel). **The check calls your function with autograd switched off** (gradient recording off,
# and any tensor autograd would save refused): derive it. No Python loop over output positions.

# %% solution id=avg_pool2d_backward
def avg_pool2d_backward(dY: torch.Tensor, input_size: tuple[int, int], kernel_size: int, stride: int | None = None, padding: int = 0, count_include_pad: bool = True) -> torch.Tensor:
    """dY: (N, C, H', W') -> dL/dX: (N, C, H, W)."""
    ### BEGIN SOLUTION
    k, s, p = kernel_size, (kernel_size if stride is None else stride), padding
    N, C, out_h, out_w = dY.shape
    H, W = input_size
    real = dY.new_zeros((H + 2 * p, W + 2 * p))
    real[p : p + H, p : p + W] = 1
    taps = [(slice(a, a + (out_h - 1) * s + 1, s), slice(b, b + (out_w - 1) * s + 1, s)) for a in range(k) for b in range(k)]
    count = sum(real[rows, cols] for rows, cols in taps)  # real pixels in each window
    share = dY / (k * k if count_include_pad else count)  # what each pixel of a window receives
    dXp = dY.new_zeros((N, C, H + 2 * p, W + 2 * p))
    for rows, cols in taps:
        dXp[:, :, rows, cols] += share
    return dXp[:, :, p : p + H, p : p + W]
    ### END SOLUTION

# %% test id=test_avg_pool2d_backward points=3
dY = check.randn(1, 2, 3, 3, seed=3, device=device)
practice.check_avg_pool2d_backward(avg_pool2d_backward, dY, (5, 5), 3, stride=2, padding=1, count_include_pad=False)
practice.check_avg_pool2d_backward(avg_pool2d_backward, dY, (5, 5), 3, stride=2, padding=1)
practice.check_avg_pool2d_backward(avg_pool2d_backward, check.randn(1, 2, 2, 2, seed=4, device=device), (5, 4), 2)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex11", None)
practice = importlib.import_module("convlib.checks.ex11")
for seed, (shape, size, k, s, p, inc) in enumerate([((2, 3, 7, 7), (6, 6), 2, 1, 1, False), ((1, 1, 3, 2), (7, 4), 3, None, 1, True), ((1, 2, 5, 5), (8, 8), 4, 2, 2, False), ((1, 1, 5, 4), (9, 7), 3, 2, 1, False)]):
    practice.check_avg_pool2d_backward(avg_pool2d_backward, check.randn(*shape, seed=20 + seed, device=device), size, k, stride=s, padding=p, count_include_pad=inc)
### END HIDDEN TESTS

# %% markdown id=md_adaptive
# ## 3. Adaptive and global average pooling without loops (3 points)
#
# Adaptive pooling fixes the output size instead of the window: for `output_size = (oh, ow)`, bin
# `i` covers rows `floor(i*H/oh)` up to (not including) `ceil((i+1)*H/oh)`, likewise for columns,
# so bins may differ in size and overlap by one row; `(1, 1)` is global average pooling. The
# chapter loops over the bins. Write `adaptive_avg_pool2d(X, output_size)` for `X: (N, C, H, W)`
# with no Python loop over the bins, through a *summed-area table*: `S = X` cumulatively summed
# along `H` and `W` and padded with a leading zero row and column, so that `S[r, c]` is the sum of
# `X[:r, :c]` and the sum over rows `r0:r1`, columns `c0:c1` is
# `S[r1, c1] - S[r0, c1] - S[r1, c0] + S[r0, c0]`. Compute all bins' corners as index tensors, read
# them at once, and divide by the bins' areas. The check counts the Python lines your function
# runs for a 1x1 and a 6x6 output.

# %% solution id=adaptive_avg_pool2d
def adaptive_avg_pool2d(X: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
    """X: (N, C, H, W) -> (N, C, oh, ow), the mean over each adaptive bin."""
    ### BEGIN SOLUTION
    N, C, H, W = X.shape
    oh, ow = output_size
    S = X.new_zeros((N, C, H + 1, W + 1))
    S[:, :, 1:, 1:] = X.cumsum(2).cumsum(3)
    i = torch.arange(oh, device=X.device)
    j = torch.arange(ow, device=X.device)
    r0, r1 = (i * H) // oh, ((i + 1) * H + oh - 1) // oh
    c0, c1 = (j * W) // ow, ((j + 1) * W + ow - 1) // ow
    total = S[:, :, r1][:, :, :, c1] - S[:, :, r0][:, :, :, c1] - S[:, :, r1][:, :, :, c0] + S[:, :, r0][:, :, :, c0]
    area = ((r1 - r0)[:, None] * (c1 - c0)[None, :]).to(X.dtype)
    return total / area
    ### END SOLUTION

# %% test id=test_adaptive_avg_pool2d points=3
X = check.randn(2, 3, 7, 5, seed=4, device=device)
practice.check_adaptive_avg_pool2d_integral(adaptive_avg_pool2d, X, (3, 2))
practice.check_adaptive_avg_pool2d_integral(adaptive_avg_pool2d, X, (1, 1))  # global average pooling
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex11", None)
practice = importlib.import_module("convlib.checks.ex11")
for seed, (xs, out) in enumerate([((1, 1, 10, 10), (3, 3)), ((2, 2, 6, 9), (6, 4)), ((1, 4, 5, 5), (5, 5)), ((1, 2, 8, 3), (2, 1))]):
    practice.check_adaptive_avg_pool2d_integral(adaptive_avg_pool2d, check.randn(*xs, seed=40 + seed, device=device), out)
### END HIDDEN TESTS
