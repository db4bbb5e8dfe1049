"""Benchmark convlib against torch: ``python -m convlib.bench [--device cuda] [--quick]``.

For each shape of a fixed suite (ResNet-50 3x3 and 1x1 layers, a MobileNet depthwise layer, the
7x7 stride-2 stem, a 3D video layer, a 4x4 stride-2 transposed decoder layer, a large-kernel
depthwise layer, and a tiny layer for the loop reference) it times torch and each convlib path
that accepts the shape, interleaved in the same process, with the same inputs and thread count.
Each timing is the **minimum** of N calls (contention on a shared machine only ever adds time),
and its noise is estimated from the same calls: the minima of the even and of the odd rounds
are two independent best-of-N/2 measurements, and their relative difference is the row's
``noise_pct``. On the CPU everything runs on one thread by default and is timed by that
thread's CPU time (``time.thread_time``): on a shared machine, time spent waiting for a core
while other jobs run is then not counted at all. With ``--threads N`` (N > 1) calls are timed
by the wall clock instead, and small layers (under ``SMALL_MACS`` multiply-adds) still run on
one thread, whose time would otherwise mostly measure waiting for the second core. Small layers
get ten times the calls. On a GPU, CUDA events time each call. Writes, into ``--out`` (default
``book/data``):

- ``bench_<device>.csv``: one row per (shape, path): best and median time, noise, GFLOP/s, ratio
  to torch, column bytes; the path ``gemm_only`` is not a convolution but the bare matrix product
  of ``im2col``'s path on its precomputed columns (dense layers only), to show how much of that
  path's time the GEMM itself takes;
- ``bench_<device>.json``: the machine, thread count, measured matmul peak and copy bandwidth,
  and the summary figures (median ratio to torch, large-kernel speed-up, loop speed-up);
- ``bench_<device>_crossover.csv``: depthwise direct vs FFT vs torch as the kernel grows;
- ``bench_<device>_bars.png``, ``bench_<device>_roofline.png``, ``bench_<device>_crossover.png``.

It is a measurement, not a test: ``tests/test_bench.py`` only runs ``--quick`` on tiny shapes.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import functools
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from . import algorithms as alg
from .shapes import conv_output_size

Row = dict[str, Any]

CSV_COLUMNS = [
    "case",
    "family",
    "op",
    "input_shape",
    "weight_shape",
    "stride",
    "padding",
    "dilation",
    "groups",
    "path",
    "chosen",
    "best_ms",
    "median_ms",
    "noise_pct",
    "gflops",
    "torch_best_ms",
    "torch_gflops",
    "ratio_to_torch",
    "col_bytes",
    "max_rel_err",
    "repeats",
    "threads",
    "clock",
    "device",
    "dtype",
]
CROSSOVER_COLUMNS = [
    "kernel_size",
    "path",
    "best_ms",
    "median_ms",
    "noise_pct",
    "input_shape",
    "threads",
    "clock",
    "device",
]
# Layers with fewer multiply-adds than this are timed on one thread (see the module docstring).
SMALL_MACS = 10**7
# Each path is called until it has `repeats` timings or has spent this many seconds (and at
# least MIN_REPEATS timings, so that the even/odd noise estimate has two calls a side).
BUDGET_S = 3.0
MIN_REPEATS = 4


@dataclass(frozen=True)
class Case:
    """One benchmark shape. ``op`` is "conv" or "conv_transpose"; shapes are torch's layouts."""

    name: str
    family: str  # "suite" (counts in the median), "large_kernel" or "loop"
    x: tuple[int, ...]
    w: tuple[int, ...]
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    op: str = "conv"
    output_padding: int = 0
    extra_paths: tuple[str, ...] = field(default=())

    @property
    def d(self) -> int:
        return len(self.w) - 2

    def macs(self) -> int:
        """Multiply-adds of the direct algorithm."""
        k = math.prod(self.w[2:])
        if self.op == "conv_transpose":
            C_in, C_out_g = self.x[1], self.w[1]
            return self.x[0] * math.prod(self.x[2:]) * C_in * C_out_g * k
        out = conv_output_size(self.x[2:], self.w[2:], self.stride, self.padding, self.dilation)
        return self.x[0] * self.w[0] * math.prod(out) * self.w[1] * k

    def out_numel(self) -> int:
        """Number of output values, N * C_out * prod(output size)."""
        if self.op == "conv_transpose":
            size = [
                (n - 1) * self.stride
                - 2 * self.padding
                + self.dilation * (k - 1)
                + self.output_padding
                + 1
                for n, k in zip(self.x[2:], self.w[2:], strict=True)
            ]
            return self.x[0] * self.w[1] * self.groups * math.prod(size)
        return self.macs() // math.prod(self.w[1:])

    def min_bytes(self, element_size: int = 4) -> int:
        """Bytes every algorithm must at least move: input, weight and output once."""
        return (math.prod(self.x) + math.prod(self.w) + self.out_numel()) * element_size


