"""Figures and animations for chapters 1-7 and the landing page, drawn by matplotlib.

Every figure is a :class:`matplotlib.figure.Figure` built without pyplot, so a notebook shows it
exactly once (as the cell's value) and no global figure state leaks between cells. Animations are
GIFs assembled with Pillow from frames rendered by the Agg canvas: same arguments, same bytes.

Colour code (the one of Dumoulin & Visin's conv_arithmetic animations): input cells blue, padding
and inserted zeros white with a dashed border, output cells green, the current window dark.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

__all__ = [
    "ConvAnimation",
    "channel_connections_figure",
    "conv_animation",
    "conv_step_figure",
    "gridding_figure",
    "padding_modes_figure",
    "receptive_field_figure",
    "receptive_field_map",
    "show_grid",
    "show_grids",
]

BLUE = "#9ecae1"
BLUE_DARK = "#2171b5"
GREEN = "#a1d99b"
GREEN_DARK = "#238b45"
PAD_FACE = "#ffffff"
EDGE = "#404040"
HIGHLIGHT = "#e6550d"

Rect = tuple[int, int, int, int]


# --------------------------------------------------------------------------------------------------
# Display plumbing
# --------------------------------------------------------------------------------------------------


def _png_bytes(fig: Figure) -> bytes:
    """Render a pyplot-free Figure to PNG (fixed metadata so the bytes are reproducible)."""
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(
        buf, format="png", bbox_inches="tight", pad_inches=0.05, metadata={"Software": None}
    )
    return buf.getvalue()


def _register_ipython_formatter() -> None:
    """Teach IPython to show pyplot-free figures as PNG (the inline backend may not be loaded)."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to register
        return
    ip = get_ipython()
    if ip is None:
        return
    formatter = ip.display_formatter.formatters["image/png"]
    formatter.for_type(Figure, _png_bytes)


def _new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    _register_ipython_formatter()
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _as_array(values: Any, name: str) -> np.ndarray:
    """Accept a 2D tensor, array or nested list; return a float64 numpy array on the CPU."""
    if isinstance(values, torch.Tensor):
        array = values.detach().to("cpu", torch.float64).numpy()
    else:
        array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2D (rows, cols), got shape {tuple(array.shape)}")
    return array


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    items = tuple(value)
    if len(items) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    return (items[0], items[1])


def _format_number(value: float, fmt: str | None) -> str:
    if fmt is not None:
        return format(value, fmt)
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}"


def _draw_cells(
    ax: Axes,
    n_rows: int,
    n_cols: int,
    x0: float = 0.0,
    y0: float = 0.0,
    face: str | np.ndarray = BLUE,
    dashed: np.ndarray | None = None,
    texts: np.ndarray | None = None,
    fontsize: float = 10,
) -> list[list[Rectangle]]:
    """Draw an n_rows x n_cols board of unit squares with top-left corner at (x0, y0)."""
    patches: list[list[Rectangle]] = []
    for r in range(n_rows):
        row = []
        for c in range(n_cols):
            color = face if isinstance(face, str) else face[r][c]
            is_dashed = dashed is not None and bool(dashed[r, c])
            patch = Rectangle(
                (x0 + c, y0 + r),
                1,
                1,
                facecolor=color,
                edgecolor=EDGE,
                linewidth=0.8,
                linestyle="--" if is_dashed else "-",
            )
            ax.add_patch(patch)
            row.append(patch)
            if texts is not None and texts[r][c]:
                ax.text(
                    x0 + c + 0.5,
                    y0 + r + 0.5,
                    texts[r][c],
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color=_text_color(color),
                )
        patches.append(row)
    return patches


