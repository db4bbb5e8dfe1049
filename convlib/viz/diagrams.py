"""Figures for chapters 2 and 5: a loss curve, the wiring of a 1x1 convolution, block diagrams.

Pyplot-free figures built on :mod:`convlib.viz.core` (a notebook shows each once, as the cell's
value). They draw what they are given and compute nothing of the operations they picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle

from .core import EDGE, _new_figure

__all__ = ["block_diagram_figure", "loss_curves_figure", "pixel_wiring_figure"]

IN_FACE = "#c6dbef"
OUT_FACE = "#c7e9c0"
HIT_FACE = "#fd8d3c"
WIRE = "#e6550d"
ONE_BY_ONE_FACE = "#fdae6b"
BOX_FACE = "#eeeeee"

# A block: (title, branches, bottom label, top label); a branch lists (label, is_1x1) boxes, bottom
# to top.
Branch = Sequence[tuple[str, bool]]
Block = tuple[str, Sequence[Branch], str, str]


def loss_curves_figure(curves: Mapping[str, Sequence[float]], title: str = "") -> Figure:
    """The loss at every step, one line per label, on a logarithmic axis.

    curves: label -> losses (step 1 first). Non-finite values (a diverged run) end the line.
    """
    if not curves:
        raise ValueError("curves must hold at least one (label, losses) pair")
    fig = _new_figure(5.6, 3.2)
    ax = fig.add_subplot()
    for label, losses in curves.items():
        values = np.asarray(losses, dtype=np.float64)
        finite = np.isfinite(values)
        end = len(values) if finite.all() else int(np.argmin(finite))
        ax.plot(np.arange(1, end + 1), values[:end], marker=".", markersize=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (log scale)")
    ax.grid(True, which="major", linewidth=0.4, alpha=0.5)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def pixel_wiring_figure(
    in_channels: int = 3, out_channels: int = 2, size: int = 3, pixel: tuple[int, int] = (1, 1)
) -> Figure:
    """Input channels (left) and output channels (right) as small grids; one pixel of every input
    channel wired to the same pixel of every output channel: what a 1x1 convolution connects."""
    if min(in_channels, out_channels, size) < 1 or not all(0 <= v < size for v in pixel):
        raise ValueError("channels and size must be positive and pixel inside the grid")
    cell, gap = 0.35, 0.3
    fig = _new_figure(5.0, 3.2)
    ax = fig.add_subplot()
    step = size * cell + gap  # from one channel's grid to the next
    centres = {}
    for side, n, x0, face in (
        ("in", in_channels, 0.0, IN_FACE),
        ("out", out_channels, 4.0, OUT_FACE),
    ):
        shift = (max(in_channels, out_channels) - n) * step / 2
        for c in range(n):
            y0 = (n - 1 - c) * step + shift
            for i in range(size):
                for j in range(size):
                    colour = HIT_FACE if (i, j) == pixel else face
                    ax.add_patch(
                        Rectangle(
                            (x0 + j * cell, y0 + (size - 1 - i) * cell),
                            cell,
                            cell,
                            facecolor=colour,
                            edgecolor="#555555",
                            linewidth=0.8,
                        )
                    )
            centres[side, c] = (
                x0 + (pixel[1] + 0.5) * cell,
                y0 + (size - 1 - pixel[0] + 0.5) * cell,
            )
            left = side == "in"
            ax.text(
                x0 - 0.1 if left else x0 + size * cell + 0.1,
                y0 + size * cell / 2,
                f"{side} {c}",
                fontsize=8,
                va="center",
                ha="right" if left else "left",
            )
    for c in range(in_channels):
        for o in range(out_channels):
            (x1, y1), (x2, y2) = centres["in", c], centres["out", o]
            ax.plot([x1, x2], [y1, y2], color=WIRE, linewidth=1)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.axis("off")
    title = f"1x1 convolution, {in_channels} -> {out_channels} channels: pixel {pixel}"
    ax.set_title(title, fontsize=9)
    return fig


def _box(ax: Axes, x: float, y: float, w: float, label: str, face: str) -> None:
    """A rounded box of width w centred on (x, y), with its label."""
    patch = FancyBboxPatch((x - w / 2, y - 0.25), w, 0.5, boxstyle="round,pad=0.04", facecolor=face)
    patch.set_edgecolor(EDGE)
    ax.add_patch(patch)
    ax.text(x, y, label, ha="center", va="center", fontsize=7.5)


def block_diagram_figure(panels: Sequence[Block]) -> Figure:
    """Side-by-side block diagrams, one panel per block; 1x1 convolutions are orange.

    panels: (title, branches, bottom, top); a branch lists (label, is_1x1) boxes, bottom to top.
    """
    if not panels or any(not branches for _, branches, _, _ in panels):
        raise ValueError("panels must hold at least one block, each with at least one branch")
    fig = _new_figure(4.6 * len(panels), 3.6)
    for index, (title, branches, bottom, top) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), index + 1)
        height = max(len(branch) for branch in branches) + 1
        width = 1.7 * len(branches)

        _box(ax, width / 2, 0, width - 0.2, bottom, BOX_FACE)
        _box(ax, width / 2, height, width - 0.2, top, BOX_FACE)
        for b, branch in enumerate(branches):
            x = 1.7 * b + 0.85
            ys = [0.0] + [height * (n + 1) / (len(branch) + 1) for n in range(len(branch))]
            ys.append(float(height))
            for (label, is_1x1), y in zip(branch, ys[1:-1], strict=True):
                _box(ax, x, y, 1.5, label, ONE_BY_ONE_FACE if is_1x1 else IN_FACE)
            for y0, y1 in zip(ys[:-1], ys[1:], strict=True):
                ax.annotate(
                    "",
                    xy=(x, y1 - 0.3),
                    xytext=(x, y0 + 0.3),
                    arrowprops={"arrowstyle": "->", "color": EDGE, "lw": 0.8},
                )
        ax.set_xlim(-0.1, width + 0.1)
        ax.set_ylim(-0.5, height + 0.5)
        ax.axis("off")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
