# ruff: noqa: E501  (student code is kept as one-line sources, as students write it)
"""Two corpora for the grader, built from the real exercises: honest students and cheats.

`build(dest)` writes `dest/<student>/<assignment>/<assignment>.ipynb` (nbgrader's submitted layout)
from the released notebooks in `exercises/` and the answers in `solutions/`, and returns
`{student: Member}` with the exact result grading must give each one.

- Honest (30 over ex01, ex03, ex04): the solution plus one piece of ordinary Python: standard-library
  imports, timing, `%timeit`, `%%time`, prints, a scratch cell comparing with torch or convlib,
  `getattr`, seeds, shell commands, writing a file, extra cells, a scratch cell that errors. Each
  keeps full marks and is never "tampered". Some hand in late (timestamp.txt) for the export test.
- Cheats (22): each fakes at least one answer and earns nothing for what it fakes. Using the
  forbidden operation costs the tasks whose functions reach it (status "graded": a deduction,
  not tampering); changing the grading environment costs every task tested after it ("tampered").

    python tests/grading_corpus.py DEST   # write the corpus and print the expected table
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
EX01, EX03, EX04 = "ex01_cross_correlation", "ex03_padding_stride", "ex04_channels"
ASSIGNMENTS = (EX01, EX03, EX04)
DUE = "2026-10-01 12:00:00 UTC"  # every corpus assignment's due date (tests/test_grading_corpus)
PERCENT_PER_DAY = 10.0


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

    # ---- honest: every kind on every assignment (36), a few of them late
    late = {  # student -> (timestamp, days late started)
        "honest_ex01_import_sys": ("2026-10-01 11:59:59.000000 UTC", 0),
        "honest_ex01_timeit": ("2026-10-02 13:00:00.000000 UTC", 2),
        "honest_ex03_seeds": ("2026-10-01 12:30:00.000000 UTC", 1),
    }
    for a in ASSIGNMENTS:
        full = points(a)
        for kind in HONEST:
            if a != EX01 and kind in ("cell_time", "writes_file", "scratch_error", "os_and_shell"):
                continue  # (ex01 has them all; 30 honest in all keeps the test's cost down)
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
    def zero(a: str, *gids: str) -> dict[str, float]:
        s = points(a)
        for g in gids or tuple(s):
            s[g] = 0.0
        return s

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
                message="which computes what this task asks you to write yourself",
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
                message="which changes the grading environment",
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
            EX03, zero(EX03, "test_pad2d", "test_conv2d"), "graded", False, "reads the solutions"
        ),
    )
    return members


if __name__ == "__main__":
    table = build(Path(sys.argv[1]))
    for student, m in table.items():
        print(f"{student:34} {m.assignment:24} {m.status:9} {m.total:5g}  {m.why}")
    honest = sum(m.honest for m in table.values())
    print(f"{len(table)} members: {honest} honest, {len(table) - honest} cheats")
