"""Grade a class folder with nbgrader, one submission per worker, nothing lost, nothing wrong.

Layout. CLASS is nbgrader's `submitted` layout: `CLASS/<student>/<assignment>/<notebook>.ipynb`.
Everything the runner writes goes under OUT (default: `<CLASS>/../graded`):

    OUT/course/            an nbgrader course: source/ (copied from solutions/), release/,
                           gradebook.db (rebuilt from the results at every run), autograded/,
                           feedback/<student>/<assignment>/<notebook>.html, grades.csv
    OUT/results/<a>/<student>.json   one record per submission: the resume log
    OUT/work/<a>/<student>/          scratch course of one submission (own gradebook: no locks)
    OUT/report.csv, OUT/report.md    what happened to every student, task by task
    OUT/grades.csv                   `nbgrader export` of the rebuilt gradebook

Why per-submission scratch courses: `nbgrader autograde` on one shared SQLite gradebook serialises
and, run in parallel, fails with "database is locked". Each worker autogrades in its own copy of
the assignment-only gradebook; results are merged serially at the end, so the main gradebook is
always a pure function of the result records (re-runs are idempotent, an interrupted run resumes
by skipping the records already written, and a changed submission is regraded because its input
hash changes).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from .policy import scan_notebook, tampering_by_task
from .verdict import Verdict, judge_notebook, write_verdicts

REPO = Path(__file__).resolve().parents[2]
KERNEL_SCRIPT = Path(__file__).resolve().with_name("kernel.py")
SANDBOX_SCRIPT = Path(__file__).resolve().with_name("sandbox.py")
REFERENCE_SCRIPT = Path(__file__).resolve().with_name("reference.py")
NBGRADER = [sys.executable, "-m", "nbgrader"]
RUNNER_VERSION = "1"

# statuses, most severe first: a submission's `status` is the first that applies
STATUSES = ("missing", "invalid", "crashed", "timed_out", "tampered", "graded")


@dataclass
class Settings:
    """What the runner needs; the defaults suit a laptop or CI grading a class on CPU."""

    class_dir: Path
    out_dir: Path
    course_root: Path = REPO
    assignments: Sequence[str] = ()
    students: Sequence[str] = ()  # the roster; default: every folder in class_dir
    device: str = "cpu"
    jobs: int = 0  # 0: one per CPU core
    cell_timeout: int = 30  # seconds per cell (infinite loops)
    submission_timeout: int = 600  # seconds per submission, whatever happens
    mem_limit_mb: int = 4096  # kernel address space on CPU (memory bombs)
    max_output_chars: int = 2_000_000  # per kernel, before the kernel stops sending output
    progress: bool = True
    source_dir: str = "solutions"
    extra_env: dict[str, str] = field(default_factory=dict)
    sandbox: str = "auto"  # auto (bubblewrap, else a loud fallback), bwrap (required), none
    # the instructor's nbgrader_config.py (due dates, late penalty); default: the course's own
    config_file: Path | None = None
    reference_dir: Path | None = None  # cache of reference runs (default OUT/state/reference)

    @property
    def grading_key(self) -> str:
        """Everything besides the submission that its grade depends on (the runner's own code
        included): a record made under another key is regraded."""
        code = Path(__file__).parent
        checks = REPO / "convlib"
        return json.dumps(
            [
                tree_hash(code.glob("*.py"), code),
                tree_hash([checks / "check.py", checks / "tamper.py"], checks),
                self.sandbox,
                self.device,
                self.cell_timeout,
                self.submission_timeout,
                self.mem_limit_mb,
                self.max_output_chars,
            ]
        )


# --------------------------------------------------------------------------------------------
# small helpers


def safe_name(student: str) -> str:
    """A file name for any student id: its ASCII letters plus a hash (unique). No '%' or
    non-ASCII: the name ends up in SQLite URLs, where SQLAlchemy would decode '%xx'."""
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", student)[:40]
    return f"{readable}-{hashlib.sha1(student.encode()).hexdigest()[:10]}"


def tree_hash(paths: Iterable[Path], root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(b"\0")
            h.update(p.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def tool_env(settings: Settings) -> dict[str, str]:
    """Environment for nbgrader and its kernels."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADING_", "PYTHON"))}
    bin_dir = str(Path(sys.executable).parent)  # nbgrader calls `alembic` from PATH
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["CONVLIB_DEVICE"] = settings.device
    env["OMP_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    env["MALLOC_ARENA_MAX"] = "2"
    env["JUPYTER_PATH"] = str(settings.out_dir / "kernels")
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    env.update(settings.extra_env)
    return env


def run_quiet(cmd: Sequence[str], cwd: Path, env: dict[str, str], log: Path, timeout: float) -> int:
    """Run cmd in its own session, log its output; on timeout kill it and all its descendants."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.wait()
            return -9
        except BaseException:
            kill_tree(proc.pid)
            raise


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the runner dies (Linux), so killing the runner
    (Ctrl-C, a CI timeout, kill -9) leaves no nbgrader or kernel behind; the kernel does the same
    with nbgrader (kernel.py)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except Exception:
        pass


def kill_tree(pid: int) -> None:
    """Kill a process we started and everything below it (kernels run in their own sessions)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=10)


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


