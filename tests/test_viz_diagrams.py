"""Figures of chapters 2 and 5 (convlib.viz.diagrams): drawn from what they are given."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle

from convlib import viz
from convlib.viz.core import _png_bytes


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_loss_curves_log_scale_and_divergence_cut() -> None:
    fig = viz.loss_curves_figure({"lr 0.01": [8.0, 4.0, 2.0], "lr 0.1": [8.0, 80.0, math.inf]})
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    stable, diverged = ax.get_lines()
    assert np.asarray(stable.get_xdata()).tolist() == [1, 2, 3]
    assert np.asarray(stable.get_ydata()).tolist() == [8.0, 4.0, 2.0]
    assert np.asarray(diverged.get_xdata()).tolist() == [1, 2]  # ends where the loss overflowed
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["lr 0.01", "lr 0.1"]
    with pytest.raises(ValueError, match="curves"):
        viz.loss_curves_figure({})


def test_pixel_wiring_joins_one_pixel_of_every_channel_pair() -> None:
    fig = viz.pixel_wiring_figure(in_channels=3, out_channels=2, size=3, pixel=(1, 1))
    (ax,) = fig.axes
    assert len(ax.get_lines()) == 3 * 2
    cells = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(cells) == (3 + 2) * 9
    assert sum(p.get_facecolor()[:3] != cells[0].get_facecolor()[:3] for p in cells) >= 5
    assert _texts(fig) == ["in 0", "in 1", "in 2", "out 0", "out 1"]
    with pytest.raises(ValueError):
        viz.pixel_wiring_figure(pixel=(3, 0))


def test_block_diagram_one_box_per_layer() -> None:
    panels = [
        ("a", [[("1x1, 64", True), ("3x3, 64", False)], [("identity", False)]], "in", "out"),
        ("b", [[("3x3, 8", False)]], "in", "out"),
    ]
    fig = viz.block_diagram_figure(panels)
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    boxes = [p for ax in fig.axes for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == (3 + 2) + (1 + 2)  # layers, plus the bottom and top boxes of each panel
    assert {"1x1, 64", "3x3, 64", "identity", "3x3, 8", "in", "out"} <= set(_texts(fig))
    assert _png_bytes(viz.block_diagram_figure(panels)) == _png_bytes(fig)  # deterministic
    with pytest.raises(ValueError):
        viz.block_diagram_figure([])
