# %% markdown id=title
# # Exercise 12: convolution in 1D and 3D
#
# **Total: {total_points} points.** Book chapter 12.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional` on seeded random inputs and tell
#   you what differs. Build everything from indexing, slicing, `sum`, `*`, `torch.einsum` and `@`:
#   calling the operation you implement (`F.conv1d`, `F.conv3d`, any other convolution,
#   `F.unfold`, `Tensor.unfold`, or `convlib`) scores 0 for that task.
# - Return tensors on the input's device and dtype: `X.new_zeros(shape)` creates one.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex12_conv1d_3d.ipynb`.
#
# The chapter prints `conv1d` and `conv3d` as loops over output positions. Here the loops run over
# the kernel's taps instead (a handful), each one a strided slice of the whole input, with every
# argument of the layer: stride, padding, dilation, bias. The checks verify that your code does
# not loop in Python over output positions.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.check_practice as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_conv1d
# ## 1. conv1d on a signal, vectorised over time (3 points)
#
# For `X: (N, C_in, L)` and `K: (C_out, C_in, k)`,
#
# $$Y[n, o, t] = \text{bias}[o] + \sum_{c} \sum_{a=0}^{k-1} X_p[n, c, t \cdot s + a \cdot d] \, K[o, c, a]$$
#
# where `X_p` is `X` with `padding` zeros at both ends. Write `conv1d(X, K, bias=None, stride=1,
# padding=0, dilation=1)`, the same as `F.conv1d`, with one Python loop over the `k` taps: tap `a`
# reads the strided slice `X_p[:, :, a*d : a*d + (L_out - 1)*s + 1 : s]` and contributes
# `einsum("ncl,oc->nol", slice, K[:, :, a])`.

# %% solution id=conv1d
def conv1d(X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1, padding: int = 0, dilation: int = 1) -> torch.Tensor:
    """X: (N, C_in, L), K: (C_out, C_in, k), bias: (C_out,) -> Y: (N, C_out, L_out)."""
    ### BEGIN SOLUTION
    N, C_in, L = X.shape
    C_out, _, k = K.shape
    s, p, d = stride, padding, dilation
    Xp = X.new_zeros((N, C_in, L + 2 * p))
    Xp[:, :, p : p + L] = X
    L_out = (L + 2 * p - d * (k - 1) - 1) // s + 1
    Y = X.new_zeros((N, C_out, L_out))
    for a in range(k):
        Y += torch.einsum("ncl,oc->nol", Xp[:, :, a * d : a * d + (L_out - 1) * s + 1 : s], K[:, :, a])
    if bias is not None:
        Y += bias[None, :, None]
    return Y
    ### END SOLUTION

# %% test id=test_conv1d points=3
X = check.randn(2, 3, 20, seed=1, device=device)
K = check.randn(4, 3, 3, seed=2, device=device)
practice.check_conv1d(conv1d, X, K)
practice.check_conv1d(conv1d, X, K, check.randn(4, seed=3, device=device), stride=2, padding=1, dilation=2)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (N, C_in, C_out, L, k, s, p, d) in enumerate(
    [(1, 1, 1, 9, 1, 1, 0, 1), (2, 2, 3, 17, 4, 3, 2, 1), (1, 4, 2, 25, 3, 2, 0, 4), (3, 1, 2, 12, 5, 1, 4, 2)]
):
    X = check.randn(N, C_in, L, seed=10 + seed, device=device)
    K = check.randn(C_out, C_in, k, seed=20 + seed, device=device)
    b = check.randn(C_out, seed=30 + seed, device=device)
    practice.check_conv1d(conv1d, X, K, b, stride=s, padding=p, dilation=d)
### END HIDDEN TESTS

# %% markdown id=md_conv3d
# ## 2. conv3d on a video volume (3 points)
#
# A video clip is `X: (N, C_in, T, H, W)`: frames in time, each an image. A 3D kernel
# `K: (C_out, C_in, kt, kh, kw)` slides along time as well as space (C3D, 3D U-Net). Write
# `conv3d(X, K, bias=None, stride=1, padding=0)`, the same as `F.conv3d`, where `stride` and
# `padding` are an int or a triple `(along T, along H, along W)`. Loop over the `kt*kh*kw` taps
# only, as in task 1.

# %% solution id=conv3d
def conv3d(X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None, stride: int | tuple[int, int, int] = 1, padding: int | tuple[int, int, int] = 0) -> torch.Tensor:
    """X: (N, C_in, T, H, W), K: (C_out, C_in, kt, kh, kw), bias: (C_out,) -> (N, C_out, T', H', W')."""
    ### BEGIN SOLUTION
    st, sh, sw = (stride,) * 3 if isinstance(stride, int) else stride
    pt, ph, pw = (padding,) * 3 if isinstance(padding, int) else padding
    N, C_in, T, H, W = X.shape
    C_out, _, kt, kh, kw = K.shape
    Xp = X.new_zeros((N, C_in, T + 2 * pt, H + 2 * ph, W + 2 * pw))
    Xp[:, :, pt : pt + T, ph : ph + H, pw : pw + W] = X
    To, Ho, Wo = (T + 2 * pt - kt) // st + 1, (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    Y = X.new_zeros((N, C_out, To, Ho, Wo))
    for a in range(kt):
        for b in range(kh):
            for c in range(kw):
                window = Xp[:, :, a : a + (To - 1) * st + 1 : st, b : b + (Ho - 1) * sh + 1 : sh, c : c + (Wo - 1) * sw + 1 : sw]
                Y += torch.einsum("nithw,oi->nothw", window, K[:, :, a, b, c])
    if bias is not None:
        Y += bias[None, :, None, None, None]
    return Y
    ### END SOLUTION

