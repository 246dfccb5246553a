"""Answer common ops on meta tensors without torch's meta kernels.

On meta, torch runs BatchNorm and Hardtanh (ReLU6) through Python
decompositions that cost 0.5-0.7 ms a call: 80% of a ResNet-50 or
MobileNetV2 meta forward. In a transformer, LayerNorm, GELU, linear and
scaled dot-product attention cost the same way, 70% of a ViT-B/16's. Their
output's shape, strides and dtype follow from the arguments, so the profiler
answers them directly, with what torch's own meta kernel returns (and
``torch.cat`` too). Each
shortcut checks the arguments the kernel would check for shape errors and
otherwise returns ``NotImplemented``, so the real meta kernel runs and raises
the model's error. Used only while a meta profile runs; the counts are read
from the shapes either way.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch._prims_common import suggest_memory_format
from torch.utils._python_dispatch import _disable_current_modes

from .dispatch_view import below_view
from .kinds import argument

# The aten ops the fast paths' own tensors are told to the dispatch view as.
_EMPTY, _EMPTY_STRIDED = torch.ops.aten.empty.memory_format, torch.ops.aten.empty_strided.default
_EMPTY_LIKE, _SCALAR = torch.ops.aten.empty_like.default, torch.ops.aten.scalar_tensor.default
_FLASH = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default


def _like(data: torch.Tensor) -> torch.Tensor:
    # empty_strided: a tenth of empty_like's cost on meta, same shape, strides and dtype.
    return below_view(torch.empty_strided, _EMPTY_STRIDED, data.shape, data.stride(), dtype=data.dtype, device="meta")


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
    if not all(_per_channel_fits(tensor, channels) for tensor in per_channel) or not _norm_dtypes_fit(data, *per_channel):
        return NotImplemented  # the kernel reports it
    return _like(data)


def hardtanh(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    data = argument(args, kwargs, 0, "input", None)
    low = argument(args, kwargs, 1, "min_val", -1.0)
    high = argument(args, kwargs, 2, "max_val", 1.0)
    if not isinstance(data, torch.Tensor) or data.device.type != "meta" or low > high:
        return NotImplemented
    return data if argument(args, kwargs, 3, "inplace", False) else _like(data)


def _meta(*tensors: Any) -> bool:
    """Every argument a meta tensor (or None), all of one dtype."""
    present = [tensor for tensor in tensors if tensor is not None]
    return all(isinstance(t, torch.Tensor) and t.device.type == "meta" for t in present) and (
        len({t.dtype for t in present}) <= 1
    )


def _contiguous(shape: Any, dtype: torch.dtype, layout: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    return below_view(torch.empty, _EMPTY, shape, dtype=dtype, device="meta", memory_format=layout)


def layer_norm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    data = argument(args, kwargs, 0, "input", None)
    shape = argument(args, kwargs, 1, "normalized_shape", None)
    weight, bias = argument(args, kwargs, 2, "weight", None), argument(args, kwargs, 3, "bias", None)
    if not _meta(data, weight, bias) or data is None or not isinstance(shape, (tuple, list, torch.Size)):
        return NotImplemented
    trailing = tuple(shape)
    if not trailing or tuple(data.shape[data.dim() - len(trailing):]) != trailing or data.dim() < len(trailing):
        return NotImplemented
    if any(t is not None and tuple(t.shape) != trailing for t in (weight, bias)):
        return NotImplemented
    output = _contiguous(data.shape, data.dtype)  # torch's kernel returns a contiguous output
    # ...and, on the CPU, each row's mean and inverse deviation in the input's dtype, dropped at once
    statistics = (*data.shape[:data.dim() - len(trailing)], *(1,) * len(trailing))
    mean, deviation = _contiguous(statistics, data.dtype), _contiguous(statistics, data.dtype)
    del mean, deviation
    return output


def gelu(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    data = argument(args, kwargs, 0, "input", None)
    if not _meta(data) or data is None or not data.is_contiguous():
        return NotImplemented
    if argument(args, kwargs, 1, "approximate", "none") not in ("none", "tanh"):
        return NotImplemented
    return _like(data)


def linear(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    data, weight = argument(args, kwargs, 0, "input", None), argument(args, kwargs, 1, "weight", None)
    bias = argument(args, kwargs, 2, "bias", None)
    if not _meta(data, weight, bias) or data is None or weight is None or weight.dim() != 2 or data.dim() < 1:
        return NotImplemented
    if data.shape[-1] != weight.shape[1] or (bias is not None and tuple(bias.shape) != (weight.shape[0],)):
        return NotImplemented
    out_shape = (*data.shape[:-1], weight.shape[0])
    if data.dim() <= 2 or data.is_contiguous():
        return _contiguous(out_shape, data.dtype)
    # A batch of rows that is not contiguous: on the CPU, torch's matmul copies it into rows
    # when they cannot be viewed as one matrix (meta's route would not), multiplies, and
    # adds the bias out of place (as every composite op does while a dispatch mode watches).
    # The same tensors, created and dropped in the same order, for the memory figures.
    rows = None
    try:
        data.view(-1, data.shape[-1])
    except RuntimeError:
        rows = _contiguous(data.shape, data.dtype)
    product = _contiguous(out_shape, data.dtype)
    del rows
    if bias is None:
        return product
    output = _contiguous(out_shape, data.dtype)
    del product
    return output


def scaled_dot_product_attention(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Where torch's CPU kernel would take its fused path, that kernel's meta outputs, with a
    boolean mask first turned into an additive one as torch does: the same tensors as on the
    CPU (the attention and its log-sum-exp, dropped at once), where meta alone would take the
    unfused route and hold the whole attention matrix. Otherwise torch's route, op by op."""
    query, key, value = (argument(args, kwargs, i, name, None) for i, name in enumerate(("query", "key", "value")))
    mask = argument(args, kwargs, 3, "attn_mask", None)
    dropout = argument(args, kwargs, 4, "dropout_p", 0.0)
    causal = argument(args, kwargs, 5, "is_causal", False)
    scale = argument(args, kwargs, 6, "scale", None)
    gqa = bool(argument(args, kwargs, 7, "enable_gqa", False))
    if len(args) > 8 or not _meta(query, key, value) or query is None or key is None or value is None:
        return NotImplemented
    if not (query.dim() == key.dim() == value.dim() == 4) or (mask is not None and not _meta(mask) and mask.dtype != torch.bool):
        return NotImplemented
    if mask is not None and (not isinstance(mask, torch.Tensor) or mask.device.type != "meta"):
        return NotImplemented
    if key.shape[-2] != value.shape[-2] or query.shape[-1] != key.shape[-1]:
        return NotImplemented  # the kernel reports the mismatch
    if cpu_sdp_choice(query, key, value, mask, dropout, causal, scale, gqa) != int(torch.nn.attention.SDPBackend.FLASH_ATTENTION):
        return NotImplemented  # torch's unfused route, op by op, as on the CPU
    if mask is not None and mask.dtype == torch.bool:
        allowed = below_view(torch.scalar_tensor, _SCALAR, 0.0, dtype=query.dtype, device="meta")
        masked = below_view(torch.scalar_tensor, _SCALAR, float("-inf"), dtype=query.dtype, device="meta")
        # torch.where(mask, allowed, masked), without its slow meta kernel
        mask = below_view(torch.empty_like, _EMPTY_LIKE, mask, dtype=query.dtype)
        del allowed, masked
    fused = below_view(_FLASH, _FLASH, query, key, value, float(dropout or 0.0), bool(causal), attn_mask=mask, scale=scale)
    return fused[0]


