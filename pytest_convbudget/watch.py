"""Notice convolution ops that the module hooks cannot count.

A module hook cannot see a bare ``F.conv2d``, nor a second conv op run by a
counted module's own ``forward`` (the hook counts each call once, from its
output). This ``TorchFunctionMode`` is active only for the profiled forward
(a context, not a patch of torch) and writes both kinds down.
"""

from __future__ import annotations

from math import prod
from typing import Any, Callable, Mapping

import torch
from torch.overrides import TorchFunctionMode

from .results import UncountedCall

_REGULAR = {torch.conv1d, torch.conv2d, torch.conv3d}
_TRANSPOSED = {torch.conv_transpose1d, torch.conv_transpose2d, torch.conv_transpose3d}
_GENERIC = {torch.convolution, torch._convolution}  # ``transposed`` is their 7th argument
CONV_FUNCTIONS = frozenset(_REGULAR | _TRANSPOSED | _GENERIC)


class ConvWatch(TorchFunctionMode):
    """Writes down conv ops outside counted modules, and any beyond the first inside one.

    The module hooks call :meth:`enter` and :meth:`leave` around every counted
    call. With ``shortcuts`` (meta runs only), shape-preserving ops are answered
    without their slow meta kernels; see :mod:`.meta_shortcuts`.
    """

    def __init__(self, shortcuts: Mapping[Any, Callable[..., Any]] | None = None) -> None:
        super().__init__()
        self.running: list[list[Any]] = []  # [module name, conv ops so far] per counted call under way
        self.calls: list[UncountedCall] = []
        self.shortcuts = shortcuts or {}

    def enter(self, name: str) -> None:
        self.running.append([name, 0])

    def leave(self) -> None:
        self.running.pop()

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func in CONV_FUNCTIONS:
            result = func(*args, **kwargs)
            if not self.running:
                self.calls.append(describe_conv_call(func, args, kwargs, result))
            else:
                current = self.running[-1]
                current[1] += 1
                if current[1] > 1:  # the hook counts one conv per call: the rest would vanish
                    self.calls.append(describe_conv_call(func, args, kwargs, result, inside=current[0]))
            return result
        shortcut = self.shortcuts.get(func)
        if shortcut is not None:
            result = shortcut(args, kwargs)
            if result is not NotImplemented:
                return result
        return func(*args, **kwargs)


def argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    """A torch function's argument, given by position or by name."""
    return args[index] if len(args) > index else kwargs.get(name, default)


def describe_conv_call(
    func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any, inside: str = ""
) -> UncountedCall:
    """The cost of one functional conv call, from its weight and the shapes it produced."""
    data = argument(args, kwargs, 0, "input")
    weight = argument(args, kwargs, 1, "weight")
    bias = argument(args, kwargs, 2, "bias")
    transposed = func in _TRANSPOSED or (
        func in _GENERIC and bool(argument(args, kwargs, 6, "transposed"))
    )
    taps = prod(weight.shape[1:])  # one output channel's kernel (regular) or one input's fan-out
    outputs = result.numel()
    if transposed:
        macs = taps * data.numel()
        flops = 2 * macs - outputs + (outputs if bias is not None else 0)
    else:
        macs = taps * outputs
        flops = (2 * taps - (0 if bias is not None else 1)) * outputs
    return UncountedCall(
        function=getattr(func, "__name__", str(func)),
        input_shape=tuple(data.shape),
        weight_shape=tuple(weight.shape),
        output_shape=tuple(result.shape),
        total_flops=flops,
        total_macs=macs,
        inside=inside,
    )
