"""Pin the op formulas (matmul, addmm, addbmm, functional linear, attention, einsum)
against an independent count, against torch's flop counter, and end to end.

The brute-force loops here perform the arithmetic on Python floats, one
multiply and one add at a time, and tally each. Their results are compared
with torch's own op first (so the loop is known to compute the right thing),
and only then are their tallies compared with :mod:`pytest_convbudget.engine.formulas`.
A dot product of n terms is n multiplies and n - 1 adds (the sum starts from
the first product); an added term or bias is one more add per output.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from counted_arithmetic import OpCounter

from pytest_convbudget import profile
from pytest_convbudget.engine.formulas import (
    CallCost,
    MatmulDims,
    addbmm_cost,
    attention_cost,
    einsum_cost,
    linear_op_cost,
    matmul_cost,
    matmul_dims,
)

PROPERTY = settings(max_examples=80, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------
# counted arithmetic
# ---------------------------------------------------------------------------


def ints(shape: Sequence[int], seed: int) -> torch.Tensor:
    """Small integer values in float64, so every result is exact and comparable bitwise."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(-3, 4, tuple(shape), generator=generator).to(torch.float64)


def cells(shape: Sequence[int]) -> itertools.product:
    return itertools.product(*(range(size) for size in shape))


def at(tensor: list[Any] | float, index: Sequence[int]) -> float:
    for i in index:
        tensor = tensor[i]  # type: ignore[index]
    return tensor  # type: ignore[return-value]


def broadcast_index(index: Sequence[int], shape: Sequence[int]) -> tuple[int, ...]:
    """The element of a (right-aligned, size-1-broadcast) operand that a batch index reads."""
    tail = index[len(index) - len(shape):] if shape else ()
    return tuple(0 if size == 1 else i for i, size in zip(tail, shape))


def broadcast_shape(*shapes: Sequence[int]) -> tuple[int, ...]:
    width = max((len(shape) for shape in shapes), default=0)
    padded = [(1,) * (width - len(shape)) + tuple(shape) for shape in shapes]
    return tuple(max(column) for column in zip(*padded))


# ---------------------------------------------------------------------------
# brute-force ops
# ---------------------------------------------------------------------------


def brute_matmul(left: torch.Tensor, right: torch.Tensor, added: torch.Tensor | None = None) -> tuple[torch.Tensor, OpCounter]:
    """``torch.matmul`` (plus an added term, for addmm/baddbmm) by explicit loops."""
    tally = OpCounter()
    a = left.unsqueeze(0) if left.dim() == 1 else left
    b = right.unsqueeze(-1) if right.dim() == 1 else right
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    batch = broadcast_shape(a.shape[:-2], b.shape[:-2])
    a_list, b_list = a.tolist(), b.tolist()
    extra = added.expand(*batch, m, n).tolist() if added is not None else None
    out = torch.zeros(*batch, m, n, dtype=torch.float64)
    for index in cells(batch):
        ai, bi = broadcast_index(index, a.shape[:-2]), broadcast_index(index, b.shape[:-2])
        for i in range(m):
            for j in range(n):
                value = tally.dot([(at(a_list, (*ai, i, p)), at(b_list, (*bi, p, j))) for p in range(k)])
                if extra is not None:
                    value = tally.add(value, at(extra, (*index, i, j)))
                out[(*index, i, j)] = value
    if left.dim() == 1:
        out = out.squeeze(-2)
    if right.dim() == 1:
        out = out.squeeze(-1)
    return out, tally


