# %% markdown id=title
# # Exercise 14: deformable convolution
#
# **Total: {total_points} points.** Book chapter 14.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with PyTorch (`F.grid_sample` with `align_corners=True` for
#   sampling, autograd for derivatives, `F.conv2d` at zero offsets) and tell you what differs.
#   Task 2 uses pixel coordinates: `py, px` are the row and column of each point.
#   Calling `F.grid_sample`, a convolution, `F.unfold`, autograd where a derivative is asked, or
#   `convlib` scores 0 for that task. Build from `torch.floor`, indexing, `*`, `sum` and `einsum`.
# - Return tensors on the input's device and dtype.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex14_deformable.ipynb`.
#
# The chapter samples in pixel coordinates and builds a DCNv2 deformable convolution with one set
# of offsets. Here you write `grid_sample`'s normalised convention (both `align_corners` cases),
# derive how a sample changes when its point moves (the gradient that lets a network learn its
# offsets), and add torchvision's offset groups.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex14 as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_sample
# ## 1. `grid_sample`, both conventions (3 points)
#
# The chapter's `bilinear_sample` reads an image at pixel coordinates. Spatial transformers and
# most deformable-convolution code use `F.grid_sample` instead, whose points are *normalised*:
# `grid: (N, H', W', 2)` holds `(x, y)` pairs (x first!) in `[-1, 1]`, and `align_corners` says
# what `-1` and `1` mean. With `align_corners=True` they are the centres of the corner pixels:
# `px = (x + 1) (W - 1) / 2`. With `align_corners=False` (torch's default) they are the outer
# edges of the image, so that each pixel covers a cell of width `2 / W`: derive `px` for that case.
# Write `grid_sample(X, grid, align_corners=False)` for `X: (N, C, H, W)`, returning
# `(N, C, H', W')`: bilinear, neighbours outside the image count as zero, and no Python loop over
# the grid points (a loop over the four neighbours, or over the batch, is fine).

# %% solution id=grid_sample
def grid_sample(X: torch.Tensor, grid: torch.Tensor, align_corners: bool = False) -> torch.Tensor:
    """X: (N, C, H, W), grid: (N, H', W', 2) as (x, y) in [-1, 1] -> (N, C, H', W')."""
    ### BEGIN SOLUTION
    N, C, H, W = X.shape
    _, Ho, Wo, _ = grid.shape
    gx, gy = grid[..., 0], grid[..., 1]
    if align_corners:
        px, py = (gx + 1) * (W - 1) / 2, (gy + 1) * (H - 1) / 2
    else:
        px, py = ((gx + 1) * W - 1) / 2, ((gy + 1) * H - 1) / 2
    y0, x0 = torch.floor(py), torch.floor(px)
    ly, lx = py - y0, px - x0
    flat = X.reshape(N, C, H * W)
    out = X.new_zeros((N, C, Ho * Wo))
    for dy, dx, weight in ((0, 0, (1 - ly) * (1 - lx)), (0, 1, (1 - ly) * lx), (1, 0, ly * (1 - lx)), (1, 1, ly * lx)):
        y, x = y0 + dy, x0 + dx
        inside = (y >= 0) & (y <= H - 1) & (x >= 0) & (x <= W - 1)
        index = (y.clamp(0, H - 1) * W + x.clamp(0, W - 1)).long().reshape(N, 1, -1).expand(N, C, -1)
        out += flat.gather(2, index) * torch.where(inside, weight, 0.0).reshape(N, 1, -1)
    return out.reshape(N, C, Ho, Wo)
    ### END SOLUTION

# %% test id=test_grid_sample points=3
X = check.randn(2, 3, 5, 6, seed=1, device=device)
grid = 1.2 * (2 * torch.rand(2, 4, 3, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) - 1).to(device)
practice.check_grid_sample(grid_sample, X, grid, align_corners=True)
practice.check_grid_sample(grid_sample, X, grid, align_corners=False)
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex14"):
    sys.modules.pop(name, None)
practice = importlib.import_module("convlib.checks.ex14")
for seed, (N, C, H, W, Ho, Wo) in enumerate([(1, 1, 4, 4, 5, 5), (2, 2, 7, 3, 2, 6), (1, 3, 2, 9, 3, 3)]):
    X = check.randn(N, C, H, W, seed=10 + seed, device=device)
    grid = 1.3 * (2 * torch.rand(N, Ho, Wo, 2, generator=torch.Generator().manual_seed(seed + 7), dtype=torch.float64) - 1).to(device)
    for corners in (True, False):
        practice.check_grid_sample(grid_sample, X, grid, align_corners=corners)
### END HIDDEN TESTS

