"""Adding an op kind is one registry entry: everything else picks it up.

A kind registered here (``outer``, counting ``torch.outer``, a test-only kind)
must be accepted by ``count=``, counted by the function mode, shown in the
table, the run file and the HTML page, and be part of ``"all"``, with no other
edit. It is removed again after each test.
"""

from __future__ import annotations

import json
from typing import Any, Iterator, Mapping

import pytest
import torch
from torch import nn

from html_cases import measurement, report_of
from pytest_convbudget import ConvCost, profile
from pytest_convbudget.engine.formulas import CallCost
from pytest_convbudget.render.html.view import build_view
from pytest_convbudget.engine.kinds import KINDS, Kind, OpFacts, OpRule, parse_count, register
from pytest_convbudget.render.outputs import render

NAME = "outer"


def _outer_op(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    left, right = args[0], args[1]
    products = left.numel() * right.numel()  # one multiply per output element, no adds
    return OpFacts(type="outer", input_shape=tuple(left.shape), weight_shape=tuple(right.shape),
                   output_shape=tuple(result.shape), batch=1, cost=CallCost(macs=products, flops=products),
                   operands=(left, right))


@pytest.fixture
def outer_kind() -> Iterator[Kind]:
    kind = register(Kind(name=NAME, summary="torch.outer (a test-only kind)", colour="#123456",
                         ops=(OpRule(("torch.outer",), _outer_op),)))
    try:
        yield kind
    finally:
        del KINDS[NAME]


class Outer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))

    def forward(self, data: torch.Tensor) -> torch.Tensor:
        return torch.outer(data, self.scale)


def outer_cost(count: object) -> ConvCost:
    return profile(Outer(), torch.ones(3), device="cpu", count=count, batch_size=1)


def test_a_registered_kind_is_a_count_value_and_part_of_all(outer_kind: Kind) -> None:
    assert parse_count(NAME) == (NAME,)
    assert parse_count("all")[-1] == NAME
    with pytest.raises(ValueError, match=r"expected a kind \(conv, linear, matmul, attention, functional_conv, outer\)"):
        parse_count("outr")


def test_a_registered_kind_is_counted_shown_and_stored(outer_kind: Kind) -> None:
    cost = outer_cost(NAME)
    assert [(layer.name, layer.kind, layer.macs, layer.params) for layer in cost.layers] == [("(root)", NAME, 12, 4)]
    assert outer_cost("all").by_kind()[NAME].macs == 12
    assert "outer" in cost.table()
    assert ConvCost.from_dict(json.loads(json.dumps(cost.to_dict()))) == cost
    view = build_view(report_of([measurement("t.py::t", "Outer", cost)]))
    assert view["colours"][NAME] == "#123456"
    assert view["measurements"][0]["detail"]["kinds"] == [NAME]
    assert "counted outer (FLOPs by kind: outer 12)" in render(report_of([measurement("t.py::t", "Outer", cost)]), "html")


def test_unregistered_the_kind_is_unknown_again_and_its_ops_are_not_watched() -> None:
    assert NAME not in KINDS
    with pytest.raises(ValueError, match="unknown kind 'outer'"):
        parse_count(NAME)
    assert outer_cost("all").layers == ()


def _unreadable(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, is_parameter: Any) -> OpFacts:
    raise KeyError("a field this reader did not expect")


def test_a_reader_of_dispatcher_ops_that_fails_is_one_line_naming_the_op() -> None:
    """A kind may watch ops at the dispatcher (``AtenRule``). A reader that raises is the
    profile's failure, in one line naming the op, never the model's traceback."""
    from pytest_convbudget.engine.kinds import AtenRule
    from pytest_convbudget.words.errors import ProfileError

    class ByName(nn.Module):
        def forward(self, data: torch.Tensor) -> torch.Tensor:
            return torch.ops.aten.mm(data.unsqueeze(1), data.unsqueeze(0))

    register(Kind(name=NAME, summary="aten.mm by name (a test-only kind)", colour="#123456",
                  aten=(AtenRule(("aten.mm",), _unreadable),)))
    try:
        with pytest.raises(ProfileError) as raised:
            profile(ByName(), torch.ones(3), device="cpu", count="all", batch_size=1)
    finally:
        del KINDS[NAME]
    assert str(raised.value) == "could not count aten.mm.default: KeyError: 'a field this reader did not expect'"
