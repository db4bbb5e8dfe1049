"""Shared fixtures: the devices to test on, and hypothesis profiles."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.register_profile("thorough", max_examples=400, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# One thread per xdist worker: the suite runs in parallel; oversubscribed BLAS threads are slower.
torch.set_num_threads(int(os.environ.get("CONVLIB_TEST_THREADS", "1")))

# Compare against torch at full float32 precision on GPUs: cuDNN's default TF32 convolutions differ
# from an exact float32 result by ~1e-3, which would hide real errors behind loose tolerances.
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Any test with a ``device`` argument runs on cpu, and on cuda (skipped without a GPU)."""
    if "device" in metafunc.fixturenames:
        metafunc.parametrize(
            "device",
            [
                "cpu",
                pytest.param(
                    "cuda",
                    marks=[
                        pytest.mark.cuda,
                        pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
                    ],
                ),
            ],
        )
