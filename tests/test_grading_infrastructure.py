"""An infrastructure failure is never a student's 0 (tools/grading: prepare.probe_kernel,
submission.stop_on_infrastructure, sandbox.plan_for).

1. A course whose `.venv` is a symlink to a virtualenv under /tmp (the sandbox mounts a fresh
   /tmp) grades correctly: the sandbox binds what the interpreter needs under the names it uses.
2. A sandbox that hides convlib from the kernel stops the run before anyone is graded, with one
   message, exit status 2, no record, no gradebook.
3. `--device cuda` on a machine without a GPU stops the same way.
4. The first submissions all failing for the same non-student reason stop the run (unit).
5. What counts as an infrastructure failure in a graded notebook (unit): the setup cell's import
   error, but not after a student's cell.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import grading_corpus as gc  # noqa: E402

from tools.grading import sandbox  # noqa: E402
from tools.grading.prepare import InfrastructureError, infrastructure_failure  # noqa: E402
from tools.grading.submission import stop_on_infrastructure  # noqa: E402

A = gc.EX01
REFERENCES = Path(tempfile.gettempdir()) / "convlib-grading-references"
CHOICE = sandbox.choose("auto")
needs_bwrap = pytest.mark.skipif(CHOICE.kind != "bwrap", reason=CHOICE.reason)


def one_student_class(root: Path) -> Path:
    class_dir = root / "submitted"
    folder = class_dir / "ada" / A
    folder.mkdir(parents=True)
    nbformat.write(gc.notebook(A), folder / f"{A}.ipynb")
    return class_dir


def grade(python: str, class_dir: Path, out: Path, *extra: str, env: dict | None = None) -> Any:
    cmd = [python, "-m", "tools.grading", str(class_dir), "--out", str(out), "--jobs", "1"]
    cmd += ["--no-progress", "--assignments", A, "--reference-dir", str(REFERENCES), *extra]
    return subprocess.run(
        cmd,
        cwd=class_dir.parent,  # not the repository: tools.grading comes from the venv
        env=env or {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        capture_output=True,
        text=True,
        timeout=900,
    )


def symlinked_venv(course: Path) -> Path:
    """course/.venv -> a virtualenv under /tmp whose site-packages are the project's venv's
    (a .pth file), and whose bin/ has the project's commands (nbgrader runs `alembic`)."""
    target = Path(tempfile.mkdtemp(prefix="grading-venv-", dir="/tmp"))
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(target)], check=True)
    site = next(target.glob("lib/python3*/site-packages"))
    main_site = next((REPO / ".venv").glob("lib/python3*/site-packages"))
    (site / "zz_project.pth").write_text(f"import site; site.addsitedir({str(main_site)!r})\n")
    for tool in (REPO / ".venv" / "bin").iterdir():
        if not (target / "bin" / tool.name).exists():
            (target / "bin" / tool.name).symlink_to(tool)
    (course / ".venv").symlink_to(target)
    return course / ".venv" / "bin" / "python"


