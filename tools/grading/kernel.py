"""Jupyter kernel launcher used while autograding: limits and guards, then a normal ipykernel.

nbgrader starts the kernel named in the notebook ("python3"); the grading runner puts a kernelspec
of that name first on JUPYTER_PATH whose argv runs this file. Before any student code runs it:

- caps the kernel's address space (GRADING_MEM_BYTES, RLIMIT_AS; a memory bomb then raises
  MemoryError inside the cell instead of taking the machine down) or, on GPUs where CUDA needs a
  huge address space, its resident memory (GRADING_RSS_BYTES, a watchdog thread); caps file
  size (RLIMIT_FSIZE) and core dumps, and asks Linux to kill the kernel if nbgrader dies (no
  orphaned infinite loops);
- imports torch and convlib.check, then freezes the modules the hidden tests rely on so that
  rebinding `torch.nn.functional.conv2d` or `torch.testing.assert_close` raises instead of
  silently changing the reference the tests compare against;
- installs a Python audit hook (it cannot be removed by later code) that refuses to read the
  grading files (solutions, gradebook, other submissions: GRADING_PROTECT), to write anywhere but
  its own TMPDIR (so the course library and reference data on disk cannot be altered), to start
  processes, to open SQLite databases, to walk the garbage collector, or to call C functions
  through ctypes;
- caps the text a kernel may send as output (GRADING_MAX_OUTPUT characters);
- installs convlib.check's cell guard (``convlib.tamper``), as importing it in Jupyter does.

Inside the bubblewrap sandbox (tools/grading/sandbox.py) it first drops to the sandbox user.
These guards are the second layer: they never decide a grade (the runner judges the records the
checks emit, outside this process) and ordinary code never trips them.

It runs as a script (not `-m`) so that the kernel's sys.path does not contain the repository root.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import resource
import sys

_REFUSED = "GradingPolicyError"
_TORCH_DIR: list[str] = []  # torch's folder, once imported (see _FrozenModule)
_PROC_SECRETS = frozenset({"mem", "environ", "cmdline", "fd", "cwd", "root", "maps", "smaps"})


def _set_limits() -> None:
    mem = int(os.environ.get("GRADING_MEM_BYTES", "0"))
    if mem > 0:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    rss = int(os.environ.get("GRADING_RSS_BYTES", "0"))
    if rss > 0:
        _watch_resident_memory(rss)
    fsize = int(os.environ.get("GRADING_FSIZE_BYTES", str(256 * 2**20)))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:  # Linux only: die with the parent (PR_SET_PDEATHSIG = 1)
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except Exception:
        pass


def _watch_resident_memory(limit: int) -> None:
    """Cap the kernel's resident memory where RLIMIT_AS cannot be used.

    CUDA reserves terabytes of virtual address space, so on a GPU the address-space cap would stop
    torch itself. Instead a thread samples the resident set size: past `limit` it raises
    MemoryError in the main thread (the cell fails, the kernel survives, as with RLIMIT_AS on the
    CPU); past 1.5 x `limit` (the signal was ignored, or memory grows faster than the cell can
    stop) it kills the kernel, which the runner records as a crash.
    """
    import signal
    import threading
    import time

    page = os.sysconf("SC_PAGE_SIZE")
    statm = open("/proc/self/statm", "rb", buffering=0)  # noqa: SIM115  (kept open by the thread)
    main_thread = threading.main_thread().ident
    assert main_thread is not None

    def over_limit(signum: int, frame: object) -> None:
        raise MemoryError(f"the kernel's memory cap ({limit // 2**20} MiB) was exceeded")

    signal.signal(signal.SIGUSR1, over_limit)

    def watch() -> None:
        while True:
            statm.seek(0)
            resident = int(statm.read().split()[1]) * page
            if resident > limit * 3 // 2:
                os.kill(os.getpid(), signal.SIGKILL)
            if resident > limit:
                signal.pthread_kill(main_thread, signal.SIGUSR1)
                time.sleep(0.5)  # give the cell time to unwind and free what it allocated
            time.sleep(0.02)

    threading.Thread(target=watch, name="grading-memory-watch", daemon=True).start()


def _preimport() -> None:
    """Import what notebooks use before the guards go up (imports load shared libraries)."""
    import ctypes.util  # noqa: F401  (loaded now so later lookups need no new dlopen)

    import numpy  # noqa: F401
    import torch
    import torch.nn.functional  # noqa: F401
    import torch.testing  # noqa: F401

    try:
        import convlib  # noqa: F401
        import convlib.check  # noqa: F401
    except Exception:  # convlib.check may not exist in a throwaway course
        pass
    torch.set_num_threads(int(os.environ.get("GRADING_TORCH_THREADS", "1")))


class _FrozenModule(type(sys)):  # type: ignore[misc]
    """A module whose existing attributes cannot be rebound or deleted (new names are allowed:
    the import system binds submodules on their parent)."""

    def __setattr__(self, name: str, value: object) -> None:
        current = self.__dict__.get(name, value)
        rebinding_submodule = (  # the import system re-binding a freshly imported submodule
            isinstance(value, type(sys)) and value.__name__ == f"{self.__name__}.{name}"
        )
        # torch's own code may rebind: importing torch._dynamo (the first torch.optim optimizer
        # does) wraps torch.manual_seed; notebook code cannot write files under torch's folder
        by_torch = sys._getframe(1).f_code.co_filename.startswith(tuple(_TORCH_DIR))
        if current is not value and not rebinding_submodule and not by_torch:
            raise AttributeError(
                f"{_REFUSED}: changing {self.__name__}.{name} is not allowed while grading"
            )
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(
            f"{_REFUSED}: deleting {self.__name__}.{name} is not allowed while grading"
        )


def _freeze_modules() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.__file__:
        _TORCH_DIR.append(os.path.dirname(torch.__file__) + os.sep)
    prefixes = ("torch.nn.functional", "torch.testing", "convlib")
    names = {"torch", "numpy"}
    for name in list(sys.modules):
        if name in names or name.startswith(prefixes):
            module = sys.modules.get(name)
            if module is not None and type(module) is type(sys):
                with contextlib.suppress(TypeError):
                    module.__class__ = _FrozenModule


def _install_audit_hook() -> None:
    protected = tuple(
        os.path.realpath(p) for p in os.environ.get("GRADING_PROTECT", "").split(os.pathsep) if p
    )
    workdir = os.path.realpath(os.getcwd())
    # the only places code may write to: its own temporary folder (TMPDIR) and /dev/shm
    writable = tuple(
        os.path.realpath(p) for p in (os.environ.get("TMPDIR", "/nonexistent"), "/dev/shm")
    )
    own_proc = f"/proc/{os.getpid()}"
    realpath = os.path.realpath
    fspath_types = (str, bytes)

    def under(path: str, root: str) -> bool:
        return path == root or path.startswith(root + os.sep)

    def refused_path(path: object, write: bool) -> str | None:
        if isinstance(path, pathlib.PurePath) and type(path).__module__ == "pathlib":
            path = str(path)  # the standard path classes (a subclass could run code in __str__)
        if type(path) not in fspath_types:
            return None  # a file descriptor: the file was opened (and checked) before
        p = os.fsdecode(path)  # type: ignore[arg-type]
        full = realpath(p)
        # /proc/<pid>/stat is read by ipykernel itself when interrupted; the parts that expose
        # another process's memory, environment or files are not readable
        other_process = under(full, "/proc") and not under(full, own_proc) and full[6:7].isdigit()
        if other_process and (
            os.path.basename(full) in _PROC_SECRETS or "/fd/" in full or "/map_files/" in full
        ):
            return f"reading another process ({p})"
        if write:
            if any(under(full, root) for root in writable) or full == "/dev/null":
                return None
            return f"writing files ({p})"
        if under(full, workdir) or any(under(full, root) for root in writable):
            return None
        for root in protected:
            if under(full, root):
                return f"access to grading files ({p})"
        return None

    always_refused = {
        "subprocess.Popen": "starting a process",
        "os.system": "starting a process",
        "os.exec": "starting a process",
        "os.posix_spawn": "starting a process",
        "os.spawn": "starting a process",
        "os.fork": "starting a process",
        "os.forkpty": "starting a process",
        "pty.spawn": "starting a process",
        "gc.get_objects": "walking the garbage collector",
        "gc.get_referrers": "walking the garbage collector",
        "gc.get_referents": "walking the garbage collector",
        "ctypes.dlopen": "loading a C library",
        "ctypes.call_function": "calling C code through ctypes",
        "ctypes.cdata": "reading raw memory through ctypes",
        "ctypes.addressof": "reading raw memory through ctypes",
    }
    path_events = {
        "os.listdir": 0,
        "os.scandir": 0,
        "glob.glob": 0,
        "os.remove": 0,
        "os.rmdir": 0,
        "os.truncate": 0,
        "os.chmod": 0,
        "os.chown": 0,
        "os.utime": 0,
        "os.mkdir": 0,
        "os.symlink": 1,
        "os.link": 1,
        "os.rename": 0,
        "shutil.rmtree": 0,
        "shutil.copyfile": 1,
    }
    writing = {
        "os.remove",
        "os.rmdir",
        "os.truncate",
        "os.chmod",
        "os.chown",
        "os.utime",
        "os.mkdir",
        "os.symlink",
        "os.link",
        "os.rename",
        "shutil.rmtree",
        "shutil.copyfile",
    }

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode = args[0], args[1]
            write = mode is not None and any(c in str(mode) for c in "wax+")
            if isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                write = True
            why = refused_path(path, write)
        elif event == "sqlite3.connect":
            why = None if args and args[0] == ":memory:" else "opening a database"
        elif event in always_refused:
            why = always_refused[event]
        elif event in path_events:
            why = refused_path(args[path_events[event]], event in writing)
            if why is None and event in ("os.rename", "os.link", "shutil.copyfile"):
                why = refused_path(args[0], True)
        else:
            return
        if why:
            raise PermissionError(f"{_REFUSED}: {why} is not allowed while grading")

    sys.addaudithook(hook)


def _cap_output() -> None:
    """Stop forwarding output after GRADING_MAX_OUTPUT characters (per kernel)."""
    from ipykernel import iostream

    limit = int(os.environ.get("GRADING_MAX_OUTPUT", str(2 * 2**20)))
    original = iostream.OutStream.write
    state = {"sent": 0, "noted": False}

    def write(self: iostream.OutStream, string: str) -> int | None:
        room = limit - state["sent"]
        if room <= 0:
            if not state["noted"]:
                state["noted"] = True
                original(self, "\n... output truncated by the grader ...\n")
            return len(string)
        state["sent"] += len(string)
        return original(self, string[:room])

    iostream.OutStream.write = write  # type: ignore[method-assign]


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    import sandbox  # (this folder is still on sys.path: the launcher runs this file)

    sandbox.drop_privileges()  # inside bubblewrap: the sandbox user, process cap
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    del sys.modules["sandbox"]
    _set_limits()
    _preimport()
    _cap_output()
    from ipykernel.kernelapp import IPKernelApp

    # GRADING_GUARDS=0 turns the in-process guards off, so tests can show that the OS sandbox
    # alone holds (tests/test_grading_sandbox.py); the runner never sets it
    app = IPKernelApp.instance()
    app.initialize()  # (writes its profile, binds its sockets: before the guards go up)
    with contextlib.suppress(Exception):  # the same cell guard as in Jupyter (convlib.tamper)
        sys.modules["convlib.check"]._cell_guard(install=True)
    if os.environ.get("GRADING_GUARDS", "1") != "0":
        _freeze_modules()
        _install_audit_hook()
    app.start()


if __name__ == "__main__":
    main()
