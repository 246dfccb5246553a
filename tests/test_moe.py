"""Mixtures of experts as people run them: transformers' Mixtral, Qwen2-MoE and DeepSeek-V3,
built from small configs (nothing downloaded), under every experts implementation
transformers offers on the CPU (``config._experts_implementation``: ``eager``, a loop over
the experts that were chosen; ``batched_mm``, each token's experts gathered and multiplied
in one ``bmm``; ``grouped_mm``, the default, one ``torch._grouped_mm`` over tokens sorted by
expert), on meta and on the CPU, equal to each other and to a hand count.

The figure is the experts that ran for these tokens: every token's ``top_k`` experts, so it
does not depend on which experts were chosen. ``eager`` asks which experts were chosen
(``nonzero``) to loop over them: on meta that is a value computed from the router's weights,
so the profile runs on the CPU and says why, or, with weights on meta, refuses in one line.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch

from test_memory import third_party

from pytest_convbudget import profile
from pytest_convbudget.engine.profiler import ProfileUsageError

TOKENS = (2, 16)
IMPLEMENTATIONS = ("eager", "batched_mm", "grouped_mm")  # deepgemm and sonicmoe need CUDA kernels


def linear(rows: int, features: int, outputs: int, bias: bool = False) -> int:
    """FLOPs of a linear over ``rows``: a dot product of ``features`` terms per output, plus its bias."""
    return (2 * features - 1 + bias) * outputs * rows


def attention(batch: int, heads: int, length: int, head: int, value: int) -> int:
    return (2 * head - 1) * batch * heads * length * length + (2 * length - 1) * batch * heads * length * value


def experts(rows: int, hidden: int, intermediate: int) -> int:
    """Each routed row: its expert's gate and up projections (one product), then its down projection."""
    return linear(rows, hidden, 2 * intermediate) + linear(rows, intermediate, hidden)


def mlp(rows: int, hidden: int, intermediate: int) -> int:
    return 2 * linear(rows, hidden, intermediate) + linear(rows, intermediate, hidden)


def mixtral(t: Any) -> tuple[Any, int]:
    config = t.MixtralConfig(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, num_local_experts=4,
                             num_experts_per_tok=2, max_position_embeddings=64)
    rows, (batch, length) = TOKENS[0] * TOKENS[1], TOKENS
    layer = (linear(rows, 64, 64) + 2 * linear(rows, 64, 32) + linear(rows, 64, 64) + attention(batch, 4, length, 16, 16)
             + linear(rows, 64, 4) + experts(rows * 2, 64, 96))
    return (config, t.MixtralForCausalLM), 2 * layer + linear(rows, 64, 128)


def qwen2_moe(t: Any) -> tuple[Any, int]:
    config = t.Qwen2MoeConfig(vocab_size=128, hidden_size=64, intermediate_size=96, moe_intermediate_size=32,
                              shared_expert_intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                              num_key_value_heads=2, num_experts=4, num_experts_per_tok=2, max_position_embeddings=64)
    rows, (batch, length) = TOKENS[0] * TOKENS[1], TOKENS
    layer = (linear(rows, 64, 64, True) + 2 * linear(rows, 64, 32, True) + linear(rows, 64, 64)
             + attention(batch, 4, length, 16, 16) + linear(rows, 64, 4) + experts(rows * 2, 64, 32)
             + mlp(rows, 64, 48) + linear(rows, 64, 1))
    return (config, t.Qwen2MoeForCausalLM), 2 * layer + linear(rows, 64, 128)


def deepseek_v3(t: Any) -> tuple[Any, int]:
    config = t.DeepseekV3Config(vocab_size=128, hidden_size=64, intermediate_size=96, moe_intermediate_size=32,
                                num_hidden_layers=2, first_k_dense_replace=1, num_attention_heads=4,
                                num_key_value_heads=4, n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1,
                                n_group=2, topk_group=1, q_lora_rank=32, kv_lora_rank=16, qk_rope_head_dim=8,
                                qk_nope_head_dim=8, v_head_dim=16, max_position_embeddings=64)
    rows, (batch, length) = TOKENS[0] * TOKENS[1], TOKENS
    # latent attention: queries through a rank-32 bottleneck, keys and values through a rank-16 one
    attend = (linear(rows, 64, 32) + linear(rows, 32, 4 * 16) + linear(rows, 64, 16 + 8) + linear(rows, 16, 4 * (8 + 16))
              + attention(batch, 4, length, 16, 16) + linear(rows, 4 * 16, 64))
    dense = attend + mlp(rows, 64, 96)
    sparse = attend + linear(rows, 64, 4) + experts(rows * 2, 64, 32) + mlp(rows, 64, 32)
    return (config, t.DeepseekV3ForCausalLM), dense + sparse + linear(rows, 64, 128)


MODELS: dict[str, Callable[[Any], tuple[Any, int]]] = {
    "mixtral": mixtral, "qwen2_moe": qwen2_moe, "deepseek_v3": deepseek_v3,
}


def build(name: str, implementation: str) -> tuple[Any, int]:
    (config, model_class), flops = MODELS[name](third_party("transformers"))
    config._experts_implementation = implementation
    torch.manual_seed(0)
    return model_class(config).eval(), flops


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_experts_implementation_counts_the_experts_that_ran_on_meta_and_on_the_cpu(name: str) -> None:
    ids = torch.randint(0, 128, TOKENS)
    figures = {}
    for implementation in IMPLEMENTATIONS:
        model, expected = build(name, implementation)
        for device in ("auto", "cpu"):
            cost = profile(model, ids, kwargs={"use_cache": False}, count="all", device=device)
            assert cost.total_flops == expected, (implementation, device)
            assert cost.uncounted == ()
            kinds = tuple((kind, share.flops, share.params) for kind, share in cost.by_kind().items())
            figures[implementation, device] = (cost.total_flops, cost.total_macs, cost.params, kinds, cost.device,
                                               cost.fallback_reason)
    # the same FLOPs, MACs, params and split by kind: the experts are linear work whichever way they ran
    assert {figures[key][:4] for key in figures} == {figures["grouped_mm", "cpu"][:4]}
    # batched_mm and grouped_mm need no routing decision on meta; eager loops over the chosen experts
    assert figures["grouped_mm", "auto"][4:] == figures["batched_mm", "auto"][4:] == ("meta", None)
    assert figures["eager", "auto"][4] == "cpu"
    assert figures["eager", "auto"][5].startswith("could not run on meta (")
    assert "nonzero on a value computed from weights" in figures["eager", "auto"][5]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_grouped_experts_peak_on_meta_as_on_the_cpu(name: str) -> None:
    model, _ = build(name, "grouped_mm")
    ids = torch.randint(0, 128, TOKENS)
    meta, cpu = (profile(model, ids, kwargs={"use_cache": False}, count="all", device=device)
                 for device in ("meta", "cpu"))
    assert meta.activation_bytes == cpu.activation_bytes
    assert meta.params == cpu.params


def test_an_eager_router_with_weights_on_meta_is_refused_in_one_line() -> None:
    (config, model_class), _ = mixtral(third_party("transformers"))
    config._experts_implementation = "eager"
    with torch.device("meta"):
        model = model_class(config).eval()
    with pytest.raises(ProfileUsageError) as raised:
        profile(model, torch.randint(0, 128, TOKENS), kwargs={"use_cache": False}, count="all")
    message = str(raised.value)
    assert "\n" not in message and "model.layers.0.mlp.experts: nonzero on a value computed from weights" in message
