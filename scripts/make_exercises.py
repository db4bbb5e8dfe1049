"""Author the nbgrader source notebooks and regenerate the student notebooks.

    python scripts/make_exercises.py             # write solutions/*/*.ipynb and exercises/*/*.ipynb
    python scripts/make_exercises.py --check     # exit 1 (naming notebook and cell) if one differs
    python scripts/make_exercises.py ex01_cross_correlation   # only some assignments

Pipeline (never edit exercises/ by hand):

1. ``scripts/exercise_sources/<assignment>.py`` is the readable master: cells separated by
   ``# %% <kind> [id=<grade_id>] [points=<n>]`` lines, kind one of ``markdown`` (lines start with
   ``# ``), ``parameters``, ``setup`` (read-only code), ``solution`` (autograded answer),
   ``test`` (graded, locked; ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` are hidden) and
   ``scratch`` (a free cell for the student). ``{total_points}`` in markdown is replaced.
2. It becomes ``solutions/<assignment>/<assignment>.ipynb``, the nbgrader source notebook (solution
   regions, visible tests, hidden tests, cell metadata, no outputs).
3. ``nbgrader generate_assignment`` (run in a temporary course directory, so no gradebook.db lands
   in the repository) writes the student copy, which is copied to ``exercises/<assignment>/``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "scripts" / "exercise_sources"
ASSIGNMENTS = [
    "ex01_cross_correlation",
    "ex02_learning_a_kernel",
    "ex03_padding_stride",
    "ex04_channels",
    "ex05_one_by_one",
    "ex06_groups",
    "ex07_dilation",
    "ex08_transposed",
    "ex09_backward",
    "ex10_im2col",
    "ex11_pooling",
    "ex12_conv1d_3d",
    "ex13_separable",
    "ex14_deformable",
    "ex15_large_kernels",
    "ex16_speed",
    "ex17_capstone",
]
REGENERATE = "python scripts/make_exercises.py"

# Inserted at the top of every hidden block: the hidden tests use a copy of convlib.check loaded
# afresh from disk, so a notebook that patched the imported module gains nothing.
HIDDEN_PREAMBLE = (
    "import importlib, sys\n"
    'sys.modules.pop("convlib.check", None)\n'
    'check = importlib.import_module("convlib.check")  # fresh from disk: patching the old copy is useless'  # noqa: E501  (the notebooks' text)
)

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
HEADER = re.compile(r"^# %% (?P<kind>\w+)(?P<attrs>(?: \w+=\S+)*)\s*$")


@dataclass
class CellSpec:
    kind: str
    grade_id: str
    points: int
    source: str


def parse_source(path: Path) -> list[CellSpec]:
    """Split an exercise source file into cells."""
    cells: list[CellSpec] = []
    kind = None
    attrs: dict[str, str] = {}
    lines: list[str] = []
    counters: dict[str, int] = {}

    def flush() -> None:
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(
                line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.split("\n")
            )
        counters[kind] = counters.get(kind, 0) + 1
        grade_id = attrs.get("id", f"{kind}_{counters[kind]}")
        cells.append(CellSpec(kind, grade_id, int(attrs.get("points", 0)), body))

    for line in path.read_text().split("\n"):
        match = HEADER.match(line)
        if match:
            flush()
            kind = match["kind"]
            attrs = dict(a.split("=", 1) for a in match["attrs"].split())
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    kinds = {"markdown", "parameters", "setup", "solution", "test", "scratch"}
    for cell in cells:
        if cell.kind not in kinds:
            raise ValueError(f"{path.name}: unknown cell kind {cell.kind!r}")
        if cell.kind == "test" and cell.points <= 0:
            raise ValueError(f"{path.name}: test cell {cell.grade_id} needs points=<n>")
    ids = [c.grade_id for c in cells]
    if len(ids) != len(set(ids)):
        raise ValueError(
            f"{path.name}: duplicate cell ids {sorted({i for i in ids if ids.count(i) > 1})}"
        )
    return cells


# A test cell's last line must not have a value: nbgrader reads a numeric output of a graded
# cell as partial credit (and aborts the autograde when it exceeds the cell's points). A final
# bare expression is allowed only when it is `print(...)` or a call of a function, imported by
# the notebook, whose return annotation is None (`check.check_conv2d(...)`, read from the
# module itself); anything else fails generation.


def imported_names(specs: list[CellSpec]) -> dict[str, str]:
    """name -> the module it is bound to by the notebook's import statements."""
    names: dict[str, str] = {}
    for spec in specs:
        if spec.kind == "markdown":
            continue
        try:
            tree = ast.parse(spec.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        names[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _returns_none(call: ast.expr, names: dict[str, str]) -> bool:
    """Whether ``call`` is ``print(...)`` or ``module.f(...)`` with ``module`` imported by the
    notebook and ``f`` annotated ``-> None`` (so a check that starts returning a value makes its
    cells fail the lint)."""
    import importlib
    import inspect

    if not isinstance(call, ast.Call):
        return False
    if isinstance(call.func, ast.Name):
        return call.func.id == "print"
    func = call.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
        return False
    module = names.get(func.value.id)
    if module is None:
        return False
    try:
        fn = getattr(importlib.import_module(module), func.attr)
        returns = inspect.signature(inspect.unwrap(fn)).return_annotation
    except (ImportError, AttributeError, TypeError, ValueError):
        return False
    return returns is None or returns == "None"


def lint_cell(assignment: str, cell: CellSpec, names: dict[str, str]) -> list[str]:
    """What is wrong with a cell: control characters (any cell), or a test cell whose last
    top-level statement is an expression that may have a value (``names``: the notebook's
    imports, see ``imported_names``)."""
    problems = []
    bad = sorted({f"U+{ord(ch):04X}" for ch in cell.source if ch < " " and ch not in "\n\t"})
    bad += sorted({f"U+{ord(ch):04X}" for ch in cell.source if "\x7f" <= ch <= "\x9f"})
    if bad:
        problems.append(f"{assignment}: cell {cell.grade_id} has control characters {bad}")
    if cell.kind != "test":
        return problems
    code = "\n".join(
        "pass" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.split("\n")
    )
    try:
        body = ast.parse(code).body
    except SyntaxError as error:
        return [*problems, f"{assignment}: test cell {cell.grade_id} does not parse: {error}"]
    last = body[-1] if body else None
    if isinstance(last, ast.Expr) and not _returns_none(last.value, names):
        problems.append(
            f"{assignment}: test cell {cell.grade_id} ends with `{ast.unparse(last)[:80]}`, an "
            f"expression that may have a value (line {last.lineno}): nbgrader reads a number "
            "there as partial credit. Assign it (`ratio = ...`) or end with a call that returns "
            "None."
        )
    return problems


def _nbgrader_meta(cell: CellSpec) -> dict[str, object]:
    meta: dict[str, object] = {
        "grade": cell.kind == "test",
        "grade_id": cell.grade_id,
        "locked": cell.kind not in ("solution",),
        "schema_version": 3,
        "solution": cell.kind == "solution",
        "task": False,
    }
    if cell.kind == "test":
        meta["points"] = cell.points
    return meta


def build_solution_notebook(assignment: str) -> nbformat.NotebookNode:
    """The nbgrader source notebook for ``assignment``, built from its exercise source file."""
    specs = parse_source(SOURCES / f"{assignment}.py")
    names = imported_names(specs)
    problems = [p for spec in specs for p in lint_cell(assignment, spec, names)]
    if problems:
        raise ValueError("\n".join(problems))
    total = sum(c.points for c in specs if c.kind == "test")
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
    }
    for spec in specs:
        source = spec.source.replace("{total_points}", str(total))
        if spec.kind == "test" and "### BEGIN HIDDEN TESTS" in source:
            source = source.replace(
                "### BEGIN HIDDEN TESTS", "### BEGIN HIDDEN TESTS\n" + HIDDEN_PREAMBLE, 1
            )
        if spec.kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(source)
        else:
            cell = nbformat.v4.new_code_cell(source)
        cell.id = spec.grade_id.replace("_", "-")
        if spec.kind != "scratch":
            cell.metadata["nbgrader"] = _nbgrader_meta(spec)
        if spec.kind == "parameters":
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    return nb


def total_points(nb: nbformat.NotebookNode) -> int:
    """Sum of the points of the graded cells."""
    return sum(
        int(c.metadata.get("nbgrader", {}).get("points", 0))
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    )


def prepare_course(course_root: Path, assignments: list[str] | None = None) -> None:
    """Make ``course_root`` an nbgrader course (``source/`` = solutions); run generate_assignment.

    Writes ``course_root/solutions/<a>/``, ``course_root/exercises/<a>/`` and
    ``course_root/gradebook.db`` (the database ``nbgrader autograde`` needs).
    """
    names = assignments or ASSIGNMENTS
    for name in names:
        target = course_root / "solutions" / name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "solutions" / name / f"{name}.ipynb", target / f"{name}.ipynb")
    generate_in(course_root, names)


