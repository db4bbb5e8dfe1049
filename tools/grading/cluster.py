"""Grade a class on a Dask cluster: one task per submission, the same records as a local run.

    python -m tools.grading CLASS --out OUT --scheduler tcp://host:8786     (or a scheduler file)
    make grade CLASS=... SCHEDULER=tcp://host:8786

The runner (runner.grade_class) prepares the course, then hands its per-submission function and
the list of submissions to an executor: local threads by default, `DaskExecutor` here with
`--scheduler`. Each submission is one Dask task (`Client.map(..., pure=False)`) that calls the
very function a local run calls, on a worker: that function runs nbgrader and the student's kernel
in their own sandboxed subprocesses (student code never runs in the worker process), and writes
the submission's idempotent record under OUT/results/. The client gathers the records; the
gradebook, the feedback and the export are then built on the client's machine exactly as locally,
so they are byte-identical to a local run of the same class.

Workers need what a local run needs, at the same paths, through a shared filesystem (as on every
HPC cluster): the course repository with its .venv, CLASS and OUT. Start them from the course root
with the course on PYTHONPATH (the tasks import `tools.grading`), one thread each:

    cd /shared/course && PYTHONPATH=$PWD .venv/bin/dask worker tcp://host:8786 --nthreads 1 \
        --nworkers 8 --no-dashboard

`DaskExecutor` checks this before sending anything: every worker must import `tools.grading` and
read a token the client has just written under OUT (same filesystem, not merely the same path).

Failures. A worker that dies mid-submission (killed, out of memory, node lost) loses nothing: the
scheduler gives the task to another worker, which grades the submission from scratch (the record
is written atomically and only at the end, so a half-graded submission leaves no record) and the
client receives exactly one record per submission. A submission whose task kills its worker
`distributed.scheduler.allowed-failures` + 1 times (3 + 1 by default) fails with
`distributed.KilledWorker`; it is reported as `crashed` with 0 points and the class goes on. Such a
record is not saved under OUT/results/, so the next run tries it again (as the local runner does
with its own errors).

On Slurm, `slurm_cluster()` builds a dask-jobqueue `SLURMCluster` of such workers, and
`python -m tools.grading.cluster slurm ...` starts one and writes its scheduler file (see
book/instructor_guide.md, "A class of 5,000 on a cluster").
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


class WorkerDiedError(RuntimeError):
    """The workers grading a submission died again and again (distributed.KilledWorker)."""

    def __init__(self, name: str, allowed_failures: int) -> None:
        self.grading_note = (
            f"crashed: the Dask worker grading this submission died {allowed_failures + 1} times "
            "(distributed.KilledWorker); not saved, so the next run grades it again"
        )
        super().__init__(f"{name}: {self.grading_note}")


def _worker_check(token_path: str, paths: Sequence[str]) -> dict[str, Any]:
    """On a worker: what it sees of the client's files (runs only if it can import us at all)."""
    import socket

    token = Path(token_path)
    return {
        "host": socket.gethostname(),
        "python": sys.executable,
        "token": token.read_text() if token.exists() else None,
        "missing": [p for p in paths if not Path(p).exists()],
    }


def check_workers(client: Any, out_dir: Path, paths: Sequence[Path]) -> int:
    """Fail with a clear message unless every worker imports tools.grading and shares our files."""
    token_path = out_dir / "state" / "cluster-token"
    token_path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    token_path.write_text(token)
    try:
        seen = client.run(_worker_check, str(token_path), [str(p) for p in paths])
    except Exception as exc:  # typically ModuleNotFoundError: tools (no PYTHONPATH on a worker)
        raise RuntimeError(
            f"a Dask worker cannot run the grading code ({exc!r}). Start every worker from the "
            "course root on a shared filesystem with the course on PYTHONPATH, e.g. "
            f"`cd {REPO} && PYTHONPATH=$PWD .venv/bin/dask worker ADDRESS --nthreads 1`."
        ) from exc
    problems = []
    for addr, info in seen.items():
        if info["token"] != token:
            problems.append(f"{addr} ({info['host']}) does not see {token_path}")
        if info["missing"]:
            problems.append(f"{addr} ({info['host']}) does not see {', '.join(info['missing'])}")
    if problems:
        raise RuntimeError(
            "Dask workers must see the course, the class and OUT at the same paths (a shared "
            "filesystem): " + "; ".join(problems)
        )
    return len(seen)


