"""Answer shape-preserving ops on meta tensors without torch's meta kernels.

On meta, torch runs BatchNorm and Hardtanh (ReLU6) through Python
decompositions that cost 0.5-0.7 ms a call: 80% of a ResNet-50 or
MobileNetV2 meta forward. Their output always has the input's shape, strides
and dtype, so the profiler answers them directly. Each shortcut checks the
arguments the kernel would check for shape errors and otherwise returns
``NotImplemented``, so the real meta kernel runs and raises the model's error.
Used only while a meta profile runs; the counts never depend on these ops.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from .kinds import argument


def _like(data: torch.Tensor) -> torch.Tensor:
    # empty_strided: a tenth of empty_like's cost on meta, same shape, strides and dtype.
    return torch.empty_strided(data.shape, data.stride(), dtype=data.dtype, device="meta")


def _per_channel_fits(tensor: Any, channels: int) -> bool:
    return tensor is None or (isinstance(tensor, torch.Tensor) and tensor.numel() == channels)


def batch_norm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    data = argument(args, kwargs, 0, "input", None)
    training = argument(args, kwargs, 5, "training", False)
    if training or not isinstance(data, torch.Tensor) or data.device.type != "meta" or data.dim() < 2:
        return NotImplemented  # batch statistics have their own checks: let the kernel run
    channels = data.shape[1]
    per_channel = [argument(args, kwargs, index, name, None) for index, name in
                   ((1, "running_mean"), (2, "running_var"), (3, "weight"), (4, "bias"))]
    if not all(_per_channel_fits(tensor, channels) for tensor in per_channel):
        return NotImplemented
    return _like(data)


def hardtanh(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    data = argument(args, kwargs, 0, "input", None)
    low = argument(args, kwargs, 1, "min_val", -1.0)
    high = argument(args, kwargs, 2, "max_val", 1.0)
    if not isinstance(data, torch.Tensor) or data.device.type != "meta" or low > high:
        return NotImplemented
    return data if argument(args, kwargs, 3, "inplace", False) else _like(data)


SHORTCUTS: dict[Callable[..., Any], Callable[[tuple[Any, ...], dict[str, Any]], Any]] = {
    F.batch_norm: batch_norm,
    F.hardtanh: hardtanh,
}
