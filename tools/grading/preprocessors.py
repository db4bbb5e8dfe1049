"""nbgrader preprocessors added to `nbgrader autograde` by the grading runner.

`RecordExtract` runs right after the notebook executed: it moves the records the checks emitted
(what the student's functions returned, see ``records.py``) out of the notebook into a JSON file,
which the runner judges outside the student's process (``verdict.py``).
`OutputCap` shortens huge outputs so feedback files stay small whatever a student prints.
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
