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
# `ceil_mode` or `count_include_pad=False`, and adaptive pooling as a loop over bins. Here you add
# those arguments, and write every pooling as a loop over the window's taps or with no loop at all.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.check_practice as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_pool_size
# ## 1. Pooling output size (2 points)
#
# Pooling slides a window like a convolution, with two differences: `stride` defaults to
# `kernel_size` (windows do not overlap), and `ceil_mode=True` rounds the division up instead of
# down, keeping a last partial window as long as it starts inside the input or the left padding
# (not in the right padding):
#
# $$\text{out} = \left\lfloor \frac{\text{size} + 2\,\text{padding} - \text{kernel\_size}}{\text{stride}} \right\rfloor + 1 \quad (\lceil\cdot\rceil \text{ with ceil\_mode}).$$
#
# Write `pool_output_size` (padding is at most half the kernel size).

# %% solution id=pool_output_size
def pool_output_size(size: int, kernel_size: int, stride: int | None = None, padding: int = 0, ceil_mode: bool = False) -> int:
    """Length of a pooling output along one axis, as torch computes it."""
    ### BEGIN SOLUTION
    stride = kernel_size if stride is None else stride
    span = size + 2 * padding - kernel_size
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start in the right padding
    return out
    ### END SOLUTION

# %% test id=test_pool_output_size points=2
check.check_pool_output_size(pool_output_size, 4, 2)
check.check_pool_output_size(pool_output_size, 5, 3, stride=2, padding=1)
check.check_pool_output_size(pool_output_size, 5, 2, ceil_mode=True)
### BEGIN HIDDEN TESTS
for size, k, s, p, ceil in [(7, 3, None, 0, False), (7, 3, None, 1, True), (6, 2, 3, 1, True), (10, 4, 3, 2, True), (9, 3, 1, 1, False), (4, 2, 2, 1, True)]:
    check.check_pool_output_size(pool_output_size, size, k, stride=s, padding=p, ceil_mode=ceil)
### END HIDDEN TESTS

# %% markdown id=md_max_pool
# ## 2. Max pooling with dilation and ceil_mode, over the taps (3 points)
#
# Write `max_pool2d(X, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False)` for
# `X: (N, C, H, W)` and int arguments, equal to `torch.nn.functional.max_pool2d`. The chapter's
# version has neither `dilation` (window taps `dilation` pixels apart, as in a dilated convolution)
# nor `ceil_mode`, and loops over output positions. Here, **no Python loop over output positions**:
# start from `-inf` and keep a running `torch.maximum` over the `k * k` taps, tap `(a, b)` being the
# strided slice of the `-inf`-padded input that starts at `(a*dilation, b*dilation)` with step
# `stride`. The output size is task 1's with `kernel_size` replaced by the span
# `dilation*(kernel_size - 1) + 1`; with `ceil_mode=True` the last window may stick out past the
# padded input: pad with enough `-inf` on the bottom and right that every tap's slice exists.

