"""Figures and animations for the course, drawn by code (matplotlib)."""

from .core import *  # noqa: F403
from .extra import *  # noqa: F403