class LocalExecutor:
    """The default: `jobs` threads on this machine, each waiting on its submission's
    subprocesses (what the runner has always done)."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs

    def map(
        self, fn: Callable[..., Any], calls: Sequence[tuple], names: Sequence[str], settings: Any
    ) -> Iterator[tuple[int, Any]]:
        """Yield (index into calls, fn(*calls[index]) or the exception it raised), as they
        finish."""
        from concurrent.futures import ThreadPoolExecutor, as_completed

        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            futures = {pool.submit(fn, *args): i for i, args in enumerate(calls)}
            for fut in as_completed(futures):
                try:
                    yield futures[fut], fut.result()
                except Exception as exc:
                    yield futures[fut], exc


class DaskExecutor:
    """Maps the runner's per-submission function over a Dask cluster.

    `scheduler`: an address (`tcp://host:8786`) or a scheduler file (JSON written by
    `dask scheduler --scheduler-file`). `wait_for_workers`: seconds to wait for a first worker.
    """

    def __init__(self, scheduler: str, *, wait_for_workers: float = 120.0) -> None:
        self.scheduler = scheduler
        self.wait_for_workers = wait_for_workers
        self.n_workers = 0

    def _client(self) -> Any:
        from distributed import Client

        if "://" not in self.scheduler and Path(self.scheduler).is_file():
            return Client(scheduler_file=self.scheduler, set_as_default=False)
        return Client(self.scheduler, set_as_default=False)

    def map(
        self,
        fn: Callable[..., Any],
        calls: Sequence[tuple],
        names: Sequence[str],
        settings: Any,
    ) -> Iterator[tuple[int, Any]]:
        """Yield (index into calls, fn(*calls[index]) or the exception it raised), as they finish.

        Every call yields exactly once: a task whose worker died is re-run by the scheduler
        (its result arrives once); one that killed its workers too often yields
        `WorkerDiedError`."""
        import dask
        from distributed import KilledWorker, as_completed

        run = uuid.uuid4().hex[:8]  # keys unique to this run: another run on the scheduler
        keys = [f"grade-{n}-{run}-{i}" for i, n in enumerate(names)]  # never shares results
        allowed = int(dask.config.get("distributed.scheduler.allowed-failures"))
        with self._client() as client:
            client.wait_for_workers(1, timeout=self.wait_for_workers)
            self.n_workers = check_workers(
                client,
                settings.out_dir,
                [REPO, settings.course_root, settings.class_dir, settings.out_dir],
            )
            with contextlib.suppress(Exception):  # the scheduler's own setting wins
                key = "distributed.scheduler.allowed-failures"
                allowed = int(client.run_on_scheduler(dask.config.get, key))
            columns = list(zip(*calls, strict=True)) if calls else []
            futures = client.map(fn, *columns, key=keys, pure=False) if calls else []
            index = {f.key: i for i, f in enumerate(futures)}
            for fut in as_completed(futures, loop=client.loop):
                i = index[fut.key]
                try:
                    yield i, fut.result()
                except KilledWorker:
                    yield i, WorkerDiedError(names[i], allowed)
                except Exception as exc:
                    yield i, exc
                fut.release()


# --------------------------------------------------------------------------------------------
# Slurm (dask-jobqueue)


def slurm_cluster(
    course_root: Path = REPO,
    *,
    workers_per_job: int = 8,
    memory_per_worker_gb: float = 6.0,
    gpus_per_job: int = 0,
    queue: str | None = None,
    account: str | None = None,
    walltime: str = "04:00:00",
    log_directory: str | None = None,
    **kwargs: Any,
) -> Any:
    """A dask-jobqueue SLURMCluster of grading workers: one thread per worker process.

    CPU nodes: each job runs `workers_per_job` workers (one core and `memory_per_worker_gb` each:
    a kernel with PyTorch plus nbgrader needs ~1.5 GB; the grader caps the kernel at 4 GB).
    GPU nodes: `gpus_per_job=1` makes each job one worker on one GPU (`--gres=gpu:1`; Slurm sets
    CUDA_VISIBLE_DEVICES) grading with CONVLIB_DEVICE=cuda: scale with `cluster.scale(jobs=N)`
    for N GPUs, rather than many workers sharing one GPU.
    Workers run from `course_root` (on the shared filesystem) with its .venv and PYTHONPATH.
    Extra keyword arguments go to SLURMCluster (e.g. `job_extra_directives`, `interface`).
    """
    from dask_jobqueue import SLURMCluster

    root = Path(course_root)
    workers = 1 if gpus_per_job else workers_per_job
    prologue = [f"cd {root}", f"export PYTHONPATH={root}", "export OMP_NUM_THREADS=1"]
    directives = list(kwargs.pop("job_extra_directives", []))
    if gpus_per_job:
        directives.append(f"--gres=gpu:{gpus_per_job}")
    return SLURMCluster(
        cores=workers,  # nthreads = cores / processes = 1
        processes=workers,
        memory=f"{memory_per_worker_gb * workers:g}GB",
        queue=queue,
        account=account,
        walltime=walltime,
        python=str(root / ".venv" / "bin" / "python"),
        job_script_prologue=[*prologue, *kwargs.pop("job_script_prologue", [])],
        job_extra_directives=directives,
        worker_extra_args=["--no-dashboard", *kwargs.pop("worker_extra_args", [])],
        log_directory=log_directory,
        **kwargs,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m tools.grading.cluster slurm --jobs N --scheduler-file F`: start a Slurm cluster
    of grading workers, write its scheduler file, and keep it up until Ctrl-C."""
    p = argparse.ArgumentParser(prog="python -m tools.grading.cluster", description=main.__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("slurm", help="start grading workers as Slurm jobs (dask-jobqueue)")
    s.add_argument("--jobs", type=int, default=1, help="Slurm jobs to submit")
    s.add_argument("--workers-per-job", type=int, default=8, help="one core each (CPU nodes)")
    s.add_argument("--memory-per-worker-gb", type=float, default=6.0)
    s.add_argument("--gpus-per-job", type=int, default=0, help="1: one worker per GPU")
    s.add_argument("--queue")
    s.add_argument("--account")
    s.add_argument("--walltime", default="04:00:00")
    s.add_argument("--scheduler-file", type=Path, required=True, help="on the shared filesystem")
    s.add_argument("--print-job-script", action="store_true", help="print it and exit")
    a = p.parse_args(argv)
    cluster = slurm_cluster(
        REPO,
        workers_per_job=a.workers_per_job,
        memory_per_worker_gb=a.memory_per_worker_gb,
        gpus_per_job=a.gpus_per_job,
        queue=a.queue,
        account=a.account,
        walltime=a.walltime,
    )
    try:
        if a.print_job_script:
            print(cluster.job_script())
            return 0
        import json

        cluster.scale(jobs=a.jobs)
        a.scheduler_file.write_text(json.dumps(cluster.scheduler.identity(), indent=1))
        print(f"scheduler {cluster.scheduler_address}; scheduler file {a.scheduler_file}")
        print(f"grade with: make grade CLASS=... SCHEDULER={a.scheduler_file}   (Ctrl-C to stop)")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.close()
        if not a.print_job_script:
            a.scheduler_file.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
