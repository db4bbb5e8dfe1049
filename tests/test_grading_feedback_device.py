"""Two promises of the grading path, on this CPU machine.

1. Feedback without the hidden tests' source (preprocessors.HideHiddenTests): the students'
   feedback pages show what each hidden check tried (the call: function, input shapes,
   arguments) and the verdict saying what differed, never the hidden test code;
   `c.CourseGrading.show_hidden_tests = True` gives nbgrader's pages back.
2. The device asked for is the device used: `CONVLIB_DEVICE=cuda` or `device = "cuda"` without a
   GPU makes the first graded cell fail with one message, in `nbgrader validate` and in
   `nbgrader autograde` (0 points), instead of full marks on the CPU.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "scripts"))

import grading_corpus as gc  # noqa: E402

from tools.grading import Settings, grade_class  # noqa: E402

A = gc.EX01
REFERENCES = Path(tempfile.gettempdir()) / "convlib-grading-references"
BIN = Path(sys.executable).parent
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
DEVICE_MESSAGE = "but torch sees no CUDA device: nothing is graded on the CPU instead"
pytestmark = [pytest.mark.slow, pytest.mark.notebooks, pytest.mark.timeout(1200)]


def hidden_source(a: str) -> list[str]:
    """The lines of the instructor's hidden test regions that appear nowhere else in the
    notebook (non-blank, longer than a bracket)."""
    nb = nbformat.read(REPO / "solutions" / a / f"{a}.ipynb", as_version=4)
    hidden: list[str] = []
    visible: set[str] = set()
    for cell in nb.cells:
        inside = False
        for line in cell.source.split("\n"):
            if "### BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "### END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 12:
                hidden.append(line.strip())
            else:
                visible.add(line.strip())
    return [line for line in hidden if not any(line in v for v in visible)]


@pytest.fixture(scope="module")
def feedback(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One class (a right and a wrong first function) graded, feedback read under both
    settings."""
    import html

    root = tmp_path_factory.mktemp("feedback")
    if str(BIN) not in os.environ["PATH"].split(os.pathsep):  # nbgrader's gradebook: `alembic`
        os.environ["PATH"] = str(BIN) + os.pathsep + os.environ["PATH"]
    first = next(iter(gc.answers(A)))
    for student, nb in (
        ("ada", gc.notebook(A)),
        ("ben", gc.notebook(A, {first: gc.wrong(A, first)})),
    ):
        folder = root / "submitted" / student / A
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{A}.ipynb")
    config = root / "nbgrader_config.py"
    config.write_text("c = get_config()\n")
    settings = Settings(
        class_dir=root / "submitted",
        out_dir=root / "graded",
        assignments=[A],
        jobs=2,
        cell_timeout=60,
        progress=False,
        config_file=config,
        reference_dir=REFERENCES,
    )
    grade_class(settings)
    page = root / "graded" / "course" / "feedback" / "ben" / A / f"{A}.html"

    def text(path: Path) -> str:  # the page as read: tags (syntax highlighting) removed
        return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))

    pages = {"hidden": text(page)}
    config.write_text("c = get_config()\nc.CourseGrading.show_hidden_tests = True\n")
    grade_class(settings)  # records reused: only the feedback is made again
    pages["shown"] = text(page)
    return pages


def test_feedback_has_no_hidden_test_source(feedback: dict[str, str]) -> None:
    page = feedback["hidden"]
    assert "BEGIN HIDDEN TESTS" not in page and "END HIDDEN TESTS" not in page
    leaked = [line for line in hidden_source(A) if line in page]
    assert not leaked, leaked[:5]
    assert "hidden tests: their code is not shown." in page
    assert "What this cell checked:" in page
    first = next(iter(gc.answers(A)))
    assert f"{first}(Tensor(" in page  # each check's call: function, input shapes, arguments
    assert "CheckFailure" in page  # and the verdict saying what differed


def test_show_hidden_tests_restores_nbgraders_feedback(feedback: dict[str, str]) -> None:
    page = feedback["shown"]
    assert "### BEGIN HIDDEN TESTS" in page
    assert "hidden tests: their code is not shown." not in page
    assert all(line in page for line in hidden_source(A)[:3])


def run(cmd: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CONVLIB_"))}
    full["PATH"] = str(BIN) + os.pathsep + full.get("PATH", "")
    full.update(env)
    return subprocess.run(cmd, cwd=cwd, env=full, capture_output=True, text=True, timeout=600)


@NO_GPU
def test_validate_fails_on_cuda_without_a_gpu(tmp_path: Path) -> None:
    nbformat.write(gc.notebook(A), tmp_path / f"{A}.ipynb")
    done = run([str(BIN / "nbgrader"), "validate", f"{A}.ipynb"], tmp_path, CONVLIB_DEVICE="cuda")
    assert "VALIDATION FAILED" in done.stdout and DEVICE_MESSAGE in " ".join(done.stdout.split())
    nb = gc.notebook(A)  # device="cuda" as `papermill -p device cuda` sets it: a cell after
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell('device = "cuda"'))  # the parameters
    nbformat.write(nb, tmp_path / f"{A}.ipynb")
    done = run([str(BIN / "nbgrader"), "validate", f"{A}.ipynb"], tmp_path)
    assert "VALIDATION FAILED" in done.stdout and DEVICE_MESSAGE in " ".join(done.stdout.split())
    nbformat.write(gc.notebook(A), tmp_path / f"{A}.ipynb")  # and on the CPU: success
    assert "Success!" in run([str(BIN / "nbgrader"), "validate", f"{A}.ipynb"], tmp_path).stdout


@NO_GPU
def test_autograde_gives_nothing_on_cuda_without_a_gpu(tmp_path: Path) -> None:
    import make_exercises
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    make_exercises.prepare_course(course, [A])
    folder = course / "submitted" / "ada" / A
    folder.mkdir(parents=True)
    nbformat.write(gc.notebook(A), folder / f"{A}.ipynb")
    db = f"sqlite:///{course / 'gradebook.db'}"
    done = run(
        [str(BIN / "nbgrader"), "autograde", A, "--student=ada", "--force"]
        + [f"--CourseDirectory.root={course}", "--CourseDirectory.source_directory=solutions"]
        + ["--CourseDirectory.release_directory=exercises", f"--CourseDirectory.db_url={db}"],
        course,
        CONVLIB_DEVICE="cuda",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with Gradebook(db) as gb:
        assert gb.find_submission(A, "ada").score == 0.0
    graded = nbformat.read(course / "autograded" / "ada" / A / f"{A}.ipynb", as_version=4)
    first = next(c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade"))
    errors = [o for o in first.outputs if o.output_type == "error"]
    assert errors and DEVICE_MESSAGE in " ".join(str(errors[0].evalue).split())
