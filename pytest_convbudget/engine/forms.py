"""The forms a model ships in, brought to the module ``profile()`` counts.

A ``torch.compile``-d model is an ``OptimizedModule`` wrapping the user's
module: profiling the wrapper would compile it (seconds to minutes) to count
what the original counts in milliseconds, under names prefixed ``_orig_mod``.
The original module is counted instead, and nothing is compiled.
"""

from __future__ import annotations

from torch import nn


def eager_module(model: nn.Module) -> nn.Module:
    """The module whose eager forward ``profile()`` runs: the original of a compiled model, else the model."""
    while type(model).__name__ == "OptimizedModule" and isinstance(getattr(model, "_orig_mod", None), nn.Module):
        model = model._orig_mod
    return model
