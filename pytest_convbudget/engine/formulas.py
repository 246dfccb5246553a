"""The cost model as pure functions of shapes.

Every function takes plain integers and tuples and returns exact Python
integers. The module formulas (convs, ``nn.Linear``) give ONE sample of one
call and the profiler multiplies by the call's batch; the op formulas
(matmuls, attention, einsum) give the whole call. Nothing here imports torch,
so the formulas can be tested and read on their own. A dot product of ``n``
terms is ``n`` multiplies and ``n - 1`` adds; a bias or an added term is one
more add per output.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Sequence


@dataclass(frozen=True)
class CallCost:
    """MACs and FLOPs of one sample of one layer call."""

    macs: int
    flops: int


def conv_params(
    kernel_size: Sequence[int], in_channels: int, out_channels: int, groups: int, bias: bool
) -> int:
    """``prod(k) * Cin/g * Cout`` weights, plus ``Cout`` biases (also for transposed convs)."""
    weights = prod(kernel_size) * (in_channels // groups) * out_channels
    return weights + (out_channels if bias else 0)


def conv_cost(
    kernel_size: Sequence[int],
    in_channels: int,
    out_channels: int,
    groups: int,
    bias: bool,
    out_spatial: Sequence[int],
) -> CallCost:
    """An ordinary (possibly strided, dilated, grouped, padded) convolution.

    Each output element is a dot product of ``prod(k) * Cin/g`` terms.
    Stride, padding, dilation and padding mode only change ``out_spatial``.
    """
    terms = prod(kernel_size) * (in_channels // groups)
    outputs = out_channels * prod(out_spatial)
    macs = terms * outputs
    flops = (2 * terms if bias else 2 * terms - 1) * outputs
    return CallCost(macs=macs, flops=flops)


def transposed_conv_cost(
    kernel_size: Sequence[int],
    in_channels: int,
    out_channels: int,
    groups: int,
    bias: bool,
    in_spatial: Sequence[int],
    out_spatial: Sequence[int],
) -> CallCost:
    """A transposed convolution, counted by scatter.

    Every input element meets every kernel tap of each output channel of its
    group: ``prod(k) * Cin/g * Cout * prod(in)`` multiplies (the count
    ``torch.utils.flop_counter`` makes, not one based on the output size).
    Every output is then one sum of its contributions: ``MACs - Cout*prod(out)``
    adds, plus one add per output for the bias.
    """
    macs = prod(kernel_size) * (in_channels // groups) * out_channels * prod(in_spatial)
    outputs = out_channels * prod(out_spatial)
    flops = 2 * macs - outputs + (outputs if bias else 0)
    return CallCost(macs=macs, flops=flops)


def functional_conv_cost(
    weight_shape: Sequence[int], input_shape: Sequence[int], output_shape: Sequence[int], transposed: bool, bias: bool,
) -> CallCost:
    """A conv called as a function (``F.conv2d``, ``torch.convolution``): the module
    formulas above, read off the tensors' shapes.

    The channel dim sits just before the kernel's spatial dims; every dim in front
    of it (the batch, or none) counts as more output (or input) positions. The groups
    follow from the input channels against the weight's: ``Cin / (weight.shape[1])``
    for a regular conv, ``Cout / weight.shape[1]`` for a transposed one.
    """
    kernel = tuple(weight_shape[2:])

    def channels_and_rest(shape: Sequence[int]) -> tuple[int, tuple[int, ...]]:
        channel = len(shape) - len(kernel) - 1
        return shape[channel], tuple(shape[:channel]) + tuple(shape[channel + 1 :])

    in_channels, in_rest = channels_and_rest(input_shape)
    out_channels, out_rest = channels_and_rest(output_shape)
    if transposed:
        groups = out_channels // weight_shape[1]
        return transposed_conv_cost(kernel, in_channels, out_channels, groups, bias, in_rest, out_rest)
    groups = in_channels // weight_shape[1]
    return conv_cost(kernel, in_channels, out_channels, groups, bias, out_rest)


def linear_params(in_features: int, out_features: int, bias: bool) -> int:
    """``in * out`` weights plus ``out`` biases."""
    return in_features * out_features + (out_features if bias else 0)


def linear_cost(in_features: int, out_features: int, bias: bool, positions: int) -> CallCost:
    """``nn.Linear`` as a 1x1 convolution over its input's last dimension.

    ``positions`` is the product of the input's dimensions between the batch
    and the feature dimension (1 for a plain ``(batch, features)`` input).
    """
    return conv_cost((1,), in_features, out_features, 1, bias, (positions,))


def broadcast_batch(*batch_shapes: Sequence[int]) -> int:
    """Elements of the broadcast of several batch shapes (numpy rules), as an int."""
    width = max((len(shape) for shape in batch_shapes), default=0)
    sizes = []
    for position in range(1, width + 1):
        dims = {shape[-position] for shape in batch_shapes if len(shape) >= position}
        dims.discard(1)
        if len(dims) > 1:
            raise ValueError(f"batch shapes {[tuple(s) for s in batch_shapes]} do not broadcast")
        sizes.append(dims.pop() if dims else 1)
    return prod(sizes)


@dataclass(frozen=True)
class MatmulDims:
    """A (batched) matrix product: ``batch`` products of ``(M, K) @ (K, N)``."""

    batch: int
    m: int
    n: int
    k: int


def matmul_dims(left: Sequence[int], right: Sequence[int]) -> MatmulDims:
    """The dims of ``torch.matmul(left, right)``: 1-D operands and broadcast batches.

    A 1-D left operand is a row (M = 1), a 1-D right operand a column (N = 1).
    """
    if not left or not right:
        raise ValueError("matmul needs operands of at least one dimension")
    m, k = (1, left[0]) if len(left) == 1 else (left[-2], left[-1])
    n = 1 if len(right) == 1 else right[-1]
    batch = broadcast_batch(tuple(left[:-2]), tuple(right[:-2]))
    return MatmulDims(batch=batch, m=m, n=n, k=k)


def matmul_cost(dims: MatmulDims, added: bool = False) -> CallCost:
    """``batch*M*N*K`` MACs; each output is a dot product of K terms, plus one add
    when a term is added to it (``addmm``, ``baddbmm``). Scaling by ``alpha``/``beta``
    is not counted."""
    outputs = dims.batch * dims.m * dims.n
    return CallCost(macs=outputs * dims.k, flops=(2 * dims.k - 1 + (1 if added else 0)) * outputs)


def addbmm_cost(batch: int, m: int, n: int, k: int) -> CallCost:
    """``addbmm``: the ``batch`` products are summed into one ``(M, N)`` output, so each
    output is one dot product of ``batch*K`` terms, plus the added term."""
    terms = batch * k
    return CallCost(macs=m * n * terms, flops=(2 * terms - 1 + 1) * m * n)


def linear_op_cost(in_features: int, out_features: int, bias: bool, positions: int) -> CallCost:
    """A functional linear over ``positions`` rows (every leading dim of its input)."""
    return conv_cost((1,), in_features, out_features, 1, bias, (positions,))


def attention_cost(batch: int, query_len: int, key_len: int, head_dim: int, value_dim: int) -> CallCost:
    """Scaled dot-product attention as its two matmuls, ``Q K^T`` and ``A V``.

    ``batch`` covers every leading dim (batch x heads). Softmax, the scaling and
    the mask are elementwise and not counted.
    """
    scores = matmul_cost(MatmulDims(batch, query_len, key_len, head_dim))
    mixed = matmul_cost(MatmulDims(batch, query_len, value_dim, key_len))
    return CallCost(macs=scores.macs + mixed.macs, flops=scores.flops + mixed.flops)


def einsum_cost(equation: str, shapes: Sequence[Sequence[int]]) -> CallCost:
    """An ``einsum`` of two or more operands, as pairwise contractions from the left.

    Each contraction multiplies every pair of elements that share their common
    indices and sums over the indices that neither the output nor a later
    operand needs: ``outputs * terms`` MACs and ``(2*terms - 1) * outputs`` FLOPs.
    That is torch's own order when ``opt_einsum`` is not installed. An index
    summed within one operand alone is counted as part of the contraction it
    joins. One operand (a transpose, trace or sum) is no contraction: zero.
    """
    inputs, output = _parse_einsum(equation, shapes)
    if len(inputs) < 2:
        return CallCost(macs=0, flops=0)
    sizes: dict[str, int] = {}
    for letters, shape in zip(inputs, shapes):
        for letter, size in zip(letters, shape):
            sizes[letter] = max(sizes.get(letter, 1), size)  # a size-1 index broadcasts
    macs = flops = 0
    current = inputs[0]
    for index in range(1, len(inputs)):
        operand = inputs[index]
        later = set(output).union(*inputs[index + 1 :])
        kept = [letter for letter in dict.fromkeys(current + operand) if letter in later]
        summed = [letter for letter in dict.fromkeys(current + operand) if letter not in later]
        outputs = prod(sizes[letter] for letter in kept)
        terms = prod(sizes[letter] for letter in summed)
        macs += outputs * terms
        flops += (2 * terms - 1) * outputs
        current = "".join(kept)
    return CallCost(macs=macs, flops=flops)


def _parse_einsum(equation: str, shapes: Sequence[Sequence[int]]) -> tuple[list[str], str]:
    """Operand and output subscripts, with ``...`` spelled out as upper-case letters."""
    text = equation.replace(" ", "")
    left, arrow, right = text.partition("->")
    operands = left.split(",")
    if len(operands) != len(shapes):
        raise ValueError(f"einsum {equation!r} names {len(operands)} operands, got {len(shapes)}")
    ellipsis_width = max(
        (len(shape) - (len(term) - 3) for term, shape in zip(operands, shapes) if "..." in term), default=0
    )
    spare = "".join(chr(code) for code in range(ord("A"), ord("Z") + 1) if chr(code) not in text)[:ellipsis_width]

    def spell(term: str, rank: int) -> str:
        if "..." not in term:
            return term
        width = rank - (len(term) - 3)
        return term.replace("...", spare[len(spare) - width :] if width else "")

    inputs = [spell(term, len(shape)) for term, shape in zip(operands, shapes)]
    if arrow:
        output = spell(right, len(right) - 3 + ellipsis_width) if "..." in right else right
    else:  # implicit output: the ellipsis, then every letter seen once, in order
        counts: dict[str, int] = {}
        for term in inputs:
            for letter in term:
                counts[letter] = counts.get(letter, 0) + 1
        output = spare + "".join(sorted(letter for letter, uses in counts.items() if uses == 1 and letter not in spare))
    return inputs, output


def grouped_mm_cost(left: Sequence[int], right: Sequence[int], groups: int) -> CallCost:
    """``_grouped_mm(a, b, offs)``: one product per group, the groups cut by ``offs``.

    - ``a (M, K)`` with ``b (G, K, N)`` (a mixture of experts: every row of ``a`` meets one
      expert's weight) and ``a (G, M, K)`` with ``b (K, N)``: every output is a dot product
      of ``K`` terms, as one ``(M, K) @ (K, N)`` product;
    - ``a (M, K)`` with ``b (K, N)``: the groups cut ``K``, each group's output is a dot
      product of its own terms: ``M*N*K`` MACs, ``(2K - G)*M*N`` FLOPs;
    - ``a (G, M, K)`` with ``b (G, K, N)``: a batched product.

    Counted from the shapes: every row an operand holds, also rows past ``offs[-1]`` that
    the kernel leaves alone (an expert-parallel layout's padding), so that a meta forward,
    which has no offsets, counts what the real one does.
    """
    if len(left) == 2 and len(right) == 2:
        m, k, n = left[0], left[1], right[1]
        return CallCost(macs=m * n * k, flops=(2 * k - groups) * m * n)
    if len(left) == 3 and len(right) == 3:
        return matmul_cost(MatmulDims(left[0], left[1], right[2], left[2]))
    if len(left) == 2:
        return matmul_cost(MatmulDims(1, left[0], right[2], left[1]))
    return matmul_cost(MatmulDims(1, left[1], right[1], left[2]))


def cdist_cost(batch: int, rows: int, columns: int, features: int, as_matmul: bool) -> CallCost:
    """``torch.cdist`` of ``(rows, features)`` and ``(columns, features)`` points, ``batch`` times.

    Its matrix-product mode (the p=2 distance of many points) runs one product of
    ``features + 2`` terms per pair (the points, their squared norms and ones): counted as
    that product. Otherwise each pair is ``features`` differences, ``features`` powers and
    their sum: ``features`` MACs, ``3*features - 1`` FLOPs (the root is not counted, as
    no elementwise op is).
    """
    pairs = batch * rows * columns
    if as_matmul:
        return matmul_cost(MatmulDims(batch, rows, columns, features + 2))
    return CallCost(macs=pairs * features, flops=pairs * (3 * features - 1))


def sparse_mm_cost(stored: int, columns: int, added_outputs: int = 0) -> CallCost:
    """A sparse matrix of ``stored`` entries times a dense one of ``columns`` columns: each
    stored entry meets each column once, its product added into an output that starts at
    zero (as sparse kernels accumulate): ``stored*columns`` MACs and twice that in FLOPs,
    plus one add per output of an added term (``addmm``)."""
    return CallCost(macs=stored * columns, flops=2 * stored * columns + added_outputs)


def sparse_sparse_mm_cost(pairs: int) -> CallCost:
    """Two sparse matrices: ``pairs`` is the number of stored entries ``(i, k)`` of the
    left and ``(k, j)`` of the right that meet; each is one multiply, added into a zero
    output."""
    return CallCost(macs=pairs, flops=2 * pairs)