def cpu_sdp_choice(query: Any, key: Any, value: Any, mask: Any = None, dropout: float = 0.0,
                   causal: bool = False, scale: float | None = None, enable_gqa: bool = False) -> int:
    """The kernel torch's CPU dispatcher would pick for these attention arguments, asked of
    torch itself with CPU stand-ins of a few elements. The lengths (and the batch) become small
    sizes, each distinct size its own (0 and 1 kept, so equal sizes stay equal and broadcasts
    stay broadcasts); the heads and head sizes are kept as they are, since the choice reads
    them (grouped-query attention needs the query's heads a multiple of the key's), and a
    last dimension that is not dense stays so; dtypes are kept. Asked once per layout."""
    tensors = (query, key, value, mask)
    layout = tuple(None if t is None else (tuple(t.shape), t.dim() >= 2 and t.stride(-1) != 1, t.dtype) for t in tensors)
    return _cpu_sdp_choice(layout, float(dropout or 0.0), bool(causal), scale, bool(enable_gqa))


# Of a (batch, heads, length, head size) tensor, right-aligned: the dims whose sizes are shrunk.
_SHRUNK = {-4: "batch", -2: "length"}
_MASK_SHRUNK = (-4, -2, -1)  # a mask's (batch, heads, query length, key length): all but its heads


