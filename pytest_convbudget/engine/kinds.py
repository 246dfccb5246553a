"""The registry of op kinds: one entry says how a kind's calls are found, what
shape facts are read from them, which formula counts them and how they are shown.

A kind is counted from modules (a forward hook reads the module's attributes
and the call's input and output shapes) and/or from torch functions (the
profiler's function mode reads their arguments and result). Classes and
functions are named by dotted path and resolved only when a profile runs, so
this module imports no torch and the pytest plugin can validate ``count=``
values at start-up for free.

Adding a kind is one :func:`register` call below, its formula in
:mod:`.formulas`, its tests and its row in the cost model's page (docs/cost-model.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Callable, Mapping, Sequence

from ..words.errors import CountError
from .formulas import (
    CallCost,
    addbmm_cost,
    attention_cost,
    conv_cost,
    conv_params,
    einsum_cost,
    functional_conv_cost,
    linear_cost,
    linear_op_cost,
    linear_params,
    matmul_cost,
    matmul_dims,
    transposed_conv_cost,
)

Shape = tuple[int, ...]
ALL = "all"


@dataclass(frozen=True)
class ModuleFacts:
    """What a counted module's attributes say, read once per profile."""

    type: str
    kernel_size: Shape = ()
    stride: Shape = ()
    padding: Shape | str = ()
    dilation: Shape = ()
    groups: int = 1
    bias: bool = False
    in_channels: int = 0
    out_channels: int = 0
    transposed: bool = False
    weights: tuple[tuple[str, int], ...] = ()  # (attribute, element count) of each parameter
    batched_rank: int = 2  # an input of this many dims is a batch; one dim fewer is one sample


@dataclass(frozen=True)
class OpFacts:
    """One torch function call, read from its arguments and result."""

    type: str
    input_shape: Shape
    weight_shape: Shape
    output_shape: Shape
    batch: int
    cost: CallCost  # the whole call, batch included
    bias: bool = False
    operands: tuple[Any, ...] = ()  # the tensors it consumed: parameters among them are its params


@dataclass(frozen=True)
class ModuleRule:
    """Modules of these classes are counted by a forward hook."""

    classes: tuple[str, ...]
    read: Callable[[Any], ModuleFacts]
    # per-sample cost of one call and the call's batch, from (facts, input shape, output shape)
    cost: Callable[[ModuleFacts, Shape, Shape], tuple[int, CallCost]]
    if_imported: bool = False  # only when the user's code already imported the class's module


@dataclass(frozen=True)
class OpRule:
    """Calls of these torch functions are counted by the function mode.

    ``read`` gets ``(args, kwargs, result, is_parameter)`` and returns None when
    the call is not of this kind (``addmm`` without a weight is a matmul).
    """

    functions: tuple[str, ...]
    read: Callable[[tuple[Any, ...], Mapping[str, Any], Any, Callable[[Any], bool]], OpFacts | None]


@dataclass(frozen=True)
class Kind:
    name: str
    summary: str  # what it counts, in a user's words (help texts, docs)
    colour: str  # its colour in charts
    modules: tuple[ModuleRule, ...] = ()
    ops: tuple[OpRule, ...] = ()
    # the kind of op a counted module of this kind runs as its own work (not counted again)
    own_ops: str | None = None


KINDS: dict[str, Kind] = {}
# Python functions that dispatch as one torch function but whose inner ops must
# be seen one by one (the function mode would otherwise see only the outer call).
SEE_THROUGH = ("torch.nn.functional.multi_head_attention_forward",)


def register(kind: Kind) -> Kind:
    if kind.name in KINDS or kind.name == ALL:
        raise ValueError(f"op kind {kind.name!r} is registered twice")
    KINDS[kind.name] = kind
    return kind


def parse_count(value: object, where: str = "") -> tuple[str, ...]:
    """A ``count=`` value (a kind, a list of kinds, or ``"all"``) as kinds in registry order.

    ``where`` (a file and table) starts the one-line error for a bad value.
    """
    names = [value] if isinstance(value, str) else value
    prefix = f"{where} " if where else ""
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise CountError(f"{prefix}count = {value!r}: {count_expected()}")
    unknown = [name for name in names if name not in KINDS and name != ALL]
    if unknown:
        raise CountError(f"{prefix}count = {value!r}: unknown kind {unknown[0]!r}; {count_expected()}")
    if ALL in names:
        if len(names) > 1:
            raise CountError(f"{prefix}count = {value!r}: 'all' already counts every kind; give it alone")
        return tuple(KINDS)
    return tuple(name for name in KINDS if name in names)


