"""A small causal language model, and a run of 500 measurements of it, for the folding and size tests.

``causal_lm()`` is built the way real decoders are named: ``model`` (``embed_tokens``, an
``nn.ModuleList`` of 12 ``layers``, ``norm``) and an ``lm_head``. Each layer has an
``attn`` (``nn.MultiheadAttention``, which runs three calls under one name: its
in-projection, the attention op and its out-projection) and an ``mlp`` of ``fc1`` and
``fc2``. Profiled with ``count="all"`` on 16 tokens of width 32 (per sample):

  layers.N.attn   in-projection 32 -> 96: MACs 16*32*96 = 49,152
                  attention, 4 heads of 8: MACs 2*(16*16*8)*4 = 16,384
                  out-projection 32 -> 32: MACs 16*32*32 = 16,384
  layers.N.mlp.fc1  Linear(32, hidden): MACs 16*32*hidden
  layers.N.mlp.fc2  Linear(hidden, 32): MACs 16*hidden*32
  lm_head           Linear(32, vocab, bias=False): MACs 16*32*vocab

With hidden 64 and vocab 50, ``model`` holds 99% of the FLOPs and ``lm_head`` the rest.

``big_run()`` is a pull request's run against main's: 500 measurements of that model,
92 of them grown past the 5% allowed (60 with a wider FFN, grown in the same 24 layers,
and 32 with a wider ``lm_head``), 100 changed within the allowance, 4 over a FLOPs limit,
the rest unchanged.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from functools import lru_cache

import torch
from torch import nn

from pytest_convbudget import ConvCost, profile
from pytest_convbudget.budgets.measurement import Measurement
from pytest_convbudget.budgets.pyproject import Limit
from pytest_convbudget.ci.runfile import RunEntry, RunFile, build_run_file
from pytest_convbudget.ci.verdict import GatePolicy, RunReport, build_report

WIDTH = 32
TOKENS = 16
LAYERS = 12


class Block(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(WIDTH, 4, batch_first=True)
        self.mlp = nn.Sequential(OrderedDict(fc1=nn.Linear(WIDTH, hidden), act=nn.GELU(), fc2=nn.Linear(hidden, WIDTH)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x, x, x, need_weights=False)[0]
        return x + self.mlp(x)


class Decoder(nn.Module):
    def __init__(self, hidden: int, vocab: int) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, WIDTH)
        self.layers = nn.ModuleList(Block(hidden) for _ in range(LAYERS))
        self.norm = nn.LayerNorm(WIDTH)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed_tokens(tokens)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


class CausalLM(nn.Module):
    def __init__(self, hidden: int = 64, vocab: int = 50) -> None:
        super().__init__()
        self.model = Decoder(hidden, vocab)
        self.lm_head = nn.Linear(WIDTH, vocab, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.model(tokens))


def causal_lm(hidden: int = 64, vocab: int = 50) -> CausalLM:
    return CausalLM(hidden, vocab)


@lru_cache(maxsize=None)
def lm_cost(hidden: int = 64, vocab: int = 50) -> ConvCost:
    """The model's profile on the meta device, every kind counted."""
    tokens = torch.zeros(1, TOKENS, dtype=torch.long)
    return profile(causal_lm(hidden, vocab), tokens, device="meta", count="all")


def entry(test_id: str, name: str, cost: ConvCost, limits: tuple[Limit, ...] = ()) -> RunEntry:
    return RunEntry(Measurement(test_id=test_id, name=name, index=0, cost=cost, per="sample", limits=limits), "passed")


BIG_IDS = "tests/models/test_language_models.py::test_decoder_cost[variant-{:03d}]"
BIG_NAME = "CausalLM"
MEASUREMENTS = 500
WIDER_FFN = range(0, 120, 2)  # 60 measurements: hidden 64 -> 96, grown in every fc1 and fc2
WIDER_HEAD = range(1, 65, 2)  # 32 measurements: vocab 50 -> 400 (lm_head +700%)
WITHIN = range(200, 300)  # 100 measurements: vocab 50 -> 51, within the 5% allowed
OVER_LIMIT = (0, 2, 1, 400)  # over a FLOPs limit: two wider FFNs, a wider head, an unchanged one
ALLOWED = 5.0


def big_runs() -> tuple[RunFile, RunFile]:
    """main's run and the pull request's, 500 measurements each."""
    base, wide, head, within = lm_cost(), lm_cost(hidden=96), lm_cost(vocab=400), lm_cost(vocab=51)
    limit = (Limit("flops", lm_cost().flops - 1, "pyproject.toml [tool.convbudget] flops"),)
    before, after = [], []
    for index in range(MEASUREMENTS):
        test_id = BIG_IDS.format(index)
        grown = wide if index in WIDER_FFN else head if index in WIDER_HEAD else within if index in WITHIN else base
        limits = limit if index in OVER_LIMIT else ()
        before.append(entry(test_id, BIG_NAME, base, limits))
        after.append(entry(test_id, BIG_NAME, grown, limits))
    return build_run_file(before, "meta"), build_run_file(after, "meta")


def big_report(page_url: str | None = "https://example.github.io/pr-7/conv-budget.html") -> RunReport:
    base, head = big_runs()
    report = build_report(head, base, GatePolicy(max_increase=ALLOWED), "baseline.json")
    return replace(report, page_url=page_url)
