"""The instructor guide's cluster recipe, run exactly as printed (book/instructor_guide.md, "A
class of 5,000 on a cluster"): the venv activated once, certificates made by
`python -m tools.grading.cluster certs`, a TLS `dask scheduler` and `dask worker` on a chosen
interface with no PYTHONPATH, the grading command, then `kill` to stop them. Only the block's two
placeholders change: the node's address (`HOST=127.0.0.1`) and the port (a free one). Run in a
course folder outside the repository (its `.venv` a link to the project's), on a class of two
ex01 students. Meanwhile a client without the certificate is refused, on TLS and on plain TCP.
"""

from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "book" / "instructor_guide.md"
sys.path.insert(0, str(REPO / "tests"))

import grading_corpus as gc  # noqa: E402

A = gc.EX01


def guide_block(after: str) -> str:
    """The first ```bash block of the guide after the text ``after``."""
    text = GUIDE.read_text(encoding="utf-8")
    rest = text[text.index(after) :]
    match = re.search(r"```bash\n(.*?)```", rest, re.S)
    assert match, f"no bash block after {after!r}"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_cluster_block_is_closed_and_complete() -> None:
    """What the block must contain, so that running it below means what the guide says."""
    block = guide_block("The whole recipe")
    assert "PYTHONPATH" not in block and ".venv/bin/dask" not in block
    assert block.count("--tls-ca-file certs/ca.pem --tls-cert certs/cluster.pem") == 2
    assert "--protocol tls" in block and "--host $HOST" in block and "0.0.0.0" not in block
    assert re.search(r"^HOST=\S+", block, re.M) and "--port 8786" in block
    assert "--tls-dir certs" in block and re.search(r"^kill ", block, re.M)


def refused(address: str) -> str:
    """Connect without the certificate: the error, or '' if the scheduler let us in."""
    from distributed import Client

    try:
        with Client(address, timeout=8, set_as_default=False):
            return ""
    except Exception as exc:  # refused: TLS handshake without a client certificate, or not TLS
        return repr(exc) or type(exc).__name__


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.timeout(1200)
def test_the_guides_cluster_block_runs_as_printed(tmp_path: Path) -> None:
    course = tmp_path / "course"
    course.mkdir()
    (course / ".venv").symlink_to(REPO / ".venv")
    good = gc.notebook(A)
    first = next(iter(gc.answers(A)))  # the first function: its test fails
    wrong = gc.notebook(A, {first: gc.wrong(A, first)})
    for student, nb in (("ada", good), ("ben", wrong)):
        folder = course / "submitted" / student / A
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{A}.ipynb")
    port = free_port()
    block = guide_block("The whole recipe")
    block = re.sub(r"^HOST=\S+", "HOST=127.0.0.1", block, flags=re.M)
    block = block.replace("--port 8786", f"--port {port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["OMP_NUM_THREADS"] = "1"
    log = open(tmp_path / "block.log", "wb")  # noqa: SIM115
    run = subprocess.Popen(
        ["bash", "-e", "-c", block], cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 120
        while not (course / "scheduler.json").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert (course / "scheduler.json").exists(), (tmp_path / "block.log").read_text()
        time.sleep(2)
        without_certificate = refused(f"tls://127.0.0.1:{port}")
        plain_tcp = refused(f"tcp://127.0.0.1:{port}")
        rc = run.wait(timeout=1000)
    finally:
        if run.poll() is None:
            run.kill()
        log.close()
    out = (tmp_path / "block.log").read_text(errors="replace")
    assert rc == 0, out[-4000:]
    assert without_certificate and plain_tcp, (without_certificate, plain_tcp)
    with open(course / "graded" / "grades.csv", encoding="utf-8") as f:
        scores = {r["student_id"]: float(r["raw_score"]) for r in csv.DictReader(f)}
    full = sum(gc.points(A).values())
    assert scores["ada"] == full and 0 <= scores["ben"] < full, scores
    report = (course / "graded" / "report.md").read_text()
    assert "2 graded in this run" in report or "2 submissions" in report
    # `kill %2 %1` stops the workers and the scheduler (they close their connections first)
    deadline = time.monotonic() + 120
    left = [p for p in psutil.process_iter() if _started_here(p, course)]
    while left and time.monotonic() < deadline:
        time.sleep(1)
        left = [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for p in left:
        p.kill()
    assert not left, left


def _started_here(p: psutil.Process, course: Path) -> bool:
    try:
        return "dask" in " ".join(p.cmdline()) and Path(p.cwd()) == course
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
