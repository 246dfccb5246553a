"""Products outside the classic matmuls: grouped products (mixtures of experts), bilinear
layers, ``cdist``, ``conv_tbc`` and sparse products, pinned against counted arithmetic.

Each brute-force loop performs the op one multiply and one add at a time on Python floats
through :class:`counted_arithmetic.OpCounter`; its result is first compared with torch's op
(so the loop is known to compute the right thing), then its tally with the formula. The end
to end tests profile each op in a model, on meta and on the CPU, with ``count="all"``.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from counted_arithmetic import OpCounter

from pytest_convbudget import profile
from pytest_convbudget.engine.formulas import (
    CallCost,
    cdist_cost,
    conv_cost,
    einsum_cost,
    grouped_mm_cost,
    sparse_mm_cost,
    sparse_sparse_mm_cost,
)


def ints(*shape: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(-3, 4, shape, generator=generator).to(torch.float64)


def sums(counter: OpCounter, values: list[float]) -> float:
    total = None
    for value in values:
        total = counter.accumulate(total, value)
    assert total is not None
    return total


# ---------------------------------------------------------------------------
# grouped products
# ---------------------------------------------------------------------------


def brute_grouped(a: torch.Tensor, b: torch.Tensor, offsets: list[int]) -> tuple[torch.Tensor, OpCounter]:
    """Rows of ``a`` cut by ``offsets``, each group times its own matrix of ``b (G, K, N)``."""
    tally = OpCounter()
    rows, _ = a.shape
    groups, k, n = b.shape
    out = torch.zeros(rows, n, dtype=torch.float64)
    start = 0
    for group, end in enumerate(offsets):
        for row in range(start, end):
            for column in range(n):
                out[row, column] = tally.dot([(a[row, p].item(), b[group, p, column].item()) for p in range(k)])
        start = end
    return out, tally


def brute_grouped_by_k(a: torch.Tensor, b: torch.Tensor, offsets: list[int]) -> tuple[torch.Tensor, OpCounter]:
    """``a (M, K)`` and ``b (K, N)`` with ``K`` cut into groups: one ``(M, N)`` product per group."""
    tally = OpCounter()
    m, n = a.shape[0], b.shape[1]
    out = torch.zeros(len(offsets), m, n, dtype=torch.float64)
    start = 0
    for group, end in enumerate(offsets):
        for i in range(m):
            for j in range(n):
                out[group, i, j] = tally.dot([(a[i, p].item(), b[p, j].item()) for p in range(start, end)])
        start = end
    return out, tally


@pytest.mark.parametrize("rows, groups, k, n, offsets", [
    (10, 3, 4, 4, [3, 7, 10]),
    (6, 2, 8, 4, [6, 6]),  # an expert no token chose
    (5, 4, 4, 8, [1, 2, 3, 5]),
])
def test_grouped_rows_count_as_every_row_times_its_expert(rows: int, groups: int, k: int, n: int,
                                                           offsets: list[int]) -> None:
    a, b = ints(rows, k), ints(groups, k, n, seed=1)
    out, tally = brute_grouped(a, b, offsets)
    real = torch._grouped_mm(a.float(), b.float(), offs=torch.tensor(offsets, dtype=torch.int32))
    assert torch.equal(real.double(), out)
    assert grouped_mm_cost((rows, k), (groups, k, n), groups) == tally.cost()


def test_grouped_contraction_counts_each_groups_own_sum() -> None:
    a, b, offsets = ints(4, 8), ints(8, 4, seed=2), [3, 5, 8]
    out, tally = brute_grouped_by_k(a, b, offsets)
    real = torch._grouped_mm(a.float(), b.float(), offs=torch.tensor(offsets, dtype=torch.int32))
    assert torch.equal(real.double(), out)
    assert grouped_mm_cost((4, 8), (8, 4), len(offsets)) == tally.cost()


def test_grouped_batches_count_as_a_batched_product() -> None:
    assert grouped_mm_cost((3, 5, 4), (3, 4, 8), 3) == CallCost(macs=3 * 5 * 8 * 4, flops=3 * 5 * 8 * 7)


class Experts(nn.Module):
    """Every token's row times its expert's weight, as transformers' grouped_mm path runs it."""

    def __init__(self, experts: int = 4, hidden: int = 8, out: int = 16) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(experts, out, hidden))

    def forward(self, x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return F.grouped_mm(x, self.weight.transpose(-2, -1), offs=offsets)


def test_a_grouped_product_of_a_weight_is_a_linear_on_meta_and_on_the_cpu() -> None:
    """torch's meta kernel takes bfloat16 alone; the CPU's float32 too, and so does a meta profile."""
    model, x = Experts(), torch.randn(12, 8)
    offsets = torch.tensor([2, 6, 9, 12], dtype=torch.int32)
    expected = grouped_mm_cost((12, 8), (4, 8, 16), 4)
    costs = [profile(model, x, offsets, count="all", device=device) for device in ("meta", "cpu")]
    for cost in costs:
        assert [(layer.kind, layer.name, layer.type) for layer in cost.layers] == [("linear", "(root)", "_grouped_mm")]
        assert (cost.total_macs, cost.total_flops, cost.params) == (expected.macs, expected.flops, 4 * 16 * 8)
    assert costs[0].activation_bytes == costs[1].activation_bytes == 12 * 16 * 4
    default = profile(model, x, offsets)
    assert default.total_flops == 0 and [call.kind for call in default.uncounted] == ["linear"]


# ---------------------------------------------------------------------------
# bilinear
# ---------------------------------------------------------------------------


def brute_bilinear(x1: torch.Tensor, x2: torch.Tensor, weight: torch.Tensor,
                   bias: torch.Tensor | None) -> tuple[torch.Tensor, OpCounter]:
    """``x1 W x2 + b`` as torch's ``_trilinear`` runs it: ``x1`` with ``W`` first, then ``x2``."""
    tally = OpCounter()
    rows, (outputs, in1, in2) = x1.shape[0], weight.shape
    out = torch.zeros(rows, outputs, dtype=torch.float64)
    for r, o in itertools.product(range(rows), range(outputs)):
        inner = [tally.dot([(x1[r, i].item(), weight[o, i, j].item()) for i in range(in1)]) for j in range(in2)]
        value = tally.dot([(inner[j], x2[r, j].item()) for j in range(in2)])
        out[r, o] = tally.add(value, bias[o].item()) if bias is not None else value
    return out, tally


@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_counts_both_contractions_and_its_bias(bias: bool) -> None:
    layer = nn.Bilinear(5, 3, 4, bias=bias).double()
    with torch.no_grad():
        layer.weight.copy_(ints(4, 5, 3, seed=3))
        if bias:
            layer.bias.copy_(ints(4, seed=4))
    x1, x2 = ints(2, 5, seed=5), ints(2, 3, seed=6)
    out, tally = brute_bilinear(x1, x2, layer.weight, layer.bias)
    assert torch.equal(layer(x1, x2).detach(), out)
    for device in ("meta", "cpu"):
        cost = profile(layer, x1, x2, count="all", device=device)
        assert (cost.total_macs, cost.total_flops) == (tally.multiplies, tally.flops)
        assert [(layer_cost.kind, layer_cost.type) for layer_cost in cost.layers] == [("linear", "bilinear")]
        assert cost.params == 4 * 5 * 3 + (4 if bias else 0)


def test_a_wide_bilinear_counts_its_quarter_billion_macs_a_sample() -> None:
    """nn.Bilinear(2048, 2048, 64): about 268 M MACs a sample, where 0 were counted."""
    with torch.device("meta"):
        layer = nn.Bilinear(2048, 2048, 64)
    cost = profile(layer, torch.randn(2, 2048), torch.randn(2, 2048), count="all")
    assert cost.macs == 64 * 2048 * (2048 + 1)


def test_trilinear_in_a_graph_counts_as_the_bilinear_it_runs() -> None:
    """A TorchScript module calls ``aten._trilinear`` itself: the same figures as eager."""
    layer = nn.Bilinear(5, 3, 4)
    x1, x2 = torch.randn(2, 5), torch.randn(2, 3)
    scripted = torch.jit.trace(layer, (x1, x2))
    eager, graph = (profile(model, x1, x2, count="all", device="cpu") for model in (layer, scripted))
    assert (graph.total_macs, graph.total_flops, graph.params) == (eager.total_macs, eager.total_flops, eager.params)


# ---------------------------------------------------------------------------
# cdist
# ---------------------------------------------------------------------------


def brute_cdist_product(x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, OpCounter]:
    """cdist's product mode: ``[-2 x1, |x1|^2, 1] . [x2, 1, |x2|^2]`` per pair (norms uncounted)."""
    tally = OpCounter()
    rows, columns = x1.shape[0], x2.shape[0]
    left = [[-2 * v for v in row] + [sum(v * v for v in row), 1.0] for row in x1.tolist()]
    right = [row + [1.0, sum(v * v for v in row)] for row in x2.tolist()]
    out = torch.zeros(rows, columns, dtype=torch.float64)
    for i, j in itertools.product(range(rows), range(columns)):
        out[i, j] = max(tally.dot(list(zip(left[i], right[j]))), 0.0) ** 0.5
    return out, tally


def brute_cdist_direct(x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, OpCounter]:
    """cdist's direct mode: a difference, a square and a sum per feature (the root uncounted)."""
    tally = OpCounter()
    out = torch.zeros(x1.shape[0], x2.shape[0], dtype=torch.float64)
    for i, j in itertools.product(range(x1.shape[0]), range(x2.shape[0])):
        squares = []
        for a, b in zip(x1[i].tolist(), x2[j].tolist()):
            difference = tally.add(a, -b)
            squares.append(tally.mul(difference, difference))
        out[i, j] = sums(tally, squares) ** 0.5
    return out, tally


def test_cdist_counts_the_product_its_mode_runs_and_the_direct_distance_otherwise() -> None:
    x1, x2 = ints(3, 4, seed=7), ints(5, 4, seed=8)
    product, product_tally = brute_cdist_product(x1, x2)
    direct, direct_tally = brute_cdist_direct(x1, x2)
    assert torch.allclose(torch.cdist(x1, x2, compute_mode="use_mm_for_euclid_dist"), product)
    assert torch.allclose(torch.cdist(x1, x2, compute_mode="donot_use_mm_for_euclid_dist"), direct)
    assert cdist_cost(1, 3, 5, 4, as_matmul=True) == product_tally.cost()
    # the direct mode's differences are adds: MACs count its squares
    assert cdist_cost(1, 3, 5, 4, as_matmul=False) == CallCost(macs=direct_tally.multiplies, flops=direct_tally.flops)


class Distances(nn.Module):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cdist(x, y, compute_mode=self.mode)


@pytest.mark.parametrize("mode, points, as_matmul", [
    ("use_mm_for_euclid_dist_if_necessary", 30, True),  # past 25 points a side: the product
    ("use_mm_for_euclid_dist_if_necessary", 8, False),
    ("use_mm_for_euclid_dist", 8, True),
    ("donot_use_mm_for_euclid_dist", 30, False),
])
def test_cdist_in_a_model_counts_as_matmul_work(mode: str, points: int, as_matmul: bool) -> None:
    x, y = torch.randn(2, points, 4), torch.randn(2, 6, 4)
    expected = cdist_cost(2, points, 6, 4, as_matmul)
    for device in ("meta", "cpu"):
        cost = profile(Distances(mode), x, y, count="all", device=device)
        assert (cost.total_macs, cost.total_flops) == (expected.macs, expected.flops)
        assert {layer.kind for layer in cost.layers} == {"matmul"}


# ---------------------------------------------------------------------------
# conv_tbc
# ---------------------------------------------------------------------------


class TimeFirstConv(nn.Module):
    """A fairseq-style convolution over ``(time, batch, channels)``."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(ints(3, 4, 5, seed=9))
        self.bias = nn.Parameter(ints(5, seed=10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.conv_tbc(x, self.weight, self.bias, 1)


def test_conv_tbc_counts_as_the_1d_convolution_it_is() -> None:
    model, x = TimeFirstConv().double(), ints(7, 2, 4, seed=11)
    reference = F.conv1d(x.permute(1, 2, 0), model.weight.permute(2, 1, 0), model.bias, padding=1).permute(2, 0, 1)
    assert torch.equal(model(x).detach(), reference.detach())
    expected = conv_cost((3,), 4, 5, 1, True, (7 * 2,))
    for device in ("meta", "cpu"):
        cost = profile(model, x, count="all", device=device)
        assert (cost.total_macs, cost.total_flops, cost.params) == (expected.macs, expected.flops, 3 * 4 * 5 + 5)
        assert [(layer.kind, layer.type) for layer in cost.layers] == [("functional_conv", "conv_tbc")]
    default = profile(model, x)  # no conv module: outside the default's totals, and listed
    assert default.total_flops == 0 and [call.function for call in default.uncounted] == ["conv_tbc"]
    traced = torch.jit.trace(model, x)  # a graph runs it on the weight: still no conv module's work
    graph = profile(traced, x, device="cpu")
    assert graph.total_flops == 0 and [(call.kind, call.total_flops) for call in graph.uncounted] == [
        ("functional_conv", expected.flops)]


# ---------------------------------------------------------------------------
# sparse products
# ---------------------------------------------------------------------------


def brute_sparse_dense(entries: list[tuple[int, int, float]], rows: int, dense: torch.Tensor) -> tuple[torch.Tensor, OpCounter]:
    """Each stored entry times each column, added into an output that starts at zero."""
    tally = OpCounter()
    out = [[0.0] * dense.shape[1] for _ in range(rows)]
    for i, k, value in entries:
        for j in range(dense.shape[1]):
            out[i][j] = tally.add(out[i][j], tally.mul(value, dense[k, j].item()))
    return torch.tensor(out, dtype=torch.float64), tally


def brute_sparse_sparse(left: list[tuple[int, int, float]], right: list[tuple[int, int, float]],
                        shape: tuple[int, int]) -> tuple[torch.Tensor, OpCounter]:
    tally = OpCounter()
    out = [[0.0] * shape[1] for _ in range(shape[0])]
    for i, k, a in left:
        for k2, j, b in right:
            if k == k2:
                out[i][j] = tally.add(out[i][j], tally.mul(a, b))
    return torch.tensor(out, dtype=torch.float64), tally


def entries_of(sparse: torch.Tensor) -> list[tuple[int, int, float]]:
    coalesced = sparse.coalesce()
    return [(int(i), int(k), float(v)) for (i, k), v in zip(coalesced.indices().t().tolist(), coalesced.values())]


def test_a_sparse_product_counts_its_stored_entries() -> None:
    left = ints(4, 6, seed=12).relu().to_sparse()
    dense = ints(6, 5, seed=13)
    out, tally = brute_sparse_dense(entries_of(left), 4, dense)
    assert torch.equal(torch.sparse.mm(left, dense), out)
    assert sparse_mm_cost(left._nnz(), 5) == tally.cost()


def test_two_sparse_matrices_count_the_entries_that_meet() -> None:
    left, right = ints(4, 6, seed=14).relu().to_sparse(), ints(6, 3, seed=15).relu().to_sparse()
    out, tally = brute_sparse_sparse(entries_of(left), entries_of(right), (4, 3))
    assert torch.equal(torch.sparse.mm(left, right).to_dense(), out)
    pairs = sum(1 for _, k, _ in entries_of(left) for k2, _, _ in entries_of(right) if k == k2)
    assert sparse_sparse_mm_cost(pairs) == tally.cost()


class SparseTimesWeight(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 5))

    def forward(self, adjacency: torch.Tensor) -> torch.Tensor:
        return torch.sparse.mm(adjacency, self.weight)


class SparseTimesSparse(nn.Module):
    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return torch.sparse.mm(left, right)


def test_sparse_products_in_a_model_are_counted_on_the_cpu_and_refused_on_meta_in_one_line() -> None:
    adjacency = ints(4, 6, seed=16).relu().float().to_sparse()
    cost = profile(SparseTimesWeight(), adjacency, count="all")
    expected = sparse_mm_cost(adjacency._nnz(), 5)
    assert (cost.total_macs, cost.total_flops, cost.params) == (expected.macs, expected.flops, 30)
    assert cost.device == "cpu" and "has no meta kernel" not in (cost.fallback_reason or "x")
    left, right = ints(4, 6, seed=17).relu().to_sparse(), ints(6, 3, seed=18).relu().to_sparse()
    both = profile(SparseTimesSparse(), left, right, count="all", device="cpu")
    assert both.total_macs == brute_sparse_sparse(entries_of(left), entries_of(right), (4, 3))[1].multiplies
    assert both.activation_bytes is not None and both.activation_bytes > 0
    from pytest_convbudget.engine.profiler import ProfileUsageError

    with pytest.raises(ProfileUsageError, match="no meta kernel") as raised:
        profile(SparseTimesWeight(), adjacency, count="all", device="meta")
    assert "\n" not in str(raised.value)


def test_einsum_of_a_trilinear_equation_matches_the_bilinear_count() -> None:
    """The ``_trilinear`` reader spells its operands as an einsum: the same count as F.bilinear's."""
    assert einsum_cost("pi,oij,pj->po", [(3, 5), (4, 5, 2), (3, 2)]) == CallCost(
        macs=3 * 4 * 2 * 5 + 3 * 4 * 2, flops=(2 * 5 - 1) * 3 * 4 * 2 + (2 * 2 - 1) * 3 * 4)


def test_flash_kernels_count_packed_sequences_each_against_its_own_keys() -> None:
    """The CUDA kernels behind SDPA, called by name with cumulative lengths (sequences packed end
    to end): each sequence's own attention, summed; read here from CPU stand-ins of their shapes."""
    from pytest_convbudget.engine.formulas import attention_cost
    from pytest_convbudget.engine.kinds import KINDS

    reader = next(rule.read for rule in KINDS["attention"].aten if "aten._flash_attention_forward" in rule.ops)
    query, key, value = torch.empty(10, 2, 8), torch.empty(12, 2, 8), torch.empty(12, 2, 4)
    lengths = torch.tensor([0, 3, 10]), torch.tensor([0, 5, 12])
    facts = reader((query, key, value, *lengths, 7, 7, 0.0, False, False), {}, (torch.empty(10, 2, 4),), None)
    first, second = attention_cost(2, 3, 5, 8, 4), attention_cost(2, 7, 7, 8, 4)
    assert (facts.cost.macs, facts.cost.flops) == (first.macs + second.macs, first.flops + second.flops)
    dense = reader((torch.empty(2, 5, 2, 8), torch.empty(2, 6, 2, 8), torch.empty(2, 6, 2, 4), None, None, 5, 6,
                    0.0, False, False), {}, (torch.empty(2, 5, 2, 4),), None)
    assert dense.cost == attention_cost(4, 5, 6, 8, 4)
