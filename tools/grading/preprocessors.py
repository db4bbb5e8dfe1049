"""nbgrader preprocessors added to `nbgrader autograde` by the grading runner.

`RecordExtract` runs right after the notebook executed: it moves the records the checks emitted
(what the student's functions returned, see ``records.py``) out of the notebook into a JSON file,
which the runner judges outside the student's process (``verdict.py``).
`OutputCap` shortens huge outputs so feedback files stay small whatever a student prints.
`HideHiddenTests` keeps the hidden tests' code out of the students' feedback.
"""

from __future__ import annotations

import json
from typing import Any

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode

from .records import extract


class RecordExtract(NbGraderPreprocessor):
    """Take the check records out of the executed notebook; save them for the runner."""

    report_path = Unicode("", help="JSON file: notebook -> grade_id -> records").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict]:
        records = extract(nb)
        if self.report_path:
            found: dict[str, Any] = {}
            try:
                with open(self.report_path, encoding="utf-8") as f:
                    found = json.load(f)
            except FileNotFoundError:
                pass
            found[resources["nbgrader"]["notebook"]] = records
            with open(self.report_path, "w", encoding="utf-8") as f:
                json.dump(found, f)
        return nb, resources


class OutputCap(NbGraderPreprocessor):
    """Cut every text output to `max_chars` characters and drop outputs over `max_bytes`."""

    max_chars = Integer(20_000).tag(config=True)
    max_bytes = Integer(2_000_000).tag(config=True)

    def _cut(self, text: Any) -> Any:
        if isinstance(text, list):
            text = "".join(text)
        if isinstance(text, str) and len(text) > self.max_chars:
            return text[: self.max_chars] + f"\n... [{len(text) - self.max_chars} characters cut]"
        return text

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[NotebookNode, dict]:
        if cell.cell_type != "code":
            return cell, resources
        kept = []
        for out in cell.outputs:
            if out.output_type == "stream":
                out.text = self._cut(out.text)
            elif out.output_type == "error":
                out.evalue = self._cut(out.evalue)
                out.traceback = [self._cut(t) for t in out.traceback[-50:]]
            elif "data" in out:
                for mime in list(out.data):
                    if len(str(out.data[mime])) > self.max_bytes:
                        out.data[mime] = "[output too large, removed by the grader]"
                        if mime != "text/plain":
                            del out.data[mime]
                    elif mime == "text/plain":
                        out.data[mime] = self._cut(out.data[mime])
            kept.append(out)
        cell.outputs = kept
        return cell, resources


HIDDEN_NOTE = "# hidden tests: their code is not shown."
HIDDEN_CHECKS = "# What this cell checked:"


class HideHiddenTests(NbGraderPreprocessor):
    """Feedback without the hidden tests' source (nbgrader shows it: jupyter/nbgrader#917).

    In every cell with a ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region, the
    region becomes a comment listing each check the cell ran, as the call it made (function,
    input shapes, arguments: ``conv2d(Tensor(2, 3, 5, 5), Tensor(4, 3, 3, 3), stride=2)``, noted
    by the runner in ``metadata.convlib_checks``); the verdict above the cell's output says which
    one differed and how. Tracebacks of such cells keep their error line only (a traceback quotes
    the source line that raised). ``c.CourseGrading.show_hidden_tests = True`` in the course's
    nbgrader_config.py leaves this preprocessor out (prepare.write_nbgrader_config)."""

    begin = Unicode("### BEGIN HIDDEN TESTS").tag(config=True)
    end = Unicode("### END HIDDEN TESTS").tag(config=True)

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[NotebookNode, dict]:
        if cell.cell_type != "code" or self.begin not in cell.source:
            return cell, resources
        checks = [str(c) for c in cell.metadata.get("convlib_checks", [])]
        note = [HIDDEN_NOTE, *([HIDDEN_CHECKS] if checks else []), *(f"#   {c}" for c in checks)]
        kept: list[str] = []
        hiding = False
        for line in cell.source.split("\n"):
            if self.begin in line:
                hiding = True
                kept += [line[: len(line) - len(line.lstrip())] + n for n in note]
            elif self.end in line:
                hiding = False
            elif not hiding:
                kept.append(line)
        cell.source = "\n".join(kept)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") != "CheckFailure":
                out.traceback = [f"{out.get('ename')}: {out.get('evalue')}"]
        return cell, resources