def read_timestamp(sub_dir: Path, record: dict[str, Any]) -> str | None:
    """The submission time from ``timestamp.txt`` (as nbgrader's collect writes it), checked
    with nbgrader's own parser; kept in the record for the gradebook and the export."""
    path = sub_dir / "timestamp.txt"
    if not path.is_file():
        record["timestamp"] = None
        return None
    from nbgrader.utils import parse_utc

    text = path.read_text(encoding="utf-8", errors="replace").strip()
    try:
        record["timestamp"] = parse_utc(text).isoformat()
    except Exception:
        record["timestamp"] = None
        record["notes"].append(f"unreadable timestamp.txt ({text[:40]!r}): treated as on time")
        return None
    return text


# --------------------------------------------------------------------------------------------
# pre-flight: what did the student hand in?


def _grade_ids(nb: Any) -> set[str]:
    return {
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    }


def preflight(
    sub_dir: Path, course: Path, assignment: str, layout: dict[str, list]
) -> tuple[dict[str, Path | None], list[str], list[str]]:
    """Pick the notebook file to grade for each expected notebook.

    Returns ({notebook: path or None}, flags, notes). A notebook that is absent but present under
    another name (the only other notebook, with this assignment's cells) is graded under its
    expected name; anything else handed in is listed and ignored (extra .py files in particular
    are NOT copied next to the notebook: a `convlib.py` there would shadow the course library).
    """
    chosen: dict[str, Path | None] = {}
    flags: list[str] = []
    notes: list[str] = []
    files = sorted(p for p in sub_dir.rglob("*") if p.is_file()) if sub_dir.is_dir() else []
    notebooks = [p for p in files if p.suffix == ".ipynb" and ".ipynb_checkpoints" not in p.parts]
    used: set[Path] = set()
    for name in layout:
        path = sub_dir / f"{name}.ipynb"
        chosen[name] = path if path.is_file() else None
        if chosen[name]:
            used.add(path)
    for name, found in chosen.items():
        if found is not None:
            continue
        released = nbformat.read(course / "release" / assignment / f"{name}.ipynb", as_version=4)
        wanted = _grade_ids(released)
        candidates = []
        for p in notebooks:
            if p in used:
                continue
            try:
                if _grade_ids(nbformat.read(p, as_version=4)) & wanted:
                    candidates.append(p)
            except Exception:
                continue
        if len(candidates) == 1:
            chosen[name] = candidates[0]
            used.add(candidates[0])
            flags.append("renamed")
            notes.append(f"renamed: graded {candidates[0].relative_to(sub_dir)} as {name}.ipynb")
        else:
            flags.append("missing_notebook")
            notes.append(f"missing: no {name}.ipynb handed in (0 for its tasks)")
    for p in files:
        if p.relative_to(sub_dir) in (Path("timestamp.txt"), Path("submission_secret.txt")):
            continue  # nbgrader's submission time (read_timestamp), its feedback key (exchange.py)
        if p not in used and ".ipynb_checkpoints" not in p.parts:
            flags.append("extra_file")
            notes.append(f"ignored extra file: {p.relative_to(sub_dir)}")
    return chosen, flags, notes


