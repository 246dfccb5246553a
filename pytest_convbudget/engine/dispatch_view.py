"""See what runs at torch's dispatcher, not only what Python calls.

The function mode (:mod:`.watch`) sees the torch functions a forward calls, which is
where the cost model reads its shapes. Below it, every function becomes the aten ops
that really run: C++ code, the TorchScript interpreter and a library's custom ops reach
the dispatcher too, and that is where tensors are created. :class:`DispatchView` is
the one ``TorchDispatchMode`` of a profile; the figures that need that view (the
forward's memory today) are its listeners, each a small object with an ``op`` method,
so a later listener adds no second mode.

It is active only for the profiled forward and runs each op unchanged: on meta the
fast paths of :mod:`.meta_shortcuts` stay above it, and what they return (one
``empty_strided``) is what it sees.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from torch.utils._python_dispatch import TorchDispatchMode


class DispatchListener(Protocol):
    """Told of every aten op of the forward, after it ran."""

    def op(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None: ...


class DispatchView(TorchDispatchMode):
    """Runs each aten op as it is and tells its listeners what it returned."""

    def __init__(self, listeners: Sequence[DispatchListener]) -> None:
        super().__init__()
        self.listeners = tuple(listeners)

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a mode's __torch_dispatch__ in a guard against compiling inside it,
        # which costs more than the op itself on meta; a profile never compiles (a compiled
        # model is counted as its original), so the guard is declined.
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        __tracebackhide__ = True
        kwargs = kwargs or {}
        try:
            out = func(*args, **kwargs)
        except Exception as error:
            # The op's own error (a model's size mismatch) is the model's: raised from here,
            # its traceback ends at the model's line, as without the view, not in torch's
            # operator wrapper below this hidden frame.
            raise error.with_traceback(None) from error.__cause__
        for listener in self.listeners:
            listener.op(func, args, kwargs, out)
        return out
