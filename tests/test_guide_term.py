"""The instructor guide's term with nbgrader's exchange, run as printed (book/instructor_guide.md,
"The term with nbgrader's exchange (JupyterHub)").

The section's ```bash block is cut into its steps at its `# instructor ...` and `# each student
...` lines, and each step runs in bash as printed: the instructor's in a course folder outside
the repository, set up as the section's ```python block says (that block, with only its two
placeholder paths replaced), the students' each in their own home with the hub's
`nbgrader_config.py` (Exchange.root and course_id, as the block's comment says), the exchange in
a temporary folder. What the test changes: the due date's value (the second after alice's
submission, before bob's), the students "answer in Jupyter" by editing the notebook they
fetched, and, since every user here is one OS user, each student's config also names its student
id (the instructor is this OS user, with its own HOME: the Python of the venv may live there).
The late penalty is nbgrader's `penalty_method = "zero"` in the course configuration, as the
guide's "nbgrader's dates" says. The instructor's second step runs in the same shell as the
first (the venv activated once); the venv is not on PATH before the block activates it.
"""

from __future__ import annotations

import csv
import datetime
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "book" / "instructor_guide.md"
SECTION = "## The term with nbgrader's exchange (JupyterHub)"
sys.path.insert(0, str(REPO / "tests"))

import grading_corpus as gc  # noqa: E402

A = gc.EX01
COURSE_ID = "convolutions-from-scratch"
VENV_BIN = REPO / ".venv" / "bin"
ROLES = ["instructor", "each student", "instructor", "each student"]


def section() -> str:
    """The guide's term section, up to the next level-2 heading."""
    text = GUIDE.read_text(encoding="utf-8")
    assert SECTION in text, f"no section {SECTION!r} in the guide"
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end > 0 else len(text)]


def fenced(lang: str) -> str:
    """The section's first ```lang block."""
    match = re.search(rf"```{lang}\n(.*?)```", section(), re.S)
    assert match, f"no ```{lang} block in the guide's term section"
    return match.group(1)


def steps(block: str) -> list[tuple[str, list[str]]]:
    """The block's steps: (role, command lines), a step starting at each `# instructor` or
    `# each student` line (its inline comments stay: bash ignores them)."""
    out: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        role = re.match(r"# (instructor|each student)\b", line)
        if role:
            out.append((role.group(1), []))
        elif line.strip():
            assert out, f"a command before the first role line: {line!r}"
            out[-1][1].append(line)
    return out


def parsed() -> list[tuple[str, list[str]]]:
    found = steps(fenced("bash"))
    assert [role for role, _ in found] == ROLES, found
    return found


def one(lines: list[str], pattern: str) -> int:
    """The index of the only line of ``lines`` matching ``pattern``."""
    hits = [i for i, line in enumerate(lines) if re.search(pattern, line)]
    assert len(hits) == 1, (pattern, lines)
    return hits[0]


def test_the_term_block_is_complete() -> None:
    """What the block must hold, so that running it below means what the guide says."""
    (_, teach), (_, hand_in), (_, grade), (_, read) = parsed()
    assert re.match(r"source \.venv/bin/activate\b", teach[0])
    one(teach, rf"^nbgrader release_assignment {A}\b")
    assert one(hand_in, rf"^nbgrader fetch_assignment {A}\b") == 0
    assert one(hand_in, rf"^nbgrader submit {A}\b") == 1
    due = one(grade, rf'^nbgrader db assignment add {A} --duedate="[^"]+ UTC"')
    collect = one(grade, rf"^nbgrader collect {A}\b")
    assert due < collect
    runner = one(grade, r"^python -m tools\.grading submitted --course-root \.(\s|$)")
    release = one(grade, rf"^nbgrader release_feedback {A}\b")
    assert collect < runner < release
    assert one(read, rf"^nbgrader fetch_feedback {A}\b") == 0
    config = fenced("python")
    assert "/path/to/convolutions-from-scratch/" in config and "/home/instructor/course" in config


