# %% markdown id=title
# # Exercise 6: groups and depthwise separable convolutions
#
# **Total: {total_points} points.** Book chapter 6.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional` on seeded random inputs and tell
#   you what differs. Build everything from indexing, slicing, `sum`, `*` and `@`: calling the
#   operation you implement (`torch.nn.functional.conv2d`, or `convlib`) scores 0 for that task.
# - Return tensors on the input's device and dtype: `X.new_zeros(shape)` creates one.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex06_groups.ipynb`.
#
# The chapter loops over groups and runs a depthwise separable convolution as two steps. Here the
# groups become a tensor axis (no loop over them), and you fuse the two steps into one kernel, with
# a depth multiplier.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.check_practice as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_conv2d
# ## 1. The general conv2d, with the groups as a tensor axis (6 points)
#
# Write the full `torch.nn.functional.conv2d(X, K, bias, stride, padding, dilation, groups)`. With
# `groups = g`, the `C_in` input channels and the `C_out` output channels are split into `g` equal
# groups of consecutive channels; output channel `o` belongs to group `o // (C_out // g)` and only
# reads the `C_in // g` input channels of that group, so `K` has shape `(C_out, C_in // g, kh, kw)`.
# With `dilation = d`, the kernel taps are `d` pixels apart. `stride`, `padding`, `dilation` are
# an int or a pair.
#
# Chapters 6 and 7 run one convolution per group in a Python loop and concatenate. Here, **no Python
# loop over groups or channels**: view the input as `(N, g, C_in // g, H, W)` and the weight as
# `(g, C_out // g, C_in // g, kh, kw)`, so that the groups are just another axis, and contract the
# channel axis of all groups at once (`torch.einsum("ngchw,goc->ngohw", ...)` per kernel tap, or per
# output position). Then view the result's `(g, C_out // g)` axes as `C_out` channels again. You
# may loop over kernel taps or output positions. The check counts your lines of Python for a
# depthwise convolution with 2 and with 24 groups.

