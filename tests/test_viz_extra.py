"""Figures of chapters 8-14 (convlib.viz.extra): drawn from what they are given, deterministic."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from convlib.viz import extra as E
from convlib.viz.core import _png_bytes


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_conv_matrix_figure_names_every_tap() -> None:
    fig = E.conv_matrix_figure(3, 4)
    texts = _texts(fig)
    # 4 output pixels x 9 taps are non-zero, the other 4 * 16 - 36 entries are drawn as 0.
    taps = [t for t in texts if t.startswith("$w_")]
    assert len(taps) == 36
    assert texts.count("0") >= 4 * 16 - 36
    assert taps.count("$w_{1,1}$") == 4
    assert "C" in fig.axes[0].get_title() and "4 x 16" in fig.axes[0].get_title()
    assert "16 x 4" in E.conv_matrix_figure(3, 4, transpose=True).axes[0].get_title()


def test_zero_insertion_figure_places_inputs() -> None:
    fig = E.zero_insertion_figure(input_size=2, kernel_size=3, stride=2)
    middle = fig.axes[1]
    placed = [t.get_text() for t in middle.texts if t.get_text().startswith("$z")]
    assert placed == ["$z_{0}$", "$z_{1}$", "$z_{2}$", "$z_{3}$"]
    # (2 - 1) * 2 + 1 + 2 * 2 = 7 cells a side, so the stride-1 conv of a 3x3 kernel gives 5x5.
    assert len(middle.texts) == 49
    assert "5x5" in fig.texts[0].get_text()
    with pytest.raises(ValueError, match="padding"):
        E.zero_insertion_figure(2, 3, 2, padding=3)


def test_figures_are_deterministic_and_small() -> None:
    make = lambda: E.im2col_figure((3, 4), 2)  # noqa: E731
    first, second = _png_bytes(make()), _png_bytes(make())
    assert first == second
    assert len(first) < 100_000


def test_im2col_figure_columns_are_windows() -> None:
    fig = E.im2col_figure((3, 4), (2, 2))
    columns = fig.axes[1]
    # Column 0 is the top-left window 0, 1, 4, 5 read row by row: texts are drawn row-major.
    grid = [t.get_text() for t in columns.texts]
    assert len(grid) == 4 * 6
    assert [grid[r * 6] for r in range(4)] == ["0", "1", "4", "5"]
    assert [grid[r * 6 + 5] for r in range(4)] == ["6", "7", "10", "11"]
    with pytest.raises(ValueError, match="must fit"):
        E.im2col_figure((2, 2), 3)


def test_pooling_and_checkerboard_figures() -> None:
    X = torch.arange(16.0).reshape(4, 4)
    Y = torch.tensor([[5.0, 7.0], [13.0, 15.0]])
    fig = E.pooling_figure(X, Y, 2, position=(1, 0), title="max")
    assert "13" in _texts(fig)
    with pytest.raises(ValueError, match="outside"):
        E.pooling_figure(X, Y, 2, position=(2, 0))
    fig = E.checkerboard_figure({"a": torch.ones(3, 3), "b": torch.eye(3)})
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="at least one"):
        E.checkerboard_figure({})


def test_conv1d_separable_cost_figures() -> None:
    fig = E.conv1d_figure(torch.arange(6.0), torch.tensor([1.0, -1.0]), torch.full((5,), -1.0), 2)
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match="outside"):
        E.conv1d_figure(torch.arange(6.0), torch.tensor([1.0, -1.0]), torch.full((5,), -1.0), 5)
    K = torch.outer(torch.tensor([1.0, 2.0, 1.0]), torch.tensor([1.0, 0.0, -1.0]))
    assert isinstance(E.separable_figure([1, 2, 1], [1, 0, -1], K), Figure)
    with pytest.raises(ValueError, match="not column"):
        E.separable_figure([1, 2], [1, 0, -1], K)
    fig = E.cost_growth_figure([3, 5], {"dense": [9, 25], "depthwise": [1, 2]})
    assert fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="values for"):
        E.cost_growth_figure([3, 5], {"dense": [9]})


def test_deform_and_bilinear_figures() -> None:
    offset = torch.zeros(18)
    offset[0], offset[1] = 0.5, -1.0  # move the top-left tap
    fig = E.deform_sampling_figure(offset)
    assert len(fig.axes[0].patches) == 1  # one arrow: only one tap moved
    with pytest.raises(ValueError, match="2 \\* kh \\* kw"):
        E.deform_sampling_figure(torch.zeros(10))
    texts = _texts(E.bilinear_figure(1.25, 2.5))
    # Weights (1 - |dy|)(1 - |dx|): 0.75 * 0.5 and 0.25 * 0.5.
    assert sum("w = 0.38" in t for t in texts) == 2
    assert sum("w = 0.12" in t for t in texts) == 2


def test_conv3d_figure_checks_window() -> None:
    with pytest.raises(ValueError, match="must fit"):
        E.conv3d_figure((2, 3, 3), (3, 3, 3))
    assert isinstance(E.conv3d_figure((3, 4, 4), (2, 2, 2), (1, 1, 1)), Figure)


def test_vectors_may_require_grad(device: str) -> None:
    # Chapters pass tensors straight from computations (on any device, possibly with grad).
    x = torch.arange(6.0, device=device, requires_grad=True)
    K = torch.tensor([1.0, -1.0], device=device, requires_grad=True)
    y = x[1:] - x[:-1]
    assert len(E.conv1d_figure(x, K, y, 0).axes) == 3
    column = torch.tensor([1.0, 2.0, 1.0], device=device, requires_grad=True)
    row = torch.tensor([1.0, 0.0, -1.0], device=device)
    assert isinstance(E.separable_figure(column, row, torch.outer(column, row)), Figure)
    offset = torch.zeros(18, device=device, requires_grad=True)
    assert isinstance(E.deform_sampling_figure(offset), Figure)
