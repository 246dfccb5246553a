"""pytest-convbudget: exact conv params and FLOPs of PyTorch models, as pytest budgets.

``parse_quantity`` and ``format_quantity`` import without torch; ``profile``
and the result classes are loaded on first use, so that the pytest plugin
(which imports this package) costs next to nothing in runs that never profile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .words.errors import ProfileError
from .words.quantity import format_quantity, parse_quantity
from .words.vocabulary import COST_MODEL_VERSION

__all__ = [
    "COST_MODEL_VERSION",
    "ConvCost",
    "IdleModule",
    "LayerCost",
    "ModelChangedError",
    "ModuleCost",
    "ProfileError",
    "UncountedCall",
    "format_quantity",
    "parse_quantity",
    "profile",
]

if TYPE_CHECKING:
    from .engine.profiler import ModelChangedError, profile
    from .engine.results import (
        ConvCost,
        IdleModule,
        LayerCost,
        ModuleCost,
        UncountedCall,
    )

_RESULT_CLASSES = ("ConvCost", "IdleModule", "LayerCost", "ModuleCost", "UncountedCall")


def __getattr__(name: str) -> Any:
    if name == "profile":
        from .engine.profiler import profile

        return profile
    if name in _RESULT_CLASSES:
        from .engine import results

        return getattr(results, name)
    if name == "ModelChangedError":
        from .engine.profiler import ModelChangedError

        return ModelChangedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
