"""Figures and animations for the course, drawn by code (matplotlib)."""

from .channels import *  # noqa: F403
from .core import *  # noqa: F403
from .diagrams import *  # noqa: F403
from .extra import *  # noqa: F403
