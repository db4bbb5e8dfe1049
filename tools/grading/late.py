"""A late-penalty plugin for nbgrader, configurable by the instructor.

nbgrader's own ``LateSubmissionPlugin`` offers ``penalty_method`` "none" or "zero". This one takes
a share of the score per started day late, capped at the whole score. In nbgrader_config.py::

    c.AssignLatePenalties.plugin_class = "tools.grading.late.PercentPerDay"
    c.PercentPerDay.percent = 10.0   # 10 % of the notebook's score per started day

The grading runner applies the configured plugin exactly as nbgrader's AssignLatePenalties does
(per notebook, clamped to [0, score]), so the export's late_submission_penalty column is it.
"""

from __future__ import annotations

import math

from nbgrader.plugins import BasePlugin
from traitlets import Float


class PercentPerDay(BasePlugin):
    """Penalty = score * percent/100 * (started days late), at most the score."""

    percent = Float(10.0, help="share of the score lost per started day late").tag(config=True)

    def late_submission_penalty(
        self, student_id: str, score: float, total_seconds_late: float
    ) -> float | None:
        if total_seconds_late <= 0:
            return None
        days = math.ceil(total_seconds_late / 86400)
        return min(score, score * self.percent / 100 * days)
