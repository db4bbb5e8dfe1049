"""Generate a class built to break grading, with the score every task must receive.

`build(dest)` writes `dest/<student>/ex01_cross_correlation/...` (nbgrader's submitted layout) from
the released notebook `exercises/ex01_cross_correlation` and the answers in `solutions/`, and
returns `{student: Expected}`. The expected scores are written here by reasoning about each fault
(which answer it breaks, which tasks call that answer), not computed by the grader.

ex01 has three tasks: test_corr2d (3 points), test_convolve2d (3, calls corr2d) and
test_recover_kernel (4).

    python tests/faulty_class.py DEST   # write the class and print the expected table
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.utils import compute_checksum

REPO = Path(__file__).resolve().parents[1]
A = "ex01_cross_correlation"
TASKS = {"test_corr2d": 3.0, "test_convolve2d": 3.0, "test_recover_kernel": 4.0}
ANSWERS = {  # answer cell grade_id -> its test
    "corr2d": "test_corr2d",
    "convolve2d": "test_convolve2d",
    "recover_kernel": "test_recover_kernel",
}
FULL = dict(TASKS)
ZERO = dict.fromkeys(TASKS, 0.0)


@dataclass
class Expected:
    """What grading must give one student: scores per task, status, words the notes contain."""

    scores: dict[str, float]
    status: str
    fault: str
    note: str = ""  # a substring of the report's notes for this student
    feedback: str = ""  # a substring of the HTML feedback
    extra: dict = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.scores.values())


def _scores(**zeroed: float) -> dict[str, float]:
    s = dict(FULL)
    for k, v in zeroed.items():
        s[f"test_{k}"] = v
    return s


def released() -> nbformat.NotebookNode:
    return nbformat.read(REPO / "exercises" / A / f"{A}.ipynb", as_version=4)


def solution_answers() -> dict[str, str]:
    """grade_id -> the solution cell's code without the BEGIN/END SOLUTION markers."""
    nb = nbformat.read(REPO / "solutions" / A / f"{A}.ipynb", as_version=4)
    out = {}
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in ANSWERS:
            lines = [ln for ln in c.source.splitlines() if "### BEGIN SOLUTION" not in ln]
            out[gid] = "\n".join(ln for ln in lines if "### END SOLUTION" not in ln)
    return out


def wrong_answer(correct: str) -> str:
    """Same signature and docstring, wrong values (a zero tensor of the wrong shape)."""
    head = []
    for ln in correct.splitlines():
        head.append(ln)
        if ln.strip().endswith('"""') and ln.strip() != '"""' and len(head) > 1:
            break
    return "\n".join(head) + "\n    return X.new_zeros((1, 1))"


