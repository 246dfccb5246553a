"""A budget that judges the lesser part of its model says so, where people look.

A transformer profiled with the default ``count`` (conv modules) under a FLOPs budget
counts 0 FLOPs and passes any budget; its linears and attention are listed among the
uncounted work. When a budgeted measurement's uncounted work outweighs its counted work,
the test warns (pytest's warnings summary, under the test's id), the terminal summary says
so with or without ``--conv-report``, and so do the PR comment and the page. Costs by hand:

``Encoder()`` on (2, 4) token ids: Embedding(10, 8), then Linear(8, 24) to q, k, v, one
head of attention, and Linear(8, 8) out.
  linear: qkv MACs 2*4*8*24 = 1,536, FLOPs 2*1,536 = 3,072; out MACs 2*4*8*8 = 512, FLOPs 1,024
  attention (batch 2, 4 queries and keys of width 8): q k^T 2*4*4 = 32 outputs of 8 terms, FLOPs
  32*(2*8 - 1) = 480; then A v 2*4*8 = 64 outputs of 4 terms, FLOPs 64*(2*4 - 1) = 448; 928 in all
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from plugin_helpers import conv_budget_section, preloaded  # noqa: F401  (preloaded: a fixture)

LINEAR_FLOPS, ATTENTION_FLOPS = 3_072 + 1_024, 480 + 448

TESTS = """
import pytest
import torch
import torch.nn.functional as F
from torch import nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.qkv = nn.Linear(8, 24)
        self.out = nn.Linear(8, 8)

    def forward(self, ids):
        q, k, v = self.qkv(self.embed(ids)).chunk(3, dim=-1)
        return self.out(F.scaled_dot_product_attention(q, k, v))


@pytest.mark.budget(flops="1G")
def test_encoder(conv_cost):
    conv_cost(Encoder(), torch.randint(0, 10, (2, 4)))


def test_unbudgeted(conv_cost):
    conv_cost(Encoder(), torch.randint(0, 10, (2, 4)), name="free")
"""

SAID = (
    "linear and attention ops ran 5,024 (5.02 k) FLOPs for the batch that are not in the totals (counted: 0); "
    'count = ["conv", "linear", "attention"] (or count = "all") would include them'
)


@pytest.fixture(autouse=True)
def project(pytester: pytest.Pytester, preloaded: None) -> None:
    pytester.makepyfile(test_encoder=TESTS)


def test_the_test_warns_and_the_summary_says_so_without_a_report(pytester: pytest.Pytester) -> None:
    assert LINEAR_FLOPS + ATTENTION_FLOPS == 5_024
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, warnings=1)
    warned = [line for line in result.stdout.lines if "ConvBudgetWarning" in line]
    assert len(warned) == 1
    assert warned[0].endswith(  # at the test's budget line, with its id
        f"test_encoder.py:19: ConvBudgetWarning: test_encoder.py::test_encoder [Encoder]: "
        f"uncounted work outweighs the counted: {SAID}")
    assert conv_budget_section(result.stdout.lines) == [
        "Uncounted work outweighs the counted (1):",
        f"  test_encoder.py::test_encoder [Encoder]: {SAID}",
    ]
    assert "[free]" not in result.stdout.str()  # no budget, nothing judged: the report's notes list its ops


def test_counting_the_kinds_it_names_silences_it(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(textwrap.dedent("""\
        [tool.convbudget]
        count = ["conv", "linear", "attention"]
        """))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert "outweighs" not in result.stdout.str()


def test_the_comment_and_the_page_say_so(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", "--conv-markdown=comment.md", "--conv-html=page.html")
    result.assert_outcomes(passed=2, warnings=1)
    comment = Path(pytester.path, "comment.md").read_text(encoding="utf-8").splitlines()
    at = comment.index("**Uncounted work outweighs the counted** (1):")
    assert comment[at + 2] == (
        "- `Encoder` in `test_encoder.py::test_encoder`: linear and attention ops ran 5,024 (5.02 k) FLOPs for the "
        "batch that are not in the totals (counted: 0); `count = [\"conv\", \"linear\", \"attention\"]` "
        "(or `count = \"all\"`) would include them"
    )
    page = Path(pytester.path, "page.html").read_text(encoding="utf-8")
    assert "<p>Uncounted work outweighs the counted:</p>" in page
    assert '<ul class="cb-alerts cb-outweighed">' in page
    assert "test_encoder.py::test_encoder [Encoder]: linear and attention ops ran 5,024 (5.02 k) FLOPs" in page


def test_a_transformers_bert_under_the_default_count_is_said_to_be_outweighed() -> None:
    """transformers' BERT, built from its config: conv-only, it counts nothing, and the line
    names its linears and attention with the FLOPs FlopCounterMode finds in them."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode
    from zoo_models import import_torchvision

    from pytest_convbudget import profile
    from pytest_convbudget.budgets.measurement import Measurement
    from pytest_convbudget.budgets.pyproject import Limit
    from pytest_convbudget.render.phrases import outweighed_text

    import_torchvision()  # transformers imports torchvision when it is installed
    transformers = pytest.importorskip("transformers")
    import torch

    config = transformers.BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=128, max_position_embeddings=64)
    model = transformers.BertModel(config).eval()
    ids = torch.randint(0, 1000, (2, 16))
    cost = profile(model, ids)
    measured = Measurement("test_bert.py::test_bert", "BertModel", 0, cost, "sample", (Limit("flops", 10**9, "marker"),))
    assert measured.outweighed and cost.total_flops == 0
    every = profile(model, ids, count="all")
    assert sum(cost.uncounted_work().values()) == every.total_flops
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as reference:
        model(ids)
    assert every.total_macs == reference.get_total_flops() // 2
    assert outweighed_text(measured).startswith(
        f"linear and attention ops ran {every.total_flops:,} (")
    assert not Measurement("t", "BertModel", 0, cost, "sample").outweighed  # unbudgeted: its notes list the ops
