# ruff: noqa: E501  (student code is kept as one-line sources, as students write it)
"""Two corpora for the grader, built from the real exercises: honest students and cheats.

`build(dest)` writes `dest/<student>/<assignment>/<assignment>.ipynb` (nbgrader's submitted layout)
from the released notebooks in `exercises/` and the answers in `solutions/`, and returns
`{student: Member}` with the exact result grading must give each one. Every assignment of
`scripts/make_exercises.py` whose notebooks exist is in it (a new assignment joins by itself):

- The released solution of every assignment (`solution_exNN`): full marks.
- Honest, every assignment (`honest_exNN_a`, `honest_exNN_b`): the solution plus ordinary Python
  derived from its answers (`VARIATIONS`): the work of an answer moved into a helper function in
  its own cell, debugging prints inside an answer, the visible checks re-run under `%%time`,
  notes and empty cells; and, where they fit, `einsum` instead of `@`, `torch.vmap`, scratch cells
  comparing with torch, autograd checks of a hand-derived gradient, `%timeit`, `%prun` and
  cProfile, `gradcheck`. Each keeps full marks and is never "tampered".
- Honest, one variation each on ex01, ex03, ex04 (`honest_ex01_timeit`, ...): standard-library
  imports, timing, `%timeit`, `%%time`, prints, a scratch cell comparing with torch or convlib,
  `getattr`, seeds, shell commands, writing a file, extra cells, a scratch cell that errors. Some
  hand in late (timestamp.txt) for the export test.
- Cheats, by family (`Member.family`), each family on at least three assignments: each fakes at
  least one answer and earns nothing for what it fakes. Using the forbidden operation or the
  course library's own answer costs the tasks whose functions reach it (status "graded": a
  deduction, not tampering); changing the grading environment costs every task tested after it
  ("tampered"); forged check records cost the forged tasks ("tampered").

    python tests/grading_corpus.py DEST   # write the corpus and print the expected table
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import make_exercises  # noqa: E402

EX01, EX03, EX04 = "ex01_cross_correlation", "ex03_padding_stride", "ex04_channels"
CLASSIC = (EX01, EX03, EX04)  # one honest variation per notebook, and most ex01 cheats


def _exists(a: str) -> bool:
    return all((REPO / d / a / f"{a}.ipynb").exists() for d in ("exercises", "solutions"))


# every assignment whose notebooks are committed, in the course's order
ASSIGNMENTS = tuple(a for a in make_exercises.ASSIGNMENTS if _exists(a))
DUE = "2026-10-01 12:00:00 UTC"  # every corpus assignment's due date (tests/test_grading_corpus)
PERCENT_PER_DAY = 10.0


def short(a: str) -> str:
    """'ex09_backward' -> 'ex09'."""
    return a.split("_", 1)[0]


def by_number(n: str) -> str | None:
    """'ex09' -> 'ex09_backward' (None when that assignment has no notebooks yet)."""
    return next((a for a in ASSIGNMENTS if short(a) == n), None)


@dataclass
class Member:
    """One student of a corpus and what grading must give them."""

    assignment: str
    scores: dict[str, float]
    status: str
    honest: bool
    why: str
    message: str = ""  # a substring of the failed tasks' reason (cheats)
    timestamp: str | None = None
    penalty: float = 0.0  # the late penalty the export must show
    family: str = ""  # the cheat's family (forbidden_op, library_answer, ...)
    extra: dict = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.scores.values())


def released(a: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / "exercises" / a / f"{a}.ipynb", as_version=4)


def points(a: str) -> dict[str, float]:
    """grade_id -> points of every test cell, in notebook order."""
    return {
        c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
        for c in released(a).cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


def answers(a: str) -> dict[str, str]:
    """Solution cell grade_id -> its code without the BEGIN/END SOLUTION markers."""
    nb = nbformat.read(REPO / "solutions" / a / f"{a}.ipynb", as_version=4)
    out = {}
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("solution") and not meta.get("grade"):
            lines = [ln for ln in c.source.splitlines() if "SOLUTION ###" not in ln]
            out[meta["grade_id"]] = "\n".join(
                ln for ln in lines if ln.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
            )
    return out


def notebook(a: str, replace: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The released notebook with every answer cell holding the solution (or `replace[id]`)."""
    nb = released(a)
    given = {**answers(a), **(replace or {})}
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in given and c.metadata["nbgrader"].get("solution"):
            c.source = given[gid]
    return nb


def blank(a: str) -> nbformat.NotebookNode:
    """The released notebook as handed out: every answer still `raise NotImplementedError()`."""
    return released(a)


def index(nb: nbformat.NotebookNode, gid: str) -> int:
    return next(
        i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid
    )


def with_cells(nb: nbformat.NotebookNode, after: str, *cells: nbformat.NotebookNode) -> None:
    """Insert cells right after the cell `after` (a grade id)."""
    at = index(nb, after) + 1
    nb.cells[at:at] = list(cells)


