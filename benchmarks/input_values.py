"""What knowing input values costs a meta profile: LLMs with and without an attention mask.

Usage::

    python benchmarks/input_values.py [--pairs N]

transformers models built from their configs on meta (no weights), profiled on meta with
``count="all"`` with a left-padded attention mask and without one, alternated in one
process (medians). The mask's preparation runs on the CPU twins of the inputs
(``engine/input_values.py``); the ratio is that cost. Also printed: the real bytes the
profile computed (``input_value_bytes``) beside the peak activation bytes a real forward
would hold.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from timing import Plan, alternate  # noqa: E402
from zoo_models import import_torchvision  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9)
    options = parser.parse_args(argv)
    import_torchvision()  # transformers imports it when installed
    import transformers as t

    from pytest_convbudget import profile

    configs = {
        "Llama 8B (Llama-3-8B's shape)": (t.LlamaForCausalLM, t.LlamaConfig(
            vocab_size=128256, hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
            intermediate_size=14336, max_position_embeddings=8192)),
        "BERT-base": (t.BertModel, t.BertConfig()),
        "GPT-2": (t.GPT2LMHeadModel, t.GPT2Config()),
    }
    plan = Plan(min_pairs=options.pairs, max_pairs=options.pairs, budget_s=120)
    print(f"meta profiles, count='all', 1 x 512 tokens (BERT, GPT-2) or 1 x 2048 (Llama); medians of {options.pairs} pairs")
    for label, (model_class, config) in configs.items():
        tokens = 2048 if "Llama" in label else 512
        with torch.device("meta"):
            model = model_class(config).eval()
        ids = torch.randint(0, config.vocab_size, (1, tokens))
        mask = torch.ones(1, tokens, dtype=torch.long)
        mask[0, : tokens // 20] = 0
        plain = {"use_cache": False} if "BERT" not in label else {}
        masked = {**plain, "attention_mask": mask}
        pair = alternate(lambda: profile(model, ids, kwargs=masked, count="all"),
                         lambda: profile(model, ids, kwargs=plain, count="all"), plan)
        cost = pair.a_result
        print(f"  {label:32} with mask {pair.a_s * 1e3:8.1f} ms, without {pair.b_s * 1e3:8.1f} ms: "
              f"{pair.a_s / pair.b_s:.2f}x; device {cost.device}; input values {cost.input_value_bytes:,} B "
              f"beside {cost.activation_bytes:,} B of activations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