def check_notebook(path: Path, released_path: Path) -> tuple[Any | None, list[str], list[str]]:
    """Read and validate one notebook; compare its locked cells with the released ones."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        nb = nbformat.from_dict(raw)
        nbformat.validate(nb)
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # invalid JSON, wrong schema, undecodable bytes
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return None, ["invalid"], [f"invalid notebook {path.name}: {first}"]
    flags: list[str] = []
    notes: list[str] = []
    released = nbformat.read(released_path, as_version=4)
    known = _grade_ids(released)
    for c in nb.cells:  # nbgrader metadata with an id the assignment does not have: a student
        meta = c.get("metadata", {})
        gid = meta.get("nbgrader", {}).get("grade_id")  # cell, not a test
        if "nbgrader" in meta and gid not in known:
            del c.metadata["nbgrader"]
            flags.append("tampered")
            notes.append(f"cell with unknown id {gid!r}: treated as the student's own cell")
    by_id = {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in nb.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    }
    for rc in released.cells:
        meta = rc.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if not gid:
            continue
        cell = by_id.get(gid)
        if cell is None:
            flags.append("tampered")
            notes.append(f"deleted or renamed cell {gid} (the original was put back)")
            continue
        smeta = cell.metadata.get("nbgrader", {})
        changed = [
            k
            for k in ("grade", "solution", "locked", "points", "task")
            if smeta.get(k, False) != meta.get(k, False)
        ]
        if changed:
            flags.append("tampered")
            notes.append(f"cell {gid}: nbgrader metadata {changed} changed (restored)")
        if meta.get("locked") and cell.source != rc.source:
            flags.append("tampered")
            notes.append(f"cell {gid}: locked cell edited (the original was put back)")
    if [c.source for c in nb.cells] == [c.source for c in released.cells]:
        flags.append("unchanged")
        notes.append(f"{path.name} is unchanged from the released notebook (no answer)")
    return nb, flags, notes


# --------------------------------------------------------------------------------------------
# one submission


def _zero_tasks(layout: dict[str, list], names: Iterable[str], outcome: str, message: str) -> dict:
    return {
        name: {
            t["grade_id"]: {
                "score": 0.0,
                "max": t["points"],
                "outcome": outcome,
                "message": message,
            }
            for t in layout[name]
        }
        for name in names
    }


def grade_submission(
    settings: Settings,
    course: Path,
    source_hash: str,
    layout: dict[str, list],
    student: str,
    assignment: str,
) -> dict[str, Any]:
    """Grade one (student, assignment); returns its result record (also written to disk)."""
    result_path = settings.out_dir / "results" / assignment / f"{safe_name(student)}.json"
    sub_dir = settings.class_dir / student / assignment
    inputs = [p for p in sub_dir.rglob("*")] if sub_dir.is_dir() else []
    input_hash = hashlib.sha256(
        (tree_hash(inputs, sub_dir) + source_hash + settings.grading_key).encode()
    ).hexdigest()
    if result_path.exists():
        with contextlib.suppress(Exception):
            old = json.loads(result_path.read_text(encoding="utf-8"))
            if old.get("input_hash") == input_hash:
                old["resumed"] = True
                return old
    started = time.monotonic()
    record: dict[str, Any] = {
        "student": student,
        "assignment": assignment,
        "input_hash": input_hash,
        "flags": [],
        "notes": [],
        "tasks": {},
        "resumed": False,
    }
    feedback_dir = course / "feedback" / student / assignment
    autograded_dir = course / "autograded" / student / assignment
    shutil.rmtree(feedback_dir, ignore_errors=True)
    shutil.rmtree(autograded_dir, ignore_errors=True)

    if not sub_dir.is_dir():
        record["flags"].append("missing")
        record["notes"].append(f"no submission for {assignment}")
        record["tasks"] = _zero_tasks(layout, layout, "missing", "nothing handed in")
        return _finish(settings, record, result_path, started, course, layout)

    chosen, flags, notes = preflight(sub_dir, course, assignment, layout)
    record["flags"] += flags
    record["notes"] += notes
    gradable: dict[str, Any] = {}
    for name, path in chosen.items():
        if path is None:
            record["tasks"].update(_zero_tasks(layout, [name], "missing", "notebook not handed in"))
            continue
        nb, f2, n2 = check_notebook(path, course / "release" / assignment / f"{name}.ipynb")
        record["flags"] += f2
        record["notes"] += n2
        if nb is None:
            record["tasks"].update(_zero_tasks(layout, [name], "invalid", n2[0]))
        else:
            gradable[name] = nb
    if not gradable:
        if not any(chosen.values()):
            record["flags"].append("missing")
        return _finish(settings, record, result_path, started, course, layout)

    # a scratch course with its own gradebook
    work = settings.out_dir / "work" / assignment / safe_name(student)
    shutil.rmtree(work, ignore_errors=True)
    (work / "submitted" / student / assignment).mkdir(parents=True)
    (work / "source").mkdir()
    (work / "release").mkdir()
    (work / "tmp").mkdir()
    os.symlink(course / "source" / assignment, work / "source" / assignment)
    os.symlink(course / "release" / assignment, work / "release" / assignment)
    shutil.copy(settings.out_dir / "state" / "pristine.db", work / "gradebook.db")
    choice = settings_sandbox(settings)
    ipc_dir = None
    if choice.kind == "bwrap":  # (short: a socket path must stay under 108 bytes)
        import tempfile

        ipc_dir = Path(tempfile.mkdtemp(prefix="gk", dir="/tmp"))
    write_nbgrader_config(work, settings, ipc=ipc_dir)
    submitted = work / "submitted" / student / assignment
    for name, nb in gradable.items():
        nbformat.write(nb, submitted / f"{name}.ipynb")
    timestamp = read_timestamp(sub_dir, record)
    if timestamp is not None:
        (submitted / "timestamp.txt").write_text(timestamp, encoding="utf-8")

    # what the student's own cells do to the grading environment (outside their process)
    tampering: dict[str, dict[str, str]] = {}
    for name, nb in gradable.items():
        released = nbformat.read(course / "release" / assignment / f"{name}.ipynb", as_version=4)
        violations = scan_notebook(nb.cells, released.cells)
        tampering[name] = tampering_by_task(violations)
        for violation in violations:
            record["flags"].append("tampered")
            record["notes"].append(f"{name}: {violation.message}")

    env = tool_env(settings)
    env["TMPDIR"] = str(work / "tmp")
    env["CONVLIB_CHECK_MODE"] = "record"  # the checks report; this process judges
    # RLIMIT_AS on the CPU; on a GPU, CUDA's address-space reservations rule it out, so the
    # kernel watches its resident memory instead
    cap = str(settings.mem_limit_mb * 2**20)
    env["GRADING_MEM_BYTES"] = cap if settings.device == "cpu" else "0"
    env["GRADING_RSS_BYTES"] = "0" if settings.device == "cpu" else cap
    env["GRADING_MAX_OUTPUT"] = str(settings.max_output_chars)
    protect = [  # the in-process guard (second layer) refuses to read these
        settings.course_root / settings.source_dir,
        settings.class_dir,
        settings.out_dir,
        course,
        work / "gradebook.db",
        work / "source",
        work / "submitted",
    ]
    env["GRADING_PROTECT"] = os.pathsep.join(str(p) for p in protect)
    # the sandbox shows none of these (the Python environment, convlib and the notebook's own
    # folders are bound back in): no solutions, gradebook, other submissions, course files
    hidden = [REPO, settings.course_root, settings.class_dir, settings.out_dir]
    if ipc_dir is not None:
        from . import sandbox

        plan = sandbox.plan_for(
            bwrap=str(choice.bwrap),
            key=safe_name(student),
            hide=hidden,
            rw=[work / "tmp", ipc_dir],
            cpu_seconds=2 * settings.submission_timeout,
        )
        write_json_atomic(work / "sandbox.json", plan)
        launcher = [sys.executable, str(SANDBOX_SCRIPT), str(work / "sandbox.json")]
        write_kernelspec(work / "kernels", launcher)
    else:
        write_kernelspec(work / "kernels", [sys.executable, str(KERNEL_SCRIPT)])
    env["JUPYTER_PATH"] = str(work / "kernels")
    log = work / "autograde.log"
    cmd = [*NBGRADER, "autograde", assignment, f"--student={student}", "--force"]
    try:
        rc = run_quiet(cmd, work, env, log, settings.submission_timeout)
        if rc not in (0, -9):  # a crash: once more, so a transient failure costs no grade
            record["notes"].append("autograde failed once and was run again")
            rc = run_quiet(cmd, work, env, log, settings.submission_timeout)
    finally:
        if ipc_dir is not None:
            shutil.rmtree(ipc_dir, ignore_errors=True)
    log_text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    if rc == -9:
        record["flags"].append("timed_out")
        msg = f"grading took over {settings.submission_timeout} s and was stopped"
        record["notes"].append(msg)
        record["tasks"].update(_zero_tasks(layout, gradable, "timed_out", msg))
        return _finish(settings, record, result_path, started, course, layout)

    records_path = work / "records.json"
    records = json.loads(records_path.read_text(encoding="utf-8")) if records_path.exists() else {}
    reference = reference_records(settings, course, assignment)
    for name in gradable:
        graded_nb = work / "autograded" / student / assignment / f"{name}.ipynb"
        if rc != 0 or not graded_nb.exists():
            why = _crash_reason(log_text)
            record["flags"].append("crashed")
            record["notes"].append(f"{name}: autograding failed: {why}")
            record["tasks"].update(_zero_tasks(layout, [name], "crashed", why))
            continue
        nb = nbformat.read(graded_nb, as_version=4)
        verdicts = judge_notebook(
            nb, reference.get(name, {}), records.get(name, {}), tampering.get(name, {})
        )
        write_verdicts(nb, verdicts)
        timed_out = [g for g, v in verdicts.items() if v.outcome == "timed_out"]
        if timed_out:
            record["flags"].append("timed_out")
            record["notes"].append(f"{name}: cell time limit hit in {', '.join(timed_out)}")
        for gid, verdict in verdicts.items():
            if verdict.outcome == "tampered" and gid not in tampering.get(name, {}):
                record["flags"].append("tampered")
                record["notes"].append(f"{name}: {gid}: {verdict.message}")
        record["tasks"][name] = {}
        for t in layout[name]:
            gid = t["grade_id"]
            v = verdicts.get(gid) or Verdict(False, "failed", "the test cell did not run")
            record["tasks"][name][gid] = {
                "score": t["points"] if v.passed else 0.0,
                "max": t["points"],
                "outcome": v.outcome,
                "message": v.message,
            }
        autograded_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, autograded_dir / graded_nb.name)

    return _finish(settings, record, result_path, started, course, layout)


def _crash_reason(log_text: str) -> str:
    for key, why in (
        ("DeadKernelError", "the kernel died (crash or memory exhausted)"),
        ("Kernel died", "the kernel died (crash or memory exhausted)"),
        ("UnresponsiveKernelError", "the kernel stopped responding"),
        ("MemoryError", "out of memory"),
    ):
        if key in log_text:
            return why
    lines = [ln for ln in log_text.splitlines() if "Error" in ln or "error" in ln]
    return lines[-1].strip()[:200] if lines else "nbgrader failed (see autograde.log)"


def _finish(
    settings: Settings,
    record: dict[str, Any],
    result_path: Path,
    started: float,
    course: Path,
    layout: dict[str, list],
) -> dict[str, Any]:
    # every task of every notebook has a score: nothing skipped silently
    for name, tasks in layout.items():
        record["tasks"].setdefault(name, {})
        for t in tasks:
            record["tasks"][name].setdefault(
                t["grade_id"],
                {"score": 0.0, "max": t["points"], "outcome": "missing", "message": "not graded"},
            )
    flags = list(dict.fromkeys(record["flags"]))
    record["flags"] = flags
    record["status"] = next(s for s in STATUSES if s in flags or s == "graded")
    if record["status"] == "invalid" and any(
        t["outcome"] not in ("invalid", "missing")
        for nb in record["tasks"].values()
        for t in nb.values()
    ):
        record["status"] = "graded"  # another notebook of the assignment was graded
    record["score"] = sum(t["score"] for nb in record["tasks"].values() for t in nb.values())
    record["max_score"] = sum(t["max"] for nb in record["tasks"].values() for t in nb.values())
    record["seconds"] = round(time.monotonic() - started, 2)
    feedback_dir = course / "feedback" / record["student"] / record["assignment"]
    autograded = course / "autograded" / record["student"] / record["assignment"]
    for name in layout:
        page = feedback_dir / f"{name}.html"
        if not (autograded / f"{name}.ipynb").exists():
            # nbgrader writes no feedback for it (missing, invalid, crashed): say why
            feedback_dir.mkdir(parents=True, exist_ok=True)
            page.write_text(_stub_feedback(record, name), encoding="utf-8")
    write_json_atomic(result_path, record)
    return record


def _stub_feedback(record: dict[str, Any], name: str) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(g)}</td><td>{t['score']:g} / {t['max']:g}</td>"
        f"<td>{html.escape(t['message'])}</td></tr>"
        for g, t in record["tasks"][name].items()
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in record["notes"])
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(name)}</title>"
        f"</head><body><h1>{html.escape(record['assignment'])}: {html.escape(name)}</h1>"
        f"<p>Status: <b>{record['status']}</b>. This notebook could not be run, so every task "
        f"scores 0.</p><ul>{notes}</ul><table border='1'><tr><th>task</th><th>score</th>"
        f"<th>why</th></tr>{rows}</table></body></html>"
    )


# --------------------------------------------------------------------------------------------
# the whole class


def roster(settings: Settings) -> list[str]:
    if settings.students:
        return list(settings.students)
    return sorted(
        p.name for p in settings.class_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
    )


def discover_assignments(settings: Settings) -> list[str]:
    src = settings.course_root / settings.source_dir
    return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def grade_class(settings: Settings, executor: Any = None) -> dict[str, Any]:
    """Grade every (student, assignment); rebuild the gradebook; export; write the report.

    `executor` runs grade_submission for each (student, assignment): by default
    `settings.jobs` threads here; `cluster.DaskExecutor` sends them to a Dask cluster."""
    from .cluster import LocalExecutor
    from .exchange import add_exchange_files

    settings.class_dir = settings.class_dir.resolve()
    settings.out_dir = settings.out_dir.resolve()
    settings.course_root = settings.course_root.resolve()
    if not settings.assignments:
        present = {p.name for s in settings.class_dir.iterdir() if s.is_dir() for p in s.iterdir()}
        settings.assignments = [a for a in discover_assignments(settings) if a in present]
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    choice = settings_sandbox(settings)
    course, source_hash = prepare_master(settings)
    layouts = {a: assignment_layout(course, a) for a in settings.assignments}
    for a in settings.assignments:  # before the pool: a broken solution stops everything
        reference_records(settings, course, a)
    students = roster(settings)
    jobs = [(s, a) for s in students for a in settings.assignments]
    n_workers = settings.jobs or os.cpu_count() or 1
    records: list[dict[str, Any]] = []
    t0 = time.monotonic()
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="grading", unit="submission", disable=not settings.progress)
    executor = executor or LocalExecutor(n_workers)
    calls = [(settings, course, source_hash, layouts[a], s, a) for s, a in jobs]
    names = [f"{a}-{safe_name(s)}" for s, a in jobs]
    for i, result in executor.map(grade_submission, calls, names, settings):
        s, a = jobs[i]
        if isinstance(result, dict):
            records.append(result)
        else:  # a bug in the runner itself, or a dead worker, must not lose the others
            note = getattr(result, "grading_note", None) or f"grading runner error: {result!r}"
            rec = {
                "student": s,
                "assignment": a,
                "flags": ["crashed"],
                "status": "crashed",
                "notes": [note],
                "tasks": _zero_tasks(layouts[a], layouts[a], "crashed", note),
                "resumed": False,
                "seconds": 0.0,
            }
            rec["score"] = 0.0
            rec["max_score"] = sum(t["points"] for ts in layouts[a].values() for t in ts)
            records.append(rec)  # not written to results/: retried on the next run
        bar.update(1)
        bar.set_postfix_str(f"{s}/{a}: {records[-1]['status']}", refresh=False)
    bar.close()
    elapsed = time.monotonic() - t0
    records.sort(key=lambda r: (r["assignment"], r["student"]))
    rebuild_gradebook(settings, course, students, records)
    feedback_problems = generate_feedback(settings, course)
    add_exchange_files(settings.class_dir, course, settings.assignments)
    export = export_grades(settings, course)
    summary = write_report(settings, records, export, elapsed, choice.reason)
    summary["feedback_problems"] = feedback_problems
    return summary


def generate_feedback(settings: Settings, course: Path) -> list[str]:
    """`nbgrader generate_feedback` once per assignment for every autograded notebook (one
    process per assignment instead of one per submission). Returns the notebooks left without
    feedback (should be empty)."""
    env = tool_env(settings)
    problems = []
    for a in settings.assignments:
        if not any((course / "autograded").glob(f"*/{a}/*.ipynb")):
            continue
        run_quiet(
            [*NBGRADER, "generate_feedback", a, "--force"],
            course,
            env,
            settings.out_dir / "state" / "feedback.log",
            1800,
        )
        for nb in (course / "autograded").glob(f"*/{a}/*.ipynb"):
            student = nb.parent.parent.name
            if not (course / "feedback" / student / a / f"{nb.stem}.html").exists():
                problems.append(f"{student}/{a}/{nb.stem}: no feedback written")
    return problems


def load_course_config(settings: Settings) -> Any:
    """The instructor's nbgrader configuration (``nbgrader_config.py`` of the course, or
    ``settings.config_file``): due dates and the late-penalty plugin come from it."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    path = settings.config_file or settings.course_root / "nbgrader_config.py"
    if not Path(path).is_file():
        return Config()
    return PyFileConfigLoader(Path(path).name, path=str(Path(path).parent)).load_config()


