# %% markdown id=title
# # Exercise 8: transposed convolutions
#
# **Total: {total_points} points.** Book chapter 8.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional` on seeded random inputs and tell
#   you what differs. Build everything from indexing, slicing, `sum`, `*` and `@`: calling the
#   operation you implement (`torch.nn.functional.conv_transpose2d`, `conv2d` and friends, or `convlib`) scores 0 for that task.
# - Return tensors on the input's device and dtype: `X.new_zeros(shape)` creates one.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex08_transposed.ipynb`.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_output_size
# ## 1. Output size of a transposed convolution (1 point)
#
# A transposed convolution maps an input of length `size` back to the length that a convolution
# with the same `kernel_size`, `stride`, `padding` would have turned into `size`:
#
# $$\text{out} = (\text{size} - 1)\,\text{stride} - 2\,\text{padding} + (\text{kernel\_size} - 1) + \text{output\_padding} + 1 .$$
#
# `output_padding` resolves the ambiguity when several input sizes give the same output with
# `stride > 1`. Example: a 2x2 input, 3x3 kernel, stride 2 gives 5x5.

# %% solution id=conv_transpose_output_size
def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, output_padding: int = 0) -> int:
    """Length of a transposed convolution's output along one axis."""
    ### BEGIN SOLUTION
    return (size - 1) * stride - 2 * padding + (kernel_size - 1) + output_padding + 1
    ### END SOLUTION

# %% test id=test_conv_transpose_output_size points=1
check.check_transpose_output_size(conv_transpose_output_size, 2, 3, stride=2)
check.check_transpose_output_size(conv_transpose_output_size, 2, 3)
### BEGIN HIDDEN TESTS
for size, k, s, p, op in [(1, 1, 1, 0, 0), (4, 4, 2, 1, 0), (5, 3, 3, 1, 2), (7, 5, 2, 2, 1)]:
    check.check_transpose_output_size(conv_transpose_output_size, size, k, stride=s, padding=p, output_padding=op)
### END HIDDEN TESTS

# %% markdown id=md_conv_matrix
# ## 2. A convolution is a matrix (3 points)
#
# Flatten a `(h, w)` input row by row into a vector of length `h*w`. A (valid, stride 1)
# cross-correlation with a `(kh, kw)` kernel is then a matrix product `Y.flatten() = C @ X.flatten()`
# where `C` has one row per output pixel and one column per input pixel; row `r` holds the kernel's
# values at the input positions that output pixel `r` reads, and zeros elsewhere (it is sparse).
# Write `conv_matrix(K, input_size)`. For a 4x4 input and a 3x3 kernel, `C` is 4x16.

# %% solution id=conv_matrix
def conv_matrix(K: torch.Tensor, input_size: tuple[int, int]) -> torch.Tensor:
    """K: (kh, kw), input_size (h, w) -> C: ((h-kh+1)*(w-kw+1), h*w)."""
    ### BEGIN SOLUTION
    kh, kw = K.shape
    h, w = input_size
    oh, ow = h - kh + 1, w - kw + 1
    C = K.new_zeros((oh * ow, h * w))
    for i in range(oh):
        for j in range(ow):
            row = C[i * ow + j].reshape(h, w)  # a view: writing to it writes into C
            row[i : i + kh, j : j + kw] = K
    return C
    ### END SOLUTION

# %% test id=test_conv_matrix points=3
check.check_conv_matrix(conv_matrix, torch.arange(1.0, 10.0, dtype=torch.float64, device=device).reshape(3, 3), (4, 4))
check.check_conv_matrix(conv_matrix, check.randn(2, 3, seed=1, device=device), (3, 5))
### BEGIN HIDDEN TESTS
for seed, (ks, size) in enumerate([((1, 1), (2, 2)), ((3, 2), (5, 4)), ((4, 4), (4, 6))]):
    check.check_conv_matrix(conv_matrix, check.randn(*ks, seed=10 + seed, device=device), size)
### END HIDDEN TESTS

# %% markdown id=md_via_matrix
# ## 3. The transposed convolution is multiplication by C^T (3 points)
#
# `C` maps a 4x4 input to a 2x2 output; `C^T` (16x4) maps a 2x2 grid back to 4x4. Write
# `conv_transpose_via_matrix(X, K)` for `X: (h, w)` and `K: (kh, kw)`: build `C` for the
# `(h + kh - 1, w + kw - 1)` output size with your `conv_matrix`, multiply the flattened `X` by
# `C.T` and reshape. It must equal `torch.nn.functional.conv_transpose2d` (stride 1, no padding).
# Note that this restores the shape, not the values: a transposed convolution is not an inverse.

