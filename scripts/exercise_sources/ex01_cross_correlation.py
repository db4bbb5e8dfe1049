# %% markdown id=title
# # Exercise 1: cross-correlation from scratch
#
# **Total: {total_points} points.** Book chapter 1 (cross-correlation, convolution,
# learning a kernel).
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
# "convolution". Write `corr2d(X, K)` with two loops over the output positions.
#
# Worked example: `X = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]` and `K = [[0, 1], [2, 3]]` give
# `Y = [[19, 25], [37, 43]]`, since `0*0 + 1*1 + 3*2 + 4*3 = 19`.

# %% solution id=corr2d
def corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """2D cross-correlation. X: (H, W), K: (kh, kw) -> Y: (H - kh + 1, W - kw + 1)."""
    ### BEGIN SOLUTION
    kh, kw = K.shape
    Y = X.new_zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i : i + kh, j : j + kw] * K).sum()
    return Y
    ### END SOLUTION

# %% test id=test_corr2d points=2
X = torch.arange(9.0, dtype=torch.float64, device=device).reshape(3, 3)
K = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64, device=device)
check.check_corr2d(corr2d, X, K)  # the worked example
check.check_corr2d(corr2d, check.randn(5, 6, seed=1, device=device), check.randn(3, 2, seed=2, device=device))
check.compare(
    corr2d(X, K),
    torch.tensor([[19.0, 25.0], [37.0, 43.0]], dtype=torch.float64, device=device),
    call="corr2d(X, K) on the worked example",
)
### BEGIN HIDDEN TESTS
for seed, (H, W, kh, kw) in enumerate([(4, 4, 1, 1), (6, 5, 2, 3), (7, 8, 4, 4), (3, 9, 3, 1)]):
    X = check.randn(H, W, seed=100 + seed, device=device)
    K = check.randn(kh, kw, seed=200 + seed, device=device)
    check.check_corr2d(corr2d, X, K)
### END HIDDEN TESTS

# %% markdown id=md_convolve2d
# ## 2. Convolution is cross-correlation with a flipped kernel (2 points)
#
# In mathematics and signal processing, the convolution of `X` with `K` uses the kernel rotated by
# 180 degrees: $Y[i, j] = \sum_{a, b} X[i + a, j + b] \, K[kh - 1 - a, kw - 1 - b]$. Write
# `convolve2d(X, K)`, a true convolution with the same output shape as `corr2d`. You may call your
# `corr2d`.
#
# With the worked example above, `convolve2d(X, K)` is `[[5, 11], [23, 29]]`. A network learns its
# kernels, so it would simply learn the flipped kernel: that is why frameworks do not bother to flip.

# %% solution id=convolve2d
def convolve2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """True 2D convolution. X: (H, W), K: (kh, kw) -> Y: (H - kh + 1, W - kw + 1)."""
    ### BEGIN SOLUTION
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
### BEGIN HIDDEN TESTS
for seed, (H, W, kh, kw) in enumerate([(5, 5, 2, 2), (6, 7, 3, 2), (4, 8, 1, 3)]):
    X = check.randn(H, W, seed=300 + seed, device=device)
    K = check.randn(kh, kw, seed=400 + seed, device=device)
    check.check_corr2d(convolve2d, X, K, fname="convolve2d", flip=True)
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
# stride 1). Loop over `n`, `o` and the output positions; the sum over `c`, `a`, `b` can be a single
# `(window * K[o]).sum()`.

