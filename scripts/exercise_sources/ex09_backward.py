# %% markdown id=title
# # Exercise 9: backpropagation through a convolution
#
# **Total: {total_points} points.** Book chapter 9.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your gradients with PyTorch's autograd through `torch.nn.functional.conv2d`
#   and name the usual mistakes (a kernel flipped the wrong way, a stride not undone, a bias
#   gradient not summed over the batch).
# - The point is to derive the gradients: calling autograd (`loss.backward()`,
#   `torch.autograd.grad`), a convolution (`F.conv2d`, `F.conv_transpose2d`, `torch.nn.grad`),
#   `F.unfold`/`F.fold` or `convlib` scores 0 for that task. Build from slicing, `*`, `sum`,
#   `torch.einsum` and `@`.
# - Return tensors on the input's device and dtype: `dY.new_zeros(shape)` creates one.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex09_backward.ipynb`.
#
# The chapter derives the three gradients of `Y = conv2d(X, K, bias)` with stride, padding,
# dilation and groups. Here you carry the derivation further: the input gradient through circular
# padding, kernel gradients per example (as differentially private training needs), untied biases,
# and the gradients of the transposed convolution.
#
# Notation: `X: (N, C_in, H, W)`, `K: (C_out, C_in // groups, kh, kw)`, `Y, dY: (N, C_out, H', W')`
# with `H' = (H + 2*padding - dilation*(kh - 1) - 1) // stride + 1`. Output `(n, o, i, j)` reads
# input `(n, c, i*stride + a*dilation - padding, j*stride + b*dilation - padding)` through tap
# `(a, b)`, for the input channels `c` of `o`'s group.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.check_practice as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_grad_input
# ## 1. The input gradient dL/dX, with circular padding too (4 points)
#
# Since `Y[n, o, i, j]` contains the term `X_p[n, c, i*s + a*d, j*s + b*d] * K[o, c', a, b]` (`X_p`
# the padded input), the gradient with respect to that padded pixel collects
# `dY[n, o, i, j] * K[o, c', a, b]` from every output that read it. The chapter computes this for
# zero padding, where the padded border is thrown away at the end. Write
# `conv2d_grad_input(dY, K, input_shape, stride, padding, dilation, groups, padding_mode)` for
# both `padding_mode="zeros"` and `padding_mode="circular"`: a circularly padded input wraps around
# (as on a torus, used for periodic domains): padded row `q` *is* input row `(q - padding) mod H`,
# and likewise for columns, i.e. `F.pad(X, (p, p, p, p), mode="circular")`. Derive what the
# adjoint of that padding does with the gradient of the border rows.
#
# One way: scatter into a padded buffer `(N, C_in, H + 2p, W + 2p)` tap by tap (for each tap
# `(a, b)`, add `einsum("nohw,oc->nchw", dY_group, K_group[:, :, a, b])` into the strided slice
# `[a*d : a*d + (H'-1)*s + 1 : s, b*d : ...]`), then turn the padded gradient into the input's
# (`Tensor.index_add_` adds rows to given indices).

