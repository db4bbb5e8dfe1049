"""For each graded test cell of each assignment, the page functions closest to its task.

A row says: the page function (``convlib.teaching``) a student could copy from the chapter, and
the thinnest adapter that gives it the task's signature. ``tests/test_beyond_the_page.py`` runs
each row through the task's visible and hidden tests (the page function transcribed into the
notebook's namespace, as a student who copied it from the page would have it) and asserts that
the checks fail: no graded task is answered by code printed on its chapter page.

Each assignment owns one section below. Every graded test cell needs at least one row; where no
page function is truly close, the row names the nearest one anyway.

Fields of a row (``Closest``):

- ``test``: the grade_id of the graded test cell.
- ``solution``: the grade_id of the solution cell the adapter replaces (the other solution cells
  keep the released solution, so only this task's answer changes).
- ``page``: ``"<teaching module>.<function>"``, e.g. ``"ch01_cross_correlation.corr2d"``; the
  module is transcribed (its source executed in the notebook's namespace), so the page function
  counts as the student's own code, not as a call into convlib.
- ``adapter``: Python source that defines the solution cell's names from ``page`` (the page
  function) and ``pages`` (everything the page module defines, e.g. ``pages.pad2d``), so the
  notebook's other names stay the released solution's. ``"corr2d = page"`` when the signatures
  already agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Closest:
    test: str
    solution: str
    page: str
    adapter: str

    @property
    def module(self) -> str:
        return self.page.rsplit(".", 1)[0]

    @property
    def function(self) -> str:
        return self.page.rsplit(".", 1)[1]


CLOSEST: dict[str, list[Closest]] = {
    # ---------------------------------------------------------------------------------- assign1
    "ex01_cross_correlation": [
        Closest("test_corr2d", "corr2d", "ch01_cross_correlation.corr2d", "corr2d = page"),
        Closest(
            "test_convolve2d",
            "convolve2d",
            "ch01_cross_correlation.convolve2d",
            "def convolve2d(X, K, mode='valid'):\n    return page(X, K)",
        ),
    ],
    "ex02_learning_a_kernel": [],
    "ex03_padding_stride": [],
    "ex04_channels": [],
    "ex05_one_by_one": [],
    "ex06_groups": [],
    # ---------------------------------------------------------------------------------- assign2
    "ex07_dilation": [],
    "ex08_transposed": [],
    "ex09_backward": [],
    "ex10_im2col": [],
    "ex11_pooling": [],
    # ---------------------------------------------------------------------------------- assign3
    "ex12_conv1d_3d": [],
    "ex13_separable": [],
    "ex14_deformable": [],
    "ex15_large_kernels": [],
    "ex16_speed": [],
    # ---------------------------------------------------------------------------------- capstone
    "ex17_capstone": [],
}
