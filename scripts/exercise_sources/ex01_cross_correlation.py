# %% markdown id=title
# # Exercise 1: cross-correlation from scratch
#
# **Total: {total_points} points.** Book chapters 1 and 2 (cross-correlation, convolution,
# learning a kernel).
#
# The chapters print `corr2d` and `conv2d` as loops over output positions and learn a kernel with
# autograd. Here you write the vectorised versions (a loop over the kernel's few taps instead of
# the many output positions), the "full" convolution of signal processing, and the gradient of
# the kernel by hand.
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
import convlib.check_practice as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_corr2d
# ## 1. Cross-correlation with loops (2 points)
#
# A 2D cross-correlation slides the kernel `K` of shape `(kh, kw)` over the input `X` of shape
# `(H, W)` and, at every position where the kernel fits entirely, takes the sum of the elementwise
# product:
#
# $$Y[i, j] = \sum_{a=0}^{kh-1} \sum_{b=0}^{kw-1} X[i + a, j + b] \, K[a, b]$$
#
# so `Y` has shape `(H - kh + 1, W - kw + 1)`. Deep-learning libraries call this operation
# "convolution". The chapter computes it with two loops over the `(H - kh + 1) * (W - kw + 1)`
# output positions. Write `corr2d(X, K)` with a loop over the `kh * kw` kernel taps instead: tap
# `(a, b)` multiplies the whole shifted slice `X[a : a + H_out, b : b + W_out]` by `K[a, b]`, and
# the output is the sum of those slices. No Python loop over output positions: the check counts
# the lines your function runs on a small and on a large input.
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

# %% test id=test_corr2d points=2
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
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (H, W, kh, kw) in enumerate([(4, 4, 1, 1), (6, 5, 2, 3), (7, 8, 4, 4), (3, 9, 3, 1)]):
    X = check.randn(H, W, seed=100 + seed, device=device)
    K = check.randn(kh, kw, seed=200 + seed, device=device)
    practice.check_corr2d_taps(corr2d, X, K)
### END HIDDEN TESTS

# %% markdown id=md_convolve2d
# ## 2. The "full" convolution of signal processing (2 points)
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

# %% test id=test_convolve2d points=2
X = torch.arange(9.0, dtype=torch.float64, device=device).reshape(3, 3)
K = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64, device=device)
check.check_corr2d(convolve2d, X, K, fname="convolve2d", flip=True)  # the worked example
check.check_corr2d(
    convolve2d, check.randn(5, 6, seed=3, device=device), check.randn(3, 2, seed=4, device=device),
    fname="convolve2d", flip=True,
)
check.compare(
    convolve2d(X, K),
    torch.tensor([[5.0, 11.0], [23.0, 29.0]], dtype=torch.float64, device=device),
    call="convolve2d(X, K) on the worked example",
)
practice.check_convolve2d_mode(convolve2d, X, K, "full")  # the worked example, full
practice.check_convolve2d_mode(convolve2d, check.randn(5, 6, seed=3, device=device), check.randn(3, 2, seed=4, device=device), "full")
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (H, W, kh, kw) in enumerate([(5, 5, 2, 2), (6, 7, 3, 2), (4, 8, 1, 3)]):
    X = check.randn(H, W, seed=300 + seed, device=device)
    K = check.randn(kh, kw, seed=400 + seed, device=device)
    check.check_corr2d(convolve2d, X, K, fname="convolve2d", flip=True)
    practice.check_convolve2d_mode(convolve2d, X, K, "full")
### END HIDDEN TESTS

# %% markdown id=md_conv2d
# ## 3. Batches, channels and bias: `conv2d` (4 points)
#
# A convolution layer takes a batch of multi-channel images `X: (N, C_in, H, W)` and a weight
# `K: (C_out, C_in, kh, kw)`. Output channel `o` is the sum over the input channels `c` of the
# cross-correlation of `X[n, c]` with `K[o, c]`, plus `bias[o]` when a bias `(C_out,)` is given:
#
# $$Y[n, o, i, j] = \text{bias}[o] + \sum_{c=0}^{C_{in}-1} \sum_{a, b} X[n, c, i + a, j + b] \, K[o, c, a, b]$$
#
# Write `conv2d(X, K, bias=None)`, the same as `torch.nn.functional.conv2d(X, K, bias)` (no padding,
# stride 1). Chapter 4 loops over images, output channels, input channels and positions. Here loop
# over the kernel taps `(a, b)` only, as in task 1: the slice `X[:, :, a : a + H_out, b : b + W_out]`
# of every image and input channel meets `K[:, :, a, b]` of shape `(C_out, C_in)` in one
# `torch.einsum("nchw,oc->nohw", ...)` (a matrix product over the channels).

