"""Values that derive from the caller's inputs alone are known on meta: LLMs called with masks.

transformers models are built from their configs (nothing downloaded) and called as
their documentation calls them; each must profile on the meta device (no fallback) with
the CPU forward's FLOPs and peak memory. A step that needs a value computed from
weights falls back with its module named, or, with no weights to fall back to, is one
line.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from pytest_convbudget import profile
from pytest_convbudget.engine.profiler import ProfileUsageError
from zoo_models import import_torchvision


def transformers_module() -> Any:
    import_torchvision()  # transformers imports torchvision when it is installed
    return pytest.importorskip("transformers")


def padded(batch: int, tokens: int, pad: int = 5) -> torch.Tensor:
    mask = torch.ones(batch, tokens, dtype=torch.long)
    mask[1, :pad] = 0  # the second sequence is left-padded
    return mask


def cases() -> dict[str, Any]:
    t = transformers_module()
    ids = torch.randint(0, 1000, (2, 16), generator=torch.Generator().manual_seed(0))
    return {
        "bert": (t.BertModel(t.BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                          intermediate_size=128, max_position_embeddings=64)),
                 (ids,), {"attention_mask": padded(2, 16)}),
        "gpt2": (t.GPT2LMHeadModel(t.GPT2Config(vocab_size=1000, n_embd=64, n_layer=2, n_head=4, n_positions=64,
                                                bos_token_id=0, eos_token_id=0)),
                 (ids,), {"attention_mask": padded(2, 16), "position_ids": torch.arange(16).expand(2, 16),
                          "use_cache": False}),
        "llama": (t.LlamaForCausalLM(t.LlamaConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2,
                                                   num_attention_heads=4, num_key_value_heads=2,
                                                   intermediate_size=128, max_position_embeddings=64)),
                  (ids,), {"attention_mask": padded(2, 16)}),
        "t5": (t.T5Model(t.T5Config(vocab_size=1000, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                                    decoder_start_token_id=0)),
               (ids,), {"attention_mask": padded(2, 16), "decoder_input_ids": ids[:, :8], "use_cache": False}),
        "whisper": (t.WhisperModel(t.WhisperConfig(vocab_size=1000, d_model=64, encoder_layers=2, decoder_layers=2,
                                                   encoder_attention_heads=4, decoder_attention_heads=4,
                                                   encoder_ffn_dim=128, decoder_ffn_dim=128, num_mel_bins=16,
                                                   max_source_positions=32, max_target_positions=32,
                                                   pad_token_id=0, bos_token_id=0, eos_token_id=0,
                                                   decoder_start_token_id=0)),
                    (torch.randn(2, 16, 64),), {"decoder_input_ids": ids[:, :8], "use_cache": False}),
        "vit_with_mask": (t.ViTModel(t.ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                                 intermediate_size=128, image_size=32, patch_size=8),
                                     use_mask_token=True),
                          (torch.randn(2, 3, 32, 32),), {"bool_masked_pos": torch.rand(2, 16) > 0.5}),
    }


NAMES = ["bert", "gpt2", "llama", "t5", "whisper", "vit_with_mask"]


@pytest.mark.parametrize("name", NAMES)
def test_models_called_with_masks_profile_on_meta_with_the_cpu_figures(name: str) -> None:
    torch.manual_seed(0)
    model, args, kwargs = cases()[name]
    model.eval()
    on_meta = profile(model, *args, kwargs=kwargs, count="all")
    on_cpu = profile(model, *args, kwargs=kwargs, count="all", device="cpu")
    assert (on_meta.device, on_meta.fallback_reason) == ("meta", None)
    assert (on_meta.total_flops, on_meta.total_macs, on_meta.params) == (on_cpu.total_flops, on_cpu.total_macs,
                                                                          on_cpu.params)
    assert on_meta.activation_bytes == on_cpu.activation_bytes
    # the real data computed for the input side is small beside what the forward holds
    assert 0 < on_meta.input_value_bytes < on_cpu.activation_bytes


def test_an_8b_llama_built_on_meta_profiles_with_a_padded_mask_at_2048_tokens() -> None:
    t = transformers_module()
    config = t.LlamaConfig(vocab_size=128256, hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                           num_key_value_heads=8, intermediate_size=14336, max_position_embeddings=8192)
    with torch.device("meta"):
        model = t.LlamaForCausalLM(config).eval()
    ids = torch.randint(0, 128256, (1, 2048))
    mask = torch.ones(1, 2048, dtype=torch.long)
    mask[0, :100] = 0
    cost = profile(model, ids, kwargs={"attention_mask": mask, "use_cache": False}, count="all")
    assert cost.device == "meta" and cost.model_params == 8_030_261_248
    assert cost.input_value_bytes < 2**20  # the mask's arithmetic; the 4-D mask itself stays on meta


class Router(nn.Module):
    """A branch on a value computed from weights, as an MoE router takes."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if self.gate(x).sum() > 0 else x