# %% solution id=conv2d
def conv2d(X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None, stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1, groups: int = 1) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_out, C_in // groups, kh, kw), bias: (C_out,) -> (N, C_out, H_out, W_out)."""
    ### BEGIN SOLUTION
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    N, C_in, H, W = X.shape
    C_out, C_in_g, kh, kw = K.shape
    Xp = X.new_zeros((N, C_in, H + 2 * ph, W + 2 * pw))
    Xp[:, :, ph : ph + H, pw : pw + W] = X
    Xg = Xp.reshape(N, groups, C_in_g, H + 2 * ph, W + 2 * pw)
    Kg = K.reshape(groups, C_out // groups, C_in_g, kh, kw)
    H_out = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    W_out = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    Y = X.new_zeros((N, groups, C_out // groups, H_out, W_out))
    for a in range(kh):
        for b in range(kw):
            tap = Xg[:, :, :, a * dh : a * dh + (H_out - 1) * sh + 1 : sh, b * dw : b * dw + (W_out - 1) * sw + 1 : sw]
            Y += torch.einsum("ngchw,goc->ngohw", tap, Kg[:, :, :, a, b])
    Y = Y.reshape(N, C_out, H_out, W_out)
    if bias is not None:
        Y = Y + bias[None, :, None, None]
    return Y
    ### END SOLUTION

# %% test id=test_conv2d points=6
X = check.randn(1, 4, 6, 6, seed=1, device=device)
K = check.randn(4, 2, 3, 3, seed=2, device=device)
b = check.randn(4, seed=3, device=device)
check.check_conv2d(conv2d, X, K, bias=b, groups=2)
check.check_conv2d(conv2d, X, K[:, :1], groups=4)  # depthwise: one input channel per output channel
check.check_conv2d(conv2d, X, check.randn(2, 4, 2, 2, seed=4, device=device), stride=2, padding=1, dilation=2)
practice.check_conv2d_groups_vectorised(conv2d, X, K, b, 1, 1, 1, 2)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
cases = [
    ((2, 6, 7, 7), (6, 2, 3, 3), 3, 2, 1, 2),
    ((1, 4, 9, 8), (8, 1, 3, 2), 4, (2, 1), (1, 2), (2, 3)),
    ((1, 2, 5, 5), (2, 2, 2, 2), 1, 1, 0, 1),
    ((2, 6, 8, 6), (3, 2, 2, 3), 3, (1, 2), 1, (3, 1)),
]
for seed, (xs, ks, groups, stride, padding, dilation) in enumerate(cases):
    X = check.randn(*xs, seed=10 + seed, device=device)
    K = check.randn(*ks, seed=20 + seed, device=device)
    b = check.randn(ks[0], seed=30 + seed, device=device)
    check.check_conv2d(conv2d, X, K, bias=b, stride=stride, padding=padding, dilation=dilation, groups=groups)
practice.check_conv2d_groups_vectorised(conv2d, check.randn(2, 6, 5, 5, seed=40, device=device), check.randn(6, 3, 2, 2, seed=41, device=device), None, 2, 1, 2, 2)
### END HIDDEN TESTS

# %% markdown id=md_separable
# ## 2. A depthwise separable convolution is an ordinary one (3 points)
#
# A depthwise separable convolution filters every input channel on its own (`groups = C_in`), then
# mixes the channels with a 1x1 convolution. With a *depth multiplier* `m`, each input channel gets
# `m` depthwise kernels: `K_depthwise: (C_in * m, 1, kh, kw)`, and the depthwise step has `C_in * m`
# output channels, which the pointwise `K_pointwise: (C_out, C_in * m, 1, 1)` mixes. The chapter
# computes the two steps one after the other.
#
# Both steps are linear, so together they are one ordinary convolution. Derive its weight: write
# `fuse_depthwise_separable(K_depthwise, K_pointwise, in_channels)` returning the
# `(C_out, C_in, kh, kw)` kernel `K` with `conv2d(X, K) == conv2d(conv2d(X, K_depthwise,
# groups=C_in), K_pointwise)` (for any stride, and any zero padding of the depthwise step). Write
# out output channel `o` of the composition as a sum over the depthwise channels and collect the
# terms that read input channel `c`. Mind which depthwise channels belong to input channel `c` when
# `m > 1` (with `groups = C_in`, group `c` is the `m` consecutive output channels `c*m ... c*m + m - 1`).
# No convolution is needed, only products and sums of the weights (`torch.einsum` is ideal). The
# fused kernel has `C_out * C_in * kh * kw` entries but only `C_in*m*(kh*kw + C_out)` degrees of
# freedom: each `K[o, c]` is a combination of the `m` kernels of channel `c`.

# %% solution id=fuse_depthwise_separable
def fuse_depthwise_separable(K_depthwise: torch.Tensor, K_pointwise: torch.Tensor, in_channels: int) -> torch.Tensor:
    """K_depthwise: (C_in*m, 1, kh, kw), K_pointwise: (C_out, C_in*m, 1, 1) -> K: (C_out, C_in, kh, kw)."""
    ### BEGIN SOLUTION
    C_in = in_channels
    m = K_depthwise.shape[0] // C_in
    kh, kw = K_depthwise.shape[-2:]
    C_out = K_pointwise.shape[0]
    depthwise = K_depthwise.reshape(C_in, m, kh, kw)  # channel c*m + j -> [c, j]
    pointwise = K_pointwise.reshape(C_out, C_in, m)
    return torch.einsum("cjhw,ocj->ochw", depthwise, pointwise)
    ### END SOLUTION

# %% test id=test_fuse_depthwise_separable points=3
F = check.torch_reference()
C_in, m, C_out = 3, 2, 4
Kd = check.randn(C_in * m, 1, 3, 3, seed=5, device=device)
Kp = check.randn(C_out, C_in * m, 1, 1, seed=6, device=device)
practice.check_fuse_depthwise_separable(fuse_depthwise_separable, Kd[:C_in], Kp[:, :C_in], C_in)  # m = 1
practice.check_fuse_depthwise_separable(fuse_depthwise_separable, Kd, Kp, C_in)  # m = 2
# what the fused kernel is for: one convolution instead of two (with padding 1 here)
X = check.randn(1, C_in, 5, 5, seed=7, device=device)
two_steps = F.conv2d(F.conv2d(X, Kd, padding=1, groups=C_in), Kp)
check.compare(F.conv2d(X, fuse_depthwise_separable(Kd, Kp, C_in), padding=1), two_steps, call="F.conv2d(X, fuse_depthwise_separable(Kd, Kp, 3), padding=1)", atol=1e-9)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (C_in, m, C_out, kh, kw) in enumerate([(1, 1, 1, 1, 1), (2, 3, 5, 3, 2), (4, 2, 3, 5, 5), (5, 1, 2, 2, 3)]):
    Kd = check.randn(C_in * m, 1, kh, kw, seed=50 + seed, device=device)
    Kp = check.randn(C_out, C_in * m, 1, 1, seed=60 + seed, device=device)
    practice.check_fuse_depthwise_separable(fuse_depthwise_separable, Kd, Kp, C_in)
### END HIDDEN TESTS

# %% markdown id=md_separable_params
# ## 3. What the factorisation saves (2 points)
#
# Write `separable_params(in_channels, out_channels, kernel_size, depth_multiplier=1, bias=False)`:
# the number of parameters of the depthwise separable version of a `kernel_size x kernel_size`
# convolution, with `depth_multiplier` depthwise kernels per input channel and, if `bias=True`, a
# bias in both steps (as two `torch.nn.Conv2d` layers would have). For 16 input channels, 32 output
# channels and a 3x3 kernel, the standard convolution has `16*32*3*3 = 4608` weights and the
# separable one 656; with a depth multiplier of 2 and biases, 1376.

# %% solution id=separable_params
def separable_params(in_channels: int, out_channels: int, kernel_size: int, depth_multiplier: int = 1, bias: bool = False) -> int:
    """Parameters of a depthwise (k x k, groups=in_channels, multiplier m) plus pointwise (1x1) convolution."""
    ### BEGIN SOLUTION
    mid = in_channels * depth_multiplier
    total = mid * kernel_size * kernel_size + mid * out_channels
    if bias:
        total += mid + out_channels
    return total
    ### END SOLUTION

# %% test id=test_separable_params points=2
def separable_reference(in_channels, out_channels, kernel_size, depth_multiplier=1, bias=False):
    mid = in_channels * depth_multiplier
    return check.count_params(torch.nn.Sequential(
        torch.nn.Conv2d(in_channels, mid, kernel_size, groups=in_channels, bias=bias, device="meta"),
        torch.nn.Conv2d(mid, out_channels, 1, bias=bias, device="meta"),
    ))


assert separable_reference(16, 32, 3) == 656 and separable_reference(16, 32, 3, 2, True) == 1376
check.check_int(separable_params, (16, 32, 3), {}, 656, fname="separable_params",
                hint="depthwise: one k x k kernel per input channel; pointwise: in_channels * out_channels")
check.check_int(separable_params, (16, 32, 3), {"depth_multiplier": 2, "bias": True}, 1376, fname="separable_params",
                hint="the depthwise step has in_channels * depth_multiplier output channels, each with a k x k kernel and a bias; the pointwise step reads all of them")
### BEGIN HIDDEN TESTS
for args, m, bias in [((32, 64, 3), 1, False), ((3, 1, 7), 4, True), ((128, 128, 5), 1, True), ((8, 16, 3), 3, False)]:
    check.check_int(separable_params, args, {"depth_multiplier": m, "bias": bias}, separable_reference(*args, m, bias), fname="separable_params")
### END HIDDEN TESTS
