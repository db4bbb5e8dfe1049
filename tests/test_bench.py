"""The benchmark runs end to end in quick mode on tiny shapes (it is not a timing test)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from convlib import bench


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench")
    meta = bench.main(["--quick", "--out", str(out), "--repeats", "1"])
    return out, meta


def test_quick_bench_writes_csv_with_every_column_and_path(
    quick_run: tuple[Path, dict[str, Any]],
) -> None:
    out, _ = quick_run
    rows = bench.load_csv(out / "bench_cpu.csv")
    assert list(rows[0]) == bench.CSV_COLUMNS
    cases = {r["case"] for r in rows}
    assert cases == {c.name for c in bench.QUICK}
    for case in bench.QUICK:
        case_rows = [r for r in rows if r["case"] == case.name]
        paths = {r["path"] for r in case_rows}
        assert "torch" in paths
        # exactly one path is auto's choice, and it was timed
        assert sum(int(r["chosen"]) for r in case_rows) == 1
        assert all(0 < float(r["best_ms"]) <= float(r["median_ms"]) for r in case_rows)
        assert all(float(r["noise_pct"]) >= 0 for r in case_rows)
        # one thread on the CPU by default, timed by that thread's CPU time
        assert {(r["threads"], r["clock"]) for r in case_rows} == {("1", "thread_cpu")}
        # every timed path agreed with torch on the benchmark inputs (float32)
        assert all(float(r["max_rel_err"]) < 1e-4 for r in case_rows), case.name
    im2col_rows = [r for r in rows if r["path"] == "im2col"]
    assert im2col_rows and all(int(r["col_bytes"]) > 0 for r in im2col_rows)
    # The bare GEMM of im2col's path, on every dense suite layer, computes the convolution too.
    dense = {
        c.name for c in bench.QUICK if c.op == "conv" and c.groups == 1 and c.family == "suite"
    }
    assert {r["case"] for r in rows if r["path"] == "gemm_only"} == dense


def test_quick_bench_writes_plots_json_and_crossover(
    quick_run: tuple[Path, dict[str, Any]],
) -> None:
    out, meta = quick_run
    for name in ("bars", "roofline", "crossover"):
        png = out / f"bench_cpu_{name}.png"
        assert png.exists() and png.stat().st_size > 1000
    saved = json.loads((out / "bench_cpu.json").read_text())
    assert saved["machine"] and saved["threads"] >= 1 and saved["matmul_peak_gflops"] > 0
    assert saved["suite_median_ratio"] == pytest.approx(meta["suite_median_ratio"])
    cross = bench.load_csv(out / "bench_cpu_crossover.csv")
    assert {r["path"] for r in cross} == {"torch", "depthwise", "fft"}
    assert {int(r["kernel_size"]) for r in cross} == {3, 5, 9}


def test_summary_ratios_by_hand() -> None:
    rows = [
        {"case": "a", "family": "suite", "path": "im2col", "chosen": 1, "ratio_to_torch": 2.0,
         "median_ms": 2.0, "torch_median_ms": 1.0},
        {"case": "b", "family": "suite", "path": "fft", "chosen": 1, "ratio_to_torch": 1.0,
         "median_ms": 1.0, "torch_median_ms": 1.0},
        {"case": "c", "family": "suite", "path": "gemm", "chosen": 1, "ratio_to_torch": 0.5,
         "median_ms": 0.5, "torch_median_ms": 1.0},
        {"case": "L", "family": "large_kernel", "path": "fft", "chosen": 1, "ratio_to_torch": 0.1,
         "median_ms": 10.0, "torch_median_ms": 100.0},
        {"case": "t", "family": "loop", "path": "loop", "chosen": 0, "ratio_to_torch": 50,
         "median_ms": 500.0, "torch_median_ms": 10.0},
        {"case": "t", "family": "loop", "path": "im2col", "chosen": 1, "ratio_to_torch": 0.5,
         "median_ms": 5.0, "torch_median_ms": 10.0},
    ]  # fmt: skip
    s = bench.summarize(rows)
    assert s["suite_median_ratio"] == 1.0
    assert s["large_kernel_speedup_over_torch"] == {"L": 10.0}
    assert s["loop_speedup"] == 100.0


def test_best_median_noise_by_hand() -> None:
    # Even rounds 4, 3 (best 3); odd rounds 5, 6 (best 5): the two halves differ by 5/3 - 1.
    best, median, noise = bench.best_median_noise([4.0, 5.0, 3.0, 6.0])
    assert (best, median) == (3.0, 4.5)
    assert noise == pytest.approx(100 * (5 / 3 - 1))
    assert bench.best_median_noise([2.0]) == (2.0, 2.0, 0.0)


def test_measure_stops_slow_paths_at_the_budget() -> None:
    calls = {"fast": 0, "slow": 0}

    def fast() -> None:
        calls["fast"] += 1

    def slow() -> None:  # 20 ms of busy work: counted by the wall clock and by CPU time alike
        calls["slow"] += 1
        start = bench.time.perf_counter()
        while bench.time.perf_counter() - start < 0.02:
            pass

    times = bench.measure(
        {"fast": fast, "slow": slow}, bench.torch.device("cpu"), 0, 50, budget_s=0.01
    )
    assert len(times["fast"]) == calls["fast"] == 50
    assert len(times["slow"]) == calls["slow"] == bench.MIN_REPEATS


def test_row_ms_reads_best_or_older_median() -> None:
    assert bench.row_ms({"best_ms": "1.5", "median_ms": "2"}) == 1.5
    assert bench.row_ms({"median_ms": "2"}) == 2.0
    assert bench.row_ms({"torch_median_ms": "3"}, torch_side=True) == 3.0


def test_cli_rejects_cuda_without_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bench.torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit):
        bench.main(["--device", "cuda", "--quick", "--out", str(tmp_path)])
