"""Re-seed every hidden test for a private term.

The repository is public, hidden tests included: a student can read last term's hidden inputs and
hard-code the answers to them. This writes a private copy of the course's solutions whose hidden
tests draw other inputs: inside each ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` block,
every integer literal of a seed expression (``seed=100 + seed``, ``seed = 3``,
``torch.manual_seed(7)``, ``random.seed(1)``) becomes a new one drawn from a private key, and a
seed expression without a literal (``seed=seed``) gets one added. Nothing outside the hidden blocks
changes, so the student notebooks (`nbgrader generate_assignment` of the copy) are the released
ones, byte for byte in their cells.

    python -m tools.grading.reseed PRIVATE [--key SECRET] [--assignments a,b]
    python -m tools.grading SUBMITTED --course-root PRIVATE    # grade against it

PRIVATE (default ``private/``, git-ignored) receives ``solutions/<assignment>/`` and
``reseed.json`` (the key and what changed). Keep both out of any public place. The runner's
reference run checks, before any student is graded, that the solution passes every re-seeded
check; if a drawn input makes one fail (an ill-conditioned case), run again with another key.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import secrets
import shutil
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# a seed expression: keyword or assignment `seed = ...`, or a call that seeds a generator
SEED = re.compile(r"(\bseed\s*=(?!=)\s*|\b(?:manual_seed|random\.seed)\(\s*)([^,)\n#]+)")
INT = re.compile(r"(?<![\w.])\d+(?![\w.])")


def reseed_text(text: str, rng: random.Random) -> tuple[str, int]:
    """``text`` with every seed expression between BEGIN and END HIDDEN TESTS re-seeded;
    returns (new text, number of expressions changed)."""
    out, changed, hidden = [], 0, False
    for line in text.splitlines(keepends=True):
        if line.strip().startswith(BEGIN):
            hidden = True
        elif line.strip().startswith(END):
            hidden = False
        elif hidden:
            line, n = SEED.subn(lambda m: m.group(1) + _new_seed(m.group(2), rng), line)
            changed += n
        out.append(line)
    return "".join(out), changed


def _new_seed(expr: str, rng: random.Random) -> str:
    """The literals of a seed expression replaced by fresh ones (a term added if it has none)."""
    if INT.search(expr):
        return INT.sub(lambda _: str(rng.randrange(10_000, 2**31)), expr)
    return f"{expr.rstrip()} + {rng.randrange(10_000, 2**31)}"


def reseed_course(
    dest: Path, key: str, assignments: list[str] | None = None, course_root: Path = REPO
) -> dict[str, int]:
    """Write ``dest/solutions/<assignment>/`` (every file copied, hidden tests re-seeded) and
    ``dest/reseed.json``; returns assignment -> seed expressions changed."""
    src_root = course_root / "solutions"
    names = assignments or sorted(p.name for p in src_root.iterdir() if any(p.glob("*.ipynb")))
    rng = random.Random(key)
    report: dict[str, int] = {}
    for a in names:
        target = dest / "solutions" / a
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(src_root / a, target)
        report[a] = 0
        for path in sorted(target.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                if cell.cell_type == "code" and BEGIN in cell.source:
                    cell.source, n = reseed_text(cell.source, rng)
                    report[a] += n
            nbformat.write(nb, path)
    (dest / "reseed.json").write_text(
        json.dumps({"key": key, "changed": report}, indent=1), encoding="utf-8"
    )
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.grading.reseed", description=__doc__)
    p.add_argument("dest", type=Path, nargs="?", default=REPO / "private", help="private copy")
    p.add_argument("--key", default="", help="private key for the new seeds (default: random)")
    p.add_argument("--assignments", default="", help="comma-separated (default: all)")
    p.add_argument("--course-root", type=Path, default=REPO, help="course with solutions/")
    a = p.parse_args(argv)
    key = a.key or secrets.token_hex(16)
    chosen = [x for x in a.assignments.split(",") if x] or None
    report = reseed_course(a.dest, key, chosen, a.course_root)
    for name, n in report.items():
        print(f"{name}: {n} seed expressions re-seeded")
    if not all(report.values()):
        print("warning: an assignment has no seeded hidden test (its hidden inputs are public)")
    print(f"private solutions: {a.dest / 'solutions'}; key in {a.dest / 'reseed.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
