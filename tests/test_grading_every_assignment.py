"""The released solution of every assignment, graded on a Dask cluster and validated by nbgrader.

One student hands in the released solution (the student's notebook with every answer cell filled
by `solutions/`) of every assignment that has notebooks (tests/grading_corpus.ASSIGNMENTS, so a
new assignment is graded as soon as its notebooks exist). Asserted:

- `python -m tools.grading --scheduler FILE` on a real `dask scheduler` and real `dask worker`s
  started from the venv with no PYTHONPATH (tests/test_grading_cluster.py's fixture): every
  assignment `graded`, full marks, task by task. The same solutions are graded locally, with
  everything else, by tests/test_grading_corpus.py (`solution_exNN`).
- `nbgrader validate` on the same notebooks (one process for all): "Success!" for each, so
  Jupyter and the grader agree on every assignment.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import grading_corpus as corpus  # noqa: E402
from test_grading_cluster import DaskProcesses, dask_processes  # noqa: E402, F401 (a fixture)
from test_grading_corpus import NBGRADER, REFERENCES  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.notebooks, pytest.mark.timeout(1500)]
STUDENT = "released_solution"


@pytest.fixture(scope="module")
def solutions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CLASS/released_solution/<assignment>/<assignment>.ipynb for every assignment."""
    class_dir = tmp_path_factory.mktemp("solutions") / "submitted"
    for a in corpus.ASSIGNMENTS:
        folder = class_dir / STUDENT / a
        folder.mkdir(parents=True)
        nbformat.write(corpus.notebook(a), folder / f"{a}.ipynb")
    return class_dir


@pytest.fixture(scope="module")
def on_dask(solutions: Path, dask_processes: DaskProcesses) -> Iterator[dict]:  # noqa: F811
    out = solutions.parent / "graded"
    cmd = [sys.executable, "-m", "tools.grading", str(solutions), "--out", str(out)]
    cmd += ["--scheduler", str(dask_processes.scheduler_file), "--no-progress"]
    cmd += ["--reference-dir", str(REFERENCES), "--cell-timeout", "120"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with open(out / "report.csv", encoding="utf-8") as f:
        rows = {row["assignment"]: row for row in csv.DictReader(f)}
    records = {
        a: json.loads(next((out / "results" / a).glob("*.json")).read_text(encoding="utf-8"))
        for a in corpus.ASSIGNMENTS
    }
    yield {"rows": rows, "records": records}


def test_every_assignment_is_in_the_class() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    import make_exercises

    made = [a for a in make_exercises.ASSIGNMENTS if (REPO / "exercises" / a).is_dir()]
    assert list(corpus.ASSIGNMENTS) == made and len(made) >= 16


def test_every_released_solution_gets_full_marks_on_dask(on_dask: dict) -> None:
    wrong = []
    for a in corpus.ASSIGNMENTS:
        record = on_dask["records"][a]
        got = {g: t["score"] for g, t in record["tasks"][a].items()}
        if record["status"] != "graded" or got != corpus.points(a):
            notes = [t["message"] for t in record["tasks"][a].values() if t["message"]]
            wrong.append(f"{a}: {record['status']} {got} {record['notes']} {notes}")
    assert not wrong, "\n".join(wrong)
    seconds = {a: float(on_dask["rows"][a]["seconds"]) for a in corpus.ASSIGNMENTS}
    print(
        "\non dask, seconds per submission: "
        + ", ".join(f"{a[:4]} {s:.0f}" for a, s in seconds.items())
    )


def test_nbgrader_validate_passes_every_released_solution(solutions: Path, tmp_path: Path) -> None:
    """One `nbgrader validate` for all the notebooks: each says Success (nothing else would
    agree with the full marks above)."""
    names = []
    for a in corpus.ASSIGNMENTS:
        (tmp_path / f"{a}.ipynb").write_bytes((solutions / STUDENT / a / f"{a}.ipynb").read_bytes())
        names.append(f"{a}.ipynb")
    done = subprocess.run(
        [str(NBGRADER), "validate", "--ExecutePreprocessor.timeout=300", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    output = done.stdout + done.stderr
    successes = len(re.findall(r"Success! Your notebook passes all the tests\.", output))
    assert successes == len(names), output[-4000:]
    assert "VALIDATION FAILED" not in output, output[-4000:]
