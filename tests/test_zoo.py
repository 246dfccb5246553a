"""``count="all"`` on a zoo of small transformer, CNN and hybrid models.

The reference is ``torch.utils.flop_counter.FlopCounterMode`` on a real CPU
forward, which counts 2 FLOPs per MAC of every mm/bmm/addmm/baddbmm/conv/
attention kernel it sees. It sees MultiheadAttention's inner ops only on the
slow path (train mode, grad enabled), and 4-D attention only when the math
backend runs, so the reference forward runs that way. Our count runs on meta.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import zoo_models as zoo  # noqa: E402

from pytest_convbudget import profile  # noqa: E402

ROOT = "(root)"


def image(*shape: int) -> Callable[[], torch.Tensor]:
    return lambda: torch.randn(*shape, generator=torch.Generator().manual_seed(0))


ZOO: dict[str, tuple[Callable[[], nn.Module], Callable[[], torch.Tensor]]] = {
    "cnn": (zoo.SmallCNN, image(2, 3, 8, 8)),
    "vit_batch_first_sdpa": (lambda: zoo.TinyViT(batch_first=True, need_weights=False), image(2, 3, 8, 8)),
    "vit_batch_first_bmm": (lambda: zoo.TinyViT(batch_first=True, need_weights=True), image(2, 3, 8, 8)),
    "vit_seq_first_sdpa": (lambda: zoo.TinyViT(batch_first=False, need_weights=False), image(2, 3, 8, 8)),
    "vit_seq_first_bmm": (lambda: zoo.TinyViT(batch_first=False, need_weights=True), image(2, 3, 8, 8)),
    "encoder_vit": (zoo.EncoderViT, image(2, 3, 8, 8)),
    "swin": (zoo.SwinLike, image(2, 3, 8, 8)),
    "einsum_attention": (zoo.EinsumAttention, image(2, 5, 12)),
    "unet": (zoo.TinyUNet, image(2, 1, 8, 8)),
    "convnext": (zoo.ConvNeXtLike, image(2, 3, 8, 8)),
    "tied": (zoo.TiedWeights, lambda: torch.tensor([[1, 2, 3, 4], [5, 6, 7, 10]])),
}


def build(name: str) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    factory, data = ZOO[name]
    return factory(), data()


def reference_flops(model: nn.Module, data: torch.Tensor) -> tuple[int, dict[str, int]]:
    """FlopCounterMode's total and per-op counts on a train-mode CPU forward with grad."""
    model.train()
    try:
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            model(data)
    finally:
        model.eval()
    per_op = {str(op): flops for op, flops in counter.get_flop_counts().get("Global", {}).items()}
    return counter.get_total_flops(), per_op


@pytest.mark.parametrize("name", list(ZOO))
def test_all_kinds_equal_torchs_flop_counter(name: str) -> None:
    model, data = build(name)
    expected, _ = reference_flops(model, data)
    cost = profile(model, data, device="meta", count="all")
    assert expected > 0
    assert 2 * cost.total_macs == expected
    assert cost.uncounted == ()  # nothing of a registered kind ran outside the totals


@pytest.mark.parametrize("name", list(ZOO))
def test_default_count_is_the_conv_share_alone(name: str) -> None:
    """``count="conv"`` equals what torch charged to ``aten.convolution``, whatever else ran."""
    model, data = build(name)
    _, per_op = reference_flops(model, data)
    cost = profile(model, data, device="meta")
    assert cost.count == ("conv",)
    assert 2 * cost.total_macs == per_op.get("aten.convolution", 0)
    assert {layer.kind for layer in cost.layers} <= {"conv"}


def test_small_cnn_conv_figures_by_hand() -> None:
    """Stem 3x3x3->8 (bias) at 8x8, 3x3 8->16 stride 2 (no bias) at 4x4, 3x3 16->16 in 4 groups (bias) at 4x4."""
    model, data = build("cnn")
    cost = profile(model, data, device="meta")
    stem, body, grouped = 27 * 8 * 64, 72 * 16 * 16, 36 * 16 * 16
    assert cost.macs == stem + body + grouped
    assert cost.flops == 2 * stem + (2 * 72 - 1) * 16 * 16 + 2 * grouped
    assert cost.params == 27 * 8 + 8 + 72 * 16 + 36 * 16 + 16
    assert cost.total_macs == 2 * cost.macs


@pytest.mark.parametrize("name", list(ZOO))
def test_breakdowns_sum_to_the_totals(name: str) -> None:
    model, data = build(name)
    cost = profile(model, data, device="meta", count="all")
    for rows in (cost.by_module(depth=1), cost.by_kind()):
        assert sum(row.macs for row in rows.values()) == cost.macs
        assert sum(row.flops for row in rows.values()) == cost.flops
        assert sum(row.params for row in rows.values()) == cost.params
    names = {module_name for module_name, _ in model.named_modules() if module_name}
    assert {layer.name for layer in cost.layers} <= names | {ROOT}
    assert cost.model_params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(ZOO))
