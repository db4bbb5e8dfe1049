"""The static grading policy (tools/grading/policy.py): cheats are found, honest answers are not."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.grading.policy import NOTEBOOK, TASK, scan_notebook, scan_source  # noqa: E402

COURSE = {"torch": "torch", "F": "torch.nn.functional", "check": "convlib.check"}
NAMES = frozenset(COURSE)


def kinds(src: str) -> set[str]:
    return {k for k, _, _, _ in scan_source(src, COURSE, NAMES)}


@pytest.mark.parametrize(
    ("src", "kind"),
    [
        ("def f(X, K):\n    return F.conv2d(X, K)", "forbidden_op"),
        ("def f(X, K):\n    return torch.nn.functional.conv2d(X, K)", "forbidden_op"),
        ("from torch.nn.functional import conv2d as c\ny = c(1, 2)", "forbidden_op"),
        ("def f(X):\n    return X.unfold(0, 2, 1)", "forbidden_op"),
        ("def f(X):\n    return torch.nn.Conv2d(1, 1, 3)(X)", "forbidden_op"),
        ("import convlib\ndef f(X, K):\n    return convlib.conv2d(X, K)", "forbidden_op"),
        ("import torch.testing\ntorch.testing.assert_close = print", "monkeypatch"),
        ("F.conv2d = lambda *a: 0", "monkeypatch"),
        ("check.compare = lambda *a: None", "monkeypatch"),
        ("torch.Tensor.allclose = lambda *a: True", "monkeypatch"),
        ("del torch.testing.assert_close", "monkeypatch"),
        ("import sys\nsys.modules['importlib'] = None", "import"),
        ("import os\nos.system('cat x')", "import"),
        ("import importlib", "import"),
        ("get_ipython().input_transformers_cleanup.append(lambda l: [])", "builtin"),
        ("!cat ../../../source/*/*.ipynb", "builtin"),
        ("%load ../../../gradebook.db", "builtin"),
        ("print(open('/etc/passwd').read())", "builtin"),
        ("setattr(F, 'conv2d', None)", "builtin"),
        ("m = __import__('torch')", "builtin"),
        ("exec('x = 1')", "builtin"),
        ("x = ().__class__.__bases__[0].__subclasses__()", "dunder"),
        ("def isinstance(a, b):\n    return True", "rebinding"),
        ("AssertionError = Exception", "rebinding"),
        ("check = None", "rebinding"),
        ("import numpy as torch", "rebinding"),
        ("def f():\n    global check\n    check = 1", "rebinding"),
        ("class T(torch.Tensor):\n    pass", "tensor_subclass"),
        ("class T:\n    def __torch_function__(self, *a):\n        return True", "tensor_subclass"),
        ("y = torch._C._nn.im2col", "torch_internals"),
        ("torch.library.impl('aten::convolution', 'CPU')", "torch_internals"),
        ("import torch.utils.cpp_extension", "torch_internals"),
    ],
)
def test_cheats_are_found(src: str, kind: str) -> None:
    assert kind in kinds(src)


@pytest.mark.parametrize(
    "src",
    [
        "import torch\nimport torch.nn.functional as F\nimport math\nimport numpy as np",
        "def corr2d(X, K):\n    kh, kw = K.shape\n    Y = X.new_zeros((2, 2))\n"
        "    for i in range(2):\n        Y[i, 0] = (X[i:i+kh, :kw] * K).sum()\n    return Y",
        "def f(X):\n    return X.as_strided((2, 2), (1, 1)).flip(0) @ X.T",
        "a, (b, c) = 1, (2, 3)\nY = torch.zeros(3)\nY[0] += 1",
        "def f(X):\n    return F.relu(X)",
        "x = [i ** 2 for i in range(3)]\nprint(x)",
        "this line is not python (",  # a syntax error is not a violation: it fails on its own
    ],
)
def test_honest_code_passes(src: str) -> None:
    assert kinds(src) == set()


def test_task_scope_is_the_tasks_the_cell_answers() -> None:
    def md(**kw: object) -> dict:
        base = {"grade": False, "solution": False, "locked": False, "schema_version": 3}
        return {"nbgrader": base | kw}

    released = [
        nbformat.v4.new_code_cell(
            "import torch\nimport torch.nn.functional as F",
            metadata=md(grade_id="setup", locked=True),
        ),
        nbformat.v4.new_code_cell(
            "def f(X):\n    raise NotImplementedError()", metadata=md(grade_id="f", solution=True)
        ),
        nbformat.v4.new_code_cell(
            "assert f(1)", metadata=md(grade_id="test_f", grade=True, locked=True, points=1)
        ),
        nbformat.v4.new_code_cell(
            "def g(X):\n    raise NotImplementedError()", metadata=md(grade_id="g", solution=True)
        ),
        nbformat.v4.new_code_cell(
            "assert g(1)", metadata=md(grade_id="test_g", grade=True, locked=True, points=1)
        ),
    ]
    submitted = [nbformat.from_dict(c) for c in released]
    submitted[1].source = "def f(X):\n    return F.conv2d(X, X)"
    found = scan_notebook(submitted, released)
    assert [(v.kind, v.scope, v.grade_ids) for v in found] == [("forbidden_op", TASK, ("test_f",))]
    submitted.insert(1, nbformat.v4.new_code_cell("import os"))
    found = scan_notebook(submitted, released)
    assert ("import", NOTEBOOK, ("test_f", "test_g")) in [
        (v.kind, v.scope, v.grade_ids) for v in found
    ]


SOLUTIONS = sorted((REPO / "solutions").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.parent.name for p in SOLUTIONS])
def test_reference_answers_are_not_flagged(path: Path) -> None:
    """The course's own answers, pasted into the released notebook, break no rule."""
    released = nbformat.read(REPO / "exercises" / path.parent.name / path.name, as_version=4)
    solution = nbformat.read(path, as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in solution.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    submitted = [nbformat.from_dict(c) for c in released.cells]
    for c in submitted:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            c.source = answers[gid]
    assert scan_notebook(submitted, released.cells) == []
