"""Channel-axis figures (convlib.viz.channels): the lines drawn are the groups rule, as convlib
computes it; the figures build, save to PNG and come out the same every time."""

from __future__ import annotations

import io

import pytest
import torch
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d import Axes3D

import convlib
from convlib import viz
from convlib.viz.channels import CHANNEL_KINDS, channel_connections, channel_kinds_figure
from convlib.viz.core import _new_figure, _png_bytes

SHAPES = [(1, 1, 1), (4, 4, 1), (4, 8, 2), (4, 4, 4), (6, 12, 3), (3, 9, 3), (8, 4, 2)]


def _read_by_convlib(in_channels: int, out_channels: int, groups: int) -> set[tuple[int, int]]:
    """(c, o) such that output channel o changes when input channel c does, by convlib.conv2d."""
    K = torch.ones(out_channels, in_channels // groups, 1, 1, dtype=torch.float64)
    pairs = set()
    for c in range(in_channels):
        X = torch.zeros(1, in_channels, 1, 1, dtype=torch.float64)
        X[0, c] = 1
        Y = convlib.conv2d(X, K, groups=groups)
        pairs |= {(c, o) for o in range(out_channels) if Y[0, o, 0, 0] != 0}
    return pairs


def _drawn(fig: Figure) -> list[tuple[int, int]]:
    pairs = []
    for ax in fig.axes:
        for line in ax.get_lines():
            gid = line.get_gid() or ""
            if gid.startswith("connection "):
                _, c, o = gid.split()
                pairs.append((int(c), int(o)))
    return pairs


def _count(fig: Figure, gid: str) -> int:
    return sum(1 for ax in fig.axes for art in ax.collections if art.get_gid() == gid)


@pytest.mark.parametrize(("in_channels", "out_channels", "groups"), SHAPES)
def test_connections_are_the_groups_rule(in_channels: int, out_channels: int, groups: int) -> None:
    pairs = channel_connections(in_channels, out_channels, groups)
    assert len(pairs) == len(set(pairs)) == out_channels * in_channels // groups
    assert set(pairs) == _read_by_convlib(in_channels, out_channels, groups)
    # A weight of shape (out, in/groups, ...) has exactly these kernel maps.
    weight = torch.nn.Conv2d(in_channels, out_channels, 3, groups=groups).weight
    assert len(pairs) == weight.shape[0] * weight.shape[1]


@pytest.mark.parametrize(
    ("kind", "kwargs", "groups"),
    [
        ("standard", {"in_channels": 4}, 1),
        ("grouped", {"in_channels": 4}, 2),
        ("grouped", {"in_channels": 6, "out_channels": 12, "groups": 3}, 3),
        ("depthwise", {"in_channels": 4}, 4),
        ("depthwise", {"in_channels": 3, "out_channels": 6}, 3),
        ("pointwise", {"in_channels": 4, "out_channels": 8}, 1),
    ],
)
def test_figure_draws_every_connection_once(kind: str, kwargs: dict, groups: int) -> None:
    fig = viz.channel_slabs(kind, **kwargs)
    in_channels = kwargs["in_channels"]
    out_channels = kwargs.get("out_channels", in_channels)
    drawn = _drawn(fig)
    assert sorted(drawn) == sorted(channel_connections(in_channels, out_channels, groups))
    assert _count(fig, "slab") == in_channels + out_channels
    assert _count(fig, "window") == in_channels
    title = fig.axes[0].get_title()
    assert title.startswith(f"{kind}: groups={groups}, ")
    assert ("1x1" in title) == (kind == "pointwise")


def test_all_four_kinds_side_by_side() -> None:
    fig = channel_kinds_figure(4)
    assert len(fig.axes) == 4 and all(isinstance(ax, Axes3D) for ax in fig.axes)
    titles = [ax.get_title() for ax in fig.axes]
    assert [t.split(":")[0] for t in titles] == list(CHANNEL_KINDS)
    per_kind = [len(_drawn_axes(ax)) for ax in fig.axes]
    assert per_kind == [16, 8, 4, 16]  # standard, grouped (2), depthwise, pointwise


def _drawn_axes(ax: object) -> list[str]:
    assert isinstance(ax, Axes3D)
    return [g for line in ax.get_lines() if (g := line.get_gid() or "").startswith("connection")]


def test_png_is_saved_and_deterministic() -> None:
    first = _png_bytes(viz.channel_slabs("grouped", in_channels=4, out_channels=4, groups=2))
    again = _png_bytes(viz.channel_slabs("grouped", in_channels=4, out_channels=4, groups=2))
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and len(first) > 5000
    assert first == again
    buf = io.BytesIO()
    channel_kinds_figure().savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_draws_into_a_given_3d_axes() -> None:
    fig = _new_figure(4, 3)
    ax = fig.add_subplot(projection="3d")
    assert viz.channel_slabs("depthwise", in_channels=2, ax=ax) is fig
    assert len(_drawn(fig)) == 2
    with pytest.raises(TypeError, match="3D axes"):
        viz.channel_slabs(ax=fig.add_axes((0, 0, 0.1, 0.1)))


@pytest.mark.parametrize(
    ("kind", "kwargs", "match"),
    [
        ("strided", {}, "kind must be one of"),
        ("standard", {"groups": 2}, "standard convolution has groups=1"),
        ("depthwise", {"in_channels": 4, "groups": 2}, "depthwise convolution has groups=4"),
        ("grouped", {"in_channels": 4, "groups": 4}, "1 < groups < in_channels"),
        ("pointwise", {"kernel_size": 3}, "kernel_size=1"),
        ("grouped", {"in_channels": 4, "out_channels": 5}, "must both be divisible by groups=2"),
        ("standard", {"in_channels": 0}, "in_channels must be a positive int"),
    ],
)
def test_rejects_what_is_not_that_kind(kind: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        viz.channel_slabs(kind, **kwargs)
