"""The kernel sandbox (tools/grading/sandbox.py) holds on its own: in-process guards off.

A grading kernel is started exactly as the runner starts one (the launcher, bubblewrap, the
kernel over Unix sockets), but with GRADING_GUARDS=0, so that only the operating system stands
between a student cell and the machine. Each student cell tries one thing and must fail: open a
socket (to the internet, to a server on the host's loopback), read the solutions or another
submission, write outside its scratch folder, fork without end, or outlive the submission (a
detached process still running after the runner kills the kernel at the time limit). Plus the
fallback where bubblewrap cannot run: loud, and what it says.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.grading import sandbox  # noqa: E402
from tools.grading.runner import (  # noqa: E402
    KERNEL_SCRIPT,
    SANDBOX_SCRIPT,
    kill_tree,
    write_kernelspec,
)

pytestmark = [pytest.mark.notebooks, pytest.mark.timeout(300)]

CHOICE = sandbox.choose("auto")
needs_bwrap = pytest.mark.skipif(
    CHOICE.kind != "bwrap", reason=f"bubblewrap cannot run here: {CHOICE.reason}"
)


class Kernel:
    """A sandboxed grading kernel and a client to run cells in it."""

    def __init__(self, root: Path, class_dir: Path) -> None:
        from jupyter_client.manager import KernelManager

        self.class_dir = class_dir
        self.work = root / "work"
        self.tmp = self.work / "tmp"
        self.nbdir = self.work / "autograded"
        for d in (self.tmp, self.nbdir):
            d.mkdir(parents=True)
        self.ipc = Path(tempfile.mkdtemp(prefix="gk", dir="/tmp"))
        plan = sandbox.plan_for(
            bwrap=str(CHOICE.bwrap),
            key=f"sandbox-test-{root}",
            hide=[REPO, class_dir, root],
            rw=[self.tmp, self.ipc],
            cpu_seconds=120,
        )
        import json

        (self.work / "sandbox.json").write_text(json.dumps(plan))
        write_kernelspec(
            self.work / "kernels",
            [sys.executable, str(SANDBOX_SCRIPT), str(self.work / "sandbox.json")],
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "GRADING_"))}
        env.update(
            JUPYTER_PATH=str(self.work / "kernels"),
            TMPDIR=str(self.tmp),
            GRADING_GUARDS="0",  # the OS sandbox alone
            CONVLIB_CHECK_MODE="record",
        )
        saved = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = env["JUPYTER_PATH"]  # (the spec is looked up at start)
        try:
            self.km = KernelManager(
                kernel_name="python3",
                transport="ipc",
                ip=str(self.ipc / "k"),
                connection_file=str(self.ipc / "kernel.json"),
            )
            self.km.start_kernel(cwd=str(self.nbdir), env=env)
        finally:  # other tests of this process must find their own python3 kernel
            if saved is None:
                del os.environ["JUPYTER_PATH"]
            else:
                os.environ["JUPYTER_PATH"] = saved
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def run(self, code: str) -> str:
        """Run a cell; its stdout, or 'ERROR <name>: <value>'."""
        out: list[str] = []

        def hook(msg: dict) -> None:
            content = msg["content"]
            if msg["msg_type"] == "stream":
                out.append(content["text"])
            elif msg["msg_type"] == "error":
                out.append(f"ERROR {content['ename']}: {content['evalue']}")

        self.kc.execute_interactive(code, timeout=120, output_hook=hook)
        return "".join(out).strip()

    def kill(self) -> None:
        """What the runner does at the submission time limit: kill the kernel's process tree."""
        assert self.km.provisioner is not None
        kill_tree(self.km.provisioner.process.pid)  # type: ignore[attr-defined]
        self.kc.stop_channels()


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    if CHOICE.kind != "bwrap":
        pytest.skip(f"bubblewrap cannot run here: {CHOICE.reason}")
    root = tmp_path_factory.mktemp("sandbox")
    other = root / "submitted" / "someone_else" / "ex01_cross_correlation"
    other.mkdir(parents=True)
    (other / "ex01_cross_correlation.ipynb").write_text("{}")
    k = Kernel(root, root / "submitted")
    yield k
    try:
        k.kill()
    finally:
        import shutil

        shutil.rmtree(k.ipc, ignore_errors=True)


@needs_bwrap
def test_the_guards_are_off_and_the_kernel_works(kernel: Kernel) -> None:
    assert kernel.run("print('ok')") == "ok"
    uid = kernel.run("import os; print(os.getuid())")
    assert uid != "0"  # the kernel dropped root
    assert kernel.run("import torch, convlib.check; print(torch.ones(2).sum().item())") == "2.0"


@needs_bwrap
def test_no_socket_reaches_anything(kernel: Kernel) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        for host, p in (("1.1.1.1", 80), ("127.0.0.1", port)):
            out = kernel.run(
                "import socket\ns = socket.socket()\ns.settimeout(5)\n"
                f"s.connect(({host!r}, {p}))\nprint('connected')"
            )
            assert out.startswith("ERROR") and "connected" not in out, (host, out)
    finally:
        server.close()


