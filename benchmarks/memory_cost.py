"""What the size and memory figures cost a meta profile, and how long a 70B LM takes.

Usage::

    python benchmarks/memory_cost.py [--before REF] [--pairs N] [--json PATH]

Both versions of the package live in this process, as in ``before_after.py``:
"before" is the ``pytest_convbudget/`` of ``REF`` (by default ``d33e0fd``, the last
commit without memory figures), renamed; "after" is the working tree's. They are
timed interleaved on the same models, on the meta device:

* ResNet-50 at batch 32 and ViT-B/16 at batch 1 (torchvision's definitions), with
  the default count and with ``count="all"``;
* a decoder-only LM of 6.7 B parameters (the Llama-2-7B shape: 32 layers of width
  4096, 32 heads, a SwiGLU MLP of 11008, RMSNorm, a 32000-token vocabulary), built on
  meta, on 2,048 tokens with ``count="all"``.

The ratio after/before is the cost of the memory figures (the dispatch view and its
ledger) net of whatever else changed between the two trees. Then a 70 B configuration
(80 layers of width 8192, 64 query and 8 key/value heads, MLP 28672) is profiled by the
after tree alone on one thread (``torch.set_num_threads(1)``), and its time printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from before_after import both_packages  # noqa: E402
from timing import Plan, alternate  # noqa: E402
from zoo_models import import_torchvision  # noqa: E402


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, kv_heads: int) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, width // heads
        self.q_proj = nn.Linear(width, width, bias=False)
        self.k_proj = nn.Linear(width, kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(width, kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(width, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        q = self.q_proj(x).view(batch, tokens, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(batch, tokens, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(batch, tokens, self.kv_heads, self.head_dim).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.kv_heads != self.heads)
        return self.o_proj(out.transpose(1, 2).reshape(batch, tokens, width))


class Layer(nn.Module):
    def __init__(self, width: int, heads: int, kv_heads: int, mlp: int) -> None:
        super().__init__()
        self.input_layernorm = nn.RMSNorm(width)
        self.self_attn = Attention(width, heads, kv_heads)
        self.post_attention_layernorm = nn.RMSNorm(width)
        self.gate_proj = nn.Linear(width, mlp, bias=False)
        self.up_proj = nn.Linear(width, mlp, bias=False)
        self.down_proj = nn.Linear(mlp, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class DecoderLM(nn.Module):
    def __init__(self, layers: int, width: int, heads: int, kv_heads: int, mlp: int, vocab: int = 32000) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, width)
        self.layers = nn.ModuleList(Layer(width, heads, kv_heads, mlp) for _ in range(layers))
        self.norm = nn.RMSNorm(width)
        self.lm_head = nn.Linear(width, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.norm(x))


def llama_7b() -> nn.Module:
    with torch.device("meta"):
        return DecoderLM(layers=32, width=4096, heads=32, kv_heads=32, mlp=11008).eval()


def llama_70b() -> nn.Module:
    with torch.device("meta"):
        return DecoderLM(layers=80, width=8192, heads=64, kv_heads=8, mlp=28672).eval()


def cases() -> list[tuple[str, Callable[[], nn.Module], torch.Tensor, str]]:
    torchvision = import_torchvision()
    found = []
    if torchvision is not None:
        image32, image1 = torch.rand(32, 3, 224, 224), torch.rand(1, 3, 224, 224)
        for count in ("conv", "all"):
            found.append((f"resnet50 b32 count={count}", lambda: torchvision.models.resnet50().eval(), image32, count))
            found.append((f"vit_b_16 b1 count={count}", lambda: torchvision.models.vit_b_16().eval(), image1, count))
    tokens = torch.zeros(1, 2048, dtype=torch.long, device="meta")
    found.append(("7B decoder on meta, 2048 tokens, count=all", llama_7b, tokens, "all"))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="d33e0fd")
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--json", default=None)
    options = parser.parse_args(argv)
    before, after = both_packages(options.before, "memory-cost-")
    plan = Plan(min_pairs=options.pairs, max_pairs=options.pairs, budget_s=120)
    rows: list[dict[str, Any]] = []
    print(f"memory figures: after (working tree) / before ({options.before}), meta profiles, medians of {options.pairs} pairs")
    for label, build, data, count in cases():
        model_a, model_b = build(), build()
        pair = alternate(lambda: after.profile(model_a, data, device="meta", count=count),
                         lambda: before.profile(model_b, data, device="meta", count=count), plan)
        same = (pair.a_result.total_flops, pair.a_result.params) == (pair.b_result.total_flops, pair.b_result.params)
        ratio = pair.a_s / pair.b_s
        rows.append({"case": label, "after_ms": pair.a_s * 1e3, "before_ms": pair.b_s * 1e3, "ratio": ratio,
                     "same_counts": same, "activation_bytes": pair.a_result.activation_bytes})
        print(f"  {label:44} {pair.a_s * 1e3:9.1f} ms {pair.b_s * 1e3:9.1f} ms  {ratio:5.2f}x  "
              f"{'counts equal' if same else 'COUNTS DIFFER'}  peak {pair.a_result.activation_bytes:,} B")
    torch.set_num_threads(1)
    model = llama_70b()
    tokens = torch.zeros(1, 2048, dtype=torch.long, device="meta")
    after.profile(model, tokens, device="meta", count="all")  # warm: lazy imports, kernels' first calls
    start = time.perf_counter()
    cost = after.profile(model, tokens, device="meta", count="all")
    seconds = time.perf_counter() - start
    rows.append({"case": "70B decoder on meta, 2048 tokens, count=all, one thread", "after_s": seconds,
                 "model_params": cost.model_params, "activation_bytes": cost.activation_bytes})
    print(f"  70B decoder ({cost.model_params:,} params) on meta, 2048 tokens, one thread: {seconds:.2f} s, "
          f"peak activations {cost.activation_bytes:,} B, weights {cost.weight_bytes:,} B")
    if options.json:
        Path(options.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
