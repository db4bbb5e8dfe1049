"""The grading policy on a student's cells: only changes to the grading environment count.

The rules live in ``convlib.tamper`` (torch-free), because the notebook's own cells enforce the
same ones in Jupyter: a cell that changes the grading environment does not run there either, and
every later check repeats its reason. Here, outside the student's process, the runner scans the
cells the student wrote (code cells neither locked nor identical to a released cell) and charges
each finding to the tasks whose test cells come after it: those are the tasks it can affect.

What is not here on purpose: imports, ``getattr``, magics, calling ``torch.nn.functional`` in a
scratch cell. Using the forbidden operation is judged where it matters, while the graded
function runs (``convlib.check.forbid``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from convlib import tamper


@dataclass(frozen=True)
class Violation:
    """A student cell that changes the grading environment, and the tasks it costs."""

    cell_index: int
    message: str
    grade_ids: tuple[str, ...]


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def scan_notebook(cells: Sequence[dict], released_cells: Sequence[dict]) -> list[Violation]:
    """Every environment-changing student cell of ``cells`` (nbformat cells), in order."""
    released = {c["source"] for c in released_cells if c.get("cell_type") == "code"}
    tests = [
        (i, _nbgrader(c)["grade_id"])
        for i, c in enumerate(cells)
        if _nbgrader(c).get("grade") and _nbgrader(c).get("grade_id")
    ]
    found = []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code" or _nbgrader(cell).get("locked"):
            continue
        if cell["source"] in released:
            continue
        for message in tamper.messages(cell["source"]):
            found.append(Violation(i, message, tuple(g for j, g in tests if j > i)))
    return found


def tampering_by_task(violations: Sequence[Violation]) -> dict[str, str]:
    """grade_id -> the message of the first violation before its test (what Jupyter shows)."""
    by_task: dict[str, str] = {}
    for v in violations:
        for gid in v.grade_ids:
            by_task.setdefault(gid, v.message)
    return by_task