def generate_in(course_root: Path, names: list[str]) -> None:
    """Run nbgrader generate_assignment for ``names`` in the course at ``course_root``."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    # nbgrader's gradebook runs the `alembic` executable: make the venv's bin/ findable.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    config = Config()
    config.CourseDirectory.root = str(course_root)
    config.CourseDirectory.source_directory = "solutions"
    config.CourseDirectory.release_directory = "exercises"
    config.CourseDirectory.db_url = f"sqlite:///{course_root / 'gradebook.db'}"
    api = NbGraderAPI(config=config)
    for name in names:
        result = api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(
                f"nbgrader generate_assignment {name} failed:\n{result.get('log', '')}\n"
                f"{result.get('error', '')}"
            )


def _canonical(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def _cell_label(nb: nbformat.NotebookNode, index: int) -> str:
    cell = nb.cells[index]
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
    return f"cell {index} ({grade_id or cell.cell_type})"


def diff_notebooks(expected: nbformat.NotebookNode, actual: nbformat.NotebookNode) -> list[str]:
    """Human-readable differences, cell by cell (source, metadata, type, outputs)."""
    problems = []
    if expected.metadata != actual.metadata:
        problems.append("notebook metadata differs")
    if len(expected.cells) != len(actual.cells):
        problems.append(f"{len(actual.cells)} cells, expected {len(expected.cells)}")
    for i, (want, got) in enumerate(zip(expected.cells, actual.cells, strict=False)):
        label = _cell_label(expected, i)
        if want.cell_type != got.cell_type:
            problems.append(f"{label}: type {got.cell_type}, expected {want.cell_type}")
        if want.source != got.source:
            problems.append(f"{label}: source differs")
        if want.metadata != got.metadata:
            problems.append(
                f"{label}: metadata differs ({json.dumps(got.metadata, sort_keys=True)} vs "
                f"{json.dumps(want.metadata, sort_keys=True)})"
            )
        if got.get("outputs"):
            problems.append(f"{label}: has committed outputs (clear them)")
    if not problems and _canonical(expected) != _canonical(actual):
        problems.append("the files differ in formatting (cell ids or JSON layout)")
    return problems


def build_all(assignments: list[str], workdir: Path) -> dict[str, dict[str, nbformat.NotebookNode]]:
    """Build the source notebooks and their generated student copies under ``workdir``."""
    built: dict[str, dict[str, nbformat.NotebookNode]] = {}
    staged = workdir / "repo"
    for name in assignments:
        nb = build_solution_notebook(name)
        path = staged / "solutions" / name / f"{name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_canonical(nb))
        built[name] = {"solutions": nb}
    course = workdir / "course"
    for name in assignments:
        target = course / "solutions" / name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(staged / "solutions" / name / f"{name}.ipynb", target / f"{name}.ipynb")
    generate_in(course, assignments)
    for name in assignments:
        released = course / "exercises" / name / f"{name}.ipynb"
        built[name]["exercises"] = nbformat.read(released, as_version=4)
    return built


def check(assignments: list[str]) -> list[str]:
    """Differences between the committed notebooks and freshly generated ones (empty if in sync)."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        built = build_all(assignments, Path(tmp))
    for name in assignments:
        for folder in ("solutions", "exercises"):
            path = ROOT / folder / name / f"{name}.ipynb"
            if not path.exists():
                problems.append(f"{path.relative_to(ROOT)} is missing")
                continue
            committed = nbformat.read(path, as_version=4)
            for problem in diff_notebooks(built[name][folder], committed):
                problems.append(f"{path.relative_to(ROOT)}: {problem}")
        extra = (
            sorted(
                p.name for p in (ROOT / "exercises" / name).glob("*") if p.name != f"{name}.ipynb"
            )
            if (ROOT / "exercises" / name).exists()
            else []
        )
        if extra:
            problems.append(f"exercises/{name}/ has unexpected files: {extra}")
    return problems


def write(assignments: list[str]) -> None:
    """Rewrite solutions/ and exercises/ for ``assignments``."""
    with tempfile.TemporaryDirectory() as tmp:
        built = build_all(assignments, Path(tmp))
        for name in assignments:
            for folder in ("solutions", "exercises"):
                path = ROOT / folder / name / f"{name}.ipynb"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(_canonical(built[name][folder]))
                print(f"wrote {path.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("assignments", nargs="*", help="default: all")
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    names = args.assignments or [a for a in ASSIGNMENTS if (SOURCES / f"{a}.py").exists()]
    if args.check:
        problems = check(names)
        for problem in problems:
            print(problem)
        if problems:
            print(f"\nout of sync: run `{REGENERATE}` and commit solutions/ and exercises/")
            return 1
        print(f"in sync: {len(names)} assignments")
        return 0
    write(names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
