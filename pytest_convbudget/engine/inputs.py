"""Find and move the tensors of a forward's inputs, in whatever container they sit.

torch's pytree walks the containers it knows (tuples, lists, dicts,
namedtuples, OrderedDicts and whatever a library registered). Three kinds that
models are fed every day are leaves to it: other mappings (``UserDict``, and so
Hugging Face's ``BatchEncoding``), dataclasses, and objects holding tensors among
their attributes (a transformers ``Cache``). They are opened here, so the first
tensor, and with it the batch, is found wherever it sits.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, Mapping, Sequence

import torch
from torch.utils import _pytree as pytree

from .input_spec import InputSpec

TensorMap = Callable[[torch.Tensor], torch.Tensor]


def map_tensors(function: TensorMap, value: Any) -> Any:
    """``value`` with ``function`` applied to every tensor inside it; containers rebuilt."""
    return pytree.tree_map(lambda leaf: _map_leaf(function, leaf), value)


def tensor_leaves(value: Any) -> list[torch.Tensor]:
    """Every tensor inside ``value``, in order (mappings in their own key order)."""
    found: list[torch.Tensor] = []

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        found.append(tensor)
        return tensor

    map_tensors(keep, value)
    return found


def first_tensor(value: Any) -> torch.Tensor | None:
    leaves = tensor_leaves(value)
    return leaves[0] if leaves else None


def _map_leaf(function: TensorMap, leaf: Any) -> Any:
    if isinstance(leaf, torch.Tensor):
        return function(leaf)
    if isinstance(leaf, Mapping):
        return _rebuild_mapping(leaf, {key: map_tensors(function, item) for key, item in leaf.items()})
    if dataclasses.is_dataclass(leaf) and not isinstance(leaf, type):
        return _rebuild_dataclass(leaf, function)
    if _holds_tensors(leaf):
        return _rebuild_object(leaf, function)
    return leaf


_OBJECT_DEPTH = 4  # a cache's layers' tensors sit two objects down; deeper graphs are left alone
_depth = [0]


def _holds_tensors(leaf: Any) -> bool:
    """A plain object with tensors among its attributes, or in lists or objects there: a
    transformers ``Cache`` (``past_key_values``) is one."""
    attributes = getattr(leaf, "__dict__", None)
    if not isinstance(attributes, dict) or isinstance(leaf, (type, torch.nn.Module)) or _depth[0] >= _OBJECT_DEPTH:
        return False
    return any(isinstance(value, torch.Tensor) or (isinstance(value, (list, tuple)) and value
                                                   and not isinstance(value[0], (str, int, float)))
               for value in attributes.values())


def _rebuild_object(original: Any, function: TensorMap) -> Any:
    """A shallow copy with its attributes mapped: always a copy, so a forward that appends to
    it (a cache's update) never changes the caller's object."""
    _depth[0] += 1
    try:
        mapped = {name: map_tensors(function, value) for name, value in vars(original).items()}
    finally:
        _depth[0] -= 1
    try:
        rebuilt = copy.copy(original)
    except Exception:  # an object that will not be copied is passed as it is (its tensors unmoved)
        return original
    for name, value in mapped.items():
        if isinstance(value, list) and value is vars(original)[name]:
            value = list(value)  # the copy's own list: an append to it is not the caller's
        object.__setattr__(rebuilt, name, value)
    return rebuilt


def _rebuild_mapping(original: Mapping[Any, Any], items: dict[Any, Any]) -> Any:
    """A mapping of the original's type with new values: a copy whose items are replaced."""
    if all(items[key] is original[key] for key in items):
        return original
    rebuilt = copy.copy(original)
    for key, item in items.items():
        rebuilt[key] = item  # type: ignore[index]
    return rebuilt


def _rebuild_dataclass(original: Any, function: TensorMap) -> Any:
    changed = {}
    for field in dataclasses.fields(original):
        item = getattr(original, field.name)
        mapped = map_tensors(function, item)
        if mapped is not item:
            changed[field.name] = mapped
    if not changed:
        return original
    rebuilt = copy.copy(original)
    for name, item in changed.items():
        object.__setattr__(rebuilt, name, item)  # frozen dataclasses too
    return rebuilt


def random_inputs(
    specs: Sequence[InputSpec | tuple[int, ...]], device: str, model: torch.nn.Module | None = None,
    vocab: int | None = None,
) -> list[torch.Tensor]:
    """A tensor for each spec: what ``profile --input`` feeds a model. Floats are random normal;
    integers are drawn below ``vocab`` (default: the smallest ``nn.Embedding`` of ``model``, so every
    id is one the model accepts; 2 without one); ``fill`` makes a constant (an all-ones mask).
    On meta nothing is allocated; every other device profiles from CPU tensors."""
    place = "meta" if device == "meta" else "cpu"
    high = vocab if vocab is not None else _smallest_vocabulary(model)
    made = []
    for spec in specs:
        spec = spec if isinstance(spec, InputSpec) else InputSpec(tuple(spec))
        dtype = getattr(torch, spec.dtype)
        if spec.fill is not None:
            made.append(torch.full(spec.shape, spec.fill, dtype=dtype, device=place))
        elif dtype.is_floating_point:
            made.append(torch.randn(spec.shape, device=place).to(dtype))
        else:
            made.append(torch.randint(0, 2 if dtype == torch.bool else high, spec.shape, device=place).to(dtype))
    return made


def _smallest_vocabulary(model: torch.nn.Module | None) -> int:
    """Rows of the model's smallest embedding table: a TorchScript module keeps the class it was made from."""
    sizes = [module.weight.shape[0] for module in (model.modules() if model is not None else ())
             if isinstance(module, torch.nn.Embedding)
             or (isinstance(module, torch.jit.ScriptModule) and getattr(module, "original_name", "") == "Embedding")]
    return min(sizes) if sizes else 2
