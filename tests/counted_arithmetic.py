"""Arithmetic that counts itself: the independent side of every formula test.

The brute-force loops in ``test_formulas.py`` (convolutions) and
``test_op_formulas.py`` (linears, matmuls, einsum, attention) route each
multiply and add through one :class:`OpCounter`, so their counts come from
operations as they happen, never from a formula multiplied out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pytest_convbudget.engine.formulas import CallCost


@dataclass
class OpCounter:
    """Performs multiplies and adds while tallying them."""

    multiplies: int = 0
    adds: int = 0

    def mul(self, a: float, b: float) -> float:
        """One multiply."""
        self.multiplies += 1
        return a * b

    def add(self, a: float, b: float) -> float:
        """One add."""
        self.adds += 1
        return a + b

    def accumulate(self, total: float | None, term: float) -> float:
        """Add ``term`` to a running sum that starts as the first term itself.

        Starting from the first product instead of 0 is what makes a dot
        product of n terms cost n - 1 adds, as the cost model says.
        """
        if total is None:
            return term
        return self.add(total, term)

    def dot(self, pairs: Sequence[tuple[float, float]]) -> float:
        """A sum of products that starts from the first product: n muls, n - 1 adds."""
        total: float | None = None
        for a, b in pairs:
            total = self.accumulate(total, self.mul(a, b))
        assert total is not None
        return total

    @property
    def flops(self) -> int:
        """Every multiply and every add."""
        return self.multiplies + self.adds

    def cost(self) -> CallCost:
        return CallCost(macs=self.multiplies, flops=self.flops)