# %% solution id=conv2d
def conv2d(X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_out, C_in, kh, kw), bias: (C_out,) -> Y: (N, C_out, H', W')."""
    ### BEGIN SOLUTION
    N, C_in, H, W = X.shape
    C_out, _, kh, kw = K.shape
    Y = X.new_zeros((N, C_out, H - kh + 1, W - kw + 1))
    for n in range(N):
        for o in range(C_out):
            for i in range(Y.shape[2]):
                for j in range(Y.shape[3]):
                    Y[n, o, i, j] = (X[n, :, i : i + kh, j : j + kw] * K[o]).sum()
            if bias is not None:
                Y[n, o] += bias[o]
    return Y
    ### END SOLUTION

# %% test id=test_conv2d points=4
X = check.randn(2, 3, 5, 5, seed=5, device=device)
K = check.randn(4, 3, 3, 3, seed=6, device=device)
check.check_conv2d(conv2d, X, K)
check.check_conv2d(conv2d, X, K, bias=check.randn(4, seed=7, device=device))
### BEGIN HIDDEN TESTS
for seed, (N, C_in, C_out, H, W, kh, kw) in enumerate(
    [(1, 1, 1, 4, 4, 2, 2), (2, 2, 3, 6, 5, 3, 2), (1, 4, 2, 5, 7, 1, 3)]
):
    X = check.randn(N, C_in, H, W, seed=500 + seed, device=device)
    K = check.randn(C_out, C_in, kh, kw, seed=600 + seed, device=device)
    check.check_conv2d(conv2d, X, K, bias=check.randn(C_out, seed=700 + seed, device=device))
    check.check_conv2d(conv2d, X, K, bias=None)
### END HIDDEN TESTS

# %% markdown id=md_learn
# ## 4. Learn a kernel from examples (2 points)
#
# A kernel need not be designed by hand. Given an input `X: (H, W)` and the output `Y` that an
# unknown `(1, 2)` kernel produced, recover the kernel by gradient descent on the squared error:
# start from `K = X.new_zeros((1, 2)).requires_grad_()`, and for `steps` iterations compute
# `loss = ((corr2d(X, K) - Y) ** 2).sum()`, call `loss.backward()`, update
# `K` with `K -= lr * K.grad` inside `torch.no_grad()`, then zero the gradient. Return `K.detach()`.
#
# The test builds `Y` from the 6x8 image below (white, with a black vertical band) and the edge
# detector `[[1, -1]]`, and checks that you recover it to within 0.01; hidden tests use other
# kernels.

# %% solution id=learn_kernel
def learn_kernel(X: torch.Tensor, Y: torch.Tensor, steps: int = 60, lr: float = 0.03) -> torch.Tensor:
    """Fit a (1, 2) kernel K so that corr2d(X, K) matches Y. X: (H, W), Y: (H, W - 1) -> K: (1, 2)."""
    ### BEGIN SOLUTION
    K = X.new_zeros((1, 2)).requires_grad_()
    for _ in range(steps):
        loss = ((corr2d(X, K) - Y) ** 2).sum()
        loss.backward()
        with torch.no_grad():
            K -= lr * K.grad
            K.grad.zero_()
    return K.detach()
    ### END SOLUTION

# %% test id=test_learn_kernel points=2
X = torch.ones((6, 8), dtype=torch.float64, device=device)
X[:, 2:6] = 0
edge = torch.tensor([[1.0, -1.0]], dtype=torch.float64, device=device)
Y = torch.zeros((6, 7), dtype=torch.float64, device=device)
Y[:, 1], Y[:, 5] = 1.0, -1.0  # the edges of the band: corr2d(X, edge)
check.check_function(
    learn_kernel, (X, Y), {}, edge, fname="learn_kernel", forbidden=frozenset(), atol=0.01, rtol=0.0
)
### BEGIN HIDDEN TESTS
X = check.randn(6, 8, seed=800, device=device)
K_true = check.randn(1, 2, seed=900, device=device)
Y = torch.stack([X[:, j] * K_true[0, 0] + X[:, j + 1] * K_true[0, 1] for j in range(7)], dim=1)
check.check_function(
    learn_kernel, (X, Y), {"steps": 60, "lr": 0.01}, K_true, fname="learn_kernel",
    forbidden=frozenset(), atol=0.01, rtol=0.0,
)
### END HIDDEN TESTS
