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
HPC cluster): the course repository with its .venv (where `pip install -e .` installed `convlib`
and `tools`, so the scheduler and the workers import `tools.grading` with no PYTHONPATH), CLASS
and OUT. The cluster is closed: TLS with a certificate of the course's own CA
(`python -m tools.grading.cluster certs DIR`), on a chosen interface, one thread per worker:

    dask scheduler --host HOST --protocol tls --tls-ca-file DIR/ca.pem --tls-cert DIR/cluster.pem \
        --tls-key DIR/cluster.key --scheduler-file scheduler.json
    dask worker --scheduler-file scheduler.json --host HOST --nthreads 1 --tls-ca-file ... (same)
    python -m tools.grading CLASS --scheduler scheduler.json --tls-dir DIR

`DaskExecutor.check` verifies all of it before anyone is graded: the scheduler imports the
grading code (it unpickles the tasks), every worker reads a token the client has just written
under OUT (same filesystem, not merely the same path) and starts one sandboxed grading kernel
that imports torch and convlib. The runner refuses a non-TLS scheduler that is not on the
loopback interface unless `--insecure-cluster` is given.

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

from .prepare import InfrastructureError

REPO = Path(__file__).resolve().parents[2]
TLS_FILES = ("ca.pem", "cluster.pem", "cluster.key")  # what `certs DIR` writes (and keeps)


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
    except Exception as exc:  # typically ModuleNotFoundError: tools (another venv)
        raise InfrastructureError(
            f"a Dask worker cannot run the grading code ({exc!r:.300}). Start every worker with "
            f"the course's venv, where the course is installed (`pip install -e .` in {REPO}, "
            "what `make setup` does): `source .venv/bin/activate; dask worker ...`."
        ) from exc
    problems = []
    for addr, info in seen.items():
        if info["token"] != token:
            problems.append(f"{addr} ({info['host']}) does not see {token_path}")
        if info["missing"]:
            problems.append(f"{addr} ({info['host']}) does not see {', '.join(info['missing'])}")
    if problems:
        raise InfrastructureError(
            "Dask workers must see the course, the class and OUT at the same paths (a shared "
            "filesystem): " + "; ".join(problems)
        )
    return len(seen)


def _scheduler_check() -> str:
    """On the scheduler (pickled by reference: it runs only if the scheduler imports us)."""
    import tools.grading.submission  # noqa: F401  (what the tasks' functions need)

    return sys.executable


def _worker_probe(settings: Any) -> str:
    """On a worker: start one grading kernel as a submission's (prepare.probe_kernel)."""
    from .prepare import probe_kernel

    try:
        return probe_kernel(settings)
    except InfrastructureError as exc:
        return f"FAILED {exc}"


