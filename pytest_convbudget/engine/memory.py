"""The bytes a forward holds at once: a ledger of the storages its ops create.

Told of every aten op by the :class:`~.dispatch_view.DispatchView`, the ledger adds
the bytes of each storage an op creates (a storage once, however many views of it;
an op that returns a view or writes in place creates none) and takes them away when
torch frees that storage. Weights and the caller's inputs were created before the
forward, so they are never in it; what the forward returns is alive at its end, so it
is. The peak is the largest sum seen, and the module running at that moment is noted.

The same rules hold on meta, where a storage has a size but no memory: the peak of a
meta forward is found without allocating it.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import torch

# The live bytes after each storage the forward creates or frees (the same events, in the same
# order, on meta and on a real device), kept as at most this many maxima.
TIMELINE_POINTS = 256


@dataclass(frozen=True)
class MemoryFigures:
    """What the ledger found, for ``ConvCost``."""

    activation_bytes: int
    peak_module: str
    live_bytes: tuple[int, ...]


class MemoryLedger:
    """Live bytes of the storages a forward created, and their peak (a dispatch listener)."""

    def __init__(self, module_now: Callable[[], Any]) -> None:
        self.module_now = module_now  # the innermost module running (its name, or itself), read at a new peak
        self.live = 0
        self.peak = 0
        self.peak_module: Any = None
        self.timeline: list[int] = []
        self._sizes: dict[int, int] = {}  # storage identity -> bytes, while it lives
        self._watchers: dict[int, weakref.ref] = {}

    def op(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        creates = _CREATES.get(id(func))  # by id: an op's own hash is a Python call, on every op
        if creates is None:
            creates = _CREATES[id(func)] = _new_outputs(func)
        if isinstance(out, torch.Tensor):
            if creates[0]:
                self._add(out)
        elif isinstance(out, (tuple, list)):
            for index, item in enumerate(out):
                if isinstance(item, torch.Tensor) and creates[min(index, len(creates) - 1)]:
                    self._add(item)

    def _add(self, tensor: torch.Tensor) -> None:
        if tensor.layout != torch.strided:  # a sparse tensor holds no storage: its parts do
            for part in _sparse_parts(tensor):
                self._add(part)
            return
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key in self._sizes:
            return  # a storage already counted (an op that handed back one of its inputs)
        size = storage.nbytes()
        if not size:
            return  # an empty tensor (a kernel's unused second output): nothing held
        self._sizes[key] = size
        self._watchers[key] = weakref.ref(storage, partial(self._free, key))
        self.live += size
        self.timeline.append(self.live)
        if self.live > self.peak:
            self.peak = self.live
            self.peak_module = self.module_now()

    def _free(self, key: int, _: object) -> None:
        self.live -= self._sizes.pop(key, 0)
        self._watchers.pop(key, None)
        self.timeline.append(self.live)

    def figures(self, name_of: Callable[[Any], str]) -> MemoryFigures:
        """The figures, the module at the peak named by ``name_of`` (asked once, not at every peak)."""
        return MemoryFigures(self.peak, name_of(self.peak_module), downsample(self.timeline, TIMELINE_POINTS))


def storage_size(tensor: torch.Tensor) -> tuple[int, int]:
    """(an identity of the tensor's storage, its bytes at its dtype's size; on meta, the bytes
    it stands for). A tensor subclass with no storage of its own counts its elements' bytes."""
    try:
        storage = tensor.untyped_storage()
        return storage._cdata, storage.nbytes()
    except (RuntimeError, NotImplementedError, TypeError):
        return id(tensor), tensor.numel() * tensor.element_size()


def _sparse_parts(tensor: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The dense tensors a sparse one keeps (its indices and values), each with its storage."""
    if tensor.layout == torch.sparse_coo:
        return tensor._indices(), tensor._values()
    if tensor.layout in (torch.sparse_csr, torch.sparse_bsr):
        return tensor.crow_indices(), tensor.col_indices(), tensor.values()
    if tensor.layout in (torch.sparse_csc, torch.sparse_bsc):
        return tensor.ccol_indices(), tensor.row_indices(), tensor.values()
    return ()


_CREATES: dict[int, tuple[bool, ...]] = {}  # ops live as long as torch: their ids are never reused


def _new_outputs(func: Any) -> tuple[bool, ...]:
    """For each output of an aten op, whether it can hold a new storage: not one that the
    schema says aliases an input (a view, an in-place or ``out=`` op)."""
    returns = getattr(getattr(func, "_schema", None), "returns", None)
    if not returns:
        return (True,)
    return tuple(ret.alias_info is None for ret in returns)


def downsample(values: list[int], points: int) -> tuple[int, ...]:
    """At most ``points`` values, each the largest of its stretch: the peak always survives."""
    if len(values) <= points:
        return tuple(values)
    step = -(-len(values) // points)
    return tuple(max(values[start:start + step]) for start in range(0, len(values), step))
