"""What every stage of grading shares: the settings, paths, hashing, atomic writes and
subprocesses (with their whole tree killed on a timeout).
"""

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    # nbgrader's roster CSV (id, first_name, last_name, email, extension): names reach the export
    roster_file: Path | None = None
    extensions_file: Path | None = None  # CSV id, assignment, extension (late.py)

    @property
    def grading_key(self) -> str:
        """Everything besides the submission that its grade depends on (the runner's own code
        included): a record made under another key is regraded."""
        code = Path(__file__).parent
        checks = REPO / "convlib"
        return json.dumps(
            [
                tree_hash(code.glob("*.py"), code),
                tree_hash(check_files(), checks),
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


def check_files() -> list[Path]:
    """The course code a grade depends on: the checks (``convlib/check.py``, ``tamper.py``, the
    per-assignment ``convlib/checks/``) and the library they compute answers with; not the
    figures (``viz``) or the benchmark, so a book edit does not regrade a class."""
    root = REPO / "convlib"
    return [
        p
        for p in root.rglob("*.py")
        if "viz" not in p.relative_to(root).parts and p.name != "bench.py"
    ]


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