def count_expected() -> str:
    """What a ``count`` value may be, from the registry as it is now."""
    return f"expected a kind ({', '.join(KINDS)}), a list of them, or 'all'"


# -- shape helpers -----------------------------------------------------------


def _shape(tensor: Any) -> Shape:
    return tuple(int(size) for size in tensor.shape)


def argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str, default: Any = None) -> Any:
    """A torch function's argument, given by position or by name."""
    return args[index] if len(args) > index else kwargs.get(name, default)


def _lead(shape: Shape, batched_rank: int) -> int:
    """The leading dim of a shape of at least ``batched_rank`` dims, else 1."""
    return shape[0] if len(shape) >= batched_rank else 1


# -- conv --------------------------------------------------------------------


def _conv_facts(module: Any, has_bias: bool) -> ModuleFacts:
    kernel = tuple(int(k) for k in module.kernel_size)
    cin, cout, groups = int(module.in_channels), int(module.out_channels), int(module.groups)
    weights = [("weight", conv_params(kernel, cin, cout, groups, bias=False))]
    if has_bias:
        weights.append(("bias", cout))
    padding = module.padding
    return ModuleFacts(
        type=type(module).__name__,
        kernel_size=kernel,
        stride=tuple(int(s) for s in module.stride),
        padding=padding if isinstance(padding, str) else tuple(int(p) for p in padding),
        dilation=tuple(int(d) for d in module.dilation),
        groups=groups,
        bias=has_bias,
        in_channels=cin,
        out_channels=cout,
        transposed=bool(getattr(module, "transposed", False)),
        weights=tuple(weights),
        batched_rank=len(kernel) + 2,
    )


def _float_conv(module: Any) -> ModuleFacts:
    return _conv_facts(module, module.bias is not None)


def _quantized_conv(module: Any) -> ModuleFacts:
    return _conv_facts(module, module.bias() is not None)


def _conv_module_cost(facts: ModuleFacts, input_shape: Shape, output_shape: Shape) -> tuple[int, CallCost]:
    """A conv input is batched when it has ``spatial dims + 2`` dimensions."""
    spatial_dims = len(facts.kernel_size)
    batch = _lead(input_shape, facts.batched_rank)
    out_spatial = output_shape[len(output_shape) - spatial_dims :]
    if facts.transposed:
        in_spatial = input_shape[len(input_shape) - spatial_dims :]
        cost = transposed_conv_cost(
            facts.kernel_size, facts.in_channels, facts.out_channels, facts.groups, facts.bias,
            in_spatial, out_spatial,
        )
    else:
        cost = conv_cost(facts.kernel_size, facts.in_channels, facts.out_channels, facts.groups, facts.bias, out_spatial)
    return batch, cost


_CONV_FUNCTIONS = ("torch.conv1d", "torch.conv2d", "torch.conv3d")
_TRANSPOSED_FUNCTIONS = ("torch.conv_transpose1d", "torch.conv_transpose2d", "torch.conv_transpose3d")
_GENERIC_CONV_FUNCTIONS = ("torch.convolution", "torch._convolution")  # ``transposed`` is their 7th argument


def _conv_op_facts(data: Any, weight: Any, bias: Any, result: Any, transposed: bool) -> OpFacts:
    input_shape, weight_shape, output_shape = _shape(data), _shape(weight), _shape(result)
    return OpFacts(
        type="",
        input_shape=input_shape,
        weight_shape=weight_shape,
        output_shape=output_shape,
        batch=_lead(input_shape, weight.dim()),
        cost=functional_conv_cost(weight_shape, input_shape, output_shape, transposed, bias is not None),
        bias=bias is not None,
        operands=(weight, bias),
    )


def _regular_conv_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    return _conv_op_facts(argument(args, kwargs, 0, "input"), argument(args, kwargs, 1, "weight"),
                          argument(args, kwargs, 2, "bias"), result, transposed=False)


def _transposed_conv_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    return _conv_op_facts(argument(args, kwargs, 0, "input"), argument(args, kwargs, 1, "weight"),
                          argument(args, kwargs, 2, "bias"), result, transposed=True)


def _generic_conv_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    return _conv_op_facts(argument(args, kwargs, 0, "input"), argument(args, kwargs, 1, "weight"),
                          argument(args, kwargs, 2, "bias"), result,
                          transposed=bool(argument(args, kwargs, 6, "transposed", False)))


# -- linear ------------------------------------------------------------------


