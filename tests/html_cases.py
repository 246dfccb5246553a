"""Runs for the HTML report tests: real profiles of tiny models, with costs counted by hand.

``net(grown=False)`` on 1x3x16x16; every conv keeps 16x16 (256 positions) and has a bias,
so FLOPs are 2 * MACs:
  stem    Conv2d(3, 8, 3):  params 224;  MACs 27*8*256 = 55,296;   FLOPs 110,592
  body.a  Conv2d(8, 8, 3):  params 584;  MACs 72*8*256 = 147,456;  FLOPs 294,912
  body.b  Conv2d(8, 4, 1):  params 36;   MACs 8*4*256 = 8,192;     FLOPs 16,384
  head    Conv2d(4, 2, 1):  params 10;   MACs 4*2*256 = 2,048;     FLOPs 4,096
  total:  params 854, FLOPs 425,984, MACs 212,992
``net(grown=True)``: body.a widens to 16 channels, body.b reads 16, ``head`` becomes ``neck``:
  stem    unchanged
  body.a  Conv2d(8, 16, 3): params 1,168; MACs 72*16*256 = 294,912; FLOPs 589,824  (grown)
  body.b  Conv2d(16, 4, 1): params 68;    MACs 16*4*256 = 16,384;   FLOPs 32,768   (grown)
  neck    Conv2d(4, 2, 1):  params 10;    MACs 2,048;               FLOPs 4,096    (added; head went)
  total:  params 1,470, FLOPs 737,280, MACs 368,640
``attention_cost()``: nn.TransformerEncoderLayer(8, 2, dim_feedforward=8) on 1x3x8, counted with count="all";
its ``self_attn`` runs three kinds of call under one module name, linear, attention, linear:
  self_attn  in-projection F.linear 8 -> 24 on 3 tokens: params 216; MACs 3*8*24 = 576;  FLOPs 1,152
             attention (SDPA, 2 heads of 4): MACs 2*(3*3*4 + 3*3*4) = 144; FLOPs 246
             out-projection 8 -> 8: params 72; MACs 192; FLOPs 384
  linear1, linear2  Linear(8, 8): params 72 each; MACs 192; FLOPs 384
  total:  FLOPs 2,550; self_attn's linear part 1,536, its attention part 246
``mixed()``: Conv2d(3, 4, 1) then Linear(4, 2) on the pooled (1, 4), counted with count=["conv", "linear"]:
  conv    params 16; MACs 3*4*256 = 3,072; FLOPs 6,144
  fc      params 10; MACs 8;               FLOPs 16
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from pytest_convbudget import ConvCost, profile
from pytest_convbudget.budgets.pyproject import Limit
from pytest_convbudget.budgets.measurement import Measurement
from pytest_convbudget.ci.runfile import RunEntry, RunFile, build_run_file
from pytest_convbudget.ci.verdict import GatePolicy, RunReport, build_report

NET_TEST = "tests/test_models.py::test_net"
MIXED_TEST = "tests/test_models.py::test_mixed"
GROWN_FLOPS = 737_280
GROWN_PARAMS = 1_470
GROWN_MACS = 368_640
FLOPS_LIMIT = 400_000  # the grown net is over it


def net(grown: bool) -> nn.Module:
    width = 16 if grown else 8
    body = nn.Sequential(OrderedDict(a=nn.Conv2d(8, width, 3, padding=1), b=nn.Conv2d(width, 4, 1)))
    last = "neck" if grown else "head"
    return nn.Sequential(OrderedDict([("stem", nn.Conv2d(3, 8, 3, padding=1)), ("body", body), (last, nn.Conv2d(4, 2, 1))]))


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean(dim=(2, 3)))


def image() -> torch.Tensor:
    return torch.randn(1, 3, 16, 16)


def net_cost(grown: bool) -> ConvCost:
    return profile(net(grown), image(), device="meta")


def mixed_cost() -> ConvCost:
    return profile(Mixed(), image(), device="meta", count=["conv", "linear"])


def attention_cost() -> ConvCost:
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=8, batch_first=True)
    return profile(layer, torch.randn(1, 3, 8), device="meta", count="all")


def measurement(test_id: str, name: str, cost: ConvCost, limits: Sequence[Limit] = ()) -> Measurement:
    return Measurement(test_id=test_id, name=name, index=0, cost=cost, per="sample", limits=tuple(limits))


def run_file(measurements: Sequence[Measurement]) -> RunFile:
    return build_run_file([RunEntry(m, "failed" if m.over_budget else "passed") for m in measurements], "meta")


def report_of(measurements: Sequence[Measurement], enforcement: str = "fail") -> RunReport:
    """The report of a run with no baseline, as the gate builds it."""
    return build_report(run_file(measurements), None, GatePolicy(enforcement=enforcement))


def runs(enforcement: str = "fail") -> RunReport:
    """main's run and a PR's, judged with a 5% gate: the net grew past its FLOPs budget and the gate;
    ``mixed`` is new."""
    limit = Limit("flops", FLOPS_LIMIT, "@pytest.mark.budget")
    base = [measurement(NET_TEST, "Sequential", net_cost(False), [limit])]
    head = [
        measurement(MIXED_TEST, "Mixed", mixed_cost(), [Limit("params", 1_000, "@pytest.mark.budget")]),
        measurement(NET_TEST, "Sequential", net_cost(True), [limit]),
    ]
    policy = GatePolicy(override=5.0, enforcement=enforcement)
    return build_report(run_file(head), run_file(base), policy, "baseline.json")


def many(count: int) -> list[Measurement]:
    """``count`` measurements of the grown net, built from its JSON form as a run file would."""
    data = net_cost(True).to_dict()
    return [
        measurement(f"tests/test_many.py::test_net[{index}]", "Sequential", ConvCost.from_dict(data))
        for index in range(count)
    ]


def thousands(count: int) -> RunReport:
    """``count`` measurements of the net against a baseline, as a big suite's pull request gives them:
    every 50th grew (every 100th past its FLOPs budget too), every 200th is new, and as many went;
    the rest are unchanged."""
    small, grown = net_cost(False).to_dict(), net_cost(True).to_dict()
    limit, tight = Limit("flops", 1_000_000, "pattern"), Limit("flops", FLOPS_LIMIT, "@pytest.mark.budget")
    base, head = [], []
    for index in range(count):
        test_id = f"tests/test_suite_{index % 20}.py::test_net[{index}]"
        if index % 200 == 0:  # went, and a new test came
            base.append(measurement(test_id, "Sequential", ConvCost.from_dict(small), [limit]))
            head.append(measurement(test_id + "_new", "Sequential", ConvCost.from_dict(small), [limit]))
            continue
        base.append(measurement(test_id, "Sequential", ConvCost.from_dict(small), [limit]))
        cost = ConvCost.from_dict(grown if index % 50 == 49 else small)
        head.append(measurement(test_id, "Sequential", cost, [tight if index % 100 == 99 else limit]))
    return build_report(run_file(head), run_file(base), GatePolicy(override=5.0), "baseline.json")


# A run of very long names, as a parametrized test and a deep model give them: the page must wrap them, not scroll.
LONG_TEST = "tests/integration/models/test_deep_architectures.py::test_deep_model[" + "-".join(
    f"option_{index}={'value' * 3}_{index}" for index in range(9)) + "]"  # 312 characters, no space
LONG_NAME = "a_measurement_named_at_length_" * 4  # 120 characters, no space
LEVELS = 8


def deep(width: int) -> nn.Module:
    """A conv nested ``LEVELS`` modules deep under long names (a layer path of some 400 characters),
    beside a module whose one name is 150 characters with no break in it."""
    inner: nn.Module = nn.Conv2d(3, width, 3, padding=1)
    for level in range(LEVELS):
        inner = nn.Sequential(OrderedDict([(f"a_rather_long_module_name_at_level_{level}", inner)]))
    return nn.Sequential(OrderedDict([("encoder", inner), ("x" * 150, nn.Conv2d(width, 2, 1))]))


def long_names() -> RunReport:
    """A baseline and a run of the deep model under long names: it grew, so every table of changes shows."""
    limit = Limit("flops", 1_000, "@pytest.mark.budget")
    base = [measurement(LONG_TEST, LONG_NAME, profile(deep(4), image(), device="meta"), [limit]),
            measurement(LONG_TEST + "_gone", LONG_NAME, profile(deep(4), image(), device="meta"))]
    head = [measurement(LONG_TEST, LONG_NAME, profile(deep(8), image(), device="meta"), [limit]),
            measurement(LONG_TEST + "_new", "Sequential", mixed_cost())]
    return build_report(run_file(head), run_file(base), GatePolicy(override=5.0), "baseline-" + "b" * 150 + ".json")
