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
# The chapter climbs a speed ladder for the plain convolution. Here you climb it yourself for the
# general layer (bias, stride, padding, dilation), measure the gain against your own loops, and
# carry Winograd's idea to one dimension.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.check_practice as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_loops
# ## 1. The baseline: a loop over output positions (2 points)
#
# Write `conv2d_loops(X, K, bias=None, stride=1, padding=0, dilation=1)`, the same as
# `F.conv2d(X, K, bias, stride, padding, dilation)` for `X: (N, C_in, H, W)` and
# `K: (C_out, C_in, kh, kw)`, with two Python loops over the output positions `(i, j)`. At each
# position take the dilated window `X_p[:, :, i*s : i*s + d*(kh-1) + 1 : d, j*s : ... : d]` of the
# padded input (all images, all channels) and contract it with `K` in one `einsum`. This is the
# reference the next tasks are timed against.

# %% solution id=conv2d_loops
def conv2d_loops(X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1, padding: int = 0, dilation: int = 1) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_out, C_in, kh, kw), bias: (C_out,) -> (N, C_out, H', W')."""
    ### BEGIN SOLUTION
    N, C_in, H, W = X.shape
    C_out, _, kh, kw = K.shape
    s, p, d = stride, padding, dilation
    Xp = X.new_zeros((N, C_in, H + 2 * p, W + 2 * p))
    Xp[:, :, p : p + H, p : p + W] = X
    Ho = (H + 2 * p - d * (kh - 1) - 1) // s + 1
    Wo = (W + 2 * p - d * (kw - 1) - 1) // s + 1
    Y = X.new_zeros((N, C_out, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            window = Xp[:, :, i * s : i * s + d * (kh - 1) + 1 : d, j * s : j * s + d * (kw - 1) + 1 : d]
            Y[:, :, i, j] = torch.einsum("nckl,ockl->no", window, K)
    if bias is not None:
        Y += bias[None, :, None, None]
    return Y
    ### END SOLUTION

# %% test id=test_conv2d_loops points=2
X = check.randn(2, 3, 7, 7, seed=1, device=device)
K = check.randn(4, 3, 3, 3, seed=2, device=device)
check.check_conv2d(conv2d_loops, X, K, fname="conv2d_loops")
check.check_conv2d(conv2d_loops, X, K, bias=check.randn(4, seed=3, device=device), stride=2, padding=1, dilation=2, fname="conv2d_loops")
### BEGIN HIDDEN TESTS
for seed, (xs, ks, s, p, d) in enumerate([((1, 2, 8, 6), (3, 2, 2, 3), 1, 2, 1), ((2, 1, 9, 9), (2, 1, 3, 3), 3, 0, 2)]):
    X = check.randn(*xs, seed=10 + seed, device=device)
    K = check.randn(*ks, seed=20 + seed, device=device)
    check.check_conv2d(conv2d_loops, X, K, bias=check.randn(ks[0], seed=30 + seed, device=device), stride=s, padding=p, dilation=d, fname="conv2d_loops")
### END HIDDEN TESTS

# %% markdown id=md_gemm
# ## 2. im2col + GEMM, with every argument (4 points)
#
# Now the same function without any Python loop over output positions. Build the column matrix
# with one loop over the `kh*kw` taps: tap `(a, b)` is the strided slice
# `X_p[:, :, a*d : a*d + (H'-1)*s + 1 : s, b*d : b*d + (W'-1)*s + 1 : s]`, of shape
# `(N, C_in, H', W')`; stack the taps into `(N, C_in*kh*kw, H'*W')` (in `K`'s `(c, a, b)` order),
# multiply once by `K.reshape(C_out, -1)` and reshape. `F.unfold` and `Tensor.unfold` are not
# allowed: the slices are the point. The check runs your function on a small and a large input and
# fails if the number of Python lines it executes grows with the number of output positions.

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
practice.check_no_output_loop(conv2d_gemm, (X, K, b), (big, K, b), {"stride": 1, "padding": 1}, fname="conv2d_gemm")
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (xs, ks, s, p, d) in enumerate([((1, 2, 8, 6), (3, 2, 2, 3), 1, 2, 1), ((2, 1, 9, 9), (2, 1, 3, 3), 3, 0, 2), ((1, 4, 5, 5), (2, 4, 1, 1), 2, 0, 1)]):
    X = check.randn(*xs, seed=10 + seed, device=device)
    K = check.randn(*ks, seed=20 + seed, device=device)
    check.check_conv2d(conv2d_gemm, X, K, bias=check.randn(ks[0], seed=30 + seed, device=device), stride=s, padding=p, dilation=d, fname="conv2d_gemm", forbidden=check.CONV_OPS | check.UNFOLD_OPS)
big = check.randn(1, 2, 40, 24, seed=5, device=device)
K = check.randn(3, 2, 3, 3, seed=6, device=device)
practice.check_no_output_loop(conv2d_gemm, (big[..., :8, :8], K), (big, K), {"dilation": 2}, fname="conv2d_gemm")
### END HIDDEN TESTS

# %% markdown id=md_speed
# ## 3. Measure it: at least 5 times faster than your loops (3 points)
#
# The check times `conv2d_gemm` and your `conv2d_loops` on the same `(1, 8, 32, 32)` input with a
# `(8, 8, 3, 3)` kernel, best of several runs each, in this process, and requires a ratio of at
# least 5 (a correct im2col version is typically 20 to 100 times faster; the margin absorbs a busy
# machine). Use the scratch cell below to time your functions yourself, e.g. with `%timeit`.

# %% scratch id=scratch_speed
# Try it: %timeit conv2d_loops(X, K)  and  %timeit conv2d_gemm(X, K)

# %% test id=test_speedup points=3
X = check.randn(1, 8, 32, 32, seed=7, device=device)
K = check.randn(8, 8, 3, 3, seed=8, device=device)
ratio = practice.check_speedup(conv2d_gemm, conv2d_loops, (X, K), {"padding": 1}, fast_name="conv2d_gemm", slow_name="conv2d_loops", min_ratio=5)
print(f"conv2d_gemm is {ratio:.0f}x faster than conv2d_loops")
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
X = check.randn(2, 4, 28, 28, seed=9, device=device)
K = check.randn(6, 4, 3, 3, seed=10, device=device)
practice.check_speedup(conv2d_gemm, conv2d_loops, (X, K), {"stride": 1, "dilation": 2}, fast_name="conv2d_gemm", slow_name="conv2d_loops", min_ratio=5)
### END HIDDEN TESTS

# %% markdown id=md_winograd
# ## 4. Winograd in one dimension: F(2, 3) (3 points)
#
# The chapter's Winograd F(2x2, 3x3) computes a 2x2 output tile of a 3x3 kernel with 16
# multiplications instead of 36. Its 1D ancestor F(2, 3) computes two outputs of a 3-tap
# cross-correlation from four inputs `d0..d3` with four multiplications instead of six:
#
# $$m_1 = (d_0 - d_2) g_0, \quad m_2 = (d_1 + d_2)\tfrac{g_0 + g_1 + g_2}{2}, \quad m_3 = (d_2 - d_1)\tfrac{g_0 - g_1 + g_2}{2}, \quad m_4 = (d_1 - d_3) g_2$$
#
# $$y_0 = m_1 + m_2 + m_3, \qquad y_1 = m_2 - m_3 - m_4$$
#
# Write `winograd_conv1d(x, g)` for a signal `x: (L,)` with `L - 2` even and a kernel `g: (3,)`,
# the same as the valid cross-correlation `F.conv1d(x[None, None], g[None, None])[0, 0]` (length
# `L - 2`): cut `x` into overlapping tiles of 4 with step 2 (by slicing, e.g. `x[0::2]`, `x[1::2]`,
# ...), apply the formulas to all tiles at once (no Python loop over tiles), and interleave `y0`
# and `y1`. First check the formulas on paper for `d = [1, 2, 3, 4]`, `g = [1, 1, 1]`.

# %% solution id=winograd_conv1d
def winograd_conv1d(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """x: (L,) with L - 2 even, g: (3,) -> (L - 2,), the valid cross-correlation, by F(2, 3)."""
    ### BEGIN SOLUTION
    T = (x.shape[0] - 2) // 2  # number of tiles
    d0, d1, d2, d3 = (x[i : i + 2 * T : 2] for i in range(4))
    m1 = (d0 - d2) * g[0]
    m2 = (d1 + d2) * ((g[0] + g[1] + g[2]) / 2)
    m3 = (d2 - d1) * ((g[0] - g[1] + g[2]) / 2)
    m4 = (d1 - d3) * g[2]
    return torch.stack([m1 + m2 + m3, m2 - m3 - m4], dim=1).reshape(-1)
    ### END SOLUTION

# %% test id=test_winograd_conv1d points=3
F = check.torch_reference()
x = torch.tensor([1.0, 2, 3, 4], dtype=torch.float64, device=device)
g = torch.ones(3, dtype=torch.float64, device=device)
check.compare(winograd_conv1d(x, g), torch.tensor([6.0, 9.0], dtype=torch.float64, device=device), call="winograd_conv1d on the worked example")
x, g = check.randn(12, seed=11, device=device), check.randn(3, seed=12, device=device)
check.check_function(winograd_conv1d, (x, g), {}, F.conv1d(x[None, None], g[None, None])[0, 0], fname="winograd_conv1d", forbidden=check.CONV_OPS | check.UNFOLD_OPS, variants=[("your output equals the convolution (kernel flipped): F(2, 3) as given is a cross-correlation", lambda: F.conv1d(x[None, None], g.flip(0)[None, None])[0, 0])])
practice.check_no_output_loop(winograd_conv1d, (x, g), (check.randn(202, seed=13, device=device), g), fname="winograd_conv1d", what="tiles", instead="slice all tiles at once (x[0::2], x[1::2], ...)")
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
F = check.torch_reference()
for seed, L in enumerate([4, 6, 30, 101 + 1]):
    x, g = check.randn(L, seed=40 + seed, device=device), check.randn(3, seed=50 + seed, device=device)
    check.check_function(winograd_conv1d, (x, g), {}, F.conv1d(x[None, None], g[None, None])[0, 0], fname="winograd_conv1d", forbidden=check.CONV_OPS | check.UNFOLD_OPS)
### END HIDDEN TESTS