# %% solution id=conv2d_grad_input
def conv2d_grad_input(dY: torch.Tensor, K: torch.Tensor, input_shape: tuple[int, int, int, int], stride: int = 1, padding: int = 0, dilation: int = 1, groups: int = 1, padding_mode: str = "zeros") -> torch.Tensor:
    """dY: (N, C_out, H', W'), K: (C_out, C_in // groups, kh, kw) -> dL/dX: input_shape."""
    ### BEGIN SOLUTION
    N, C_in, H, W = input_shape
    C_out, cpg, kh, kw = K.shape
    Ho, Wo = dY.shape[-2:]
    s, p, d = stride, padding, dilation
    opg = C_out // groups
    dXp = dY.new_zeros((N, C_in, H + 2 * p, W + 2 * p))
    for g in range(groups):
        dYg, Kg = dY[:, g * opg : (g + 1) * opg], K[g * opg : (g + 1) * opg]
        for a in range(kh):
            for b in range(kw):
                rows = slice(a * d, a * d + (Ho - 1) * s + 1, s)
                cols = slice(b * d, b * d + (Wo - 1) * s + 1, s)
                dXp[:, g * cpg : (g + 1) * cpg, rows, cols] += torch.einsum("nohw,oc->nchw", dYg, Kg[:, :, a, b])
    if padding_mode == "zeros":
        return dXp[:, :, p : p + H, p : p + W]
    # circular: padded row q is input row (q - p) mod H: add every padded row's gradient there
    rows = (torch.arange(H + 2 * p, device=dY.device) - p) % H
    cols = (torch.arange(W + 2 * p, device=dY.device) - p) % W
    dXr = dY.new_zeros((N, C_in, H, W + 2 * p)).index_add_(2, rows, dXp)
    return dY.new_zeros((N, C_in, H, W)).index_add_(3, cols, dXr)
    ### END SOLUTION

# %% test id=test_conv2d_grad_input points=4
X, K, dY = practice.backward_case((2, 3, 5, 5), (4, 3, 3, 3), seed=1, device=device)
practice.check_conv2d_grad_input(conv2d_grad_input, dY, K, X.shape)
settings = dict(stride=2, padding=1, dilation=1, groups=2)
X, K, dY = practice.backward_case((1, 4, 7, 7), (4, 2, 3, 3), seed=4, device=device, **settings)
practice.check_conv2d_grad_input(conv2d_grad_input, dY, K, X.shape, **settings)
practice.check_conv2d_grad_input(conv2d_grad_input, dY, K, X.shape, **settings, padding_mode="circular")
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
cases = [
    ((2, 2, 8, 7), (3, 2, 3, 2), dict(stride=2, padding=2, dilation=2, groups=1)),
    ((1, 6, 9, 9), (3, 2, 2, 3), dict(stride=3, padding=1, dilation=1, groups=3)),
    ((2, 4, 6, 6), (4, 2, 3, 3), dict(stride=1, padding=0, dilation=2, groups=2)),
    ((1, 1, 5, 6), (2, 1, 1, 1), dict(stride=2, padding=0, dilation=1, groups=1)),
]
for seed, (xs, ks, settings) in enumerate(cases):
    X, K, dY = practice.backward_case(xs, ks, seed=100 + 3 * seed, device=device, **settings)
    for mode in ("zeros", "circular"):
        practice.check_conv2d_grad_input(conv2d_grad_input, dY, K, X.shape, **settings, padding_mode=mode)
### END HIDDEN TESTS

# %% markdown id=md_grad_weight
# ## 2. Per-example kernel gradients (4 points)
#
# The chapter sums the kernel gradient over the batch, as training needs. Some methods need one
# gradient per example instead: differentially private SGD clips each example's gradient before
# adding them up, and per-example gradient norms measure how much each example disagrees with the
# batch. Write `conv2d_grad_weight_per_sample(X, dY, kernel_shape, stride, padding, dilation,
# groups)` returning `(N, C_out, C_in // groups, kh, kw)`: entry `n` is the gradient of the loss
# of image `n` alone,
#
# $$rac{\partial L_n}{\partial K[o, c, a, b]} = \sum_{i, j} dY[n, o, i, j] \, X_p[n, g \cdot C_g + c, i s + a d, j s + b d]$$
#
# with one strided slice of the padded input per tap and no Python loop over images or positions.

