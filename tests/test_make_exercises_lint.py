"""The generator's lints (scripts/make_exercises.py), on synthetic sources: a test cell must not
end with a value (nbgrader reads a number there as partial credit, issue: ex16's speed test
ended with a ratio), and no cell may hold control characters."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import make_exercises as me  # noqa: E402

HEAD = """# %% markdown id=title
# # A synthetic exercise

# %% setup id=setup
import math
import torch
import convlib.check as check
from convlib import check as again

# %% solution id=double
def double(X):
    ### BEGIN SOLUTION
    return 2 * X
    ### END SOLUTION
"""


def lint(test_body: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "exsynth.py"
    path.write_text(HEAD + "\n# %% test id=test_double points=1\n" + test_body + "\n")
    specs = me.parse_source(path)
    names = me.imported_names(specs)
    return [p for spec in specs for p in me.lint_cell("exsynth", spec, names)]


@pytest.mark.parametrize(
    "body",
    [
        "check.compare(double(torch.ones(2)), 2 * torch.ones(2), call='double')",
        "again.compare(double(torch.ones(2)), 2 * torch.ones(2), call='double')",
        "print(double(torch.ones(2)))",
        "ratio = math.sqrt(2.0)",
        "check.compare(double(torch.ones(2)), 2 * torch.ones(2), call='d')\n%timeit double(1)",
        "### BEGIN HIDDEN TESTS\nassert double(1) == 2\n### END HIDDEN TESTS",
        "for i in range(2):\n    math.sqrt(i)",
    ],
)
def test_a_test_cell_ending_without_a_value_passes(body: str, tmp_path: Path) -> None:
    assert lint(body, tmp_path) == []


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("math.sqrt(2.0)", "math.sqrt(2.0)"),  # a call that returns a number: partial credit
        ("check.device('cpu')", "check.device('cpu')"),  # a check that returns a value
        ("x = 1\nx + 1", "x + 1"),
        ("### BEGIN HIDDEN TESTS\ndouble(3)\n### END HIDDEN TESTS", "double(3)"),
        ("check.no_such_function(1)", "check.no_such_function(1)"),
    ],
)
def test_a_test_cell_ending_with_a_value_fails_generation(
    body: str, shown: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problems = lint(body, tmp_path)
    assert len(problems) == 1 and f"ends with `{shown}`" in problems[0], problems
    assert "partial credit" in problems[0]
    monkeypatch.setattr(me, "SOURCES", tmp_path)  # the generator itself refuses it
    with pytest.raises(ValueError, match="test_double ends with"):
        me.build_solution_notebook("exsynth")


def test_control_characters_fail_generation(tmp_path: Path) -> None:
    problems = lint("check.compare(1, 1, call='a\x1b[31m')", tmp_path)
    assert problems == ["exsynth: cell test_double has control characters ['U+001B']"]
    path = tmp_path / "exsynth.py"
    path.write_text(HEAD.replace("A synthetic", "A\x07 synthetic"))
    specs = me.parse_source(path)
    assert me.lint_cell("exsynth", specs[0], {}) == [
        "exsynth: cell title has control characters ['U+0007']"
    ]


def test_every_assignment_passes_the_lints() -> None:
    for a in me.ASSIGNMENTS:
        specs = me.parse_source(me.SOURCES / f"{a}.py")
        names = me.imported_names(specs)
        assert [p for s in specs for p in me.lint_cell(a, s, names)] == []
