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

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_conv2d
# ## 1. The general conv2d from loops (6 points)
#
# Write the full `torch.nn.functional.conv2d(X, K, bias, stride, padding, dilation, groups)` with
# loops. With `groups = g`, the `C_in` input channels and the `C_out` output channels are split into
# `g` equal groups; output channel `o` belongs to group `o // (C_out // g)` and only reads the
# `C_in // g` input channels of that group, so `K` has shape `(C_out, C_in // g, kh, kw)`. With
# `dilation = d`, the kernel taps are `d` pixels apart: the window starting at `(r, c)` reads rows
# `r, r + d, ..., r + d*(kh-1)` (a strided slice). `stride`, `padding`, `dilation` are an int or a
# pair. For example `in_channels=2, out_channels=4, groups=2` needs 4 kernel maps instead of 8.

# %% solution id=conv2d
def conv2d(X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None, stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1, groups: int = 1) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_out, C_in // groups, kh, kw), bias: (C_out,) -> (N, C_out, H_out, W_out)."""
    ### BEGIN SOLUTION
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    N, C_in, H, W = X.shape
    C_out, C_in_g, kh, kw = K.shape
    C_out_g = C_out // groups
    Xp = X.new_zeros((N, C_in, H + 2 * ph, W + 2 * pw))
    Xp[:, :, ph : ph + H, pw : pw + W] = X
    H_out = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    W_out = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    Y = X.new_zeros((N, C_out, H_out, W_out))
    for o in range(C_out):
        g = o // C_out_g
        Xg = Xp[:, g * C_in_g : (g + 1) * C_in_g]
        for i in range(H_out):
            for j in range(W_out):
                r, c = i * sh, j * sw
                window = Xg[:, :, r : r + dh * (kh - 1) + 1 : dh, c : c + dw * (kw - 1) + 1 : dw]
                Y[:, o, i, j] = (window * K[o]).sum(dim=(1, 2, 3))
        if bias is not None:
            Y[:, o] += bias[o]
    return Y
    ### END SOLUTION

# %% test id=test_conv2d points=6
X = check.randn(1, 4, 6, 6, seed=1, device=device)
K = check.randn(4, 2, 3, 3, seed=2, device=device)
b = check.randn(4, seed=3, device=device)
check.check_conv2d(conv2d, X, K, bias=b, groups=2)
check.check_conv2d(conv2d, X, K[:, :1], groups=4)  # depthwise: one input channel per output channel
check.check_conv2d(conv2d, X, check.randn(2, 4, 2, 2, seed=4, device=device), stride=2, padding=1, dilation=2)
### BEGIN HIDDEN TESTS
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
### END HIDDEN TESTS

# %% markdown id=md_separable
# ## 2. Depthwise separable convolution (3 points)
#
# A depthwise separable convolution factors a `k x k` convolution from `C_in` to `C_out` channels
# into a *depthwise* convolution (`groups = C_in`: every channel filtered by its own `k x k` kernel,
# `K_depthwise: (C_in, 1, k, k)`) followed by a *pointwise* 1x1 convolution that mixes the channels
# (`K_pointwise: (C_out, C_in, 1, 1)`). Write it with your `conv2d`; `padding` applies to the
# depthwise step.

# %% solution id=depthwise_separable
def depthwise_separable(X: torch.Tensor, K_depthwise: torch.Tensor, K_pointwise: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """X: (N, C_in, H, W), K_depthwise: (C_in, 1, k, k), K_pointwise: (C_out, C_in, 1, 1) -> (N, C_out, H', W')."""
    ### BEGIN SOLUTION
    return conv2d(conv2d(X, K_depthwise, padding=padding, groups=X.shape[1]), K_pointwise)
    ### END SOLUTION

# %% test id=test_depthwise_separable points=3
F = check.torch_reference()


def check_separable(X, Kd, Kp, padding):
    C_in = X.shape[1]
    check.check_function(
        depthwise_separable, (X, Kd, Kp), {"padding": padding},
        F.conv2d(F.conv2d(X, Kd, padding=padding, groups=C_in), Kp), fname="depthwise_separable",
        variants=[
            ("the depthwise step mixes channels: use groups=in_channels", lambda: F.conv2d(F.conv2d(X, Kd.repeat(1, C_in, 1, 1), padding=padding), Kp)),
            ("the pointwise step is missing", lambda: F.conv2d(X, Kd, padding=padding, groups=C_in)),
        ],
    )


check_separable(check.randn(1, 3, 5, 5, seed=5, device=device), check.randn(3, 1, 3, 3, seed=6, device=device), check.randn(4, 3, 1, 1, seed=7, device=device), 1)
### BEGIN HIDDEN TESTS
F = check.torch_reference()
for seed, (N, C_in, C_out, H, k, p) in enumerate([(2, 2, 5, 6, 3, 0), (1, 4, 2, 7, 5, 2)]):
    X = check.randn(N, C_in, H, H, seed=40 + seed, device=device)
    check_separable(X, check.randn(C_in, 1, k, k, seed=50 + seed, device=device), check.randn(C_out, C_in, 1, 1, seed=60 + seed, device=device), p)
### END HIDDEN TESTS

# %% markdown id=md_separable_params
# ## 3. What the factorisation saves (2 points)
#
# Write `separable_params(in_channels, out_channels, kernel_size)`: the number of weights (no
# biases) of the depthwise separable version of a `kernel_size x kernel_size` convolution. For 16
# input channels, 32 output channels and a 3x3 kernel, the standard convolution has
# `16*32*3*3 = 4608` weights and the separable one 656.

# %% solution id=separable_params
def separable_params(in_channels: int, out_channels: int, kernel_size: int) -> int:
    """Weights of a depthwise (k x k, groups=in_channels) plus pointwise (1x1) convolution."""
    ### BEGIN SOLUTION
    return in_channels * kernel_size * kernel_size + in_channels * out_channels
    ### END SOLUTION

# %% test id=test_separable_params points=2
def separable_reference(in_channels, out_channels, kernel_size):
    return check.count_params(torch.nn.Sequential(
        torch.nn.Conv2d(in_channels, in_channels, kernel_size, groups=in_channels, bias=False, device="meta"),
        torch.nn.Conv2d(in_channels, out_channels, 1, bias=False, device="meta"),
    ))


assert separable_reference(16, 32, 3) == 656
check.check_int(separable_params, (16, 32, 3), {}, 656, fname="separable_params",
                hint="depthwise: one k x k kernel per input channel; pointwise: in_channels * out_channels")
### BEGIN HIDDEN TESTS
for args in [(32, 64, 3), (3, 1, 7), (128, 128, 5)]:
    check.check_int(separable_params, args, {}, separable_reference(*args), fname="separable_params")
### END HIDDEN TESTS
