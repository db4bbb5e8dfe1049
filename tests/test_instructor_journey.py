"""The instructor's journey, end to end in a temporary course directory, with the real nbgrader.

`python -m tools.grading` (what `make grade CLASS=...` runs) on a class of four: it runs
`nbgrader generate_assignment` from solutions/, `nbgrader autograde` per submission on CPU,
`nbgrader generate_feedback` and `nbgrader export`. Checked: the released notebook is the one
students have (exercises/), exact points per student, HTML feedback per student, the CSV rows.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import faulty_class as fc  # noqa: E402  (its notebook builders, not its faults)

pytestmark = [pytest.mark.slow, pytest.mark.notebooks, pytest.mark.timeout(900)]

A = fc.A
EXPECTED = {  # student -> total points out of 10 (see tests/faulty_class.py for the tasks)
    "ada": 10.0,  # everything right
    "ben": 6.0,  # conv2d wrong (4 points lost)
    "cleo": 0.0,  # every answer wrong
    "dev": 0.0,  # handed in the notebook untouched
}


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("journey")
    class_dir = root / "submitted"
    good = fc.solution_answers()
    bad = {k: fc.wrong_answer(v) for k, v in good.items()}
    fc.write(class_dir, "ada", fc.answered(good))
    fc.write(class_dir, "ben", fc.answered({**good, "conv2d": bad["conv2d"]}))
    fc.write(class_dir, "cleo", fc.answered(bad))
    fc.write(class_dir, "dev", fc.released())
    out = root / "graded"
    cmd = [sys.executable, "-m", "tools.grading", str(class_dir), "--out", str(out)]
    cmd += ["--device", "cpu", "--jobs", "2", "--no-progress"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=850)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_released_notebook_is_what_students_have(journey: Path) -> None:
    made = nbformat.read(journey / "course" / "release" / A / f"{A}.ipynb", as_version=4)
    given = nbformat.read(REPO / "exercises" / A / f"{A}.ipynb", as_version=4)
    assert [c.source for c in made.cells] == [c.source for c in given.cells]


def test_export_rows(journey: Path) -> None:
    with open(journey / "grades.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["student_id"] for r in rows} == set(EXPECTED)
    for r in rows:
        assert r["assignment"] == A
        assert float(r["raw_score"]) == EXPECTED[r["student_id"]], r
        assert float(r["score"]) == EXPECTED[r["student_id"]], r
        assert float(r["max_score"]) == 10.0


def test_autograded_and_feedback_per_student(journey: Path) -> None:
    for student in EXPECTED:
        graded = journey / "course" / "autograded" / student / A / f"{A}.ipynb"
        page = journey / "course" / "feedback" / student / A / f"{A}.html"
        assert graded.exists(), student
        text = page.read_text(encoding="utf-8")
        assert "<html" in text.lower() and A in text
    ben = (journey / "course" / "feedback" / "ben" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "6.0" in ben and "10.0" in ben  # nbgrader's "Score: 6.0 / 10.0" header


def test_report_lists_everyone(journey: Path) -> None:
    report = (journey / "report.md").read_text(encoding="utf-8")
    for student, total in EXPECTED.items():
        assert f"| {student} | {A} | graded | {total:g}/10 |" in report
