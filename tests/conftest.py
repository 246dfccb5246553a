"""Shared setup for the test suite.

The engine and CLI tests measure the architectures in ``examples/models.py``,
the same networks the README shows. That folder is not a package, so it is put
on ``sys.path`` here: the tests then run the same way whether or not the
caller set ``PYTHONPATH``.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = REPO_ROOT / "examples"

if str(EXAMPLES_DIR) not in sys.path:
    sys.path.insert(0, str(EXAMPLES_DIR))