def _linear_module(module: Any) -> ModuleFacts:
    cin, cout = int(module.in_features), int(module.out_features)
    has_bias = module.bias is not None
    weights = [("weight", linear_params(cin, cout, bias=False))]
    if has_bias:
        weights.append(("bias", cout))
    return ModuleFacts(type=type(module).__name__, bias=has_bias, in_channels=cin, out_channels=cout,
                       weights=tuple(weights))


def _linear_module_cost(facts: ModuleFacts, input_shape: Shape, output_shape: Shape) -> tuple[int, CallCost]:
    """``nn.Linear`` as a 1x1 conv over its input's last dimension: every dim
    between the batch and the features is a position."""
    batch = _lead(input_shape, facts.batched_rank)
    positions = prod(input_shape[1:-1]) if len(input_shape) >= 2 else 1
    return batch, linear_cost(facts.in_channels, facts.out_channels, facts.bias, positions)


def _linear_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    data, weight, bias = argument(args, kwargs, 0, "input"), argument(args, kwargs, 1, "weight"), argument(args, kwargs, 2, "bias")
    data_shape, weight_shape = _shape(data), _shape(weight)
    out_features = weight_shape[0] if len(weight_shape) == 2 else 1
    positions = prod(data_shape[:-1])
    return OpFacts(
        type="linear",
        input_shape=data_shape,
        weight_shape=weight_shape,
        output_shape=_shape(result),
        batch=_lead(data_shape, 2),
        cost=linear_op_cost(weight_shape[-1], out_features, bias is not None, positions),
        bias=bias is not None,
        operands=(weight, bias),
    )


