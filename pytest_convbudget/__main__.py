"""Entry point for ``python -m pytest_convbudget``."""

import sys

from .cli import main

sys.exit(main())
