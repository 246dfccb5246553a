"""Forms a model ships in, counted like their eager selves (issue 14; the forms done so far).

``torch.compile``: the original module is counted, nothing is compiled, and
the layer names are the user's own, not ``_orig_mod.``-prefixed.
"""

from __future__ import annotations

import torch
from torch import nn

from pytest_convbudget import profile


def model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 14 * 14, 10)).eval()


def test_a_compiled_model_counts_as_its_original_and_compiles_nothing() -> None:
    eager = model()
    x = torch.randn(2, 3, 16, 16)
    compiled = torch.compile(eager)
    torch._dynamo.reset()
    for device in ("meta", "cpu"):
        cost = profile(compiled, x, count="all", device=device)
        reference = profile(eager, x, count="all", device=device)
        assert cost == reference
        assert [layer.name for layer in cost.layers] == ["0", "3"]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 0  # no frame was compiled
    assert cost.model == "Sequential"

