# %% markdown id=title
# # Exercise 3: padding and stride
#
# **Total: {total_points} points.** Book chapter 3.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional` on seeded random inputs and tell
#   you what differs. Build everything from indexing, slicing, `sum`, `*` and `@`: calling the
#   operation you implement (`torch.nn.functional.conv2d`, `torch.nn.functional.pad`, or `convlib`) scores 0 for that task.
# - Return tensors on the input's device and dtype: `X.new_zeros(shape)` creates one.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex03_padding_stride.ipynb`.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_output_size
# ## 1. The output-size formula (2 points)
#
# Along one axis, an input of length `size` padded with `padding` zeros on each side, scanned by a
# kernel of length `kernel_size` whose taps are `dilation` apart, moving `stride` steps at a time,
# gives
#
# $$\text{out} = \left\lfloor \frac{\text{size} + 2\,\text{padding} - \text{dilation}\,(\text{kernel\_size} - 1) - 1}{\text{stride}} \right\rfloor + 1 .$$
#
# Write `conv_output_size` with integer arithmetic (`//`). Examples: an 80x80 image with a 3x3
# kernel, stride 2, padding 1 gives 40x40; 7 with kernel 5, stride 2, padding 2 gives 4.

# %% solution id=conv_output_size
def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Length of a convolution's output along one axis."""
    ### BEGIN SOLUTION
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
    ### END SOLUTION

# %% test id=test_conv_output_size points=2
check.check_output_size(conv_output_size, 80, 3, stride=2, padding=1)
check.check_output_size(conv_output_size, 7, 5, stride=2, padding=2)
check.check_output_size(conv_output_size, 8, 3)
### BEGIN HIDDEN TESTS
for size, k, s, p, d in [(5, 5, 1, 0, 1), (9, 3, 3, 0, 1), (10, 4, 3, 1, 1), (11, 3, 2, 2, 2), (32, 7, 2, 3, 1), (6, 2, 4, 0, 1)]:
    check.check_output_size(conv_output_size, size, k, stride=s, padding=p, dilation=d)
### END HIDDEN TESTS

# %% markdown id=md_pad2d
# ## 2. Zero padding (2 points)
#
# Write `pad2d(X, padding)`: a copy of `X` (any number of leading dimensions, then `H, W`) with
# `padding` rows of zeros added above and below, and `padding` columns left and right, so the last
# two dimensions become `(H + 2*padding, W + 2*padding)`. Do not call `torch.nn.functional.pad`:
# create the zeros and copy `X` into the middle with slicing.

# %% solution id=pad2d
def pad2d(X: torch.Tensor, padding: int) -> torch.Tensor:
    """X: (..., H, W) -> (..., H + 2*padding, W + 2*padding), zeros around X."""
    ### BEGIN SOLUTION
    H, W = X.shape[-2:]
    out = X.new_zeros((*X.shape[:-2], H + 2 * padding, W + 2 * padding))
    out[..., padding : padding + H, padding : padding + W] = X
    return out
    ### END SOLUTION

# %% test id=test_pad2d points=2
F = check.torch_reference()
NO_PAD = frozenset({"pad", "constant_pad_nd"})
for shape, p in [((3, 4), 1), ((2, 3, 5, 4), 2), ((1, 2, 3), 0)]:
    X = check.randn(*shape, seed=sum(shape) + p, device=device)
    check.check_function(
        pad2d, (X, p), {}, F.pad(X, (p, p, p, p)), fname="pad2d", forbidden=NO_PAD,
        shape_hint="pad both sides of the last two dimensions: (..., H + 2*padding, W + 2*padding)",
        variants=[("you padded one side only", lambda: F.pad(X, (0, 2 * p, 0, 2 * p)))],
    )
### BEGIN HIDDEN TESTS
F = check.torch_reference()
for shape, p in [((6, 2), 3), ((2, 2, 2, 2), 1)]:
    X = check.randn(*shape, seed=50 + p, device=device)
    check.check_function(pad2d, (X, p), {}, F.pad(X, (p, p, p, p)), fname="pad2d", forbidden=NO_PAD)
### END HIDDEN TESTS

# %% markdown id=md_conv2d
# ## 3. Convolution with padding and stride (4 points)
#
# Write `conv2d(X, K, stride=1, padding=0)` for `X: (N, C_in, H, W)` and `K: (C_out, C_in, kh, kw)`,
# the same as `torch.nn.functional.conv2d(X, K, stride=stride, padding=padding)`. `stride` and
# `padding` are an int or a pair `(along H, along W)`. Pad with your `pad2d` (or slicing), then
# take the window starting at row `i * stride_h`, column `j * stride_w` for every output position.

# %% solution id=conv2d
def conv2d(X: torch.Tensor, K: torch.Tensor, stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_out, C_in, kh, kw) -> Y: (N, C_out, H_out, W_out)."""
    ### BEGIN SOLUTION
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    N, C_in, H, W = X.shape
    C_out, _, kh, kw = K.shape
    Xp = X.new_zeros((N, C_in, H + 2 * ph, W + 2 * pw))
    Xp[:, :, ph : ph + H, pw : pw + W] = X
    H_out = (H + 2 * ph - kh) // sh + 1
    W_out = (W + 2 * pw - kw) // sw + 1
    Y = X.new_zeros((N, C_out, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = Xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]  # (N, C_in, kh, kw)
            Y[:, :, i, j] = (window[:, None] * K[None]).sum(dim=(2, 3, 4))
    return Y
    ### END SOLUTION

# %% test id=test_conv2d points=4
X = check.randn(1, 2, 5, 5, seed=1, device=device)
K = check.randn(3, 2, 3, 3, seed=2, device=device)
check.check_conv2d(conv2d, X, K, stride=2)
check.check_conv2d(conv2d, X, K, padding=1)
check.check_conv2d(conv2d, X, K, stride=(2, 1), padding=(0, 1))
### BEGIN HIDDEN TESTS
cases = [((2, 3, 7, 6), (2, 3, 3, 2), 3, 1), ((1, 1, 8, 8), (1, 1, 5, 5), 2, 2), ((1, 2, 4, 9), (4, 2, 2, 3), (1, 3), (2, 0)), ((2, 1, 6, 6), (2, 1, 1, 1), 1, 0)]
for seed, (xs, ks, s, p) in enumerate(cases):
    X = check.randn(*xs, seed=10 + seed, device=device)
    K = check.randn(*ks, seed=20 + seed, device=device)
    check.check_conv2d(conv2d, X, K, stride=s, padding=p)
### END HIDDEN TESTS