# %% solution id=conv2d_grad_weight_per_sample
def conv2d_grad_weight_per_sample(X: torch.Tensor, dY: torch.Tensor, kernel_shape: tuple[int, int, int, int], stride: int = 1, padding: int = 0, dilation: int = 1, groups: int = 1) -> torch.Tensor:
    """X: (N, C_in, H, W), dY: (N, C_out, H', W') -> (N, C_out, C_in // groups, kh, kw)."""
    ### BEGIN SOLUTION
    C_out, cpg, kh, kw = kernel_shape
    N, C_in, H, W = X.shape
    Ho, Wo = dY.shape[-2:]
    s, p, d = stride, padding, dilation
    opg = C_out // groups
    Xp = X.new_zeros((N, C_in, H + 2 * p, W + 2 * p))
    Xp[:, :, p : p + H, p : p + W] = X
    dK = X.new_zeros((N, *kernel_shape))
    for g in range(groups):
        Xg, dYg = Xp[:, g * cpg : (g + 1) * cpg], dY[:, g * opg : (g + 1) * opg]
        for a in range(kh):
            for b in range(kw):
                window = Xg[:, :, a * d : a * d + (Ho - 1) * s + 1 : s, b * d : b * d + (Wo - 1) * s + 1 : s]
                dK[:, g * opg : (g + 1) * opg, :, a, b] = torch.einsum("nchw,nohw->noc", window, dYg)
    return dK
    ### END SOLUTION

# %% test id=test_conv2d_grad_weight_per_sample points=4
X, K, dY = practice.backward_case((2, 3, 5, 5), (4, 3, 3, 3), seed=1, device=device)
practice.check_conv2d_grad_weight_per_sample(conv2d_grad_weight_per_sample, X, dY, K.shape)
settings = dict(stride=2, padding=1, dilation=1, groups=2)
X, K, dY = practice.backward_case((2, 4, 7, 7), (4, 2, 3, 3), seed=4, device=device, **settings)
practice.check_conv2d_grad_weight_per_sample(conv2d_grad_weight_per_sample, X, dY, K.shape, **settings)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
cases = [
    ((2, 2, 8, 7), (3, 2, 3, 2), dict(stride=2, padding=2, dilation=2, groups=1)),
    ((3, 6, 9, 9), (3, 2, 2, 3), dict(stride=3, padding=1, dilation=1, groups=3)),
    ((2, 4, 6, 6), (4, 2, 3, 3), dict(stride=1, padding=0, dilation=2, groups=2)),
]
for seed, (xs, ks, settings) in enumerate(cases):
    X, K, dY = practice.backward_case(xs, ks, seed=200 + 3 * seed, device=device, **settings)
    practice.check_conv2d_grad_weight_per_sample(conv2d_grad_weight_per_sample, X, dY, K.shape, **settings)
### END HIDDEN TESTS

# %% markdown id=md_grad_bias
# ## 3. Shared and untied biases (2 points)
#
# A convolution shares `bias[o]` over every position of channel `o`. A locally connected layer
# instead has an *untied* bias `bias[o, i, j]`, one per output position. Write
# `conv2d_grad_bias(dY, untied=False)` returning `dL/dbias`: shape `(C_out,)` when shared,
# `(C_out, H', W')` when untied. In both cases every image of the batch adds to it.

# %% solution id=conv2d_grad_bias
def conv2d_grad_bias(dY: torch.Tensor, untied: bool = False) -> torch.Tensor:
    """dY: (N, C_out, H', W') -> dL/dbias: (C_out,), or (C_out, H', W') if untied."""
    ### BEGIN SOLUTION
    return dY.sum(dim=0) if untied else dY.sum(dim=(0, 2, 3))
    ### END SOLUTION

# %% test id=test_conv2d_grad_bias points=2
dY = check.randn(3, 4, 2, 5, seed=7, device=device)
practice.check_conv2d_grad_bias(conv2d_grad_bias, dY)
practice.check_conv2d_grad_bias(conv2d_grad_bias, dY, untied=True)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, shape in enumerate([(2, 1, 3, 3), (5, 6, 1, 2), (4, 2, 4, 4)]):
    dY = check.randn(*shape, seed=300 + seed, device=device)
    practice.check_conv2d_grad_bias(conv2d_grad_bias, dY)
    practice.check_conv2d_grad_bias(conv2d_grad_bias, dY, untied=True)
