"""The committed notebooks are exactly what the authoring script and nbgrader generate.

If this fails, run `python scripts/make_exercises.py` and commit solutions/ and exercises/.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_exercises", ROOT / "scripts" / "make_exercises.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_exercises"] = module
    spec.loader.exec_module(module)
    return module


make_exercises = _load_script()
ASSIGNMENTS = make_exercises.ASSIGNMENTS


def test_every_chapter_assignment_exists() -> None:
    expected = [
        "ex01_cross_correlation", "ex02_learning_a_kernel", "ex03_padding_stride", "ex04_channels",
        "ex05_one_by_one",
        "ex06_groups", "ex07_dilation", "ex08_transposed", "ex09_backward", "ex10_im2col",
        "ex11_pooling", "ex12_conv1d_3d", "ex13_separable", "ex14_deformable",
        "ex15_large_kernels", "ex16_speed", "ex17_capstone",
    ]  # fmt: skip
    assert expected == ASSIGNMENTS
    for name in expected:
        assert (ROOT / "solutions" / name / f"{name}.ipynb").is_file(), name
        assert (ROOT / "exercises" / name / f"{name}.ipynb").is_file(), name


def test_regenerating_changes_nothing() -> None:
    problems = make_exercises.check(ASSIGNMENTS)
    assert not problems, (
        "the committed notebooks differ from what the sources generate:\n  "
        + "\n  ".join(problems)
        + f"\nrun `{make_exercises.REGENERATE}` and commit solutions/ and exercises/ "
        "(never edit exercises/ by hand)"
    )


def test_diff_names_notebook_and_cell() -> None:
    """The sync check's message points at the cell that drifted."""
    nb = make_exercises.build_solution_notebook("ex01_cross_correlation")
    edited = nbformat.reads(nbformat.writes(nb), as_version=4)
    edited.cells[4].source += "\n# edited by hand"
    problems = make_exercises.diff_notebooks(nb, edited)
    assert problems == ["cell 4 (corr2d): source differs"]


def _sections(nb: nbformat.NotebookNode) -> list[tuple[str, list[nbformat.NotebookNode]]]:
    """(markdown heading, the graded cells after it until the next markdown cell)."""
    sections: list[tuple[str, list[nbformat.NotebookNode]]] = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            sections.append((cell.source, []))
        elif cell.metadata.get("nbgrader", {}).get("grade") and sections:
            sections[-1][1].append(cell)
    return sections


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_points_and_structure(name: str) -> None:
    source = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    student = nbformat.read(ROOT / "exercises" / name / f"{name}.ipynb", as_version=4)
    total = make_exercises.total_points(source)
    assert 3 <= sum(1 for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")) <= 6
    assert f"**Total: {total} points.**" in source.cells[0].source
    assert "parameters" in source.cells[1].metadata.get("tags", [])
    assert source.cells[1].source.strip() == 'device = "cpu"'
    for index, cell in enumerate(source.cells):
        meta = cell.metadata.get("nbgrader", {})
        assert not cell.get("outputs"), f"{name} cell {index} has outputs"
        if meta.get("solution"):
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
            following = source.cells[index + 1].metadata["nbgrader"]
            assert following["grade"] and following["points"] > 0, "every answer has a graded test"
        if meta.get("grade"):
            assert "### BEGIN HIDDEN TESTS" in cell.source, f"{name}: {meta['grade_id']}"
            assert 'importlib.import_module("convlib.check")' in cell.source
    # each task's heading states its points: "(3 points)", or "(2 + 1 points)" over two tests
    for heading, graded in _sections(source):
        stated = re.search(r"\((\d+(?: \+ \d+)*) points?\)", heading)
        points = [int(c.metadata["nbgrader"]["points"]) for c in graded]
        if graded:
            assert stated, (name, heading[:60])
            assert [int(x) for x in stated.group(1).split(" + ")] in ([sum(points)], points), (
                name,
                heading[:60],
                points,
            )
    text = nbformat.writes(student)
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    regions = sum(c.source.count("### BEGIN SOLUTION") for c in source.cells)
    stubs = sum(
        c.source.count("raise NotImplementedError()")
        for c in student.cells
        if c.cell_type == "code"
    )
    assert stubs == regions
