"""Shared setup for the test suite.

The engine and CLI tests measure the architectures in ``examples/models.py``,
the same networks the README and the docs show. That folder is not a package, so it is put
on ``sys.path`` here: the tests then run the same way whether or not the
caller set ``PYTHONPATH``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = REPO_ROOT / "examples"

if str(EXAMPLES_DIR) not in sys.path:
    sys.path.insert(0, str(EXAMPLES_DIR))


@pytest.fixture(autouse=True)
def _same_output_as_a_developer_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest prints full messages in its short summary when $CI is set; inner pytester
    sessions must read the same on CI as on a laptop, so the variables are cleared."""
    for variable in ("CI", "BUILD_NUMBER"):
        monkeypatch.delenv(variable, raising=False)
