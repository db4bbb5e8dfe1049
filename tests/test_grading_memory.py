"""The GPU-grading memory cap: a watchdog on the kernel's resident memory (RLIMIT_AS is unusable
with CUDA). A memory bomb must fail its cell with MemoryError and leave the process alive."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

KERNEL = Path(__file__).resolve().parents[1] / "tools" / "grading" / "kernel.py"

BOMB = f"""
import importlib.util, time
spec = importlib.util.spec_from_file_location("grading_kernel", {str(KERNEL)!r})
kernel = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kernel)
kernel._watch_resident_memory(400 * 2**20)
try:
    hog = [bytearray(2**24) for _ in range(10**5)]  # 1.6 TB if nothing stops it
except MemoryError as error:
    hog = None
    print("stopped:", error)
    time.sleep(1)
    ok = [bytearray(2**24) for _ in range(4)]  # the kernel still works after the cell failed
    print("alive", len(ok))
"""


def test_resident_memory_watchdog_stops_a_memory_bomb() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BOMB], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "stopped: the kernel's memory cap (400 MiB) was exceeded" in result.stdout, result.stdout
    assert "alive 4" in result.stdout, result.stdout
