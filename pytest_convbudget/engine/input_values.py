"""Values that derive from the caller's inputs alone, known during a meta profile.

A transformer's forward asks questions of its inputs before any weight is used: is
the mask all ones, where does padding start, how long is the cache (``.item()``,
``bool(t)``, ``nonzero``). On meta there are no values to answer them, so such a
model fell back to a real forward. Yet the answers need only the inputs, which the
caller gave. :class:`KnownValues` runs inside the :class:`~.dispatch_view.DispatchView`:
it keeps a real CPU twin of each meta tensor whose value is known (integer and
boolean inputs, the model's integer and boolean buffers, constants made in the
forward, and whatever ops compute from those alone), computes each op whose meta operands all
have twins on the twins too, and answers ``.item()`` and data-dependent shapes from
them. An op that reads a weight stays on meta and its result has no twin, so the
model's weights are never needed and only the small input-side arithmetic runs.
"""

from __future__ import annotations

import weakref
from functools import lru_cache
from typing import Any, Iterator

import torch
from torch.utils._pytree import tree_flatten, tree_map

from ..words.errors import ProfileError
from .dispatch_view import module_running

# No twin is kept for a tensor of more elements: a forward's big activations are never
# computed for real, whatever they derive from (a 2,048-token 4-D mask has 4 M: left on meta).
MAX_ELEMENTS = 1 << 20
_META = torch.device("meta")
_CPU = torch.device("cpu")


class UnknownValue(ProfileError):
    """A step of a meta forward asked for a value computed from weights (a routing decision,
    a ``y.sum() > 0`` branch): it cannot be known without them."""

    def __init__(self, op: str, module: torch.nn.Module | None) -> None:
        self.what = f"{op} on a value computed from weights"
        self.module = module
        super().__init__(self.what)