class LocalExecutor:
    """The default: `jobs` threads on this machine, each waiting on its submission's
    subprocesses (what the runner has always done)."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs

    def check(self, settings: Any) -> None:
        """Before anyone is graded: one grading kernel starts here and imports torch and convlib
        (raises InfrastructureError, saying what to fix)."""
        from .prepare import probe_kernel

        probe_kernel(settings)

    def map(
        self, fn: Callable[..., Any], calls: Sequence[tuple], names: Sequence[str], settings: Any
    ) -> Iterator[tuple[int, Any]]:
        """Yield (index into calls, fn(*calls[index]) or the exception it raised), as they
        finish. Closing the iterator early cancels the submissions not started yet."""
        from concurrent.futures import ThreadPoolExecutor, as_completed

        pool = ThreadPoolExecutor(max_workers=self.jobs)
        try:
            futures = {pool.submit(fn, *args): i for i, args in enumerate(calls)}
            for fut in as_completed(futures):
                try:
                    yield futures[fut], fut.result()
                except Exception as exc:
                    yield futures[fut], exc
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def is_loopback(address: str) -> bool:
    """Whether a scheduler address (``tcp://127.0.0.1:8786``) is on this machine's loopback."""
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(address if "://" in address else f"tcp://{address}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def security(tls_dir: Path) -> Any:
    """distributed's Security for the certificates `certs DIR` wrote: mutual TLS (the scheduler
    and the workers admit only a holder of a certificate of this CA), encryption required. The
    same object serves a Client, a LocalCluster and dask-jobqueue's clusters."""
    from distributed.security import Security

    ca, cert, key = (Path(tls_dir) / name for name in TLS_FILES)
    missing = [str(p) for p in (ca, cert, key) if not p.is_file()]
    if missing:
        raise InfrastructureError(
            f"missing TLS files {missing}: create them with "
            f"`python -m tools.grading.cluster certs {tls_dir}`"
        )
    return Security(
        tls_ca_file=str(ca),
        tls_client_cert=str(cert),
        tls_client_key=str(key),
        tls_scheduler_cert=str(cert),
        tls_scheduler_key=str(key),
        tls_worker_cert=str(cert),
        tls_worker_key=str(key),
        require_encryption=True,
    )


def make_certs(folder: Path, hosts: Sequence[str] = ()) -> list[Path]:
    """A private CA and one certificate it signs, for the scheduler, the workers and the
    grading client (``ca.pem``, ``cluster.pem``, ``cluster.key``; the key readable by its owner
    only). The CA's key is deleted once it has signed: run again to replace them all. Uses the
    ``openssl`` command (present on every Linux distribution)."""
    import shutil
    import socket
    import subprocess
    import tempfile

    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed (apt-get install openssl)")
    folder.mkdir(parents=True, exist_ok=True)
    names = ["localhost", socket.gethostname(), socket.getfqdn(), *hosts]
    alt = [f"DNS:{n}" for n in dict.fromkeys(names) if n and not _is_ip(n)]
    alt += [f"IP:{n}" for n in dict.fromkeys(["127.0.0.1", *hosts]) if _is_ip(n)]
    ca, cert, key = (folder / name for name in TLS_FILES)
    with tempfile.TemporaryDirectory(prefix="grading-certs-") as tmp:
        t = Path(tmp)
        ext = t / "ext.cnf"
        ext.write_text(
            f"subjectAltName={','.join(alt)}\nbasicConstraints=CA:FALSE\n"
            "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n"
        )
        steps = [
            ["req", "-x509", "-newkey", "rsa:3072", "-nodes", "-keyout", str(t / "ca.key")]
            + ["-out", str(ca), "-days", "825", "-subj", "/CN=grading cluster CA"],
            ["req", "-newkey", "rsa:3072", "-nodes", "-keyout", str(key), "-out", str(t / "c.csr")]
            + ["-subj", "/CN=grading cluster"],
            ["x509", "-req", "-in", str(t / "c.csr"), "-CA", str(ca), "-CAkey", str(t / "ca.key")]
            + ["-CAcreateserial", "-out", str(cert), "-days", "825", "-extfile", str(ext)],
        ]
        for step in steps:
            done = subprocess.run([openssl, *step], capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"openssl {step[0]} failed: {done.stderr.strip()[-400:]}")
    (folder / "ca.srl").unlink(missing_ok=True)
    key.chmod(0o600)
    return [ca, cert, key]


def _is_ip(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


class DaskExecutor:
    """Maps the runner's per-submission function over a Dask cluster.

    `scheduler`: an address (`tls://host:8786`) or a scheduler file (JSON written by
    `dask scheduler --scheduler-file`; waited for if it does not exist yet). `tls_dir`: the
    certificates of `certs DIR`. A scheduler that is neither TLS nor on the loopback interface
    is refused unless `insecure`. `wait_for_workers`: seconds to wait for a first worker.
    """

    def __init__(
        self,
        scheduler: str,
        *,
        tls_dir: Path | None = None,
        insecure: bool = False,
        wait_for_workers: float = 120.0,
    ) -> None:
        self.scheduler = scheduler
        self.tls_dir = tls_dir
        self.insecure = insecure
        self.wait_for_workers = wait_for_workers
        self.n_workers = 0

    def address(self) -> str:
        """The scheduler's address (read from the scheduler file, waiting for it to appear)."""
        import json

        if "://" in self.scheduler:
            return self.scheduler
        path = Path(self.scheduler)
        deadline = time.monotonic() + self.wait_for_workers
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                return str(json.loads(path.read_text())["address"])
            time.sleep(0.5)
        raise InfrastructureError(f"no scheduler file {path} (is `dask scheduler` running?)")

    def _client(self) -> Any:
        from distributed import Client

        address = self.address()
        tls = address.startswith("tls://")
        if not tls and not is_loopback(address) and not self.insecure:
            raise InfrastructureError(
                f"the scheduler {address} is neither TLS nor on this machine's loopback: anyone "
                "who reaches it can run code as you. Start it with TLS (see "
                "`python -m tools.grading.cluster certs --help`), or pass --insecure-cluster."
            )
        if tls and self.tls_dir is None:
            raise InfrastructureError(f"the scheduler {address} uses TLS: pass --tls-dir DIR")
        sec = security(self.tls_dir) if tls and self.tls_dir is not None else None
        try:
            return Client(address, security=sec, set_as_default=False, timeout=30)
        except Exception as exc:
            raise InfrastructureError(
                f"cannot connect to the scheduler {address}: {exc!r:.300}"
            ) from exc

    def check(self, settings: Any) -> None:
        """Before anyone is graded: the scheduler imports the grading code, every worker sees
        our files and starts a grading kernel that imports torch and convlib."""
        with self._client() as client:
            try:
                client.wait_for_workers(1, timeout=self.wait_for_workers)
            except Exception as exc:
                raise InfrastructureError(
                    f"no Dask worker joined the scheduler: {exc!r:.200}"
                ) from exc
            try:
                client.run_on_scheduler(_scheduler_check)
            except Exception as exc:
                raise InfrastructureError(
                    f"the Dask scheduler cannot import the grading code ({exc!r:.300}), so it "
                    "could not unpickle a single submission. Start it from the course's venv, "
                    f"where the course is installed (`pip install -e .` in {REPO}): "
                    "`source .venv/bin/activate; dask scheduler ...`."
                ) from exc
            self.n_workers = check_workers(
                client,
                settings.out_dir,
                [REPO, settings.course_root, settings.class_dir, settings.out_dir],
            )
            seen = client.run(_worker_probe, settings)
            failed = [f"{addr}: {msg[7:]}" for addr, msg in seen.items() if msg.startswith("FAIL")]
            if failed:
                raise InfrastructureError("; ".join(failed))

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
        `WorkerDiedError`. Closing the iterator early cancels what is left."""
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
            try:
                for fut in as_completed(futures, loop=client.loop):
                    i = index[fut.key]
                    try:
                        yield i, fut.result()
                    except KilledWorker:
                        yield i, WorkerDiedError(names[i], allowed)
                    except Exception as exc:
                        yield i, exc
                    fut.release()
            finally:
                client.cancel([f for f in futures if not f.done()])


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
    tls_dir: Path | None = None,
    insecure: bool = False,
    **kwargs: Any,
) -> Any:
    """A dask-jobqueue SLURMCluster of grading workers: one thread per worker process.

    CPU nodes: each job runs `workers_per_job` workers (one core and `memory_per_worker_gb` each:
    a kernel with PyTorch plus nbgrader needs ~1.5 GB; the grader caps the kernel at 4 GB).
    GPU nodes: `gpus_per_job=1` makes each job one worker on one GPU (`--gres=gpu:1`; Slurm sets
    CUDA_VISIBLE_DEVICES) grading with CONVLIB_DEVICE=cuda: scale with `cluster.scale(jobs=N)`
    for N GPUs, rather than many workers sharing one GPU.
    Workers run from `course_root` (on the shared filesystem) with its .venv and PYTHONPATH.
    Closed by default: mutual TLS with the certificates of `certs DIR` (`tls_dir`; the workers
    get `--tls-ca-file/--tls-cert/--tls-key`); `insecure=True` allows plain TCP instead.
    Extra keyword arguments go to SLURMCluster (e.g. `job_extra_directives`, `interface`).
    """
    from dask_jobqueue import SLURMCluster

    root = Path(course_root)
    workers = 1 if gpus_per_job else workers_per_job
    if tls_dir is None and not insecure:
        raise InfrastructureError(
            "a Slurm cluster of graders uses TLS: pass tls_dir (`certs DIR` makes it), or "
            "insecure=True"
        )
    if tls_dir is not None:
        kwargs.update(security=security(tls_dir), protocol="tls://")
    # the venv's python imports tools.grading (installed with the course: no PYTHONPATH)
    prologue = [f"cd {root}", "export OMP_NUM_THREADS=1"]
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
    """`python -m tools.grading.cluster certs DIR`: a CA and the cluster's certificate (TLS).
    `python -m tools.grading.cluster slurm --jobs N --scheduler-file F --tls-dir DIR`: start a
    Slurm cluster of grading workers, write its scheduler file, and keep it up until Ctrl-C."""
    p = argparse.ArgumentParser(prog="python -m tools.grading.cluster", description=main.__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("certs", help="write DIR/ca.pem, DIR/cluster.pem, DIR/cluster.key")
    c.add_argument("dir", type=Path)
    c.add_argument("--host", action="append", default=[], help="another name or IP (repeat)")
    s = sub.add_parser("slurm", help="start grading workers as Slurm jobs (dask-jobqueue)")
    s.add_argument("--jobs", type=int, default=1, help="Slurm jobs to submit")
    s.add_argument("--workers-per-job", type=int, default=8, help="one core each (CPU nodes)")
    s.add_argument("--memory-per-worker-gb", type=float, default=6.0)
    s.add_argument("--gpus-per-job", type=int, default=0, help="1: one worker per GPU")
    s.add_argument("--queue")
    s.add_argument("--account")
    s.add_argument("--walltime", default="04:00:00")
    s.add_argument("--interface", help="the scheduler's and workers' network interface (ib0)")
    s.add_argument("--scheduler-file", type=Path, required=True, help="on the shared filesystem")
    s.add_argument("--tls-dir", type=Path, help="certificates written by `certs DIR`")
    s.add_argument("--insecure-cluster", action="store_true", help="plain TCP, no TLS")
    s.add_argument("--print-job-script", action="store_true", help="print it and exit")
    a = p.parse_args(argv)
    if a.cmd == "certs":
        for path in make_certs(a.dir, a.host):
            print(path)
        return 0
    try:
        cluster = slurm_cluster(
            REPO,
            workers_per_job=a.workers_per_job,
            memory_per_worker_gb=a.memory_per_worker_gb,
            gpus_per_job=a.gpus_per_job,
            queue=a.queue,
            account=a.account,
            walltime=a.walltime,
            tls_dir=a.tls_dir,
            insecure=a.insecure_cluster,
            **({"interface": a.interface} if a.interface else {}),
        )
    except InfrastructureError as exc:
        p.error(str(exc))
    try:
        if a.print_job_script:
            print(cluster.job_script())
            return 0
        import json

        cluster.scale(jobs=a.jobs)
        a.scheduler_file.write_text(json.dumps(cluster.scheduler.identity(), indent=1))
        tls = f" --tls-dir {a.tls_dir}" if a.tls_dir else ""
        print(f"scheduler {cluster.scheduler_address}; scheduler file {a.scheduler_file}")
        print(f"grade with: python -m tools.grading CLASS --scheduler {a.scheduler_file}{tls}")
        print("Ctrl-C stops the cluster (scancel-s its jobs)")
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