# %% solution id=conv2d
def conv2d(X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_out, C_in, kh, kw), bias: (C_out,) -> Y: (N, C_out, H', W')."""
    ### BEGIN SOLUTION
    N, C_in, H, W = X.shape
    C_out, _, kh, kw = K.shape
    H_out, W_out = H - kh + 1, W - kw + 1
    Y = X.new_zeros((N, C_out, H_out, W_out))
    for a in range(kh):
        for b in range(kw):
            Y += torch.einsum("nchw,oc->nohw", X[:, :, a : a + H_out, b : b + W_out], K[:, :, a, b])
    if bias is not None:
        Y += bias[None, :, None, None]
    return Y
    ### END SOLUTION

# %% test id=test_conv2d points=4
X = check.randn(2, 3, 5, 5, seed=5, device=device)
K = check.randn(4, 3, 3, 3, seed=6, device=device)
check.check_conv2d(conv2d, X, K)
practice.check_conv2d_taps(conv2d, X, K, bias=check.randn(4, seed=7, device=device))
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (N, C_in, C_out, H, W, kh, kw) in enumerate(
    [(1, 1, 1, 4, 4, 2, 2), (2, 2, 3, 6, 5, 3, 2), (1, 4, 2, 5, 7, 1, 3)]
):
    X = check.randn(N, C_in, H, W, seed=500 + seed, device=device)
    K = check.randn(C_out, C_in, kh, kw, seed=600 + seed, device=device)
    practice.check_conv2d_taps(conv2d, X, K, bias=check.randn(C_out, seed=700 + seed, device=device))
    check.check_conv2d(conv2d, X, K, bias=None)
### END HIDDEN TESTS

# %% markdown id=md_learn
# ## 4. Learn a kernel, with the gradient derived by hand (2 points)
#
# Chapter 2 recovers a kernel by gradient descent, with autograd computing the gradient. Derive it
# yourself instead. For the loss $L = \sum_{i,j} (\hat Y[i, j] - Y[i, j])^2$ with
# $\hat Y = $ `corr2d(X, K)`, write $\partial L / \partial K[a, b]$ as a sum over `i, j`, and
# recognise it as a cross-correlation of `X` with `2 * (Y_hat - Y)`. Then write
# `learn_kernel(X, Y, steps, lr)`: start from `K = X.new_zeros((1, 2))`, and for `steps`
# iterations compute the gradient with your `corr2d` and take the step `K = K - lr * grad`.
# Autograd (`loss.backward()`, `torch.autograd.grad`) scores 0 for this task.
#
# The test builds `Y` from the 6x8 image below (white, with a black vertical band) and the edge
# detector `[[1, -1]]`, and checks that you recover it to within 0.01; hidden tests use other
# kernels.

# %% solution id=learn_kernel
def learn_kernel(X: torch.Tensor, Y: torch.Tensor, steps: int = 60, lr: float = 0.03) -> torch.Tensor:
    """Fit a (1, 2) kernel K so that corr2d(X, K) matches Y. X: (H, W), Y: (H, W - 1) -> K: (1, 2)."""
    ### BEGIN SOLUTION
    K = X.new_zeros((1, 2))
    for _ in range(steps):
        # dL/dK[a, b] = sum_ij 2 (Y_hat - Y)[i, j] X[i + a, j + b]: corr2d of X with the residual
        grad = corr2d(X, 2 * (corr2d(X, K) - Y))
        K = K - lr * grad
    return K
    ### END SOLUTION

# %% test id=test_learn_kernel points=2
X = torch.ones((6, 8), dtype=torch.float64, device=device)
X[:, 2:6] = 0
edge = torch.tensor([[1.0, -1.0]], dtype=torch.float64, device=device)
Y = torch.zeros((6, 7), dtype=torch.float64, device=device)
Y[:, 1], Y[:, 5] = 1.0, -1.0  # the edges of the band: corr2d(X, edge)
practice.check_learn_kernel_by_hand(learn_kernel, X, Y, edge)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
X = check.randn(6, 8, seed=800, device=device)
K_true = check.randn(1, 2, seed=900, device=device)
Y = torch.stack([X[:, j] * K_true[0, 0] + X[:, j + 1] * K_true[0, 1] for j in range(7)], dim=1)
practice.check_learn_kernel_by_hand(learn_kernel, X, Y, K_true, {"steps": 60, "lr": 0.01})
### END HIDDEN TESTS
