"""The grading policy (convlib.tamper, tools/grading/policy.py): ordinary Python is never a
finding; only changing the grading environment is, and it costs the tasks tested after it."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from convlib import tamper  # noqa: E402
from tools.grading.policy import scan_notebook, tampering_by_task  # noqa: E402

HONEST = [
    "import sys\nprint(sys.version)",
    "import time\nt0 = time.perf_counter()\nprint(time.perf_counter() - t0)",
    "%timeit corr2d(X, K)",
    "%%time\ny = corr2d(X, K)",
    "!ls",
    "import torch.nn.functional as F\nprint(F.conv2d(X[None, None], K[None, None]))",
    "def shape_of(t):\n    return getattr(t, 'shape', None)",
    "import random\nrandom.seed(0)\ntorch.manual_seed(0)",
    "import convlib\nprint(convlib.conv2d(X, K))",
    "import os, glob, pathlib, json, pickle, importlib, inspect, itertools",
    "torch.backends.cudnn.deterministic = True",
    "F = torch.nn.functional",
    "sum = 0\nmax = 3\ninput = torch.ones(3)\nlist_ = [1]",
    "def isinstance(a, b):\n    return True",  # the notebook's own name: the checks never see it
    "x = {}\nx['a'] = 1\nsetattr(x, 'y', 2) if False else None",
    "import sys\nsys.path.append('.')\nsys.modules.pop('json', None)",
    "check.check_corr2d(corr2d, X, K)",
    "this line is not python (",  # a syntax error fails on its own
]

CHEATS = [
    "import torch.testing\ntorch.testing.assert_close = lambda *a, **k: None",
    "F.conv2d = lambda *a: 0",
    "import torch.nn.functional as G\nG.conv2d = lambda *a: 0",
    "check.compare = lambda *a: None",
    "torch.Tensor.allclose = lambda *a: True",
    "del torch.testing.assert_close",
    "import sys, types\nsys.modules['importlib'] = types.ModuleType('x')",
    "import sys\nsys.modules.update({'convlib.check': None})",
    "get_ipython().input_transformers_cleanup.append(lambda l: [])",
    "ip = get_ipython()\nip.events.register('pre_run_cell', print)",
    "get_ipython().ast_transformers.append(None)",
    "mod = __import__('torch.testing', fromlist=['x'])\nsetattr(mod, 'assert_close', None)",
    "setattr(check, 'check_corr2d', print)",
    "vars(check)['compare'] = print",
    "import sys\nsys.settrace(lambda *a: None)",
    "import sys\nsys._getframe().f_globals['check'] = None",
    "f = corr2d.__globals__",
    "def range(*a):\n    return []",
    "check = None",
    "import numpy as torch",
    "def f():\n    global check\n    check = 1",
    "import builtins\nbuiltins.print = None",
]


@pytest.mark.parametrize("src", HONEST)
def test_ordinary_python_is_never_a_finding(src: str) -> None:
    assert tamper.scan(src) == []


@pytest.mark.parametrize("src", CHEATS)
def test_changing_the_grading_environment_is_found(src: str) -> None:
    found = tamper.scan(src)
    assert found, src
    message = tamper.messages(src)[0]
    assert message.startswith(f"tampering: the cell starting `{tamper.first_line(src)}`")
    assert message.endswith("0 points for every task tested after it")


def _md(**kw: object) -> dict:
    base = {"grade": False, "solution": False, "locked": False, "schema_version": 3}
    return {"nbgrader": base | kw}


def test_a_finding_costs_the_tasks_tested_after_it() -> None:
    def cell(src: str, **meta: object) -> nbformat.NotebookNode:
        return nbformat.v4.new_code_cell(src, metadata=_md(**meta))

    released = [
        cell("import torch", grade_id="setup", locked=True),
        cell("def f(X):\n    raise NotImplementedError()", grade_id="f", solution=True),
        cell("assert f(1)", grade_id="test_f", grade=True, locked=True, points=1),
        cell("def g(X):\n    raise NotImplementedError()", grade_id="g", solution=True),
        cell("assert g(1)", grade_id="test_g", grade=True, locked=True, points=1),
    ]
    submitted = [nbformat.from_dict(c) for c in released]
    submitted.insert(3, nbformat.v4.new_code_cell("torch.testing.assert_close = print"))
    submitted.insert(1, nbformat.v4.new_code_cell("import sys\nprint(sys.version)"))
    found = scan_notebook(submitted, released)
    assert [(v.cell_index, v.grade_ids) for v in found] == [(4, ("test_g",))]
    assert tampering_by_task(found) == {"test_g": found[0].message}
    submitted.append(nbformat.v4.new_code_cell("check = None"))  # after every test: costs nothing
    assert scan_notebook(submitted, released)[-1].grade_ids == ()


SOLUTIONS = sorted((REPO / "solutions").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.parent.name for p in SOLUTIONS])
def test_no_course_cell_is_a_finding(path: Path) -> None:
    """Every cell of the course (hidden tests included) runs through the same guard in the
    graded kernel: none may trip it."""
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code":
            assert tamper.scan(cell.source) == [], (path.name, cell.source[:200])
