"""What a profile found: dataclasses with exact integer counts.

``to_dict`` / ``from_dict`` give the JSON form that reports and baselines
store; it round-trips exactly. Nothing here imports torch.
"""

from __future__ import annotations

import sys
from operator import attrgetter
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Iterable, Mapping

from ..words.vocabulary import COST_MODEL_VERSION, DEFAULT_COUNT, NO_FORMULA_KIND

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LayerCost:
    """One counted call: of a counted module, or of a counted op under the
    innermost module that ran it (``type`` is then the op, such as ``matmul``).

    ``params``, ``flops`` and ``macs`` are this call's per-sample share, so
    the records of a profile sum exactly to its totals: a module's params sit
    on its first call, later calls carry 0. ``total_flops`` and ``total_macs``
    are the whole call, batch included.
    """

    name: str
    call: int
    type: str
    kind: str  # the op kind that counted it: "conv", "linear", "matmul", ...
    kernel_size: Shape
    stride: Shape
    padding: Shape | str
    dilation: Shape
    groups: int
    bias: bool
    input_shape: Shape
    output_shape: Shape
    batch: int
    params: int
    flops: int
    macs: int
    total_flops: int
    total_macs: int
    output_bytes: int | None = None  # the call's output tensor, the whole batch's (None in run files before 0.3)

    def __post_init__(self) -> None:
        # A suite measures the same few models over and over: their shapes and words are kept once.
        for key in _SHAPE_FIELDS:
            value = getattr(self, key)
            object.__setattr__(self, key, _SHAPES.setdefault(value, value))
        for key in ("name", "type", "kind"):
            value = getattr(self, key)
            if type(value) is str:
                object.__setattr__(self, key, sys.intern(value))

    @property
    def label(self) -> str:
        """The name as a person reads it: ``attn`` for a module's first call, ``attn, call 2``
        for its second (the words of ``render.phrases.layer_label``)."""
        return self.name if self.call == 1 else f"{self.name}, call {self.call}"

    def to_dict(self) -> dict[str, Any]:
        values = list(_row_of(self))
        for index in _SHAPE_INDICES:
            if type(values[index]) is tuple:
                values[index] = list(values[index])
        return dict(zip(LAYER_FIELDS, values))

    def row(self) -> tuple[Any, ...]:
        """The fields' values in :data:`LAYER_FIELDS` order (a shape as a tuple, which JSON writes as a list)."""
        return _row_of(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerCost:
        return cls.from_row([data.get(name) for name in LAYER_FIELDS])

    @classmethod
    def from_row(cls, row: Iterable[Any]) -> LayerCost:
        """A layer from its values in :data:`LAYER_FIELDS` order, as JSON gives them (shapes as lists).

        A row read before is the same object again: a run file repeats the same few models."""
        values = list(row)
        for index in _SHAPE_INDICES:
            if type(values[index]) is list:
                values[index] = tuple(values[index])
        key = tuple(values)
        found = _ROWS.get(key)
        if found is None:
            if values[_KIND] == "transposed":  # written by 0.1, which told transposed convs apart by kind
                values[_KIND] = "conv"
            found = _ROWS[key] = _shared_layer(cls(*values))
        return found


@dataclass(frozen=True, slots=True)
class IdleModule:
    """A counted kind of module that the profiled forward never called."""

    name: str
    type: str
    params: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "params": self.params}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IdleModule:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class UncountedCall:
    """An op of a registered kind that ran but is NOT in the profile's totals:
    its kind is not counted (a bare ``F.conv2d`` or a matmul under the default
    ``count``), or (``inside`` names the module) a counted module's forward ran
    it beside its own op. Its cost, for the whole batch, is shown for information.
    """

    function: str
    input_shape: Shape
    weight_shape: Shape
    output_shape: Shape
    total_flops: int
    total_macs: int
    inside: str = ""
    kind: str = "functional_conv"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UncountedCall:
        values = dict(data)
        for key in ("input_shape", "weight_shape", "output_shape"):
            values[key] = tuple(values[key])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ModuleCost:
    """All calls of one module (or of every module under a name prefix) added up."""

    name: str
    calls: int
    params: int
    flops: int
    macs: int


