"""One long-lived nbgrader process per grading thread: nbgrader, SQLAlchemy and nbconvert are
imported once, then every submission of that thread is autograded through nbgrader's Python API
(the very `nbgrader autograde` application, started in-process as nbgrader's own test suite does).

What this saves is only nbgrader's start-up (a Python process and its imports: over a CPU-second
per submission). What isolates students is unchanged, because it never was this process:

- each submission still gets its own fresh kernel in its own bubblewrap sandbox, started by
  nbgrader for that submission and stopped after it, with its own scratch folder (TMPDIR) and
  kernelspec; student code never runs in this process;
- the verdicts are still decided by the runner (submission.py), outside any kernel;
- a submission that runs past its time limit gets this process and everything below it (its
  kernel, its sandbox) killed, as the one-process-per-submission design did; a process that died
  (killed, crashed) is replaced by a fresh one for the next request, and the submission whose
  request it was is retried once by the runner, then reported `crashed`: never a lost grade.

Protocol: the runner writes one JSON request per line on this process's stdin, ``{"cwd": course,
"env": {...}, "argv": ["autograde", ...], "log": path}``; this process answers one JSON line
``{"rc": exit status, "seconds": wall time}`` on the descriptor stdout had at start (nbgrader's own
printing goes to stderr).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import REPO, _die_with_parent, kill_tree

# a fresh process after this many submissions: whatever nbgrader or its libraries keep
# between runs (caches, handlers) cannot grow without bound
MAX_REQUESTS = 100


def serve() -> None:
    """The process's main loop (what ``AutogradeWorker`` starts)."""
    import logging

    from jupyter_core.application import NoStart
    from nbgrader.apps import NbGraderApp  # the imports this process exists to pay once

    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever nbgrader prints cannot corrupt the replies
    sys.stdout = sys.stderr
    base_path = list(sys.path)
    for line in sys.stdin:
        request = json.loads(line)
        started = time.monotonic()
        cpu0 = _cpu()
        os.chdir(request["cwd"])
        os.environ.clear()  # (the kernels nbgrader starts inherit this environment)
        os.environ.update(request["env"])
        _show(request["argv"])
        app = NbGraderApp.instance()
        with open(request["log"], "a", encoding="utf-8") as log:
            # as a process of its own had: what nbgrader and its kernel print goes to the log
            saved_stderr = os.dup(2)
            os.dup2(log.fileno(), 2)
            try:
                app.initialize(request["argv"])
                app.init_logging(logging.StreamHandler, [log], color=False)
                app.start()
                rc = 0
            except NoStart:  # (how a subcommand's application ends when it succeeded)
                rc = 0
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 1
            except Exception as exc:  # nbgrader's own failure: reported as its exit status
                log.write(f"[grading worker] nbgrader raised {exc!r}\n")
                rc = 1
            finally:
                with contextlib.suppress(Exception):
                    app.reset()
                sys.path[:] = base_path  # (nbgrader puts the course folder first on sys.path)
                sys.stderr.flush()
                os.dup2(saved_stderr, 2)
                os.close(saved_stderr)
        cpu = [b - a for a, b in zip(cpu0, _cpu(), strict=True)]
        reply = {
            "rc": rc,
            "seconds": time.monotonic() - started,
            "cpu": cpu[0],
            "cpu_kernel": cpu[1],
        }
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
        _show(["(idle)"])


def _show(argv: Sequence[str]) -> None:
    """Show what this process is doing as its command line (``ps``, psutil): ``nbgrader
    autograde ex01 --student=eve --force`` while it grades eve, as the process of its own had.
    Written over this process's own argv memory (what setproctitle does), NUL-separated, cut to
    the room the start-up command line reserved (``_ROOM``)."""
    import ctypes

    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48, 49)
    except (OSError, IndexError, ValueError):
        return
    text = b"\0".join(os.fsencode(a) for a in ["nbgrader", *argv])[: end - start - 1]
    ctypes.memmove(start, text.ljust(end - start, b"\0"), end - start)


