"""The grading kernel's frozen modules: notebook code cannot rebind torch's functions, torch's own
code can (importing torch._dynamo, which the first torch.optim optimizer does, wraps
torch.manual_seed: a frozen torch once made every optimizer fail while grading)."""

from __future__ import annotations

import os
import types

import pytest
import torch

from tools.grading import kernel


def _frozen_copy() -> types.ModuleType:
    module = types.ModuleType("torch_copy")
    module.manual_seed = torch.manual_seed  # type: ignore[attr-defined]
    module.__class__ = kernel._FrozenModule
    return module


def _setter(filename: str) -> types.FunctionType:
    namespace: dict[str, object] = {}
    source = "def rebind(module, value):\n    module.manual_seed = value\n"
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102
    return namespace["rebind"]  # type: ignore[return-value]


def test_notebook_code_cannot_rebind_but_torch_can(monkeypatch: pytest.MonkeyPatch) -> None:
    torch_dir = os.path.dirname(torch.__file__) + os.sep
    monkeypatch.setattr(kernel, "_TORCH_DIR", [torch_dir])
    module = _frozen_copy()
    with pytest.raises(AttributeError, match="not allowed while grading"):
        _setter("<ipython-input-1>")(module, print)
    _setter(os.path.join(torch_dir, "_dynamo", "__init__.py"))(module, print)
    assert module.manual_seed is print