class Routed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mlp = nn.Linear(8, 8)
        self.router = Router()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.router(self.mlp(x))


def test_a_weight_dependent_step_falls_back_naming_the_module() -> None:
    cost = profile(Routed().eval(), torch.randn(2, 8), count="all")
    assert (cost.device, cost.fallback_reason) == ("cpu", "could not run on meta (router: item() on a value "
                                                          "computed from weights)")
    with pytest.raises(ProfileUsageError, match=r"^router: item\(\) on a value computed from weights: it cannot be "
                                                r"known on meta; profile on device='cpu' \(or 'auto'\)$"):
        profile(Routed().eval(), torch.randn(2, 8), device="meta")


def test_with_the_weights_on_meta_it_is_one_line_saying_what_to_pass() -> None:
    with torch.device("meta"):
        model = Routed().eval()
    with pytest.raises(ProfileUsageError) as raised:
        profile(model, torch.randn(2, 8))
    assert str(raised.value) == ("router: item() on a value computed from weights, and the model's weights are on "
                                 "meta: nothing can compute it; profile it with real weights (device='cpu'), or a "
                                 "smaller config")


class Trimmed(nn.Module):
    """Python control flow on the inputs' values: the longest real sequence sets the work."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.proj = nn.Linear(8, 8)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        longest = int(mask.sum(dim=1).max())  # .item() on an input-only value
        kept = ids[:, -longest:]
        if bool((kept >= 0).all()):
            kept = kept[mask[:, -longest:].any(dim=0).nonzero().flatten()[0]:]  # nonzero: a data-dependent shape
        lengths = mask.sum(dim=1).tolist()  # .tolist(): Python numbers
        real_tokens = ids.masked_select(mask.bool())  # masked_select: a data-dependent shape
        extra = self.embed(real_tokens[: min(lengths)])
        return self.proj(self.embed(kept)).sum() + self.proj(extra).sum()


def test_item_bool_and_nonzero_on_input_values_behave_as_on_the_cpu() -> None:
    ids = torch.randint(0, 50, (2, 12))
    mask = padded(2, 12, pad=4)
    mask[0, :7] = 0  # the longest real sequence is 8
    on_meta = profile(Trimmed(), ids, mask, count="all")
    on_cpu = profile(Trimmed(), ids, mask, count="all", device="cpu")
    assert (on_meta.device, on_meta.fallback_reason) == ("meta", None)
    assert on_meta.layers == on_cpu.layers
    assert on_meta.layers[0].input_shape == (2, 8, 8)  # the longest real sequence
    assert on_meta.layers[-1].input_shape == (5, 8)  # the shortest one's length of real tokens


def test_a_decode_step_with_a_cache_profiles_on_meta_and_leaves_the_cache_as_it_was() -> None:
    model, _, _ = cases()["llama"]
    model.eval()
    ids = torch.randint(0, 1000, (2, 17), generator=torch.Generator().manual_seed(1))
    mask = padded(2, 17)
    with torch.no_grad():
        cache = model(ids[:, :16], attention_mask=mask[:, :16], use_cache=True).past_key_values
    assert cache.get_seq_length() == 16
    step = {"past_key_values": cache, "attention_mask": mask}
    on_meta = profile(model, ids[:, 16:], kwargs=step, count="all")
    assert cache.get_seq_length() == 16  # the forward appended to a copy, never to the caller's cache
    on_cpu = profile(model, ids[:, 16:], kwargs=step, count="all", device="cpu")
    assert cache.get_seq_length() == 16
    assert (on_meta.device, on_meta.fallback_reason) == ("meta", None)
    assert (on_meta.total_flops, on_meta.activation_bytes) == (on_cpu.total_flops, on_cpu.activation_bytes)
    assert on_meta.layers[0].input_shape[:2] == (2, 1)  # one new token per sequence