def _addmm_with_weight(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts | None:
    """``addmm(bias, x, W.t())`` with a parameter operand is a linear layer written out."""
    added, left, right = argument(args, kwargs, 0, "input"), argument(args, kwargs, 1, "mat1"), argument(args, kwargs, 2, "mat2")
    if not (is_parameter(right) or is_parameter(left)):
        return None
    return _matmul_facts("addmm", left, right, result, added)


# -- matmul ------------------------------------------------------------------


def _matmul_facts(name: str, left: Any, right: Any, result: Any, added: Any = None) -> OpFacts:
    left_shape, right_shape = _shape(left), _shape(right)
    dims = matmul_dims(left_shape, right_shape)
    return OpFacts(
        type=name,
        input_shape=left_shape,
        weight_shape=right_shape,
        output_shape=_shape(result),
        batch=_lead(left_shape, 3),
        cost=matmul_cost(dims, added=added is not None),
        bias=added is not None,
        operands=(left, right, added),
    )


def _matmul_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    return _matmul_facts("matmul", argument(args, kwargs, 0, "input"), argument(args, kwargs, 1, "other"), result)


def _reflected_matmul_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``b.__rmatmul__(a)`` computes ``a @ b``."""
    return _matmul_facts("matmul", args[1], args[0], result)


def _mm_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    return _matmul_facts("mm", argument(args, kwargs, 0, "input"), argument(args, kwargs, 1, "mat2"), result)


def _added_matmul_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``addmm``/``baddbmm``: a product plus an added term, one add per output."""
    added = argument(args, kwargs, 0, "input")
    left = argument(args, kwargs, 1, "mat1") if "mat1" in kwargs else argument(args, kwargs, 1, "batch1")
    right = argument(args, kwargs, 2, "mat2") if "mat2" in kwargs else argument(args, kwargs, 2, "batch2")
    return _matmul_facts("addmm" if len(_shape(left)) == 2 else "baddbmm", left, right, result, added)


def _addbmm_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    added, left, right = argument(args, kwargs, 0, "input"), argument(args, kwargs, 1, "batch1"), argument(args, kwargs, 2, "batch2")
    batch, m, k = _shape(left)
    n = _shape(right)[-1]
    return OpFacts(
        type="addbmm",
        input_shape=_shape(left),
        weight_shape=_shape(right),
        output_shape=_shape(result),
        batch=1,
        cost=addbmm_cost(batch, m, n, k),
        bias=True,
        operands=(left, right, added),
    )


def _einsum_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts | None:
    equation, operands = _einsum_arguments(args)
    shapes = [_shape(operand) for operand in operands]
    return OpFacts(
        type="einsum",
        input_shape=shapes[0] if shapes else (),
        weight_shape=shapes[1] if len(shapes) > 1 else (),
        output_shape=_shape(result),
        batch=1,
        cost=einsum_cost(equation, shapes),
        operands=tuple(operands),
    )


def _einsum_arguments(args: tuple[Any, ...]) -> tuple[str, list[Any]]:
    """``einsum("ij,jk", a, b)``, ``einsum("ij,jk", [a, b])`` or the sublist form
    ``einsum(a, [0, 1], b, [1, 2], [0, 2])``, as an equation and its operands."""
    if isinstance(args[0], str):
        rest = args[1:]
        if len(rest) == 1 and isinstance(rest[0], (list, tuple)):
            rest = tuple(rest[0])
        return args[0], list(rest)
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def spell(sublist: Sequence[Any]) -> str:
        return "".join("..." if index is Ellipsis else letters[index] for index in sublist)

    operands = list(args[0::2])
    terms = [spell(sublist) for sublist in args[1::2]]
    if len(args) % 2:  # a trailing output sublist
        operands = operands[:-1]
        return f"{','.join(terms)}->{spell(args[-1])}", operands
    return ",".join(terms), operands


# -- attention ---------------------------------------------------------------


def _attention_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``scaled_dot_product_attention(q, k, v)``: q ``(..., L, E)``, k ``(..., S, E)``,
    v ``(..., S, Ev)``; every leading dim of the output (batch x heads) is a batch."""
    query, key, value = argument(args, kwargs, 0, "query"), argument(args, kwargs, 1, "key"), argument(args, kwargs, 2, "value")
    q_shape, k_shape, v_shape, out_shape = _shape(query), _shape(key), _shape(value), _shape(result)
    return OpFacts(
        type="scaled_dot_product_attention",
        input_shape=q_shape,
        weight_shape=k_shape,
        output_shape=out_shape,
        batch=_lead(q_shape, 3),
        cost=attention_cost(prod(out_shape[:-2]), q_shape[-2], k_shape[-2], q_shape[-1], v_shape[-1]),
        operands=(query, key, value),
    )


# -- the registry ------------------------------------------------------------

register(Kind(
    name="conv",
    summary="conv modules (every torch.nn.modules.conv._ConvNd, quantized convs): the default",
    colour="#4e79a7",
    modules=(
        ModuleRule(("torch.nn.modules.conv._ConvNd",), _float_conv, _conv_module_cost),
        ModuleRule(("torch.ao.nn.quantized.modules.conv._ConvNd",), _quantized_conv, _conv_module_cost, if_imported=True),
    ),
    own_ops="functional_conv",
))
register(Kind(
    name="linear",
    summary="nn.Linear modules, F.linear, addmm with a parameter operand (MultiheadAttention's projections)",
    colour="#f28e2b",
    modules=(ModuleRule(("torch.nn.Linear",), _linear_module, _linear_module_cost),),
    ops=(
        OpRule(("torch.nn.functional.linear",), _linear_op),
        OpRule(("torch.addmm", "torch.Tensor.addmm", "torch.Tensor.addmm_"), _addmm_with_weight),
    ),
    own_ops="linear",
))
register(Kind(
    name="matmul",
    summary="matmul / @, mm, bmm, baddbmm, addmm, addbmm, einsum",
    colour="#59a14f",
    ops=(
        OpRule(("torch.matmul", "torch.Tensor.matmul", "torch.Tensor.__matmul__"), _matmul_op),
        OpRule(("torch.Tensor.__rmatmul__",), _reflected_matmul_op),
        OpRule(("torch.mm", "torch.Tensor.mm", "torch.bmm", "torch.Tensor.bmm"), _mm_op),
        OpRule(("torch.addmm", "torch.Tensor.addmm", "torch.Tensor.addmm_", "torch.baddbmm",
                "torch.Tensor.baddbmm", "torch.Tensor.baddbmm_"), _added_matmul_op),
        OpRule(("torch.addbmm", "torch.Tensor.addbmm", "torch.Tensor.addbmm_"), _addbmm_op),
        OpRule(("torch.einsum", "torch.functional.einsum"), _einsum_op),
    ),
))
register(Kind(
    name="attention",
    summary="F.scaled_dot_product_attention (and what uses it), as its two matmuls",
    colour="#e15759",
    ops=(OpRule(("torch.nn.functional.scaled_dot_product_attention",), _attention_op),),
))
register(Kind(
    name="functional_conv",
    summary="conv functions (F.conv2d, torch.convolution, ...) called outside any conv module",
    colour="#76b7b2",
    ops=(
        OpRule(_CONV_FUNCTIONS, _regular_conv_op),
        OpRule(_TRANSPOSED_FUNCTIONS, _transposed_conv_op),
        OpRule(_GENERIC_CONV_FUNCTIONS, _generic_conv_op),
    ),
))
