"""The ``diff`` command; filled in by the regression-gate work."""

from __future__ import annotations

from typing import Any


def add_diff_command(commands: Any) -> None:
    """No diff command yet."""