@lru_cache(maxsize=256)
def _cpu_sdp_choice(layout: tuple[Any, ...], dropout: float, causal: bool, scale: float | None, gqa: bool) -> int:
    def shrunk_dims(index: int, rank: int) -> tuple[int, ...]:
        return tuple(rank + dim for dim in (_MASK_SHRUNK if index == 3 else tuple(_SHRUNK)) if rank + dim >= 0)

    sizes = sorted({entry[0][dim] for index, entry in enumerate(layout) if entry is not None
                    for dim in shrunk_dims(index, len(entry[0]))})
    small = {size: 2 + rank for rank, size in enumerate(s for s in sizes if s >= 2)}
    small.update({size: size for size in sizes if size < 2})

    def stand_in(index: int, entry: Any) -> Any:
        if entry is None:
            return None
        shape = list(entry[0])
        for dim in shrunk_dims(index, len(shape)):
            shape[dim] = small[shape[dim]]
        sparse_last, dtype = entry[1], entry[2]
        if sparse_last and shape[-1] > 1:
            return torch.empty((*shape[:-2], shape[-1], shape[-2]), dtype=dtype).transpose(-1, -2)
        return torch.empty(shape, dtype=dtype)

    with _disable_current_modes():  # the stand-ins are the profiler's, not the forward's tensors
        return int(torch._fused_sdp_choice(*(stand_in(index, entry) for index, entry in enumerate(layout)),
                                           dropout, causal, scale=scale, enable_gqa=gqa))


