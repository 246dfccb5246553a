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

from dataclasses import dataclass, replace
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
class AtenRule:
    """Ops at torch's dispatcher of this kind, counted where no torch function the function
    mode saw ran them: TorchScript, an exported program, ``torch.ops.aten.*`` calls, C++ code.

    ``ops`` name op packets (``aten.convolution``: every overload of it). ``read`` is as for
    :class:`OpRule`. ``weighted``: the kind of such an op when an operand is one of the model's
    parameters (or a quantized module's packed weight): ``aten.convolution`` of a model's
    weight is a conv layer's work, as in the eager model, and a bare one a functional conv.
    """

    ops: tuple[str, ...]
    read: Callable[[tuple[Any, ...], Mapping[str, Any], Any, Callable[[Any], bool]], OpFacts | None] | None = None
    weighted: str | None = None
    # The op is a counted module's own work when one is running (a quantized module's op:
    # its hook counts it); never said of ops a module's forward may run beside its own.
    own: bool = False
    # Instead of ``read``: a fused op (a whole attention block in one kernel) read as the calls
    # the eager model makes, each (kind, facts, named by its own weight's module or, False,
    # by the block's).
    split: Callable[[tuple[Any, ...], Any], tuple[tuple[str, OpFacts, bool], ...]] | None = None


@dataclass(frozen=True)
class Kind:
    name: str
    summary: str  # what it counts, in a user's words (help texts, docs)
    colour: str  # its colour in charts
    modules: tuple[ModuleRule, ...] = ()
    ops: tuple[OpRule, ...] = ()
    aten: tuple[AtenRule, ...] = ()
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


def _quantized_linear(module: Any) -> ModuleFacts:
    """``torch.ao.nn.quantized`` linears (static and dynamic): their bias is a method."""
    cin, cout = int(module.in_features), int(module.out_features)
    has_bias = module.bias() is not None
    weights = [("weight", linear_params(cin, cout, bias=False))] + ([("bias", cout)] if has_bias else [])
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


# -- ops at the dispatcher ---------------------------------------------------
# Their schemas put the operands first, by position, as the torch functions above do.


def _output(result: Any) -> Any:
    """An op's output tensor: the first of a tuple (attention ops also return statistics)."""
    return result[0] if isinstance(result, (tuple, list)) else result