@needs_bwrap
def test_no_solutions_gradebook_or_other_submission_is_visible(kernel: Kernel) -> None:
    for path in (
        REPO / "solutions" / "ex01_cross_correlation" / "ex01_cross_correlation.ipynb",
        REPO / "scripts" / "exercise_sources" / "ex01_cross_correlation.py",
        kernel.class_dir
        / "someone_else"
        / "ex01_cross_correlation"
        / "ex01_cross_correlation.ipynb",
    ):
        out = kernel.run(f"print(open({str(path)!r}).read()[:20])")
        assert out.startswith("ERROR FileNotFoundError"), (path, out)
    assert kernel.run(f"import os; print(sorted(os.listdir({str(REPO)!r})))") == str(
        sorted(["convlib", "tools", ".venv"])
    )


@needs_bwrap
def test_writes_only_in_its_scratch_folder(kernel: Kernel) -> None:
    for path in (REPO / "convlib" / "check.py", Path("/usr/evil"), Path("/etc/evil")):
        out = kernel.run(f"open({str(path)!r}, 'a').write('x')")
        assert out.startswith("ERROR OSError") or out.startswith("ERROR PermissionError"), out
    assert (REPO / "convlib" / "check.py").read_text(encoding="utf-8").endswith("\n")
    assert (
        kernel.run(
            "import os\nscratch = os.environ['TMPDIR']\n"
            "open(os.path.join(scratch, 'ok.txt'), 'w').write('fine')\nprint('ok')"
        )
        == "ok"
    )
    assert (kernel.tmp / "ok.txt").read_text() == "fine"


@needs_bwrap
def test_a_fork_bomb_is_capped(kernel: Kernel) -> None:
    out = kernel.run(
        "import os, time\nn = 0\ntry:\n    for _ in range(5000):\n"
        "        if os.fork() == 0:\n            time.sleep(20)\n            os._exit(0)\n"
        "        n += 1\nexcept OSError as e:\n    print('stopped', n, e.errno)"
    )
    assert out.startswith("stopped"), out
    assert int(out.split()[1]) < 300


@needs_bwrap
def test_nothing_outlives_the_submission(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path, tmp_path / "submitted")  # its own: this test kills it
    marker = kernel.tmp / "heartbeat"
    out = kernel.run(
        "import os, time\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        while True:\n"
        f"            open({str(marker)!r}, 'w').write(str(time.time()))\n"
        "            time.sleep(0.2)\n    os._exit(0)\n"
        "time.sleep(1)\nprint('detached')"
    )
    assert out == "detached"
    assert marker.exists()
    kernel.kill()
    time.sleep(2)
    before = marker.read_text()
    time.sleep(1.5)
    assert marker.read_text() == before, "a process of the sandbox is still writing"
    survivors = [
        p
        for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"] and str(kernel.work) in " ".join(p.info["cmdline"])
    ]
    assert not survivors, survivors
    import shutil

    shutil.rmtree(kernel.ipc, ignore_errors=True)


def test_fallback_when_bubblewrap_cannot_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRADING_BWRAP", "/bin/false")
    choice = sandbox.choose("auto")
    assert choice.kind == "none"
    assert choice.reason.startswith("FALLBACK, no OS sandbox")
    err = capsys.readouterr().err
    assert "WARNING: bubblewrap cannot create a sandbox" in err
    assert "WITHOUT an operating-system sandbox" in err
    with pytest.raises(RuntimeError, match="--sandbox=bwrap but bubblewrap cannot run here"):
        sandbox.choose("bwrap")
    assert sandbox.choose("none").kind == "none"
    assert KERNEL_SCRIPT.exists()


@needs_bwrap
def test_a_cell_past_its_time_limit_is_interrupted(tmp_path: Path) -> None:
    """nbclient interrupts a cell that runs too long; the kernel in the sandbox must get it."""
    kernel = Kernel(tmp_path, tmp_path / "submitted")
    try:
        msg_id = kernel.kc.execute("while True:\n    pass")
        time.sleep(2)
        kernel.km.interrupt_kernel()
        reply = kernel.kc.get_shell_msg(timeout=60)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kernel.kc.get_shell_msg(timeout=60)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert kernel.run("print('alive')") == "alive"
    finally:
        kernel.kill()
        import shutil

        shutil.rmtree(kernel.ipc, ignore_errors=True)


def test_gpu_device_nodes_are_bound_into_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a GPU machine the kernel must see NVIDIA's device nodes, which a fresh /dev lacks."""
    fake_dev = tmp_path / "dev"
    fake_dev.mkdir()
    for name in ("nvidia0", "nvidiactl", "nvidia-uvm", "null"):
        (fake_dev / name).touch()
    nodes = sandbox.gpu_device_nodes(str(fake_dev))
    assert nodes == [str(fake_dev / n) for n in ("nvidia-uvm", "nvidia0", "nvidiactl")]
    monkeypatch.setattr(sandbox, "gpu_device_nodes", lambda: nodes)
    plan: dict[str, object] = {"bwrap": "bwrap", "hide": [], "ro": [], "rw": [], "uid": None}
    argv = sandbox.bwrap_argv(plan, str(tmp_path), ["true"])
    for node in nodes:
        i = argv.index(node)
        assert argv[i - 1] == "--dev-bind" and argv[i + 1] == node
    assert str(fake_dev / "null") not in argv
