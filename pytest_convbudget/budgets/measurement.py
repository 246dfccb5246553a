"""One model measured by one test: its cost, its limits, and the verdict."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from ..engine.results import ConvCost, shared
from ..words.vocabulary import FIGURES
from .limits import Overrun, headroom, overruns
from .pyproject import Limit

TOP_LAYERS_IN_MESSAGE = 3  # the costliest layers a failure names


@dataclass(frozen=True, slots=True)
class Measurement:
    test_id: str
    name: str
    index: int  # order of the measurement within its test
    cost: ConvCost
    per: str
    limits: tuple[Limit, ...] = ()

    def __post_init__(self) -> None:
        # A session holds every measurement to its end: tests of one model share one layer table.
        object.__setattr__(self, "cost", shared(self.cost))

    @property
    def key(self) -> tuple[str, str]:
        """What a baseline matches on."""
        return (self.test_id, self.name)

    @property
    def overruns(self) -> list[Overrun]:
        return overruns(self.cost, {limit.figure: limit for limit in self.limits}, self.per)

    @property
    def headroom(self) -> float | None:
        return headroom(self.cost, {limit.figure: limit for limit in self.limits}, self.per)

    @property
    def over_budget(self) -> bool:
        return bool(self.overruns)

    @property
    def outweighed(self) -> bool:
        """Budgeted, yet the work its ``count`` leaves out is more than the work it counts:
        its budget judges the lesser part of the model."""
        return bool(self.limits) and sum(self.cost.uncounted_work().values()) > self.cost.total_flops

    @property
    def costliest_figure(self) -> str:
        """The figure to rank layers by: the layer figure over its limit, or FLOPs when several
        are (or only the model's size or memory is: layers have no such figure)."""
        figures = {overrun.figure for overrun in self.overruns} & set(FIGURES)
        return figures.pop() if len(figures) == 1 else "flops"

    def costliest_layers(self, count: int = TOP_LAYERS_IN_MESSAGE) -> list[tuple[str, int]]:
        """(label, value) of the layers that cost most by :attr:`costliest_figure`."""
        key = self.costliest_figure
        return [(layer.label, getattr(layer, key)) for layer in self.cost.top_layers(count, key)]

    def to_dict(self, cost: Any = None) -> dict[str, Any]:
        """The JSON form a test hands to the session (``user_properties``, across xdist workers too):
        its cost packed (:func:`pack`), since pytest keeps every test's report, properties and all, to
        the session's end. A run file passes ``cost``, the place of the cost it keeps apart (``ci.runfile``)."""
        return {
            "test_id": self.test_id,
            "name": self.name,
            "index": self.index,
            "per": self.per,
            "limits": [{"figure": limit.figure, "value": limit.value, "source": limit.source} for limit in self.limits],
            "cost": pack(self.cost) if cost is None else cost,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], cost: ConvCost | None = None) -> Measurement:
        """A measurement from :meth:`to_dict`'s form, or a run file's of version 1 (its cost inline);
        given ``cost``, with that one."""
        if cost is None:
            found = data["cost"]
            cost = unpack(found) if PACKED in found else ConvCost.from_dict(found)
        return cls(
            test_id=data["test_id"],
            name=data["name"],
            index=data["index"],
            per=data["per"],
            limits=tuple(Limit(**limit) for limit in data.get("limits", ())),
            cost=cost,
        )


PACKED = "packed"  # the key of a cost's packed lists
# Packed costs, by the id of the (shared) cost, and unpacked lists, by their text: kept for the session,
# which holds those costs anyway.
_PACKED: dict[int, tuple[ConvCost, dict[str, Any]]] = {}
_UNPACKED: dict[str, list[tuple[dict[str, Any], ConvCost]]] = {}  # by the lists' text: the figures and their cost
BULKY = ("layers", "live_bytes", "idle_modules", "uncounted")  # the lists a cost packs; its figures stay plain


def pack(cost: ConvCost) -> dict[str, Any]:
    """A cost as a test hands it on: its figures as plain JSON (JUnit XML shows them), its lists
    (layers as rows, the live bytes) deflated in base64, a seventh of their text: 5,000 tests'
    reports, which pytest keeps to the session's end, then hold some 2 kB each, not 13."""
    import base64
    import zlib

    known = _PACKED.get(id(cost))  # a model measured by a thousand tests is packed once
    if known is None:
        data = cost.to_dict(rows=True)
        lists = json.dumps({key: data.pop(key) for key in BULKY}, separators=(",", ":"))
        data[PACKED] = base64.b64encode(zlib.compress(lists.encode("utf-8"))).decode("ascii")
        known = _PACKED[id(cost)] = (cost, data)  # the cost is kept, so its id is never another's
    return dict(known[1])


def unpack(packed: Mapping[str, Any]) -> ConvCost:
    """The cost :func:`pack` packed (handed on by this session's own tests, never read from a file)."""
    import base64
    import zlib

    data = dict(packed)
    lists = data.pop(PACKED)
    known = _UNPACKED.setdefault(lists, [])  # the same model's tests hand on the same text
    for figures, cost in known:
        if figures == data:
            return cost
    cost = shared(ConvCost.from_dict({**data, **json.loads(zlib.decompress(base64.b64decode(lists)))}))
    known.append((data, cost))
    return cost
