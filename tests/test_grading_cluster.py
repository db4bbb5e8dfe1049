"""Grading on a Dask cluster, with real processes: a `dask scheduler` and three `dask worker`s
(one thread each) on localhost, started from .venv/bin/dask as an instructor would, no mocks.

1. A small class (tests/faulty_class.py's builders: right, partly wrong, all wrong, unchanged)
   is graded locally, then through the cluster with `python -m tools.grading --scheduler`; once
   the first record is written, a worker busy grading another submission is killed (SIGKILL).
   Asserted: the export and every feedback page are byte-identical to the local run's, every
   student has exactly one record, the killed worker's submission was graded in full elsewhere.
2. A student is added whose submission kills its worker every time (the test kills whichever
   worker grades it; `allowed-failures` is 1 on this scheduler): the run finishes, that student
   is `crashed` with the reason, the four others are reused, and the workers are back.
3. The Slurm recipe: the job script dask-jobqueue renders for a sample configuration (no Slurm).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import faulty_class as fc  # noqa: E402

from tools.grading import Settings, grade_class  # noqa: E402
from tools.grading.cluster import make_certs, slurm_cluster  # noqa: E402
from tools.grading.prepare import InfrastructureError  # noqa: E402

DASK = REPO / ".venv" / "bin" / "dask"
A = fc.A
LAST = list(fc.ANSWERS)[-1]  # ben gets the assignment's last function wrong (nothing calls it)
FULL = sum(fc.TASKS.values())
EXPECTED = {"ada": FULL, "ben": FULL - fc.TASKS[fc.ANSWERS[LAST]], "cleo": 0.0, "dev": 0.0}


def test_slurm_job_script_renders(tmp_path: Path) -> None:
    """The HPC recipe's job scripts (CPU and GPU nodes), rendered by dask-jobqueue itself:
    TLS with the course's certificates, closed by default."""
    quiet = {"dashboard_address": ":0"}  # any free port
    certs = tmp_path / "certs"
    make_certs(certs)
    with pytest.raises(InfrastructureError, match="uses TLS"):
        slurm_cluster(Path("/shared/course"), scheduler_options=quiet)
    cpu = slurm_cluster(
        Path("/shared/course"),
        tls_dir=certs,
        scheduler_options=quiet,
        workers_per_job=4,
        memory_per_worker_gb=4,
        queue="cpu",
        account="cs101",
        walltime="02:00:00",
    )
    gpu = slurm_cluster(
        Path("/shared/course"),
        tls_dir=certs,
        scheduler_options=quiet,
        gpus_per_job=1,
        queue="gpu",
        account="cs101",
    )
    try:
        cpu_script, gpu_script = cpu.job_script(), gpu.job_script()
    finally:
        cpu.close()
        gpu.close()
    for line in (
        "#SBATCH -p cpu",
        "#SBATCH -A cs101",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=15G",
        "#SBATCH -t 02:00:00",
        "cd /shared/course",
    ):
        assert line in cpu_script.splitlines(), (line, cpu_script)
    worker = next(ln for ln in cpu_script.splitlines() if "dask_worker" in ln)
    assert worker.startswith("/shared/course/.venv/bin/python -m distributed.cli.dask_worker")
    assert "--nthreads 1" in worker and "--nworkers 4" in worker and "--nanny" in worker
    assert "PYTHONPATH" not in cpu_script  # the venv imports tools.grading
    for flag, name in (("--tls-ca-file", "ca.pem"), ("--tls-cert", "cluster.pem")):
        assert f"{flag} {certs / name}" in worker, worker
    assert f"--tls-key {certs / 'cluster.key'}" in worker and "tls://" in worker, worker
    assert "#SBATCH --gres=gpu:1" in gpu_script.splitlines(), gpu_script
    gpu_worker = next(ln for ln in gpu_script.splitlines() if "dask_worker" in ln)
    assert "--nthreads 1" in gpu_worker and "--nworkers" not in gpu_worker  # one per GPU


# --------------------------------------------------------------------------------------------
# a real scheduler and real workers