def cat(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``torch.cat`` of meta tensors of one dtype and rank: torch's meta kernel for it is
    Python, its checks cost more than the answer."""
    tensors = argument(args, kwargs, 0, "tensors", None)
    dim = argument(args, kwargs, 1, "dim", 0)
    if kwargs.get("out") is not None or len(args) > 2 or not isinstance(tensors, (list, tuple)) or not tensors:
        return NotImplemented
    if not isinstance(dim, int) or not _meta(*tensors) or any(not isinstance(t, torch.Tensor) for t in tensors):
        return NotImplemented
    first = tensors[0]
    rank = first.dim()
    if rank == 0 or not -rank <= dim < rank:
        return NotImplemented
    dim %= rank
    if any(t.dim() != rank or t.shape[:dim] != first.shape[:dim] or t.shape[dim + 1:] != first.shape[dim + 1:]
           for t in tensors):
        return NotImplemented  # the legacy empty 1-D tensor, or a size mismatch the kernel reports
    formats = {suggest_memory_format(t) for t in tensors}
    layout = formats.pop() if len(formats) == 1 else torch.contiguous_format
    shape = (*first.shape[:dim], sum(t.shape[dim] for t in tensors), *first.shape[dim + 1:])
    return _contiguous(shape, first.dtype, layout)


_GROUPED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def _aligned(matrix: torch.Tensor) -> bool:
    """A grouped product's operand as its kernels take it: rows or columns dense, the other
    stride a multiple of 16 bytes."""
    rows, columns = matrix.stride()[-2], matrix.stride()[-1]
    alignment = 16 // matrix.element_size()
    if columns == 1 and rows >= max(1, matrix.shape[-1]):
        return rows % alignment == 0
    if rows == 1 and columns >= max(1, matrix.shape[-2]):
        return columns % alignment == 0
    return False


def grouped_mm(mat_a: Any, mat_b: Any, offs: Any = None, bias: Any = None, out_dtype: Any = None) -> Any:
    """``_grouped_mm`` on meta as the CPU kernel takes it: float32, bfloat16 and float16 alike
    (torch's meta kernel accepts bfloat16 alone, as the CUDA kernel does, so a float32 mixture
    of experts, which runs on the CPU, could not run on meta). Anything else the CPU kernel
    would refuse is left to torch's meta kernel, which says so."""
    if not all(isinstance(t, torch.Tensor) and t.device.type == "meta" for t in (mat_a, mat_b)):
        return NotImplemented
    if mat_a.dtype not in _GROUPED_DTYPES or mat_b.dtype != mat_a.dtype or bias is not None:
        return NotImplemented
    if out_dtype not in (None, mat_a.dtype) or mat_a.dim() not in (2, 3) or mat_b.dim() not in (2, 3):
        return NotImplemented
    if (mat_a.dim() == 3 or mat_b.dim() == 3) and mat_a.shape[-1] != mat_b.shape[-2]:
        return NotImplemented
    if (offs is None) == (mat_a.dim() == 2 or mat_b.dim() == 2) or not (_aligned(mat_a) and _aligned(mat_b)):
        return NotImplemented
    if offs is not None and (offs.dim() != 1 or offs.dtype != torch.int32):
        return NotImplemented
    if mat_a.dim() == 2 and mat_b.dim() == 2:
        shape = (offs.shape[0], mat_a.shape[0], mat_b.shape[1])
    elif mat_a.dim() == 2:
        shape = (mat_a.shape[0], mat_b.shape[-1])
    elif mat_b.dim() == 2:
        shape = (mat_a.shape[1], mat_b.shape[1])
    else:
        shape = (mat_a.shape[0], mat_a.shape[1], mat_b.shape[-1])
    return torch.empty(shape, dtype=mat_a.dtype, device="meta")


def _norm_dtypes_fit(data: Any, *parameters: Any) -> bool:
    """The CPU's norms take parameters of the input's dtype, or float32 ones for a bfloat16 or
    float16 input; torch's meta kernels take any."""
    allowed = {data.dtype} if data.dtype == torch.float32 else {data.dtype, torch.float32}
    return all(t is None or not isinstance(t, torch.Tensor) or t.dtype in allowed for t in parameters)


def _refuse_mixed_norm(name: str, data: Any, *parameters: Any) -> None:
    if isinstance(data, torch.Tensor) and not _norm_dtypes_fit(data, *parameters):
        found = sorted({str(t.dtype) for t in parameters if isinstance(t, torch.Tensor)})
        raise RuntimeError(f"{name}: a {data.dtype} input with parameters of {', '.join(found)}: "
                           "the CPU kernel refuses mixed dtypes")


def _refuse_mixed(name: str, *tensors: Any) -> None:
    """The CPU's products and convolutions take operands of one dtype; torch's meta kernels do not check."""
    dtypes = {t.dtype for t in tensors if isinstance(t, torch.Tensor)}
    if len(dtypes) > 1:
        raise RuntimeError(f"{name}: operands of {', '.join(sorted(map(str, dtypes)))}: "
                           "the CPU kernel takes operands of one dtype")


def checked_mm(*args: Any, **kwargs: Any) -> Any:
    _refuse_mixed("mm", *args[:2])
    return NotImplemented


def checked_addmm(*args: Any, **kwargs: Any) -> Any:
    _refuse_mixed("addmm", *args[:3])
    return NotImplemented


def checked_convolution(*args: Any, **kwargs: Any) -> Any:
    _refuse_mixed("convolution", *args[:3])
    return NotImplemented


def native_layer_norm(data: Any, shape: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Any:
    """``native_layer_norm`` (TorchScript calls it by name) on meta as on the CPU: a contiguous
    output and each row's statistics in the input's dtype, or in float32 beside float32
    parameters (torch's meta kernel keeps them in float32 for any bfloat16 input); mixed
    dtypes refused as the CPU refuses them."""
    _refuse_mixed_norm("layer_norm", data, weight, bias)
    if not isinstance(data, torch.Tensor) or data.device.type != "meta" or not isinstance(shape, (list, tuple)):
        return NotImplemented
    trailing = tuple(shape)
    if not trailing or data.dim() < len(trailing) or tuple(data.shape[data.dim() - len(trailing):]) != trailing:
        return NotImplemented
    if any(isinstance(t, torch.Tensor) and tuple(t.shape) != trailing for t in (weight, bias)):
        return NotImplemented
    statistics = (*data.shape[:data.dim() - len(trailing)], *(1,) * len(trailing))
    # float32 parameters with a lower-precision input: the CPU keeps the statistics in float32
    mixed = any(isinstance(t, torch.Tensor) and t.dtype != data.dtype for t in (weight, bias))
    kept = torch.float32 if mixed else data.dtype
    return (torch.empty(data.shape, dtype=data.dtype, device="meta"),
            torch.empty(statistics, dtype=kept, device="meta"), torch.empty(statistics, dtype=kept, device="meta"))


def native_batch_norm(data: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any, training: bool,
                      momentum: float, eps: float) -> Any:
    """``native_batch_norm`` in eval on meta as on the CPU: the output and two empty statistics
    (torch's meta kernel returns a statistic per channel, which the CPU kernel makes only
    in training). A TorchScript module calls it by name."""
    _refuse_mixed_norm("batch_norm", data, weight, bias, running_mean, running_var)
    if training or not isinstance(data, torch.Tensor) or data.device.type != "meta" or data.dim() < 2:
        return NotImplemented
    if not all(_per_channel_fits(t, data.shape[1]) for t in (weight, bias, running_mean, running_var)):
        return NotImplemented
    output = torch.empty_like(data, memory_format=suggest_memory_format(data))
    return output, torch.empty((0,), dtype=data.dtype, device="meta"), torch.empty((0,), dtype=data.dtype, device="meta")


# aten ops a meta forward answers itself, by id, whatever form called them (an eager function,
# a TorchScript graph, an exported program): their meta kernels refuse what the CPU's takes.
META_KERNELS: dict[int, Callable[..., Any]] = {
    id(torch.ops.aten._grouped_mm.default): grouped_mm,
    id(torch.ops.aten.native_batch_norm.default): native_batch_norm,
    # ops whose meta kernels take mixed dtypes the CPU's refuse: checked, then run as they are
    id(torch.ops.aten.mm.default): checked_mm,
    id(torch.ops.aten.addmm.default): checked_addmm,
    id(torch.ops.aten.convolution.default): checked_convolution,
    id(torch.ops.aten._convolution.default): checked_convolution,
    id(torch.ops.aten.native_layer_norm.default): native_layer_norm,
}


def _mkldnn_takes(data: torch.Tensor) -> bool:
    """Whether torch's CPU LSTM would run this input through its oneDNN kernel, a layer at a time."""
    if not torch._C._get_mkldnn_enabled() or data.numel() == 0:
        return False
    if data.dtype == torch.float32:
        return True
    if data.dtype == torch.bfloat16:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return data.dtype == torch.float16 and not torch.is_grad_enabled() and bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())


def _gru_cell(step: torch.Tensor, hidden: torch.Tensor, weights: list[Any]) -> torch.Tensor:
    """torch's GRU cell given its input's product already made (as its CPU loop does)."""
    chunked_inputs = step.unsafe_chunk(3, 1)
    chunked_hidden = F.linear(hidden, weights[1], weights[3] if len(weights) > 2 else None).unsafe_chunk(3, 1)
    reset = chunked_hidden[0].add_(chunked_inputs[0]).sigmoid_()
    update = chunked_hidden[1].add_(chunked_inputs[1]).sigmoid_()
    new = chunked_inputs[2].add(chunked_hidden[2].mul_(reset)).tanh_()
    return (hidden - new).mul_(update).add_(new)


def _simple_cell(relu: bool) -> Callable[..., torch.Tensor]:
    def cell(step: torch.Tensor, hidden: torch.Tensor, weights: list[Any]) -> torch.Tensor:
        gates = F.linear(hidden, weights[1], weights[3] if len(weights) > 2 else None).add_(step)
        return torch.relu(gates) if relu else torch.tanh(gates)

    return cell


def _lstm_cell(step: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], weights: list[Any],
               has_biases: bool) -> tuple[torch.Tensor, torch.Tensor]:
    hidden, cell = state
    gates = F.linear(hidden, weights[1], weights[3] if has_biases else None).add_(step)
    chunks = gates.unsafe_chunk(4, 1)
    in_gate, forget_gate, cell_gate, out_gate = chunks[0].sigmoid_(), chunks[1].sigmoid_(), chunks[2].tanh_(), chunks[3].sigmoid_()
    new_cell = (forget_gate * cell).add_(in_gate * cell_gate)
    new_hidden = out_gate * new_cell.tanh()
    if len(weights) in (3, 5):  # a projection of the hidden state
        new_hidden = torch.matmul(new_hidden, weights[-1].t())
    return new_hidden, new_cell


