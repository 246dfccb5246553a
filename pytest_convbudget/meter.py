"""The ``conv_cost`` fixture's callable: profile a model inside a test, name the measurement,
resolve its limits, and record it on the test for the session to gather.

Loaded when a test first asks for ``conv_cost``, with the engine (and torch) behind it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from .session import MARKS, MEASUREMENTS, USER_PROPERTY, ConvBudgetSession

if TYPE_CHECKING:
    from .budgets.measurement import Measurement

PROFILE_OPTIONS = ("kwargs", "device", "batch_size", "count", "tokens")  # passed on to profile()


class Meter:
    """The callable the ``conv_cost`` fixture gives a test."""

    def __init__(self, session: ConvBudgetSession, item: pytest.Item) -> None:
        self._session = session
        self._item = item

    def __call__(self, model: Any, *inputs: Any, name: str | None = None, **options: Any) -> Any:
        __tracebackhide__ = True
        from .budgets.limits import resolve_limits, resolve_per
        from .budgets.measurement import Measurement
        from .engine.profiler import profile
        from .words.errors import ProfileError

        settings = self._session.settings
        unknown = sorted(set(options) - set(PROFILE_OPTIONS))
        if unknown:
            pytest.fail(
                f"{self._item.nodeid}: conv_cost: unknown option(s) {', '.join(unknown)} "
                f"(expected name, {', '.join(PROFILE_OPTIONS)})",
                pytrace=False,
            )
        requested = options.pop("device", None)
        device = self._session.device_override or requested or settings.device
        options.setdefault("count", settings.count_for(self._item.nodeid))
        problem = None
        try:
            cost = profile(model, *inputs, device=device, **options)
        except ProfileError as error:
            problem = str(error).replace("profile()", "conv_cost()")
        if problem is not None:  # failed outside the except, so pytest shows no exception chain
            pytest.fail(f"{self._item.nodeid}: conv_cost: {problem}", pytrace=False)
        measurements = self._item.stash.setdefault(MEASUREMENTS, [])
        name = self._unique_name(name, cost.model, measurements)
        marks = self._item.stash.get(MARKS, ())
        limits = resolve_limits(self._item.nodeid, name, marks, settings)
        per, said = resolve_per(name, marks, settings)
        if per == "token" and cost.tokens is None:
            pytest.fail(
                f"{self._item.nodeid}: conv_cost: {said} needs the number of tokens, and this call has no integer "
                "input of shape (batch, sequence); pass conv_cost(..., tokens=N)",
                pytrace=False,
            )
        measurement = Measurement(
            test_id=self._item.nodeid, name=name, index=len(measurements), cost=cost,
            per=per, limits=tuple(limits.values()),
        )
        measurements.append(measurement)
        text = json.dumps(measurement.to_dict(), sort_keys=True)
        self._item.user_properties.append((USER_PROPERTY, text))
        self._session.made_here[text] = measurement
        return cost

    def _unique_name(self, name: str | None, model_name: str, measurements: list[Measurement]) -> str:
        __tracebackhide__ = True
        taken = {m.name for m in measurements}
        if name is not None:
            if not isinstance(name, str) or not name:
                pytest.fail(f"{self._item.nodeid}: conv_cost: name must be a non-empty string, got {name!r}", pytrace=False)
            if name in taken:
                pytest.fail(
                    f"{self._item.nodeid}: conv_cost: name {name!r} is measured twice; give each measurement its own name=",
                    pytrace=False,
                )
            return name
        candidate, number = model_name, 1
        while candidate in taken:
            number += 1
            candidate = f"{model_name}#{number}"
        return candidate