@dataclass
class DaskProcesses:
    scheduler_file: Path
    scheduler: subprocess.Popen
    nannies: list[subprocess.Popen] = field(default_factory=list)

    def workers(self) -> list[psutil.Process]:
        """The worker processes (each nanny's child; a nanny restarts its worker if it dies)."""
        found = []
        for n in self.nannies:
            with contextlib.suppress(psutil.NoSuchProcess):
                for p in psutil.Process(n.pid).children():  # the worker, a resource tracker
                    with contextlib.suppress(psutil.NoSuchProcess):
                        if "multiprocessing.spawn" in " ".join(p.cmdline()):
                            found.append(p)
        return found

    def grading(self, student: str | None = None) -> dict[int, tuple[psutil.Process, str]]:
        """worker pid -> (worker, student) for every worker running `nbgrader autograde`."""
        busy = {}
        for w in self.workers():
            try:
                for p in w.children(recursive=True):
                    cmd = p.cmdline()
                    if "autograde" in cmd:
                        who = next(x.split("=", 1)[1] for x in cmd if x.startswith("--student="))
                        if student is None or who == student:
                            busy[w.pid] = (w, who)
            except (psutil.NoSuchProcess, psutil.AccessDenied, StopIteration):
                continue
        return busy


@pytest.fixture(scope="module")
def dask_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskProcesses]:
    """`dask scheduler` + 3 `dask worker --nthreads 1` on localhost (the loopback: no TLS
    needed), from the course root, importing the grading code from the venv."""
    root = tmp_path_factory.mktemp("dask")
    sched_file = root / "scheduler.json"
    env = {  # no PYTHONPATH: the venv imports tools.grading (pip install -e .)
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        "OMP_NUM_THREADS": "1",
        # a task whose worker dies twice fails with KilledWorker (default: after 4 deaths)
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
    }
    log = open(root / "dask.log", "ab")  # noqa: SIM115 (open for the processes' lifetime)

    def start(cmd: list[str]) -> subprocess.Popen:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    scheduler = start(
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
        + ["--scheduler-file", str(sched_file)]
    )
    procs = DaskProcesses(sched_file, scheduler)
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sched_file.exists(), (root / "dask.log").read_text()
        for i in range(3):
            procs.nannies.append(
                start(
                    [str(DASK), "worker", "--scheduler-file", str(sched_file), "--nthreads", "1"]
                    + ["--no-dashboard", "--host", "127.0.0.1", "--name", f"grader-{i}"]
                )
            )
        yield procs
    finally:
        for p in [*procs.nannies, scheduler]:
            p.terminate()
        for p in [*procs.nannies, scheduler]:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


def grade_on_cluster(
    class_dir: Path, out: Path, procs: DaskProcesses, kill: str | None, kill_times: int
) -> tuple[subprocess.CompletedProcess, list[tuple[int, str]]]:
    """`python -m tools.grading CLASS --out OUT --scheduler FILE`, killing workers meanwhile:
    kill=None: once, the first worker busy grading anything, as soon as the first record exists;
    kill=STUDENT: every worker that starts grading STUDENT, up to kill_times times.
    Returns the finished command and the (worker pid, student) killed."""
    cmd = [sys.executable, "-m", "tools.grading", str(class_dir), "--out", str(out)]
    cmd += ["--scheduler", str(procs.scheduler_file), "--no-progress", "--cell-timeout", "60"]
    run = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killed: list[tuple[int, str]] = []
    deadline = time.monotonic() + 1000
    while run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
        if len(killed) >= kill_times:
            continue
        if kill is None and not any((out / "results" / A).glob("*.json")):
            continue
        for pid, (worker, who) in procs.grading(kill).items():
            if pid in {k for k, _ in killed}:
                continue
            worker.send_signal(signal.SIGKILL)  # mid-submission: nbgrader and the kernel too
            killed.append((pid, who))
            break
    if run.poll() is None:
        run.kill()
    stdout, _ = run.communicate()
    return subprocess.CompletedProcess(cmd, run.returncode, stdout.decode(errors="replace")), killed


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.html"))}