def late_plugin(config: Any) -> Any:
    """The late-penalty plugin nbgrader's AssignLatePenalties would use with this config
    (``c.AssignLatePenalties.plugin_class``; default nbgrader's LateSubmissionPlugin, whose
    ``penalty_method`` is none or zero; ``tools.grading.late.PercentPerDay`` takes a share)."""
    from nbgrader.plugins import LateSubmissionPlugin
    from traitlets.utils.importstring import import_item

    cls = config.get("AssignLatePenalties", {}).get("plugin_class", LateSubmissionPlugin)
    if isinstance(cls, str):
        cls = import_item(cls)
    return cls(config=config)


def _manual_edits(db: Path) -> tuple[dict[tuple, tuple], dict[tuple, str]]:
    """What an instructor entered in formgrader (manual scores, extra credit, comments), keyed
    by (student, assignment, notebook, cell), so a re-run of the runner keeps it."""
    from nbgrader.api import Comment, Grade, Gradebook

    grades: dict[tuple, tuple] = {}
    comments: dict[tuple, str] = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for g in gb.db.query(Grade).all():
            if g.manual_score is not None or g.extra_credit is not None:
                nb = g.notebook
                key = (nb.student.id, nb.assignment.name, nb.name, g.name)
                grades[key] = (g.manual_score, g.extra_credit)
        for c in gb.db.query(Comment).all():
            if c.manual_comment:
                nb = c.notebook
                comments[(nb.student.id, nb.assignment.name, nb.name, c.name)] = c.manual_comment
    return grades, comments