def _steps(mode: str, steps: Sequence[torch.Tensor], state: Any, weights: list[Any],
           has_biases: bool) -> tuple[list[torch.Tensor], Any]:
    """The steps of one layer and direction, each given its input's product: their outputs."""
    outputs = []
    for step in steps:
        if mode == "lstm":
            state = _lstm_cell(step, state, weights, has_biases)
            outputs.append(state[0])
        else:
            state = (_gru_cell if mode == "gru" else _simple_cell(mode == "rnn_relu"))(step, state, weights)
            outputs.append(state)
    return outputs, state


def _products(data: torch.Tensor, weights: list[Any], has_biases: bool) -> torch.Tensor:
    return F.linear(data, weights[0], weights[2] if has_biases else None)


def _layer(mode: str, data: torch.Tensor, state: Any, weights: list[Any], has_biases: bool) -> tuple[torch.Tensor, Any]:
    """One layer, one way, as torch's CPU loop runs it: every step's input product made at
    once (kept to the end), then the steps, their outputs stacked."""
    products = _products(data, weights, has_biases)
    outputs, state = _steps(mode, products.unbind(0), state, weights, has_biases)
    return torch.stack(outputs, 0), state


def _both_ways(mode: str, data: torch.Tensor, states: tuple[Any, Any], forward: list[Any], backward: list[Any],
               has_biases: bool) -> tuple[torch.Tensor, tuple[Any, Any]]:
    """One layer both ways, as the CPU loop does: the forward steps' outputs are kept while the
    backward way runs, and its input products are dropped only when the backward's are made."""
    products = _products(data, forward, has_biases)
    steps = products.unbind(0)
    forward_outputs, forward_final = _steps(mode, steps, states[0], forward, has_biases)
    forward_output = torch.stack(forward_outputs, 0)
    products = _products(data, backward, has_biases)
    steps = products.unbind(0)
    backward_outputs, backward_final = _steps(mode, steps[::-1], states[1], backward, has_biases)
    backward_outputs.reverse()
    backward_output = torch.stack(backward_outputs, 0)
    return torch.cat([forward_output, backward_output], forward_output.dim() - 1), (forward_final, backward_final)


