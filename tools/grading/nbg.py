"""Run the `nbgrader` command line, minus a 4-second import nobody here needs.

jsonschema (used by nbformat) imports `rfc3987_syntax` when it is installed, and that module
builds a Lark parser at import time: about 4 s of CPU in every process that reads a notebook.
Grading starts one nbgrader process per submission, so the runner starts them through this
script, which hides that module (jsonschema then skips only the "iri" string format, which no
notebook schema uses).

    python tools/grading/nbg.py autograde ex01 --student=alice
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]

if __name__ == "__main__":
    from nbgrader.apps.nbgraderapp import main

    sys.argv[0] = "nbgrader"
    sys.exit(main())
