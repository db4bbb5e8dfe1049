"""Figures for chapters 8-14: the convolution matrix, transposed convolution, im2col, pooling,
1D/3D convolution, separable kernels, deformable sampling and the cost of large kernels.

Built on the helpers of :mod:`convlib.viz.core` (same colours, same pyplot-free figures that a
notebook shows once). Figures draw values they are given; they compute only what is needed to
lay them out (indices, not convolutions), so a figure never hides a second implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from ..matrices import conv_matrix
from .core import (
    BLUE,
    BLUE_DARK,
    EDGE,
    GREEN,
    GREEN_DARK,
    HIGHLIGHT,
    PAD_FACE,
    _as_array,
    _draw_cells,
    _frame_axes,
    _highlight_rect,
    _new_figure,
    _pair,
    show_grid,
    show_grids,
)

__all__ = [
    "bilinear_figure",
    "checkerboard_figure",
    "conv1d_figure",
    "conv3d_figure",
    "conv_matrix_figure",
    "cost_growth_figure",
    "deform_sampling_figure",
    "im2col_figure",
    "pooling_figure",
    "separable_figure",
    "zero_insertion_figure",
]

# One pastel per kernel row, so the shifted copies of the kernel in C are easy to follow.
ROW_COLOURS = ["#fdd0a2", "#c6dbef", "#c7e9c0", "#dadaeb", "#fcbba1", "#d9d9d9", "#fee391"]


def _vector(values: Any) -> np.ndarray:
    """Any 1D tensor (on any device, with or without grad), array or list -> float64 numpy array."""
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float64).numpy().reshape(-1)
    return np.asarray(values, dtype=np.float64).reshape(-1)


def _tap_label(i: int, j: int) -> str:
    return f"$w_{{{i},{j}}}$"


def conv_matrix_figure(
    kernel_size: int | tuple[int, int] = 3,
    input_size: int | tuple[int, int] = 4,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    transpose: bool = False,
) -> Figure:
    """The matrix C of a convolution (or C.T), each non-zero entry named after its kernel tap.

    C has one row per output pixel and one column per input pixel (both in row-major order):
    shape (H_out * W_out, H * W). Built by :func:`convlib.matrices.conv_matrix` from a kernel
    holding the tap numbers 1..kh*kw, so the figure shows exactly the matrix the library builds.
    """
    kh, kw = _pair(kernel_size, "kernel_size")
    taps = torch.arange(1, kh * kw + 1, dtype=torch.float64).reshape(kh, kw)
    C = conv_matrix(taps, input_size, stride=stride, padding=padding).numpy()
    if transpose:
        C = C.T
    n_rows, n_cols = C.shape
    cell = 0.42 if max(n_rows, n_cols) <= 16 else 0.3
    fig = _new_figure(n_cols * cell + 0.9, n_rows * cell + 0.7)
    ax = fig.add_axes((0.06, 0.02, 0.92, 0.86))
    face = np.full(C.shape, PAD_FACE, dtype=object)
    texts = np.full(C.shape, "", dtype=object)
    for r in range(n_rows):
        for c in range(n_cols):
            t = int(C[r, c])
            if t:
                i, j = divmod(t - 1, kw)
                face[r, c] = ROW_COLOURS[i % len(ROW_COLOURS)]
                texts[r, c] = _tap_label(i, j)
            else:
                texts[r, c] = "0"
    _draw_cells(ax, n_rows, n_cols, face=face, texts=texts, fontsize=7 if cell < 0.4 else 8)
    for r in range(n_rows):
        ax.text(-0.3, r + 0.5, str(r), ha="right", va="center", fontsize=7, color=EDGE)
    for c in range(n_cols):
        ax.text(c + 0.5, -0.2, str(c), ha="center", va="bottom", fontsize=7, color=EDGE)
    _frame_axes(ax, n_cols, n_rows)
    ax.set_xlim(-1.0, n_cols + 0.1)
    ax.set_ylim(n_rows + 0.1, -0.9)
    name = "$C^T$" if transpose else "$C$"
    ax.set_title(f"{name}: {n_rows} x {n_cols}", fontsize=10)
    return fig


def zero_insertion_figure(
    input_size: int | tuple[int, int] = 2,
    kernel_size: int | tuple[int, int] = 3,
    stride: int | tuple[int, int] = 2,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
) -> Figure:
    """A transposed convolution redrawn as a direct one.

    Left: the input Z of the transposed convolution (z_0, z_1, ... in row-major order). Middle: Z
    with ``stride - 1`` zeros between entries and ``kernel_size - 1 - padding`` zeros around
    (``output_padding`` extra at the bottom/right), the first kernel window outlined. Right: the
    kernel flipped in both directions, which slides over the middle grid with stride 1.
    """
    n_h, n_w = _pair(input_size, "input_size")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    oph, opw = _pair(output_padding, "output_padding")
    qh, qw = kh - 1 - ph, kw - 1 - pw
    if min(n_h, n_w, kh, kw, sh, sw) < 1 or min(ph, pw, oph, opw) < 0:
        raise ValueError("sizes and strides must be positive, paddings non-negative")
    if qh < 0 or qw < 0:
        raise ValueError(f"padding {(ph, pw)} must be at most kernel_size - 1 = {(kh - 1, kw - 1)}")
    big_h = (n_h - 1) * sh + 1 + 2 * qh + oph
    big_w = (n_w - 1) * sw + 1 + 2 * qw + opw
    z_texts = np.array([[f"$z_{{{r * n_w + c}}}$" for c in range(n_w)] for r in range(n_h)])
    big_texts = np.full((big_h, big_w), "0", dtype=object)
    big_face = np.full((big_h, big_w), PAD_FACE, dtype=object)
    dashed = np.ones((big_h, big_w), dtype=bool)
    for r in range(n_h):
        for c in range(n_w):
            big_texts[qh + r * sh, qw + c * sw] = z_texts[r, c]
            big_face[qh + r * sh, qw + c * sw] = BLUE
            dashed[qh + r * sh, qw + c * sw] = False
    k_texts = np.array([[_tap_label(kh - 1 - a, kw - 1 - b) for b in range(kw)] for a in range(kh)])

    cell = 0.45
    widths = [n_w, big_w, kw]
    heights = [n_h, big_h, kh]
    gap = 1.2
    total_w = sum(widths) + gap * 2
    fig = _new_figure(total_w * cell + 0.4, max(heights) * cell + 0.9)
    x = 0.0
    titles = [
        f"Z ({n_h}x{n_w})",
        f"zeros inserted ({sh - 1}, {sw - 1}) and padded ({qh}, {qw})",
        "K flipped",
    ]
    faces: list[Any] = [BLUE, big_face, BLUE_DARK]
    all_texts = [z_texts, big_texts, k_texts]
    for idx in range(3):
        w, h = widths[idx], heights[idx]
        ax = fig.add_axes(
            (
                0.03 + x / total_w * 0.94,
                0.08 + (max(heights) - h) / max(heights) * 0.72 / 2,
                w / total_w * 0.94,
                h / max(heights) * 0.72,
            )
        )
        texts = all_texts[idx]
        _draw_cells(
            ax,
            h,
            w,
            face=faces[idx],
            dashed=dashed if idx == 1 else None,
            texts=texts,
            fontsize=8,
        )
        if idx == 1:
            _highlight_rect(ax, (0, 0, kh, kw))
        if idx == 2:
            for t in ax.texts:
                t.set_color("white")
        _frame_axes(ax, w, h)
        ax.set_title(titles[idx], fontsize=9)
        x += w + gap
    out_h, out_w = big_h - kh + 1, big_w - kw + 1
    fig.suptitle(
        f"stride-1 convolution of the middle grid with flipped K: {out_h}x{out_w} output",
        fontsize=9,
    )
    return fig


def checkerboard_figure(maps: Mapping[str, Any], fmt: str | None = None) -> Figure:
    """Outputs of transposed convolutions side by side, coloured by value to show uneven overlap.

    maps: title -> (H, W) tensor. A stride that does not divide the kernel size makes some output
    pixels receive more kernel taps than their neighbours: a checkerboard of light and dark cells.
    """
    if not maps:
        raise ValueError("maps must hold at least one (title, matrix) pair")
    arrays = {title: _as_array(value, f"maps[{title!r}]") for title, value in maps.items()}
    return show_grids(list(arrays.values()), titles=list(arrays), cmap="Oranges", fmt=fmt)


def im2col_figure(
    input_size: int | tuple[int, int] = (3, 4), kernel_size: int | tuple[int, int] = 2
) -> Figure:
    """How unfold lays out the windows of X as the columns of a matrix.

    Left: X with its pixels numbered 0..H*W-1 and each window in its own colour (stride 1, no
    padding). Right: the unfolded matrix (kh*kw, L): column l holds window l, flattened row-major.
    """
    H, W = _pair(input_size, "input_size")
    kh, kw = _pair(kernel_size, "kernel_size")
    if kh > H or kw > W or min(H, W, kh, kw) < 1:
        raise ValueError(f"kernel_size {(kh, kw)} must fit in input_size {(H, W)}")
    out_h, out_w = H - kh + 1, W - kw + 1
    L = out_h * out_w
    # tab20 comes in (dark, light) pairs: dark outline on X, light fill for the same column.
    tab20 = [to_hex(c) for c in colormaps["tab20"].colors]  # type: ignore[attr-defined]
    dark, light = tab20[0::2], tab20[1::2]
    x_texts = np.array([[str(r * W + c) for c in range(W)] for r in range(H)])
    cols = np.empty((kh * kw, L), dtype=object)
    col_face = np.empty((kh * kw, L), dtype=object)
    for l_idx in range(L):
        oy, ox = divmod(l_idx, out_w)
        for t in range(kh * kw):
            a, b = divmod(t, kw)
            cols[t, l_idx] = str((oy + a) * W + (ox + b))
            col_face[t, l_idx] = light[l_idx % len(light)]
    cell = 0.45
    gap = 2.0
    total_w = W + gap + L
    height = max(H, kh * kw)
    fig = _new_figure(total_w * cell + 0.4, height * cell + 0.8)
    ax = fig.add_axes(
        (0.03, 0.06 + (height - H) / height * 0.8 / 2, W / total_w * 0.94, H / height * 0.8)
    )
    _draw_cells(ax, H, W, face=PAD_FACE, texts=x_texts)
    for l_idx in range(L):
        oy, ox = divmod(l_idx, out_w)
        inset = 0.06 + 0.05 * (l_idx % 4)
        ax.add_patch(
            Rectangle(
                (ox + inset, oy + inset),
                kw - 2 * inset,
                kh - 2 * inset,
                fill=False,
                edgecolor=dark[l_idx % len(dark)],
                linewidth=2.2,
            )
        )
    _frame_axes(ax, W, H)
    ax.set_title(f"X ({H}x{W}), {L} windows of {kh}x{kw}", fontsize=9)
    ax2 = fig.add_axes(
        (0.03 + (W + gap) / total_w * 0.94, 0.06, L / total_w * 0.94, kh * kw / height * 0.8)
    )
    _draw_cells(ax2, kh * kw, L, face=col_face, texts=cols)
    _frame_axes(ax2, L, kh * kw)
    ax2.set_title(f"unfold(X): {kh * kw} x {L}", fontsize=9)
    fig.text(0.03 + (W + gap / 2) / total_w * 0.94, 0.5, "→", ha="center", va="center", fontsize=20)
    return fig


def pooling_figure(
    X: Any,
    Y: Any,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    position: tuple[int, int] = (0, 0),
    title: str = "pool",
) -> Figure:
    """One pooling window: X (padding drawn dashed) with the window of output cell ``position``.

    X: (H, W) input; Y: (H_out, W_out) the pooled output (computed by the caller, e.g. by
    ``convlib.max_pool2d``); stride defaults to kernel_size as in torch.
    """
    Xa, Ya = _as_array(X, "X"), _as_array(Y, "Y")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride if stride is not None else (kh, kw), "stride")
    ph, pw = _pair(padding, "padding")
    i, j = position
    if not (0 <= i < Ya.shape[0] and 0 <= j < Ya.shape[1]):
        raise ValueError(f"position {position} is outside the {Ya.shape[0]}x{Ya.shape[1]} output")
    H, W = Xa.shape
    # The window may hang over the padded border when ceil_mode adds a last partial window.
    big_h = max(H + 2 * ph, i * sh + kh)
    big_w = max(W + 2 * pw, j * sw + kw)
    texts = np.full((big_h, big_w), "", dtype=object)
    face = np.full((big_h, big_w), PAD_FACE, dtype=object)
    dashed = np.ones((big_h, big_w), dtype=bool)
    for r in range(H):
        for c in range(W):
            v = Xa[r, c]
            texts[ph + r, pw + c] = str(int(v)) if float(v).is_integer() else f"{v:.1f}"
            face[ph + r, pw + c] = BLUE
            dashed[ph + r, pw + c] = False
    cell = 0.45
    gap = 1.5
    out_h, out_w = Ya.shape
    total_w = big_w + gap + out_w
    height = max(big_h, out_h)
    fig = _new_figure(total_w * cell + 0.4, height * cell + 0.8)
    ax = fig.add_axes(
        (
            0.03,
            0.06 + (height - big_h) / height * 0.8 / 2,
            big_w / total_w * 0.94,
            big_h / height * 0.8,
        )
    )
    _draw_cells(ax, big_h, big_w, face=face, dashed=dashed, texts=texts)
    _highlight_rect(ax, (i * sh, j * sw, kh, kw))
    _frame_axes(ax, big_w, big_h)
    ax.set_title("X" + (" (padded)" if ph or pw else ""), fontsize=9)
    ax2 = fig.add_axes(
        (
            0.03 + (big_w + gap) / total_w * 0.94,
            0.06 + (height - out_h) / height * 0.8 / 2,
            out_w / total_w * 0.94,
            out_h / height * 0.8,
        )
    )
    show_grid(Ya, ax=ax2, color=GREEN, fmt=None if np.all(np.mod(Ya, 1) == 0) else ".2f")
    _highlight_rect(ax2, (i, j, 1, 1))
    ax2.set_title(title, fontsize=9)
    return fig


def conv1d_figure(x: Any, K: Any, y: Any, position: int = 0, stride: int = 1) -> Figure:
    """A 1D convolution as three strips: the sequence x, the kernel K and the output y.

    x: (L,), K: (k,), y: (L_out,) computed by the caller; the window of output ``position`` is
    outlined on x.
    """
    xa, Ka, ya = _vector(x).reshape(1, -1), _vector(K).reshape(1, -1), _vector(y).reshape(1, -1)
    k = Ka.shape[1]
    if not 0 <= position < ya.shape[1]:
        raise ValueError(f"position {position} is outside the output of length {ya.shape[1]}")
    L = xa.shape[1]
    cell = 0.45
    fig = _new_figure(L * cell + 1.2, 3 * cell + 1.4)
    rows = [
        ("x", xa, BLUE, 0.0),
        ("K", Ka, BLUE_DARK, position * stride),
        ("y", ya, GREEN, position * stride),
    ]
    for n, (name, arr, colour, offset) in enumerate(rows):
        ax = fig.add_axes((0.08, 0.7 - n * 0.3, 0.9, 0.22))
        fmt = None if np.all(np.mod(arr, 1) == 0) else ".1f"
        texts = np.array([[format(v, fmt) if fmt else str(int(v)) for v in arr[0]]])
        _draw_cells(
            ax, 1, arr.shape[1], x0=offset if name == "K" else 0.0, face=colour, texts=texts
        )
        if name == "K":
            for t in ax.texts:
                t.set_color("white")
        if name == "x":
            _highlight_rect(ax, (0, position * stride, 1, k))
        if name == "y":
            _highlight_rect(ax, (0, position, 1, 1), color=GREEN_DARK)
        ax.set_xlim(-0.1, L + 0.1)
        ax.set_ylim(1.1, -0.1)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.text(-0.3, 0.5, name, ha="right", va="center", fontsize=11)
    return fig


def conv3d_figure(
    input_size: tuple[int, int, int] = (4, 5, 5),
    kernel_size: tuple[int, int, int] = (2, 3, 3),
    position: tuple[int, int, int] = (0, 0, 0),
) -> Figure:
    """A volume (D, H, W) as voxels with one 3D kernel window (kd, kh, kw) shaded in orange.

    D is drawn front to back (frames of a video, slices of a scan); the window sits at the
    top-left-front corner ``position`` (d, h, w) of the volume.
    """
    D, H, W = input_size
    kd, kh, kw = kernel_size
    d0, h0, w0 = position
    if (
        min(D, H, W, kd, kh, kw) < 1
        or d0 + kd > D
        or h0 + kh > H
        or w0 + kw > W
        or min(position) < 0
    ):
        raise ValueError(
            f"window at {position} of size {kernel_size} must fit in volume {input_size}"
        )
    fig = _new_figure(4.2, 3.6)
    ax = fig.add_subplot(projection="3d")
    # Axes of the voxel array: (x = W, y = D, z = H from top), so depth recedes into the page.
    filled = np.ones((W, D, H), dtype=bool)
    colours = np.full(filled.shape, BLUE + "40", dtype=object)
    window = np.zeros_like(filled)
    window[w0 : w0 + kw, d0 : d0 + kd, H - h0 - kh : H - h0] = True
    colours[window] = HIGHLIGHT + "e0"
    ax.voxels(filled, facecolors=colours, edgecolors=EDGE + "60", linewidth=0.4)
    ax.set_xlabel("W")
    ax.set_ylabel("D (frames / slices)")
    ax.set_zlabel("H")
    ax.set_box_aspect((W, D, H))
    ax.view_init(elev=22, azim=-60)
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_ticklabels([])
    ax.set_title(f"input {D}x{H}x{W}, kernel {kd}x{kh}x{kw}", fontsize=9)
    return fig


def separable_figure(column: Any, row: Any, K: Any) -> Figure:
    """A rank-1 kernel as the product of a column (k, 1) and a row (1, k): column @ row = K."""
    col, rw = _vector(column).reshape(-1, 1), _vector(row).reshape(1, -1)
    Ka = _as_array(K, "K")
    if Ka.shape != (col.shape[0], rw.shape[1]):
        raise ValueError(
            f"K of shape {Ka.shape} is not column ({col.shape}) times row ({rw.shape})"
        )
    return show_grids(
        [col, rw, Ka],
        titles=["column", "row", "K"],
        separators=["×", "="],
        cmap="RdBu_r",
    )


def deform_sampling_figure(
    offset: Any,
    kernel_size: int | tuple[int, int] = 3,
    center: tuple[int, int] = (3, 3),
    grid_size: int | tuple[int, int] = 7,
    dilation: int | tuple[int, int] = 1,
    image: Any = None,
) -> Figure:
    """Where a deformable kernel samples: regular taps (hollow) moved by learned offsets (filled).

    offset: (2 * kh * kw,) offsets of one output location in torchvision's order
    (dy_0, dx_0, dy_1, dx_1, ...), taps in row-major order. center: the pixel (row, col) under
    the kernel's centre tap. image: optional (H, W) background, e.g. the input channel.
    """
    kh, kw = _pair(kernel_size, "kernel_size")
    dh, dw = _pair(dilation, "dilation")
    H, W = _pair(grid_size, "grid_size")
    off = _vector(offset)
    if off.shape[0] != 2 * kh * kw:
        raise ValueError(
            f"offset must hold 2 * kh * kw = {2 * kh * kw} numbers, got {off.shape[0]}"
        )
    fig = _new_figure(3.8, 3.8)
    ax = fig.add_axes((0.04, 0.04, 0.92, 0.86))
    if image is not None:
        img = _as_array(image, "image")
        H, W = img.shape
        ax.imshow(img, cmap="Greys", extent=(-0.5, W - 0.5, H - 0.5, -0.5), alpha=0.6)
    for r in range(H + 1):
        ax.plot([-0.5, W - 0.5], [r - 0.5, r - 0.5], color=EDGE, linewidth=0.4)
    for c in range(W + 1):
        ax.plot([c - 0.5, c - 0.5], [-0.5, H - 0.5], color=EDGE, linewidth=0.4)
    cy, cx = center
    for t in range(kh * kw):
        a, b = divmod(t, kw)
        py = cy + (a - (kh - 1) // 2) * dh
        px = cx + (b - (kw - 1) // 2) * dw
        qy, qx = py + off[2 * t], px + off[2 * t + 1]
        ax.plot(
            px,
            py,
            "o",
            markersize=9,
            markerfacecolor="none",
            markeredgecolor=BLUE_DARK,
            markeredgewidth=1.5,
        )
        ax.plot(qx, qy, "o", markersize=7, color=HIGHLIGHT)
        if abs(qy - py) + abs(qx - px) > 1e-9:
            ax.add_patch(
                FancyArrowPatch(
                    (px, py),
                    (qx, qy),
                    arrowstyle="-|>",
                    mutation_scale=9,
                    color=HIGHLIGHT,
                    linewidth=1,
                )
            )
    ax.set_xlim(-0.6, W - 0.4)
    ax.set_ylim(H - 0.4, -0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("regular taps (hollow) and deformed samples (filled)", fontsize=9)
    return fig


def bilinear_figure(y: float, x: float) -> Figure:
    """Bilinear sampling at a fractional point (y, x): the four neighbours and their weights.

    The weight of neighbour (r, c) is (1 - |y - r|) * (1 - |x - c|); the four weights sum to 1.
    """
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    fy, fx = y - y0, x - x0
    fig = _new_figure(3.2, 3.2)
    ax = fig.add_axes((0.06, 0.06, 0.88, 0.8))
    for r in (y0, y0 + 1):
        for c in (x0, x0 + 1):
            weight = (1 - abs(y - r)) * (1 - abs(x - c))
            ax.plot(c, r, "s", markersize=12, color=BLUE_DARK)
            ax.annotate(
                f"({r}, {c})\nw = {weight:.2f}",
                (c, r),
                textcoords="offset points",
                xytext=(0, 14 if r == y0 else -26),
                ha="center",
                fontsize=8,
            )
    ax.plot(x, y, "o", markersize=9, color=HIGHLIGHT)
    ax.annotate(
        f"({y:.2f}, {x:.2f})",
        (x, y),
        textcoords="offset points",
        xytext=(10, 4),
        fontsize=8,
        color=HIGHLIGHT,
    )
    ax.plot(
        [x0, x0 + 1, x0 + 1, x0, x0],
        [y0, y0, y0 + 1, y0 + 1, y0],
        color=EDGE,
        linewidth=0.6,
        linestyle="--",
    )
    ax.set_xlim(x0 - 0.5, x0 + 1.5)
    ax.set_ylim(y0 + 1.6, y0 - 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"fractions: dy = {fy:.2f}, dx = {fx:.2f}", fontsize=9)
    return fig


def cost_growth_figure(
    kernel_sizes: Sequence[int],
    series: Mapping[str, Sequence[float]],
    ylabel: str = "multiply-accumulates",
    title: str | None = None,
) -> Figure:
    """Cost against kernel size, one line per design, log y axis (numbers come from the caller)."""
    ks = list(kernel_sizes)
    if not ks or not series:
        raise ValueError("kernel_sizes and series must be non-empty")
    fig = _new_figure(5.0, 3.2)
    ax = fig.add_axes((0.14, 0.15, 0.82, 0.74))
    markers = ["o", "s", "^", "D", "v"]
    for n, (name, values) in enumerate(series.items()):
        vals = list(values)
        if len(vals) != len(ks):
            raise ValueError(f"series {name!r} has {len(vals)} values for {len(ks)} kernel sizes")
        ax.plot(ks, vals, marker=markers[n % len(markers)], label=name)
    ax.set_yscale("log")
    ax.set_xticks(ks)
    ax.set_xlabel("kernel size k (k x k)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
