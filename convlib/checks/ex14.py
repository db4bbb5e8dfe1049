"""Checks of ex14_deformable (chapter 14, deformable convolution).

Tasks: ``grid_sample`` with both ``align_corners`` conventions, the derivative of bilinear
sampling by hand (called with gradient recording off: no route to autograd works), and
deformable convolution with offset groups and a mask. Each check states its usual mistakes as
(message, wrong answer) variants.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

import convlib.check as check
from convlib.checks import core

__all__ = [
    "check_grid_sample",
    "check_bilinear_grad",
    "check_deform_conv2d",
    "deform_conv2d_reference",
]


def _bilinear_ref(
    X: torch.Tensor,
    py: torch.Tensor,
    px: torch.Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """X: (C, H, W) sampled at points (P,) with torch's grid_sample -> (C, P)."""
    C, H, W = X.shape
    gx = 2 * px / (W - 1) - 1
    gy = 2 * py / (H - 1) - 1
    grid = torch.stack([gx, gy], -1)[None, None]  # (1, 1, P, 2)
    out = F.grid_sample(X[None], grid, mode=mode, padding_mode=padding_mode, align_corners=True)
    return out[0, :, 0]


def check_grid_sample(
    fn: Callable[..., Any],
    X: torch.Tensor,
    grid: torch.Tensor,
    align_corners: bool = False,
    *,
    fname: str = "grid_sample",
) -> None:
    """``fn(X, grid, align_corners=)`` equals ``F.grid_sample`` (bilinear, zeros padding).

    X: (N, C, H, W); grid: (N, H', W', 2), (x, y) in [-1, 1] -> (N, C, H', W').
    """

    def ref(g: torch.Tensor = grid, corners: bool = align_corners, **kw: Any) -> torch.Tensor:
        return F.grid_sample(
            X,
            g,
            mode=kw.get("mode", "bilinear"),
            padding_mode=kw.get("padding_mode", "zeros"),
            align_corners=corners,
        )

    check.check_function(
        fn,
        (X, grid),
        {"align_corners": align_corners},
        ref(),
        fname=fname,
        forbidden=core.ALL_CONV | core.SAMPLE_OPS,
        shape_hint="one value per channel and grid point: (N, C, H', W')",
        variants=[
            (
                "grid[..., 0] is x (the column, along W) and grid[..., 1] is y (the row): you "
                "swapped them",
                lambda: ref(grid.flip(-1)),
            ),
            (
                f"you used the align_corners={not align_corners} mapping: with True, -1 and 1 are "
                "the CENTRES of the corner pixels, px = (x + 1) (W - 1) / 2; with False they are "
                "the outer EDGES of the image, px = ((x + 1) W - 1) / 2",
                lambda: ref(corners=not align_corners),
            ),
            (
                "outside the image you used the nearest border pixel: neighbours outside X count "
                "as zero",
                lambda: ref(padding_mode="border"),
            ),
            (
                "you rounded to the nearest pixel: interpolate between the four neighbours",
                lambda: ref(mode="nearest"),
            ),
        ],
    )
    N, Ho, Wo, _ = grid.shape
    big = torch.cat([grid] * 4, dim=1)
    core.check_no_output_loop(
        fn,
        (X, grid),
        (X, big),
        {"align_corners": align_corners},
        fname=fname,
        what="grid points",
        instead="compute the four neighbours of all points at once",
    )


def check_bilinear_grad(
    fn: Callable[..., Any],
    X: torch.Tensor,
    py: torch.Tensor,
    px: torch.Tensor,
    *,
    fname: str = "bilinear_grad",
) -> None:
    """``fn(X, py, px) -> (d/dpy, d/dpx)``, each (C, P): how the samples move with the point."""
    grid_y = py.detach().clone().requires_grad_()
    grid_x = px.detach().clone().requires_grad_()
    dys, dxs = [], []
    with torch.enable_grad():
        for c in range(X.shape[0]):
            values = _bilinear_ref(X[c : c + 1], grid_y, grid_x)[0].sum()
            gy, gx = torch.autograd.grad(values, (grid_y, grid_x))
            dys.append(gy)
            dxs.append(gx)
    dpy, dpx = torch.stack(dys), torch.stack(dxs)
    forbidden = core.ALL_CONV | core.SAMPLE_OPS | core.AUTOGRAD_OPS
    swapped = "you returned (d/dpx, d/dpy): the row derivative comes first"
    signs = [
        "sign: moving the point down moves weight from the top neighbours to the bottom ones, "
        "d/dpy = (1-lx)(v10 - v00) + lx (v11 - v01)",
        "sign: d/dpx = (1-ly)(v01 - v00) + ly (v11 - v10)",
    ]
    derivatives = [dpy, dpx]
    for part, name in enumerate(("d/dpy", "d/dpx")):
        right, other = derivatives[part], derivatives[1 - part]
        check.check_function(
            core.no_grad(core.pick(fn, part)),
            (X, py, px),
            {},
            right,
            fname=f"{fname}[{part}] ({name})",
            forbidden=forbidden,
            shape_hint="one derivative per channel and point: (C, P)",
            variants=[
                (swapped, functools.partial(torch.clone, other)),
                (signs[part], functools.partial(torch.neg, right)),
            ],
        )