_ROOM = 400  # bytes of command line reserved for _show


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process, and of its children that ended (the kernels)."""
    import resource

    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


class AutogradeWorker:
    """The runner's handle on one long-lived nbgrader process (started on first use)."""

    def __init__(self, log: Path | None = None) -> None:
        self.proc: subprocess.Popen | None = None
        self.requests = 0
        self.log = log
        self.starts = 0  # processes started (for tests and the benchmark)
        self.last: dict[str, Any] = {}  # the last reply

    def _start(self) -> subprocess.Popen:
        if self.log:
            self.log.parent.mkdir(parents=True, exist_ok=True)
        stderr = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRADING_")}
        bin_dir = str(Path(sys.executable).parent)  # nbgrader calls `alembic` from PATH
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from tools.grading.worker import serve; serve()",
                    "#" * _ROOM,
                ],
                cwd=REPO,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            if self.log:
                stderr.close()  # type: ignore[union-attr]
        self.starts += 1
        self.requests = 0
        return proc

    def warm(self) -> AutogradeWorker:
        """Start the process now (it imports nbgrader while the caller does something else)."""
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self.proc = self._start()
        return self

    def run(
        self, argv: Sequence[str], cwd: Path, env: dict[str, str], log: Path, timeout: float
    ) -> int:
        """nbgrader ``argv`` in ``cwd`` with ``env`` (its kernels' too), logging to ``log``.
        Returns its exit status, -9 when it ran past ``timeout`` seconds (the process and its
        kernel killed), or -1 when the process died under it (replaced for the next call)."""
        if self.proc is None or self.proc.poll() is not None or self.requests >= MAX_REQUESTS:
            self.close()
            self.proc = self._start()
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None
        request = {"cwd": str(cwd), "env": env, "argv": list(argv), "log": str(log)}
        self.requests += 1
        try:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.stdin.flush()
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._kill()
                    return -9
                ready, _, _ = select.select([proc.stdout], [], [], min(left, 1.0))
                if ready:
                    line = proc.stdout.readline()
                    if not line:  # the process died (killed, crashed)
                        raise BrokenPipeError("grading worker exited")
                    self.last = json.loads(line)  # (its time and CPU: the benchmark)
                    return int(self.last["rc"])
        except (BrokenPipeError, OSError, ValueError) as exc:
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"[grading worker] the nbgrader process died: {exc!r}\n")
            self._kill()
            return -1
        except BaseException:
            self._kill()
            raise

    def _kill(self) -> None:
        if self.proc is not None:
            kill_tree(self.proc.pid)
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=10)
            self.proc = None

    def close(self) -> None:
        """Stop the process (it is idle between requests: nothing is lost)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
        self._kill()


_LOCAL = threading.local()


def thread_worker(log: Path | None = None) -> AutogradeWorker:
    """This thread's worker (a local run's pool thread, a Dask worker's thread): one nbgrader
    process per thread, so the submissions of one thread share it one at a time and those of
    different threads never share anything. It dies with its thread (PR_SET_PDEATHSIG)."""
    worker = getattr(_LOCAL, "worker", None)
    if worker is None:
        worker = _LOCAL.worker = AutogradeWorker(log)
    return worker


def grading_course(settings: Any, course: Path, assignment: str, source_hash: str) -> Path:
    """This thread's nbgrader course for ``assignment``, made on first use (per run and per
    version of the assignment): ``source``/``release`` links to OUT/course's and its own copy of
    the assignment-only gradebook, so threads never share a SQLite file ("database is locked").
    Each submission puts its notebooks under ``submitted/<student>`` and its grading removes
    them (and its ``autograded/<student>``) when it is done."""
    import shutil
    import socket

    key = (str(settings.out_dir), assignment, source_hash)
    courses = _LOCAL.__dict__.setdefault("courses", {})
    if key in courses and (courses[key] / "gradebook.db").exists():
        return courses[key]
    tag = f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"
    root = settings.out_dir / "work" / assignment / f".grader-{tag}"
    shutil.rmtree(root, ignore_errors=True)
    for sub in ("source", "release", "submitted", "autograded"):
        (root / sub).mkdir(parents=True)
    os.symlink(course / "source" / assignment, root / "source" / assignment)
    os.symlink(course / "release" / assignment, root / "release" / assignment)
    shutil.copy(settings.out_dir / "state" / "pristine.db", root / "gradebook.db")
    courses[key] = root
    return root