def brute_addbmm(added: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> tuple[torch.Tensor, OpCounter]:
    """``addbmm``: every output is ONE sum over batch and K, then the added term."""
    tally = OpCounter()
    batch, m, k = left.shape
    n = right.shape[-1]
    a, b, c = left.tolist(), right.tolist(), added.expand(m, n).tolist()
    out = torch.zeros(m, n, dtype=torch.float64)
    for i in range(m):
        for j in range(n):
            value = tally.dot([(a[t][i][p], b[t][p][j]) for t in range(batch) for p in range(k)])
            out[i, j] = tally.add(value, c[i][j])
    return out, tally


def brute_linear(data: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> tuple[torch.Tensor, OpCounter]:
    """``F.linear`` over every leading dim of the input."""
    tally = OpCounter()
    rows = data.reshape(-1, data.shape[-1]).tolist()
    w = weight.tolist()
    b = bias.tolist() if bias is not None else None
    out = []
    for row in rows:
        values = []
        for o, weights in enumerate(w):
            value = tally.dot(list(zip(row, weights)))
            values.append(tally.add(value, b[o]) if b is not None else value)
        out.append(values)
    return torch.tensor(out, dtype=torch.float64).reshape(*data.shape[:-1], weight.shape[0]), tally


def brute_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, OpCounter]:
    """Scores, softmax (uncounted), mix: only the two products' arithmetic is tallied."""
    tally = OpCounter()
    batch = q.shape[:-2]
    length, source = q.shape[-2], k.shape[-2]
    ql, kl, vl = q.tolist(), k.tolist(), v.tolist()
    out = torch.zeros(*batch, length, v.shape[-1], dtype=torch.float64)
    scale = q.shape[-1] ** -0.5
    for index in cells(batch):
        for i in range(length):
            scores = [tally.dot(list(zip(at(ql, (*index, i)), at(kl, (*index, j))))) for j in range(source)]
            weights = torch.softmax(torch.tensor(scores, dtype=torch.float64) * scale, dim=0).tolist()
            for e in range(v.shape[-1]):
                out[(*index, i, e)] = tally.dot([(weights[j], at(vl, (*index, j, e))) for j in range(source)])
    return out, tally


def spell_einsum(equation: str, ranks: Sequence[int]) -> tuple[list[str], str]:
    """Operand and output letters, ``...`` replaced by digits (right-aligned ellipsis dims)."""
    left, _, right = equation.partition("->")
    terms = left.split(",")
    width = max((rank - (len(term) - 3) for term, rank in zip(terms, ranks) if "..." in term), default=0)
    digits = "".join(str(d) for d in range(width))

    def expand(term: str, rank: int) -> str:
        if "..." not in term:
            return term
        own = rank - (len(term) - 3)
        return term.replace("...", digits[width - own:])

    inputs = [expand(term, rank) for term, rank in zip(terms, ranks)]
    if "->" in equation:
        output = right.replace("...", digits)
    else:
        seen = "".join(inputs)
        output = digits + "".join(sorted(c for c in set(seen) if c.isalpha() and seen.count(c) == 1))
    return inputs, output


def brute_einsum(equation: str, operands: Sequence[torch.Tensor]) -> tuple[torch.Tensor, OpCounter]:
    """Left-to-right pairwise contractions: each keeps what the output or a later operand needs."""
    tally = OpCounter()
    inputs, output = spell_einsum(equation, [t.dim() for t in operands])
    sizes: dict[str, int] = {}
    for letters, tensor in zip(inputs, operands):
        for letter, size in zip(letters, tensor.shape):
            sizes[letter] = max(sizes.get(letter, 1), size)
    current_letters, current = inputs[0], operands[0].tolist()
    current_shape = tuple(operands[0].shape)
    for position in range(1, len(operands)):
        letters, other, other_shape = inputs[position], operands[position].tolist(), tuple(operands[position].shape)
        later = set(output).union(*inputs[position + 1:])
        union = list(dict.fromkeys(current_letters + letters))
        kept = [c for c in union if c in later]
        summed = [c for c in union if c not in later]
        result: dict[tuple[int, ...], float] = {}
        for kept_index in cells([sizes[c] for c in kept]):
            values = dict(zip(kept, kept_index))
            pairs = []
            for summed_index in cells([sizes[c] for c in summed]):
                values.update(zip(summed, summed_index))
                a = at(current, [0 if s == 1 else values[c] for c, s in zip(current_letters, current_shape)])
                b = at(other, [0 if s == 1 else values[c] for c, s in zip(letters, other_shape)])
                pairs.append((a, b))
            result[kept_index] = tally.dot(pairs)
        shape = tuple(sizes[c] for c in kept)
        tensor = torch.zeros(shape, dtype=torch.float64)
        for index, value in result.items():
            tensor[index] = value
        current_letters, current, current_shape = "".join(kept), tensor.tolist(), shape
    final = torch.tensor(current, dtype=torch.float64) if current_letters else torch.tensor(current)
    return final.permute([current_letters.index(c) for c in output]) if output else final, tally


# ---------------------------------------------------------------------------
# shapes
# ---------------------------------------------------------------------------

SIZE = st.integers(1, 3)


@st.composite
def matmul_shapes(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two matmul operands: 1-D or not, batch dims that broadcast (size 1 or missing)."""
    m, n, k = draw(SIZE), draw(SIZE), draw(SIZE)
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))

    def operand_batch() -> tuple[int, ...]:
        width = draw(st.integers(0, len(batch)))
        tail = batch[len(batch) - width:]
        return tuple(1 if draw(st.booleans()) else size for size in tail)

    left = (k,) if draw(st.integers(0, 4)) == 0 else (*operand_batch(), m, k)
    right = (k,) if draw(st.integers(0, 4)) == 0 else (*operand_batch(), k, n)
    return left, right


def torch_flops(run: Callable[[], Any]) -> int:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


# ---------------------------------------------------------------------------
# formulas against the loops
# ---------------------------------------------------------------------------


@PROPERTY
@given(shapes=matmul_shapes())
def test_matmul_cost_is_a_counted_matmul(shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    left, right = ints(shapes[0], 1), ints(shapes[1], 2)
    out, tally = brute_matmul(left, right)
    assert torch.equal(out, torch.matmul(left, right))
    assert matmul_cost(matmul_dims(shapes[0], shapes[1])) == tally.cost()
    # torch's counter sees mm/bmm, not mv or dot, and nothing when a 1-D left operand of
    # one element meets a batched right one (matmul runs that as an elementwise multiply)
    if right.dim() >= 2 and not (left.dim() == 1 and left.shape[0] == 1 and right.dim() > 2):
        assert torch_flops(lambda: torch.matmul(left, right)) == 2 * tally.multiplies


@PROPERTY
@given(batch=st.integers(0, 3), m=SIZE, n=SIZE, k=SIZE, added_shape=st.sampled_from(["full", "row", "scalar"]))
def test_addmm_and_baddbmm_add_one_per_output(batch: int, m: int, n: int, k: int, added_shape: str) -> None:
    """``batch == 0`` is addmm on 2-D operands; otherwise baddbmm."""
    lead = (batch,) if batch else ()
    left, right = ints((*lead, m, k), 3), ints((*lead, k, n), 4)
    added = ints({"full": (*lead, m, n), "row": (n,), "scalar": ()}[added_shape], 5)
    out, tally = brute_matmul(left, right, added)
    op = torch.baddbmm if batch else torch.addmm
    assert torch.equal(out, op(added, left, right))
    assert matmul_cost(matmul_dims(left.shape, right.shape), added=True) == tally.cost()
    # torch's counter charges 2 per MAC and nothing for the added term
    assert torch_flops(lambda: op(added, left, right)) == 2 * tally.multiplies


@PROPERTY
@given(batch=SIZE, m=SIZE, n=SIZE, k=SIZE)
def test_addbmm_sums_the_batch_into_each_output(batch: int, m: int, n: int, k: int) -> None:
    left, right, added = ints((batch, m, k), 6), ints((batch, k, n), 7), ints((m, n), 8)
    out, tally = brute_addbmm(added, left, right)
    assert torch.equal(out, torch.addbmm(added, left, right))
    assert addbmm_cost(batch, m, n, k) == tally.cost()
    assert tally.adds == m * n * batch * k  # batch*K - 1 inside the sum, plus the added term


@PROPERTY
@given(lead=st.lists(SIZE, max_size=3), cin=st.integers(1, 4), cout=st.integers(1, 4), bias=st.booleans())
def test_linear_op_cost_is_a_counted_functional_linear(lead: list[int], cin: int, cout: int, bias: bool) -> None:
    data, weight = ints((*lead, cin), 9), ints((cout, cin), 10)
    b = ints((cout,), 11) if bias else None
    out, tally = brute_linear(data, weight, b)
    assert torch.equal(out, F.linear(data, weight, b))
    positions = 1
    for size in lead:
        positions *= size
    assert linear_op_cost(cin, cout, bias, positions) == tally.cost()


@PROPERTY
@given(batch=st.lists(SIZE, max_size=2), length=SIZE, source=SIZE, e=SIZE, ev=SIZE)
def test_attention_cost_is_its_two_counted_products(batch: list[int], length: int, source: int, e: int, ev: int) -> None:
    q, k, v = ints((*batch, length, e), 12), ints((*batch, source, e), 13), ints((*batch, source, ev), 14)
    out, tally = brute_attention(q, k, v)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v))
    b = 1
    for size in batch:
        b *= size
    cost = attention_cost(b, length, source, e, ev)
    assert cost == tally.cost()
    assert cost.macs == b * length * source * (e + ev)
    with sdpa_kernel(SDPBackend.MATH):  # the fused CPU kernel is invisible to torch's counter
        assert torch_flops(lambda: F.scaled_dot_product_attention(q, k, v)) == 2 * cost.macs


def test_flop_counter_misses_the_fused_cpu_attention_kernel() -> None:
    """A blind spot of ``FlopCounterMode``: on CPU, 4-D attention on contiguous inputs
    runs ``_scaled_dot_product_flash_attention_for_cpu``, which is not in its table."""
    q, k, v = ints((1, 1, 2, 3), 1), ints((1, 1, 2, 3), 2), ints((1, 1, 2, 3), 3)
    assert torch_flops(lambda: F.scaled_dot_product_attention(q, k, v)) == 0
    assert attention_cost(1, 2, 2, 3, 3).macs == 2 * 2 * (3 + 3)


@st.composite
def einsum_cases(draw: Any) -> tuple[str, list[tuple[int, ...]]]:
    """2 or 3 operands over letters ijkl; optional ellipsis (with size-1 broadcast);
    explicit or implicit output; letters may be summed within one operand."""
    universe = "ijkl"
    sizes = {c: draw(SIZE) for c in universe}
    count = draw(st.sampled_from([2, 2, 2, 3]))
    ellipsis = draw(st.lists(SIZE, max_size=2)) if draw(st.booleans()) else None
    terms, shapes = [], []
    for _ in range(count):
        letters = draw(st.permutations(universe))[: draw(st.integers(1, 3))]
        shape = [sizes[c] for c in letters]
        term = "".join(letters)
        if ellipsis is not None and draw(st.booleans()):
            own = ellipsis[len(ellipsis) - draw(st.integers(0, len(ellipsis))):]
            own = [1 if draw(st.booleans()) else size for size in own]
            term, shape = "..." + term, own + shape
        terms.append(term)
        shapes.append(tuple(shape))
    used = list(dict.fromkeys("".join(terms).replace(".", "")))
    if draw(st.booleans()):
        equation = ",".join(terms)
    else:
        out = draw(st.permutations(used))[: draw(st.integers(0, len(used)))]
        has_ellipsis = any("..." in term for term in terms)
        equation = ",".join(terms) + "->" + ("..." if has_ellipsis else "") + "".join(out)
    return equation, shapes


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=einsum_cases())
def test_einsum_cost_is_counted_pairwise_from_the_left(case: tuple[str, list[tuple[int, ...]]]) -> None:
    equation, shapes = case
    operands = [ints(shape, 20 + index) for index, shape in enumerate(shapes)]
    out, tally = brute_einsum(equation, operands)
    assert torch.equal(out, torch.einsum(equation, *operands)), equation
    assert einsum_cost(equation, shapes) == tally.cost(), (equation, shapes)


@pytest.mark.parametrize("equation, shapes, macs, flops", [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], 2 * 3 * 5 * 4, 2 * 3 * 5 * 7),  # a bmm
    ("ij,jk", [(3, 4), (4, 5)], 3 * 5 * 4, 3 * 5 * 7),  # implicit output: ik
    ("ij,kl->", [(2, 3), (4, 5)], 120, 239),  # everything summed: one dot of 120 terms
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)], 2 * 5 * 3 * 2 * 4, 2 * 5 * 3 * 2 * 7),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)], 2 * 4 * 3 + 2 * 5 * 4, 2 * 4 * 5 + 2 * 5 * 7),
    ("ii->i", [(3, 3)], 0, 0),
    ("ij->ji", [(3, 4)], 0, 0),
])
def test_einsum_worked_examples(equation: str, shapes: list[tuple[int, ...]], macs: int, flops: int) -> None:
    """Hand-worked figures, so a bug shared by the loop and the formula still shows."""
    assert einsum_cost(equation, shapes) == CallCost(macs=macs, flops=flops)


def test_matmul_cost_of_huge_shapes_stays_an_exact_int() -> None:
    cost = matmul_cost(MatmulDims(batch=10**6, m=10**6, n=10**6, k=10**6 + 1), added=True)
    assert cost.macs == 10**24 + 10**18 and cost.flops == 2 * cost.macs
    assert isinstance(cost.macs, int) and isinstance(cost.flops, int)


def test_flop_counter_misses_matrix_vector_products() -> None:
    """A blind spot of ``FlopCounterMode``: ``mv`` and ``dot`` are not in its table,
    while our count charges their real multiplies."""
    matrix, vector = ints((3, 4), 1), ints((4,), 2)
    assert torch_flops(lambda: torch.matmul(matrix, vector)) == 0
    assert torch_flops(lambda: torch.matmul(vector, vector)) == 0
    assert matmul_cost(matmul_dims((3, 4), (4,))).macs == 12
    assert matmul_cost(matmul_dims((4,), (4,))) == CallCost(macs=4, flops=7)
    row, batched = ints((1,), 3), ints((2, 1, 3), 4)
    assert torch_flops(lambda: torch.matmul(row, batched)) == 0
    assert matmul_cost(matmul_dims((1,), (2, 1, 3))).macs == 6


# ---------------------------------------------------------------------------
# profile() end to end
# ---------------------------------------------------------------------------


class Op(nn.Module):
    """Runs one op; its tensors are made here so meta and cpu see the same shapes."""

    def __init__(self, run: Callable[..., torch.Tensor], **parameters: torch.Tensor) -> None:
        super().__init__()
        self.run = run
        for name, tensor in parameters.items():
            self.register_parameter(name, nn.Parameter(tensor))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.run(self, *inputs)


class Wrapper(nn.Module):
    """The op one level down, so attribution to the innermost module is visible."""

    def __init__(self, op: Op) -> None:
        super().__init__()
        self.pre = nn.Identity()
        self.inner = op

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.inner(*(self.pre(x) for x in inputs))


def wrapped(op: Op) -> nn.Module:
    return Wrapper(op)


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    op: Callable[[], Op]
    inputs: Callable[[], tuple[torch.Tensor, ...]]
    brute: Callable[[Op, tuple[torch.Tensor, ...]], OpCounter]
    params: int  # tensors the op consumed, each once


CASES = [
    Case("x @ w", "matmul", lambda: Op(lambda m, x: x @ m.w, w=ints((4, 5), 1)),
         lambda: (ints((2, 3, 4), 2),), lambda m, i: brute_matmul(i[0], m.w.detach())[1], 20),
    Case("bmm", "matmul", lambda: Op(lambda m, x, y: torch.bmm(x, y)),
         lambda: (ints((2, 3, 4), 3), ints((2, 4, 5), 4)), lambda m, i: brute_matmul(i[0], i[1])[1], 0),
    Case("baddbmm", "matmul", lambda: Op(lambda m, c, x, y: torch.baddbmm(c, x, y)),
         lambda: (ints((2, 3, 5), 5), ints((2, 3, 4), 3), ints((2, 4, 5), 4)),
         lambda m, i: brute_matmul(i[1], i[2], i[0])[1], 0),
    Case("addbmm", "matmul", lambda: Op(lambda m, x, y: torch.addbmm(m.c, x, y), c=ints((3, 5), 6)),
         lambda: (ints((2, 3, 4), 3), ints((2, 4, 5), 4)),
         lambda m, i: brute_addbmm(m.c.detach(), i[0], i[1])[1], 15),
    Case("einsum", "matmul", lambda: Op(lambda m, x: torch.einsum("bqd,dk->bqk", x, m.w), w=ints((4, 6), 7)),
         lambda: (ints((2, 3, 4), 8),), lambda m, i: brute_einsum("bqd,dk->bqk", [i[0], m.w.detach()])[1], 24),
    Case("sdpa", "attention", lambda: Op(lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v)),
         lambda: (ints((2, 2, 3, 4), 9), ints((2, 2, 5, 4), 10), ints((2, 2, 5, 6), 11)),
         lambda m, i: brute_attention(*i)[1], 0),
    Case("addmm linear", "linear", lambda: Op(lambda m, x: torch.addmm(m.b, x, m.w.t()), w=ints((5, 4), 12), b=ints((5,), 13)),
         lambda: (ints((3, 4), 14),), lambda m, i: brute_matmul(i[0], m.w.detach().t(), m.b.detach())[1], 25),
    Case("F.linear", "linear", lambda: Op(lambda m, x: F.linear(x, m.w, m.b), w=ints((5, 4), 15), b=ints((5,), 16)),
         lambda: (ints((2, 3, 2, 4), 17),), lambda m, i: brute_linear(i[0], m.w.detach(), m.b.detach())[1], 25),
    Case("F.conv2d", "functional_conv", lambda: Op(lambda m, x: F.conv2d(x, m.w), w=ints((3, 2, 2, 2), 18)),
         lambda: (ints((2, 2, 4, 4), 19),),
         # every output of 2*3*3*3 is a dot of 2*2*2 = 8 terms, no bias
         lambda m, i: OpCounter(multiplies=54 * 8, adds=54 * 7), 24),
]


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_profile_counts_each_op_under_its_innermost_module(case: Case, device: str) -> None:
    op = case.op()
    inputs = case.inputs()
    expected = case.brute(op, inputs).cost()
    model = wrapped(op)
    cost = profile(model, *inputs, device=device, count=case.kind)
    assert (cost.total_macs, cost.total_flops) == (expected.macs, expected.flops)
    assert [(layer.name, layer.kind) for layer in cost.layers] == [("inner", case.kind)]
    assert cost.params == case.params
    assert cost.uncounted == ()
    # under the default count, the same op stays outside the totals but is listed
    default = profile(model, *inputs, device=device)
    assert default.total_macs == 0
    assert [(call.kind, call.total_macs) for call in default.uncounted] == [(case.kind, expected.macs)]


def test_a_tensor_used_twice_in_one_matmul_is_one_param() -> None:
    """``w @ w`` consumes one parameter: its elements are counted once."""
    model = wrapped(Op(lambda m, x: x @ (m.w @ m.w), w=ints((3, 3), 1)))
    cost = profile(model, ints((2, 3), 2), device="meta", count="matmul")
    assert cost.params == 9
    assert cost.total_macs == 27 + 2 * 3 * 3