def test_meta_and_cpu_count_the_same(name: str) -> None:
    model, data = build(name)
    on_meta = profile(model, data, device="meta", count="all")
    on_cpu = profile(model, data, device="cpu", count="all")
    assert on_meta.layers == on_cpu.layers
    assert (on_meta.total_macs, on_meta.total_flops, on_meta.params) == (
        on_cpu.total_macs, on_cpu.total_flops, on_cpu.params)


def consumed_params(model: nn.Module, skip: tuple[str, ...]) -> int:
    """Every parameter except those no counted op reads (norms, tokens, biases added elementwise)."""
    return sum(p.numel() for n, p in model.named_parameters() if not any(part in n for part in skip))


@pytest.mark.parametrize("name", ["vit_batch_first_sdpa", "vit_batch_first_bmm",
                                  "vit_seq_first_sdpa", "vit_seq_first_bmm", "encoder_vit"])
def test_attention_params_include_the_packed_projection_once(name: str) -> None:
    model, data = build(name)
    cost = profile(model, data, device="meta", count="all")
    assert cost.params == consumed_params(model, ("norm", "cls", "pos"))
    attention = [module for module in model.modules() if isinstance(module, nn.MultiheadAttention)]
    assert len(attention) == 2
    # each MHA's rows carry its in_proj_weight + in_proj_bias + out_proj, exactly once
    dim = 16
    per_attention = 3 * dim * dim + 3 * dim + dim * dim + dim
    rows = cost.by_module()
    prefix = "blocks" if name.startswith("vit") else "encoder.layers"
    for index in range(2):
        attn = f"{prefix}.{index}.{'attn' if name.startswith('vit') else 'self_attn'}"
        owned = sum(row.params for key, row in rows.items() if key == attn or key.startswith(attn + "."))
        assert owned == per_attention


