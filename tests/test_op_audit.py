"""Every op that does products is counted or listed: an audit of torch's own op tables.

Two lists are walked, both read from the torch installed: every op torch's
``FlopCounterMode`` has a formula for (``torch.utils.flop_counter.flop_registry``), and every
aten op whose schema takes a weight-like matrix (an argument named ``weight``, ``mat2``,
``w_ih``, ...). Each must be counted by a registered kind, listed among the uncounted work
as an op without a formula, or run as other ops that are (a composite op, decomposed
before the dispatcher sees it). What is left is named below, each with why it does no
product. A torch release that adds an op fails here until it is placed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import flop_registry

from pytest_convbudget import profile
from pytest_convbudget.engine.aten_watch import aten_table, no_formula_ops
from pytest_convbudget.engine.kinds import NO_FORMULA_KIND

# A "weight" that is no matrix multiplied with the input: each op, and why.
NO_PRODUCT = {
    **dict.fromkeys(("_batch_norm_impl_index", "_batch_norm_no_update", "_batch_norm_with_update",
                     "_batch_norm_with_update_functional", "_native_batch_norm_legit",
                     "_native_batch_norm_legit_functional", "_native_batch_norm_legit_no_training", "batch_norm",
                     "batch_norm_elemt", "cudnn_batch_norm", "miopen_batch_norm", "native_batch_norm",
                     "quantized_batch_norm", "group_norm", "native_group_norm", "instance_norm", "layer_norm",
                     "native_layer_norm", "rms_norm", "_fused_rms_norm"),
                    "a norm: its weight scales each channel, elementwise"),
    **dict.fromkeys(("_embedding_bag", "_embedding_bag_forward_only", "embedding", "embedding_bag",
                     "_no_grad_embedding_renorm_", "_rowwise_prune"),
                    "an embedding: its weight is gathered from, not multiplied"),
    **dict.fromkeys(("binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy_loss",
                     "multi_margin_loss", "nll_loss", "nll_loss2d", "nll_loss2d_forward", "nll_loss_forward",
                     "nll_loss_nd"),
                    "a loss: its weight scales each class, elementwise"),
    **dict.fromkeys(("_histogramdd_bin_edges", "_histogramdd_from_bin_cts", "_histogramdd_from_bin_tensors",
                     "histogram", "histogramdd"), "a histogram: its weight is each sample's count"),
    **dict.fromkeys(("lerp", "lerp_"), "an interpolation: its weight is elementwise"),
    **dict.fromkeys(("prelu", "_prelu_kernel"), "an activation: its weight is a slope per channel"),
    **dict.fromkeys(("_saturate_weight_to_fp16", "_wrapped_linear_prepack"), "prepares a weight: no product"),
}
WEIGHT_LIKE = ("weight", "mat1", "mat2", "batch1", "batch2", "w_ih", "w_hh", "packed_weight", "packed_ih",
               "packed_hh", "weight_ih", "weight_hh", "vec", "vec1", "vec2", "params")


def counted_packets() -> set[str]:
    """``aten::mm``-style names of every op a registered kind counts."""
    return {_packet_name(op) for op in _ops_by_id(set(aten_table()))}


def unformulated_packets() -> set[str]:
    return {_packet_name(op) for op in _ops_by_id(set(no_formula_ops()))}


def _ops_by_id(ids: set[int]) -> list[object]:
    found = []
    for namespace in ("aten", "quantized"):
        ops = getattr(torch.ops, namespace)
        for schema in torch._C._jit_get_all_schemas():
            space, _, name = schema.name.partition("::")
            if space != namespace:
                continue
            packet = getattr(ops, name, None)
            overload = getattr(packet, schema.overload_name or "default", None) if packet is not None else None
            if overload is not None and id(overload) in ids:
                found.append(overload)
    return found


def _packet_name(op: object) -> str:
    return op.name().split(".")[0]  # type: ignore[attr-defined]


def decomposes(name: str) -> bool:
    """An op torch runs as other ops above the dispatcher a profile watches."""
    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key(name, "CompositeImplicitAutograd")
    except RuntimeError:  # a TorchScript builtin the dispatcher does not know: it never reaches a profile
        return True


def test_every_op_flop_counter_has_a_formula_for_is_counted_or_listed() -> None:
    counted, unformulated = counted_packets(), unformulated_packets()
    missing = []
    for op in flop_registry:
        if isinstance(op, torch._ops.HigherOrderOperator):
            continue  # a profile refuses higher-order ops in one line: their graphs run out of its sight
        name = op._qualified_op_name if hasattr(op, "_qualified_op_name") else op.name()
        name = name.split(".")[0]
        if name not in counted and name not in unformulated:
            missing.append(name)
    assert missing == []


def test_every_op_that_takes_a_weight_like_matrix_is_counted_listed_or_does_no_product() -> None:
    counted, unformulated = counted_packets(), unformulated_packets()
    missing = set()
    for schema in torch._C._jit_get_all_schemas():
        if not schema.name.startswith("aten::") or "backward" in schema.name:
            continue
        if not any(argument.name in WEIGHT_LIKE and "Tensor" in str(argument.type) for argument in schema.arguments):
            continue
        name = schema.name
        overload = f"{name}.{schema.overload_name}" if schema.overload_name else name
        if name in counted or name in unformulated or decomposes(overload):
            continue
        if name.removeprefix("aten::") in NO_PRODUCT:
            continue
        missing.add(name)
    assert sorted(missing) == [], sorted(missing)


def test_the_audit_tables_name_only_ops_this_torch_has() -> None:
    """A reason kept for an op torch dropped is a stale line: the audit would not notice it."""
    names = {schema.name.removeprefix("aten::") for schema in torch._C._jit_get_all_schemas()}
    assert sorted(set(NO_PRODUCT) - names) == []


class Spectral(nn.Module):
    """An FFT filter and a linear solve: work no formula counts, listed by name."""

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft(self.mix(x), dim=-1)
        filtered = torch.fft.irfft(spectrum, n=8, dim=-1)
        system = torch.eye(8, device=x.device) + filtered.transpose(-1, -2) @ filtered
        return torch.linalg.solve(system, filtered.transpose(-1, -2)).transpose(-1, -2)


def test_work_without_a_formula_is_listed_by_name_and_calls_never_dropped() -> None:
    x = torch.randn(2, 4, 8)
    listed = []
    for device in ("meta", "cpu"):
        cost = profile(Spectral(), x, count="all", device=device)
        unformulated = [(call.function, call.kind, call.total_flops) for call in cost.uncounted]
        listed.append(unformulated)
        assert {function for function, _, _ in unformulated} == {"_fft_r2c", "_fft_c2r", "_linalg_solve_ex"}
        assert all(kind == NO_FORMULA_KIND and flops == 0 for _, kind, flops in unformulated)
        assert {layer.kind for layer in cost.layers} == {"linear", "matmul"}  # the rest is counted
        assert cost.uncounted_work() == {}  # no count setting would include them
        assert "not counted: no formula: _fft_r2c ×1, _fft_c2r ×1, _linalg_solve_ex ×1" in cost.table()
    assert listed[0] == listed[1]


def test_a_listed_op_inside_a_counted_op_is_that_ops_own_work() -> None:
    """An op a watched function ran (one counted already) is never listed a second time."""
    cost = profile(nn.Linear(4, 4), torch.randn(2, 4), count="all")
    assert cost.uncounted == () and F is not None


def test_work_without_a_formula_survives_a_run_file() -> None:
    """The baseline keeps the list (its kind is no op kind a count names, and the schema knows it)."""
    import json

    from pytest_convbudget.budgets.measurement import Measurement
    from pytest_convbudget.ci.runfile import RunEntry, RunFile

    cost = profile(Spectral(), torch.randn(2, 4, 8), count="all", device="meta")
    run = RunFile((RunEntry(Measurement("test_s.py::test_s", "s", 0, cost, "sample"), "passed"),))
    again = RunFile.from_dict(json.loads(run.to_json()), "run.json")
    assert [(call.function, call.kind) for call in again.entries[0].measurement.cost.uncounted] == [
        (call.function, NO_FORMULA_KIND) for call in cost.uncounted]
