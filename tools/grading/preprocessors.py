"""nbgrader preprocessors added to `nbgrader autograde` by the grading runner.

`PolicyScan` runs after nbgrader has restored the locked cells and before the notebook executes:
it scans the student's own cells (`policy.scan_notebook`) and writes what it found to a JSON file.
`PolicyApply` runs right after execution: every task a violation costs gets an error output that
says why (so nbgrader scores it 0 and the feedback shows the reason), and a note goes on top.
`OutputCap` shortens huge outputs so feedback files stay small whatever a student prints.
"""

from __future__ import annotations

import json
import os
from typing import Any

import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode

from .policy import Violation, scan_notebook

POLICY_ERROR = "GradingPolicyViolation"


class PolicyScan(NbGraderPreprocessor):
    """Find forbidden constructs in the student's cells before they run."""

    release_directory = Unicode(
        "", help="folder holding <assignment>/<notebook>.ipynb as released"
    ).tag(config=True)
    report_path = Unicode("", help="JSON file the findings are appended to").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict]:
        info = resources["nbgrader"]
        released_path = os.path.join(
            self.release_directory, info["assignment"], info["notebook"] + ".ipynb"
        )
        released = nbformat.read(released_path, as_version=4)
        violations = scan_notebook(nb.cells, released.cells)
        resources["grading_violations"] = violations
        if self.report_path:
            found = {}
            if os.path.exists(self.report_path):
                with open(self.report_path, encoding="utf-8") as f:
                    found = json.load(f)
            found[info["notebook"]] = [
                v.__dict__ | {"grade_ids": list(v.grade_ids)} for v in violations
            ]
            with open(self.report_path, "w", encoding="utf-8") as f:
                json.dump(found, f, indent=1, ensure_ascii=False)
        return nb, resources


class PolicyApply(NbGraderPreprocessor):
    """Score 0 the tasks a violation costs, with the reason as the test cell's error."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict]:
        violations: list[Violation] = resources.get("grading_violations", [])
        if not violations:
            return nb, resources
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if not meta.get("grade") or cell.cell_type != "code":
                continue
            reasons = [v.feedback() for v in violations if meta.get("grade_id") in v.grade_ids]
            if reasons:
                cell.outputs.append(
                    nbformat.v4.new_output(
                        "error",
                        ename=POLICY_ERROR,
                        evalue="0 points for this task: " + "; ".join(reasons),
                        traceback=[f"{POLICY_ERROR}: 0 points for this task: {r}" for r in reasons],
                    )
                )
        lines = "\n".join(f"- {v.feedback()} ({v.kind})" for v in violations)
        note = nbformat.v4.new_markdown_cell(
            "**Grading note.** Your code does something answers may not do, so the tasks it "
            f"affects score 0:\n\n{lines}"
        )
        nb.cells.insert(0, note)
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