def code(src: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(src)


def wrong(a: str, gid: str) -> str:
    """The solution of `gid` with a wrong body: same signature, returns zeros of a wrong shape."""
    src = answers(a)[gid]
    head = src.split('"""', 2)
    return '"""'.join(head[:2]) + '"""\n    return X.new_zeros((1, 1))\n'


def replace_body(a: str, gid: str, body: str) -> str:
    """The solution of `gid` with its body (after the docstring) replaced by `body`."""
    head = answers(a)[gid].split('"""', 2)
    return '"""'.join(head[:2]) + '"""\n' + body


# --------------------------------------------------------------------------------------------
# generic edits of an answer, on its syntax tree: they apply to any assignment's solution


def function(src: str, name: str) -> ast.FunctionDef | None:
    """The top-level `def name` of a cell's source, if any."""
    for node in ast.parse(src).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def functions(a: str) -> list[str]:
    """The answers of `a` that define a function named after their grade id, in order."""
    return [g for g, src in answers(a).items() if function(src, g) is not None]


def _work_starts(fn: ast.FunctionDef) -> int:
    """Line (1-based) of the first statement after the docstring."""
    first = fn.body[0]
    doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    return fn.body[1].lineno if doc and len(fn.body) > 1 else first.lineno


def _call_args(fn: ast.FunctionDef) -> str:
    a = fn.args
    parts = [p.arg for p in a.posonlyargs + a.args]
    parts += [f"*{a.vararg.arg}"] if a.vararg else []
    parts += [f"{p.arg}={p.arg}" for p in a.kwonlyargs]
    parts += [f"**{a.kwarg.arg}"] if a.kwarg else []
    return ", ".join(parts)


def helper_split(src: str, name: str) -> tuple[str, str]:
    """(helper cell, answer cell): the work of `def name` moved to `_name_work` in a cell of its
    own; the answer keeps its signature and docstring and returns the helper's result."""
    fn = function(src, name)
    assert fn is not None and fn.end_lineno is not None, name
    lines = src.splitlines()
    start = min([fn.lineno] + [d.lineno for d in fn.decorator_list]) - 1
    helper = "\n".join(lines[start : fn.end_lineno]).replace(
        f"def {name}(", f"def _{name}_work(", 1
    )
    work = _work_starts(fn)
    indent = " " * fn.body[-1].col_offset
    answer = lines[: work - 1] + [f"{indent}return _{name}_work({_call_args(fn)})"]
    return helper, "\n".join(answer + lines[fn.end_lineno :])


def with_print(src: str, name: str) -> str:
    """`def name` with a debugging print of its arguments' shapes as its first statement."""
    fn = function(src, name)
    assert fn is not None, name
    lines = src.splitlines()
    work = _work_starts(fn)
    indent = " " * fn.body[-1].col_offset
    params = "".join(f"{p.arg}, " for p in fn.args.posonlyargs + fn.args.args)
    shown = f", *(getattr(v, 'shape', v) for v in ({params}))" if params else ""
    lines.insert(work - 1, f"{indent}print('debug {name}:'{shown})")
    return "\n".join(lines)


def edited(src: str, old: str, new: str) -> str:
    """`src` with `old` replaced once; fails loudly when the solution no longer contains it."""
    assert old in src, f"the solution changed: {old!r} not found"
    return src.replace(old, new, 1)


def visible_test(a: str, gid: str) -> str:
    """The code of test cell `gid` as the student sees it (the hidden part is not in it)."""
    return released(a).cells[index(released(a), gid)].source


def visible_tests(a: str) -> str:
    """The code of every test cell of `a`, as the student sees it."""
    return "\n".join(
        c.source for c in released(a).cells if c.metadata.get("nbgrader", {}).get("grade")
    )


def replace_function(src: str, name: str, body: str) -> str:
    """`src` with the body of `def name` (after its docstring) replaced by `body`."""
    fn = function(src, name)
    assert fn is not None and fn.end_lineno is not None, name
    lines = src.splitlines()
    work = _work_starts(fn)
    return "\n".join(lines[: work - 1] + body.rstrip("\n").split("\n") + lines[fn.end_lineno :])


# a call of each assignment's first function (for timing and scratch cells)
SAMPLE = {
    EX01: "corr2d(torch.ones(5, 5, dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64))",
    EX03: "pad2d(torch.ones(3, 3, dtype=torch.float64), 1)",
    EX04: (
        "compose_layers(torch.ones(1, 2, 2, 2, dtype=torch.float64), torch.ones(1, dtype=torch.float64), "
        "torch.ones(3, 1, 2, 2, dtype=torch.float64), torch.ones(3, dtype=torch.float64))"
    ),
}
FIRST_TEST = {EX01: "test_corr2d", EX03: "test_same_padding", EX04: "test_compose_layers"}
TORCH_COMPARE = {
    EX01: (
        "import torch.nn.functional as F\n"
        "X, K = torch.randn(6, 6, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)\n"
        "print(torch.allclose(corr2d(X, K), F.conv2d(X[None, None], K[None, None])[0, 0]))"
    ),
    EX03: (
        "import torch.nn.functional as F\n"
        "X = torch.randn(2, 3, 4, dtype=torch.float64)\n"
        "print(torch.equal(pad2d(X, 2), F.pad(X, (2, 2, 2, 2))))"
    ),
    EX04: (
        "from torch.nn import functional as F\n"
        "X, K1, K2 = torch.randn(1, 2, 6, 6, dtype=torch.float64), torch.randn(3, 2, 2, 2, dtype=torch.float64), torch.randn(1, 3, 3, 3, dtype=torch.float64)\n"
        "b1, b2 = torch.randn(3, dtype=torch.float64), torch.randn(1, dtype=torch.float64)\n"
        "K, b = compose_layers(K1, b1, K2, b2)\n"
        "print(torch.allclose(F.conv2d(X, K, b), F.conv2d(F.conv2d(X, K1, b1), K2, b2)))"
    ),
}

HONEST: dict[str, str] = {  # name -> the extra cell (ordinary Python); {call} is SAMPLE
    "import_sys": "import sys\nprint(sys.version)",
    "perf_counter": "import time\nt0 = time.perf_counter()\n{call}\nprint(time.perf_counter() - t0)",
    "timeit": "%timeit -n 3 -r 1 {call}",
    "cell_time": "%%time\ny = {call}",
    "compare_torch": "",  # TORCH_COMPARE
    "getattr_helper": (
        "def shape_of(t):\n    return getattr(t, 'shape', None)\n\nprint(shape_of({call}))"
    ),
    "seeds": "import random\nimport numpy as np\nrandom.seed(0)\nnp.random.seed(0)\ntorch.manual_seed(0)",
    "compare_convlib": (
        "import convlib\nX = torch.randn(1, 1, 5, 5, dtype=torch.float64)\n"
        "print(convlib.conv2d(X, torch.ones(1, 1, 2, 2, dtype=torch.float64)).shape)"
    ),
    "os_and_shell": "import os, pathlib\nprint(os.getcwd(), pathlib.Path('.').resolve())\n!ls",
    "writes_file": "with open('notes.txt', 'w') as f:\n    f.write('my notes')",
    "scratch_error": "x = [1, 2, 3]\nx[10]",
    "self_check": "",  # the student runs a check on their own function in a scratch cell
}


def _honest(a: str, kind: str) -> nbformat.NotebookNode:
    nb = notebook(a)
    if kind == "compare_torch":
        src = TORCH_COMPARE[a]
    elif kind == "self_check":
        src = {
            EX01: "check.check_corr2d(corr2d, torch.ones(4, 4, dtype=torch.float64), "
            "torch.ones(2, 2, dtype=torch.float64))",
            EX03: "practice.check_same_padding(same_padding, 9, 3, 2)",
            EX04: "practice.check_fold_normalization(fold_normalization, torch.ones(2, 3, 1, 1, dtype=torch.float64), "
            "torch.zeros(2, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))",
        }[a]
    else:
        src = HONEST[kind].replace("{call}", SAMPLE[a])
    with_cells(nb, FIRST_TEST[a], code(src))
    return nb


# --------------------------------------------------------------------------------------------
# honest variations of every assignment: steps applied to the solution notebook

Step = Callable[[str, nbformat.NotebookNode], str]  # (assignment, notebook) -> what it did


def _cell(nb: nbformat.NotebookNode, gid: str) -> nbformat.NotebookNode:
    return nb.cells[index(nb, gid)]


def helper(gid: str | None = None) -> Step:
    """The answer's work in a helper function of its own cell, called by the answer."""

    def step(a: str, nb: nbformat.NotebookNode) -> str:
        g = gid or functions(a)[0]
        cell = _cell(nb, g)
        helper_src, cell.source = helper_split(cell.source, g)
        nb.cells.insert(index(nb, g), code(helper_src))
        return f"helper cell for {g}"

    return step


def prints(gid: str | None = None) -> Step:
    """A debugging print inside the answer (its output lands in the test cells)."""

    def step(a: str, nb: nbformat.NotebookNode) -> str:
        g = gid or functions(a)[-1]
        cell = _cell(nb, g)
        cell.source = with_print(cell.source, g)
        return f"prints in {g}"

    return step


def time_test(gid: str | None = None) -> Step:
    """The visible checks of a test cell, copied into a scratch cell under %%time."""

    def step(a: str, nb: nbformat.NotebookNode) -> str:
        g = gid or next(iter(points(a)))
        with_cells(nb, g, code("%%time\n" + visible_test(a, g)))
        return f"%%time on {g}'s visible checks"

    return step


def notes(gid: str | None = None) -> Step:
    """A markdown note and an empty code cell before an answer."""

    def step(a: str, nb: nbformat.NotebookNode) -> str:
        g = gid or next(iter(answers(a)))
        at = index(nb, g)
        nb.cells[at:at] = [nbformat.v4.new_markdown_cell("## My notes\nShapes first."), code("")]
        return "notes and an empty cell"

    return step


def edit(gid: str, old: str, new: str, what: str) -> Step:
    """The answer rewritten (`einsum` for `@`, `torch.vmap` for a batch)."""

    def step(a: str, nb: nbformat.NotebookNode) -> str:
        cell = _cell(nb, gid)
        cell.source = edited(cell.source, old, new)
        return f"{what} in {gid}"

    return step


def scratch(after: str, src: str, what: str) -> Step:
    """A scratch cell of the student's own after the cell `after`."""

    def step(a: str, nb: nbformat.NotebookNode) -> str:
        with_cells(nb, after, code(src))
        return what

    return step


F64 = "dtype=torch.float64"
# per assignment (by number): extra steps of notebook a and of notebook b; every notebook also
# gets the generic steps (a: helper cell, notes; b: prints, %%time on the first test's checks)
VARIATIONS: dict[str, tuple[list[Step], list[Step]]] = {
    "ex01": (
        [
            scratch(
                "test_corr2d",
                f"Xb, K = torch.randn(4, 6, 6, {F64}), torch.randn(3, 3, {F64})\n"
                "Yb = torch.vmap(lambda x: corr2d(x, K))(Xb)  # a batch in one call\n"
                "print(Yb.shape, torch.allclose(Yb[2], corr2d(Xb[2], K)))",
                "torch.vmap over a batch in a scratch cell",
            )
        ],
        [],
    ),
    "ex02": (
        [
            edit("critical_lr", "A.T @ A", 'torch.einsum("ki,kj->ij", A, A)', "einsum for @"),
            scratch(
                "test_loss_grad",
                f"X, Y = torch.randn(5, 6, {F64}), torch.randn(4, 4, {F64})\n"
                f"K = torch.randn(2, 3, {F64}, requires_grad=True)\n"
                f"b = torch.tensor(0.5, {F64}, requires_grad=True)\n"
                "loss = ((corr2d(X, K) + b - Y) ** 2).sum()\n"
                "dK, db = torch.autograd.grad(loss, (K, b))  # autograd, to check my derivation\n"
                "mine = loss_grad(X, Y, K.detach(), b.detach())\n"
                "print(torch.allclose(dK, mine[0]), torch.allclose(db, mine[1]))",
                "autograd checks the hand gradient in a scratch cell",
            ),
        ],
        [
            scratch(
                "test_critical_lr",  # (after the released cell that defines grad_a, grad_b)
                f"X, Y = torch.randn(5, 6, {F64}), torch.randn(4, 4, {F64})\n"
                f"K, b = torch.randn(2, 3, {F64}), torch.tensor(0.3, {F64})\n"
                "numeric = numerical_grad(lambda K: ((corr2d(X, K) + b - Y) ** 2).sum(), K)\n"
                "for grad in (grad_a, grad_b, loss_grad):\n"
                "    print(grad.__name__, torch.allclose(grad(X, Y, K, b)[0], numeric, atol=1e-5))",
                "numerical_grad judges grad_a, grad_b and loss_grad",
            )
        ],
    ),
    "ex03": (
        [
            scratch(
                "test_pad2d",
                "import torch.nn.functional as F\n"
                f"X = torch.randn(2, 3, 5, 4, {F64})\n"
                "for mode in ['reflect', 'replicate', 'circular']:\n"
                "    print(mode, torch.equal(pad2d(X, 2, mode), F.pad(X, (2, 2, 2, 2), mode=mode)))",
                "F.pad compared in a scratch cell",
            )
        ],
        [],
    ),
    "ex04": (
        [
            edit(
                "compose_layers",
                "K2.sum(dim=(2, 3)) @ b1",
                'torch.einsum("omhw,m->o", K2, b1)',
                "einsum for @",
            )
        ],
        [
            scratch(
                "test_probe_layer",
                f"layer = torch.nn.Conv2d(3, 2, (2, 3), {F64})\n"
                "K, b = probe_layer(layer, 3, (2, 3))\n"
                "print(torch.allclose(K, layer.weight), torch.allclose(b, layer.bias))",
                "probes a torch.nn.Conv2d in a scratch cell",
            )
        ],
    ),
    "ex05": (
        [
            edit(
                "fit_conv1x1",
                "torch.linalg.solve(A.T @ A, A.T @ B)",
                'torch.linalg.solve(torch.einsum("pi,pj->ij", A, A), torch.einsum("pi,pj->ij", A, B))',
                "einsum for @",
            )
        ],
        [
            scratch(
                "test_fit_conv1x1",
                "import torch.nn.functional as F\n"
                f"X, K0, b0 = torch.randn(2, 3, 4, 4, {F64}), torch.randn(2, 3, 1, 1, {F64}), torch.randn(2, {F64})\n"
                "K, b = fit_conv1x1(X, F.conv2d(X, K0, b0))\n"
                "print(torch.allclose(K, K0), torch.allclose(b, b0))",
                "F.conv2d compared in a scratch cell",
            )
        ],
    ),
    "ex06": (
        [
            scratch(
                "test_grouped_as_dense",
                f"Ks = torch.randn(5, 6, 2, 3, 3, {F64})\n"
                "dense = torch.vmap(lambda k: grouped_as_dense(k, 3))(Ks)  # five kernels at once\n"
                "print(dense.shape, torch.equal(dense[4], grouped_as_dense(Ks[4], 3)))",
                "torch.vmap over a batch of kernels in a scratch cell",
            )
        ],
        [
            scratch(
                "test_recover_groups",
                "import torch.nn.functional as F\n"
                f"K, X = torch.randn(6, 2, 3, 3, {F64}), torch.randn(1, 6, 5, 5, {F64})\n"
                "Kg, g = recover_groups(grouped_as_dense(K, 3))\n"
                "print(g, torch.allclose(F.conv2d(X, Kg, groups=g), F.conv2d(X, K, groups=3)))",
                "F.conv2d(groups=) compared in a scratch cell",
            )
        ],
    ),
    "ex07": (
        [
            scratch(
                "test_dilate_kernel",
                "import torch.nn.functional as F\n"
                f"X, K = torch.randn(1, 2, 9, 9, {F64}), torch.randn(3, 2, 3, 3, {F64})\n"
                "print(torch.allclose(F.conv2d(X, dilate_kernel(K, (2, 2))), F.conv2d(X, K, dilation=2)))",
                "F.conv2d(dilation=) compared in a scratch cell",
            )
        ],
        [
            scratch(
                "test_dilate_kernel",
                f"Ks = torch.randn(4, 2, 3, 3, 3, {F64})\n"
                "print(torch.equal(torch.vmap(lambda k: dilate_kernel(k, (2, 2)))(Ks), dilate_kernel(Ks, (2, 2))))",
                "torch.vmap over a batch of kernels in a scratch cell",
            )
        ],
    ),
    "ex08": (
        [
            edit(
                "conv_transpose2d",
                "K.reshape(C_in, -1).T @ X.reshape(N, C_in, H * W)",
                'torch.einsum("ck,ncl->nkl", K.reshape(C_in, -1), X.reshape(N, C_in, H * W))',
                "einsum for @",
            )
        ],
        [
            scratch(
                "test_conv_matrix",
                "import torch.nn.functional as F\n"
                f"K, X = torch.randn(2, 3, 3, 3, {F64}), torch.randn(1, 3, 5, 4, {F64})\n"
                "Y = (conv_matrix(K, (5, 4), stride=2, padding=1) @ X.reshape(-1)).reshape(1, 2, 3, 2)\n"
                "print(torch.allclose(Y, F.conv2d(X, K, stride=2, padding=1)))",
                "F.conv2d compared in a scratch cell",
            )
        ],
    ),
    "ex09": (
        [
            scratch(
                "test_conv2d_grad_input",
                "import torch.nn.functional as F\n"
                f"X = torch.randn(2, 4, 7, 7, {F64}, requires_grad=True)\n"
                f"K = torch.randn(6, 2, 3, 3, {F64})\n"
                "Y = F.conv2d(X, K, stride=2, padding=1, groups=2)\n"
                "dY = torch.randn_like(Y)\n"
                "Y.backward(dY)  # autograd, to check my derivation\n"
                "print(torch.allclose(X.grad, conv2d_grad_input(dY, K, X.shape, stride=2, padding=1, groups=2)))",
                "autograd (Tensor.backward) checks conv2d_grad_input in a scratch cell",
            )
        ],
        [
            scratch(
                "test_conv_transpose2d_backward",
                "import torch.nn.functional as F\n"
                f"X = torch.randn(2, 3, 4, 4, {F64}, requires_grad=True)\n"
                f"K = torch.randn(3, 2, 3, 3, {F64}, requires_grad=True)\n"
                "Y = F.conv_transpose2d(X, K, stride=2, padding=1)\n"
                "dY = torch.randn_like(Y)\n"
                "dX, dK = torch.autograd.grad(Y, (X, K), dY)\n"
                "mine = conv_transpose2d_backward(X.detach(), K.detach(), dY, stride=2, padding=1)\n"
                "print(torch.allclose(dX, mine[0]), torch.allclose(dK, mine[1]))",
                "torch.autograd.grad checks conv_transpose2d_backward in a scratch cell",
            )
        ],
    ),
    "ex10": (
        [
            edit(
                "conv2d_gemm",
                "weight @ cols",
                'torch.einsum("gok,ngkl->ngol", weight, cols)',
                "einsum for @",
            ),
            scratch(
                "test_im2col",
                "import torch.nn.functional as F\n"
                f"X = torch.randn(2, 3, 6, 5, {F64})\n"
                "print(torch.equal(im2col(X, (2, 3), padding=1, stride=2), F.unfold(X, (2, 3), padding=1, stride=2)))",
                "F.unfold compared in a scratch cell",
            ),
        ],
        [],
    ),
    "ex11": (
        [
            scratch(
                "test_avg_pool2d_backward",
                "import torch.nn.functional as F\n"
                f"X = torch.randn(1, 2, 5, 5, {F64}, requires_grad=True)\n"
                "Y = F.avg_pool2d(X, 3, stride=2, padding=1, count_include_pad=False)\n"
                "dY = torch.randn_like(Y)\n"
                "Y.backward(dY)\n"
                "print(torch.allclose(X.grad, avg_pool2d_backward(dY, (5, 5), 3, 2, 1, count_include_pad=False)))",
                "autograd checks avg_pool2d_backward in a scratch cell",
            )
        ],
        [
            scratch(
                "test_max_pool2d",
                "import torch.nn.functional as F\n"
                f"X = torch.randn(2, 3, 7, 6, {F64})\n"
                "mine, theirs = max_pool2d(X, 3, 2, 1), F.max_pool2d(X, 3, 2, 1, return_indices=True)\n"
                "print(torch.equal(mine[0], theirs[0]), torch.equal(mine[1], theirs[1]))",
                "F.max_pool2d compared in a scratch cell",
            )
        ],
    ),
    "ex12": (
        [
            scratch(
                "test_causal_step",
                "import torch.nn.functional as F\n"
                f"x, K = torch.randn(1, 2, 10, {F64}), torch.randn(3, 2, 3, {F64})\n"
                f"buffer, ys = torch.zeros(1, 2, 4, {F64}), []\n"
                "for t in range(10):\n"
                "    y, buffer = causal_step(buffer, x[:, :, t], K, dilation=2)\n"
                "    ys.append(y)\n"
                "print(torch.allclose(torch.stack(ys, 2), F.conv1d(F.pad(x, (4, 0)), K, dilation=2)))",
                "F.conv1d compared in a scratch cell",
            )
        ],
        [],
    ),
    "ex13": (
        [
            scratch(
                "test_relative_errors",
                f"Ks = torch.randn(5, 4, 3, 3, 3, {F64})\n"
                "errors = torch.vmap(relative_errors)(Ks)  # five layers at once\n"
                "print(errors.shape, torch.allclose(errors[1], relative_errors(Ks[1])))",
                "torch.vmap over a batch of layers in a scratch cell",
            )
        ],
        [
            scratch(
                "test_layer_factors",
                "import torch.nn.functional as F\n"
                f"K, X = torch.randn(4, 3, 3, 3, {F64}), torch.randn(1, 3, 8, 8, {F64})\n"
                "V, H = layer_factors(K, 9)\n"
                "print(torch.allclose(F.conv2d(F.conv2d(X, V), H), F.conv2d(X, K)))",
                "F.conv2d compared in a scratch cell",
            )
        ],
    ),
    "ex14": (
        [
            scratch(
                "test_grid_sample",
                "import torch.nn.functional as F\n"
                f"X, grid = torch.randn(2, 3, 5, 6, {F64}), 1.2 * (2 * torch.rand(2, 4, 3, 2, {F64}) - 1)\n"
                "print(torch.allclose(grid_sample(X, grid), F.grid_sample(X, grid, align_corners=False)))",
                "F.grid_sample compared in a scratch cell",
            )
        ],
        [
            scratch(
                "test_bilinear_grad",
                "import torch.nn.functional as F\n"
                f"X = torch.randn(2, 5, 6, {F64})\n"
                f"py = torch.tensor([0.3, 1.5, 3.25], {F64}, requires_grad=True)\n"
                f"px = torch.tensor([0.2, 2.5, 0.75], {F64}, requires_grad=True)\n"
                "grid = torch.stack([px / 5 * 2 - 1, py / 4 * 2 - 1], -1)[None, None]\n"
                "sample = F.grid_sample(X[None], grid, align_corners=True)[0, :, 0]  # (C, P)\n"
                "gy, gx = torch.autograd.grad(sample.sum(), (py, px))\n"
                "dpy, dpx = bilinear_grad(X, py.detach(), px.detach())\n"
                "print(torch.allclose(gy, dpy.sum(0)), torch.allclose(gx, dpx.sum(0)))",
                "autograd through F.grid_sample checks bilinear_grad in a scratch cell",
            )
        ],
    ),
    "ex15": (
        [
            scratch(
                "test_fft_conv1d_overlap_save",
                "import torch.nn.functional as F\n"
                f"xs, k = torch.randn(4, 100, {F64}), torch.randn(9, {F64})\n"
                "ys = torch.vmap(lambda x: fft_conv1d_overlap_save(x, k, 16))(xs)  # four signals\n"
                "print(torch.allclose(ys, F.conv1d(xs[:, None], k[None, None])[:, 0]))",
                "torch.vmap over a batch of signals in a scratch cell",
            )
        ],
        [
            scratch(
                "test_fft_conv1d",
                "import torch.nn.functional as F\n"
                f"X, K = torch.randn(2, 3, 20, {F64}), torch.randn(4, 3, 5, {F64})\n"
                "print(torch.allclose(fft_conv1d(X, K, padding=2, dilation=2), F.conv1d(X, K, padding=2, dilation=2)))",
                "F.conv1d compared in a scratch cell",
            )
        ],
    ),
    "ex16": (
        [
            edit(
                "conv2d_gemm",
                "(K.reshape(C_out, -1) @ cols)",
                '(torch.einsum("ok,nkl->nol", K.reshape(C_out, -1), cols))',
                "einsum for @",
            ),
            scratch(
                "test_conv2d_gemm",
                "X = check.randn(1, 4, 12, 12, seed=7, device=device)\n"
                "K = check.randn(4, 4, 3, 3, seed=8, device=device)\n"
                "%timeit -n 1 -r 2 core.reference_loops(X, K, padding=1)\n"
                "%timeit -n 3 -r 2 conv2d_gemm(X, K, padding=1)",
                "%timeit of the course's loops and of conv2d_gemm",
            ),
            scratch(
                "test_conv2d_gemm",
                "%prun -l 8 -s cumulative conv2d_gemm(X, K, padding=1)",
                "%prun of conv2d_gemm",
            ),
        ],
        [
            edit(
                "winograd_conv1d",
                "    Y = AT @ ((G @ g)[:, None] * (BT @ D.T))  # (m, tiles)\n    return Y.T.reshape(-1)",
                "    Gg = G @ g\n    Y = torch.vmap(lambda d: AT @ (Gg * (BT @ d)))(D)  # (tiles, m), every tile in one call\n    return Y.reshape(-1)",
                "torch.vmap over the tiles",
            ),
            scratch(
                "test_conv2d_gemm",
                "import cProfile\nimport pstats\n"
                "X = check.randn(2, 3, 16, 16, seed=1, device=device)\n"
                "K = check.randn(4, 3, 3, 3, seed=2, device=device)\n"
                "profiler = cProfile.Profile()\n"
                "profiler.enable()\n"
                "for _ in range(3):\n"
                "    conv2d_gemm(X, K, padding=1)\n"
                "profiler.disable()\n"
                "pstats.Stats(profiler).sort_stats('cumulative').print_stats(6)",
                "cProfile of conv2d_gemm",
            ),
        ],
    ),
    "ex17": (
        [
            scratch(
                "test_conv2d_function",
                f"X = torch.randn(2, 2, 5, 4, {F64}, requires_grad=True)\n"
                f"K = torch.randn(3, 2, 3, 2, {F64}, requires_grad=True)\n"
                f"b = torch.randn(3, {F64}, requires_grad=True)\n"
                "print(torch.autograd.gradcheck(lambda X, K, b: Conv2dFunction.apply(X, K, b, 2, 1), (X, K, b)))",
                "gradcheck of Conv2dFunction in a scratch cell",
            )
        ],
        [
            scratch(
                "train",
                "import time\n"
                "torch.manual_seed(0)\n"
                "model = make_model()\n"
                "start = time.process_time()\n"
                "train(model, X_train[:256], y_train[:256])\n"
                "print(time.process_time() - start, (model(X_test).argmax(1) == y_test).float().mean())",
                "times a short training run and its accuracy (time.process_time, manual_seed)",
            )
        ],
    ),
}


# ex17 trains its network twice in every submission (about 20 CPU seconds): one honest notebook
# holds all its variations
ONE_NOTEBOOK = {"ex17"}


def honest_notebooks(a: str) -> list[tuple[nbformat.NotebookNode, str]]:
    """Two honest notebooks of `a` (one for ONE_NOTEBOOK): (notebook, what the student did)."""
    extra_a, extra_b = VARIATIONS.get(short(a), ([], []))
    plans = [[*extra_a, helper(), notes()], [*extra_b, prints(), time_test()]]
    if short(a) in ONE_NOTEBOOK:
        plans = [plans[0] + plans[1]]
    out = []
    for steps in plans:
        nb = notebook(a)
        out.append((nb, "; ".join(step(a, nb) for step in steps)))
    return out


# --------------------------------------------------------------------------------------------
# cheats beyond ex01: each family on at least three assignments

USES_FORBIDDEN = "which computes what this task asks you to write yourself"
LIBRARY = "the course library's own answer"
CHANGES_ENVIRONMENT = "which changes the grading environment"

# student -> (assignment number, answer id, function, new body, tasks whose functions reach it)
FORBIDDEN_BEYOND_EX01 = {
    "cheat_ex09_autograd": (
        "ex09",
        "conv2d_grad_input",
        "conv2d_grad_input",
        "    import torch.nn.functional as F\n"
        "    X = dY.new_zeros(input_shape).requires_grad_()\n"
        "    with torch.enable_grad():  # around the checks' no_grad\n"
        "        Y = F.conv2d(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)\n"
        "        (dX,) = torch.autograd.grad(Y, X, dY)\n"
        "    return dX\n",
        ("test_conv2d_grad_input",),
    ),
    "cheat_ex10_F_unfold": (
        "ex10",
        "im2col",
        "im2col",
        "    return torch.nn.functional.unfold(X, kernel_size, padding=padding, stride=stride)\n",
        ("test_im2col", "test_conv2d_gemm"),  # (conv2d_gemm calls im2col)
    ),
    "cheat_ex11_F_max_pool2d": (
        "ex11",
        "max_pool2d",
        "max_pool2d",
        "    import torch.nn.functional as F\n"
        "    return F.max_pool2d(X, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)\n",
        ("test_max_pool2d",),
    ),
    "cheat_ex14_F_grid_sample": (
        "ex14",
        "grid_sample",
        "grid_sample",
        "    return torch.nn.functional.grid_sample(X, grid, align_corners=align_corners)\n",
        ("test_grid_sample",),
    ),
    "cheat_ex16_F_conv2d": (
        "ex16",
        "conv2d_gemm",
        "conv2d_gemm",
        "    return torch.nn.functional.conv2d(X, K, bias, stride, padding, dilation)\n",
        ("test_conv2d_gemm", "test_speedup"),
    ),
    "cheat_ex17_F_conv2d": (
        "ex17",
        "conv2d_function",
        "conv2d_forward",
        "    return F.conv2d(X, K, bias, stride, padding)\n",
        ("test_conv2d_function", "test_network", "test_training*"),  # (every training)
    ),
}
LIBRARY_ANSWERS = {  # student -> (assignment number, answer id, body, tasks that reach it)
    "cheat_ex08_convlib": (
        "ex08",
        "conv_matrix",
        "    import convlib\n    return convlib.conv_matrix(K, input_size, stride, padding, dilation)\n",
        ("test_conv_matrix",),
    ),
    "cheat_ex11_convlib": (
        "ex11",
        "adaptive_avg_pool2d",
        "    import convlib\n    return convlib.adaptive_avg_pool2d(X, output_size)\n",
        ("test_adaptive_avg_pool2d",),
    ),
    "cheat_ex14_convlib": (
        "ex14",
        "deform_conv2d",
        "    import convlib\n"
        "    return convlib.deform_conv2d(X, offset, K, bias, stride, padding, dilation, mask)\n",
        ("test_deform_conv2d",),
    ),
}


def patch_checks(a: str) -> str:
    """A cell that replaces, by a no-op, every check function the notebook's tests call."""
    names = sorted(set(re.findall(r"\b((?:check|practice|core)\.check_\w+)", visible_tests(a))))
    return "\n".join(f"{name} = lambda *args, **kwargs: None" for name in names)


# the same, through a loop variable: the static rule (convlib.tamper) does not see it, so Jupyter
# runs it and `nbgrader validate` says Success; while grading, convlib's modules are frozen and
# refuse it: the answers are left unchanged, 0 points, status "graded" (not "tampered")
PATCH_CHECKS_LOOP = (
    "for module in (check, practice):\n"
    "    for name in dir(module):\n"
    "        if name.startswith('check_'):\n"
    "            setattr(module, name, lambda *args, **kwargs: None)"
)
ENVIRONMENT = {  # student -> (assignment number, a cell that changes how cells run)
    "cheat_ex08_settrace": ("ex08", "import sys\nsys.settrace(lambda *a: None)"),
    "cheat_ex15_input_transformer": (
        "ex15",
        "get_ipython().input_transformers_cleanup.append(\n"
        "    lambda lines: ['pass\\n'] if any('practice' in l for l in lines) else lines)",
    ),
}
READS_SOLUTION = {  # student -> (assignment number, how the path is found)
    "cheat_ex06_reads_solution": (
        "ex06",
        "pathlib.Path(convlib.__file__).resolve().parents[1] / 'solutions'",
    ),
    "cheat_ex12_reads_solution": ("ex12", f"pathlib.Path({str(REPO)!r}) / 'solutions'"),
}
FORGED = {
    "cheat_ex05_forged": ("ex05", "bottleneck_width"),
    "cheat_ex13_forged": ("ex13", "rank_for_budget"),
}
SUBCLASS = {
    "cheat_ex07_subclass": ("ex07", "dilate_kernel"),
    "cheat_ex15_subclass": ("ex15", "fft_conv1d_overlap_save"),
}


def forge(fname: str) -> str:
    """A body that emits a fake passing check record for `fname`, then answers nothing."""
    return (
        "    from IPython.display import publish_display_data\n"
        f"    publish_display_data({{'application/vnd.convlib.check+json': {{'fname': {fname!r}, "
        "'fp': '', 'result': {'outcome': 'value', 'value': {'t': 'none'}}}})\n"
        "    return 0\n"
    )


def reads_solution(a: str, gid: str, where: str) -> str:
    """An answer cell that runs the instructor's solution cell of `gid`, read from disk."""
    return (
        "import json\nimport pathlib\n\nimport convlib\n\n"
        f"path = {where} / {a!r} / {a + '.ipynb'!r}\n"
        "try:\n"
        "    cells = json.loads(path.read_text())['cells']\n"
        f"    exec(next(''.join(c['source']) for c in cells if c['metadata'].get('nbgrader', {{}}).get('grade_id') == {gid!r}))\n"
        "except OSError as error:\n"
        "    print('not found:', error)"
    )


def zero(a: str, *gids: str) -> dict[str, float]:
    """Full points of `a` with the tasks `gids` (all when none; `test_x*`: every test_x...) at 0."""
    s = points(a)
    for g in gids or tuple(s):
        for task in [t for t in s if t == g or (g.endswith("*") and t.startswith(g[:-1]))] or [g]:
            s[task] = 0.0
    return s


def cheats_beyond_ex01() -> list[tuple[str, nbformat.NotebookNode, Member]]:
    """(student, notebook, expected) of every cheat family on assignments other than ex01."""
    out = []

    def add(
        student: str,
        n: str,
        make: Callable[[str], nbformat.NotebookNode],
        lost: tuple[str, ...] = (),  # the tasks it loses (none named: all)
        **expected: str,
    ) -> None:
        a = by_number(n)
        if a is not None:  # (an assignment whose notebooks are not written yet: skipped)
            out.append((student, make(a), Member(a, zero(a, *lost), honest=False, **expected)))  # type: ignore[arg-type]

    def answered(gid: str, fname: str, body: str) -> Callable[[str], nbformat.NotebookNode]:
        return lambda a: notebook(a, {gid: replace_function(answers(a)[gid], fname, body)})

    def before_first_answer(src: str) -> Callable[[str], nbformat.NotebookNode]:
        def make(a: str) -> nbformat.NotebookNode:
            nb = blank(a)  # nothing answered: only the patch could earn points
            nb.cells.insert(index(nb, next(iter(answers(a)))), code(src))
            return nb

        return make

    for student, (n, gid, fname, body, lost) in FORBIDDEN_BEYOND_EX01.items():
        add(
            student,
            n,
            answered(gid, fname, body),
            lost,
            status="graded",
            why=f"{fname} uses the operation",
            message=USES_FORBIDDEN,
            family="forbidden_op",
        )
    for student, (n, gid, body, lost) in LIBRARY_ANSWERS.items():
        add(
            student,
            n,
            answered(gid, gid, body),
            lost,
            status="graded",
            why=f"{gid} returns the course library's answer",
            message=LIBRARY,
            family="library_answer",
        )
    for n in ("ex07", "ex13"):
        a = by_number(n)
        add(
            f"cheat_{n}_patch_checks",
            n,
            before_first_answer(patch_checks(a) if a else ""),
            status="tampered",
            why="replaces the checks by no-ops",
            message=CHANGES_ENVIRONMENT,
            family="patch_checks",
        )
    add(
        "cheat_ex16_patch_checks_loop",
        "ex16",
        before_first_answer(PATCH_CHECKS_LOOP),
        status="graded",  # (refused at run time, not seen by the static rule: see above)
        why="replaces the checks by no-ops through setattr on a loop variable",
        family="patch_checks",
    )
    for student, (n, src) in ENVIRONMENT.items():
        add(
            student,
            n,
            before_first_answer(src),
            status="tampered",
            why="changes how cells run",
            message=CHANGES_ENVIRONMENT,
            family="environment",
        )
    for student, (n, where) in READS_SOLUTION.items():

        def make(a: str, w: str = where) -> nbformat.NotebookNode:
            return notebook(a, {g: reads_solution(a, g, w) for g in answers(a)})

        add(
            student,
            n,
            make,
            status="graded",
            why="runs the solution read from disk",
            family="reads_solution",
        )
    for student, (n, gid) in FORGED.items():
        add(
            student,
            n,
            answered(gid, gid, forge(gid)),
            (f"test_{gid}",),
            status="tampered",
            why="emits fake check records",
            family="forged_records",
        )
    lazy = "    class Lazy(torch.Tensor):\n        pass\n    return torch.zeros(1, dtype=torch.float64).as_subclass(Lazy)\n"
    for student, (n, gid) in SUBCLASS.items():
        add(
            student,
            n,
            answered(gid, gid, lazy),
            (f"test_{gid}",),
            status="graded",
            why="returns a tensor subclass",
            message="returned a Lazy, expected a torch.Tensor",
            family="tensor_subclass",
        )
    return out


ENVIRONMENT_EX01 = (
    "cheat_input_transformer",
    "cheat_events",
    "cheat_settrace",
    "cheat_rebinds_range",
)


def build(dest: Path) -> dict[str, Member]:
    """Write both corpora under `dest`; return the expected result of every member."""
    members: dict[str, Member] = {}

    def add(student: str, nb: nbformat.NotebookNode, m: Member) -> None:
        folder = dest / student / m.assignment
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{m.assignment}.ipynb")
        if m.timestamp:
            (folder / "timestamp.txt").write_text(m.timestamp + "\n", encoding="utf-8")
        members[student] = m

    # ---- every assignment: its released solution, and two honest students
    for a in ASSIGNMENTS:
        add(
            f"solution_{short(a)}",
            notebook(a),
            Member(a, points(a), "graded", True, "the released solution"),
        )
        for suffix, (nb, what) in zip("ab", honest_notebooks(a), strict=False):
            add(f"honest_{short(a)}_{suffix}", nb, Member(a, points(a), "graded", True, what))

    # ---- honest on ex01, ex03, ex04: one kind each (30), a few of them late
    late = {  # student -> (timestamp, days late started)
        "honest_ex01_import_sys": ("2026-10-01 11:59:59.000000 UTC", 0),
        "honest_ex01_timeit": ("2026-10-02 13:00:00.000000 UTC", 2),
        "honest_ex03_seeds": ("2026-10-01 12:30:00.000000 UTC", 1),
    }
    for a in CLASSIC:
        full = points(a)
        for kind in HONEST:
            if a != EX01 and kind not in ("timeit", "compare_torch", "seeds"):
                continue  # (ex01 has them all; the generic variations cover ex03 and ex04 too)
            student = f"honest_{a[:4]}_{kind}"
            stamp, days = late.get(student, (None, 0))
            penalty = sum(full.values()) * PERCENT_PER_DAY / 100 * days
            add(
                student,
                _honest(a, kind),
                Member(a, dict(full), "graded", True, kind, timestamp=stamp, penalty=penalty),
            )
    # extra markdown and code cells, and a helper cell used by the answer
    nb = notebook(EX01)
    with_cells(
        nb,
        "corr2d",
        nbformat.v4.new_markdown_cell("## My notes\nThe kernel slides; no flip."),
        code("def window(X, i, j, kh, kw):\n    return X[i : i + kh, j : j + kw]"),
        code(""),
    )
    add("honest_ex01_extra_cells", nb, Member(EX01, points(EX01), "graded", True, "extra cells"))
    # debugging prints inside the answer (output in the test cells) and getattr
    body = answers(EX01)["corr2d"].replace(
        "    return ", "    print('corr2d', getattr(X, 'shape'))\n    return ", 1
    )
    nb = notebook(EX01, {"corr2d": body})
    add("honest_ex01_prints_in_answer", nb, Member(EX01, points(EX01), "graded", True, "prints"))

    # ---- cheats
    # the tasks whose functions call corr2d: they reach whatever corr2d calls
    CORR2D_USERS = ("test_corr2d", "test_convolve2d")
    forbidden = {  # student -> (assignment, answer id, body, tasks that reach it)
        "cheat_F_conv2d": (
            EX01,
            "corr2d",
            "    import torch.nn.functional as F\n"
            "    return F.conv2d(X[None, None], K[None, None])[0, 0]\n",
            CORR2D_USERS,
        ),
        "cheat_conv2d_alias": (
            EX01,
            "corr2d",
            "    from torch.nn.functional import conv2d as c\n    return c(X[None, None], K[None, None])[0, 0]\n",
            CORR2D_USERS,
        ),
        "cheat_nn_module": (
            EX01,
            "corr2d",
            "    layer = torch.nn.Conv2d(1, 1, K.shape, bias=False, dtype=X.dtype)\n"
            "    with torch.no_grad():\n        layer.weight.copy_(K[None, None])\n"
            "    return layer(X[None, None])[0, 0].detach()\n",
            CORR2D_USERS,
        ),
        "cheat_convlib": (
            EX01,
            "corr2d",
            "    import convlib\n    return convlib.conv2d(X[None, None], K[None, None])[0, 0]\n",
            CORR2D_USERS,
        ),
        "cheat_aten": (
            EX01,
            "corr2d",
            "    return torch.ops.aten.convolution(X[None, None], K[None, None], None, [1, 1], "
            "[0, 0], [1, 1], False, [0, 0], 1)[0, 0]\n",
            CORR2D_USERS,
        ),
        "cheat_unfold": (
            EX01,
            "corr2d",
            "    kh, kw = K.shape\n    cols = torch.nn.functional.unfold(X[None, None], (kh, kw))[0]\n"
            "    return (K.reshape(1, -1) @ cols).reshape(X.shape[0] - kh + 1, X.shape[1] - kw + 1)\n",
            CORR2D_USERS,
        ),
        "cheat_F_pad": (
            EX03,
            "pad2d",
            "    import torch.nn.functional as F\n"
            "    return F.pad(X, (padding,) * 4, mode='constant' if mode == 'constant' else mode)\n",
            ("test_pad2d", "test_conv2d"),  # (conv2d pads with pad2d)
        ),
        "cheat_ex03_F_conv2d": (
            EX03,
            "conv2d",
            "    import torch.nn.functional as F\n"
            "    X, K = X[None, None], K[None, None]\n"
            "    if padding_mode != 'zeros':\n"
            "        p = (padding,) * 4 if isinstance(padding, int) else (padding[1],) * 2 + (padding[0],) * 2\n"
            "        return F.conv2d(F.pad(X, p, mode=padding_mode), K, stride=stride)[0, 0]\n"
            "    return F.conv2d(X, K, stride=stride, padding=padding)[0, 0]\n",
            ("test_conv2d",),
        ),
        "cheat_ex04_F_conv2d": (
            EX04,
            "compose_layers",
            "    import torch.nn.functional as F\n"
            "    k2h, k2w = K2.shape[-2:]\n"
            "    K1p = F.pad(K1.transpose(0, 1), (k2w - 1, k2w - 1, k2h - 1, k2h - 1))\n"
            "    return F.conv2d(K1p, K2.flip(-1, -2)).transpose(0, 1), b2 + K2.sum((2, 3)) @ b1\n",
            ("test_compose_layers",),
        ),
    }
    for student, (a, gid, body, lost) in forbidden.items():
        add(
            student,
            notebook(a, {gid: replace_body(a, gid, body)}),
            Member(
                a,
                zero(a, *lost),
                "graded",
                False,
                f"{gid} uses the operation",
                message=LIBRARY if student == "cheat_convlib" else USES_FORBIDDEN,
                family="library_answer" if student == "cheat_convlib" else "forbidden_op",
            ),
        )

    tampering = {  # student -> a cell put before the first answer; every answer is wrong
        "cheat_patch_testing": (
            "import torch.testing\ntorch.testing.assert_close = lambda *a, **k: None"
        ),
        "cheat_patch_functional": "import torch.nn.functional as F\nF.conv2d = lambda *a, **k: a[0]",
        "cheat_patch_check": "check.check_corr2d = lambda *a, **k: None",
        "cheat_fake_importlib": (
            "import sys, types\nfake = types.ModuleType('importlib')\n"
            "class Ok:\n    def __getattr__(self, name):\n        return lambda *a, **k: None\n"
            "fake.import_module = lambda name: Ok()\nsys.modules['importlib'] = fake\ncheck = Ok()"
        ),
        "cheat_input_transformer": (
            "get_ipython().input_transformers_cleanup.append(\n"
            "    lambda lines: ['pass\\n'] if any('check' in l for l in lines) else lines)"
        ),
        "cheat_events": ("ip = get_ipython()\nip.events.register('pre_run_cell', lambda *a: None)"),
        "cheat_settrace": "import sys\nsys.settrace(lambda *a: None)",
        "cheat_setattr": (
            "mod = __import__('torch.testing', fromlist=['x'])\n"
            "setattr(mod, 'assert_close', lambda *a, **k: None)"
        ),
        "cheat_rebinds_range": "def range(*args):\n    return []",
        "cheat_frames": "import sys\nsys._getframe().f_globals['check'] = None",
    }
    for student, src in tampering.items():
        nb = notebook(EX01, {g: wrong(EX01, g) for g in answers(EX01)})
        nb.cells.insert(index(nb, "corr2d"), code(src))
        add(
            student,
            nb,
            Member(
                EX01,
                zero(EX01),
                "tampered",
                False,
                "changes the grading environment",
                message=CHANGES_ENVIRONMENT,
                family="environment" if student in ENVIRONMENT_EX01 else "patch_checks",
            ),
        )
    # forged results: the function emits fake check records while it runs
    forge = replace_body(
        EX01,
        "corr2d",
        "    from IPython.display import publish_display_data\n"
        "    publish_display_data({'application/vnd.convlib.check+json': {'fname': 'corr2d', "
        "'fp': '', 'result': {'outcome': 'value', 'value': {'t': 'none'}}}})\n"
        "    return X.new_zeros((1, 1))\n",
    )
    add(
        "cheat_forged_records",
        notebook(EX01, {"corr2d": forge}),
        Member(
            EX01,
            zero(EX01, "test_corr2d", "test_convolve2d"),
            "tampered",
            False,
            "emits fake check records",
            message="",
            family="forged_records",
        ),
    )
    # a tensor subclass that would compute the answer when read
    lazy = replace_body(
        EX01,
        "corr2d",
        "    class Lazy(torch.Tensor):\n        pass\n"
        "    return X.new_zeros((X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1))"
        ".as_subclass(Lazy)\n",
    )
    add(
        "cheat_tensor_subclass",
        notebook(EX01, {"corr2d": lazy}),
        Member(
            EX01,
            zero(EX01, "test_corr2d", "test_convolve2d"),
            "graded",
            False,
            "returns a tensor subclass",
            message="returned a Lazy, expected a torch.Tensor",
            family="tensor_subclass",
        ),
    )
    # reads the solutions and the gradebook (invisible in the sandbox); wrong answers
    nb = notebook(EX03, {g: wrong(EX03, g) for g in ("pad2d", "conv2d")})
    nb.cells.insert(
        index(nb, "pad2d"),
        code(
            f"import glob\nfound = glob.glob({str(REPO)!r} + '/solutions/*/*.ipynb')\n"
            "print(found, [open(p).read()[:100] for p in found[:2]])\n"
        ),
    )
    add(
        "cheat_reads_solutions",
        nb,
        Member(
            EX03,
            zero(EX03, "test_pad2d", "test_conv2d"),
            "graded",
            False,
            "reads the solutions",
            family="reads_solution",
        ),
    )
    for student, nb, m in cheats_beyond_ex01():
        add(student, nb, m)
    return members


if __name__ == "__main__":
    table = build(Path(sys.argv[1]))
    for student, m in table.items():
        print(f"{student:34} {m.assignment:24} {m.status:9} {m.total:5g}  {m.family or m.why}")
    honest = sum(m.honest for m in table.values())
    print(f"{len(table)} members: {honest} honest, {len(table) - honest} cheats")
