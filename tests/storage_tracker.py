"""An independent count of a forward's peak activation memory, for the tests.

The plugin's ledger (``engine/memory.py``) keys storages by identity, skips the outputs
that an op's schema says alias an input, and keeps a running sum updated when torch frees
a storage. This tracker shares none of that: on a real CPU forward it keys storages by
their memory address, excludes the addresses of the model's weights and the caller's
inputs taken before the forward, and after every aten op sums the bytes of every storage
it has seen that is still alive, by a full scan. Same definition, another road.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class StorageTracker(TorchDispatchMode):
    """Peak bytes of the storages created during the forward and alive at once."""

    def __init__(self, before: list[torch.Tensor], block: int = 1) -> None:
        super().__init__()
        self.block = block  # each storage's bytes rounded up to a multiple of this (a GPU allocator's 512)
        self.before = {tensor.untyped_storage().data_ptr() for tensor in before if tensor.numel()}
        self.seen: dict[int, tuple[weakref.ref, int]] = {}
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        leaves, _ = tree_flatten(out)
        for leaf in leaves:
            if not isinstance(leaf, torch.Tensor):
                continue
            storage = leaf.untyped_storage()
            address = storage.data_ptr()
            if storage.nbytes() == 0 or address in self.before:
                continue
            known = self.seen.get(address)
            if known is None or known[0]() is None:
                self.seen[address] = (weakref.ref(storage), -(-storage.nbytes() // self.block) * self.block)
        live = 0
        for address, (ref, size) in list(self.seen.items()):
            if ref() is None:
                del self.seen[address]
            else:
                live += size
        self.peak = max(self.peak, live)
        return out


class Watched(TorchFunctionMode):
    """A function mode that changes nothing. Torch turns off fused fast paths (those of
    ``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` in eval) while any
    function mode is active, as it is during a profile; with this one on, the forward
    measured here takes the route the profiled one took."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        return func(*args, **(kwargs or {}))


def measured_peak(model: torch.nn.Module, *inputs: Any, fast_paths: bool = False, block: int = 1, **kwargs: Any) -> int:
    """The peak activation bytes of ``model(*inputs, **kwargs)`` on CPU under ``torch.no_grad()``
    (with torch's fused fast paths off, as in a profile, unless ``fast_paths``; each storage
    rounded up to a multiple of ``block`` bytes)."""
    before = [*model.parameters(), *model.buffers(), *tree_flatten((inputs, kwargs))[0]]
    tracker = StorageTracker([tensor for tensor in before if isinstance(tensor, torch.Tensor)], block)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), (_NoMode() if fast_paths else Watched()), tracker:
            result = model(*inputs, **kwargs)
        del result
    finally:
        model.train(was_training)
    return tracker.peak


class _NoMode:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
