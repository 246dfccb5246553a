"""Errors a user can cause when profiling: shown as one line, never as a plugin traceback."""

from __future__ import annotations


class ProfileError(ValueError):
    """Base of every usage error raised by :func:`pytest_convbudget.profile`."""
