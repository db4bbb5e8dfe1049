"""The runner's default parallelism: one submission per CPU core, one per visible GPU on CUDA."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.grading.runner import Settings, default_jobs  # noqa: E402


def settings(device: str, jobs: int = 0) -> Settings:
    return Settings(class_dir=Path("."), out_dir=Path("."), device=device, jobs=jobs)


@pytest.mark.parametrize("gpus", [1, 4])
def test_cuda_default_is_one_per_visible_gpu(gpus: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    assert default_jobs(settings("cuda")) == gpus
    assert default_jobs(settings("cuda:0")) == gpus
    assert default_jobs(settings("cuda", jobs=3)) == 3  # --jobs wins


def test_cpu_default_is_one_per_core() -> None:
    assert default_jobs(settings("cpu")) == (os.cpu_count() or 1)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_default_on_this_machine() -> None:
    assert default_jobs(settings("cuda")) == torch.cuda.device_count() >= 1