### END HIDDEN TESTS

# %% markdown id=md_transpose
# ## 4. Turn it around: the gradients of a transposed convolution (3 points)
#
# The chapter shows that the backward pass of `conv2d` with respect to its input is a transposed
# convolution. The converse holds too. For `Y = conv_transpose2d(X, K, stride, padding)` with
# `X: (N, C_in, H, W)` and `K: (C_in, C_out, kh, kw)` (the transposed layout; no groups, no
# dilation), write `conv_transpose2d_backward(X, K, dY, stride, padding)` returning the pair
# `(dL/dX, dL/dK)`.
#
# Derive it first: which ordinary operation of `dY` and `K` gives `dL/dX`, and which of your
# functions above gives `dL/dK` (summed over the batch) when you swap the roles of `X` and `dY`?
# You may call the functions you wrote above (they are graded separately).

# %% solution id=conv_transpose2d_backward
def conv_transpose2d_backward(X: torch.Tensor, K: torch.Tensor, dY: torch.Tensor, stride: int = 1, padding: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """X: (N, C_in, H, W), K: (C_in, C_out, kh, kw), dY: (N, C_out, H_out, W_out) -> (dX, dK)."""
    ### BEGIN SOLUTION
    # dX is the ordinary cross-correlation conv2d(dY, K, stride, padding) (K read as
    # (C_in, C_out, kh, kw) = (outputs, inputs, kh, kw)): the transposed conv's adjoint.
    N, C_in, H, W = X.shape
    kh, kw = K.shape[-2:]
    s, p = stride, padding
    dYp = dY.new_zeros((N, dY.shape[1], dY.shape[2] + 2 * p, dY.shape[3] + 2 * p))
    dYp[:, :, p : p + dY.shape[2], p : p + dY.shape[3]] = dY
    dX = X.new_zeros(X.shape)
    for a in range(kh):
        for b in range(kw):
            window = dYp[:, :, a : a + (H - 1) * s + 1 : s, b : b + (W - 1) * s + 1 : s]
            dX += torch.einsum("nohw,co->nchw", window, K[:, :, a, b])
    # dK: the weight gradient of a conv2d whose input is dY and whose output gradient is X,
    # summed over the batch.
    dK = conv2d_grad_weight_per_sample(dY, X, K.shape, stride=stride, padding=padding).sum(dim=0)
    return dX, dK
    ### END SOLUTION

# %% test id=test_conv_transpose2d_backward points=3
X = check.randn(2, 3, 4, 4, seed=11, device=device)
K = check.randn(3, 2, 3, 3, seed=12, device=device)
dY = check.randn(2, 2, 6, 6, seed=13, device=device)  # (4 - 1) * 1 + 3 = 6
practice.check_conv_transpose2d_backward(conv_transpose2d_backward, X, K, dY)
dY = check.randn(2, 2, 7, 7, seed=14, device=device)  # (4 - 1) * 2 - 2 + 3 = 7
practice.check_conv_transpose2d_backward(conv_transpose2d_backward, X, K, dY, stride=2, padding=1)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (xs, ks, s, p) in enumerate([((1, 2, 3, 5), (2, 3, 2, 2), 3, 0), ((2, 1, 5, 4), (1, 2, 3, 1), 2, 1)]):
    X = check.randn(*xs, seed=400 + seed, device=device)
    K = check.randn(*ks, seed=410 + seed, device=device)
    out = [(n - 1) * s - 2 * p + k for n, k in zip(xs[2:], ks[2:])]
    dY = check.randn(xs[0], ks[1], *out, seed=420 + seed, device=device)
    practice.check_conv_transpose2d_backward(conv_transpose2d_backward, X, K, dY, stride=s, padding=p)
### END HIDDEN TESTS