def recurrent(mode: str, data: torch.Tensor, states: Any, weights: Sequence[Any], has_biases: bool, layers: int,
              bidirectional: bool, batch_first: bool) -> Any:
    """torch's recurrent layers (``lstm`` off oneDNN, ``gru``, ``rnn_tanh``, ``rnn_relu``) as its
    CPU loop runs them, op for op on any device (on meta, torch's own loop would multiply each
    step's input as it comes, and create other tensors than the CPU)."""
    directions = 2 if bidirectional else 1
    per_cell = len(weights) // (layers * directions)
    layer_input = data.transpose(0, 1) if batch_first else data
    if mode == "lstm":
        hidden, cell = states[0].unbind(0), states[1].unbind(0)
        initial = list(zip(hidden, cell))
    else:
        initial = list(states.unbind(0))
    finals = []
    cells = [list(weights[index * per_cell:(index + 1) * per_cell]) for index in range(layers * directions)]
    for layer in range(layers):
        if bidirectional:
            first = 2 * layer
            layer_input, pair = _both_ways(mode, layer_input, (initial[first], initial[first + 1]), cells[first],
                                           cells[first + 1], has_biases)
            finals.extend(pair)
        else:
            layer_input, final = _layer(mode, layer_input, initial[layer], cells[layer], has_biases)
            finals.append(final)
    # the last states stacked (the cells' before the hidden ones, as torch's compiled loop does),
    # then the output given back its batch-first layout
    if mode == "lstm":
        cells_last = torch.stack([cy for _, cy in finals], 0)
        states_last: tuple[torch.Tensor, ...] = (torch.stack([hy for hy, _ in finals], 0), cells_last)
    else:
        states_last = (torch.stack(finals, 0),)
    return (layer_input.transpose_(0, 1) if batch_first else layer_input, *states_last)