# %% solution id=conv_transpose_via_matrix
def conv_transpose_via_matrix(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """X: (h, w), K: (kh, kw) -> Y: (h + kh - 1, w + kw - 1) = (C^T @ X.flatten()) reshaped."""
    ### BEGIN SOLUTION
    out_h, out_w = X.shape[0] + K.shape[0] - 1, X.shape[1] + K.shape[1] - 1
    C = conv_matrix(K, (out_h, out_w))
    return (C.T @ X.reshape(-1)).reshape(out_h, out_w)
    ### END SOLUTION

# %% test id=test_conv_transpose_via_matrix points=3
F = check.torch_reference()


def check_via_matrix(X, K):
    reference = lambda K: F.conv_transpose2d(X[None, None], K[None, None])[0, 0]
    check.check_function(
        conv_transpose_via_matrix, (X, K), {}, reference(K), fname="conv_transpose_via_matrix",
        shape_hint="the output is (h + kh - 1, w + kw - 1): build C for that input size and use C.T",
        variants=[
            ("your output equals torch's with the kernel flipped: multiply by C^T, do not flip K", lambda: reference(K.flip(-1, -2))),
            ("you applied C (a convolution), not C^T", lambda: F.conv2d(X[None, None], K[None, None])[0, 0]),
        ],
    )


check_via_matrix(check.randn(2, 2, seed=2, device=device), check.randn(3, 3, seed=3, device=device))
### BEGIN HIDDEN TESTS
F = check.torch_reference()
for seed, (xs, ks) in enumerate([((1, 1), (2, 2)), ((3, 2), (2, 3)), ((4, 4), (1, 1))]):
    check_via_matrix(check.randn(*xs, seed=20 + seed, device=device), check.randn(*ks, seed=30 + seed, device=device))
### END HIDDEN TESTS

# %% markdown id=md_conv_transpose2d
# ## 4. The full transposed convolution (5 points)
#
# Write `conv_transpose2d(X, K, stride=1, padding=0)` for `X: (N, C_in, H, W)` and
# `K: (C_in, C_out, kh, kw)` (note the order: the transpose of a convolution from `C_out` to `C_in`
# channels), equal to `torch.nn.functional.conv_transpose2d(X, K, stride=stride, padding=padding)`
# with int `stride`, `padding`. Two equivalent ways:
#
# - *scatter*: every input pixel `X[n, c, i, j]` adds `X[n, c, i, j] * K[c]` into the full output at
#   rows `i*stride ...`, columns `j*stride ...`; then crop `padding` pixels from every border;
# - *zero insertion*: put `stride - 1` zeros between input pixels, pad by `kh - 1 - padding`, and
#   cross-correlate with the kernel rotated by 180 degrees (and its channel axes swapped).

# %% solution id=conv_transpose2d
def conv_transpose2d(X: torch.Tensor, K: torch.Tensor, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_in, C_out, kh, kw) -> (N, C_out, (H-1)*stride - 2*padding + kh, ...)."""
    ### BEGIN SOLUTION
    N, C_in, H, W = X.shape
    _, C_out, kh, kw = K.shape
    full = X.new_zeros((N, C_out, (H - 1) * stride + kh, (W - 1) * stride + kw))
    for i in range(H):
        for j in range(W):
            # (N, C_in) x (C_in, C_out, kh, kw) -> (N, C_out, kh, kw)
            patch = torch.einsum("nc,cokl->nokl", X[:, :, i, j], K)
            full[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw] += patch
    return full[:, :, padding : full.shape[2] - padding, padding : full.shape[3] - padding]
    ### END SOLUTION

# %% test id=test_conv_transpose2d points=5
X = check.randn(1, 2, 3, 3, seed=4, device=device)
K = check.randn(2, 3, 3, 3, seed=5, device=device)
check.check_conv_transpose2d(conv_transpose2d, X, K)
check.check_conv_transpose2d(conv_transpose2d, X, K, stride=2)
check.check_conv_transpose2d(conv_transpose2d, X, K, stride=2, padding=1)
### BEGIN HIDDEN TESTS
for seed, (xs, ks, s, p) in enumerate([((2, 1, 2, 2), (1, 1, 3, 3), 2, 0), ((1, 3, 4, 3), (3, 2, 2, 4), 3, 1), ((2, 2, 5, 5), (2, 4, 4, 4), 2, 1), ((1, 1, 1, 1), (1, 2, 2, 2), 1, 0)]):
    check.check_conv_transpose2d(conv_transpose2d, check.randn(*xs, seed=40 + seed, device=device), check.randn(*ks, seed=50 + seed, device=device), stride=s, padding=p)
### END HIDDEN TESTS
