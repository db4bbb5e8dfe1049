"""convlib.viz.core: figures and animations are deterministic, small and draw the right cells."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, cast

import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import GifImagePlugin, Image

from convlib import viz
from convlib.viz.core import _png_bytes


def _gif_frames(gif: bytes) -> int:
    with Image.open(io.BytesIO(gif)) as image:
        assert image.format == "GIF"
        assert isinstance(image, GifImagePlugin.GifImageFile)  # narrows the type: n_frames
        return int(image.n_frames)


def _highlights(fig: Figure) -> list[Rectangle]:
    # convlib draws every highlight as a Rectangle; matplotlib types ax.patches as list[Patch]
    return [cast(Rectangle, p) for ax in fig.axes for p in ax.patches if p.get_gid() == "highlight"]


# --------------------------------------------------------------------------------------------------
# Animations
# --------------------------------------------------------------------------------------------------


def test_animation_is_deterministic() -> None:
    first = viz.conv_animation(5, 3, stride=2, padding=1)
    second = viz.conv_animation(5, 3, stride=2, padding=1)
    assert first.gif == second.gif
    assert first.gif[:6] == b"GIF89a"


@pytest.mark.parametrize(
    ("input_size", "kernel_size", "stride", "padding", "dilation"),
    [
        (4, 3, 1, 0, 1),
        (5, 3, 2, 1, 1),
        ((5, 6), (3, 2), (2, 1), (1, 0), 1),
        (7, 3, 1, 0, 2),
        (6, 3, 3, 1, 1),
    ],
)
def test_animation_one_frame_per_output_cell(
    input_size: int | tuple[int, int],
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
    dilation: int,
) -> None:
    anim = viz.conv_animation(
        input_size, kernel_size, stride=stride, padding=padding, dilation=dilation
    )
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    # torch decides how many output cells there are.
    out = F.conv2d(
        torch.zeros(1, 1, h, w),
        torch.zeros(1, 1, kh, kw),
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    n_out = out.shape[-2] * out.shape[-1]
    assert anim.n_frames == n_out
    assert _gif_frames(anim.gif) == n_out
    assert len(anim.gif) < 150_000


def test_animation_windows_follow_the_stride() -> None:
    anim = viz.conv_animation(5, 3, stride=2, padding=1)
    assert anim.windows == [(0, 0), (0, 2), (0, 4), (2, 0), (2, 2), (2, 4), (4, 0), (4, 2), (4, 4)]


@pytest.mark.parametrize(
    ("input_size", "kernel_size", "stride", "padding", "output_padding"),
    [(2, 3, 1, 0, 0), (2, 3, 2, 0, 0), (3, 3, 2, 1, 1), (2, 4, 2, 1, 0)],
)
def test_transposed_animation_frames_match_torch(
    input_size: int, kernel_size: int, stride: int, padding: int, output_padding: int
) -> None:
    anim = viz.conv_animation(
        input_size,
        kernel_size,
        stride=stride,
        padding=padding,
        transposed=True,
        output_padding=output_padding,
    )
    out = F.conv_transpose2d(
        torch.zeros(1, 1, input_size, input_size),
        torch.zeros(1, 1, kernel_size, kernel_size),
        stride=stride,
        padding=padding,
        output_padding=output_padding,
    )
    assert anim.n_frames == out.shape[-2] * out.shape[-1] == _gif_frames(anim.gif)
    # The equivalent direct convolution slides with stride 1 over the zero-inserted input.
    assert anim.windows[:2] == [(0, 0), (0, 1)]


def test_animation_html_and_save(tmp_path: Path) -> None:
    anim = viz.conv_animation(4, 3)
    html = anim._repr_html_()
    assert html.startswith('<img src="data:image/gif;base64,')
    encoded = html.split("base64,", 1)[1].split('"', 1)[0]
    assert base64.b64decode(encoded) == anim.gif
    path = anim.save(tmp_path / "conv.gif")
    assert path.read_bytes() == anim.gif


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_size": 0, "kernel_size": 3},
        {"input_size": 2, "kernel_size": 3},
        {"input_size": 5, "kernel_size": 3, "stride": 0},
        {"input_size": 5, "kernel_size": 3, "padding": -1},
        {"input_size": 5, "kernel_size": 3, "output_padding": 1},
        {"input_size": 2, "kernel_size": 3, "padding": 3, "transposed": True},
    ],
)
def test_animation_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        viz.conv_animation(**kwargs)


# --------------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------------


def test_show_grid_highlight_coordinates() -> None:
    fig = viz.show_grid(torch.arange(12.0).reshape(3, 4), highlight=(1, 2, 2, 2), title="X")
    (rect,) = _highlights(fig)
    # x is the column, y the row (image coordinates), width/height in cells.
    assert rect.get_xy() == (2, 1)
    assert (rect.get_width(), rect.get_height()) == (2, 2)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == [str(v) for v in range(12)]
    assert fig.axes[0].get_title() == "X"


def test_show_grid_several_windows_and_cells() -> None:
    fig = viz.show_grid(
        [[1, 2, 3], [4, 5, 6]], highlight=[(0, 0, 1, 1), (1, 1, 1, 2)], highlight_cells=[(0, 2)]
    )
    assert [r.get_xy() for r in _highlights(fig)] == [(0, 0), (1, 1)]
    dark = [
        p
        for p in fig.axes[0].patches
        if p.get_facecolor()[:3]
        != Rectangle((0, 0), 1, 1, facecolor=viz.core.BLUE).get_facecolor()[:3]
    ]
    # the grid's cells are Rectangles (matplotlib types ax.patches as list[Patch])
    assert [cast(Rectangle, p).get_xy() for p in dark if p.get_gid() != "highlight"] == [(2, 0)]


def test_show_grid_rejects_window_outside(device: str) -> None:
    X = torch.zeros(3, 3, device=device)
    with pytest.raises(ValueError, match="highlight"):
        viz.show_grid(X, highlight=(2, 2, 2, 2))
    with pytest.raises(ValueError, match="2D"):
        viz.show_grid(torch.zeros(2, 2, 2, device=device))


def test_show_grids_layout() -> None:
    X = torch.arange(9.0).reshape(3, 3)
    K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    fig = viz.show_grids(
        [X, K, X],
        titles=["X", "K", "Y"],
        highlights=[(0, 0, 2, 2), None, None],
        separators=["⋆", "="],
    )
    assert [ax.get_title() for ax in fig.axes] == ["X", "K", "Y"]
    assert [t.get_text() for t in fig.texts] == ["⋆", "="]
    with pytest.raises(ValueError, match="titles"):
        viz.show_grids([X, K], titles=["X"])


def test_conv_step_figure_writes_out_the_sum() -> None:
    X = torch.arange(9.0).reshape(3, 3)
    K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    fig = viz.conv_step_figure(X, K, (0, 0))
    assert fig.get_suptitle() == "0·0 + 1·1 + 3·2 + 4·3 = 19"
    fig = viz.conv_step_figure(X, K, (1, 1))
    assert fig.get_suptitle().endswith("= 43")
    window, output_cell = _highlights(fig)
    assert window.get_xy() == (1, 1) and output_cell.get_xy() == (1, 1)
    with pytest.raises(ValueError, match="position"):
        viz.conv_step_figure(X, K, (2, 0))


def test_figures_render_deterministically() -> None:
    X = torch.arange(9.0).reshape(3, 3)
    assert _png_bytes(viz.show_grid(X, highlight=(0, 0, 2, 2))) == _png_bytes(
        viz.show_grid(X, highlight=(0, 0, 2, 2))
    )


# --------------------------------------------------------------------------------------------------
# Receptive fields, gridding, padding, channels
# --------------------------------------------------------------------------------------------------


def _autograd_path_counts(layers: list[tuple[int, int, int]]) -> torch.Tensor:
    """Independent oracle: d(unit)/d(input) through all-ones kernels counts the paths."""
    from convlib.shapes import receptive_field

    size = receptive_field(layers)
    X = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    Y = X
    for k, s, d in layers:
        Y = F.conv2d(Y, torch.ones(1, 1, k, k, dtype=torch.float64), stride=s, dilation=d)
    assert Y.shape[-2:] == (1, 1)
    Y.sum().backward()
    assert X.grad is not None
    return X.grad[0, 0].round().long()


@pytest.mark.parametrize(
    "layers",
    [
        [(3, 1, 1)],
        [(3, 1, 1), (3, 1, 1)],
        [(3, 1, 2)] * 3,
        [(3, 1, 1), (3, 1, 2), (3, 1, 3)],
        [(3, 2, 1), (2, 1, 1), (3, 2, 2)],
    ],
)
def test_receptive_field_map_matches_autograd(layers: list[tuple[int, int, int]]) -> None:
    torch.testing.assert_close(
        viz.receptive_field_map(layers), _autograd_path_counts(layers), rtol=0, atol=0
    )


def test_receptive_field_figure_panels() -> None:
    fig = viz.receptive_field_figure([(3, 1, 1), (3, 1, 1), (3, 2, 1)])
    assert len(fig.axes) == 3
    titles = [ax.get_title() for ax in fig.axes]
    assert [t.splitlines()[1] for t in titles] == [
        "receptive field 3x3",
        "receptive field 5x5",
        "receptive field 7x7",
    ]
    # Each panel outlines the field of its layer, centred on the 7x7 board.
    assert [(r.get_xy(), r.get_width()) for r in _highlights(fig)] == [
        ((2, 2), 3),
        ((1, 1), 5),
        ((0, 0), 7),
    ]


def test_gridding_figure_counts_holes() -> None:
    fig = viz.gridding_figure([[2, 2, 2], [1, 2, 3]])
    assert len(fig.axes) == 2
    assert "49 of 169" in fig.axes[0].get_title()
    assert "169 of 169" in fig.axes[1].get_title()
    assert "49 of 169" in viz.gridding_figure(2, layers=3).axes[0].get_title()


def test_padding_modes_figure_shows_convlib_pad_values() -> None:
    X = torch.arange(9.0).reshape(3, 3)
    fig = viz.padding_modes_figure(X, 2)
    assert [ax.get_title() for ax in fig.axes] == ["zeros", "reflect", "replicate", "circular"]
    for ax, mode in zip(fig.axes, ["constant", "reflect", "replicate", "circular"], strict=True):
        expected = F.pad(X[None, None], (2, 2, 2, 2), mode=mode)[0, 0]
        shown = torch.tensor([float(t.get_text()) for t in ax.texts]).reshape(7, 7)
        torch.testing.assert_close(shown, expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("in_channels", "out_channels", "groups"), [(2, 4, 1), (2, 4, 2), (4, 4, 4), (6, 4, 2)]
)
def test_channel_connections_one_line_per_kernel_map(
    in_channels: int, out_channels: int, groups: int
) -> None:
    fig = viz.channel_connections_figure(in_channels, out_channels, groups)
    edges = [line for line in fig.axes[0].lines if line.get_gid() == "edge"]
    weight = torch.nn.Conv2d(in_channels, out_channels, 1, groups=groups).weight
    assert len(edges) == weight.shape[0] * weight.shape[1]
    with pytest.raises(ValueError, match="groups"):
        viz.channel_connections_figure(3, 4, 2)
