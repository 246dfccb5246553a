"""Which modules of a model are counted, and what their attributes say.

Channel counts, kernel sizes and groups are read from the module, never from
the input's shape (which breaks on unbatched input). Imported only when a
profile runs, so importing torch here is fine.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from torch import nn

from .errors import ProfileError
from .formulas import conv_params, linear_params
from .results import ROOT_NAME

_QUANTIZED_CONV_MODULE = "torch.ao.nn.quantized.modules.conv"


@dataclass(frozen=True)
class LayerSpec:
    """The static description of one counted module, read once per profile."""

    name: str
    type: str
    kind: str  # "conv", "transposed", "linear"
    spatial_dims: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...] | str
    dilation: tuple[int, ...]
    groups: int
    bias: bool
    in_channels: int
    out_channels: int
    # (identity of the tensor, its element count): tied tensors share an identity.
    tensors: tuple[tuple[object, int], ...]


class LazyModuleError(ProfileError):
    """The model still has lazy modules whose parameters are not materialised."""


def find_targets(model: nn.Module, include_linear: bool) -> list[tuple[nn.Module, LayerSpec]]:
    """Every counted module of ``model`` once, with its first qualified name."""
    _reject_unmaterialised(model)
    quantized_base = _quantized_conv_base()
    targets = []
    for name, module in model.named_modules():
        spec = None
        if isinstance(module, nn.modules.conv._ConvNd):
            spec = _float_conv_spec(name, module)
        elif quantized_base is not None and isinstance(module, quantized_base):
            spec = _quantized_conv_spec(name, module)
        elif include_linear and isinstance(module, nn.Linear):
            spec = _linear_spec(name, module)
        if spec is not None:
            targets.append((module, spec))
    return targets


def _reject_unmaterialised(model: nn.Module) -> None:
    lazy = [
        name or ROOT_NAME
        for name, module in model.named_modules()
        if isinstance(module, nn.modules.lazy.LazyModuleMixin) and module.has_uninitialized_params()
    ]
    if lazy:
        raise LazyModuleError(
            f"cannot profile a model with unmaterialised lazy modules ({', '.join(lazy)}): "
            "run one forward pass first so their shapes are known; profiling never changes the model"
        )


def _quantized_conv_base() -> type | None:
    """The quantized conv base class, only if the user's code already imported it."""
    module = sys.modules.get(_QUANTIZED_CONV_MODULE)
    return getattr(module, "_ConvNd", None) if module is not None else None


def _tensor_entry(module: nn.Module, attribute: str, numel: int) -> tuple[object, int]:
    tensor = module._parameters.get(attribute) if hasattr(module, "_parameters") else None
    identity = id(tensor) if tensor is not None else (id(module), attribute)
    return (identity, numel)


def _conv_spec(name: str, module: nn.Module, has_bias: bool) -> LayerSpec:
    kernel = tuple(int(k) for k in module.kernel_size)
    cin, cout, groups = int(module.in_channels), int(module.out_channels), int(module.groups)
    tensors = [_tensor_entry(module, "weight", conv_params(kernel, cin, cout, groups, bias=False))]
    if has_bias:
        tensors.append(_tensor_entry(module, "bias", cout))
    padding = module.padding
    return LayerSpec(
        name=name or ROOT_NAME,
        type=type(module).__name__,
        kind="transposed" if getattr(module, "transposed", False) else "conv",
        spatial_dims=len(kernel),
        kernel_size=kernel,
        stride=tuple(int(s) for s in module.stride),
        padding=padding if isinstance(padding, str) else tuple(int(p) for p in padding),
        dilation=tuple(int(d) for d in module.dilation),
        groups=groups,
        bias=has_bias,
        in_channels=cin,
        out_channels=cout,
        tensors=tuple(tensors),
    )


def _float_conv_spec(name: str, module: nn.modules.conv._ConvNd) -> LayerSpec:
    return _conv_spec(name, module, module.bias is not None)


def _quantized_conv_spec(name: str, module: nn.Module) -> LayerSpec:
    return _conv_spec(name, module, module.bias() is not None)


def _linear_spec(name: str, module: nn.Linear) -> LayerSpec:
    cin, cout = int(module.in_features), int(module.out_features)
    has_bias = module.bias is not None
    tensors = [_tensor_entry(module, "weight", linear_params(cin, cout, bias=False))]
    if has_bias:
        tensors.append(_tensor_entry(module, "bias", cout))
    return LayerSpec(
        name=name or ROOT_NAME,
        type=type(module).__name__,
        kind="linear",
        spatial_dims=1,
        kernel_size=(1,),
        stride=(1,),
        padding=(0,),
        dilation=(1,),
        groups=1,
        bias=has_bias,
        in_channels=cin,
        out_channels=cout,
        tensors=tuple(tensors),
    )

