"""Stage 1, prepare the course: the master nbgrader course (source, release, assignment-only
gradebook), its configuration and kernelspecs, the sandbox choice and the reference run of the
instructor's solution (what each check expects).
"""

import contextlib
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
    REFERENCE_SCRIPT,
    REPO,
    SANDBOX_SCRIPT,
    Settings,
    check_files,
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
{_feedback_config(settings)}
# the sandboxed kernel has no network: nbgrader reaches it over Unix sockets
c.KernelManager.transport = {"ipc" if ipc else "tcp"!r}
{f"c.KernelManager.ip = {str(ipc / 'k')!r}" if ipc else ""}
{f"c.KernelManager.connection_file = {str(ipc / 'kernel.json')!r}" if ipc else ""}
""",
        encoding="utf-8",
    )


def show_hidden_tests(settings: Settings) -> bool:
    """``c.CourseGrading.show_hidden_tests`` of the course's nbgrader_config.py (default False:
    the students' feedback leaves the hidden tests' code out)."""
    from .collect import load_course_config

    return bool(load_course_config(settings).get("CourseGrading", {}).get("show_hidden_tests"))


def _feedback_config(settings: Settings) -> str:
    if show_hidden_tests(settings):
        return "# c.CourseGrading.show_hidden_tests = True: feedback shows the hidden tests"
    return (
        "# feedback without the hidden tests' code (c.CourseGrading.show_hidden_tests = True\n"
        "# in the course's nbgrader_config.py shows it)\n"
        "from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor\n"
        "from nbgrader.preprocessors import GetGrades\n"
        "from tools.grading.preprocessors import HideHiddenTests\n"
        "c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]"
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
    gradebook, OUT/state/pristine.db (collect.update_gradebook copies the definitions into the
    course's gradebook). Reused while the solutions do not change."""
    course = settings.out_dir / "course"
    state = settings.out_dir / "state"
    state.mkdir(parents=True, exist_ok=True)
    src_root = settings.course_root / settings.source_dir
    files = [p for a in settings.assignments for p in (src_root / a).rglob("*")]
    source_hash = tree_hash(files, src_root) + "|" + ",".join(settings.assignments)
    stamp = state / "source.hash"
    pristine = state / "pristine.db"
    if stamp.exists() and stamp.read_text() == source_hash and pristine.exists():
        write_nbgrader_config(course, settings)  # (the course's settings may have changed)
        return course, source_hash
    course.mkdir(parents=True, exist_ok=True)
    for a in settings.assignments:  # (the other assignments' folders stay: partial runs)
        for sub in ("source", "release"):
            shutil.rmtree(course / sub / a, ignore_errors=True)
        shutil.copytree(src_root / a, course / "source" / a)
    write_nbgrader_config(course, settings)
    pristine.unlink(missing_ok=True)  # course/gradebook.db is the instructor's: never removed
    env = tool_env(settings)
    log = state / "generate.log"
    from .worker import thread_worker

    for a in settings.assignments:  # (in this thread's long-lived nbgrader process)
        rc = thread_worker().run(
            ["generate_assignment", a, "--force", f"--db=sqlite:///{pristine}"],
            course,
            env,
            log,
            600,
        )
        if rc != 0:
            raise RuntimeError(f"nbgrader generate_assignment {a} failed; see {log}")
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


class InfrastructureError(RuntimeError):
    """The grading machinery failed (sandbox, interpreter, libraries, cluster), not the student:
    never a student's grade. The run stops with this message, which says what to fix."""


def kernel_setup(
    settings: Settings, work: Path, key: str, protect: list[Path], ipc: Path | None, choice: Any
) -> dict[str, str]:
    """The environment of a grading kernel whose scratch folder is ``work`` (``work/tmp`` its
    TMPDIR, ``work/kernels`` its kernelspec, written here), sandboxed when ``ipc`` (the socket
    folder) is given. ``protect``: grading files of ``work`` the kernel must not read."""
    env = tool_env(settings)
    env["TMPDIR"] = str(work / "tmp")
    # torch._dynamo (imported by the first torch.optim optimizer) makes its cache folder on
    # import, by default /tmp/torchinductor_<user>, which the kernel may not write: in its scratch
    env["TORCHINDUCTOR_CACHE_DIR"] = str(work / "tmp" / "torchinductor")
    env["CONVLIB_CHECK_MODE"] = "record"  # the checks report; the runner judges
    # RLIMIT_AS on the CPU; on a GPU, CUDA's address-space reservations rule it out, so the
    # kernel watches its resident memory instead
    cap = str(settings.mem_limit_mb * 2**20)
    env["GRADING_MEM_BYTES"] = cap if settings.device == "cpu" else "0"
    env["GRADING_RSS_BYTES"] = "0" if settings.device == "cpu" else cap
    env["GRADING_MAX_OUTPUT"] = str(settings.max_output_chars)
    guarded = [settings.course_root / settings.source_dir, settings.class_dir, settings.out_dir]
    # the in-process guard (second layer) refuses to read these
    env["GRADING_PROTECT"] = os.pathsep.join(str(p) for p in [*guarded, *protect])
    env["JUPYTER_PATH"] = str(work / "kernels")
    if ipc is None:
        write_kernelspec(work / "kernels", [sys.executable, str(KERNEL_SCRIPT)])
        return env
    from . import sandbox

    # the sandbox shows none of these (the Python environment, convlib and the notebook's own
    # folders are bound back in): no solutions, gradebook, other submissions, course files
    plan = sandbox.plan_for(
        bwrap=str(choice.bwrap),
        key=key,
        hide=[REPO, settings.course_root, settings.class_dir, settings.out_dir],
        rw=[work / "tmp", ipc],
        cpu_seconds=2 * settings.submission_timeout,
    )
    write_json_atomic(work / "sandbox.json", plan)
    write_kernelspec(
        work / "kernels", [sys.executable, str(SANDBOX_SCRIPT), str(work / "sandbox.json")]
    )
    return env


