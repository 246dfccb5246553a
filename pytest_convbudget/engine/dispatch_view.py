"""See what runs at torch's dispatcher, not only what Python calls.

The function mode (:mod:`.watch`) sees the torch functions a forward calls, which is
where the cost model reads its shapes. Below it, every function becomes the aten ops
that really run: C++ code, the TorchScript interpreter and a library's custom ops reach
the dispatcher too, and that is where tensors are created. :class:`DispatchView` is
the one ``TorchDispatchMode`` of a profile; the figures that need that view (the
forward's memory today) are its listeners, each a small object with an ``op`` method,
so a later listener adds no second mode.

It is active only for the profiled forward and runs each op unchanged. A Python
dispatch mode costs several microseconds an op, more than a meta op itself, so the
fast paths of :mod:`.meta_shortcuts` create their tensors below it and tell its
listeners with :func:`tell`: the listeners see the same ops, in the same order.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Mapping, Protocol, Sequence

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ..words.errors import ProfileError

_CUSTOM: dict[int, bool] = {}  # id of an op -> whether a library defined it (ops live as long as torch)
_ACTIVE: list[DispatchView] = []  # the view of the forward under way (a profile inside a profile nests)


class CountingError(ProfileError):
    """A listener could not read an op the forward ran (an op's arguments in a form it did
    not expect): the profile's own failure, said in one line, never the model's."""


class CustomOpOnMeta(ProfileError):
    """A library's custom op ran in a meta forward: its fake kernel gives its outputs' shapes,
    but what it computes (matmuls, convs of its own) is seen only on a real forward."""

    def __init__(self, op: Any) -> None:
        super().__init__(f"{op._name} is a custom op: what it runs is seen only on a real forward")


def is_custom_op(op: Any) -> bool:
    """An op a library defined with ``torch.library`` and a Python fake kernel (torch's own ops
    have meta kernels in C++): its kernel's own ops are the work to count."""
    try:
        from torch._library.simple_registry import singleton

        return singleton.find(op._name).fake_impl.kernel is not None
    except Exception:  # noqa: BLE001 - an op of an unfamiliar kind (a higher-order op): not a custom op
        return False


def _backend_keys(args: tuple[Any, ...]) -> Any:
    """The dispatch key of the device of the op's first tensor (its kernel, below this view), or None."""
    for arg in args:
        if isinstance(arg, torch.Tensor):
            return torch._C.DispatchKeySet(getattr(torch._C.DispatchKey, torch._C._dispatch_key_for_device(arg.device.type)))
    return None


class DispatchListener(Protocol):
    """Told of every aten op of the forward, after it ran."""

    def op(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None: ...


class DispatchView(TorchDispatchMode):
    """Runs each aten op (through ``runner`` when one is given: the input values a meta
    profile knows, :mod:`.input_values`) and tells its listeners what it returned."""

    def __init__(self, listeners: Sequence[DispatchListener], runner: Callable[..., Any] | None = None,
                 on_meta: bool = False, kernels: Mapping[int, Callable[..., Any]] | None = None) -> None:
        super().__init__()
        self.listeners = tuple(listeners)
        self.runner = runner
        self.on_meta = on_meta
        # ops answered here instead of by their own kernels (by id): on meta, those whose meta
        # kernels refuse what the CPU kernel takes
        self.kernels = kernels or {}
        self.failure: ProfileError | None = None  # the profile's own error raised from here, if any

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a mode's __torch_dispatch__ in a guard against compiling inside it,
        # which costs more than the op itself on meta; a profile never compiles (a compiled
        # model is counted as its original), so the guard is declined.
        return False

    def __enter__(self) -> DispatchView:
        _ACTIVE.append(self)
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        _ACTIVE.remove(self)

    def tell(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        for listener in self.listeners:
            listener.op(func, args, kwargs, out)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        __tracebackhide__ = True
        kwargs = kwargs or {}
        custom = _CUSTOM.get(id(func))  # by id: an op's own hash is a Python call, on every op
        if custom is None:
            custom = _CUSTOM[id(func)] = is_custom_op(func)
        if custom and self.on_meta:  # its fake kernel makes its outputs; what it runs is never seen
            self.failure = CustomOpOnMeta(func)
            raise self.failure
        try:
            # The op runs with torch functions undispatched: calling an aten op from Python would
            # show it to the function mode again (costing a call, and counting it twice).
            with torch._C.DisableTorchFunction():
                keys = _backend_keys(args) if custom else None
                if keys is not None:  # a library's op: its kernel runs with this view on, so its ops come past it
                    with self:
                        out = func.redispatch(keys, *args, **kwargs)
                else:
                    kernel = self.kernels.get(id(func)) if self.kernels else None
                    out = kernel(*args, **kwargs) if kernel is not None else NotImplemented
                    if out is NotImplemented:
                        out = func(*args, **kwargs) if self.runner is None else self.runner(func, args, kwargs)
        except CustomOpOnMeta:
            raise
        except ProfileError as error:  # a value meta has not got (the runner's): the profile's own
            self.failure = error
            raise
        except Exception as error:
            # The op's own error (a model's size mismatch) is the model's: raised from here,
            # its traceback ends at the model's line, as without the view, not in torch's
            # operator wrapper below this hidden frame.
            raise error.with_traceback(None) from error.__cause__
        try:
            for listener in self.listeners:
                listener.op(func, args, kwargs, out)
        except Exception as error:  # a reading of an op this profile did not foresee: ours, in one line
            self.failure = CountingError(f"could not count {func}: {type(error).__name__}: {error}".splitlines()[0])
            raise self.failure from None
        return out


_CALL_CODE = torch.nn.Module._call_impl.__code__


def module_running() -> torch.nn.Module | None:
    """The innermost module whose call is under way, read from the Python stack (asked
    rarely: at a new memory peak, or when an op fails)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is _CALL_CODE:
            return frame.f_locals.get("self")
        frame = frame.f_back
    return None


def below_view(func: Callable[..., Any], op: Any, *args: Any, **kwargs: Any) -> Any:
    """``func(*args, **kwargs)`` run below the active view, which is then told it ran as
    the aten ``op``: what a fast path creates is seen at a fraction of the mode's cost."""
    if not _ACTIVE:
        return func(*args, **kwargs)
    with torch._C._DisableTorchDispatch():
        out = func(*args, **kwargs)
    _ACTIVE[-1].tell(op, args, kwargs, out)
    return out
