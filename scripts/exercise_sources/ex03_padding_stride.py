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
#
# The chapter prints zero padding and a strided convolution with the same padding on every side.
# Here you derive TensorFlow's "SAME" padding for any stride, and add the other padding modes of
# `torch.nn.Conv2d` and PyTorch's `padding="same"`, which is asymmetric for even kernels.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex03 as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_same_padding
# ## 1. "SAME" padding for any stride (2 points)
#
# The chapter picks the padding, then computes the output size. TensorFlow and Keras go the other
# way: with `padding="SAME"` the output length along an axis is fixed to $\lceil \text{size} /
# \text{stride} \rceil$ (for any stride), and the padding is derived from it: the smallest total
# number of zeros that makes that many windows fit, split between the two sides, the odd extra
# zero (if any) going after (at the bottom or on the right). Write
# `same_padding(size, kernel_size, stride)` that returns `(before, after)` along one axis.
#
# Check your answer on paper: with stride 1 an odd kernel gets the chapter's symmetric
# `(kernel_size - 1) // 2` on both sides. What does a 224-pixel image need for a 7x7 kernel with
# stride 2? A 225-pixel one?

# %% solution id=same_padding
def same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "SAME" padding along one axis -> (before, after)."""
    ### BEGIN SOLUTION
    out = -(-size // stride)  # ceil(size / stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2
    ### END SOLUTION

# %% test id=test_same_padding points=2
practice.check_same_padding(same_padding, 9, 3, 1)
practice.check_same_padding(same_padding, 224, 7, 2)
practice.check_same_padding(same_padding, 225, 7, 2)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex03", None)
practice = importlib.import_module("convlib.checks.ex03")
for size, k, s in [(10, 4, 1), (5, 1, 2), (7, 3, 3), (8, 3, 4), (13, 5, 2), (6, 2, 5), (4, 7, 1)]:
    practice.check_same_padding(same_padding, size, k, s)
### END HIDDEN TESTS

# %% markdown id=md_pad2d
# ## 2. Four ways to pad (3 points)
#
# The chapter pads with zeros. `torch.nn.Conv2d` offers three more `padding_mode`s, which invent
# the border from the image itself instead. For a row `x0 x1 x2 x3` padded by 2:
#
# | mode | left border, row, right border |
# |---|---|
# | `"constant"` (zeros) | `0 0 \| x0 x1 x2 x3 \| 0 0` |
# | `"reflect"` (mirror around the edge pixel) | `x2 x1 \| x0 x1 x2 x3 \| x2 x1` |
# | `"replicate"` (repeat the edge pixel) | `x0 x0 \| x0 x1 x2 x3 \| x3 x3` |
# | `"circular"` (wrap around, periodic) | `x2 x3 \| x0 x1 x2 x3 \| x0 x1` |
#
# Write `pad2d(X, padding, mode="constant")` for `X` with any number of leading dimensions, then
# `H, W`: `padding` rows above and below, `padding` columns left and right, so the last two
# dimensions become `(H + 2*padding, W + 2*padding)`. Pad the rows first, then the columns of the
# result (the corners follow). Build it from slicing, `torch.cat` and `flip`; do not call
# `torch.nn.functional.pad`. `padding` is smaller than `H` and `W`.

# %% solution id=pad2d
def pad2d(X: torch.Tensor, padding: int, mode: str = "constant") -> torch.Tensor:
    """X: (..., H, W) -> (..., H + 2*padding, W + 2*padding); mode constant, reflect, replicate, circular."""
    ### BEGIN SOLUTION
    p = padding
    if p == 0:
        return X.clone()

    def borders(X: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = X.shape[dim]
        if mode == "constant":
            shape = list(X.shape)
            shape[dim] = p
            return X.new_zeros(shape), X.new_zeros(shape)
        if mode == "reflect":
            return X.narrow(dim, 1, p).flip(dim), X.narrow(dim, n - 1 - p, p).flip(dim)
        if mode == "replicate":
            first, last = X.narrow(dim, 0, 1), X.narrow(dim, n - 1, 1)
            return torch.cat([first] * p, dim), torch.cat([last] * p, dim)
        if mode == "circular":
            return X.narrow(dim, n - p, p), X.narrow(dim, 0, p)
        raise ValueError(f"unknown mode {mode!r}")

    for dim in (-2, -1):
        before, after = borders(X, dim)
        X = torch.cat([before, X, after], dim)
    return X
    ### END SOLUTION

# %% test id=test_pad2d points=3
X = torch.arange(4.0, dtype=torch.float64, device=device).reshape(1, 4)
X = torch.cat([X, X + 10, X + 20], 0)  # rows 0 1 2 3, 10 11 12 13, 20 21 22 23
for mode in ["constant", "reflect", "replicate", "circular"]:
    practice.check_pad2d_mode(pad2d, X, 2, mode)  # the table above, on each row
    practice.check_pad2d_mode(pad2d, check.randn(2, 3, 5, 4, seed=1, device=device), 2, mode)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex03", None)
practice = importlib.import_module("convlib.checks.ex03")
for seed, (shape, p) in enumerate([((6, 2), 1), ((2, 2, 4, 4), 3), ((3, 5, 7), 0), ((1, 1, 4, 6), 1)]):
    X = check.randn(*shape, seed=50 + seed, device=device)
    for mode in ["constant", "reflect", "replicate", "circular"]:
        practice.check_pad2d_mode(pad2d, X, p, mode)
### END HIDDEN TESTS

# %% markdown id=md_conv2d
# ## 3. Convolution with "same" padding and a padding mode (5 points)
#
# Write `conv2d(X, K, stride=1, padding=0, padding_mode="zeros")` for one image `X: (H, W)` and
# one kernel `K: (kh, kw)`, the same as a one-channel `torch.nn.Conv2d` computes:
#
# - `stride` is an int or a pair `(along H, along W)`;
# - `padding` is an int, a pair, `"valid"` (no padding) or `"same"` (stride 1 only): pad so that
#   the output keeps `(H, W)`. That needs `kh - 1` rows in total; for an even kernel this is odd,
#   and PyTorch puts `(kh - 1) // 2` rows above and the rest below (likewise left and right), so
#   the padding is **not** the same on both sides;
# - `padding_mode` is `"zeros"`, `"reflect"`, `"replicate"` or `"circular"`, as in task 2.
#
# The chapter's code pads by the same amount on every side, with zeros. Pad with your own code
# (task 2's `pad2d` pads equally on all sides), without `torch.nn.functional`.

# %% solution id=conv2d
def conv2d(X: torch.Tensor, K: torch.Tensor, stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0, padding_mode: str = "zeros") -> torch.Tensor:
    """X: (H, W), K: (kh, kw) -> Y: (H_out, W_out)."""
    ### BEGIN SOLUTION
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    H, W = X.shape
    kh, kw = K.shape
    if padding == "valid":
        top = bottom = left = right = 0
    elif padding == "same":
        top, left = (kh - 1) // 2, (kw - 1) // 2
        bottom, right = kh - 1 - top, kw - 1 - left
    else:
        top, left = (padding, padding) if isinstance(padding, int) else padding
        bottom, right = top, left
    # pad by the larger amount on every side, then crop the extra row / column
    mode = "constant" if padding_mode == "zeros" else padding_mode
    big = max(top, bottom, left, right)
    Xp = pad2d(X, big, mode)[big - top : big + H + bottom, big - left : big + W + right]
    Y = X.new_zeros(((Xp.shape[0] - kh) // sh + 1, (Xp.shape[1] - kw) // sw + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (Xp[i * sh : i * sh + kh, j * sw : j * sw + kw] * K).sum()
    return Y
    ### END SOLUTION

# %% test id=test_conv2d points=5
X = check.randn(5, 5, seed=1, device=device)
K = check.randn(3, 3, seed=2, device=device)
practice.check_conv2d_same(conv2d, X, K, 0, stride=2)
practice.check_conv2d_same(conv2d, X, K, (0, 1), stride=(2, 1))
practice.check_conv2d_same(conv2d, X, K, "same")
practice.check_conv2d_same(conv2d, X, check.randn(2, 4, seed=3, device=device), "same")  # even kernel
practice.check_conv2d_same(conv2d, X, K, 1, padding_mode="reflect")
practice.check_conv2d_same(conv2d, X, K, "same", padding_mode="circular")
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex03", None)
practice = importlib.import_module("convlib.checks.ex03")
cases = [
    ((7, 6), (3, 2), 3, 1, "zeros"),
    ((4, 9), (2, 3), (1, 3), (2, 0), "zeros"),
    ((6, 6), (4, 4), 1, "same", "replicate"),
    ((6, 5), (3, 2), 1, "same", "reflect"),
    ((5, 5), (3, 3), 2, 2, "circular"),
    ((5, 6), (2, 2), 1, "valid", "reflect"),
]
for seed, (xs, ks, s, p, mode) in enumerate(cases):
    X = check.randn(*xs, seed=10 + seed, device=device)
    K = check.randn(*ks, seed=20 + seed, device=device)
    practice.check_conv2d_same(conv2d, X, K, p, stride=s, padding_mode=mode)
### END HIDDEN TESTS
