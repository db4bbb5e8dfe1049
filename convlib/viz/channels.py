"""The channel axis in 3D: input and output channels as slabs, and which inputs each output reads.

A 2D animation shows one input channel and one output channel, so it hides the axis where
standard, grouped, depthwise and pointwise convolution differ. These figures draw every channel
as a slab (a feature map seen edge-on, stacked along the channel axis) and one line for every
kernel map ``weight[o, c]``: output channel ``o`` reads input channel ``c`` exactly when both are
in the same group,

    group(o) = o // (out_channels / groups),   c in [group(o) * in_channels/groups, ...).

Deterministic: no randomness, a fixed camera, and PNG bytes that do not change between runs.
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d import Axes3D
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from .core import BLUE, EDGE, GREEN, _new_figure

__all__ = ["CHANNEL_KINDS", "channel_connections", "channel_kinds_figure", "channel_slabs"]

CHANNEL_KINDS = ("standard", "grouped", "depthwise", "pointwise")
PALETTE = ["#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363", "#d6616b", "#8c6d31", "#17becf"]

# Geometry (data units): every channel is a square feature map lying in the (x, y) plane, and the
# channels are stacked GAP apart along z, the channel axis, channel 0 on top. The input stack
# stands at x in [0, IN_SIDE], the output stack further along x; lines cross the gap between.
GAP = 1.0
IN_SIDE = 3.0
OUT_SIDE = 2.2
OUT_X = 7.0


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def channel_connections(
    in_channels: int, out_channels: int, groups: int = 1
) -> list[tuple[int, int]]:
    """Every ``(input channel, output channel)`` pair joined by a kernel map, output by output.

    There are ``out_channels * in_channels / groups`` of them, the weight tensor's first two
    dimensions: ``weight[o, j]`` joins output ``o`` to input ``group(o) * in_channels/groups + j``.
    """
    in_channels = _positive_int(in_channels, "in_channels")
    out_channels = _positive_int(out_channels, "out_channels")
    groups = _positive_int(groups, "groups")
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"in_channels={in_channels} and out_channels={out_channels} must both be divisible by "
            f"groups={groups}"
        )
    per_in, per_out = in_channels // groups, out_channels // groups
    return [(o // per_out * per_in + j, o) for o in range(out_channels) for j in range(per_in)]


def _kind_arguments(
    kind: str,
    in_channels: int,
    out_channels: int | None,
    groups: int | None,
    kernel_size: int | None,
) -> tuple[int, int, int]:
    """(out_channels, groups, kernel_size) that ``kind`` means; reject a contradiction."""
    if kind not in CHANNEL_KINDS:
        raise ValueError(f"kind must be one of {CHANNEL_KINDS}, got {kind!r}")
    implied = {"standard": 1, "pointwise": 1, "depthwise": in_channels, "grouped": None}[kind]
    if groups is None:
        groups = 2 if implied is None else implied
    elif implied is not None and groups != implied:
        raise ValueError(f"a {kind} convolution has groups={implied}, got groups={groups}")
    if kind == "grouped" and groups in (1, in_channels):
        raise ValueError(
            f"a grouped convolution has 1 < groups < in_channels={in_channels}, "
            f"got groups={groups}; use kind='standard' or 'depthwise'"
        )
    if kind == "pointwise":
        if kernel_size not in (None, 1):
            raise ValueError(f"a pointwise convolution has kernel_size=1, got {kernel_size}")
        kernel_size = 1
    kernel_size = 3 if kernel_size is None else _positive_int(kernel_size, "kernel_size")
    return (in_channels if out_channels is None else out_channels), groups, kernel_size


def _square(x0: float, y0: float, side: float, z: float) -> list[tuple[float, float, float]]:
    return [(x0, y0, z), (x0 + side, y0, z), (x0 + side, y0 + side, z), (x0, y0 + side, z)]


def _patch(
    ax: Axes3D, corners: list[tuple[float, float, float]], face: str, gid: str, zorder: float
) -> None:
    patch = Poly3DCollection([corners], facecolors=face, edgecolors=EDGE, linewidths=0.6)
    patch.set_gid(gid)
    patch.set_zorder(zorder)
    ax.add_collection3d(patch)


def channel_slabs(
    kind: str = "standard",
    in_channels: int = 4,
    out_channels: int | None = None,
    groups: int | None = None,
    kernel_size: int | None = None,
    ax: Axes | None = None,
) -> Figure:
    """One convolution's channels in 3D: input slabs (blue), output slabs (green), and a line for
    every kernel map from an output slab to the window it reads on each input slab.

    kind: "standard" (groups=1), "grouped" (groups defaults to 2), "depthwise"
    (groups=in_channels) or "pointwise" (groups=1, kernel_size=1). out_channels defaults to
    in_channels, kernel_size to 3. ax: a 3D axes to draw into (else a new figure).
    Each line's gid is ``"connection c o"``: input channel c, output channel o.
    """
    in_channels = _positive_int(in_channels, "in_channels")
    out_channels, groups, kernel_size = _kind_arguments(
        kind, in_channels, out_channels, groups, kernel_size
    )
    pairs = channel_connections(in_channels, out_channels, groups)
    if ax is None:
        fig = _new_figure(4.0, 1.6 + 0.3 * max(in_channels, out_channels or in_channels))
        axes: Axes3D = fig.add_subplot(projection="3d", proj_type="ortho")
    else:
        if not isinstance(ax, Axes3D):
            raise TypeError("ax must be a 3D axes: fig.add_subplot(projection='3d')")
        axes = ax
        parent = ax.get_figure()
        assert isinstance(parent, Figure)
        fig = parent
    per_in, per_out = in_channels // groups, out_channels // groups
    n = max(in_channels, out_channels)
    z_in = [(n - 1) * GAP - ((n - in_channels) / 2 + c) * GAP for c in range(in_channels)]
    z_out = [(n - 1) * GAP - ((n - out_channels) / 2 + o) * GAP for o in range(out_channels)]
    out_y0 = (IN_SIDE - OUT_SIDE) / 2
    # The window one output pixel reads: k x k cells of a 7 x 7 map, at the map's right edge.
    cell = IN_SIDE / 7
    window = min(kernel_size, 7) * cell
    win_x0, win_y0 = IN_SIDE - window - cell, (IN_SIDE - window) / 2
    middle = IN_SIDE / 2
    # Painter's order, bottom slab first: a slab hides the ones below it and the ends of their
    # lines, never its own window or lines (matplotlib's per-artist depth sort gets this wrong).
    axes.computed_zorder = False
    level = {c: 3 * (in_channels - c) for c in range(in_channels)}
    for c, z in enumerate(z_in):
        _patch(axes, _square(0.0, 0.0, IN_SIDE, z), BLUE, "slab", level[c])
        color = PALETTE[(c // per_in) % len(PALETTE)]
        _patch(axes, _square(win_x0, win_y0, window, z), color, "window", level[c] + 1)
    for o, z in enumerate(z_out):
        _patch(axes, _square(OUT_X, out_y0, OUT_SIDE, z), GREEN, "slab", 3 * (out_channels - o))
    for c, o in pairs:
        (line,) = axes.plot(
            [OUT_X, win_x0 + window / 2],
            [middle, middle],
            [z_out[o], z_in[c]],
            color=PALETTE[(o // per_out) % len(PALETTE)],
            linewidth=1.0,
            zorder=level[c] + 2,
        )
        line.set_gid(f"connection {c} {o}")
    above = 3 * n + 10
    axes.text(IN_SIDE / 2, 0.0, -1.0, f"{in_channels} in", fontsize=8, ha="center", zorder=above)
    axes.text(
        OUT_X + OUT_SIDE / 2,
        0.0,
        -1.0,
        f"{out_channels} out",
        fontsize=8,
        ha="center",
        zorder=above,
    )
    axes.set_xlim(-0.3, OUT_X + OUT_SIDE + 0.3)
    axes.set_ylim(0, IN_SIDE)
    axes.set_zlim(-1.0, (n - 1) * GAP + 0.2)
    axes.set_box_aspect((OUT_X + OUT_SIDE, IN_SIDE, (n + 0.2) * GAP), zoom=1.0)
    axes.view_init(elev=24, azim=-80)
    axes.set_axis_off()
    axes.set_title(
        f"{kind}: groups={groups}, {kernel_size}x{kernel_size}\n"
        f"each output reads {per_in} of {in_channels}; {len(pairs)} kernel maps",
        fontsize=9,
    )
    return fig


def channel_kinds_figure(in_channels: int = 4, out_channels: int | None = None) -> Figure:
    """Standard, grouped (groups=2), depthwise and pointwise side by side, same channel counts."""
    in_channels = _positive_int(in_channels, "in_channels")
    out = in_channels if out_channels is None else _positive_int(out_channels, "out_channels")
    fig = _new_figure(13.0, 1.6 + 0.3 * max(in_channels, out))
    for index, kind in enumerate(CHANNEL_KINDS):
        ax = fig.add_subplot(1, 4, index + 1, projection="3d", proj_type="ortho")
        channel_slabs(kind, in_channels, out, ax=ax)
    fig.subplots_adjust(left=0.0, right=1.0, bottom=0.0, top=1.0, wspace=0.05)
    return fig