def _recurrent_shortcut(mode: str) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    def shortcut(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if len(args) != 9 or kwargs:
            return NotImplemented  # a packed sequence's overload, or one called by keyword
        data, states, weights, has_biases, layers, _dropout, training, bidirectional, batch_first = args
        tensors = [*weights, *(states if mode == "lstm" else (states,))]
        if training or not isinstance(data, torch.Tensor) or data.device.type != "meta" or data.dim() != 3:
            return NotImplemented
        if not _meta(data, *tensors) or not weights or len(weights) % (layers * (2 if bidirectional else 1)):
            return NotImplemented
        if mode == "lstm":
            found = lstm(args, kwargs)
            if found is not NotImplemented:
                return found
        return recurrent(mode, data, states, weights, bool(has_biases), int(layers), bool(bidirectional),
                         bool(batch_first))

    return shortcut


def lstm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """nn.LSTM on meta as on the CPU: where the CPU takes its oneDNN kernel (``mkldnn_rnn_layer``
    for each layer and direction, the directions' outputs joined, the last states stacked),
    the same ops on meta, so the same tensors are created and dropped in the same order (meta
    alone would run the LSTM step by step, holding other tensors). Otherwise torch's route."""
    if len(args) != 9 or kwargs:
        return NotImplemented  # a packed sequence's overload, or one called by keyword
    data, states, weights, has_biases, layers, _dropout, training, bidirectional, batch_first = args
    if training or not isinstance(data, torch.Tensor) or data.device.type != "meta" or data.dim() != 3:
        return NotImplemented
    directions = 2 if bidirectional else 1
    per_cell = 4 if has_biases else 2
    if len(states) != 2 or len(weights) != layers * directions * per_cell or not _mkldnn_takes(data):
        return NotImplemented  # projections (a fifth weight a cell): torch's own route
    if not _meta(data, *weights, *states):
        return NotImplemented
    hidden, cell = states
    # the kernel takes its input time first and dense, a copy where it is not, kept to its end
    first = (data.transpose(0, 1) if batch_first else data).contiguous()
    layer_input = first
    last_hidden, last_cell = [], []
    for layer in range(layers):
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            w_ih, w_hh, *biases = weights[index * per_cell:(index + 1) * per_cell]
            if not has_biases:
                biases = [torch.zeros_like(w_hh), torch.zeros_like(w_ih)][::-1]
            output, hy, cy, _ = torch.ops.aten.mkldnn_rnn_layer(
                layer_input, w_ih, w_hh, biases[0], biases[1], hidden[index], cell[index], direction == 1, [], 2,
                w_hh.shape[1], 1, bool(has_biases), bool(bidirectional), bool(batch_first), False)
            outputs.append(output)
            last_hidden.append(hy)
            last_cell.append(cy)
        layer_input = torch.cat(outputs, -1) if bidirectional else outputs[0]
        del outputs
    output = layer_input.transpose(0, 1) if batch_first else layer_input
    states = torch.stack(last_hidden), torch.stack(last_cell)
    del first
    return output, *states


SHORTCUTS: dict[Callable[..., Any], Callable[[tuple[Any, ...], dict[str, Any]], Any]] = {
    F.batch_norm: batch_norm,
    F.hardtanh: hardtanh,
    F.layer_norm: layer_norm,
    F.gelu: gelu,
    F.linear: linear,
    F.scaled_dot_product_attention: scaled_dot_product_attention,
    # an exported program's graph calls the aten ops by name
    torch.ops.aten.linear.default: linear,
    torch.ops.aten.scaled_dot_product_attention.default: scaled_dot_product_attention,
    torch.cat: cat,
    torch.concat: cat,
    torch.lstm: _recurrent_shortcut("lstm"),
    torch.gru: _recurrent_shortcut("gru"),
    torch.rnn_tanh: _recurrent_shortcut("rnn_tanh"),
    torch.rnn_relu: _recurrent_shortcut("rnn_relu"),
}
