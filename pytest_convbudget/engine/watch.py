"""See the torch functions a forward runs, count those of counted op kinds, and
write down every other op of a registered kind that stays outside the totals.

A ``TorchFunctionMode`` is active only for the profiled forward (a context,
not a patch of torch). The module hooks tell it which counted module is
running (its first op of its own kind is its own work, anything more inside
it is listed, not counted again) and, when op kinds are counted, which module
is innermost, so each counted op is shown under that module's name.
"""

from __future__ import annotations

import types
import weakref
from dataclasses import dataclass, replace
from functools import lru_cache
from pkgutil import resolve_name
from typing import Any, Callable, Mapping, Sequence

from torch.overrides import TorchFunctionMode

from ..words.vocabulary import ROOT_NAME
from .kinds import KINDS, SEE_THROUGH, Kind, OpFacts, OpRule
from .results import UncountedCall

Rules = Mapping[Any, tuple[tuple[Kind, OpRule], ...]]


@dataclass(frozen=True)
class RawCall:
    """One hooked call of a counted module: which target, and the shapes it saw."""

    target: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    output_bytes: int | None = None  # the output tensor's bytes, the whole batch's


@dataclass(frozen=True)
class RawOp:
    """One counted torch function call, under the innermost module that ran it."""

    kind: str
    name: str
    type: str
    facts: OpFacts
    tensors: tuple[tuple[object, int], ...]  # parameters it consumed: (identity, element count)
    output_bytes: int | None = None  # its output tensor's bytes, the whole batch's


@dataclass(frozen=True)
class OpTable:
    """The registry's op rules by the torch function they watch, in registry order,
    and, for functions whose rules are all of one kind, that kind: a counted
    module's own call of such a function needs no reading at all."""

    rules: Rules
    sole_kind: Mapping[Any, str]


def op_table() -> OpTable:
    """Built once per state of the registry: a kind registered later is seen by
    the next profile, never silently left out."""
    return _op_table(tuple(KINDS.values()))


@lru_cache(maxsize=8)
def _op_table(kinds: tuple[Kind, ...]) -> OpTable:
    table: dict[Any, list[tuple[Kind, OpRule]]] = {}
    for kind in kinds:
        for rule in kind.ops:
            for path in rule.functions:
                table.setdefault(resolve_name(path), []).append((kind, rule))
    rules = {function: tuple(pairs) for function, pairs in table.items()}
    sole = {function: pairs[0][0].name for function, pairs in rules.items() if len({k.name for k, _ in pairs}) == 1}
    return OpTable(rules, sole)


@lru_cache(maxsize=None)
def see_through() -> Mapping[Any, Callable[..., Any]]:
    """Copies of the :data:`~.kinds.SEE_THROUGH` functions that do not hand
    themselves to the mode, so the ops inside them reach it one by one."""
    copies = {}
    for path in SEE_THROUGH:
        function = resolve_name(path)
        names = dict(function.__globals__, has_torch_function=lambda *args: False)
        copy = types.FunctionType(function.__code__, names, function.__name__, function.__defaults__,
                                  function.__closure__)
        copy.__kwdefaults__ = function.__kwdefaults__
        copies[function] = copy
    return copies


class RunningModule:
    """A counted module's call under way: whose it is, and whether its own op was seen yet.

    Slotted, because the function mode reads it on every op of a counted kind."""

    __slots__ = ("name", "own_kind", "own_seen", "records_before")

    def __init__(self, name: str, own_kind: str | None, records_before: int) -> None:
        self.name = name
        self.own_kind = own_kind  # the kind of op that is the module's own work (its hook counts it)
        self.own_seen = False
        self.records_before = records_before  # where the module's own call goes among the records


