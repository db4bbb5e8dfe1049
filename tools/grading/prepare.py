"""Stage 1, prepare the course: the master nbgrader course (source, release, assignment-only
gradebook), its configuration and kernelspecs, the sandbox choice and the reference run of the
instructor's solution (what each check expects).
"""

import hashlib
import json
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

import nbformat

from .common import (
    KERNEL_SCRIPT,
    NBGRADER,
    REFERENCE_SCRIPT,
    REPO,
    Settings,
    run_quiet,
    tool_env,
    tree_hash,
    write_json_atomic,
)

# --------------------------------------------------------------------------------------------
# the master course (assignment definitions) and the kernel


def write_nbgrader_config(root: Path, settings: Settings, ipc: Path | None = None) -> None:
    """nbgrader's configuration for a scratch course; ``ipc``: the socket folder of a sandboxed
    kernel (it has no network, so nbgrader talks to it over Unix sockets there)."""
    root.joinpath("nbgrader_config.py").write_text(
        f"""# Written by tools/grading: a scratch course for autograding.
import sys
sys.path.insert(0, {str(REPO)!r})
c = get_config()
c.CourseDirectory.root = {str(root)!r}
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.Execute.timeout = {settings.cell_timeout}
c.Execute.startup_timeout = 120
# after a cell's reply, wait this long for its last outputs: a loaded machine can be slow, and
# nbgrader fails the notebook (rather than lose an error output) when the wait runs out
c.Execute.iopub_timeout = 60
# the kernel has nothing to save at the end: stop it at once (saves half a second per submission)
c.Execute.shutdown_kernel = "immediate"
c.OverwriteCells.add_missing_cells = True
c.LimitOutput.max_lines = 300
c.LimitOutput.max_traceback = 60
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties, CheckCellMetadata, Execute, IgnorePattern, LimitOutput, SaveAutoGrades)
from tools.grading.preprocessors import OutputCap, RecordExtract
c.Autograde.autograde_preprocessors = [
    Execute, RecordExtract, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    OutputCap, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
c.RecordExtract.report_path = {str(root / "records.json")!r}
# the sandboxed kernel has no network: nbgrader reaches it over Unix sockets
c.KernelManager.transport = {"ipc" if ipc else "tcp"!r}
{f"c.KernelManager.ip = {str(ipc / 'k')!r}" if ipc else ""}
{f"c.KernelManager.connection_file = {str(ipc / 'kernel.json')!r}" if ipc else ""}
""",
        encoding="utf-8",
    )


def write_kernelspec(folder: Path, argv_head: list[str]) -> None:
    """A kernelspec named python3 (the notebooks' kernel) under ``folder`` (a JUPYTER_PATH entry)
    whose argv is ``argv_head + ["-f", "{connection_file}"]``.

    Interrupts (a cell past its time limit) go as a message on the control channel: a signal
    sent to the launcher's process group would not reach a kernel inside bubblewrap.
    """
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [*argv_head, "-f", "{connection_file}"],
                "display_name": "Python 3 (grading)",
                "language": "python",
                "interrupt_mode": "message",
            }
        )
    )


def prepare_master(settings: Settings) -> tuple[Path, str]:
    """Build OUT/course: source/ from the course's solutions, release/ and an assignment-only
    gradebook (kept as OUT/state/pristine.db). Reused while the solutions do not change."""
    course = settings.out_dir / "course"
    state = settings.out_dir / "state"
    state.mkdir(parents=True, exist_ok=True)
    src_root = settings.course_root / settings.source_dir
    files = [p for a in settings.assignments for p in (src_root / a).rglob("*")]
    source_hash = tree_hash(files, src_root) + "|" + ",".join(settings.assignments)
    stamp = state / "source.hash"
    pristine = state / "pristine.db"
    if stamp.exists() and stamp.read_text() == source_hash and pristine.exists():
        return course, source_hash
    for sub in ("source", "release"):
        shutil.rmtree(course / sub, ignore_errors=True)
    course.mkdir(parents=True, exist_ok=True)
    for a in settings.assignments:
        shutil.copytree(src_root / a, course / "source" / a)
    write_nbgrader_config(course, settings)
    pristine.unlink(missing_ok=True)
    (course / "gradebook.db").unlink(missing_ok=True)
    env = tool_env(settings)
    log = state / "generate.log"
    for a in settings.assignments:
        rc = run_quiet(
            [*NBGRADER, "generate_assignment", a, "--force"],
            course,
            env,
            log,
            600,
        )
        if rc != 0:
            raise RuntimeError(f"nbgrader generate_assignment {a} failed; see {log}")
    shutil.copy(course / "gradebook.db", pristine)
    stamp.write_text(source_hash)
    return course, source_hash