class KnownValues:
    """The CPU twins of a meta forward's input-only values, and the runner that uses them."""

    def __init__(self, baked_devices: bool = False) -> None:
        self._twins: dict[int, tuple[weakref.ref, torch.Tensor]] = {}
        self.computed_bytes = 0  # real bytes the twins took, over the forward
        # An exported program's graph names the device it was exported on in its factory calls
        # (``arange(12, device=cpu)``): on meta, they make meta tensors (known, as any constant).
        self.baked_devices = baked_devices

    def know(self, meta: torch.Tensor, value: torch.Tensor, copy: bool = False) -> None:
        """``meta``'s value is ``value`` (a real tensor of the same shape); ``copy`` it when it is
        the caller's (an input, a buffer): an in-place op of the forward writes into the twin."""
        if value.numel() <= MAX_ELEMENTS and value.device.type != "meta":
            self._twins[id(meta)] = (weakref.ref(meta), value.detach().to(_CPU, copy=copy))

    def twin(self, tensor: torch.Tensor) -> torch.Tensor | None:
        found = self._twins.get(id(tensor))
        if found is None or found[0]() is not tensor:
            return None
        return found[1]

    def run(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The op's result: on the twins too when every meta operand has one."""
        if self.baked_devices and "device" in kwargs and not _makes_on_meta(kwargs):
            kwargs = {**kwargs, "device": _META}
        if self._twins or _makes_on_meta(kwargs):
            known, seen = True, False
            for tensor in _meta_tensors(args, kwargs):  # most ops' first operand is an activation: no twin
                seen = True
                if self.twin(tensor) is None:
                    known = False
                    break
            if known and (seen or _makes_on_meta(kwargs)):
                return self._run_known(func, args, kwargs)
            for index in _written(func):  # an unknown value written into a known tensor: no longer known
                if index < len(args) and isinstance(args[index], torch.Tensor):
                    self._twins.pop(id(args[index]), None)
        try:
            return func(*args, **kwargs)
        except Exception as error:
            if _reads_values(error) and not _quantized(func) and any(True for _ in _meta_tensors(args, kwargs)):
                raise UnknownValue(_op_name(func), module_running()) from None  # it reads values meta has not got
            raise

    def _run_known(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            out = func(*args, **kwargs)
        except Exception as meta_error:  # a value-dependent op (nonzero, item, .cpu()): the twins answer it
            real = self._on_twins(func, args, kwargs)
            if real is None:
                raise meta_error
            if not isinstance(real, (torch.Tensor, tuple, list)) or _makes_off_meta(kwargs):
                return real  # a Python number (.item(), bool(t)), or a copy asked for off meta (.tolist())
            out = tree_map(_meta_like, real)
            self._keep(out, real)
            return out
        if all(t.numel() <= MAX_ELEMENTS for t in _tensors_in(out)):
            real = self._on_twins(func, args, kwargs)
            if real is not None:
                self._keep(out, real)
        return out

    def _on_twins(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        def real(value: Any) -> Any:
            if isinstance(value, torch.Tensor) and value.device.type == "meta":
                return self.twin(value)
            if isinstance(value, torch.device) and value.type == "meta":
                return _CPU
            if isinstance(value, str) and value == "meta":
                return "cpu"
            return value

        real_args, real_kwargs = tree_map(real, (args, kwargs))
        return func(*real_args, **real_kwargs)

    def _keep(self, out: Any, real: Any) -> None:
        for meta, value in zip(_tensors_in(out), _tensors_in(real)):
            if meta.device.type == "meta" and tuple(meta.shape) == tuple(value.shape):
                if self.twin(meta) is None:
                    self.computed_bytes += value.numel() * value.element_size()
                self.know(meta, value)


# What torch says when an op needs the values a meta tensor has not got (and not, say, a
# device mismatch, which also names meta).
_NO_VALUES = ("cannot be called on meta", "copy out of meta", "data-dependent", "data dependent",
              "meta tensors, but there was no", "no data", "correct data-independent implementation does not exist")


def _reads_values(error: Exception) -> bool:
    text = str(error).lower()
    return any(words in text for words in _NO_VALUES)


def _quantized(func: Any) -> bool:
    """A quantized op (``quantized::linear_dynamic``, ``aten::quantized_lstm``): it has no meta
    kernel at all, whatever the values, so its error is no missing value's."""
    return getattr(func, "namespace", "") == "quantized" or getattr(func, "__name__", "").startswith("quantized_")


def _op_name(func: Any) -> str:
    """``nonzero``, ``item``: the words a user wrote for the aten op."""
    name = getattr(func, "__name__", str(func)).split(".")[0]
    return {"_local_scalar_dense": "item()", "is_nonzero": "bool()", "_to_copy": "a copy off meta"}.get(name, name)


def _meta_like(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return torch.empty_strided(value.shape, value.stride(), dtype=value.dtype, device=_META)
    return value


def _makes_off_meta(kwargs: dict[str, Any]) -> bool:
    device = kwargs.get("device")
    return device is not None and torch.device(device).type != "meta"


def _makes_on_meta(kwargs: dict[str, Any]) -> bool:
    """A factory op (zeros, arange, full) asked to make its tensor on meta."""
    device = kwargs.get("device")
    return device is not None and torch.device(device).type == "meta"


def _meta_tensors(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[torch.Tensor]:
    """The meta tensors among an op's arguments (and in the lists of them, as ``cat`` takes)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            if value.device.type == "meta":
                yield value
        elif isinstance(value, (list, tuple)):
            yield from (item for item in value if isinstance(item, torch.Tensor) and item.device.type == "meta")


def _tensors_in(value: Any) -> list[torch.Tensor]:
    return [leaf for leaf in tree_flatten(value)[0] if isinstance(leaf, torch.Tensor)]


@lru_cache(maxsize=None)
def _written(func: Any) -> tuple[int, ...]:
    """The positions of the arguments an aten op writes into (``add_``'s self, ``out=``)."""
    arguments = getattr(getattr(func, "_schema", None), "arguments", ())
    return tuple(index for index, argument in enumerate(arguments)
                 if argument.alias_info is not None and argument.alias_info.is_write)