def cell(nb: nbformat.NotebookNode, gid: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def edited(source: str, old: str, new: str) -> str:
    """``source`` with its first ``old`` replaced by ``new``; the edit must apply (a rewritten
    answer that no longer holds ``old`` would leave the planted fault out silently)."""
    assert old in source, f"{old!r} is not in the answer any more: plant the fault elsewhere"
    return source.replace(old, new, 1)


def answered(which: dict[str, str]) -> nbformat.NotebookNode:
    """The released notebook with answer cells replaced by `which[grade_id]`."""
    nb = released()
    for gid, src in which.items():
        cell(nb, gid).source = src
    return nb


def write(dest: Path, student: str, nb: nbformat.NotebookNode | None, name: str = A) -> Path:
    folder = dest / student / A
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    if nb is not None:
        nbformat.write(nb, path)
    return path


def build(dest: Path) -> dict[str, Expected]:
    good = solution_answers()
    bad = {k: wrong_answer(v) for k, v in good.items()}
    exp: dict[str, Expected] = {}

    def add(student: str, nb: Any, expected: Expected, name: str = A) -> Path:
        exp[student] = expected
        return write(dest, student, nb, name)

    # ---- honest students
    add("correct_1", answered(good), Expected(FULL, "graded", "fully correct"))
    add("correct_2", answered(good), Expected(FULL, "graded", "fully correct"))
    add("zoë_müller", answered(good), Expected(FULL, "graded", "non-ASCII student id"))
    add("李雷", answered(good), Expected(FULL, "graded", "non-ASCII student id"))
    add(
        "partial_1",
        answered({**good, "recover_kernel": bad["recover_kernel"]}),
        Expected(_scores(recover_kernel=0), "graded", "partially correct (recover_kernel wrong)"),
    )
    add(
        "partial_2",
        answered(
            {**good, "convolve2d": bad["convolve2d"], "recover_kernel": bad["recover_kernel"]}
        ),
        Expected(_scores(convolve2d=0, recover_kernel=0), "graded", "partially correct (2 wrong)"),
    )
    # corr2d wrong breaks the two tasks that call it as well
    add(
        "partial_3",
        answered({**good, "corr2d": bad["corr2d"]}),
        Expected(
            _scores(corr2d=0, convolve2d=0),
            "graded",
            "partially correct (corr2d wrong)",
        ),
    )
    add(
        "partial_4",
        answered({**good, "convolve2d": bad["convolve2d"]}),
        Expected(_scores(convolve2d=0), "graded", "partially correct (convolve2d wrong)"),
    )
    add("all_wrong", answered(bad), Expected(ZERO, "graded", "all wrong"))
    add(
        "unchanged", released(), Expected(ZERO, "graded", "unchanged (no answer)", note="unchanged")
    )

    # ---- code that breaks
    no_colon = edited(good["recover_kernel"], ") -> torch.Tensor:", ") -> torch.Tensor")
    add(
        "syntax_error",
        answered({**good, "recover_kernel": no_colon}),
        Expected(_scores(recover_kernel=0), "graded", "syntax error in one answer"),
    )
    add(
        "exception_at_import",
        answered({**good, "corr2d": 'raise RuntimeError("half-finished")\n' + good["corr2d"]}),
        Expected(
            _scores(corr2d=0, convolve2d=0),
            "graded",
            "exception when the answer cell runs",
        ),
    )
    loop = edited(good["corr2d"], '"""\n', '"""\n    while True:\n        pass\n')
    add(
        "infinite_loop",
        answered({**good, "corr2d": loop}),
        Expected(
            _scores(corr2d=0, convolve2d=0),
            "timed_out",
            "infinite loop (per-cell timeout)",
            note="time limit",
        ),
    )
    bomb = edited(
        good["corr2d"],
        '"""\n',
        '"""\n    hog = [bytearray(2**26) for _ in range(10**6)]\n',
    )
    add(
        "memory_bomb",
        answered({**good, "corr2d": bomb}),
        Expected(
            _scores(corr2d=0, convolve2d=0),
            "graded",
            "allocates memory without end (kernel memory cap)",
        ),
    )
    crash = edited(
        good["recover_kernel"],
        '"""\n',
        '"""\n    import numpy as np\n    a = np.zeros(1)\n'
        "    np.lib.stride_tricks.as_strided(a, shape=(10**9,), strides=(10**6,)).sum()\n",
    )
    add(
        "segfault",
        answered({**good, "recover_kernel": crash}),
        Expected(ZERO, "crashed", "kills its kernel (segfault)", note="kernel died"),
    )
    add(
        "prints_megabytes",
        answered({**good, "corr2d": good["corr2d"] + '\nprint("x" * 6_000_000)\n'}),
        Expected(FULL, "graded", "prints megabytes of output"),
    )

    # ---- what was handed in
    nb = answered(good)
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    add(
        "deleted_tests_correct",
        nb,
        Expected(FULL, "tampered", "deleted test cells, right answers", note="deleted"),
    )
    nb = answered(bad)
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    add(
        "deleted_tests_wrong",
        nb,
        Expected(ZERO, "tampered", "deleted test cells, wrong answers", note="deleted"),
    )
    nb = answered(good)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "corr2d"]
    add(
        "deleted_answer",
        nb,
        Expected(
            _scores(corr2d=0, convolve2d=0),
            "tampered",
            "deleted an answer cell",
            note="deleted",
        ),
    )
    nb = answered(bad)
    for gid in TASKS:
        cell(nb, gid).source = "pass  # tests? what tests?"
    add(
        "edited_tests",
        nb,
        Expected(
            ZERO, "tampered", "edited visible test cells, wrong answers", note="locked cell edited"
        ),
    )
    nb = answered(good)
    cell(nb, "test_recover_kernel").source += "\nprint('I was here')"
    add(
        "edited_test_correct",
        nb,
        Expected(
            FULL,
            "tampered",
            "edited a test cell, right answers (restored, no penalty)",
            note="locked cell edited",
        ),
    )
    nb = answered(bad)
    for gid in TASKS:  # forge the metadata and a matching checksum: unlocked, 100 points
        c = cell(nb, gid)
        c.source = "pass"
        c.metadata.nbgrader.update(locked=False, points=100)
        c.metadata.nbgrader["checksum"] = compute_checksum(c)
    add(
        "forged_checksums",
        nb,
        Expected(
            ZERO, "tampered", "edited test cells + nbgrader metadata and checksums", note="metadata"
        ),
    )
    nb = answered(bad)
    for gid in TASKS:
        cell(nb, gid).metadata.nbgrader["grade_id"] = f"{gid}_mine"
        cell(nb, f"{gid}_mine").source = "pass"
    add("renamed_test_ids", nb, Expected(ZERO, "tampered", "renamed test-cell ids", note="deleted"))
    nb = answered(bad)
    cell(nb, "corr2d").source = bad["corr2d"] + "\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS"
    cell(nb, "test_corr2d").source += "\n### BEGIN HIDDEN TESTS\npass\n### END HIDDEN TESTS"
    add(
        "edited_hidden_markers",
        nb,
        Expected(ZERO, "tampered", "added hidden-test markers", note="locked cell edited"),
    )
    p = add("corrupted_json", None, Expected(ZERO, "invalid", "invalid JSON", note="invalid"))
    text = json.dumps(nbformat.v4.new_notebook())
    p.write_text(text[: len(text) // 2], encoding="utf-8")
    p = add(
        "not_a_notebook",
        None,
        Expected(ZERO, "invalid", "valid JSON, not a notebook", note="invalid"),
    )
    p.write_text('{"cells": 3}', encoding="utf-8")
    (dest / "empty_folder" / A).mkdir(parents=True)
    exp["empty_folder"] = Expected(
        ZERO, "missing", "assignment folder without the notebook", note="missing"
    )
    (dest / "no_folder").mkdir(parents=True)
    exp["no_folder"] = Expected(
        ZERO, "missing", "student without the assignment folder", note="no submission"
    )
    p = add(
        "extra_notebook",
        answered(good),
        Expected(FULL, "graded", "an extra notebook", note="ignored extra file"),
    )
    nbformat.write(released(), p.with_name("scratch.ipynb"))
    add(
        "renamed_notebook",
        answered(good),
        Expected(FULL, "graded", "renamed notebook", note="renamed"),
        name=f"{A} (1)",
    )
    p = add(
        "shadow_module",
        answered(bad),
        Expected(
            ZERO,
            "graded",
            "wrong answers + a fake convlib/check.py next to the notebook",
            note="ignored extra",
        ),
    )
    fake = p.parent / "convlib"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "check.py").write_text("def __getattr__(name):\n    return lambda *a, **k: None\n")

    # ---- cheating
    cheat = (
        good["corr2d"].split('"""\n')[0]
        + '"""\n'
        + (
            "    import torch.nn.functional as F\n"
            "    return F.conv2d(X[None, None], K[None, None])[0, 0]\n"
        )
    )
    add(  # using the op is a deduction for each task whose function reaches it, not tampering
        "calls_torch_op",
        answered({**good, "corr2d": cheat}),
        Expected(
            _scores(corr2d=0, convolve2d=0),
            "graded",
            "corr2d calls F.conv2d (convolve2d calls corr2d: each check "
            "sees the op while the function runs)",
            feedback="calls torch.nn.functional.conv2d, which computes what this task asks",
        ),
    )
    patches = {
        "patches_testing": (
            "import torch.testing\ntorch.testing.assert_close = lambda *a, **k: None"
        ),
        "patches_functional": (
            "import torch.nn.functional as F\n"
            "F.conv2d = lambda X, K, bias=None, *a, **k: X.new_zeros((1, 1))"
        ),
        "patches_check": (
            "import convlib.check as check\n"
            "check.compare = lambda *a, **k: None\ncheck.check_corr2d = lambda *a, **k: None"
        ),
        "hijacks_importlib": (
            "import sys, types\nfake = types.ModuleType('importlib')\n"
            "class Ok:\n    def __getattr__(self, name):\n        return lambda *a, **k: None\n"
            "fake.import_module = lambda name: Ok()\nsys.modules['importlib'] = fake\ncheck = Ok()"
        ),
        "input_transformer": (
            "get_ipython().input_transformers_cleanup.append(\n"
            "    lambda lines: ['pass\\n'] if any('check' in l for l in lines) else lines)"
        ),
        "rebinds_builtin": "def isinstance(obj, cls):\n    return True",
        "reads_hidden_tests": (
            "import glob, json\n"
            "for path in glob.glob('/**/source/**/*.ipynb', recursive=True)[:3]:\n"
            "    print(open(path).read()[:100])"
        ),
        "reads_gradebook": (
            "import sqlite3\n"
            "db = sqlite3.connect('../../../gradebook.db')\n"
            "print(db.execute('select source from source_cell').fetchall()[:2])"
        ),
        "obfuscated_patch": (
            "mod = __import__('torch.testing', fromlist=['x'])\n"
            "setattr(mod, 'assert_close', lambda *a, **k: None)"
        ),
    }
    # these change nothing the grading uses (a notebook-level `isinstance` is not the checks';
    # the sandbox shows no solutions or gradebook): wrong answers, 0, but not "tampered"
    harmless = {"rebinds_builtin", "reads_hidden_tests", "reads_gradebook"}
    for student, code in patches.items():
        nb = answered(bad)
        nb.cells.insert(nb.cells.index(cell(nb, "corr2d")), nbformat.v4.new_code_cell(code))
        add(
            student,
            nb,
            Expected(
                ZERO,
                "graded" if student in harmless else "tampered",
                f"cheat: {student.replace('_', ' ')}",
                feedback="" if student in harmless else "which changes the grading environment",
            ),
        )
    return exp


if __name__ == "__main__":
    table = build(Path(sys.argv[1]))
    for student, e in table.items():
        print(f"{student:24} {e.status:10} {e.total:4g}  {e.fault}")
    print(len(table), "submissions")
    _ = copy  # (kept for callers that mutate notebooks)
