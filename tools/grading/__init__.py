"""Grading runner for the course's nbgrader exercises: `python -m tools.grading --help`."""

from .runner import Settings, grade_class

__all__ = ["Settings", "grade_class"]