def test_nothing_inside_a_module_is_counted_twice() -> None:
    """nn.Linear runs F.linear; SDPA runs matmuls; MHA runs linears and SDPA or bmm.
    Each shows up once: one row per Linear call, one attention row per MHA on the SDPA path."""
    model, data = build("encoder_vit")
    cost = profile(model, data, device="meta", count="all")
    kinds = [(layer.name, layer.kind) for layer in cost.layers]
    # out_proj's weights are consumed by MHA's functional linear, never by its own forward: it ran, it is not idle
    assert cost.idle_modules == ()
    assert ("encoder.layers.0.self_attn", "linear") in kinds
    linears = [name for name, module in model.named_modules() if type(module) is nn.Linear]
    for name in linears:
        assert kinds.count((name, "linear")) == 1, name
    assert [k for k in kinds if k[1] == "attention"] == [
        ("encoder.layers.0.self_attn", "attention"), ("encoder.layers.1.self_attn", "attention")]
    assert not [k for k in kinds if k[1] == "matmul"]
    batch, tokens, dim, heads, layers = 2, 4, 16, 2, 2
    per_call = batch * heads * tokens * tokens * (dim // heads + dim // heads)  # B*H*L*S*(E+Ev)
    assert cost.by_kind()["attention"].macs == layers * per_call // batch  # per sample


def test_bmm_path_counts_the_same_as_the_sdpa_path() -> None:
    """need_weights=True computes attention with bmm (matmul kind), False with SDPA:
    the totals agree and only the kind differs."""
    with_sdpa = profile(*build("vit_batch_first_sdpa"), device="meta", count="all")
    with_bmm = profile(*build("vit_batch_first_bmm"), device="meta", count="all")
    assert with_sdpa.total_macs == with_bmm.total_macs
    assert with_sdpa.by_kind()["attention"].macs == with_bmm.by_kind()["matmul"].macs > 0
    assert with_bmm.by_kind()["attention"].macs == 0


def test_flop_counter_is_blind_to_the_fused_multihead_attention() -> None:
    """In eval under no_grad, MultiheadAttention takes ``_native_multi_head_attention``,
    which FlopCounterMode does not see into; our count is the grad-enabled one."""
    model, data = build("vit_batch_first_sdpa")
    grad_enabled, _ = reference_flops(model, data)
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(data)
    assert counter.get_total_flops() < grad_enabled
    ours = profile(model, data, device="meta", count="all")
    assert 2 * ours.total_macs == grad_enabled
    on_cpu = profile(model, data, device="cpu", count="all")
    assert on_cpu.total_macs == ours.total_macs


def test_flop_counter_is_blind_to_the_fused_cpu_attention_kernel() -> None:
    """Without forcing the math backend, MHA's 4-D contiguous SDPA runs
    ``_scaled_dot_product_flash_attention_for_cpu``, which FlopCounterMode charges
    nothing for, even in train mode with grad; our count includes it."""
    model, data = build("encoder_vit")
    model.train()
    with FlopCounterMode(display=False) as counter:
        model(data)
    model.eval()
    math_path, _ = reference_flops(model, data)
    cost = profile(model, data, device="meta", count="all")
    attention_total = 2 * cost.by_kind()["attention"].macs * cost.batch_size
    assert counter.get_total_flops() == math_path - attention_total
    assert 2 * cost.total_macs == math_path


def test_tied_weight_is_one_param_and_two_ops() -> None:
    model, data = build("tied")
    cost = profile(model, data, device="meta", count="all")
    vocab, dim, positions = 11, 6, 8
    assert cost.params == vocab * dim + (dim * dim + dim)
    assert cost.total_macs == positions * dim * dim + positions * dim * vocab + positions * vocab * dim
    assert [(layer.name, layer.kind) for layer in cost.layers] == [
        ("mix", "linear"), (ROOT, "linear"), (ROOT, "matmul")]


def test_swin_scores_and_bias_add_are_not_double_counted() -> None:
    """Per window attention: q@k^T and A@v are matmuls; the relative bias add, the
    scale and softmax are elementwise. F.linear on Parameters is linear."""
    model, data = build("swin")
    cost = profile(model, data, device="meta", count="all")
    windows, tokens, dim, heads = 2 * 4, 4, 8, 2
    per_attention_matmul = 2 * windows * heads * tokens * tokens * (dim // heads)
    assert cost.by_kind()["matmul"].macs * 2 == 2 * per_attention_matmul
    assert cost.by_module(depth=1)["attn1"].params == 3 * dim * dim + 3 * dim + dim * dim


class LoRALinear(nn.Linear):
    """A Linear subclass that adds a low-rank path: its own op, then two more linears."""

    def __init__(self, features: int, rank: int) -> None:
        super().__init__(features, features)
        self.down = nn.Parameter(torch.randn(rank, features))
        self.up = nn.Parameter(torch.randn(features, rank))

    def forward(self, data: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return super().forward(data) + F.linear(F.linear(data, self.down), self.up)


def test_ops_of_a_counted_kind_inside_a_counted_module_are_counted_under_its_name() -> None:
    """count="all": nothing of a counted kind stays outside the totals, even a second op
    inside a counted module; it is shown under that module, after the module's own call,
    and the parameters it consumed count once."""
    features, rank, tokens = 8, 2, 5
    model = nn.Sequential(LoRALinear(features, rank))
    data = torch.randn(tokens, features)
    cost = profile(model, data, device="meta", count="all", batch_size=1)
    assert cost.uncounted == ()
    assert [(layer.label, layer.kind, layer.total_macs) for layer in cost.layers] == [
        ("0", "linear", tokens * features * features),
        ("0, call 2", "linear", tokens * features * rank),
        ("0, call 3", "linear", tokens * rank * features),
    ]
    assert cost.params == features * features + features + 2 * rank * features == cost.model_params
    with FlopCounterMode(display=False) as counter:
        model(data)
    assert counter.get_total_flops() == 2 * cost.total_macs
    on_cpu = profile(model, data, device="cpu", count="all", batch_size=1)
    assert on_cpu.layers == cost.layers


def test_with_linear_counted_the_low_rank_path_counts_and_under_the_default_it_is_listed() -> None:
    """count=["conv", "linear"] counts all three linears; the default counts none and lists all three outside."""
    model = nn.Sequential(LoRALinear(8, 2))
    cost = profile(model, torch.randn(5, 8), device="meta", count=["conv", "linear"], batch_size=1)
    assert [layer.label for layer in cost.layers] == ["0", "0, call 2", "0, call 3"]
    linear_only = profile(model, torch.randn(5, 8), device="meta", batch_size=1)
    assert linear_only.layers == ()
    assert [(op.kind, op.function, op.inside) for op in linear_only.uncounted] == [
        ("linear", "linear", ""), ("linear", "linear", ""), ("linear", "linear", "")]


@pytest.mark.parametrize("name", list(ZOO))
def test_the_peak_of_a_meta_forward_is_what_a_tracker_sees_on_a_real_one(name: str) -> None:
    """activation_bytes on meta against an independent tracker of a real CPU forward
    (tests/storage_tracker.py): storages by address, a full scan after every op."""
    from storage_tracker import measured_peak

    model, data = build(name)
    model.eval()
    assert profile(model, data, device="meta", count="all").activation_bytes == measured_peak(model, data) > 0