def deform_conv2d_reference(
    X: torch.Tensor,
    offset: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    swap: bool = False,
    first_group_only: bool = False,
) -> torch.Tensor:
    """torchvision's deform_conv2d (offset groups G from offset's shape, groups 1), on
    F.grid_sample.

    X: (N, C_in, H, W); offset: (N, 2*G*kh*kw, H', W') as (dy, dx) per group and tap (channel
    2*(g*kh*kw + t)); K: (C_out, C_in, kh, kw); mask: (N, G*kh*kw, H', W') -> (N, C_out, H', W').
    Input channel block g (C_in / G channels) uses group g's offsets. ``swap`` reads the pairs as
    (dx, dy) and ``first_group_only`` gives every block group 0's offsets (mistakes).
    """
    N, C, H, W = X.shape
    C_out, _, kh, kw = K.shape
    taps = kh * kw
    G = offset.shape[1] // (2 * taps)
    Ho = (H + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    Wo = (W + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    rows = (torch.arange(Ho, dtype=X.dtype, device=X.device) * stride - padding)[:, None]
    cols = (torch.arange(Wo, dtype=X.dtype, device=X.device) * stride - padding)[None, :]
    Y = X.new_zeros(N, C_out, Ho, Wo)
    block = C // G
    for g in range(G):
        Xg, Kg = X[:, g * block : (g + 1) * block], K[:, g * block : (g + 1) * block]
        og = 0 if first_group_only else g
        for a in range(kh):
            for b in range(kw):
                t = og * taps + a * kw + b
                dy, dx = offset[:, 2 * t], offset[:, 2 * t + 1]
                if swap:
                    dy, dx = dx, dy
                py = rows + a * dilation + dy  # (N, Ho, Wo)
                px = cols + b * dilation + dx
                grid = torch.stack([2 * px / (W - 1) - 1, 2 * py / (H - 1) - 1], -1)
                sample = F.grid_sample(
                    Xg, grid, mode="bilinear", padding_mode="zeros", align_corners=True
                )  # (N, C / G, Ho, Wo)
                if mask is not None:
                    sample = sample * mask[:, t, None]
                Y += torch.einsum("nchw,oc->nohw", sample, Kg[:, :, a, b])
    if bias is not None:
        Y += bias[None, :, None, None]
    return Y


def check_deform_conv2d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    offset: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    *,
    fname: str = "deform_conv2d",
    **given: int,
) -> None:
    """``fn(X, offset, K, bias, mask, stride=, padding=, dilation=)`` = DCNv2 (torchvision's);
    ``given``: stride, padding, dilation (each 1, 0, 1 when left out)."""
    settings: dict[str, Any] = {"stride": 1, "padding": 0, "dilation": 1, **given}
    expected = deform_conv2d_reference(X, offset, K, bias, mask, **settings)
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (
            "offsets read as (dx, dy): channel 2*t is the row offset dy of tap t, 2*t + 1 the "
            "column offset dx",
            lambda: deform_conv2d_reference(X, offset, K, bias, mask, **settings, swap=True),
        ),
        (
            "the offsets are ignored: your output is a plain conv2d",
            lambda: F.conv2d(X, K, bias, **settings),
        ),
    ]
    if offset.shape[1] > 2 * K.shape[-2] * K.shape[-1]:
        variants.append(
            (
                "every channel block used the first offset group: input channels "
                "g*C_in/G .. (g+1)*C_in/G - 1 move with offset channels 2*(g*kh*kw + t), +1",
                lambda: deform_conv2d_reference(
                    X, offset, K, bias, mask, **settings, first_group_only=True
                ),
            )
        )
    if mask is not None:
        variants.append(
            (
                "the modulation mask is ignored: multiply each tap's sample by mask[n, t, i, j]",
                lambda: deform_conv2d_reference(X, offset, K, bias, None, **settings),
            )
        )
    if settings["dilation"] != 1:
        variants.append(
            (
                "dilation ignored in the base grid: tap (a, b) starts at "
                "(i*stride - padding + a*dilation, ...)",
                lambda: deform_conv2d_reference(
                    X, offset, K, bias, mask, **{**settings, "dilation": 1}
                )[..., : expected.shape[-2], : expected.shape[-1]],
            )
        )
    check.check_function(
        fn,
        (X, offset, K),
        {"bias": bias, "mask": mask, **settings},
        expected,
        fname=fname,
        forbidden=core.ALL_CONV | core.SAMPLE_OPS,
        atol=1e-9,
        rtol=1e-7,
        shape_hint="the output has conv2d's shape with the same stride, padding, dilation",
        variants=variants,
    )


# --------------------------------------------------------------------------------------------
# chapter 15: FFT convolution