# %% markdown id=md_grad
# ## 2. How a sample moves with its point (3 points)
#
# In pixel coordinates (`py` the row, `px` the column of each point, `X: (C, H, W)`), bilinear
# sampling with the four neighbours `y0 = floor(py)`, `x0 = floor(px)`, `ly = py - y0`,
# `lx = px - x0` gives
#
# $$v = (1-l_y)(1-l_x) X[y_0, x_0] + (1-l_y) l_x X[y_0, x_0+1] + l_y (1-l_x) X[y_0+1, x_0] + l_y l_x X[y_0+1, x_0+1]$$
#
# (neighbours outside the image count as zero). A deformable convolution learns its offsets by gradient descent, so it needs the derivative of
# each sampled value with respect to the point's position. Differentiate this formula by
# hand (the neighbours and `floor` are constant between pixels): write `bilinear_grad(X, py, px)`
# returning the pair `(dv/dpy, dv/dpx)`, each `(C, P)`, for points that are not exactly on a
# pixel row or column. Autograd is not allowed here: the check calls your function with gradient
# recording off (`torch.no_grad()`), so no route to it works, and reaching it scores 0.

# %% solution id=bilinear_grad
def bilinear_grad(X: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """X: (C, H, W), py, px: (P,) -> (d sample / d py, d sample / d px), each (C, P)."""
    ### BEGIN SOLUTION
    C, H, W = X.shape
    y0, x0 = torch.floor(py), torch.floor(px)
    ly, lx = py - y0, px - x0

    def at(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        inside = (y >= 0) & (y <= H - 1) & (x >= 0) & (x <= W - 1)
        return X[:, y.clamp(0, H - 1).long(), x.clamp(0, W - 1).long()] * inside

    v00, v01, v10, v11 = at(y0, x0), at(y0, x0 + 1), at(y0 + 1, x0), at(y0 + 1, x0 + 1)
    dpy = (1 - lx) * (v10 - v00) + lx * (v11 - v01)
    dpx = (1 - ly) * (v01 - v00) + ly * (v11 - v10)
    return dpy, dpx
    ### END SOLUTION

# %% test id=test_bilinear_grad points=3
X = check.randn(2, 5, 6, seed=2, device=device)
py = torch.tensor([0.3, 1.5, 3.25, -0.5, 4.5], dtype=torch.float64, device=device)
px = torch.tensor([0.2, 2.5, 0.75, 1.4, 5.5], dtype=torch.float64, device=device)
practice.check_bilinear_grad(bilinear_grad, X, py, px)
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex14"):
    sys.modules.pop(name, None)
practice = importlib.import_module("convlib.checks.ex14")
for seed, (C, H, W, P) in enumerate([(1, 4, 4, 10), (3, 6, 5, 12)]):
    X = check.randn(C, H, W, seed=20 + seed, device=device)
    py = torch.rand(P, generator=torch.Generator().manual_seed(seed + 5), dtype=torch.float64).to(device) * (H + 1) - 1.0 + 0.013
    px = torch.rand(P, generator=torch.Generator().manual_seed(seed + 9), dtype=torch.float64).to(device) * (W + 1) - 1.0 + 0.017
    practice.check_bilinear_grad(bilinear_grad, X, py, px)
### END HIDDEN TESTS

# %% markdown id=md_deform
# ## 3. Deformable convolution with offset groups (5 points)
#
# The chapter's `deform_conv2d` moves every input channel with the same offsets. torchvision's
# (and DCNv2's) has *offset groups*: the `C_in` input channels are split into `G` blocks of
# `C_in / G`, and each block has its own offsets and mask, so different channels may look in
# different places. `G` is read from the shapes: `offset: (N, 2*G*kh*kw, H', W')` and
# `mask: (N, G*kh*kw, H', W')`. For block `g`, tap `t = a*kw + b` and output `(i, j)`, the point is
#
# $$p_y = i \cdot s - p + a \cdot d + \text{offset}[n, 2u, i, j], \qquad p_x = j \cdot s - p + b \cdot d + \text{offset}[n, 2u+1, i, j], \qquad u = g \cdot kh \cdot kw + t$$
#
# and the sample of each channel of block `g` there (bilinear, zero outside, pixel coordinates as in
# task 2) is multiplied by `mask[n, u, i, j]` (all ones when `None`) and by `K[:, c, a, b]`, summed
# over the channels. Write `deform_conv2d(X, offset, K, bias=None, mask=None, stride=1, padding=0,
# dilation=1)` for `X: (N, C_in, H, W)`, `K: (C_out, C_in, kh, kw)`; with `G = 1` and zero
# offsets it equals `F.conv2d`. Loop over groups and taps only.

# %% solution id=deform_conv2d
def deform_conv2d(X: torch.Tensor, offset: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None, mask: torch.Tensor | None = None, stride: int = 1, padding: int = 0, dilation: int = 1) -> torch.Tensor:
    """X: (N, C_in, H, W), offset: (N, 2*G*kh*kw, H', W'), K: (C_out, C_in, kh, kw),
    mask: (N, G*kh*kw, H', W') -> (N, C_out, H', W')."""
    ### BEGIN SOLUTION
    N, C_in, H, W = X.shape
    C_out, _, kh, kw = K.shape
    s, p, d = stride, padding, dilation
    Ho, Wo = offset.shape[-2:]
    G = offset.shape[1] // (2 * kh * kw)
    block = C_in // G
    rows = (torch.arange(Ho, device=X.device, dtype=X.dtype) * s - p)[:, None]
    cols = (torch.arange(Wo, device=X.device, dtype=X.dtype) * s - p)[None, :]
    flat = X.reshape(N, C_in, H * W)
    Y = X.new_zeros((N, C_out, Ho, Wo))
    for g in range(G):
        Xg = flat[:, g * block : (g + 1) * block]
        for a in range(kh):
            for b in range(kw):
                u = g * kh * kw + a * kw + b
                py = rows + a * d + offset[:, 2 * u]  # (N, Ho, Wo)
                px = cols + b * d + offset[:, 2 * u + 1]
                y0, x0 = torch.floor(py), torch.floor(px)
                ly, lx = py - y0, px - x0
                sample = X.new_zeros((N, block, Ho * Wo))
                for dy, dx, weight in ((0, 0, (1 - ly) * (1 - lx)), (0, 1, (1 - ly) * lx), (1, 0, ly * (1 - lx)), (1, 1, ly * lx)):
                    y, x = y0 + dy, x0 + dx
                    inside = (y >= 0) & (y <= H - 1) & (x >= 0) & (x <= W - 1)
                    index = (y.clamp(0, H - 1) * W + x.clamp(0, W - 1)).long().reshape(N, 1, -1).expand(N, block, -1)
                    sample += Xg.gather(2, index) * torch.where(inside, weight, 0.0).reshape(N, 1, -1)
                sample = sample.reshape(N, block, Ho, Wo)
                if mask is not None:
                    sample = sample * mask[:, u, None]
                Y += torch.einsum("nchw,oc->nohw", sample, K[:, g * block : (g + 1) * block, a, b])
    if bias is not None:
        Y += bias[None, :, None, None]
    return Y
    ### END SOLUTION

# %% test id=test_deform_conv2d points=5
X = check.randn(1, 2, 6, 6, seed=3, device=device)
K = check.randn(3, 2, 3, 3, seed=4, device=device)
practice.check_deform_conv2d(deform_conv2d, X, X.new_zeros((1, 18, 4, 4)), K)  # zero offsets: conv2d
offset = 0.8 * check.randn(1, 36, 4, 4, seed=5, device=device)  # G = 2 offset groups
mask = torch.sigmoid(check.randn(1, 18, 4, 4, seed=6, device=device))
practice.check_deform_conv2d(deform_conv2d, X, offset, K, check.randn(3, seed=7, device=device), mask)
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex14"):
    sys.modules.pop(name, None)
practice = importlib.import_module("convlib.checks.ex14")
F = check.torch_reference()
for seed, (xs, ks, s, p, d, G) in enumerate([((2, 3, 7, 6), (2, 3, 3, 2), 2, 1, 1, 3), ((1, 2, 8, 8), (2, 2, 2, 3), 1, 2, 2, 1), ((1, 4, 5, 7), (1, 4, 1, 1), 1, 0, 1, 2)]):
    X = check.randn(*xs, seed=30 + seed, device=device)
    K = check.randn(*ks, seed=40 + seed, device=device)
    out = F.conv2d(X, K, stride=s, padding=p, dilation=d).shape[-2:]
    taps = ks[2] * ks[3]
    offset = 1.5 * check.randn(xs[0], 2 * G * taps, *out, seed=50 + seed, device=device)
    mask = torch.sigmoid(check.randn(xs[0], G * taps, *out, seed=60 + seed, device=device))
    practice.check_deform_conv2d(deform_conv2d, X, offset, K, check.randn(ks[0], seed=70 + seed, device=device), mask, stride=s, padding=p, dilation=d)
    practice.check_deform_conv2d(deform_conv2d, X, X.new_zeros(offset.shape), K, stride=s, padding=p, dilation=d)
### END HIDDEN TESTS
