"""`python -m tools.grading.reseed`: a private term's hidden tests draw other inputs.

The text of every assignment is re-seeded only inside its hidden-test blocks (so the student
notebooks do not change); then ex01 is graded through the runner against the public course and
against the private copy (`--course-root`): the released solution keeps full marks on both, and a
student who hard-coded the answers to the public tests' inputs (right on exactly the inputs last
term's tests give, wrong elsewhere) passes the public tests and fails the re-seeded ones.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import grading_corpus as corpus  # noqa: E402

from tools.grading.reseed import BEGIN, END, reseed_course, reseed_text  # noqa: E402

A = corpus.EX01
REFERENCES = Path(tempfile.gettempdir()) / "convlib-grading-references"
ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir() if any(p.glob("*.ipynb")))

# how the cheat recognises an input it was told the answer for (shape and sum of each tensor)
KEY_SRC = """def _key(args):
    parts = []
    for x in args:
        if hasattr(x, "shape") and hasattr(x, "sum"):
            parts.append(f"{tuple(x.shape)}:{float(x.double().sum()):.9e}")
        else:
            parts.append(repr(x))
    return "|".join(parts)
"""

RECORD = (
    KEY_SRC
    + """
import json, sys
import nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
answer, name = sys.argv[2], sys.argv[3]
seen, ns = set(), {}
for cell in nb.cells:
    if cell.cell_type != "code":
        continue
    lines = cell.source.splitlines()
    src = "\\n".join(ln for ln in lines if not ln.lstrip().startswith(("%", "!")))
    exec(compile(src, "cell", "exec"), ns)
    gid = cell.metadata.get("nbgrader", {}).get("grade_id")
    if gid == answer:
        honest = ns[name]
        def spy(*args, **kwargs):
            seen.add(_key(args))
            return honest(*args, **kwargs)
        ns[name] = spy
print(json.dumps(sorted(seen)))
"""
)


def hidden_blocks(source: str) -> list[str]:
    return re.findall(re.escape(BEGIN) + r".*?" + re.escape(END), source, flags=re.S)


def outside_hidden(source: str) -> str:
    return re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), "", source, flags=re.S)


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_only_the_hidden_seeds_change(a: str, tmp_path: Path) -> None:
    reseed_course(tmp_path, key="term-key", assignments=[a])
    old = nbformat.read(REPO / "solutions" / a / f"{a}.ipynb", as_version=4)
    new = nbformat.read(tmp_path / "solutions" / a / f"{a}.ipynb", as_version=4)
    assert len(old.cells) == len(new.cells)
    seeded = 0
    for before, after in zip(old.cells, new.cells, strict=True):
        assert outside_hidden(before.source) == outside_hidden(after.source)  # what students see
        for b, c in zip(hidden_blocks(before.source), hidden_blocks(after.source), strict=True):
            if re.search(r"\bseed\s*=(?!=)|manual_seed\(", b):
                assert b != c
                seeded += 1
    assert json.loads((tmp_path / "reseed.json").read_text())["changed"][a] > 0 or seeded == 0


def test_the_same_key_gives_the_same_seeds_and_another_key_others() -> None:
    import random

    text = f"x = 1\n{BEGIN}\nX = randn(3, seed=100 + seed)\nY = f(seed=seed)\n{END}\nseed=5\n"
    one, n = reseed_text(text, random.Random("a"))
    assert n == 2 and one == reseed_text(text, random.Random("a"))[0]
    assert one != reseed_text(text, random.Random("b"))[0]
    assert "seed=100 + seed" not in one and "seed=seed + " in one
    assert one.startswith("x = 1\n") and one.endswith(f"{END}\nseed=5\n")  # outside: unchanged


def cheat(tmp: Path) -> nbformat.NotebookNode:
    """The solution, but its first function is right only on the inputs the public tests give
    it, all test cells together (what a student who read last term's hidden tests could
    hard-code), off by one elsewhere."""
    gid = next(iter(corpus.answers(A)))
    source = corpus.answers(A)[gid]
    name = re.search(r"def (\w+)\(", source).group(1)  # type: ignore[union-attr]
    script = tmp / "record.py"
    script.write_text(RECORD, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVLIB_")}
    solution = REPO / "solutions" / A / f"{A}.ipynb"
    done = subprocess.run(
        [sys.executable, str(script), str(solution), gid, name],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    public = json.loads(done.stdout.strip().splitlines()[-1])
    assert public, "the public test gave the function no input"
    honest = source.replace(f"def {name}(", "def _honest(", 1)
    body = (
        f"{KEY_SRC}\n_PUBLIC = {set(public)!r}\n\n{honest}\n\n"
        f"def {name}(*args, **kwargs):\n"
        '    """Right on last term\'s hidden inputs only (hard-coded), wrong elsewhere."""\n'
        "    out = _honest(*args, **kwargs)\n"
        "    return out if _key(args) in _PUBLIC else out + 1.0\n"
    )
    return corpus.notebook(A, {gid: body})


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.timeout(1500)
def test_reseeded_tests_pass_the_solution_and_fail_hard_coded_answers(tmp_path: Path) -> None:
    from tools.grading.runner import Settings, grade_class

    private = tmp_path / "private"
    reseed_course(private, key="a private term", assignments=[A])
    class_dir = tmp_path / "submitted"
    for student, nb in (("honest", corpus.notebook(A)), ("hardcoder", cheat(tmp_path))):
        (class_dir / student / A).mkdir(parents=True)
        nbformat.write(nb, class_dir / student / A / f"{A}.ipynb")
    scores = {}
    for term, root in (("public", REPO), ("private", private)):
        grade_class(
            Settings(
                class_dir=class_dir,
                out_dir=tmp_path / f"graded-{term}",
                course_root=root,
                assignments=[A],
                jobs=2,
                progress=False,
                reference_dir=REFERENCES,
                cell_timeout=60,
            )
        )
        for student in ("honest", "hardcoder"):
            path = tmp_path / f"graded-{term}" / "results" / A
            record = json.loads(next(path.glob(f"{student}-*.json")).read_text(encoding="utf-8"))
            scores[(term, student)] = {g: t["score"] for g, t in record["tasks"][A].items()}
    full = corpus.points(A)
    first = next(iter(full))
    assert scores[("public", "honest")] == full
    assert scores[("private", "honest")] == full  # the solution passes the re-seeded tests
    assert scores[("public", "hardcoder")] == full  # the hard-coded answers pass last term's
    # and fail this term's: its own task, and any whose hidden inputs reach it
    assert scores[("private", "hardcoder")][first] == 0.0
