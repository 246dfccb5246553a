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
from ..words.vocabulary import NO_FORMULA_KIND  # the kind they are listed under: none a count includes
from .formulas import (
    CallCost,
    MatmulDims,
    addbmm_cost,
    attention_cost,
    cdist_cost,
    conv_cost,
    conv_params,
    einsum_cost,
    functional_conv_cost,
    grouped_mm_cost,
    linear_cost,
    linear_op_cost,
    linear_params,
    matmul_cost,
    matmul_dims,
    sparse_mm_cost,
    sparse_sparse_mm_cost,
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

# -- more products at the dispatcher -------------------------------------------


def _grouped_mm_reader(offsets_at: int) -> Callable[..., OpFacts]:
    """``_grouped_mm(a, b, offs)`` (and ``_scaled_grouped_mm``, whose scales come before its
    offsets): a mixture of experts' products, each row of ``a`` with its expert's weight."""

    def read(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
        left, right = args[0], args[1]
        offsets = argument(args, kwargs, offsets_at, "offs")
        left_shape, right_shape = _shape(left), _shape(right)
        groups = _shape(offsets)[0] if offsets is not None else left_shape[0]
        return OpFacts(type="grouped_mm", input_shape=left_shape, weight_shape=right_shape,
                       output_shape=_shape(_output(result)), batch=1,
                       cost=grouped_mm_cost(left_shape, right_shape, groups), operands=(left, right))

    return read


def _trilinear_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``_trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim)``, the kernel of
    ``F.bilinear``: three operands unsqueezed at their ``expand`` dims and summed over
    ``sumdim``, contracted as torch does, the first two, then the third (an einsum)."""
    operands = args[:3]
    expands = [tuple(args[3 + index]) for index in range(3)]
    summed = set(args[6])
    rank = len(_shape(operands[0])) + len(expands[0])
    letters = "abcdefghijklmnopqrstuvwxyz"[:rank]
    terms = ["".join(letters[dim] for dim in range(rank) if dim not in expand) for expand in expands]
    output = "".join(letters[dim] for dim in range(rank) if dim not in summed)
    shapes = [_shape(operand) for operand in operands]
    return OpFacts(type="bilinear", input_shape=shapes[0], weight_shape=shapes[1], output_shape=_shape(result),
                   batch=_lead(shapes[0], 2), cost=einsum_cost(f"{','.join(terms)}->{output}", shapes),
                   operands=tuple(operands))


def _bilinear_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``F.bilinear(x1, x2, W, b)``: ``x1 W x2`` per output feature, as ``_trilinear`` runs it:
    ``x1`` with ``W`` first (``in1`` terms for each (output, ``in2``) pair), then with ``x2``
    (``in2`` terms per output), plus the bias."""
    first, second = argument(args, kwargs, 0, "input1"), argument(args, kwargs, 1, "input2")
    weight, bias = argument(args, kwargs, 2, "weight"), argument(args, kwargs, 3, "bias")
    first_shape, weight_shape = _shape(first), _shape(weight)
    out_features, in1, in2 = weight_shape
    positions = prod(first_shape[:-1])
    cost = einsum_cost("pi,oij,pj->po", [(positions, in1), weight_shape, (positions, in2)])
    if bias is not None:
        cost = CallCost(macs=cost.macs, flops=cost.flops + positions * out_features)
    return OpFacts(type="bilinear", input_shape=first_shape, weight_shape=weight_shape, output_shape=_shape(result),
                   batch=_lead(first_shape, 2), cost=cost, bias=bias is not None, operands=(weight, bias))


# cdist's compute modes: 0 uses a product past 25 points a side, 1 always, 2 never (p = 2 only)
_CDIST_PRODUCT_PAST = 25


def _cdist_facts(left: Any, right: Any, result: Any, as_matmul: bool) -> OpFacts:
    left_shape, right_shape = _shape(left), _shape(right)
    batch = prod(_shape(result)[:-2])
    return OpFacts(type="cdist", input_shape=left_shape, weight_shape=right_shape, output_shape=_shape(result),
                   batch=_lead(left_shape, 3),
                   cost=cdist_cost(batch, left_shape[-2], right_shape[-2], left_shape[-1], as_matmul),
                   operands=(left, right))


def _cdist_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``_cdist_forward(x1, x2, p, compute_mode)``: a product for p = 2 where its mode says so."""
    left, right, power = args[0], args[1], float(args[2])
    mode = args[3] if len(args) > 3 and args[3] is not None else 0
    rows, columns = _shape(left)[-2], _shape(right)[-2]
    as_matmul = power == 2 and (mode == 1 or (mode == 0 and max(rows, columns) > _CDIST_PRODUCT_PAST))
    return _cdist_facts(left, right, result, as_matmul)


def _euclidean_dist_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``_euclidean_dist``: cdist's product mode, called by ``torch.cdist`` itself."""
    return _cdist_facts(args[0], args[1], result, as_matmul=True)


def _conv_tbc_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``conv_tbc(x (time, batch, in), W (k, in, out), b, pad)``: a 1-D convolution over time,
    with its bias, laid out time first."""
    data, weight, bias = argument(args, kwargs, 0, "self"), argument(args, kwargs, 1, "weight"), argument(args, kwargs, 2, "bias")
    data_shape, weight_shape, output_shape = _shape(data), _shape(weight), _shape(_output(result))
    kernel, in_channels, out_channels = weight_shape
    return OpFacts(type="conv_tbc", input_shape=data_shape, weight_shape=weight_shape, output_shape=output_shape,
                   batch=data_shape[1] if len(data_shape) == 3 else 1,
                   cost=conv_cost((kernel,), in_channels, out_channels, 1, True, (prod(output_shape[:-1]),)),
                   bias=True, operands=(weight, bias))


def _is_sparse(tensor: Any) -> bool:
    return getattr(tensor, "layout", None) is not None and str(tensor.layout) != "torch.strided"


def _stored(tensor: Any) -> int:
    """The entries a sparse tensor stores (its values' leading size)."""
    return int(tensor._nnz())


def _sparse_facts(name: str, left: Any, right: Any, result: Any, added: int = 0) -> OpFacts:
    """A product with a sparse operand, counted by the entries it stores."""
    left_shape, right_shape = _shape(left), _shape(right)
    if _is_sparse(left) and _is_sparse(right):
        cost = sparse_sparse_mm_cost(_meeting_pairs(left, right))
    elif _is_sparse(left):
        cost = sparse_mm_cost(_stored(left), right_shape[-1], added)
    else:
        cost = sparse_mm_cost(_stored(right), left_shape[0] if len(left_shape) > 1 else 1, added)
    return OpFacts(type=name, input_shape=left_shape, weight_shape=right_shape, output_shape=_shape(_output(result)),
                   batch=1, cost=cost, bias=bool(added), operands=(left, right))


def _meeting_pairs(left: Any, right: Any) -> int:
    """Of two sparse matrices, how many stored ``(i, k)`` of the left meet a stored ``(k, j)``
    of the right: read from their indices (a real device's; meta has none to read)."""
    rows_of_left = left.to_sparse_coo().coalesce().indices()[1].tolist()
    rows_of_right = right.to_sparse_coo().coalesce().indices()[0].tolist()
    per_row: dict[int, int] = {}
    for row in rows_of_right:
        per_row[row] = per_row.get(row, 0) + 1
    return sum(per_row.get(column, 0) for column in rows_of_left)


def _sparse_mm_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``smm``, ``hspmm``, ``_sparse_mm``, ``_sparse_sparse_matmul``: sparse times dense or sparse."""
    return _sparse_facts("sparse_mm", args[0], args[1], result)


def _sparse_addmm_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``_sparse_addmm``/``sspaddmm(C, A, B, beta, alpha)``: ``A @ B``, plus ``C`` where ``beta``
    keeps it (``torch.sparse.mm`` passes zeros with ``beta = 0``)."""
    beta = argument(args, kwargs, 3, "beta", 1)
    output = _output(result)
    added = prod(_shape(output)) if beta != 0 else 0
    return _sparse_facts("sparse_addmm", args[1], args[2], result, added)


def _sampled_addmm_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``sparse_sampled_addmm(C, A, B)``: ``A @ B`` only where sparse ``C`` stores an entry, plus ``C``."""
    sampled, left, right = args[0], args[1], args[2]
    stored, terms = _stored(sampled), _shape(left)[-1]
    return OpFacts(type="sparse_sampled_addmm", input_shape=_shape(left), weight_shape=_shape(right),
                   output_shape=_shape(_output(result)), batch=1, bias=True, operands=(left, right, sampled),
                   cost=CallCost(macs=stored * terms, flops=stored * 2 * terms))


def _sparse_or_dense(dense: Callable[..., OpFacts | None], left_at: int) -> Callable[..., OpFacts | None]:
    """``mm``/``addmm`` as a sparse kernel runs them when an operand is sparse, else ``dense``."""

    def read(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts | None:
        left, right = args[left_at], args[left_at + 1]
        if _is_sparse(left) or _is_sparse(right):
            if left_at:
                return _sparse_addmm_op(args, kwargs, result, is_parameter)
            return _sparse_facts("sparse_mm", left, right, result)
        return dense(args, kwargs, result, is_parameter)

    return read


def _linear_by_shapes(weight_at: int, bias_at: int | None, transposed_weight: bool = True) -> Callable[..., OpFacts]:
    """A linear kernel of a packed or low-precision weight (``_weight_int8pack_mm``,
    ``fbgemm_linear_*``, ``mkldnn_linear``, ``_mixed_dtypes_linear``): read from its input
    and output, ``in*out`` MACs per row, plus its bias."""

    def read(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
        data, weight = args[0], args[weight_at]
        bias = argument(args, kwargs, bias_at, "bias") if bias_at is not None else None
        bias = bias if hasattr(bias, "shape") else None
        data_shape, output_shape = _shape(data), _shape(_output(result))
        in_features, out_features = data_shape[-1], output_shape[-1]
        return OpFacts(type="linear", input_shape=data_shape,
                       weight_shape=(out_features, in_features), output_shape=output_shape,
                       batch=_lead(data_shape, 2), bias=bias is not None, operands=(weight, bias),
                       cost=linear_op_cost(in_features, out_features, bias is not None, prod(data_shape[:-1])))

    return read


def _addr_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    """``addr(C, u, v)``: ``C + u v^T``, one multiply and one add per output."""
    left, right = args[1], args[2]
    rows, columns = _shape(left)[0], _shape(right)[0]
    return OpFacts(type="addr", input_shape=(rows, 1), weight_shape=(1, columns), output_shape=(rows, columns),
                   batch=1, cost=matmul_cost(MatmulDims(1, rows, columns, 1), added=True), bias=True,
                   operands=(left, right, args[0]))


def _conv_kernel(transposed: bool, bias_at: int | None, added_at: int | None = None) -> Callable[..., OpFacts]:
    """A backend's convolution kernel called by name (``mkldnn_convolution``, ``cudnn_convolution``,
    ``_slow_conv2d_forward``, ...): ``(input, weight, ...)``, its bias at ``bias_at``; a fused
    ``conv + z`` adds ``z`` (at ``added_at``): one more add per output."""

    def read(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
        data, weight = args[0], args[1]
        bias = argument(args, kwargs, bias_at, "bias") if bias_at is not None else None
        bias = bias if hasattr(bias, "shape") else None
        facts = _conv_op_facts(data, weight, bias, _output(result), transposed=transposed)
        if added_at is None:
            return facts
        extra = prod(facts.output_shape)
        return replace(facts, cost=CallCost(macs=facts.cost.macs, flops=facts.cost.flops + extra))

    return read


def _flash_forward_reader(cumulative_at: int) -> Callable[..., OpFacts]:
    """``_flash_attention_forward``/``_efficient_attention_forward``: q ``(B, L, H, E)``, k ``(B, S,
    H, E)``, v ``(B, S, H, Ev)``, heads third. Given cumulative lengths (at ``cumulative_at`` and
    after it), the batch is sequences packed end to end: each sequence attends to its own keys,
    counted from the lengths (values on the CUDA device that runs these kernels)."""

    def read(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
        query, key, value = args[:3]
        q_shape, k_shape, v_shape = _shape(query), _shape(key), _shape(value)
        heads, head_dim, value_dim = q_shape[-2], q_shape[-1], v_shape[-1]
        starts_q, starts_k = args[cumulative_at], args[cumulative_at + 1]
        if starts_q is None:
            batch = q_shape[0]
            cost = attention_cost(batch * heads, q_shape[1], k_shape[1], head_dim, value_dim)
        else:
            bounds_q = [int(v) for v in starts_q.tolist()]
            bounds_k = [int(v) for v in (starts_k if starts_k is not None else starts_q).tolist()]
            batch = len(bounds_q) - 1
            parts = [attention_cost(heads, bounds_q[i + 1] - bounds_q[i], bounds_k[i + 1] - bounds_k[i], head_dim,
                                    value_dim) for i in range(batch)]
            cost = CallCost(macs=sum(part.macs for part in parts), flops=sum(part.flops for part in parts))
        return OpFacts(type="scaled_dot_product_attention", input_shape=q_shape, weight_shape=k_shape,
                       output_shape=_shape(_output(result)), batch=batch, cost=cost, operands=(query, key, value))

    return read


# -- recurrent kernels ----------------------------------------------------------

_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


@dataclass(frozen=True)
class _Cell:
    """One layer and direction of a recurrent kernel: the shapes of its two weights, whether
    each has a bias, and what it consumed (weights, or packed weights)."""

    input_weight: Shape
    hidden_weight: Shape
    input_bias: bool
    hidden_bias: bool
    input_operands: tuple[Any, ...]
    hidden_operands: tuple[Any, ...]


def _cell_splits(cells: Sequence[_Cell], positions: int) -> tuple[tuple[str, OpFacts, bool], ...]:
    """Each cell over ``positions`` (steps x batch) as the float kernel's linears count it: the
    input projection and the hidden projection, each with its bias."""
    parts = []
    for cell in cells:
        for weight, bias, operands in ((cell.input_weight, cell.input_bias, cell.input_operands),
                                       (cell.hidden_weight, cell.hidden_bias, cell.hidden_operands)):
            rows, features = weight
            parts.append(("linear", OpFacts(
                type="linear", input_shape=(positions, features), weight_shape=weight, output_shape=(positions, rows),
                batch=positions, bias=bias, operands=operands,
                cost=linear_op_cost(features, rows, bias, positions)), True))
    return tuple(parts)


def _unpacked(packed: Any) -> tuple[Shape, bool]:
    """A packed linear weight's (shape, whether it holds a bias)."""
    weight, bias = packed.unpack()
    return _shape(weight), bias is not None


def _packed_cell(params: Any) -> _Cell:
    """A quantized RNN's cell parameters (``CellParamsBase``): its two packed linears, biases in them."""
    state = params.__getstate__()[0]
    packed = [item for item in state[-1] if hasattr(item, "unpack")]
    biases = [tensor for tensor in state[1] if hasattr(tensor, "shape")]
    (input_weight, input_bias), (hidden_weight, hidden_bias) = (_unpacked(item) for item in packed[:2])
    if len(biases) == 2:
        input_bias = hidden_bias = True
    return _Cell(input_weight, hidden_weight, input_bias, hidden_bias, (packed[0],), (packed[1],))


def _tensor_cells(weights: Sequence[Any], per_cell: int, has_biases: bool) -> list[_Cell]:
    """Cells from a flat list of weights, ``per_cell`` a cell: ``w_ih, w_hh[, b_ih, b_hh]``."""
    cells = []
    for start in range(0, len(weights) - per_cell + 1, per_cell):
        group = weights[start:start + per_cell]
        w_ih, w_hh = group[0], group[1]
        b_ih, b_hh = (group[2], group[3]) if has_biases and per_cell >= 4 else (None, None)
        cells.append(_Cell(_shape(w_ih)[-2:], _shape(w_hh)[-2:], b_ih is not None, b_hh is not None,
                           (w_ih, b_ih), (w_hh, b_hh)))
    return cells


def _cells(params: Sequence[Any], has_biases: bool) -> list[_Cell]:
    if params and not hasattr(params[0], "shape"):
        return [_packed_cell(item) for item in params]
    return _tensor_cells(params, 4 if has_biases else 2, has_biases)


def _quantized_rnn(args: tuple[Any, ...], result: Any) -> tuple[tuple[str, OpFacts, bool], ...]:
    """``quantized_lstm``/``quantized_gru`` (a dynamically quantized nn.LSTM/GRU): every layer
    and direction, as its float twin's linears. ``input`` overloads take ``(input, hx, params,
    has_biases, ...)``; ``data`` overloads (a packed sequence) ``(data, batch_sizes, hx, params,
    has_biases, ...)``, whose rows are every step of every sequence."""
    packed_sequence = isinstance(args[3], (list, tuple))
    params, has_biases = (args[3], bool(args[4])) if packed_sequence else (args[2], bool(args[3]))
    return _cell_splits(_cells(params, has_biases), prod(_shape(args[0])[:-1]))


def _backend_rnn(weights_at: int, stride_at: int | None, has_biases_at: int | None) -> Callable[..., Any]:
    """A backend's fused RNN (``_cudnn_rnn``, ``miopen_rnn``, ``_lstm_mps``): its flat weights,
    ``stride`` a cell (``w_ih, w_hh[, b_ih, b_hh]``), over every step."""

    def split(args: tuple[Any, ...], result: Any) -> tuple[tuple[str, OpFacts, bool], ...]:
        weights = list(args[weights_at])
        has_biases = bool(args[has_biases_at]) if has_biases_at is not None else True
        stride = int(args[stride_at]) if stride_at is not None else (4 if has_biases else 2)
        return _cell_splits(_tensor_cells(weights, stride, stride >= 4 and has_biases), prod(_shape(args[0])[:-1]))

    return split


def _quantized_cell(packed_weights: bool) -> Callable[..., Any]:
    """One step of a quantized cell: ``quantized_lstm_cell_dynamic(x, hx, W_ih, W_hh, b_ih, b_hh)``
    (packed weights) or ``aten.quantized_lstm_cell(x, hx, w_ih, w_hh, b_ih, b_hh, ...)``."""

    def split(args: tuple[Any, ...], result: Any) -> tuple[tuple[str, OpFacts, bool], ...]:
        w_ih, w_hh, b_ih, b_hh = args[2:6]
        if packed_weights:
            (input_weight, _), (hidden_weight, _) = _unpacked(w_ih), _unpacked(w_hh)
        else:
            input_weight, hidden_weight = _shape(w_ih), _shape(w_hh)
        cell = _Cell(input_weight, hidden_weight, b_ih is not None, b_hh is not None, (w_ih,), (w_hh,))
        return _cell_splits((cell,), prod(_shape(args[0])[:-1]))

    return split


# Ops that do work no formula here counts (transforms, solvers, decompositions): each call is
# listed among the uncounted work by name, with no FLOPs, never dropped.
NO_FORMULA = tuple(f"aten.{name}" for name in (
    "_fft_r2c", "_fft_c2c", "_fft_c2r",
    "_linalg_solve_ex", "linalg_solve_triangular", "triangular_solve", "cholesky_solve", "cholesky_inverse",
    "linalg_cholesky_ex", "linalg_inv_ex", "linalg_lu_factor_ex", "linalg_lu", "linalg_lu_solve", "lu_unpack",
    "linalg_qr", "geqrf", "ormqr", "linalg_householder_product", "_linalg_svd", "_linalg_eigh", "linalg_eig",
    "_linalg_det", "_linalg_slogdet", "linalg_lstsq", "linalg_matrix_exp", "linalg_ldl_factor_ex",
    "linalg_ldl_solve", "_linalg_eigvals",
    # fused kernels whose varying lengths are values, and training's backward kernels
    "_cudnn_rnn_backward", "convolution_backward", "_scaled_dot_product_efficient_attention_backward",
    "_scaled_dot_product_flash_attention_backward", "_scaled_dot_product_cudnn_attention_backward",
    "_flash_attention_backward", "_efficient_attention_backward",
    "_scaled_dot_product_flash_attention_for_cpu_backward", "_scaled_dot_product_fused_attention_overrideable_backward",
    "_foreach_mm",
    # 2:4 sparse kernels, whose compressed operands keep half the terms (CUDA only)
    "_sparse_semi_structured_mm", "_sparse_semi_structured_addmm", "_sparse_semi_structured_linear",
    "_cslt_sparse_mm", "_sparse_mm_reduce_impl",
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
        OpRule(("torch.bilinear", "torch.nn.functional.bilinear"), _bilinear_op),
    ),
    aten=(
        AtenRule(_QUANTIZED_LINEAR_OPS, _quantized_linear_op, own=True),
        AtenRule(("aten.mkldnn_rnn_layer",), split=_recurrent_layer),
        AtenRule(("aten.quantized_lstm", "aten.quantized_gru"), split=_quantized_rnn),
        AtenRule(tuple(f"quantized.quantized_{cell}_cell_dynamic" for cell in _GATES), split=_quantized_cell(True)),
        AtenRule(tuple(f"aten.quantized_{cell}_cell" for cell in _GATES), split=_quantized_cell(False)),
        AtenRule(("aten._cudnn_rnn", "aten.miopen_rnn"), split=_backend_rnn(1, 2, None)),
        AtenRule(("aten._lstm_mps",), split=_backend_rnn(2, None, 3)),
        AtenRule(("aten._weight_int8pack_mm", "aten._weight_int4pack_mm", "aten._weight_int4pack_mm_for_cpu",
                  "aten._weight_int4pack_mm_with_scales_and_zeros"), _linear_by_shapes(1, None)),
        AtenRule(("aten.fbgemm_linear_int8_weight", "aten.fbgemm_linear_int8_weight_fp32_activation"),
                 _linear_by_shapes(1, 6)),
        AtenRule(("aten.fbgemm_linear_fp16_weight", "aten.fbgemm_linear_fp16_weight_fp32_activation"),
                 _linear_by_shapes(1, 2)),
        AtenRule(("aten.mkldnn_linear",), _linear_by_shapes(1, 2)),
        AtenRule(("aten.linear",), _linear_op),  # its out= form, which no composite splits
        AtenRule(("aten._mixed_dtypes_linear",), _linear_by_shapes(1, 3)),
        AtenRule(("aten._wrapped_quantized_linear_prepacked",), _linear_by_shapes(3, None)),
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
        AtenRule(("aten.mm",), _sparse_or_dense(_mm_op, 0), weighted="linear"),
        AtenRule(("aten.bmm", "aten._int_mm", "aten._scaled_mm", "aten._scaled_mm_v2"), _mm_op, weighted="linear"),
        AtenRule(("aten.addmm", "aten.addmm_"), _sparse_or_dense(_added_matmul_op, 1), weighted="linear"),
        AtenRule(("aten.baddbmm", "aten.baddbmm_", "aten._addmm_activation"), _added_matmul_op, weighted="linear"),
        AtenRule(("aten._grouped_mm",), _grouped_mm_reader(2), weighted="linear"),
        AtenRule(("aten._scaled_grouped_mm",), _grouped_mm_reader(4), weighted="linear"),
        AtenRule(("aten._scaled_grouped_mm_v2",), _grouped_mm_reader(8), weighted="linear"),
        AtenRule(("aten._trilinear",), _trilinear_op, weighted="linear"),
        AtenRule(("aten.addr", "aten.addr_"), _addr_op, weighted="linear"),
        AtenRule(("aten._cdist_forward",), _cdist_op),
        AtenRule(("aten._euclidean_dist",), _euclidean_dist_op),
        AtenRule(("aten._sparse_mm", "aten.smm", "aten.hspmm", "aten._sparse_sparse_matmul"), _sparse_mm_op,
                 weighted="linear"),
        AtenRule(("aten._sparse_addmm", "aten.sspaddmm"), _sparse_addmm_op, weighted="linear"),
        AtenRule(("aten.sparse_sampled_addmm",), _sampled_addmm_op),
        AtenRule(("aten.addbmm", "aten.addbmm_"), _addbmm_op, weighted="linear"),
        AtenRule(("aten.mv", "aten.dot", "aten.vdot", "aten.addmv", "aten.addmv_"), _aten_mv, weighted="linear"),
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
        AtenRule(("aten._flash_attention_forward",), _flash_forward_reader(3)),
        AtenRule(("aten._efficient_attention_forward",), _flash_forward_reader(4)),
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
        OpRule(("torch.conv_tbc",), _conv_tbc_op),
    ),
    aten=(
        AtenRule(("aten.convolution", "aten._convolution", "aten.convolution_overrideable"), _generic_conv_op,
                 weighted="conv"),
        # never a conv module's work (no conv module runs it): a graph's is a functional conv too, as eager's
        AtenRule(("aten.conv_tbc",), _conv_tbc_op),
        AtenRule(("aten.mkldnn_convolution", "aten.cudnn_convolution_relu", "aten.miopen_convolution",
                  "aten.miopen_depthwise_convolution", "aten.miopen_convolution_relu", "aten._nnpack_spatial_convolution",
                  "aten._mps_convolution", "aten._convolution_mode"), _conv_kernel(False, 2), weighted="conv"),
        AtenRule(("aten.cudnn_convolution",), _conv_kernel(False, None), weighted="conv"),
        AtenRule(("aten.cudnn_convolution_add_relu", "aten.miopen_convolution_add_relu"), _conv_kernel(False, 4, 2),
                 weighted="conv"),
        AtenRule(("aten._slow_conv2d_forward", "aten.slow_conv3d_forward", "aten.slow_conv3d", "aten.thnn_conv2d",
                  "aten.slow_conv_dilated2d", "aten.slow_conv_dilated3d", "aten._conv_depthwise2d",
                  "aten.conv_depthwise3d"), _conv_kernel(False, 3), weighted="conv"),
        AtenRule(("aten.slow_conv_transpose2d", "aten.slow_conv_transpose3d"), _conv_kernel(True, 3), weighted="conv"),
        AtenRule(("aten.miopen_convolution_transpose",), _conv_kernel(True, 2), weighted="conv"),
        AtenRule(("aten.cudnn_convolution_transpose", "aten._mps_convolution_transpose"), _conv_kernel(True, None),
                 weighted="conv"),
        AtenRule(_QUANTIZED_CONV_OPS, _quantized_conv_op, weighted="conv", own=True),
    ),
))