@pytest.mark.slow
@pytest.mark.notebooks
@needs_bwrap
@pytest.mark.timeout(1200)
def test_a_venv_that_is_a_symlink_into_tmp_grades_correctly(tmp_path: Path) -> None:
    course = tmp_path / "course"
    course.mkdir()
    python = symlinked_venv(course)
    assert str(python.resolve()).startswith("/") and os.path.islink(course / ".venv")
    class_dir = one_student_class(course)
    try:
        done = grade(str(python), class_dir, course / "graded", "--sandbox", "bwrap")
    finally:
        shutil.rmtree((course / ".venv").resolve(), ignore_errors=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with open(course / "graded" / "grades.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["student_id"], float(r["raw_score"])) for r in rows] == [
        ("ada", sum(gc.points(A).values()))
    ]
    report = (course / "graded" / "report.md").read_text()
    assert "Sandbox: bubblewrap" in report


@pytest.mark.slow
@pytest.mark.notebooks
@needs_bwrap
@pytest.mark.timeout(900)
def test_a_sandbox_that_hides_convlib_stops_before_anyone_is_graded(tmp_path: Path) -> None:
    """bwrap wrapped so that the kernel's sandbox hides convlib: the sandbox itself still works
    (the basic probe passes), but no notebook could import its checks."""
    wrapper = tmp_path / "bwrap"
    wrapper.write_text(
        f"#!{sys.executable}\nimport os, sys\nargs = sys.argv[1:]\ni = args.index('--')\n"
        f"args[i:i] = ['--tmpfs', {str(REPO / 'convlib')!r}]\n"
        f"os.execv({str(CHOICE.bwrap)!r}, [{str(CHOICE.bwrap)!r}, *args])\n"
    )
    wrapper.chmod(0o755)
    class_dir = one_student_class(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["GRADING_BWRAP"] = str(wrapper)
    out = tmp_path / "graded"
    done = grade(sys.executable, class_dir, out, "--sandbox", "bwrap", env=env)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "cannot import what the notebooks need" in done.stderr, done.stderr[-2000:]
    assert "convlib" in done.stderr and "Nobody was graded" in done.stderr
    assert not (out / "results").exists() and not (out / "grades.csv").exists()


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.timeout(900)
def test_cuda_without_a_gpu_stops_before_anyone_is_graded(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    class_dir = one_student_class(tmp_path)
    out = tmp_path / "graded"
    done = grade(sys.executable, class_dir, out, "--device", "cuda")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "--device cuda but torch in the grading kernel sees no CUDA device" in done.stderr
    assert not (out / "results").exists() and not (out / "grades.csv").exists()


def test_the_same_failure_on_the_first_submissions_stops_the_run() -> None:
    died = InfrastructureError("ada/ex01: the kernel died as it started")

    class Results:
        closed = False

        def __init__(self, items: list) -> None:
            self.items = iter(items)

        def __iter__(self) -> Results:
            return self

        def __next__(self) -> tuple[int, object]:
            return next(self.items)

        def close(self) -> None:
            self.closed = True

    results = Results([(0, died), (1, died), (2, died), (3, {"ok": 1})])
    with pytest.raises(InfrastructureError, match="first 3 submissions failed .* kernel died"):
        list(stop_on_infrastructure(results, 4))
    assert results.closed  # the submissions not started are cancelled
    # a graded submission first: later failures are reported, not a stop (nor a grade)
    later = list(stop_on_infrastructure(iter([(0, died), (1, {"ok": 1}), (2, died)]), 3))
    assert [i for i, _ in later] == [0, 1, 2]
    # a worker that died (KilledWorker) is the submission's own doing, never a stop
    worker = RuntimeError("died")
    worker.grading_note = "crashed"  # type: ignore[attr-defined]
    assert len(list(stop_on_infrastructure(iter([(i, worker) for i in range(3)]), 3))) == 3
    # a class of one: its one failure is enough
    with pytest.raises(InfrastructureError):
        list(stop_on_infrastructure(iter([(0, ValueError("Error during deserialization"))]), 1))


def test_an_import_error_in_the_setup_cell_is_infrastructure() -> None:
    nb = gc.notebook(A)
    setup = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    setup.outputs = [
        nbformat.v4.new_output(
            "error", ename="ModuleNotFoundError", evalue="No module named 'convlib'"
        )
    ]
    assert "cannot import" in str(infrastructure_failure("", nb))
    assert infrastructure_failure("RuntimeError: Kernel died before replying to kernel_info")
    assert infrastructure_failure("Traceback ... CellTimeoutError") is None
    # after a student's own cell, an import error may be the student's doing
    nb.cells.insert(nb.cells.index(setup), nbformat.v4.new_code_cell("import sys"))
    assert infrastructure_failure("", nb) is None