def env_without_venv() -> dict[str, str]:
    """This process's environment with no venv on PATH and no Python or Jupyter settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER", "CONVLIB"))
    }
    ours = {VENV_BIN.resolve(), Path(sys.executable).parent.resolve()}
    paths = [
        p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() not in ours
    ]
    env["PATH"] = os.pathsep.join(paths)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    return env


def bash(lines: list[str], cwd: Path, env: dict[str, str], log: Path) -> str:
    """Run ``lines`` as one bash script (stopping at the first failure); its output."""
    script = "\n".join(lines) + "\n"
    done = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"$ ({cwd})\n{script}{done.stdout}{done.stderr}\n")
    assert done.returncode == 0, f"{script}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def answer(notebook: Path, given: dict[str, str]) -> None:
    """The student edits the notebook fetch_assignment gave them (cell by cell, as in Jupyter)."""
    nb = nbformat.read(notebook, as_version=4)
    for gid, src in given.items():
        nb.cells[gc.index(nb, gid)].source = src
    nbformat.write(nb, notebook)


def when(stamp: str) -> datetime.datetime:
    """nbgrader's timestamp.txt ('2026-12-05 11:32:55.575558 UTC') as an aware datetime."""
    return datetime.datetime.fromisoformat(stamp.strip().removesuffix(" UTC") + "+00:00")


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.timeout(900)
def test_the_guides_term_runs_as_printed(tmp_path: Path) -> None:
    (_, teach), (_, hand_in), (_, grade), (_, read) = parsed()
    course, exchange, log = tmp_path / "course", tmp_path / "exchange", tmp_path / "term.log"
    exchange.mkdir()
    course.mkdir()
    for name in ("solutions", "exercises", ".venv"):  # links, as the guide says
        (course / name).symlink_to(REPO / name)
    config = fenced("python").replace("/path/to/convolutions-from-scratch/", f"{REPO}/")
    config = config.replace("/home/instructor/course", str(course))
    config += (
        f'c.Exchange.root = {str(exchange)!r}\nc.LateSubmissionPlugin.penalty_method = "zero"\n'
    )
    (course / "nbgrader_config.py").write_text(config, encoding="utf-8")

    # the instructor is this OS user (their own HOME; no Jupyter configuration of theirs)
    teacher = env_without_venv()
    teacher["JUPYTER_CONFIG_DIR"] = str(tmp_path / "teacher-jupyter")
    homes = {s: tmp_path / "home" / s for s in ("alice", "bob")}
    students = {}
    for name, home in homes.items():
        (home / ".jupyter").mkdir(parents=True)
        (home / ".jupyter" / "nbgrader_config.py").write_text(
            f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
            f"c.CourseDirectory.student_id = {name!r}\n",  # the OS user, on a hub
            encoding="utf-8",
        )
        env = env_without_venv()  # the hub's environment puts nbgrader on the students' PATH
        env.update(
            HOME=str(home), USER=name, LOGNAME=name, JUPYTER_CONFIG_DIR=str(home / ".jupyter")
        )
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
        students[name] = env

    # 1. instructor: release
    bash(teach, course, teacher, log)
    # 2. each student: fetch, answer in Jupyter, submit (alice before the due date, bob after)
    good = gc.answers(A)
    last = list(good)[-1]
    released = gc.released(A)
    undone = {**good, last: released.cells[gc.index(released, last)].source}
    for name, given in (("alice", good), ("bob", undone)):
        bash(hand_in[:1], homes[name], students[name], log)
        answer(homes[name] / A / f"{A}.ipynb", given)
    said = bash(hand_in[1:], homes["alice"], students["alice"], log)
    submitted = re.search(rf"Submitted as: {COURSE_ID} {A} (.+ UTC)", said)
    assert submitted, said
    due = when(submitted.group(1)).replace(microsecond=0) + datetime.timedelta(seconds=1)
    time.sleep(max(0.0, (due - datetime.datetime.now(datetime.UTC)).total_seconds() + 0.2))
    bash(hand_in[1:], homes["bob"], students["bob"], log)
    # 3. instructor, in the same shell (the venv active): the due date, collect, grade, release
    activate = [line for line in teach if line.startswith("source ")]
    step3 = [
        re.sub(r'--duedate="[^"]+"', f'--duedate="{due:%Y-%m-%d %H:%M:%S} UTC"', line)
        for line in grade
    ]
    start = time.monotonic()
    bash(activate + step3, course, teacher, log)
    print(f"instructor's grading step: {time.monotonic() - start:.0f} s")
    # 4. each student: fetch feedback
    for name in homes:
        bash(read, homes[name], students[name], log)

    stamps = {s: when((course / "submitted" / s / A / "timestamp.txt").read_text()) for s in homes}
    assert stamps["alice"] < due < stamps["bob"], (stamps, due)
    with open(course / "graded" / "grades.csv", encoding="utf-8") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    full = sum(gc.points(A).values())
    after = gc.index(released, last)
    lost = sum(
        float(c.metadata["nbgrader"]["points"])
        for c in released.cells[after:]
        if c.metadata.get("nbgrader", {}).get("grade")
    )
    assert set(rows) == {"alice", "bob"} and lost > 0
    alice, bob = rows["alice"], rows["bob"]
    assert float(alice["raw_score"]) == full and float(alice["score"]) == full
    assert float(alice["late_submission_penalty"]) == 0.0
    assert float(bob["raw_score"]) == full - lost  # his last task undone
    assert float(bob["late_submission_penalty"]) == full - lost  # late: penalty_method "zero"
    assert float(bob["score"]) == 0.0
    assert alice["duedate"] == bob["duedate"] == f"{due:%Y-%m-%d %H:%M:%S}"

    pages = {s: sorted((homes[s] / A / "feedback").glob(f"*/{A}.html")) for s in homes}
    assert all(len(found) == 1 for found in pages.values()), (pages, log.read_text()[-3000:])
    text = {s: found[0].read_text(encoding="utf-8") for s, found in pages.items()}
    assert f"{A} (Score: {full:.1f} / {full:.1f})" in text["alice"]
    assert "Late submission penalty" not in text["alice"]
    assert f"{A} (Score: 0.0 / {full:.1f})" in text["bob"]
    assert f"Late submission penalty (Score: -{full - lost:.1f})" in text["bob"]
    for s in homes:  # what the runner wrote is what reached the student
        written = course / "graded" / "course" / "feedback" / s / A / f"{A}.html"
        assert pages[s][0].read_bytes() == written.read_bytes()