SUITE = [
    Case("resnet50 3x3 (64ch, 56x56)", "suite", (8, 64, 56, 56), (64, 64, 3, 3), padding=1),
    Case("resnet50 3x3 (256ch, 14x14)", "suite", (8, 256, 14, 14), (256, 256, 3, 3), padding=1),
    Case("resnet50 1x1 (256->64, 56x56)", "suite", (8, 256, 56, 56), (64, 256, 1, 1)),
    Case("resnet50 1x1 s2 (512->1024)", "suite", (8, 512, 28, 28), (1024, 512, 1, 1), stride=2),
    Case(
        "mobilenet depthwise 3x3 (144ch)",
        "suite",
        (8, 144, 56, 56),
        (144, 1, 3, 3),
        padding=1,
        groups=144,
    ),
    Case("stem 7x7 s2 (3->64, 224)", "suite", (8, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3),
    Case("video 3x3x3 (64ch, 8x28x28)", "suite", (4, 64, 8, 28, 28), (64, 64, 3, 3, 3), padding=1),
    Case(
        "decoder transposed 4x4 s2 (128->64)",
        "suite",
        (8, 128, 16, 16),
        (128, 64, 4, 4),
        stride=2,
        padding=1,
        op="conv_transpose",
    ),
    Case(
        "large-kernel depthwise 31x31",
        "large_kernel",
        (8, 64, 56, 56),
        (64, 1, 31, 31),
        padding=15,
        groups=64,
    ),
    Case(
        "large-kernel depthwise 21x21",
        "large_kernel",
        (8, 64, 56, 56),
        (64, 1, 21, 21),
        padding=10,
        groups=64,
    ),
    Case("tiny 3x3 (loop reference)", "loop", (1, 3, 16, 16), (4, 3, 3, 3), padding=1),
]

QUICK = [
    Case("tiny 3x3", "suite", (1, 4, 8, 8), (4, 4, 3, 3), padding=1),
    Case("tiny 1x1", "suite", (1, 4, 8, 8), (6, 4, 1, 1)),
    Case("tiny depthwise", "suite", (1, 4, 8, 8), (4, 1, 3, 3), padding=1, groups=4),
    Case("tiny 3d", "suite", (1, 2, 4, 5, 5), (2, 2, 3, 3, 3), padding=1),
    Case(
        "tiny transposed",
        "suite",
        (1, 4, 4, 4),
        (4, 2, 4, 4),
        stride=2,
        padding=1,
        op="conv_transpose",
    ),
    Case("tiny large kernel", "large_kernel", (1, 4, 12, 12), (4, 1, 9, 9), padding=4, groups=4),
    Case("tiny loop", "loop", (1, 2, 6, 6), (2, 2, 3, 3), padding=1),
]

TORCH_CONV: dict[int, Callable[..., torch.Tensor]] = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_CONV_T: dict[int, Callable[..., torch.Tensor]] = {
    1: F.conv_transpose1d,
    2: F.conv_transpose2d,
    3: F.conv_transpose3d,
}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_clock() -> str:
    """How CPU calls are timed: "thread_cpu" (the calling thread's CPU time) when torch runs on
    one thread, which is every op then, so that time spent waiting for a core while other jobs
    run is not counted; "wall" (perf_counter) with more threads, whose work the calling
    thread's clock would not see."""
    return "thread_cpu" if torch.get_num_threads() == 1 else "wall"


def time_call(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of ``fn`` takes: CUDA events on a GPU; on the CPU, see ``cpu_clock``."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        _synchronize(device)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    clock = time.thread_time if cpu_clock() == "thread_cpu" else time.perf_counter
    t0 = clock()
    fn()
    return clock() - t0


def measure(
    fns: dict[str, Callable[[], object]],
    device: torch.device,
    warmup: int,
    repeats: int,
    budget_s: float = BUDGET_S,
) -> dict[str, list[float]]:
    """Seconds of each call per function, timed interleaved: round r runs every function once.

    The order rotates each round so that no function always runs right after the same one. A
    function drops out after ``repeats`` calls, or earlier once it has ``MIN_REPEATS`` calls and
    has spent ``budget_s`` seconds (so that the slow loop reference does not dominate the run).
    """
    names = list(fns)
    with torch.no_grad():
        for name in names:
            for _ in range(warmup):
                fns[name]()
        _synchronize(device)
        times: dict[str, list[float]] = {n: [] for n in names}
        for r in range(max(repeats, MIN_REPEATS)):
            for i in range(len(names)):
                name = names[(i + r) % len(names)]
                done = len(times[name])
                if done >= max(repeats, MIN_REPEATS) or (
                    done >= MIN_REPEATS and sum(times[name]) > budget_s
                ):
                    continue
                times[name].append(time_call(fns[name], device))
    return times


def best_median_noise(times: Sequence[float]) -> tuple[float, float, float]:
    """(best, median, noise_pct) of one function's timings, in seconds and percent.

    noise_pct compares the best of the even rounds with the best of the odd rounds: two
    independent best-of-N/2 measurements of the same call, so their relative difference says
    how far a best-of-N timing may move from one run to the next (0 with fewer than 2 calls).
    """
    best, median = min(times), statistics.median(times)
    if len(times) < 2:
        return best, median, 0.0
    a, b = min(times[0::2]), min(times[1::2])
    return best, median, 100 * (max(a, b) / min(a, b) - 1)


def _reference_fn(case: Case) -> Callable[..., torch.Tensor] | None:
    """The loop reference of convlib (H1's ``conv{d}d_reference``), if the library has it."""
    try:
        from . import conv as conv_module
    except ImportError:  # pragma: no cover - the core module is always there once written
        return None
    return getattr(conv_module, f"conv{case.d}d_reference", None)


def _windows_fn(case: Case) -> Callable[..., torch.Tensor] | None:
    """convlib's windows path (as_strided windows + einsum), if available."""
    from . import conv as conv_module

    name = f"conv_transpose{case.d}d" if case.op == "conv_transpose" else f"conv{case.d}d"
    fn = getattr(conv_module, name, None)
    if fn is None:
        return None
    try:
        import inspect

        if "algorithm" in inspect.signature(fn).parameters:
            return lambda *a: fn(*a, algorithm="windows")
    except (TypeError, ValueError):  # pragma: no cover
        pass
    return fn


def gemm_only(
    case: Case, X: torch.Tensor, K: torch.Tensor
) -> tuple[Callable[[], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]] | None:
    """The bare GEMM of ``conv_im2col`` on ``case`` (dense convolutions only), columns precomputed.

    Returns ``(gemm, to_output)``: ``gemm()`` is the matrix product alone, in the orientation
    ``conv_im2col`` uses; ``to_output`` turns its result into Y (untimed), for the error check.
    """
    if case.op != "conv" or case.groups != 1 or case.family != "suite":
        return None
    from .algorithms._common import zero_pad
    from .algorithms.im2col import transposed_gemm_is_faster

    k = case.w[2:]
    out = conv_output_size(case.x[2:], k, case.stride, case.padding, case.dilation)
    Xp = zero_pad(X, (case.padding,) * case.d)
    cols = alg.im2col(Xp, k, case.stride, case.dilation).clone()  # (N, C_in*k, L)
    Kmat = K.reshape(K.shape[0], -1)  # (C_out, C_in*k)
    N, C_out = X.shape[0], K.shape[0]
    if transposed_gemm_is_faster(C_out, cols.shape[2]):
        colsT, KT = cols.transpose(1, 2), Kmat.t()
        return (
            lambda: torch.matmul(colsT, KT),
            lambda Y: Y.transpose(1, 2).reshape(N, C_out, *out),
        )
    return lambda: torch.matmul(Kmat, cols), lambda Y: Y.reshape(N, C_out, *out)


def case_paths(case: Case) -> dict[str, Callable[..., torch.Tensor]]:
    """The convlib paths that accept ``case``, by name: each called as torch's functional is."""
    paths: dict[str, Callable[..., torch.Tensor]] = {}
    if case.op == "conv_transpose":
        paths["gemm"] = alg.conv_transpose_gemm
        if case.dilation == 1:
            paths["phase"] = alg.conv_transpose_phase
    else:
        for name in alg.supported_algorithms(
            case.x, case.w, case.stride, case.dilation, case.groups
        ):
            paths[name] = alg.ALGORITHMS[name]
    windows = _windows_fn(case)
    if windows is not None:
        paths["windows"] = windows
    if case.family == "loop":
        ref = _reference_fn(case)
        if ref is not None:
            paths["loop"] = ref
    # FFT on small kernels and im2col on huge ones are far off the pace: keep the run short.
    if case.family != "loop" and case.op == "conv":
        taps = math.prod(case.w[2:])
        depthwise = case.groups == case.x[1] and case.groups > 1
        if taps < (25 if depthwise else 225):
            paths.pop("fft", None)
        if taps >= 225:
            paths.pop("im2col", None)
            paths.pop("im2col_partial", None)
            paths.pop("windows", None)
    return paths


def chosen_path(case: Case, dtype: torch.dtype, device: str | torch.device = "cpu") -> str:
    """The path ``algorithm="auto"`` runs for ``case`` on ``device``."""
    if case.op == "conv_transpose":
        return alg.choose_transpose_algorithm(case.w, case.dilation, device)
    return alg.choose_algorithm(
        case.x, case.w, case.stride, case.dilation, case.groups, dtype, device
    )


def run_case(
    case: Case,
    device: torch.device,
    dtype: torch.dtype,
    warmup: int,
    repeats: int,
    threads: int,
    seed: int = 0,
) -> list[Row]:
    """Time torch and every convlib path on ``case``; one row per path (torch included).

    A small case (under ``SMALL_MACS`` multiply-adds, on the CPU) runs on one thread and gets
    ten times the repeats: its calls are short, and their minimum needs many tries to be clean.
    The clock follows the thread count (``cpu_clock``).
    """
    small = device.type == "cpu" and case.macs() < SMALL_MACS
    old_threads = torch.get_num_threads()
    if small:
        torch.set_num_threads(1)
        threads, repeats = 1, 10 * repeats
    try:
        return _run_case(case, device, dtype, warmup, repeats, threads, seed)
    finally:
        torch.set_num_threads(old_threads)


def _run_case(
    case: Case,
    device: torch.device,
    dtype: torch.dtype,
    warmup: int,
    repeats: int,
    threads: int,
    seed: int,
) -> list[Row]:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(case.x, generator=gen, dtype=dtype).to(device)
    K = (torch.randn(case.w, generator=gen, dtype=dtype) / math.sqrt(math.prod(case.w[1:]))).to(
        device
    )
    if case.op == "conv_transpose":
        targs: tuple = (None, case.stride, case.padding, case.output_padding, case.groups)
        torch_fn = TORCH_CONV_T[case.d]
    else:
        targs = (None, case.stride, case.padding, case.dilation, case.groups)
        torch_fn = TORCH_CONV[case.d]
    paths = case_paths(case)
    fns: dict[str, Callable[[], object]] = {"torch": lambda: torch_fn(X, K, *targs)}
    for name, fn in paths.items():
        fns[name] = functools.partial(fn, X, K, *targs)
    outputs: dict[str, Callable[[], torch.Tensor]] = dict(fns)  # type: ignore[arg-type]
    bare = gemm_only(case, X, K)
    if bare is not None:
        fns["gemm_only"] = bare[0]
        outputs["gemm_only"] = lambda: bare[1](bare[0]())
    with torch.no_grad():
        Y_ref = torch_fn(X, K, *targs)
        scale = Y_ref.abs().max().item() or 1.0
        errors = {n: (outputs[n]() - Y_ref).abs().max().item() / scale for n in fns}
    times = measure(fns, device, warmup=warmup, repeats=repeats)
    chosen = chosen_path(case, dtype, device)
    flops = 2 * case.macs()
    t_torch = min(times["torch"])
    rows = []
    for name, ts in times.items():
        best, median, noise = best_median_noise(ts)
        col_bytes = 0
        if name == "im2col":
            col_bytes = alg.im2col_bytes(
                case.x, case.w[2:], case.stride, case.padding, case.dilation, X.element_size()
            )
        rows.append(
            {
                "case": case.name,
                "family": case.family,
                "op": case.op,
                "input_shape": "x".join(map(str, case.x)),
                "weight_shape": "x".join(map(str, case.w)),
                "stride": case.stride,
                "padding": case.padding,
                "dilation": case.dilation,
                "groups": case.groups,
                "path": name,
                "chosen": int(name == chosen),
                "best_ms": round(best * 1e3, 5),
                "median_ms": round(median * 1e3, 5),
                "noise_pct": round(noise, 1),
                "gflops": round(flops / best / 1e9, 3),
                "torch_best_ms": round(t_torch * 1e3, 5),
                "torch_gflops": round(flops / t_torch / 1e9, 3),
                "ratio_to_torch": round(best / t_torch, 4),
                "col_bytes": col_bytes,
                "max_rel_err": f"{errors[name]:.2e}",
                "repeats": len(ts),
                "threads": threads,
                "clock": cpu_clock() if device.type == "cpu" else "cuda_events",
                "device": device.type,
                "dtype": str(dtype).replace("torch.", ""),
            }
        )
    return rows


def crossover(
    device: torch.device,
    dtype: torch.dtype,
    x_shape: Sequence[int],
    kernel_sizes: Sequence[int],
    warmup: int,
    repeats: int,
    threads: int,
    progress: Any = None,
) -> list[Row]:
    """Depthwise 'same' convolution timed by direct shift-add, FFT and torch as the kernel grows."""
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(tuple(x_shape), generator=gen, dtype=dtype).to(device)
    C = x_shape[1]
    rows = []
    for k in kernel_sizes:
        K = torch.randn(C, 1, k, k, generator=gen, dtype=dtype).to(device)
        p = k // 2
        fns: dict[str, Callable[[], object]] = {
            "torch": functools.partial(F.conv2d, X, K, None, 1, p, 1, C),
            "depthwise": functools.partial(alg.conv_depthwise, X, K, None, 1, p, 1, C),
            "fft": functools.partial(alg.conv_fft, X, K, None, 1, p, 1, C),
        }
        times = measure(fns, device, warmup, repeats)
        for name, ts in times.items():
            best, median, noise = best_median_noise(ts)
            rows.append(
                {
                    "kernel_size": k,
                    "path": name,
                    "best_ms": round(best * 1e3, 5),
                    "median_ms": round(median * 1e3, 5),
                    "noise_pct": round(noise, 1),
                    "input_shape": "x".join(map(str, x_shape)),
                    "threads": threads,
                    "clock": cpu_clock() if device.type == "cpu" else "cuda_events",
                    "device": device.type,
                }
            )
        if progress is not None:
            progress.update(1)
    return rows


def matmul_peak_gflops(device: torch.device, dtype: torch.dtype, n: int, repeats: int = 5) -> float:
    """Measured GFLOP/s of an n x n matrix product: the compute ceiling of the roofline."""
    A = torch.randn(n, n, dtype=dtype, device=device)
    B = torch.randn(n, n, dtype=dtype, device=device)
    t = min(measure({"mm": lambda: A @ B}, device, warmup=2, repeats=repeats)["mm"])
    return 2 * n**3 / t / 1e9


def copy_bandwidth_gbs(device: torch.device, dtype: torch.dtype, numel: int) -> float:
    """Measured GB/s of a large tensor copy (read + write): the memory ceiling of the roofline."""
    A = torch.randn(numel, dtype=dtype, device=device)
    B = torch.empty_like(A)
    t = min(measure({"copy": lambda: B.copy_(A)}, device, warmup=2, repeats=5)["copy"])
    return 2 * numel * A.element_size() / t / 1e9


def machine_name(device: torch.device) -> str:
    """CPU model (and GPU name on cuda), as the benchmark's record of where it ran."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical cores"


def row_ms(row: Row, torch_side: bool = False) -> float:
    """Milliseconds of a row: its best-of-N time (``best_ms``), or ``median_ms`` in a file
    written before the benchmark kept minima (the committed GPU run). ``torch_side``: torch's."""
    if torch_side:
        return float(row["torch_best_ms"] if "torch_best_ms" in row else row["torch_median_ms"])
    return float(row["best_ms"] if "best_ms" in row else row["median_ms"])


def summarize(rows: Sequence[Row]) -> dict[str, Any]:
    """Headline figures: per-case and median ratio of auto's path to torch, large-kernel speed-up,
    loop-vs-fast and loop-vs-torch speed-ups, and the noise of the timings (median and largest
    ``noise_pct`` over the rows). Ratios are time(convlib) / time(torch): below 1 means faster."""
    chosen = [r for r in rows if int(r["chosen"])]
    suite = {r["case"]: float(r["ratio_to_torch"]) for r in chosen if r["family"] == "suite"}
    large = {
        r["case"]: row_ms(r, torch_side=True) / row_ms(r)
        for r in chosen
        if r["family"] == "large_kernel"
    }
    loop_rows = [r for r in rows if r["family"] == "loop"]
    loop = {r["path"]: row_ms(r) for r in loop_rows}
    fast = [v for k, v in loop.items() if k not in ("loop", "torch")]
    noise = [float(r["noise_pct"]) for r in rows if "noise_pct" in r]
    return {
        "suite_ratio_per_case": suite,
        "suite_median_ratio": statistics.median(suite.values()) if suite else None,
        "large_kernel_speedup_over_torch": large,
        "loop_speedup": loop["loop"] / min(fast) if "loop" in loop and fast else None,
        "loop_vs_torch": loop["loop"] / loop["torch"] if {"loop", "torch"} <= set(loop) else None,
        "noise_pct_median": round(statistics.median(noise), 1) if noise else None,
        "noise_pct_max": round(max(noise), 1) if noise else None,
    }


def write_csv(path: Path, rows: Sequence[Row], columns: Sequence[str]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def load_csv(path: str | os.PathLike[str]) -> list[Row]:
    """Rows of a benchmark CSV as dicts of strings (convert with float()/int() as needed)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def format_table(rows: Sequence[Row]) -> str:
    """Plain-text table: one line per (case, path), GFLOP/s, ratio to torch, column memory."""
    lines = [
        f"{'case':38} {'path':14} {'ms':>9} {'GFLOP/s':>8} {'torch GF/s':>10} {'ratio':>6} "
        f"{'cols MiB':>8} {'auto':>4}"
    ]
    for r in rows:
        if r["path"] == "torch":
            continue
        cols = int(r["col_bytes"]) / 2**20
        lines.append(
            f"{r['case'][:38]:38} {r['path']:14} {row_ms(r):9.3f} "
            f"{float(r['gflops']):8.1f} {float(r['torch_gflops']):10.1f} "
            f"{float(r['ratio_to_torch']):6.2f} {cols:8.1f} {'*' if int(r['chosen']) else '':>4}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# figures (used by the benchmark and by the chapter "From loops to GEMM")


def plot_bars(rows: Sequence[Row], ax: Any = None) -> Any:
    """Log-scale bar chart of time per case: torch and each convlib path. Returns the Figure."""
    import matplotlib.pyplot as plt

    cases = list(dict.fromkeys(r["case"] for r in rows))
    paths = list(dict.fromkeys(r["path"] for r in rows))
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(paths)
    colours = [plt.get_cmap("tab20")(i) for i in range(20)]  # tab10 repeats after ten paths
    for i, path in enumerate(paths):
        xs, ys = [], []
        for j, case in enumerate(cases):
            for r in rows:
                if r["case"] == case and r["path"] == path:
                    xs.append(j + (i - (len(paths) - 1) / 2) * width)
                    ys.append(row_ms(r))
        ax.bar(xs, ys, width, label=path, color=colours[i % len(colours)])
    ax.set_yscale("log")
    ax.set_ylabel("time (ms, log scale)")
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels(cases, rotation=30, ha="right", fontsize=7)
    ax.legend(fontsize=7, ncol=4)
    ax.set_title("convlib paths vs torch (lower is faster)")
    ax.figure.tight_layout()
    return ax.figure


def plot_roofline(rows: Sequence[Row], meta: dict[str, Any], ax: Any = None) -> Any:
    """Roofline: GFLOP/s against arithmetic intensity, under the measured matmul and copy ceilings.

    Intensity counts the minimum traffic (input + weight + output once), so a point far below the
    roof is limited by the extra traffic of its algorithm (columns, transforms, passes per tap).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    peak, bw = float(meta["matmul_peak_gflops"]), float(meta["copy_bandwidth_gbs"])
    cases = {c.name: c for c in SUITE + QUICK}
    # FFT and Winograd do fewer FLOPs than the direct count used for the y axis: their "rate" is
    # not a real rate and may rise above the roof, so they are drawn hollow and labelled apart.
    indirect = "convlib auto, FFT/Winograd (not a real rate)"
    pts: dict[str, tuple[list[float], list[float]]] = {
        "torch": ([], []),
        "convlib auto": ([], []),
        indirect: ([], []),
    }
    for r in rows:
        case = cases.get(r["case"])
        if case is None or not (int(r["chosen"]) or r["path"] == "torch"):
            continue
        intensity = 2 * case.macs() / case.min_bytes()
        if r["path"] == "torch":
            key = "torch"
        elif r["path"] in ("fft", "winograd"):
            key = indirect
        else:
            key = "convlib auto"
        pts[key][0].append(intensity)
        pts[key][1].append(float(r["gflops"]))
    xs = [v for p in pts.values() for v in p[0]] or [1.0]
    lo, hi = min(xs) / 4, max(xs) * 4
    grid = [lo * (hi / lo) ** (i / 100) for i in range(101)]
    ax.plot(grid, [min(peak, bw * x) for x in grid], "k-", label="roof (measured rates)")
    ax.axhline(peak, color="gray", ls=":", lw=0.8)
    ax.text(lo, peak * 1.08, f"measured matmul rate {peak:.0f} GFLOP/s", fontsize=7)
    styles = ({"marker": "o"}, {"marker": "s"}, {"marker": "D", "facecolors": "none"})
    for (label, (x, y)), style in zip(pts.items(), styles, strict=True):
        if style.get("facecolors") == "none":
            ax.scatter(x, y, label=label, edgecolors="C2", **style)
        else:
            ax.scatter(x, y, label=label, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per byte of input + weight + output)")
    ax.set_ylabel("GFLOP/s (direct-algorithm FLOPs)")
    ax.legend(fontsize=8)
    ax.set_title(f"roofline, {meta.get('device', 'cpu')}, {meta.get('threads', '?')} threads")
    ax.figure.tight_layout()
    return ax.figure


def plot_crossover(rows: Sequence[Row], ax: Any = None) -> Any:
    """Time against kernel size for depthwise direct, FFT and torch (log scale)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for path in dict.fromkeys(r["path"] for r in rows):
        pts = [(int(r["kernel_size"]), row_ms(r)) for r in rows if r["path"] == path]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=path)
    ax.set_yscale("log")
    ax.set_xlabel("kernel size k (k x k depthwise, 'same' padding)")
    ax.set_ylabel("time (ms, log scale)")
    ax.legend()
    ax.set_title("where the FFT wins")
    ax.figure.tight_layout()
    return ax.figure


def loop_vs_fast(
    x_shape: Sequence[int] = (1, 3, 12, 12),
    w_shape: Sequence[int] = (4, 3, 3, 3),
    padding: int = 1,
    repeats: int = 3,
) -> dict[str, float]:
    """Best seconds of the loop reference, the windows path and auto on one small 2D shape."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(tuple(x_shape), generator=gen)
    K = torch.randn(tuple(w_shape), generator=gen)
    case = Case("small", "loop", tuple(x_shape), tuple(w_shape), padding=padding)
    fns: dict[str, Callable[[], object]] = {
        "auto": lambda: alg.conv(X, K, None, 1, padding),
        "torch": lambda: F.conv2d(X, K, None, 1, padding),
    }
    ref, windows = _reference_fn(case), _windows_fn(case)
    if ref is not None:
        fns["loop"] = lambda: ref(X, K, None, 1, padding)
    if windows is not None:
        fns["windows"] = lambda: windows(X, K, None, 1, padding)
    times = measure(fns, torch.device("cpu"), warmup=1, repeats=repeats)
    return {name: min(ts) for name, ts in times.items()}


# ---------------------------------------------------------------------------------------------
# command line


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the summary written to the JSON file."""
    threads = torch.get_num_threads()
    try:
        return _main(argv)
    finally:
        torch.set_num_threads(threads)  # the benchmark's one thread does not outlive it


def _main(argv: Sequence[str] | None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m convlib.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--quick", action="store_true", help="tiny shapes, 1 warm-up, 2 repeats")
    parser.add_argument(
        "--out", default=None, help="output folder (default book/data; quick: _build/bench)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed calls per path, at most (default 10; small layers 10x that)",
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per path first")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: 1 on the CPU, timed by thread CPU time; else current)",
    )
    parser.add_argument("--cases", default=None, help="comma-separated substrings of case names")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda: torch.cuda.is_available() is False")
        # Same arithmetic for both sides: full float32 (no TF32) in cuDNN and in matmul,
        # and cuDNN allowed to pick its fastest algorithm per shape.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    if device.type == "cpu" or args.threads:
        # On the CPU one thread by default: the calling thread's CPU time is then the whole
        # cost of a call, and does not count time lost to other jobs on a shared machine.
        torch.set_num_threads(args.threads or 1)
    threads = torch.get_num_threads()
    dtype = torch.float32
    cases = QUICK if args.quick else SUITE
    if args.cases:
        wanted = [w.strip() for w in args.cases.split(",")]
        cases = [c for c in cases if any(w in c.name for w in wanted)]
    repeats = args.repeats or (2 if args.quick else 10)
    warmup = 1 if args.quick else args.warmup
    out = Path(args.out or ("_build/bench" if args.quick else "book/data"))
    out.mkdir(parents=True, exist_ok=True)
    kernel_sizes = [3, 5, 9] if args.quick else [3, 5, 7, 9, 13, 17, 21, 31]
    cross_shape = (1, 4, 16, 16) if args.quick else (4, 64, 56, 56)

    from tqdm import tqdm

    # The roofline's ceilings, measured before and after the run (the larger is kept: on a
    # shared machine a busy moment only ever lowers them).
    peak_n, bw_numel = (256, 2**16) if args.quick else (2048, 2**25)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    peak = matmul_peak_gflops(device, dtype, peak_n)
    bw = copy_bandwidth_gbs(device, dtype, bw_numel)
    rows: list[Row] = []
    with tqdm(
        total=len(cases) + len(kernel_sizes), desc="bench", unit="shape", file=sys.stderr
    ) as bar:
        for case in cases:
            bar.set_postfix_str(case.name[:30])
            rows.extend(run_case(case, device, dtype, warmup, repeats, threads))
            bar.update(1)
        bar.set_postfix_str("fft crossover")
        cross = crossover(device, dtype, cross_shape, kernel_sizes, warmup, repeats, threads, bar)
    peak = max(peak, matmul_peak_gflops(device, dtype, peak_n))
    bw = max(bw, copy_bandwidth_gbs(device, dtype, bw_numel))
    meta: dict[str, Any] = {
        "machine": machine_name(device),
        "device": device.type,
        "threads": threads,
        "torch_version": torch.__version__,
        "dtype": str(dtype).replace("torch.", ""),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m convlib.bench "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "matmul_peak_gflops": round(peak, 2),
        "copy_bandwidth_gbs": round(bw, 2),
        "repeats": repeats,
        "warmup": warmup,
        # 1-minute load average (runnable processes) before and after: above the core count,
        # other jobs competed for the cores during the run.
        "load_average": [
            load_before,
            os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        ],
        "note": (
            "best of N interleaved timings in one process, same inputs; clock per row "
            "(thread_cpu: CPU time of the one calling thread; wall: perf_counter); layers under "
            f"{SMALL_MACS:.0e} multiply-adds on one thread with 10x the repeats, the others on "
            f"{threads}; noise_pct per row: best of the even rounds vs best of the odd rounds"
            + (
                "; measured on a shared VM (other jobs running)"
                if device.type == "cpu" and (os.cpu_count() or 0) <= 2
                else "; no TF32; cudnn.benchmark on"
                if device.type == "cuda"
                else ""
            )
        ),
        "quick": bool(args.quick),
    }
    meta.update(summarize(rows))
    stem = f"bench_{device.type}"
    write_csv(out / f"{stem}.csv", rows, CSV_COLUMNS)
    write_csv(out / f"{stem}_crossover.csv", cross, CROSSOVER_COLUMNS)
    (out / f"{stem}.json").write_text(json.dumps(meta, indent=2) + "\n")
    if not args.no_plots:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        for name, fig in (
            ("bars", plot_bars(rows)),
            ("roofline", plot_roofline(rows, meta)),
            ("crossover", plot_crossover(cross)),
        ):
            fig.savefig(out / f"{stem}_{name}.png", dpi=110)
            plt.close(fig)
    print(format_table(rows))
    ratio = meta["suite_median_ratio"]
    print(f"\nmachine: {meta['machine']} ({device.type}, {threads} threads)")
    print(f"matmul peak {peak:.1f} GFLOP/s, copy bandwidth {bw:.1f} GB/s")
    if ratio is not None:
        print(f"median time ratio convlib(auto) / torch over the suite: {ratio:.2f}")
    for name, speedup in meta["large_kernel_speedup_over_torch"].items():
        print(f"{name}: convlib is {speedup:.1f}x faster than torch")
    if meta["loop_speedup"]:
        print(f"loop reference vs fast path on a tiny shape: {meta['loop_speedup']:.0f}x")
    print(f"wrote {out}/{stem}.csv, .json, _crossover.csv" + ("" if args.no_plots else " and PNGs"))
    return meta


if __name__ == "__main__":
    main()