def rebuild_gradebook(
    settings: Settings, course: Path, students: Sequence[str], records: Sequence[dict]
) -> None:
    """The main gradebook = the assignment-only gradebook + every result record (serially),
    with nbgrader's dates and penalties: due dates from the course config, submission times
    from timestamp.txt, the late penalty from the configured plugin; and whatever was graded by
    hand in formgrader kept from the previous gradebook."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    db = course / "gradebook.db"
    tmp = course / "gradebook.db.new"
    manual, comments = _manual_edits(db) if db.exists() else ({}, {})
    config = load_course_config(settings)
    due_dates = dict(config.get("CourseGrading", {}).get("due_dates", {}) or {})
    plugin = late_plugin(config)
    shutil.copy(settings.out_dir / "state" / "pristine.db", tmp)
    with Gradebook(f"sqlite:///{tmp}") as gb:
        for a in settings.assignments:
            if due_dates.get(a):
                gb.update_or_create_assignment(a, duedate=parse_utc(due_dates[a]))
        for s in students:
            gb.update_or_create_student(s)
        for r in records:
            if r["status"] == "missing":
                continue  # no submission row: nbgrader export reports 0 for it
            a, s = r["assignment"], r["student"]
            stamp = r.get("timestamp")
            sub = gb.update_or_create_submission(
                a, s, timestamp=parse_utc(stamp) if stamp else None
            )
            for name, tasks in r["tasks"].items():
                for gid, t in tasks.items():
                    g = gb.find_grade(gid, name, a, s)
                    g.auto_score = t["score"]
                    g.needs_manual_grade = False
                    if (s, a, name, gid) in manual:
                        g.manual_score, g.extra_credit = manual[(s, a, name, gid)]
            for (cs, ca, cname, cid), text in comments.items():
                if (cs, ca) == (s, a):
                    gb.find_comment(cid, cname, a, s).manual_comment = text
            gb.db.commit()
            # what nbgrader exports as raw_score: manual scores override automatic ones
            r["gradebook_score"] = float(sub.score)
            seconds_late = sub.total_seconds_late
            for nb in sub.notebooks:  # as nbgrader's AssignLatePenalties does, per notebook
                nb.late_submission_penalty = None
                if seconds_late > 0:
                    penalty = plugin.late_submission_penalty(s, nb.score, seconds_late)
                    if penalty is not None:
                        nb.late_submission_penalty = min(max(penalty, 0.0), nb.score)
            gb.db.commit()
    os.replace(tmp, db)


def export_grades(settings: Settings, course: Path) -> list[dict[str, str]]:
    import csv

    out = course / "grades.csv"
    out.unlink(missing_ok=True)
    rc = run_quiet(
        [*NBGRADER, "export", f"--to={out}"],
        course,
        tool_env(settings),
        settings.out_dir / "state" / "export.log",
        300,
    )
    if rc != 0 or not out.exists():
        raise RuntimeError("nbgrader export failed; see state/export.log")
    shutil.copy(out, settings.out_dir / "grades.csv")
    with open(out, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write_report(
    settings: Settings,
    records: Sequence[dict],
    export: Sequence[dict],
    elapsed: float,
    sandbox: str = "",
) -> dict[str, Any]:
    import csv

    exported = {(row["student_id"], row["assignment"]): float(row["raw_score"]) for row in export}
    problems = []
    for r in records:
        got = exported.get((r["student"], r["assignment"]))
        want = r.get("gradebook_score", r["score"])  # (with any score entered in formgrader)
        if got is None or abs(got - want) > 1e-9:
            problems.append(f"{r['student']}/{r['assignment']}: report {want}, export {got}")
    rows = []
    for r in records:
        tasks = "; ".join(
            f"{g}={t['score']:g}/{t['max']:g}" for nb in r["tasks"].values() for g, t in nb.items()
        )
        rows.append(
            {
                "student": r["student"],
                "assignment": r["assignment"],
                "status": r["status"],
                "score": f"{r['score']:g}",
                "max_score": f"{r['max_score']:g}",
                "flags": " ".join(r["flags"]),
                "tasks": tasks,
                "notes": " | ".join(r["notes"]),
                "seconds": r.get("seconds", 0),
            }
        )
    with open(settings.out_dir / "report.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["student"])
        w.writeheader()
        w.writerows(rows)
    graded_now = [r for r in records if not r.get("resumed") and r.get("seconds", 0) > 0]
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    per_min = 60 * len(graded_now) / elapsed if elapsed > 0 and graded_now else 0.0
    lines = [
        "# Grading report",
        "",
        f"{len(records)} submissions ({len(graded_now)} graded in this run, "
        f"{len(records) - len(graded_now)} reused), {elapsed:.0f} s, "
        f"{per_min:.1f} submissions/minute, device {settings.device}.",
        "",
        f"Sandbox: {sandbox}.",
        "",
        "Statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
        "",
        "Export check: " + ("every score matches nbgrader export." if not problems else "MISMATCH"),
        *[f"- {p}" for p in problems],
        "",
        "| student | assignment | status | score | notes |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        notes = html.escape(row["notes"], quote=False).replace("|", "/")
        lines.append(
            f"| {row['student']} | {row['assignment']} | {row['status']} | "
            f"{row['score']}/{row['max_score']} | {notes} |"
        )
    (settings.out_dir / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = {
        "submissions": len(records),
        "graded_now": len(graded_now),
        "elapsed_s": elapsed,
        "per_minute": per_min,
        "statuses": counts,
        "export_mismatches": problems,
        "sandbox": sandbox,
        "mean_seconds": (sum(r["seconds"] for r in graded_now) / len(graded_now))
        if graded_now
        else 0.0,
    }
    write_json_atomic(settings.out_dir / "summary.json", summary)
    return summary
