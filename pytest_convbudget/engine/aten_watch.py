"""Count the ops of registered kinds that run at torch's dispatcher where no torch function
the function mode saw ran them.

The function mode (:mod:`.watch`) reads shapes where the model's Python calls ``F.conv2d``
or ``torch.matmul``. A TorchScript module runs its graph in C++, an exported program calls
``torch.ops.aten.*`` directly, a quantized module calls ``torch.ops.quantized.*``, and a
library's C++ code calls matmuls of its own: none of these reach the function mode, all of
them reach the dispatcher. :class:`AtenWatch` is a listener of the profile's one
:class:`~.dispatch_view.DispatchView`; it leaves every op a watched torch function ran
(that call was counted, or listed, already) and a counted module's own op (its hook counts
it), and hands the rest to the function mode's records: the same kinds, formulas and rows.

An op that consumes a parameter is shown under the module that owns the parameter when no
hook names the module running (TorchScript and exported programs keep the parameters'
paths, not the calls'), and, for TorchScript, with the class name the module was made from.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from functools import lru_cache
from typing import Any, Mapping

import torch

from ..words.vocabulary import ROOT_NAME
from .formulas import CallCost
from .kinds import KINDS, NO_FORMULA, NO_FORMULA_KIND, AtenRule, Kind, OpFacts
from .watch import OpWatch, _uncounted


class AtenWatch:
    """The dispatch view's listener for ops of registered kinds (see the module docstring).

    The watch's ``owners`` give each parameter's (and packed weight's) owner; asked only when
    an op to show consumed one and no hook names a module, which an eager forward never has.
    """

    def __init__(self, watch: OpWatch) -> None:
        self.watch = watch
        self.rules = aten_table()
        self.no_formula = no_formula_ops()
        self._biased: tuple[set[int], str] | None = None  # a weighted product's outputs, awaiting its bias add
        self._last_note = "records"

    def op(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        if self._biased is not None:  # the op after a weighted product: its bias add, or a view on the way
            self._fold_bias(func, args, out)
        found = self.rules.get(id(func))  # by id: an op's own hash is a Python call, on every op
        if found is None:
            if id(func) in _GATHERS and args:  # matrices gathered from a weight: an MoE's experts, a token each
                self.watch.gather(args[0], out)
            elif id(func) in self.no_formula and not self.watch.covering:
                self._list_without_formula(func, args, out)
            return
        if self.watch.covering:
            return
        kind, rule = found
        if rule.split is not None:  # a fused block: the calls the eager model makes, each of its kind
            parts = [(kind_name, facts, own, self._consumed(facts.operands))
                     for kind_name, facts, own in rule.split(args, out)]
            block = self.watch.owner(parts[0][3])[0]  # the block's module: its first weight's
            for kind_name, facts, own, consumed in parts:
                owner = self.watch.owner(consumed)[0] if own else block
                self.watch.note(kind_name, facts.type, facts, out, owner=owner, consumed=consumed)
            return
        if rule.own and self.watch.own_op(kind.name, rule.weighted):
            return
        facts = rule.read(args, kwargs, out, self._is_parameter) if rule.read is not None else None
        if facts is None:
            return
        consumed = self._consumed(facts.operands)
        weighted = bool(consumed) and rule.weighted is not None
        self._note(rule.weighted if weighted else kind.name, func, facts, out, consumed)
        if weighted and rule.weighted == "linear" and not facts.bias and isinstance(out, torch.Tensor):
            self._biased = ({id(out)}, self._last_note)

    def _list_without_formula(self, func: Any, args: tuple[Any, ...], out: Any) -> None:
        """An op whose work no formula counts: listed by name among the uncounted work, with no FLOPs."""
        first = next((arg for arg in args if isinstance(arg, torch.Tensor)), None)
        output = out[0] if isinstance(out, (tuple, list)) and out else out
        shape = (lambda tensor: tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else ())
        facts = OpFacts(type=func._opname, input_shape=shape(first), weight_shape=(), output_shape=shape(output),
                        batch=1, cost=CallCost(macs=0, flops=0))
        self.watch.uncounted.append(_uncounted(NO_FORMULA_KIND, func._opname, facts))

    def _note(self, kind: str, func: Any, facts: Any, out: Any, consumed: tuple[tuple[object, int], ...]) -> None:
        owner, shown = self._owner(consumed, func)
        before = (len(self.watch.records), len(self.watch.uncounted))
        self.watch.note(kind, shown, facts, out, owner=owner, consumed=consumed)
        self._last_note = "records" if len(self.watch.records) > before[0] else "uncounted"

    def _fold_bias(self, func: Any, args: tuple[Any, ...], out: Any) -> None:
        """A weight's product followed by the add of a parameter vector is a linear with a bias,
        as the eager model's ``F.linear`` counts it (TorchScript adds the bias apart from the
        product when the input is not contiguous)."""
        outputs, where = self._biased
        self._biased = None
        if not args or not isinstance(args[0], torch.Tensor) or id(args[0]) not in outputs:
            return
        if func in _VIEWS:  # the product reshaped back to the input's leading dims
            self._biased = (outputs | {id(out)}, where)
            return
        bias = args[1] if func in _ADDS and len(args) > 1 else None
        entry = self._parameter(bias) if isinstance(bias, torch.Tensor) and bias.dim() == 1 else None
        if entry is None or bias.shape[0] != args[0].shape[-1] or len(args) > 2:
            return
        added = args[0].numel()
        found = getattr(self.watch, where)
        last = found[-1]
        if where == "records":
            facts = replace(last.facts, bias=True, cost=CallCost(macs=last.facts.cost.macs,
                                                               flops=last.facts.cost.flops + added))
            found[-1] = replace(last, facts=facts, tensors=tuple(dict.fromkeys((*last.tensors, entry))))
        else:
            found[-1] = replace(last, total_flops=last.total_flops + added)

    def _consumed(self, operands: Any) -> tuple[tuple[object, int], ...]:
        return tuple(dict.fromkeys(entry for entry in map(self._parameter, operands) if entry is not None))

    def _is_parameter(self, operand: Any) -> bool:
        return self._parameter(operand) is not None

    def _parameter(self, operand: Any) -> tuple[object, int] | None:
        if isinstance(operand, torch.ScriptObject):  # a quantized module's packed weight and bias
            return packed_identity(operand)
        return self.watch._parameter(operand)

    def _owner(self, consumed: tuple[tuple[object, int], ...], func: Any) -> tuple[str | None, str]:
        """(the owning module's path, the type to show): the op's name unless TorchScript kept the class."""
        path, script_class = self.watch.owner(consumed)
        return path, script_class or func._opname


_ADDS = frozenset((torch.ops.aten.add.Tensor, torch.ops.aten.add_.Tensor))
_GATHERS = frozenset(map(id, (torch.ops.aten.index.Tensor, torch.ops.aten.index_select.default)))  # by id
_VIEWS = frozenset((torch.ops.aten.view.default, torch.ops.aten._unsafe_view.default,
                    torch.ops.aten._reshape_alias.default))


def aten_table() -> Mapping[int, tuple[Kind, AtenRule]]:
    """Every overload of every registered op, by its id (ops live as long as torch), with its
    kind and rule; built once per state of the registry, as the function mode's table is."""
    return _aten_table(tuple(KINDS.values()))


@lru_cache(maxsize=8)
def _aten_table(kinds: tuple[Kind, ...]) -> Mapping[int, tuple[Kind, AtenRule]]:
    table: dict[int, tuple[Kind, AtenRule]] = {}
    for kind in kinds:
        for rule in kind.aten:
            for path in rule.ops:
                namespace, _, name = path.partition(".")
                packet = getattr(getattr(torch.ops, namespace), name, None) if hasattr(torch.ops, namespace) else None
                if packet is None:  # an op this build of torch lacks (a backend's attention)
                    continue
                for overload in packet.overloads():
                    table[id(getattr(packet, overload))] = (kind, rule)
    return table


def no_formula_ops() -> frozenset[int]:
    """Every overload of the ops of :data:`~.kinds.NO_FORMULA`, by id."""
    return _no_formula_ops(NO_FORMULA)


@lru_cache(maxsize=1)
def _no_formula_ops(names: tuple[str, ...]) -> frozenset[int]:
    found = set()
    for path in names:
        namespace, _, name = path.partition(".")
        packet = getattr(getattr(torch.ops, namespace), name, None)
        if packet is not None:
            found.update(id(getattr(packet, overload)) for overload in packet.overloads())
    return frozenset(found)


def owners(slots: Any, modules: Any) -> dict[object, tuple[str, str]]:
    """Each parameter's identity (and each quantized module's packed weight's) with its owner's
    path and, for a TorchScript module, the class it was made from. ``slots``: (path of the
    tensor, the tensor) of every parameter; ``modules``: (path, module) of every module."""
    table: dict[object, tuple[str, str]] = {}
    kinds = {path: _script_class(module) for path, module in modules}
    for path, tensor in slots:
        module_path = path.rpartition(".")[0]
        table.setdefault(id(tensor), (module_path or ROOT_NAME, kinds.get(module_path, "")))
    for path, module in modules:
        packed = getattr(module, "_packed_params", None)
        packed = getattr(packed, "_packed_params", packed)  # a quantized linear's wrapper module
        if isinstance(packed, torch.ScriptObject):
            table.setdefault(packed_identity(packed)[0], (path or ROOT_NAME, kinds.get(path, "")))
    return table


def packed_identity(packed: Any) -> tuple[object, int]:
    """(identity, element count) of a quantized module's packed weight and bias. TorchScript
    hands out a new wrapper of the packed object at each access, so the identity is read
    from what it holds: its weight's and bias's shapes and bytes (a few kB, read when a
    quantized op runs)."""
    digest = hashlib.blake2b(digest_size=16)
    elements = 0
    for tensor in packed.unpack():
        if tensor is None:
            continue
        data = tensor.int_repr() if tensor.is_quantized else tensor
        digest.update(repr((tuple(tensor.shape), str(tensor.dtype))).encode())
        digest.update(data.detach().contiguous().view(torch.uint8).numpy().tobytes())
        elements += tensor.numel()
    return (("packed", digest.hexdigest()), elements)


def _script_class(module: Any) -> str:
    return getattr(module, "original_name", "") if isinstance(module, torch.jit.ScriptModule) else ""