def report_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "report.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, dask_processes: DaskProcesses) -> dict:
    root = tmp_path_factory.mktemp("cluster")
    class_dir = root / "submitted"
    good = fc.solution_answers()
    bad = {k: fc.wrong_answer(v) for k, v in good.items()}
    fc.write(class_dir, "ada", fc.answered(good))
    fc.write(class_dir, "ben", fc.answered({**good, LAST: bad[LAST]}))
    fc.write(class_dir, "cleo", fc.answered(bad))
    fc.write(class_dir, "dev", fc.released())

    local = root / "local"
    grade_class(
        Settings(
            class_dir=class_dir,
            out_dir=local,
            assignments=[A],
            jobs=2,
            cell_timeout=60,
            progress=False,
        )
    )
    cluster = root / "cluster"
    first, killed = grade_on_cluster(class_dir, cluster, dask_processes, None, 1)
    snapshot = {
        "grades": (cluster / "grades.csv").read_bytes(),
        "feedback": files(cluster / "course" / "feedback"),
        "rows": report_rows(cluster),
        "summary": json.loads((cluster / "summary.json").read_text()),
    }

    # 2. a submission that kills its worker every time
    fc.write(class_dir, "eve", fc.answered(good))
    second, killed_eve = grade_on_cluster(class_dir, cluster, dask_processes, "eve", 2)
    return {
        "local": local,
        "cluster": cluster,
        "first": first,
        "killed": killed,
        "snapshot": snapshot,
        "second": second,
        "killed_eve": killed_eve,
        "procs": dask_processes,
    }


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.timeout(1200)
def test_cluster_export_and_feedback_identical_to_local(runs: dict) -> None:
    assert runs["first"].returncode == 0, runs["first"].stdout[-4000:]
    local = runs["local"]
    snap = runs["snapshot"]
    assert snap["grades"] == (local / "grades.csv").read_bytes()
    local_feedback = files(local / "course" / "feedback")
    assert set(local_feedback) == {f"{s}/{A}/{A}.html" for s in EXPECTED}
    assert snap["feedback"] == local_feedback
    with open(local / "grades.csv", encoding="utf-8") as f:
        assert {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)} == EXPECTED


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.timeout(1200)
def test_worker_killed_mid_submission_loses_nothing(runs: dict) -> None:
    killed = runs["killed"]
    assert len(killed) == 1, "no worker was busy when the first record appeared"
    pid, student = killed[0]
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    rows = runs["snapshot"]["rows"]
    # every student exactly once: none lost, none counted twice
    assert sorted(r["student"] for r in rows) == sorted(EXPECTED)
    row = next(r for r in rows if r["student"] == student)
    assert row["status"] == "graded" and float(row["score"]) == EXPECTED[student], row
    assert runs["snapshot"]["summary"]["graded_now"] == len(EXPECTED)


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.timeout(1200)
def test_submission_that_keeps_killing_its_worker_is_crashed(runs: dict) -> None:
    second = runs["second"]
    assert second.returncode == 0, second.stdout[-4000:]
    assert [who for _, who in runs["killed_eve"]] == ["eve", "eve"]
    cluster = runs["cluster"]
    rows = {r["student"]: r for r in report_rows(cluster)}
    assert sorted(rows) == sorted([*EXPECTED, "eve"])
    assert rows["eve"]["status"] == "crashed" and float(rows["eve"]["score"]) == 0.0
    assert "died 2 times" in rows["eve"]["notes"] and "KilledWorker" in rows["eve"]["notes"]
    summary = json.loads((cluster / "summary.json").read_text())
    assert summary["graded_now"] == 0  # the four others were reused, eve has no record
    assert not any((cluster / "results" / A).glob("eve-*.json"))  # the next run retries eve
    for s, score in EXPECTED.items():
        assert float(rows[s]["score"]) == score
    deadline = time.monotonic() + 60
    while len(runs["procs"].workers()) < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(runs["procs"].workers()) == 3  # the nannies restarted the killed workers
