"""The error classes a user can cause, in one place every floor may import.

Each is a one-line message naming where the bad input came from (a test id,
a pyproject key, a file); the entry points turn them into a usage error or an
exit status of 2, never a traceback. The message is written by the one
function that validates that input.
"""

from __future__ import annotations


class ProfileError(ValueError):
    """Base of every usage error raised by :func:`pytest_convbudget.profile`."""


class ConfigError(ValueError):
    """A bad ``[tool.convbudget]`` table; the message names file and key."""


class CountError(ValueError):
    """A bad ``count=`` value; the message names where it came from."""


class MarkerError(ValueError):
    """A malformed budget marker; the message names the test, the marker and the bad value."""


class RunFileError(ValueError):
    """A run or baseline file that cannot be used; the message names the file."""


class GateError(ValueError):
    """A baseline problem found before any test runs."""


class OutputUnavailable(RuntimeError):
    """An output format cannot be drawn here (a missing optional dependency); the message says what to install."""


class SpecError(ValueError):
    """A model factory spec (``FILE.py:NAME``, ``MODULE:NAME``) that cannot be resolved."""


class CliError(Exception):
    """A one-line error of ``python -m pytest_convbudget``; exits with status 2."""
