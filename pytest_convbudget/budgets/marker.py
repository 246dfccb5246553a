"""``@pytest.mark.budget(params=..., flops=..., macs=..., name=...)``, parsed once into a typed value."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..words.errors import MarkerError
from ..words.quantity import parse_limit
from ..words.vocabulary import BUDGET_FIGURES
from .pyproject import PER_CHOICES, Limit

MARKER = "budget"
MARKER_HELP = (
    "budget(params=None, flops=None, macs=None, model_params=None, weights=None, activations=None, "
    "per=None, name=None): fail the test when a model it measures with the conv_cost fixture exceeds "
    "these limits (counts like '3.7G', '25.6M params', 12_000_000; weights and activations in bytes "
    "like '450MB', '1.2GiB'). per= 'sample', 'batch' or 'token' overrides the table's per. "
    "name= limits only the measurement of that name."
)


@dataclass(frozen=True)
class BudgetMark:
    params: int | None = None
    flops: int | None = None
    macs: int | None = None
    model_params: int | None = None
    weights: int | None = None
    activations: int | None = None
    per: str | None = None  # what FLOPs and MACs limits cover here: "sample", "batch" or "token"
    name: str | None = None

    @classmethod
    def from_mark(cls, args: tuple[Any, ...], kwargs: dict[str, Any], test_id: str) -> BudgetMark:
        shown = _render(args, kwargs)
        where = f"in @pytest.mark.{shown} of {test_id}"
        if args:
            raise MarkerError(f"{test_id}: @pytest.mark.{shown}: takes keyword arguments only ({', '.join(f.name for f in fields(cls))})")
        known = {f.name for f in fields(cls)}
        for key in kwargs:
            if key not in known:
                raise MarkerError(
                    f"{test_id}: @pytest.mark.{shown}: unknown keyword {key!r} (expected {', '.join(sorted(known))})"
                )
        per = kwargs.get("per")
        if per is not None and per not in PER_CHOICES:
            raise MarkerError(f"{test_id}: @pytest.mark.{shown}: per must be one of {', '.join(map(repr, PER_CHOICES))}, "
                              f"got {per!r}")
        name = kwargs.get("name")
        if name is not None and (not isinstance(name, str) or not name):
            raise MarkerError(f"{test_id}: @pytest.mark.{shown}: name must be a non-empty string, got {name!r}")
        values: dict[str, int | None] = {}
        for figure in BUDGET_FIGURES:
            raw = kwargs.get(figure)
            try:
                # figure= refuses another figure's unit: flops="3 GMACs" is an error, not 3 GFLOPs,
                # and weights="3G" is a count where bytes are needed.
                values[figure] = None if raw is None else parse_limit(raw, f"for {figure}= {where}", figure)
            except ValueError as error:
                raise MarkerError(str(error)) from None
        return cls(name=name, per=per, **values)

    @property
    def source(self) -> str:
        return f"@pytest.mark.budget(name={self.name!r})" if self.name else "@pytest.mark.budget"

    def limits(self) -> tuple[Limit, ...]:
        return tuple(
            Limit(figure, getattr(self, figure), self.source)
            for figure in BUDGET_FIGURES
            if getattr(self, figure) is not None
        )


def _render(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [repr(arg) for arg in args] + [f"{key}={value!r}" for key, value in kwargs.items()]
    return f"{MARKER}({', '.join(parts)})"