def _text_color(face: str) -> str:
    """White numbers on dark cells, black on light ones (relative luminance)."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(face)
    return "white" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.4 else "black"


def _frame_axes(ax: Axes, width: float, height: float) -> None:
    """Image coordinates: x right, y down, one unit per cell, no ticks."""
    ax.set_xlim(-0.1, width + 0.1)
    ax.set_ylim(height + 0.1, -0.1)
    ax.set_aspect("equal")
    ax.axis("off")


def _highlight_rect(
    ax: Axes, rect: Rect, x0: float = 0.0, y0: float = 0.0, color: str = HIGHLIGHT
) -> Rectangle:
    row, col, height, width = rect
    patch = Rectangle(
        (x0 + col, y0 + row),
        width,
        height,
        fill=False,
        edgecolor=color,
        linewidth=2.5,
        gid="highlight",
    )
    ax.add_patch(patch)
    return patch


# --------------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------------


def show_grid(
    values: Any,
    ax: Axes | None = None,
    highlight: Rect | Sequence[Rect] | None = None,
    title: str | None = None,
    highlight_cells: Iterable[tuple[int, int]] | None = None,
    color: str = BLUE,
    cmap: str | None = None,
    fmt: str | None = None,
    numbers: bool = True,
    cell_size: float = 0.45,
) -> Figure:
    """Draw a matrix as a board of cells with its numbers.

    values: (rows, cols) tensor, array or nested list.
    highlight: a window ``(row, col, height, width)`` outlined in orange, or a list of windows.
    highlight_cells: single cells ``(row, col)`` to shade dark (the taps of a dilated kernel).
    color: face colour of every cell, or ``cmap`` to colour cells by value.
    Returns the Figure (a new one, or the figure of ``ax``).
    """
    array = _as_array(values, "values")
    n_rows, n_cols = array.shape
    if ax is None:
        fig = _new_figure(
            max(1.2, n_cols * cell_size + 0.3),
            max(1.0, n_rows * cell_size + (0.5 if title else 0.2)),
        )
        ax = fig.add_axes((0.02, 0.02, 0.96, 0.86 if title else 0.96))
    parent = ax.get_figure()
    assert isinstance(parent, Figure)
    fig = parent
    face: str | np.ndarray = color
    if cmap is not None:
        import matplotlib

        lo, hi = float(array.min()), float(array.max())
        scaled = (array - lo) / (hi - lo) if hi > lo else np.zeros_like(array)
        colormap = matplotlib.colormaps[cmap]
        face = np.array(
            [[matplotlib.colors.to_hex(colormap(0.15 + 0.6 * v)) for v in row] for row in scaled]
        )
    if highlight_cells is not None:
        if isinstance(face, str):
            face = np.full(array.shape, face, dtype=object)
        for r, c in highlight_cells:
            if not (0 <= r < n_rows and 0 <= c < n_cols):
                raise ValueError(
                    f"highlight_cells entry {(r, c)} is outside the {n_rows}x{n_cols} grid"
                )
            face[r][c] = BLUE_DARK
    texts = np.array([[_format_number(v, fmt) for v in row] for row in array]) if numbers else None
    _draw_cells(ax, n_rows, n_cols, face=face, texts=texts)
    rects: list[Any] = []
    if highlight is not None:
        if len(highlight) == 4 and all(isinstance(v, int) for v in highlight):
            rects = [tuple(highlight)]
        else:
            rects = [tuple(r) for r in highlight]  # type: ignore[arg-type]
    for rect in rects:
        row, col, height, width = rect
        if row < 0 or col < 0 or row + height > n_rows or col + width > n_cols:
            raise ValueError(
                f"highlight window {rect} (row, col, height, width) leaves the "
                f"{n_rows}x{n_cols} grid"
            )
        _highlight_rect(ax, rect)
    _frame_axes(ax, n_cols, n_rows)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def show_grids(
    values: Sequence[Any],
    titles: Sequence[str] | None = None,
    highlights: Sequence[Rect | Sequence[Rect] | None] | None = None,
    separators: Sequence[str] | None = None,
    cell_size: float = 0.45,
    **kwargs: Any,
) -> Figure:
    """Several matrices side by side, e.g. ``X``, ``K`` and ``Y`` with ``separators=["⋆", "="]``.

    values: list of (rows, cols) matrices; titles/highlights: one per matrix (or None);
    separators: strings drawn between consecutive matrices. Extra keywords go to :func:`show_grid`.
    """
    arrays = [_as_array(v, f"values[{i}]") for i, v in enumerate(values)]
    if not arrays:
        raise ValueError("values must hold at least one matrix")
    for name, seq, n in (("titles", titles, len(arrays)), ("highlights", highlights, len(arrays))):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{name} must have one entry per matrix ({n}), got {len(seq)}")
    if separators is not None and len(separators) != len(arrays) - 1:
        raise ValueError(
            f"separators must have {len(arrays) - 1} entries (between matrices), "
            f"got {len(separators)}"
        )
    widths = [a.shape[1] for a in arrays]
    gaps = 1.0 if separators else 0.6
    total_w = sum(widths) + gaps * (len(arrays) - 1)
    max_h = max(a.shape[0] for a in arrays)
    fig = _new_figure(total_w * cell_size + 0.4, max_h * cell_size + 0.7)
    left = 0.2 / (total_w * cell_size + 0.4)
    span = 1 - 2 * left
    x = 0.0
    for i, array in enumerate(arrays):
        frac_w = array.shape[1] / total_w * span
        frac_h = array.shape[0] * cell_size / (max_h * cell_size + 0.7)
        bottom = 0.1 + (max_h - array.shape[0]) * cell_size / (max_h * cell_size + 0.7) / 2
        ax = fig.add_axes((left + x / total_w * span, bottom, frac_w, frac_h))
        show_grid(
            array,
            ax=ax,
            title=titles[i] if titles else None,
            highlight=highlights[i] if highlights else None,
            **kwargs,
        )
        x += array.shape[1]
        if separators and i < len(arrays) - 1:
            fig.text(
                left + (x + gaps / 2) / total_w * span,
                0.1 + max_h * cell_size / (max_h * cell_size + 0.7) / 2,
                separators[i],
                ha="center",
                va="center",
                fontsize=20,
            )
        x += gaps
    return fig


def conv_step_figure(
    X: Any,
    K: Any,
    position: tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> Figure:
    """One step of a 2D cross-correlation: the window of X times K gives one cell of Y.

    X: (H, W) input; K: (kh, kw) kernel; position: (i, j) index of the output cell.
    Y is computed by ``convlib.conv2d``; the title writes out the sum for that cell.
    """
    from convlib import conv2d, pad

    Xa, Ka = _as_array(X, "X"), _as_array(K, "K")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    dh, dw = _pair(dilation, "dilation")
    X_t = torch.as_tensor(Xa)
    K_t = torch.as_tensor(Ka)
    Y = conv2d(
        X_t[None, None], K_t[None, None], stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw)
    )[0, 0]
    i, j = position
    if not (0 <= i < Y.shape[0] and 0 <= j < Y.shape[1]):
        raise ValueError(f"position {position} is outside the {Y.shape[0]}x{Y.shape[1]} output")
    Xp = pad(X_t[None, None], (pw, pw, ph, ph))[0, 0].numpy()
    kh, kw = Ka.shape
    taps = [(i * sh + a * dh, j * sw + b * dw) for a in range(kh) for b in range(kw)]
    terms = " + ".join(
        f"{_format_number(Xp[r, c], None)}·{_format_number(Ka[a, b], None)}"
        for (r, c), (a, b) in zip(taps, [(a, b) for a in range(kh) for b in range(kw)], strict=True)
    )
    window = (i * sh, j * sw, (kh - 1) * dh + 1, (kw - 1) * dw + 1)
    fig = show_grids(
        [Xp, Ka, Y.numpy()],
        titles=["X" + (" (padded)" if ph or pw else ""), "K", "Y"],
        highlights=[window, None, (i, j, 1, 1)],
        separators=["⋆", "="],
    )
    if dh > 1 or dw > 1:
        ax = fig.axes[0]
        for r, c in taps:
            ax.add_patch(Rectangle((c, r), 1, 1, facecolor=BLUE_DARK, alpha=0.35, gid="tap"))
    fig.suptitle(f"{terms} = {_format_number(float(Y[i, j]), None)}", fontsize=9, y=0.99)
    return fig


# --------------------------------------------------------------------------------------------------
# Animations
# --------------------------------------------------------------------------------------------------


class ConvAnimation:
    """An animated GIF of a sliding window: shows itself in a notebook, saves itself to a file."""

    def __init__(
        self,
        gif: bytes,
        n_frames: int,
        description: str,
        size: tuple[int, int],
        windows: list[tuple[int, int]] | None = None,
    ) -> None:
        self.gif = gif
        self.n_frames = n_frames
        self.description = description
        self.size = size  # (width, height) in pixels
        # Top-left corner (row, col) of the window in each frame, in the drawn (padded) input grid.
        self.windows = windows or []

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.gif).decode("ascii")
        alt = html.escape(self.description, quote=True)
        width, height = self.size
        return (
            f'<img src="data:image/gif;base64,{data}" alt="{alt}" '
            f'width="{width}" height="{height}"/>'
        )

    def save(self, path: str | Path) -> Path:
        """Write the GIF to ``path`` and return the path."""
        target = Path(path)
        target.write_bytes(self.gif)
        return target

    def __repr__(self) -> str:
        return f"ConvAnimation({self.description!r}, frames={self.n_frames}, bytes={len(self.gif)})"


def conv_animation(
    input_size: int | tuple[int, int],
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    transposed: bool = False,
    output_padding: int | tuple[int, int] = 0,
    duration_ms: int = 600,
    cell_px: int = 22,
) -> ConvAnimation:
    """Animate a 2D convolution's sliding window, one frame per output cell (conv_arithmetic style).

    Left: the input (blue) with its padding (white, dashed) and the kernel taps (dark); right: the
    output (green) with the cell being computed (dark). With ``transposed=True`` the picture is the
    equivalent direct convolution: ``stride - 1`` zeros inserted between input cells and
    ``dilation * (kernel_size - 1) - padding`` zeros around them (``output_padding`` extra at the
    bottom/right), swept by the kernel with stride 1.
    """
    from convlib import shapes

    n_h, n_w = _pair(input_size, "input_size")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    dh, dw = _pair(dilation, "dilation")
    oph, opw = _pair(output_padding, "output_padding")
    for name, vals in (
        ("input_size", (n_h, n_w)),
        ("kernel_size", (kh, kw)),
        ("stride", (sh, sw)),
        ("dilation", (dh, dw)),
    ):
        if min(vals) < 1:
            raise ValueError(f"{name} must be positive, got {vals}")
    if min(ph, pw, oph, opw) < 0:
        raise ValueError(
            f"padding and output_padding must be non-negative, got {(ph, pw)} and {(oph, opw)}"
        )
    if not transposed and (oph or opw):
        raise ValueError("output_padding only applies to transposed=True")

    if transposed:
        out_h, out_w = shapes.conv_transpose_output_size(
            (n_h, n_w),
            (kh, kw),
            stride=(sh, sw),
            padding=(ph, pw),
            output_padding=(oph, opw),
            dilation=(dh, dw),
        )
        if ph > dh * (kh - 1) or pw > dw * (kw - 1):
            raise ValueError(
                f"padding {(ph, pw)} larger than dilation * (kernel_size - 1) = "
                f"{(dh * (kh - 1), dw * (kw - 1))} "
                "crops the output; the zero-insertion picture cannot draw it"
            )
        if oph >= sh and oph >= dh or opw >= sw and opw >= dw:
            raise ValueError(f"output_padding {(oph, opw)} must be smaller than stride or dilation")
        # Direct-convolution picture: zeros inserted between inputs, then a border of zeros.
        border_h, border_w = dh * (kh - 1) - ph, dw * (kw - 1) - pw
        big_h = (n_h - 1) * sh + 1 + 2 * border_h + oph
        big_w = (n_w - 1) * sw + 1 + 2 * border_w + opw
        is_input = np.zeros((big_h, big_w), dtype=bool)
        is_input[
            border_h : border_h + (n_h - 1) * sh + 1 : sh,
            border_w : border_w + (n_w - 1) * sw + 1 : sw,
        ] = True
        step_h, step_w = 1, 1
        description = (
            f"transposed convolution: {n_h}x{n_w} input, {kh}x{kw} kernel, stride {(sh, sw)}, "
            f"padding {(ph, pw)}, dilation {(dh, dw)} -> {out_h}x{out_w} output"
        )
    else:
        out_h, out_w = shapes.conv_output_size(
            (n_h, n_w), (kh, kw), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw)
        )
        if out_h < 1 or out_w < 1:
            raise ValueError(
                f"the {(dh * (kh - 1) + 1, dw * (kw - 1) + 1)} (dilated) kernel does not fit "
                "in the "
                f"{(n_h + 2 * ph, n_w + 2 * pw)} padded input"
            )
        big_h, big_w = n_h + 2 * ph, n_w + 2 * pw
        is_input = np.zeros((big_h, big_w), dtype=bool)
        is_input[ph : ph + n_h, pw : pw + n_w] = True
        step_h, step_w = sh, sw
        description = (
            f"convolution: {n_h}x{n_w} input, {kh}x{kw} kernel, stride {(sh, sw)}, "
            f"padding {(ph, pw)}, dilation {(dh, dw)} -> {out_h}x{out_w} output"
        )
    assert out_h == (big_h - dh * (kh - 1) - 1) // step_h + 1, (
        "drawing geometry disagrees with convlib.shapes"
    )
    assert out_w == (big_w - dw * (kw - 1) - 1) // step_w + 1, (
        "drawing geometry disagrees with convlib.shapes"
    )

    windows = [(i * step_h, j * step_w) for i in range(out_h) for j in range(out_w)]
    frames = _render_frames(is_input, (out_h, out_w), (kh, kw), (dh, dw), windows, cell_px)
    gif = _encode_gif(frames, duration_ms)
    width_px, height_px = frames[0].size
    return ConvAnimation(gif, len(frames), description, (width_px, height_px), windows)


# Palette of the animations (index -> RGB); drawing in palette mode makes every frame exact.
_PALETTE = {
    "white": (255, 255, 255),
    "edge": (64, 64, 64),
    "input": (158, 202, 225),
    "tap": (33, 113, 181),
    "tap_on_zero": (158, 154, 200),
    "done": (161, 217, 155),
    "current": (35, 139, 69),
    "text": (0, 0, 0),
    "dash": (150, 150, 150),
}
_INDEX = {name: i for i, name in enumerate(_PALETTE)}


def _render_frames(
    is_input: np.ndarray,
    out_shape: tuple[int, int],
    kernel: tuple[int, int],
    dilation: tuple[int, int],
    windows: list[tuple[int, int]],
    cell_px: int,
) -> list[Any]:
    """One palette image per window position: input board left, output board right."""
    from PIL import Image, ImageDraw, ImageFont

    big_h, big_w = is_input.shape
    out_h, out_w = out_shape
    kh, kw = kernel
    dh, dw = dilation
    margin, title_px, gap_px = cell_px // 2, int(cell_px * 1.3), int(cell_px * 1.5)
    board_h = max(big_h, out_h) * cell_px
    width = 2 * margin + big_w * cell_px + gap_px + out_w * cell_px
    height = margin + title_px + board_h
    in_x0, in_y0 = margin, margin + title_px + (board_h - big_h * cell_px) // 2
    out_x0, out_y0 = (
        margin + big_w * cell_px + gap_px,
        margin + title_px + (board_h - out_h * cell_px) // 2,
    )
    font = ImageFont.load_default(size=max(10, int(cell_px * 0.7)))
    palette = [channel for rgb in _PALETTE.values() for channel in rgb]
    palette += [0] * (768 - len(palette))

    def cell(draw: Any, x0: int, y0: int, r: int, c: int, fill: str, dashed: bool) -> None:
        box = (x0 + c * cell_px, y0 + r * cell_px, x0 + (c + 1) * cell_px, y0 + (r + 1) * cell_px)
        draw.rectangle(box, fill=_INDEX[fill])
        if not dashed:
            draw.rectangle(box, outline=_INDEX["edge"])
            return
        left, top, right, bottom = box
        dash = max(2, cell_px // 6)
        for start in range(0, cell_px, 2 * dash):
            stop = min(start + dash, cell_px)
            for y in (top, bottom):
                draw.line((left + start, y, left + stop, y), fill=_INDEX["dash"])
            for x in (left, right):
                draw.line((x, top + start, x, top + stop), fill=_INDEX["dash"])

    frames = []
    for index, (top, left) in enumerate(windows):
        image = Image.new("P", (width, height), _INDEX["white"])
        image.putpalette(palette)
        draw = ImageDraw.Draw(image)
        for label, x0, cols in (("input", in_x0, big_w), ("output", out_x0, out_w)):
            draw.text(
                (x0 + cols * cell_px / 2, margin + title_px / 2),
                label,
                fill=_INDEX["text"],
                font=font,
                anchor="mm",
            )
        taps = {(top + a * dh, left + b * dw) for a in range(kh) for b in range(kw)}
        for r in range(big_h):
            for c in range(big_w):
                if (r, c) in taps:
                    fill = "tap" if is_input[r, c] else "tap_on_zero"
                else:
                    fill = "input" if is_input[r, c] else "white"
                cell(draw, in_x0, in_y0, r, c, fill, dashed=not is_input[r, c])
        for r in range(out_h):
            for c in range(out_w):
                position = r * out_w + c
                fill = "current" if position == index else "done" if position < index else "white"
                cell(draw, out_x0, out_y0, r, c, fill, dashed=False)
        frames.append(image)
    return frames


def _encode_gif(frames: list[Any], duration_ms: int) -> bytes:
    """Palette frames -> looping GIF bytes (no quantisation step, so the bytes never drift)."""
    buf = io.BytesIO()
    frames[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=duration_ms,
        loop=0,
        optimize=False,
        disposal=1,
    )
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# Receptive fields and dilation
# --------------------------------------------------------------------------------------------------

Layer = tuple[int, int, int]


def _normalise_layers(layers: Sequence[int | Sequence[int]]) -> list[Layer]:
    """Accept ``[3, 3]`` (kernel sizes) or ``[(3, 1, 1), (3, 2, 1)]`` (kernel, stride, dilation)."""
    result: list[Layer] = []
    for idx, layer in enumerate(layers):
        if isinstance(layer, int) and not isinstance(layer, bool):
            k, s, d = layer, 1, 1
        else:
            items = tuple(layer)  # type: ignore[arg-type]
            if not 1 <= len(items) <= 3:
                raise ValueError(
                    f"layers[{idx}] must be kernel_size or (kernel_size, stride, dilation), "
                    f"got {layer!r}"
                )
            k, s, d = (*items, 1, 1)[:3]
        for name, v in (("kernel_size", k), ("stride", s), ("dilation", d)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"layers[{idx}] {name} must be a positive int, got {v!r}")
        result.append((k, s, d))
    if not result:
        raise ValueError("layers must contain at least one layer")
    return result


def receptive_field_map(layers: Sequence[int | Sequence[int]]) -> torch.Tensor:
    """How many paths lead from each input pixel to one output unit of a stack of 2D conv layers.

    layers: per layer ``(kernel_size, stride, dilation)`` (square kernels) or just ``kernel_size``.
    Returns an (R, R) int64 tensor, R the receptive field: zero entries are pixels the unit never
    sees (the holes of the gridding problem), the largest entries the pixels it sees most often.
    """
    stack = _normalise_layers(layers)
    counts = np.ones((1, 1), dtype=np.int64)
    # Walk back from the output: each unit spreads onto the k x k taps it reads in the layer below.
    for k, s, d in reversed(stack):
        size = (counts.shape[0] - 1) * s + d * (k - 1) + 1
        below = np.zeros((size, size), dtype=np.int64)
        for a in range(k):
            for b in range(k):
                below[
                    a * d : a * d + (counts.shape[0] - 1) * s + 1 : s,
                    b * d : b * d + (counts.shape[1] - 1) * s + 1 : s,
                ] += counts
        counts = below
    return torch.from_numpy(counts)


def receptive_field_figure(
    layers: Sequence[int | Sequence[int]],
    counts: bool = True,
    cell_size: float = 0.32,
) -> Figure:
    """One panel per depth: the input pixels seen by one unit after layer 1, 2, ..., L.

    layers: per layer ``(kernel_size, stride, dilation)`` or just ``kernel_size``. Sizes in the
    titles come from ``convlib.shapes.receptive_fields``; shading is the number of paths
    (:func:`receptive_field_map`), written in the cells when ``counts`` and the grid is small.
    """
    from convlib import shapes

    stack = _normalise_layers(layers)
    sizes = shapes.receptive_fields(stack)
    maps = [receptive_field_map(stack[: i + 1]).numpy() for i in range(len(stack))]
    for i, m in enumerate(maps):
        if m.shape[0] != sizes[i]:
            raise AssertionError(
                f"receptive field map of layer {i + 1} is {m.shape[0]} wide, shapes says {sizes[i]}"
            )
    full = maps[-1].shape[0]
    fig = _new_figure(len(stack) * (full * cell_size + 0.4) + 0.2, full * cell_size + 0.8)
    import matplotlib

    colormap = matplotlib.colormaps["Blues"]
    for idx, m in enumerate(maps):
        ax = fig.add_subplot(1, len(stack), idx + 1)
        offset = (full - m.shape[0]) // 2
        grid = np.zeros((full, full), dtype=np.int64)
        grid[offset : offset + m.shape[0], offset : offset + m.shape[1]] = m
        top = grid.max()
        face = np.array(
            [
                [
                    matplotlib.colors.to_hex(colormap(0.25 + 0.65 * v / top)) if v else "#ffffff"
                    for v in row
                ]
                for row in grid
            ]
        )
        texts = (
            np.array([[str(v) if v else "" for v in row] for row in grid])
            if counts and full <= 11
            else None
        )
        _draw_cells(ax, full, full, face=face, texts=texts, fontsize=7)
        _highlight_rect(ax, (offset, offset, m.shape[0], m.shape[1]))
        _frame_axes(ax, full, full)
        k, s, d = stack[idx]
        ax.set_title(
            f"after layer {idx + 1} (k={k}, s={s}, d={d})\n"
            f"receptive field {sizes[idx]}x{sizes[idx]}",
            fontsize=8,
        )
    return fig


def gridding_figure(
    dilation: int | Sequence[int] | Sequence[Sequence[int]],
    layers: int = 3,
    kernel_size: int = 3,
    cell_size: float = 0.22,
) -> Figure:
    """Which input pixels a stack of dilated k x k layers (stride 1) actually uses.

    dilation: one rate for all ``layers`` layers (``2``), one rate per layer (``[1, 2, 3]``), or a
    list of such stacks to compare side by side (``[[2, 2, 2], [1, 2, 3]]``). White cells inside the
    receptive field are never read: the gridding problem.
    """
    stacks: list[list[int]]
    if isinstance(dilation, int):
        stacks = [[dilation] * layers]
    elif all(isinstance(v, int) for v in dilation):
        stacks = [[int(v) for v in dilation]]  # type: ignore[arg-type]
    else:
        stacks = [[int(v) for v in rates] for rates in dilation]  # type: ignore[union-attr]
    maps = [receptive_field_map([(kernel_size, 1, d) for d in rates]).numpy() for rates in stacks]
    full = max(m.shape[0] for m in maps)
    fig = _new_figure(len(maps) * (full * cell_size + 0.4) + 0.2, full * cell_size + 0.9)
    import matplotlib

    colormap = matplotlib.colormaps["Blues"]
    for idx, (rates, m) in enumerate(zip(stacks, maps, strict=True)):
        ax = fig.add_subplot(1, len(maps), idx + 1)
        offset = (full - m.shape[0]) // 2
        grid = np.zeros((full, full), dtype=np.int64)
        grid[offset : offset + m.shape[0], offset : offset + m.shape[1]] = m
        top = grid.max()
        face = np.array(
            [
                [
                    matplotlib.colors.to_hex(colormap(0.25 + 0.65 * v / top)) if v else "#ffffff"
                    for v in row
                ]
                for row in grid
            ]
        )
        _draw_cells(ax, full, full, face=face)
        _highlight_rect(ax, (offset, offset, m.shape[0], m.shape[1]))
        _frame_axes(ax, full, full)
        used = int((m > 0).sum())
        ax.set_title(
            f"dilations {tuple(rates)}\n"
            f"{used} of {m.size} pixels in the {m.shape[0]}x{m.shape[1]} field used",
            fontsize=8,
        )
    return fig


# --------------------------------------------------------------------------------------------------
# Padding modes and channel connectivity
# --------------------------------------------------------------------------------------------------


def padding_modes_figure(
    X: Any,
    pad: int,
    modes: Sequence[str] = ("constant", "reflect", "replicate", "circular"),
    cell_size: float = 0.36,
) -> Figure:
    """X padded by ``pad`` on every side with each mode of ``convlib.pad``, side by side.

    X: (H, W). The original cells are blue and outlined; the added border is white and dashed.
    """
    from convlib import pad as pad_op

    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad must be a non-negative int, got {pad!r}")
    Xa = _as_array(X, "X")
    X_t = torch.as_tensor(Xa)[None, None]
    n_rows, n_cols = Xa.shape
    H, W = n_rows + 2 * pad, n_cols + 2 * pad
    fig = _new_figure(len(modes) * (W * cell_size + 0.3) + 0.2, H * cell_size + 0.6)
    is_inner = np.zeros((H, W), dtype=bool)
    is_inner[pad : pad + n_rows, pad : pad + n_cols] = True
    for idx, mode in enumerate(modes):
        padded = pad_op(X_t, (pad, pad, pad, pad), mode=mode)[0, 0].numpy()
        ax = fig.add_subplot(1, len(modes), idx + 1)
        texts = np.array([[_format_number(v, None) for v in row] for row in padded])
        _draw_cells(
            ax,
            H,
            W,
            face=np.where(is_inner, BLUE, PAD_FACE),
            dashed=~is_inner,
            texts=texts,
            fontsize=8,
        )
        _highlight_rect(ax, (pad, pad, n_rows, n_cols), color=BLUE_DARK)
        _frame_axes(ax, W, H)
        label = "zeros" if mode == "constant" else mode
        ax.set_title(label, fontsize=10)
    return fig


def channel_connections_figure(in_channels: int, out_channels: int, groups: int = 1) -> Figure:
    """Which input channels each output channel reads: one line per kernel map (weight[o, i])."""
    for name, v in (
        ("in_channels", in_channels),
        ("out_channels", out_channels),
        ("groups", groups),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}"
        )
    fig = _new_figure(3.2, 0.35 * max(in_channels, out_channels) + 0.8)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.84))
    n = max(in_channels, out_channels)
    in_y = [(n - in_channels) / 2 + i for i in range(in_channels)]
    out_y = [(n - out_channels) / 2 + o for o in range(out_channels)]
    cin, cout = in_channels // groups, out_channels // groups
    palette = [
        "#3182bd",
        "#e6550d",
        "#31a354",
        "#756bb1",
        "#636363",
        "#d6616b",
        "#8c6d31",
        "#17becf",
    ]
    for o in range(out_channels):
        g = o // cout
        for i in range(g * cin, (g + 1) * cin):
            ax.plot(
                [0.3, 2.7],
                [in_y[i] + 0.5, out_y[o] + 0.5],
                color=palette[g % len(palette)],
                linewidth=1,
                gid="edge",
            )
    for i, y in enumerate(in_y):
        ax.add_patch(Rectangle((0, y + 0.1), 0.3, 0.8, facecolor=BLUE, edgecolor=EDGE))
        ax.text(-0.05, y + 0.5, f"in {i}", ha="right", va="center", fontsize=7)
    for o, y in enumerate(out_y):
        ax.add_patch(Rectangle((2.7, y + 0.1), 0.3, 0.8, facecolor=GREEN, edgecolor=EDGE))
        ax.text(3.05, y + 0.5, f"out {o}", ha="left", va="center", fontsize=7)
    ax.set_xlim(-0.7, 3.7)
    ax.set_ylim(n + 0.1, -0.1)
    ax.axis("off")
    ax.set_title(f"groups={groups}: {out_channels * cin} kernel maps", fontsize=9)
    return fig