class OpWatch(TorchFunctionMode):
    """Counts op-kind calls and lists what stays outside the totals.

    ``parameters`` maps the id of every parameter tensor the forward can see
    (meta stand-ins included) to (identity of the original, element count).
    With ``shortcuts`` (meta runs only), shape-preserving ops are answered
    without their slow meta kernels; see :mod:`.meta_shortcuts`.
    """

    def __init__(
        self,
        counted: Sequence[str],
        parameters: Mapping[int, tuple[object, int]],
        shortcuts: Mapping[Any, Callable[..., Any]] | None = None,
    ) -> None:
        super().__init__()
        self.counted = frozenset(counted)
        self.parameters = parameters
        self.shortcuts = shortcuts or {}
        table = op_table()
        self.rules = table.rules
        self.sole_kind = table.sole_kind
        self.see_through = see_through()
        self.running: list[RunningModule] = []  # counted module calls under way, innermost last
        self.names: list[str] = []  # every hooked module call under way, innermost last
        self.records: list[RawCall | RawOp] = []
        self.uncounted: list[UncountedCall] = []
        self.covering = 0  # torch functions of a registered kind under way: their aten ops are theirs
        # identity of a parameter -> (its module's path, TorchScript class); read when first needed
        self.owners: Callable[[], Mapping[object, tuple[str, str]]] | None = None
        self._owner_table: Mapping[object, tuple[str, str]] | None = None
        # an exported program's module: the module path of each call of a watched function, last first
        self.call_paths: Mapping[Any, list[str]] = {}
        # matrices gathered from a weight that stacks them (a mixture of experts' weights, one
        # expert a token): id -> (the gathered tensor, the weight's identity and element count)
        self.gathered: dict[int, tuple[weakref.ref, tuple[object, int]]] = {}

    # -- called by the module hooks ---------------------------------------

    def enter(self, name: str, own_ops: str | None) -> None:
        self.running.append(RunningModule(name, own_ops, len(self.records)))
        self.names.append(name)

    def leave(self) -> int:
        """Where the module's own call goes in the records: before the ops counted inside it."""
        self.names.pop()
        return self.running.pop().records_before

    def enter_module(self, name: str) -> None:
        self.names.append(name)

    def leave_module(self) -> None:
        self.names.pop()

    # -- the mode -----------------------------------------------------------

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        __tracebackhide__ = True
        kwargs = kwargs or {}
        shortcut = self.shortcuts.get(func)
        rules = self.rules.get(func)
        if rules is None:  # most calls (BatchNorm, ReLU, adds): run them, nothing to note
            result = shortcut(args, kwargs) if shortcut is not None else NotImplemented
            if result is not NotImplemented:
                return result
            inner = self.see_through.get(func)
            if inner is not None:
                with self:
                    return inner(*args, **kwargs)
            return func(*args, **kwargs)
        self.covering += 1  # the aten ops below this call are its own: the dispatcher's watch leaves them
        try:
            result = shortcut(args, kwargs) if shortcut is not None else NotImplemented
            if result is NotImplemented:
                result = func(*args, **kwargs)
        finally:
            self.covering -= 1
        if self.running:
            current = self.running[-1]
            if not current.own_seen and current.own_kind == self.sole_kind.get(func):
                current.own_seen = True  # the counted module's own op (its hook counts it): nothing to read
                return result
        self._note(func, rules, args, kwargs, result)
        return result

    def _note(self, func: Any, rules: Sequence[tuple[Kind, OpRule]], args: tuple[Any, ...],
              kwargs: Mapping[str, Any], result: Any) -> None:
        paths = self.call_paths.get(func) if self.call_paths else None
        owner = paths.pop() if paths else None  # an exported graph's call, in graph order
        for kind, rule in rules:
            facts = rule.read(args, kwargs, result, self.is_parameter)
            if facts is not None:
                break
        else:
            return
        if self.own_op(kind.name):
            return
        name = kind.name
        if name == "matmul" and self.gathered and any(self._gathered(t) is not None for t in facts.operands):
            name = "linear"  # each token's experts gathered and multiplied: the experts' layer's work
        self.note(name, facts.type or getattr(func, "__name__", str(func)), facts, result, owner=owner)

    def own_op(self, *kinds: str | None) -> bool:
        """Whether an op of one of ``kinds`` is the running counted module's own work, not seen
        yet (its hook counts it); it is seen from now on."""
        if self.running:
            current = self.running[-1]
            if not current.own_seen and current.own_kind in kinds:
                current.own_seen = True
                return True
        return False

    def note(self, kind: str, name: str, facts: OpFacts, result: Any, owner: str | None = None,
             consumed: tuple[tuple[object, int], ...] | None = None) -> None:
        """An op of ``kind`` in the records when its kind is counted (a counted kind is counted
        wherever it runs, inside a counted module too), else among the uncounted work. Shown
        under the innermost hooked module below the root, else ``owner`` (the module whose
        parameter it consumed), else the root."""
        if kind in self.counted:
            if consumed is None:
                consumed = self._consumed(facts.operands)
            innermost = self.names[-1] if self.names else ROOT_NAME
            if owner is None and consumed:
                owner = self.owner(consumed)[0]
            # a module the hooks could not see (TorchScript) is named when it lies below the innermost hooked one
            deeper = owner is not None and (innermost == ROOT_NAME or owner.startswith(innermost + "."))
            where = owner if deeper else innermost
            # the record keeps shapes, never the tensors: holding them would keep the forward's
            # activations alive to its end (and in the memory figures)
            self.records.append(RawOp(kind, where, name, replace(facts, operands=()), consumed, tensor_bytes(result)))
        else:
            self.uncounted.append(_uncounted(kind, name, facts, inside=self.running[-1].name if self.running else ""))

    def owner(self, consumed: Sequence[tuple[object, int]]) -> tuple[str | None, str]:
        """(path, class) of the module owning the first parameter consumed, for a form without
        module calls (TorchScript, an exported program), which keeps its parameters' paths;
        (None, "") for an eager model (``owners`` unset), whose ops are named by its hooks."""
        if self._owner_table is None:
            self._owner_table = self.owners() if self.owners is not None else {}
        return self._owner_table.get(consumed[0][0], (None, "")) if consumed else (None, "")

    def is_parameter(self, tensor: Any) -> bool:
        return self._parameter(tensor) is not None

    def _parameter(self, tensor: Any) -> tuple[object, int] | None:
        if tensor is None:
            return None
        found = self.parameters.get(id(tensor))
        base = getattr(tensor, "_base", None)
        if found is None and base is not None:  # W.t(), a chunk of in_proj_weight
            found = self.parameters.get(id(base))
        if found is None and self.gathered:
            found = self._gathered(tensor)
        return found

    def gather(self, source: Any, out: Any) -> None:
        """``out`` holds matrices gathered from ``source`` (``weight[expert_ids]``): a product of it is
        a product of that weight, when ``source`` is a weight stacking matrices (3 dims or more)."""
        if getattr(source, "ndim", 0) >= 3 and hasattr(out, "shape"):
            entry = self._parameter(source)
            if entry is not None:
                self.gathered[id(out)] = (weakref.ref(out), entry)

    def _gathered(self, tensor: Any) -> tuple[object, int] | None:
        for candidate in (tensor, getattr(tensor, "_base", None)):
            found = self.gathered.get(id(candidate)) if candidate is not None else None
            if found is not None and found[0]() is candidate:
                return found[1]
        return None

    def _consumed(self, operands: Sequence[Any]) -> tuple[tuple[object, int], ...]:
        found = (self._parameter(tensor) for tensor in operands)
        return tuple(dict.fromkeys(entry for entry in found if entry is not None))


def tensor_bytes(result: Any) -> int | None:
    """The bytes of a call's output tensor (its first, for a tuple), as its dtype stores them."""
    if isinstance(result, (tuple, list)):
        result = next((item for item in result if hasattr(item, "element_size")), None)
    if result is None or not hasattr(result, "element_size"):
        return None
    return result.numel() * result.element_size()


def _uncounted(kind: str, function: str, facts: OpFacts, inside: str = "") -> UncountedCall:
    return UncountedCall(
        function=function,
        input_shape=facts.input_shape,
        weight_shape=facts.weight_shape,
        output_shape=facts.output_shape,
        total_flops=facts.cost.flops,
        total_macs=facts.cost.macs,
        inside=inside,
        kind=kind,
    )
