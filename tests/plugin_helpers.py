"""Shared pieces of the plugin tests: tiny models with hand-counted costs, and readers of pytest's output.

The plugin is tested the way a user meets it, in ``pytester`` sessions with
real test files. Those files build tiny models whose costs are worked out by
hand here from the cost model in CONVENTIONS.md, so that every message can be
asserted to the digit instead of being compared with the plugin's own output.
"""

from __future__ import annotations

import re
import textwrap
from typing import Iterable, Sequence

import pytest

# ``tiny()``: Conv2d(3, 8, 3) then Conv2d(8, 8, 3), both with bias, on a 3x16x16 sample.
#   layer "0": out 14x14 = 196; params 3*8*9 + 8 = 224; MACs 27*8*196 = 42,336; FLOPs 2*MACs = 84,672
#   layer "1": out 12x12 = 144; params 8*8*9 + 8 = 584; MACs 72*8*144 = 82,944; FLOPs 2*MACs = 165,888
TINY_PARAMS = 808
TINY_FLOPS = 250_560
TINY_MACS = 125_280
# ``Stem()``: one Conv2d(3, 4, 1, bias=False) on 3x16x16: out 256 positions;
#   params 3*4 = 12; MACs 3*4*256 = 3,072; FLOPs (2*3 - 1)*4*256 = 5,120
STEM_PARAMS = 12
STEM_FLOPS = 5_120
STEM_MACS = 3_072
# ``Head()``: Stem's conv, global average pool, then Linear(4, 2) on a (1, 4) input.
#   Linear counted as a 1x1 conv: params 4*2 + 2 = 10; MACs 8; FLOPs 2*8 = 16
HEAD_LINEAR_PARAMS = STEM_PARAMS + 10
HEAD_LINEAR_FLOPS = STEM_FLOPS + 16
HEAD_LINEAR_MACS = STEM_MACS + 8

MODELS = '''
import pytest
import torch
from torch import nn


def tiny():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3))


class Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1, bias=False)

    def forward(self, x):
        return self.conv(x)


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1, bias=False)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


def image(batch=1):
    return torch.randn(batch, 3, 16, 16)
'''


def backbone_module(width_variable: str) -> str:
    """The start of a test module: imports, and ``backbone()``, a two-conv model whose second conv's width
    comes from the environment variable ``width_variable`` (8 when unset), so a branch can grow it.

    ``backbone()``: Sequential(stem=Conv2d(3, 8, 3), body=Conv2d(8, W, 3)), both with bias, on 1x3x16x16:
      stem: out 14x14 = 196; params 3*8*9 + 8 = 224; MACs 27*8*196 = 42,336; FLOPs 2*MACs = 84,672
      body: out 12x12 = 144; params 72W + W = 73W; MACs 72*W*144 = 10,368W; FLOPs 20,736W
    """
    return f'''
import os
from collections import OrderedDict

import pytest
import torch
from torch import nn


def backbone():
    width = int(os.environ.get("{width_variable}", "8"))
    return nn.Sequential(OrderedDict(stem=nn.Conv2d(3, 8, 3), body=nn.Conv2d(8, width, 3)))
'''


# The bare pytest table makes the written pyproject.toml pytest's inifile, so
# the session's rootdir and configuration are the test directory's own.
PYTEST_TABLE = "[tool.pytest.ini_options]\n"


@pytest.fixture(scope="session")
def preloaded() -> None:
    """Load torch, the torch modules a profile touches, and hypothesis before any pytester session.

    ``pytester`` restores ``sys.modules`` after each in-process session (and
    after each test), dropping every module imported meanwhile. torch does not
    survive being imported twice in one process (the interpreter crashes), so
    it, and the submodules the profiler imports lazily, must be loaded first,
    by a session-scoped fixture that runs before the function-scoped pytester.
    hypothesis's pytest plugin imports hypothesis at the end of every session:
    loaded here once, it no longer costs each inner session a second.
    """
    import torch
    from torch import nn

    from pytest_convbudget.engine.profiler import profile

    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    attention = nn.TransformerEncoderLayer(8, 2, dim_feedforward=8, batch_first=True)
    for device in ("meta", "cpu", "auto"):
        profile(model, torch.randn(1, 3, 4, 4), device=device, count=["conv", "linear"])
        profile(attention, torch.randn(1, 3, 8), device=device, count="all")
    try:
        import hypothesis  # noqa: F401
    except ImportError:  # pragma: no cover - hypothesis is a test extra
        pass


def write_pyproject(pytester: pytest.Pytester, convbudget: str = "") -> None:
    """A pyproject.toml that pytest picks as its inifile, with an optional convbudget part."""
    pytester.makepyprojecttoml(PYTEST_TABLE + textwrap.dedent(convbudget))


def write_tests(pytester: pytest.Pytester, body: str, name: str = "test_models") -> None:
    """A test module ``<name>.py``: the tiny models, then ``body``."""
    pytester.makepyfile(**{name: MODELS + textwrap.dedent(body)})


def literal(text: str) -> str:
    """An fnmatch pattern that matches ``text`` exactly (messages hold ``[`` and ``*``)."""
    return "".join(f"[{char}]" if char in "[]*?" else char for char in text)


def row(*cells: str) -> str:
    """A regex for the start of a row of an aligned (maybe indented) table: these cells, in order."""
    return r"\s*" + r"\s+".join(re.escape(cell) for cell in cells) + r"(\s|$)"


def conv_budget_section(lines: Sequence[str]) -> list[str]:
    """The lines between the ``= conv budget =`` separator and the next ``=`` separator."""
    section: list[str] = []
    inside = False
    for line in lines:
        if re.fullmatch(r"=+ conv budget =+", line):
            inside = True
            continue
        if inside and line.startswith("="):
            break
        if inside:
            section.append(line)
    return section


def assert_no_traceback(lines: Iterable[str]) -> None:
    """A user error must read as one message, never as a Python traceback."""
    text = "\n".join(lines)
    assert "Traceback" not in text
    assert "During handling" not in text


def usage_error_lines(result: pytest.RunResult) -> list[str]:
    """What pytest printed on stderr for a usage error, blank lines dropped."""
    return [line for line in result.stderr.lines if line.strip()]