def assignment_layout(course: Path, assignment: str) -> dict[str, list[dict[str, Any]]]:
    """notebook name -> its tasks [{grade_id, points}] in order, from the released notebooks."""
    layout: dict[str, list[dict[str, Any]]] = {}
    for nb_path in sorted((course / "source" / assignment).glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        tasks = []
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                tasks.append({"grade_id": meta["grade_id"], "points": float(meta["points"])})
        layout[nb_path.stem] = tasks
    return layout


_LOCK = threading.Lock()
_SANDBOXES: dict[str, Any] = {}
_REFERENCES: dict[tuple[str, str], dict[str, Any]] = {}


def settings_sandbox(settings: Settings) -> Any:
    """The sandbox kernels get (``sandbox.choose``, probed once per Settings; loud fallback)."""
    from . import sandbox

    with _LOCK:  # (keyed by the request: a Dask worker unpickles Settings per submission)
        if settings.sandbox not in _SANDBOXES:
            _SANDBOXES[settings.sandbox] = sandbox.choose(settings.sandbox)
        return _SANDBOXES[settings.sandbox]


def reference_records(settings: Settings, course: Path, assignment: str) -> dict[str, Any]:
    """notebook -> grade_id -> what each check of the instructor's notebook expects.

    The source notebook (hidden tests included) is run once with the checks in ``reference``
    mode (``reference.py``), outside any sandbox: it is the course's own code. Cached on disk by
    the content of the notebook, of the checks and of the kernel, and verified: the solution
    must pass every one of its own checks, else grading stops.
    """
    from convlib.check import judge

    src = course / "source" / assignment
    here = Path(__file__).parent
    key = hashlib.sha256(
        (
            tree_hash(src.glob("*.ipynb"), src)
            + tree_hash([REPO / "convlib" / "check.py", REPO / "convlib" / "tamper.py"], REPO)
            + tree_hash([here / "kernel.py", here / "reference.py"], here)
            + settings.device
        ).encode()
    ).hexdigest()[:24]
    with _LOCK:
        if (assignment, key) in _REFERENCES:
            return _REFERENCES[(assignment, key)]
        cache = settings.reference_dir or settings.out_dir / "state" / "reference"
        path = cache / f"{assignment}-{key}.json"
        if not path.exists():
            kernels = settings.out_dir / "kernels"
            write_kernelspec(kernels, [sys.executable, str(KERNEL_SCRIPT)])
            env = tool_env(settings)
            found: dict[str, Any] = {}
            cache.mkdir(parents=True, exist_ok=True)
            (cache / "tmp").mkdir(exist_ok=True)
            env.update(
                CONVLIB_CHECK_MODE="reference", JUPYTER_PATH=str(kernels), TMPDIR=str(cache / "tmp")
            )
            log = cache / f"{assignment}.log"
            for nb in sorted(src.glob("*.ipynb")):
                # per process: workers of a cluster share this folder and may race here
                out = cache / f"{assignment}-{nb.stem}.tmp{os.getpid()}.json"
                cmd = [sys.executable, str(REFERENCE_SCRIPT), str(nb), str(out)]
                rc = run_quiet([*cmd, str(settings.cell_timeout * 4)], cache, env, log, 1800)
                if rc != 0 or not out.exists():
                    raise RuntimeError(f"the reference run of {nb.name} failed; see {log}")
                found[nb.stem] = json.loads(out.read_text(encoding="utf-8"))
                out.unlink()
            for name, cells in found.items():
                for gid, recs in cells.items():
                    for i, rec in enumerate(recs):
                        why = judge(rec["spec"], rec["result"]) if "spec" in rec else "no spec"
                        if why:
                            raise RuntimeError(
                                f"{assignment}/{name}: the solution fails its own check "
                                f"{gid} #{i + 1}: {why}"
                            )
            write_json_atomic(path, found)
        data = json.loads(path.read_text(encoding="utf-8"))
        _REFERENCES[(assignment, key)] = data
        return data