# %% test id=test_conv3d points=3
X = check.randn(1, 2, 4, 5, 5, seed=4, device=device)  # 4 frames of 5x5, 2 channels
K = check.randn(3, 2, 2, 3, 3, seed=5, device=device)
practice.check_conv3d(conv3d, X, K)
practice.check_conv3d(conv3d, X, K, check.randn(3, seed=6, device=device), stride=(1, 2, 2), padding=1)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (xs, ks, s, p) in enumerate(
    [((2, 1, 5, 4, 6), (2, 1, 3, 2, 3), 2, (1, 0, 2)), ((1, 3, 3, 6, 6), (1, 3, 1, 3, 3), (1, 3, 2), 0)]
):
    X = check.randn(*xs, seed=40 + seed, device=device)
    K = check.randn(*ks, seed=50 + seed, device=device)
    practice.check_conv3d(conv3d, X, K, check.randn(ks[0], seed=60 + seed, device=device), stride=s, padding=p)
### END HIDDEN TESTS

# %% markdown id=md_causal
# ## 3. Causal convolution, WaveNet style (3 points)
#
# A model that generates a signal one step at a time must not see the future: output `t` may depend
# on inputs `t, t-1, ...` only. WaveNet stacks such causal convolutions with growing dilations.
# Write `causal_conv1d(X, K, dilation=1)` for `X: (N, C_in, L)`, `K: (C_out, C_in, k)`: the output
# has the input's length `L`, and `Y[..., t]` uses `X[..., t - a*dilation]` for taps `a`
# (counting from the last tap of `K`). Pad on the correct side only. You may call your `conv1d`.

# %% solution id=causal_conv1d
def causal_conv1d(X: torch.Tensor, K: torch.Tensor, dilation: int = 1) -> torch.Tensor:
    """X: (N, C_in, L), K: (C_out, C_in, k) -> Y: (N, C_out, L); Y[..., t] sees X[..., :t + 1]."""
    ### BEGIN SOLUTION
    N, C_in, L = X.shape
    span = dilation * (K.shape[-1] - 1)
    Xp = X.new_zeros((N, C_in, L + span))
    Xp[:, :, span:] = X
    return conv1d(Xp, K, dilation=dilation)
    ### END SOLUTION

# %% test id=test_causal_conv1d points=3
X = check.randn(2, 2, 16, seed=7, device=device)
K = check.randn(3, 2, 2, seed=8, device=device)
practice.check_causal_conv1d(causal_conv1d, X, K)
practice.check_causal_conv1d(causal_conv1d, X, K, dilation=4)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (N, C_in, C_out, L, k, d) in enumerate([(1, 1, 1, 10, 3, 1), (2, 3, 2, 20, 3, 3), (1, 2, 2, 9, 4, 2)]):
    X = check.randn(N, C_in, L, seed=70 + seed, device=device)
    K = check.randn(C_out, C_in, k, seed=80 + seed, device=device)
    practice.check_causal_conv1d(causal_conv1d, X, K, dilation=d)
### END HIDDEN TESTS

# %% markdown id=md_receptive
# ## 4. How far back does a WaveNet stack see? (1 point)
#
# Stack causal convolutions with kernel size `kernel_size` and dilations `dilations` (WaveNet uses
# 1, 2, 4, ..., 512). Write `receptive_field(kernel_size, dilations)`: the span of input steps one
# output depends on, from the oldest one to the current one, both included. With `kernel_size=2`
# and dilations `[1, 2, 4, 8]` it is 16 (and each of those 16 inputs is used).

# %% solution id=receptive_field
def receptive_field(kernel_size: int, dilations: list[int]) -> int:
    """Input steps one output of the causal stack sees, itself included."""
    ### BEGIN SOLUTION
    return 1 + sum(d * (kernel_size - 1) for d in dilations)
    ### END SOLUTION

# %% test id=test_receptive_field points=1
practice.check_causal_receptive_field(receptive_field, 2, [1, 2, 4, 8])
practice.check_causal_receptive_field(receptive_field, 3, [1, 1])
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for k, dilations in [(2, [2 ** i for i in range(10)]), (3, [1, 2, 4]), (4, []), (5, [3])]:
    practice.check_causal_receptive_field(receptive_field, k, dilations)
### END HIDDEN TESTS
