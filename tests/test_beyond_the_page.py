"""No graded task is answered by code printed on its chapter page.

For each row of ``tests/closest_page_functions.py``, the solution notebook runs without a kernel
(``exec`` in one namespace, as the notebook's cells would): its parameters and setup cells, the
released solution cells before the task, the page function transcribed from ``convlib.teaching``
with its adapter in place of the task's solution cell, then the task's graded test cell with its
hidden tests. The checks must fail (an ``AssertionError``, which every check raises).

The page module's source is executed into the namespace, not imported: a student who copied the
page function has it as their own code, so the checks judge what it computes, not that it lives in
convlib (which they would flag on its own).
"""

from __future__ import annotations

import functools
import re
import sys
import types
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
TEACHING = ROOT / "convlib" / "teaching"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))
from closest_page_functions import CLOSEST, Closest  # noqa: E402
from make_exercises import ASSIGNMENTS  # noqa: E402

IMPORT = re.compile(r"^from convlib\.teaching\.(?P<module>\w+) import (?P<names>.+)$")


@functools.cache
def notebook(assignment: str) -> nbformat.NotebookNode:
    path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    return nbformat.read(path, as_version=4)


def _meta(cell: nbformat.NotebookNode) -> dict[str, Any]:
    return dict(cell.metadata.get("nbgrader", {}))


def graded_tests(assignment: str) -> list[str]:
    return [_meta(c)["grade_id"] for c in notebook(assignment).cells if _meta(c).get("grade")]


def solution_cells(assignment: str) -> list[str]:
    return [_meta(c)["grade_id"] for c in notebook(assignment).cells if _meta(c).get("solution")]


def transcribe(module: str, namespace: dict[str, Any], done: set[str] | None = None) -> None:
    """Execute ``convlib.teaching.<module>``'s source into ``namespace`` (as the student's own
    code), first transcribing the teaching modules it imports from."""
    done = set() if done is None else done
    if module in done:
        return
    done.add(module)
    lines = (TEACHING / f"{module}.py").read_text().split("\n")
    for n, line in enumerate(lines):
        match = IMPORT.match(line)
        if match:
            transcribe(match["module"], namespace, done)
            lines[n] = ""  # the names are in the namespace now
    exec(compile("\n".join(lines), f"<page {module}>", "exec"), namespace)  # noqa: S102


def run_with_page_function(assignment: str, row: Closest) -> None:
    """Run the task's graded test cell with the page function in place of the solution."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for cell in notebook(assignment).cells:
        meta = _meta(cell)
        if cell.cell_type != "code":
            continue
        source = cell.source
        if meta.get("grade_id") == row.test:
            exec(compile(source, f"<{assignment} {row.test}>", "exec"), namespace)  # noqa: S102
            return
        if meta.get("grade"):
            continue  # other tasks' tests: not needed here
        if meta.get("grade_id") == row.solution:
            page: dict[str, Any] = {"__name__": "__main__"}
            transcribe(row.module, page)
            namespace["page"] = page[row.function]
            namespace["pages"] = types.SimpleNamespace(**page)
            source = row.adapter
        exec(compile(source, f"<{assignment} {meta.get('grade_id')}>", "exec"), namespace)  # noqa: S102
    raise AssertionError(f"{assignment}: no test cell {row.test}")


ROWS = [(a, row) for a, rows in CLOSEST.items() for row in rows]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_graded_cell_has_a_row(assignment: str) -> None:
    assert assignment in CLOSEST, f"no section for {assignment} in tests/closest_page_functions.py"
    rows = CLOSEST[assignment]
    covered = {row.test for row in rows}
    missing = [t for t in graded_tests(assignment) if t not in covered]
    assert not missing, f"{assignment}: graded test cells without a closest page function {missing}"
    for row in rows:
        assert row.test in graded_tests(assignment), f"{assignment}: no graded cell {row.test}"
        assert row.solution in solution_cells(assignment), f"{assignment}: no {row.solution}"
        assert (TEACHING / f"{row.module}.py").exists(), f"no page module {row.module}"


@pytest.mark.parametrize(
    ("assignment", "row"), ROWS, ids=[f"{a}-{r.test}-{r.function}" for a, r in ROWS]
)
def test_page_function_fails_the_task(
    assignment: str, row: Closest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONVLIB_CHECK_MODE", raising=False)
    monkeypatch.delenv("CONVLIB_DEVICE", raising=False)
    saved = {k: v for k, v in sys.modules.items() if k.startswith("convlib.check")}
    try:
        with pytest.raises(AssertionError):
            run_with_page_function(assignment, row)
    finally:
        for name in [k for k in sys.modules if k.startswith("convlib.check")]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_the_released_solution_passes_this_harness(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness itself: with the released solution's own cell as the "adapter", ex01's first
    task passes (so a failure above comes from the page function, not from the harness)."""
    monkeypatch.delenv("CONVLIB_CHECK_MODE", raising=False)
    assignment = "ex01_cross_correlation"
    cells = {_meta(c).get("grade_id"): c.source for c in notebook(assignment).cells}
    first = graded_tests(assignment)[0]
    solution = solution_cells(assignment)[0]
    row = Closest(first, solution, "ch01_cross_correlation.corr2d", cells[solution])
    saved = {k: v for k, v in sys.modules.items() if k.startswith("convlib.check")}
    try:
        run_with_page_function(assignment, row)
    finally:
        for name in [k for k in sys.modules if k.startswith("convlib.check")]:
            del sys.modules[name]
        sys.modules.update(saved)
