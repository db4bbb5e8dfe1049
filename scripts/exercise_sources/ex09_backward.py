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
# - The point is to derive the gradients. **The checks call your functions with autograd switched
#   off** (gradient recording off, and any tensor autograd would save for a backward pass is
#   refused), so `loss.backward()`, `torch.autograd.grad`, `torch.func` and friends raise there.
#   Calling a convolution (`F.conv2d`, `F.conv_transpose2d`, `torch.nn.grad`), `F.unfold`/`F.fold`
#   or `convlib` in tasks 1 and 4 scores 0 for that task. Build from slicing, `*`, `sum`,
#   `torch.einsum` and `@`. Checking against autograd in a scratch cell of your own is fine.
# - Return tensors on the input's device and dtype: `dY.new_zeros(shape)` creates one.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex09_backward.ipynb`.
#
# The chapter derives the three gradients of `Y = conv2d(X, K, bias)` with stride, padding,
# dilation and groups, and checks them against autograd. Here you carry the derivation further
# (the input gradient through circular padding, the gradients of the transposed convolution), and
# judge supplied backward functions without autograd: which of them are wrong, and where.
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
import convlib.checks.ex09 as practice

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
# (`Tensor.index_add_` adds rows to given indices.)

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
sys.modules.pop("convlib.checks.ex09", None)
practice = importlib.import_module("convlib.checks.ex09")
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

# %% markdown id=md_find_wrong
# ## 2. Which of these backward functions are wrong? (4 points)
#
# Someone hands you several implementations of the input gradient of a convolution, as a dict
# `candidates` from a name to a function `grad_input(X, K, dY, stride=1, padding=0, dilation=1)`
# that claims to return `dL/dX` for `Y = conv2d(X, K, stride=stride, padding=padding,
# dilation=dilation)` and `dL/dY = dY` (`X: (N, C_in, H, W)`, `K: (C_out, C_in, kh, kw)`, int
# settings). Some are right, some have a bug that shows only for some settings. Write
# `find_wrong(candidates)` returning the names of those that are wrong for **some** input and
# settings. Autograd is switched off, so the judge is yours: the central-difference checker of
# exercise 2 (copy it into this cell) or your task 1. The candidates, and which are wrong, change
# from one test to the next, and a bug may show only when two settings meet: choose test settings
# that make each argument matter. You may call `F.conv2d` here (for the loss).

# %% solution id=find_wrong
import torch.nn.functional as F


def find_wrong(candidates: dict) -> list[str]:
    """candidates: {name: grad_input(X, K, dY, stride, padding, dilation)} -> names of the wrong."""
    ### BEGIN SOLUTION
    def numerical_grad(f, X, eps=1e-6):  # central differences, exercise 2's checker
        grad = torch.zeros_like(X)
        flat, out = X.clone().reshape(-1), grad.reshape(-1)
        for i in range(flat.numel()):
            up, down = flat.clone(), flat.clone()
            up[i] += eps
            down[i] -= eps
            out[i] = (f(up.reshape(X.shape)) - f(down.reshape(X.shape))) / (2 * eps)
        return grad

    wrong = set()
    for seed, setting in enumerate([dict(stride=2, padding=1, dilation=1), dict(stride=1, padding=2, dilation=2)]):
        X = check.randn(1, 1, 6, 5, seed=seed)
        K = check.randn(1, 1, 3, 2, seed=seed + 10)
        dY = check.randn(*F.conv2d(X, K, **setting).shape, seed=seed + 20)
        expected = numerical_grad(lambda Z, K=K, dY=dY, setting=setting: (F.conv2d(Z, K, **setting) * dY).sum(), X)
        for name, grad_input in candidates.items():
            got = grad_input(X, K, dY, **setting)
            if got.shape != X.shape or not torch.allclose(got, expected, atol=1e-6):
                wrong.add(name)
    return sorted(wrong)
    ### END SOLUTION

# %% test id=test_find_wrong points=4
practice.check_find_wrong(find_wrong, seed=5)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex09", None)
practice = importlib.import_module("convlib.checks.ex09")
for seed in (11, 12, 13):
    practice.check_find_wrong(find_wrong, seed=seed)
### END HIDDEN TESTS

# %% markdown id=md_transpose
# ## 3. Turn it around: the gradients of a transposed convolution (3 points)
#
# The chapter shows that the backward pass of `conv2d` with respect to its input is a transposed
# convolution. The converse holds too. For `Y = conv_transpose2d(X, K, stride, padding)` with
# `X: (N, C_in, H, W)` and `K: (C_in, C_out, kh, kw)` (the transposed layout; no groups, no
# dilation), write `conv_transpose2d_backward(X, K, dY, stride, padding)` returning the pair
# `(dL/dX, dL/dK)`.
#
# Derive it first: which ordinary operation of `dY` and `K` gives `dL/dX`, and what is `dL/dK`
# when you swap the roles of `X` and `dY` in the chapter's kernel gradient?

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
    # dK: the weight gradient of a conv2d whose input is dY and whose output gradient is X:
    # tap (a, b) correlates X with the window of dY it was scattered onto
    dK = K.new_zeros(K.shape)
    for a in range(kh):
        for b in range(kw):
            window = dYp[:, :, a : a + (H - 1) * s + 1 : s, b : b + (W - 1) * s + 1 : s]
            dK[:, :, a, b] = torch.einsum("nohw,nchw->co", window, X)
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
sys.modules.pop("convlib.checks.ex09", None)
practice = importlib.import_module("convlib.checks.ex09")
for seed, (xs, ks, s, p) in enumerate([((1, 2, 3, 5), (2, 3, 2, 2), 3, 0), ((2, 1, 5, 4), (1, 2, 3, 1), 2, 1)]):
    X = check.randn(*xs, seed=400 + seed, device=device)
    K = check.randn(*ks, seed=410 + seed, device=device)
    out = [(n - 1) * s - 2 * p + k for n, k in zip(xs[2:], ks[2:])]
    dY = check.randn(xs[0], ks[1], *out, seed=420 + seed, device=device)
    practice.check_conv_transpose2d_backward(conv_transpose2d_backward, X, K, dY, stride=s, padding=p)
### END HIDDEN TESTS