# %% solution id=max_pool2d
def max_pool2d(X: torch.Tensor, kernel_size: int, stride: int | None = None, padding: int = 0, dilation: int = 1, ceil_mode: bool = False) -> torch.Tensor:
    """X: (N, C, H, W) -> (N, C, out_h, out_w), the max of every (dilated) window."""
    ### BEGIN SOLUTION
    k, s, p, d = kernel_size, (kernel_size if stride is None else stride), padding, dilation
    N, C, H, W = X.shape
    span = d * (k - 1) + 1

    def size(n: int) -> int:  # task 1's formula with the span as the kernel size
        out = (n + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= n + p:
            out -= 1  # the last window would start in the right padding
        return out

    out_h, out_w = size(H), size(W)
    rows, cols = max(H + 2 * p, (out_h - 1) * s + span), max(W + 2 * p, (out_w - 1) * s + span)
    Xp = X.new_full((N, C, rows, cols), float("-inf"))
    Xp[:, :, p : p + H, p : p + W] = X
    Y = X.new_full((N, C, out_h, out_w), float("-inf"))
    for a in range(k):
        for b in range(k):
            Y = torch.maximum(Y, Xp[:, :, a * d : a * d + (out_h - 1) * s + 1 : s, b * d : b * d + (out_w - 1) * s + 1 : s])
    return Y
    ### END SOLUTION

# %% test id=test_max_pool2d points=3
X = check.randn(1, 2, 4, 4, seed=1, device=device)
practice.check_max_pool2d_taps(max_pool2d, X, 2)
practice.check_max_pool2d_taps(max_pool2d, X, 3, stride=1, padding=1)
practice.check_max_pool2d_taps(max_pool2d, check.randn(1, 1, 5, 5, seed=2, device=device), 2, ceil_mode=True)
practice.check_max_pool2d_taps(max_pool2d, check.randn(2, 2, 7, 7, seed=3, device=device), 2, stride=2, padding=1, dilation=2)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (xs, k, s, p, d, ceil) in enumerate([((2, 3, 6, 6), 3, 2, 1, 1, False), ((1, 2, 7, 5), 2, None, 1, 1, True), ((1, 1, 3, 3), 3, None, 0, 1, False), ((2, 1, 8, 9), 4, 3, 2, 1, True), ((1, 2, 9, 8), 3, 2, 1, 2, True), ((1, 1, 7, 7), 2, 1, 0, 3, False), ((1, 1, 6, 6), 2, 2, 1, 3, True)]):
    practice.check_max_pool2d_taps(max_pool2d, check.randn(*xs, seed=10 + seed, device=device), k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
### END HIDDEN TESTS

# %% markdown id=md_avg_pool
# ## 3. Average pooling and the padding question, over the taps (3 points)
#
# Write `avg_pool2d(X, kernel_size, stride=None, padding=0, count_include_pad=True)` (no
# `ceil_mode`), equal to `torch.nn.functional.avg_pool2d`, with **no Python loop over output
# positions**. Padding adds zeros; with `count_include_pad=True` (the chapter's version) every
# window is divided by `kernel_size**2`, with `False` by the number of real (non-padding) pixels it
# covers, which differs near the border. Sum the `k * k` strided slices of the padded input (one
# per tap); for the divisor, do the same to a padded mask that is 1 on real pixels and 0 on the
# padding.

# %% solution id=avg_pool2d
def avg_pool2d(X: torch.Tensor, kernel_size: int, stride: int | None = None, padding: int = 0, count_include_pad: bool = True) -> torch.Tensor:
    """X: (N, C, H, W) -> (N, C, out_h, out_w), the mean of every window."""
    ### BEGIN SOLUTION
    k, s, p = kernel_size, (kernel_size if stride is None else stride), padding
    N, C, H, W = X.shape
    out_h, out_w = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    Xp = X.new_zeros((N, C, H + 2 * p, W + 2 * p))
    Xp[:, :, p : p + H, p : p + W] = X
    real = X.new_zeros((H + 2 * p, W + 2 * p))
    real[p : p + H, p : p + W] = 1
    total = X.new_zeros((N, C, out_h, out_w))
    count = X.new_zeros((out_h, out_w))
    for a in range(k):
        for b in range(k):
            rows, cols = slice(a, a + (out_h - 1) * s + 1, s), slice(b, b + (out_w - 1) * s + 1, s)
            total += Xp[:, :, rows, cols]
            count += real[rows, cols]
    return total / (k * k) if count_include_pad else total / count
    ### END SOLUTION

# %% test id=test_avg_pool2d points=3
X = check.randn(1, 2, 5, 5, seed=3, device=device)
practice.check_avg_pool2d_taps(avg_pool2d, X, 2)
practice.check_avg_pool2d_taps(avg_pool2d, X, 3, stride=2, padding=1)
practice.check_avg_pool2d_taps(avg_pool2d, X, 3, stride=2, padding=1, count_include_pad=False)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (xs, k, s, p, inc) in enumerate([((2, 3, 6, 6), 2, 1, 1, False), ((1, 1, 7, 4), 3, None, 1, True), ((1, 2, 8, 8), 4, 2, 2, False)]):
    practice.check_avg_pool2d_taps(avg_pool2d, check.randn(*xs, seed=20 + seed, device=device), k, stride=s, padding=p, count_include_pad=inc)
### END HIDDEN TESTS

# %% markdown id=md_adaptive
# ## 4. Adaptive and global average pooling without loops (3 points)
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
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (xs, out) in enumerate([((1, 1, 10, 10), (3, 3)), ((2, 2, 6, 9), (6, 4)), ((1, 4, 5, 5), (5, 5)), ((1, 2, 8, 3), (2, 1))]):
    practice.check_adaptive_avg_pool2d_integral(adaptive_avg_pool2d, check.randn(*xs, seed=40 + seed, device=device), out)
### END HIDDEN TESTS

# %% markdown id=md_pool_backward
# ## 5. The backward of max pooling (2 points)
#
# Only the maximum of each window reaches the output, so the gradient of the loss flows back to
# that one input pixel: `dX` is zero except at the `indices` that `F.max_pool2d(...,
# return_indices=True)` reports (flat within each channel, `h * W + w`). Write
# `max_pool2d_backward(dY, indices, input_size)` for `dY, indices: (N, C, H', W')` and
# `input_size = (H, W)`, returning `dX: (N, C, H, W)`. When windows overlap (stride smaller than
# the kernel), one pixel can be the maximum of several windows: think about what its gradient is
# then. The check compares with autograd.

# %% solution id=max_pool2d_backward
def max_pool2d_backward(dY: torch.Tensor, indices: torch.Tensor, input_size: tuple[int, int]) -> torch.Tensor:
    """dY, indices: (N, C, H', W') -> dX: (N, C, H, W), dY routed to (and summed at) the argmaxes."""
    ### BEGIN SOLUTION
    N, C = dY.shape[:2]
    H, W = input_size
    dX = dY.new_zeros((N, C, H * W))
    dX.scatter_add_(2, indices.reshape(N, C, -1), dY.reshape(N, C, -1))
    return dX.reshape(N, C, H, W)
    ### END SOLUTION

# %% test id=test_max_pool2d_backward points=2
practice.check_max_pool2d_backward(max_pool2d_backward, check.randn(1, 2, 6, 6, seed=5, device=device), 2, 2)
practice.check_max_pool2d_backward(max_pool2d_backward, check.randn(2, 1, 5, 5, seed=6, device=device), 3, 1)  # overlapping
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (xs, k, s) in enumerate([((1, 3, 7, 7), 3, 2), ((2, 2, 4, 6), 2, 1), ((1, 1, 9, 9), 4, 3)]):
    practice.check_max_pool2d_backward(max_pool2d_backward, check.randn(*xs, seed=60 + seed, device=device), k, s)
### END HIDDEN TESTS
