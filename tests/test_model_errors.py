"""A model's own error inside ``conv_cost`` reads as the model's, never as the plugin's.

pytest prints the frames an exception passed through and an ``E`` location at
the last one. The plugin's frames carry ``__tracebackhide__``, so what a
person sees is their test, their model's forward and torch, on every device.
"""

from __future__ import annotations

import re

import pytest

from plugin_helpers import preloaded, write_pyproject  # noqa: F401  (preloaded: a fixture)

BROKEN = '''
import pytest
import torch
from torch import nn


class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y = self.conv(x)
        return torch.cat([y, x], dim=2)  # the user's bug: 6x6 beside 8x8


@pytest.mark.parametrize("device", ["meta", "cpu", "auto"])
@pytest.mark.parametrize("count", ["conv", "all"])
def test_broken(conv_cost, device, count):
    conv_cost(Broken(), torch.randn(1, 3, 8, 8), device=device, count=count)
'''
BUG_LINE = next(n for n, line in enumerate(BROKEN.lstrip("\n").splitlines(), 1) if "torch.cat" in line)
FRAME = re.compile(r"^(?P<path>\S+\.py):(?P<line>\d+): (in \w+|\w+Error)")


@pytest.fixture(autouse=True)
def _torch_loaded_once(preloaded: None) -> None:
    """torch must be imported before pytester's first session (see ``preloaded``)."""


def frames(lines: list[str]) -> list[str]:
    return [line for line in lines if FRAME.match(line)]


def test_the_models_error_shows_the_models_frames_and_none_of_the_plugins(pytester: pytest.Pytester) -> None:
    write_pyproject(pytester)
    pytester.makepyfile(test_broken=BROKEN)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=6)
    shown = frames(result.stdout.lines)
    assert shown, result.stdout.str()
    assert not [line for line in shown if "pytest_convbudget" in line]
    # every failure passes through the model's forward at the buggy line
    assert sum(line.startswith(f"test_broken.py:{BUG_LINE}: ") for line in shown) == 6
    # on every device, meta included, the E location is that line: not torch's operator wrapper
    locations = [line for line in shown if FRAME.match(line).group(0).endswith("Error")]
    assert locations.count(f"test_broken.py:{BUG_LINE}: RuntimeError") == 6


def test_no_plugin_locals_are_dumped_with_showlocals(pytester: pytest.Pytester) -> None:
    """``-l`` prints each shown frame's locals: none of the watcher's or profiler's."""
    write_pyproject(pytester)
    pytester.makepyfile(test_broken=BROKEN)
    result = pytester.runpytest("-l", "-k", "cpu and conv", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, deselected=5)
    text = result.stdout.str()
    for name in ("watch", "guard", "handles", "stand_ins", "shortcuts"):
        assert not re.search(rf"^{name}\s+=", text, re.MULTILINE), name
