"""nbgrader configuration: the course root is this repository.

solutions/<assignment>/<assignment>.ipynb  nbgrader source notebooks (the master copies)
exercises/<assignment>/<assignment>.ipynb  generated student notebooks (committed; never edit)

Regenerate the student notebooks with `python scripts/make_exercises.py` (it runs
`nbgrader generate_assignment` in a temporary course directory, so no gradebook.db is written
here). Grade on a GPU with `CONVLIB_DEVICE=cuda nbgrader autograde ...` (see convlib/check.py).
"""

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.course_id = "convolutions-from-scratch"

# The checks' messages are written one idea per line; show whole lines when validating from here.
c.Validator.width = 120

# A notebook runs in a few seconds; a stuck student loop must not hang grading.
c.ExecutePreprocessor.timeout = 120
