"""nbgrader configuration: the course root is this repository.

solutions/<assignment>/<assignment>.ipynb  nbgrader source notebooks (the master copies)
exercises/<assignment>/<assignment>.ipynb  generated student notebooks (committed; never edit)
submitted/<student>/<assignment>/          what `nbgrader collect` writes (not committed)
graded/                                    what `make grade CLASS=submitted` writes (not committed):
  graded/course/gradebook.db               its gradebook (formgrader, export)
  graded/course/autograded/, feedback/     autograded notebooks and feedback pages, where
                                           `nbgrader release_feedback` and formgrader look

The grading runner (tools/grading) writes into OUT/course with OUT = CLASS/../graded by default,
so `nbgrader collect`, then `make grade CLASS=submitted`, then `nbgrader release_feedback` from
this folder all use the same files. A course elsewhere (e.g. an instructor's home on JupyterHub)
sets `c.CourseDirectory.root` and `db_url` to its own folder, or loads this file with
`load_subconfig` and overrides them (tests/test_term.py does).

Regenerate the student notebooks with `python scripts/make_exercises.py` (it runs
`nbgrader generate_assignment` in a temporary course directory, so no gradebook.db is written
here). Grade on a GPU with `CONVLIB_DEVICE=cuda nbgrader autograde ...` (see convlib/check.py).
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

ROOT = os.path.dirname(os.path.abspath(__file__))  # noqa: F821 (__file__: set by traitlets)

c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = os.path.join("graded", "course", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("graded", "course", "feedback")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "graded", "course", "gradebook.db")
# `nbgrader collect` opens the gradebook before the first grading: its folder must exist
os.makedirs(os.path.join(ROOT, "graded", "course"), exist_ok=True)
c.CourseDirectory.course_id = "convolutions-from-scratch"

# The exchange: nbgrader 0.9's default is /usr/local/share/nbgrader/exchange (it must exist,
# writable by every user of the hub). Set it here (and in /etc/jupyter/nbgrader_config.py on the
# hub, for the students) if yours lives elsewhere:
# c.Exchange.root = "/srv/nbgrader/exchange"

# Due dates are nbgrader's, in the gradebook: from this folder,
#   nbgrader db assignment add ex01_cross_correlation --duedate="2026-10-01 23:59:00 UTC"
# (or formgrader), so the runner, `nbgrader autograde` and formgrader agree. The runner only
# falls back on c.CourseGrading.due_dates = {"ex01_cross_correlation": "..."} for an assignment
# without one in the gradebook. It takes the submission time from the student's timestamp.txt,
# adds per-student extensions (--extensions, tools/grading/late.py) and applies nbgrader's
# late-penalty plugin, so formgrader and `nbgrader export` show time, due date and penalty.
# The export with the extension columns (the runner's; tools/ is importable from the venv):
# c.ExportApp.plugin_class = "tools.grading.late.ExportWithExtensions"
# nbgrader's plugin: "none" or "zero";
# tools.grading.late.PercentPerDay takes a share of the score per started day late:
# c.LateSubmissionPlugin.penalty_method = "zero"
# c.AssignLatePenalties.plugin_class = "tools.grading.late.PercentPerDay"
# c.PercentPerDay.percent = 10.0

# The checks' messages are written one idea per line; show whole lines when validating from here.
c.Validator.width = 120

# A notebook runs in a few seconds; a stuck student loop must not hang grading.
c.ExecutePreprocessor.timeout = 120