PROBE_CODE = """import sys, torch, convlib, convlib.check
print("probe-python", sys.executable)
print("probe-torch", torch.__version__, torch.cuda.is_available(), torch.cuda.device_count())
"""


def probe_kernel(settings: Settings) -> str:
    """Start one grading kernel exactly as a submission's (sandbox, interpreter, kernel.py's
    guards, nbgrader's transport) and import torch and convlib in it; with ``--device cuda``,
    require a GPU there. Returns what the kernel saw; raises InfrastructureError, saying what
    to fix, on any fault. Run before anyone is graded (and on every Dask worker)."""
    import socket
    import tempfile

    from jupyter_client.manager import KernelManager

    choice = settings_sandbox(settings)
    root = settings.out_dir / "state" / "probe" / f"{socket.gethostname()}-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "tmp").mkdir(parents=True)
    (root / "nb").mkdir()
    ipc = Path(tempfile.mkdtemp(prefix="gp", dir="/tmp")) if choice.kind == "bwrap" else None
    env = kernel_setup(settings, root, "probe", [], ipc, choice)
    log_path = root / "kernel.log"
    where = f"the {choice.kind} sandbox" if choice.kind == "bwrap" else "no sandbox"
    lines: list[str] = []
    km = None
    try:
        with open(log_path, "wb") as log:
            km = KernelManager(
                kernel_name="python3",
                kernel_spec_manager=_spec_manager(root / "kernels"),
                **({"transport": "ipc", "ip": str(ipc / "k")} if ipc else {}),
            )
            if ipc:
                km.connection_file = str(ipc / "kernel.json")
            km.start_kernel(cwd=str(root / "nb"), env=env, stdout=log, stderr=log)
            kc = km.client()
            kc.start_channels()
            try:
                kc.wait_for_ready(timeout=120)

                def hook(msg: dict) -> None:
                    c = msg["content"]
                    if msg["msg_type"] == "stream":
                        lines.append(c["text"])
                    elif msg["msg_type"] == "error":
                        lines.append(f"ERROR {c['ename']}: {c['evalue']}")

                kc.execute_interactive(PROBE_CODE, timeout=120, output_hook=hook)
            finally:
                kc.stop_channels()
    except Exception as exc:
        log_text = (
            log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
        )
        tail = " | ".join(ln.strip() for ln in log_text.strip().splitlines()[-4:])
        raise InfrastructureError(
            f"a grading kernel cannot start here ({where}, {sys.executable}): {exc!r:.300}. "
            f"Its output: {tail or '(none)'}. Check that the venv and convlib are readable at "
            "these paths, or try --sandbox=none to see whether the sandbox is the cause. "
            "Nobody was graded."
        ) from exc
    finally:
        if km is not None:
            with contextlib.suppress(Exception):
                km.shutdown_kernel(now=True)
        if ipc is not None:
            shutil.rmtree(ipc, ignore_errors=True)
    seen = "".join(lines)
    if "ERROR" in seen or "probe-torch" not in seen:
        raise InfrastructureError(
            f"the grading kernel ({where}, {sys.executable}) cannot import what the notebooks "
            f"need: {seen.strip()[:400]}. Install the course into this venv "
            "(`pip install -e .` in the course root, what `make setup` does). Nobody was graded."
        )
    if settings.device.startswith("cuda") and " True " not in seen + " ":
        raise InfrastructureError(
            f"--device {settings.device} but torch in the grading kernel sees no CUDA device "
            f"({seen.strip()}): install a CUDA build of torch in the venv and run on a GPU "
            "machine, or grade with --device cpu. Nobody was graded."
        )
    shutil.rmtree(root, ignore_errors=True)
    return seen


def _spec_manager(folder: Path) -> Any:
    """A kernelspec manager that finds only the grading kernelspec under ``folder``."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager(kernel_dirs=[str(folder / "kernels")])


INFRASTRUCTURE_SIGNS = (  # in autograde's log: the kernel failed before any cell ran
    ("Kernel died before replying to kernel_info", "the kernel died as it started"),
    ("Kernel didn't respond in", "the kernel did not start in time"),
    ("No such kernel named", "no grading kernelspec"),
)


def infrastructure_failure(log_text: str, notebook: Any | None = None) -> str | None:
    """Why an autograde failed because of the grading machinery (None: not that): the kernel
    died before running a cell, or the notebook's setup could not import torch or convlib (no
    student code runs before the setup cell)."""
    for sign, why in INFRASTRUCTURE_SIGNS:
        if sign in log_text:
            return f"{why} ({sign})"
    for cell in notebook.cells if notebook is not None else []:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if not meta.get("locked") or meta.get("grade"):
            break  # a student's cell, or the first test: from here on, student code ran
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") in (
                "ModuleNotFoundError",
                "ImportError",
            ):
                text = str(out.get("evalue", ""))
                if any(name in text for name in ("torch", "convlib", "numpy")):
                    return f"the setup cell cannot import: {out.get('ename')}: {text[:200]}"
    return None


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
            + tree_hash(check_files(), REPO)
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
                CONVLIB_CHECK_MODE="reference",
                JUPYTER_PATH=str(kernels),
                TMPDIR=str(cache / "tmp"),
                TORCHINDUCTOR_CACHE_DIR=str(cache / "tmp" / "torchinductor"),
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