def _aten_attention(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    return _attention_op(args[:3], {}, _output(result), is_parameter)


def _aten_mv(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``mv``/``dot``: a matrix or vector times a vector; ``addmv`` adds a vector first."""
    if len(args) >= 3 and hasattr(args[2], "shape"):
        return _matmul_facts("addmv", args[1], args[2], result, args[0])
    return _matmul_facts("mv" if len(_shape(args[0])) == 2 else "dot", args[0], args[1], result)


def _packed(args: tuple[Any, ...]) -> tuple[Any, Any, Any]:
    """A quantized op's packed weight (its one non-tensor object argument), and its weight and
    bias unpacked (copies: read for shapes only)."""
    packed = next(arg for arg in args if hasattr(arg, "unpack") and not hasattr(arg, "shape"))
    weight, bias = packed.unpack()
    return packed, weight, bias


def _quantized_linear_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``quantized.linear``/``linear_dynamic``: counted like the float linear it stands for."""
    packed, weight, bias = _packed(args)
    data_shape, weight_shape = _shape(args[0]), _shape(weight)
    return OpFacts(
        type="linear", input_shape=data_shape, weight_shape=weight_shape, output_shape=_shape(result),
        batch=_lead(data_shape, 2), bias=bias is not None, operands=(packed,),
        cost=linear_op_cost(weight_shape[-1], weight_shape[0], bias is not None, prod(data_shape[:-1])),
    )


def _quantized_conv_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``quantized.conv2d`` and kin (``conv2d_add``: its accumulator comes second): counted like
    the float convolution it stands for."""
    packed, weight, bias = _packed(args)
    transposed = bool(packed.transpose()) if hasattr(packed, "transpose") else False
    facts = _conv_op_facts(args[0], weight, bias, result, transposed=transposed)
    return replace(facts, operands=(packed,))


def _mm_with_weight(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts | None:
    """``aten.mm`` called by name (a decomposed exported program) with a weight: a linear layer
    written out, as at the dispatcher."""
    left, right = argument(args, kwargs, 0, "input"), argument(args, kwargs, 1, "mat2")
    if not (is_parameter(right) or is_parameter(left)):
        return None
    return _matmul_facts("mm", left, right, result)


def _recurrent_layer(args: tuple[Any, ...], result: Any) -> tuple[tuple[str, OpFacts, bool], ...]:
    """``mkldnn_rnn_layer``, nn.LSTM's CPU kernel for one layer and direction: over every step,
    its input projection and its hidden projection, each with its bias, as the unfused
    LSTM's linears count them (the gates' elementwise work is no kind's)."""
    data, w_ih, w_hh, b_ih, b_hh = args[:5]
    has_biases = bool(args[12]) if len(args) > 12 else True
    shape = _shape(data)
    steps = (*shape[:-1], _shape(w_ih)[0])
    return (("linear", _fused_linear(shape, w_ih, b_ih if has_biases else None, steps), False),
            ("linear", _fused_linear((*shape[:-1], _shape(w_hh)[-1]), w_hh, b_hh if has_biases else None, steps), False))


def _fused_linear(data_shape: Shape, weight: Any, bias: Any, output_shape: Shape,
                  rows: tuple[int, int] | None = None) -> OpFacts:
    """A linear inside a fused op; ``rows``: the slice of ``weight`` (and ``bias``) it uses."""
    weight_shape = _shape(weight)
    if rows is not None:
        weight_shape = (rows[1] - rows[0], *weight_shape[1:])
    return OpFacts(
        type="linear", input_shape=data_shape, weight_shape=weight_shape, output_shape=output_shape,
        batch=_lead(data_shape, 2), bias=bias is not None, operands=(weight, bias),
        cost=linear_op_cost(weight_shape[-1], weight_shape[0], bias is not None, prod(data_shape[:-1])),
    )


def _fused_attention(batch: int, heads: int, query_len: int, key_len: int, head_dim: int) -> OpFacts:
    q_shape, k_shape = (batch, heads, query_len, head_dim), (batch, heads, key_len, head_dim)
    return OpFacts(
        type="scaled_dot_product_attention", input_shape=q_shape, weight_shape=k_shape,
        output_shape=q_shape, batch=batch,
        cost=attention_cost(batch * heads, query_len, key_len, head_dim, head_dim),
    )


def _projections(query: Any, key: Any, value: Any, weight: Any, bias: Any) -> tuple[tuple[str, OpFacts, bool], ...]:
    """The input projections as ``F.multi_head_attention_forward`` makes them: one linear for
    self-attention, else one for the query and a packed one for key and value when they are
    one tensor, else three."""
    q_shape, k_shape, v_shape = _shape(query), _shape(key), _shape(value)
    embed = _shape(weight)[-1]

    def part(shape: Shape, first: int, last: int) -> tuple[str, OpFacts, bool]:
        return ("linear", _fused_linear(shape, weight, bias, (*shape[:-1], last - first), (first, last)), False)

    if query is key and key is value:
        return (part(q_shape, 0, 3 * embed),)
    if key is value:
        return part(q_shape, 0, embed), part(k_shape, embed, 3 * embed)
    return part(q_shape, 0, embed), part(k_shape, embed, 2 * embed), part(v_shape, 2 * embed, 3 * embed)


def _native_attention(args: tuple[Any, ...], result: Any) -> tuple[tuple[str, OpFacts, bool], ...]:
    """``_native_multi_head_attention``, nn.MultiheadAttention's fused path (batch first):
    its projections, its attention and its output projection, all named by the attention
    module, as the eager module's ``F.linear`` calls are."""
    query, key, value, embed, heads = args[:5]
    qkv_weight, qkv_bias, proj_weight, proj_bias = args[5:9]
    need_weights = bool(args[10]) if len(args) > 10 else True
    q_shape, k_shape = _shape(query), _shape(key)
    out_shape = (*q_shape[:-1], embed)
    attention = _fused_attention(q_shape[0], heads, q_shape[-2], k_shape[-2], embed // heads)
    if need_weights:  # the eager module then runs two bmm's, kept apart to return the weights
        mixing = _fused_matmuls(q_shape[0] * heads, q_shape[-2], k_shape[-2], embed // heads)
    else:
        mixing = (("attention", attention, False),)
    return (*_projections(query, key, value, qkv_weight, qkv_bias), *mixing,
            ("linear", _fused_linear(out_shape, proj_weight, proj_bias, out_shape), False))


def _fused_matmuls(batch: int, query_len: int, key_len: int, head_dim: int) -> tuple[tuple[str, OpFacts, bool], ...]:
    """The two batched products of attention with its weights: scores, then the mix."""
    def product(left: Shape, right: Shape) -> tuple[str, OpFacts, bool]:
        dims = matmul_dims(left, right)
        return ("matmul", OpFacts(type="bmm", input_shape=left, weight_shape=right,
                                  output_shape=(batch, dims.m, dims.n), batch=batch, cost=matmul_cost(dims)), False)

    return (product((batch, query_len, head_dim), (batch, head_dim, key_len)),
            product((batch, query_len, key_len), (batch, key_len, head_dim)))


def _native_encoder_layer(args: tuple[Any, ...], result: Any) -> tuple[tuple[str, OpFacts, bool], ...]:
    """``_transformer_encoder_layer_fwd``, nn.TransformerEncoderLayer's fused path: self-attention
    (projections, attention, output projection: named by the attention module) and its two
    feed-forward linears (named by their own modules, which the eager layer calls)."""
    src, embed, heads, qkv_weight, qkv_bias, proj_weight, proj_bias = args[:7]
    ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2 = args[14:18]
    shape = _shape(src)
    hidden = (*shape[:-1], _shape(ffn_weight_1)[0])
    return (*_projections(src, src, src, qkv_weight, qkv_bias),
            ("attention", _fused_attention(shape[0], heads, shape[-2], shape[-2], embed // heads), False),
            ("linear", _fused_linear(shape, proj_weight, proj_bias, shape), False),
            ("linear", _fused_linear(shape, ffn_weight_1, ffn_bias_1, hidden), True),
            ("linear", _fused_linear(hidden, ffn_weight_2, ffn_bias_2, shape), True))


_QUANTIZED_LINEAR_OPS = tuple(f"quantized.{name}" for name in (
    "linear", "linear_relu", "linear_dynamic", "linear_relu_dynamic", "linear_dynamic_fp16",
    "linear_relu_dynamic_fp16",
))
_QUANTIZED_CONV_OPS = tuple(f"quantized.{name}" for name in (
    "conv1d", "conv2d", "conv3d", "conv1d_relu", "conv2d_relu", "conv3d_relu", "conv2d_add", "conv2d_add_relu",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
))
_ATTENTION_OPS = tuple(f"aten.{name}" for name in (
    "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_fused_attention_overrideable",
))

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
    modules=(
        ModuleRule(("torch.nn.Linear",), _linear_module, _linear_module_cost),
        ModuleRule(("torch.ao.nn.quantized.modules.linear.Linear",), _quantized_linear, _linear_module_cost,
                   if_imported=True),
    ),
    ops=(
        # an exported program's graph calls aten.linear by name: read whole, with its bias
        OpRule(("torch.nn.functional.linear", "torch.ops.aten.linear.default"), _linear_op),
        OpRule(("torch.addmm", "torch.Tensor.addmm", "torch.Tensor.addmm_", "torch.ops.aten.addmm.default"),
               _addmm_with_weight),
        OpRule(("torch.ops.aten.mm.default",), _mm_with_weight),
    ),
    aten=(
        AtenRule(_QUANTIZED_LINEAR_OPS, _quantized_linear_op, own=True),
        AtenRule(("aten.mkldnn_rnn_layer",), split=_recurrent_layer),
    ),
    own_ops="linear",
))
register(Kind(
    name="matmul",
    summary="matmul / @, mm, bmm, baddbmm, addmm, addbmm, einsum",
    colour="#59a14f",
    ops=(
        OpRule(("torch.matmul", "torch.Tensor.matmul", "torch.Tensor.__matmul__", "torch.ops.aten.matmul.default"),
               _matmul_op),
        OpRule(("torch.Tensor.__rmatmul__",), _reflected_matmul_op),
        OpRule(("torch.mm", "torch.Tensor.mm", "torch.bmm", "torch.Tensor.bmm", "torch.ops.aten.mm.default",
                "torch.ops.aten.bmm.default"), _mm_op),
        OpRule(("torch.addmm", "torch.Tensor.addmm", "torch.Tensor.addmm_", "torch.baddbmm",
                "torch.Tensor.baddbmm", "torch.Tensor.baddbmm_", "torch.ops.aten.addmm.default",
                "torch.ops.aten.baddbmm.default"), _added_matmul_op),
        OpRule(("torch.addbmm", "torch.Tensor.addbmm", "torch.Tensor.addbmm_"), _addbmm_op),
        OpRule(("torch.einsum", "torch.functional.einsum", "torch.ops.aten.einsum.default"), _einsum_op),
    ),
    aten=(
        AtenRule(("aten.mm", "aten.bmm", "aten._int_mm", "aten._scaled_mm"), _mm_op, weighted="linear"),
        AtenRule(("aten.addmm", "aten.baddbmm"), _added_matmul_op, weighted="linear"),
        AtenRule(("aten.addbmm",), _addbmm_op, weighted="linear"),
        AtenRule(("aten.mv", "aten.dot", "aten.vdot", "aten.addmv"), _aten_mv, weighted="linear"),
    ),
))
register(Kind(
    name="attention",
    summary="F.scaled_dot_product_attention (and what uses it), as its two matmuls",
    colour="#e15759",
    ops=(OpRule(("torch.nn.functional.scaled_dot_product_attention", "torch.ops.aten.scaled_dot_product_attention.default"),
                _attention_op),),
    aten=(
        AtenRule(_ATTENTION_OPS, _aten_attention),
        AtenRule(("aten._native_multi_head_attention",), split=_native_attention),
        AtenRule(("aten._transformer_encoder_layer_fwd",), split=_native_encoder_layer),
    ),
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
    aten=(
        AtenRule(("aten.convolution", "aten._convolution"), _generic_conv_op, weighted="conv"),
        AtenRule(_QUANTIZED_CONV_OPS, _quantized_conv_op, weighted="conv", own=True),
    ),
))