@dataclass(frozen=True, slots=True)
class ConvCost:
    """The conv cost of one forward of a model.

    ``params``, ``flops`` and ``macs`` are per sample; ``total_flops`` and
    ``total_macs`` cover the whole profiled batch. The size and memory figures
    are whatever ``count`` is: ``model_params`` (every parameter, each tensor
    once), ``weight_bytes`` (every parameter and buffer storage once, at its
    dtype's size) and ``activation_bytes`` (the peak bytes of the tensors the
    forward created, alive at once, for the whole batch; ``peak_module`` ran
    then, and ``live_bytes`` traces the live bytes along the forward). Run files
    written before 0.3 have no size or memory figures: they read as ``None``.
    """

    model: str
    params: int
    flops: int
    macs: int
    total_flops: int
    total_macs: int
    batch_size: int
    device: str
    model_params: int
    input_shapes: tuple[Shape, ...] = ()
    layers: tuple[LayerCost, ...] = ()
    idle_modules: tuple[IdleModule, ...] = ()
    uncounted: tuple[UncountedCall, ...] = ()
    fallback_reason: str | None = None
    count: tuple[str, ...] = DEFAULT_COUNT  # the op kinds in the totals
    per_sample_exact: bool = True
    cost_model_version: int = field(default=COST_MODEL_VERSION)
    weight_bytes: int | None = None
    activation_bytes: int | None = None
    peak_module: str = ""
    live_bytes: tuple[int, ...] = ()
    tokens: int | None = None  # the forward's tokens (batch x sequence), for per = "token"
    input_value_bytes: int | None = None  # real bytes a meta profile computed for input-only values

    @property
    def idle_params(self) -> int:
        """Params of the conv modules that never ran (not in ``params``)."""
        return sum(idle.params for idle in self.idle_modules)

    def by_module(self, depth: int | None = None, key: Callable[[str], str] | None = None) -> dict[str, ModuleCost]:
        """Per-sample figures summed per module, in first-call order.

        With ``depth``, names are cut to their first ``depth`` parts first, so
        ``depth=1`` gives one row per top-level block (``layer3``); with ``key``,
        each name is summed under ``key(name)`` (the blocks a report stops at).
        """
        groups: dict[str, list[LayerCost]] = {}
        for layer in self.layers:
            if key is not None:
                name = key(layer.name)
            else:
                name = layer.name if depth is None else ".".join(layer.name.split(".")[:depth])
            groups.setdefault(name, []).append(layer)
        return {
            name: ModuleCost(
                name=name,
                calls=len(calls),
                params=sum(layer.params for layer in calls),
                flops=sum(layer.flops for layer in calls),
                macs=sum(layer.macs for layer in calls),
            )
            for name, calls in groups.items()
        }

    def uncounted_work(self) -> dict[str, int]:
        """FLOPs for the whole batch of the ops that ran but whose kind is not counted, per kind
        (in the order first seen): the work a ``count`` setting leaves out."""
        work: dict[str, int] = {}
        for call in self.uncounted:
            if call.kind not in self.count and call.kind != NO_FORMULA_KIND:  # no count setting includes those
                work[call.kind] = work.get(call.kind, 0) + call.total_flops
        return work

    def by_kind(self) -> dict[str, ModuleCost]:
        """Per-sample figures summed per counted kind, in ``count`` order (zeros included)."""
        return {
            kind: ModuleCost(
                name=kind,
                calls=sum(1 for layer in self.layers if layer.kind == kind),
                params=sum(layer.params for layer in self.layers if layer.kind == kind),
                flops=sum(layer.flops for layer in self.layers if layer.kind == kind),
                macs=sum(layer.macs for layer in self.layers if layer.kind == kind),
            )
            for kind in self.count
        }

    def top_layers(self, count: int = 3, key: str = "flops") -> list[LayerCost]:
        """The ``count`` costliest layer calls by ``key`` (flops, macs or params)."""
        return sorted(self.layers, key=lambda layer: getattr(layer, key), reverse=True)[:count]

    def table(self) -> str:
        """A readable per-layer table with totals, as ``python -m pytest_convbudget`` prints."""
        from ..render.terminal import render_cost

        return render_cost(self)

    def to_dict(self, rows: bool = False) -> dict[str, Any]:
        """The JSON form; with ``rows``, each layer is its :meth:`LayerCost.row`, a list of values in
        :data:`LAYER_FIELDS` order (a third of the text; :meth:`from_dict` reads either)."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "layers" and rows:
                data[f.name] = [layer.row() for layer in value]
            elif f.name in ("layers", "idle_modules", "uncounted"):
                data[f.name] = [item.to_dict() for item in value]
            else:
                data[f.name] = _jsonable(value)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], layers: tuple[LayerCost, ...] | None = None) -> ConvCost:
        """A cost from its JSON form, its layers as tables or as rows (``to_dict(rows=True)``); or, given
        ``layers``, with those (a run file keeps each layer once, apart from the costs)."""
        values = dict(data)
        if "include_linear" in values:  # written by 0.1: conv, and linear when opted in
            values["count"] = ("conv", "linear") if values.pop("include_linear") else DEFAULT_COUNT
        values["count"] = tuple(values.get("count", DEFAULT_COUNT))
        values["input_shapes"] = tuple(tuple(shape) for shape in values.get("input_shapes", ()))
        values["layers"] = layers if layers is not None else tuple(
            LayerCost.from_row(item) if type(item) is list else LayerCost.from_dict(item)
            for item in values.get("layers", ())
        )
        values["idle_modules"] = _load(IdleModule, values.get("idle_modules", ()))
        values["uncounted"] = _load(UncountedCall, values.get("uncounted", ()))
        values["live_bytes"] = tuple(values.get("live_bytes", ()))
        return cls(**values)


_SHAPE_FIELDS = ("kernel_size", "stride", "padding", "dilation", "input_shape", "output_shape")
LAYER_FIELDS = tuple(f.name for f in fields(LayerCost))  # a layer's row: its values in this order
_row_of = attrgetter(*LAYER_FIELDS)
_KIND = LAYER_FIELDS.index("kind")
_SHAPE_INDICES = tuple(LAYER_FIELDS.index(name) for name in _SHAPE_FIELDS)
# Every layer call seen, once, by its row (as written, and as read): two layers are equal when their rows
# are, and a row's hash is computed in C. (A row holds no bool where a count is, so True never meets 1.)
_ROWS: dict[tuple[Any, ...], LayerCost] = {}
_SHAPES: dict[Any, Any] = {}  # every shape a layer holds, once: (3, 3) is in most of them
_TABLES: dict[tuple[int, ...], tuple[LayerCost, ...]] = {}  # every layer table, by its layers' ids
_COSTS: dict[tuple[Any, ...], ConvCost] = {}  # every cost, by its figures and its table's id
_SHARED: set[int] = set()  # the ids of the tables and costs kept here: one already shared is known at once


def shared(cost: ConvCost) -> ConvCost:
    """The one cost equal to ``cost``, with its layer table shared: the same model measured by a
    thousand tests is one object, holding one table of one object per call, and two equal tables
    are the same object (``is`` compares them).

    Kept for the life of the process: a session's measurements, and the run files a command reads,
    hold what is kept here anyway.
    """
    if id(cost) in _SHARED:
        return cost
    layers = shared_layers(cost.layers)
    key = (id(layers), *(getattr(cost, name) for name in _COST_FIELDS))
    found = _COSTS.get(key)
    if found is None:
        found = _COSTS[key] = cost if layers is cost.layers else replace(cost, layers=layers)
        _SHARED.add(id(found))
    return found


def shared_layers(layers: tuple[LayerCost, ...]) -> tuple[LayerCost, ...]:
    """The one table equal to ``layers`` (see :func:`shared`)."""
    if id(layers) in _SHARED:
        return layers
    calls = tuple(layer if id(layer) in _SHARED else _shared_layer(layer) for layer in layers)
    table = _TABLES.setdefault(tuple(map(id, calls)), calls)
    _SHARED.add(id(table))
    return table


_COST_FIELDS = tuple(f.name for f in fields(ConvCost) if f.name != "layers")


def _shared_layer(layer: LayerCost) -> LayerCost:
    """The one layer equal to ``layer``, known by its id from then on."""
    found = _ROWS.setdefault(_row_of(layer), layer)
    _SHARED.add(id(found))
    return found


def _load(cls: Any, items: Iterable[Mapping[str, Any]]) -> tuple[Any, ...]:
    return tuple(cls.from_dict(item) for item in items)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value
