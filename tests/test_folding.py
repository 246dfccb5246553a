"""Repeated blocks folded, read as a person reads them: a 12-layer causal LM in every format.

``lm_cases.causal_lm()`` is profiled with ``count="all"`` (its costs are worked out in
``lm_cases``'s docstring). Per layer (16 tokens, width 32, hidden 64), in FLOPs per sample:
attn 98,304 (in-projection) + 31,232 (attention) + 32,768 (out-projection), fc1 65,536,
fc2 65,536: 293,376; twelve of them 3,520,512. lm_head (32 -> 50, no bias): 50,400.
Total 3,570,912, of which ``model`` holds 98.6%.

Widening the FFN (hidden 64 -> 96): fc1 and fc2 become 98,304 each (+50.0%) in all 12 layers,
24 grown rows; a layer 358,912, twelve 4,306,944 (+22.3%); total 4,357,344 (+22.0%).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from lm_cases import causal_lm, entry, lm_cost
from torch import nn

from pytest_convbudget import profile
from pytest_convbudget.budgets.pyproject import Limit, parse_settings
from pytest_convbudget.ci.runfile import RunFile, load_run_file
from pytest_convbudget.ci.verdict import GatePolicy, RunReport, build_report
from pytest_convbudget.render import folding, phrases
from pytest_convbudget.render.block_bars import block_chart_lines
from pytest_convbudget.render.html.view import build_view
from pytest_convbudget.render.markdown import render_markdown
from pytest_convbudget.render.terminal import render_layers, render_text, summary_lines
from pytest_convbudget.words.errors import ConfigError

TEST = "tests/test_lm.py::test_decoder"


def report(hidden: int = 96, allowed: float | None = None, **shape: object) -> RunReport:
    base = RunFile((entry(TEST, "CausalLM", lm_cost()),))
    head = RunFile((entry(TEST, "CausalLM", lm_cost(hidden=hidden)),))
    return replace(build_report(head, base, GatePolicy(max_increase=allowed)), **shape)


# -- the rule -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("model.layers.11.mlp.fc1", "model.layers.*.mlp.fc1"),
    ("features.2.conv.0.0", "features.*.conv.*.*"),
    ("layer1", "layer1"),  # a digit inside a part is a name, not an index
    ("blocks.0x1", "blocks.0x1"),
    ("", ""),
])
def test_each_all_digit_part_is_an_index(name: str, expected: str) -> None:
    assert folding.pattern(name) == expected


def _names(groups: list[folding.Folded[str]]) -> list[tuple[str, int]]:
    return [(group.name, group.count) for group in groups]


def test_a_group_forms_from_two_or_more_rows_and_keeps_the_order_of_its_first() -> None:
    names = ["stem", "layers.0.fc", "layers.0.out", "layers.1.fc", "layers.1.out", "head.0", "layers.2.fc"]
    assert _names(folding.fold(names, str)) == [
        ("stem", 1), ("layers.*.fc", 3), ("layers.*.out", 2), ("head.0", 1)]
    assert _names(folding.fold(names, str, enabled=False)) == [(name, 1) for name in names]


def test_indices_alone_fold_nothing_and_the_repeat_is_the_index_that_varies_least() -> None:
    """A Sequential's 0 and 1 name nothing; in features.N.conv.M.K the block index N is the repeat,
    so each layer of the blocks folds with its own kind (not every conv of the model into one row)."""
    assert _names(folding.fold(["0", "1", "2.0"], str)) == [("0", 1), ("1", 1), ("2.0", 1)]
    names = [f"features.{block}.conv.{layer}.0" for block in range(2, 6) for layer in (0, 1)]
    assert _names(folding.fold(names, str)) == [("features.*.conv.0.0", 4), ("features.*.conv.1.0", 4)]


def test_in_change_lists_only_rows_of_one_status_fold() -> None:
    change = report().comparison.changed[0]
    assert [(phrases.group_label(g), g.members[0].status) for g in folding.fold_changes(change.layers)] == [
        ("model.layers.*.mlp.fc1 ×12", "grown"), ("model.layers.*.mlp.fc2 ×12", "grown")]
    mixed = [replace(layer, after=None) if index == 0 else layer for index, layer in enumerate(change.layers)]
    assert [(g.name, g.count, g.members[0].status) for g in folding.fold_changes(mixed)][:3] == [
        ("model.layers.0.mlp.fc1", 1, "removed"), ("model.layers.*.mlp.fc2", 12, "grown"),
        ("model.layers.*.mlp.fc1", 11, "grown")]


# -- where a person reads it ------------------------------------------------------------------


def test_the_costliest_line_names_groups_with_their_totals() -> None:
    """attn's first call (the in-projection) in 12 layers: 12 * 98,304 = 1,179,648; fc1 and fc2 12 * 65,536."""
    cost = lm_cost()
    over = replace(entry(TEST, "CausalLM", cost).measurement, limits=(Limit("flops", 1_000_000, "a test"),))
    assert phrases.costliest_layers(over) == [
        ("model.layers.*.attn ×12", 1_179_648), ("model.layers.*.mlp.fc1 ×12", 786_432),
        ("model.layers.*.mlp.fc2 ×12", 786_432)]
    assert phrases.failure_message(over).splitlines()[-1] == (
        "  costliest layers by FLOPs: model.layers.*.attn ×12 1.18 M, model.layers.*.mlp.fc1 ×12 786 k, "
        "model.layers.*.mlp.fc2 ×12 786 k")
    assert phrases.costliest_line(over, fold=False) == (
        "costliest layers by FLOPs: model.layers.0.attn 98.3 k, model.layers.1.attn 98.3 k, model.layers.2.attn 98.3 k")


def test_widening_the_ffn_lists_two_groups_where_24_rows_grew() -> None:
    folded = report()
    assert len(folded.comparison.changed[0].layers) == 24
    line = f"  {TEST} [CausalLM] layers: "
    (layers,) = [text for text in render_text(folded).splitlines() if text.startswith(line)]
    assert layers == line + "model.layers.*.mlp.fc1 ×12 grown (+50.0% FLOPs), model.layers.*.mlp.fc2 ×12 grown (+50.0% FLOPs)"
    (unfolded,) = [text for text in render_text(replace(folded, fold=False)).splitlines() if text.startswith(line)]
    assert unfolded == line + (
        "model.layers.0.mlp.fc1 grown (+50.0% FLOPs), model.layers.0.mlp.fc2 grown (+50.0% FLOPs), "
        "model.layers.1.mlp.fc1 grown (+50.0% FLOPs), model.layers.1.mlp.fc2 grown (+50.0% FLOPs), "
        "model.layers.2.mlp.fc1 grown (+50.0% FLOPs), and 19 more")


def test_the_comments_regression_and_layer_table_fold_the_same_rows() -> None:
    body = render_markdown(report(allowed=5))
    # params per layer: in-projection 32*96 + 96 = 3,168, out-projection 1,056, fc1 32*64 + 64 = 2,112, fc2 2,080;
    # twelve layers and lm_head's 1,600: 102,592; with hidden 96, fc1 3,168 and fc2 3,104: 127,552 (+24.3%)
    assert ("- tests/test_lm.py::test_decoder [CausalLM]: params +24.3% (103 k -> 128 k), "
            "FLOPs +22.0% (3.57 M -> 4.36 M), MACs +21.9% (1.80 M -> 2.19 M), more than the 5% allowed; "
            "grew in `model.layers.*.mlp.fc1 ×12`, `model.layers.*.mlp.fc2 ×12`") in body.splitlines()
    rows = [line for line in body.splitlines() if line.startswith("| `model.layers.*.mlp")]
    # 12 * 65,536 = 786,432 -> 12 * 98,304 = 1,179,648; params fc1 12 * 2,112 = 25,344 -> 12 * 3,168 = 38,016,
    # fc2 12 * 2,080 = 24,960 -> 12 * 3,104 = 37,248
    assert rows == [
        "| `model.layers.*.mlp.fc1 ×12` | grown | 786 k → 1.18 M (+50.0%) 🔺🔺🔺 | 25.3 k → 38.0 k (+50.0%) 🔺🔺🔺 |",
        "| `model.layers.*.mlp.fc2 ×12` | grown | 786 k → 1.18 M (+50.0%) 🔺🔺🔺 | 25.0 k → 37.2 k (+49.2%) 🔺🔺🔺 |",
    ]


def test_the_bars_descend_through_model_and_fold_its_layers() -> None:
    """``model`` holds 98.6% of the FLOPs: the bars show its layers (folded) beside lm_head."""
    lines = block_chart_lines(lm_cost(), lm_cost(hidden=96))
    assert lines[0] == "FLOPs per sample by block, before → after (bars to one scale):"
    rows = [line.split(" | ")[0] + " | " + line.split(" | ")[-1] for line in lines[4:]]
    assert rows == ["| `model.layers.* ×12` | +22.3% |", "| `lm_head` | 0% |", "| **total** | +22.0% |"]
    assert [line.split(" | ")[0] for line in block_chart_lines(lm_cost(), lm_cost(hidden=96), depth=1)[4:]] == [
        "| `model`", "| `lm_head`", "| **total**"]
    assert [line.split(" | ")[0] for line in block_chart_lines(lm_cost(), lm_cost(hidden=96), fold=False)[4:]] == [
        *(f"| `model.layers.{index}`" for index in range(11)), "| … 2 more blocks, summed", "| **total**"]


def test_the_page_opens_on_the_same_blocks_and_a_group_opens_onto_its_members() -> None:
    detail = build_view(report())["measurements"][0]["detail"]
    tree = detail["tree"]
    assert [(node["label"], node["path"]) for node in tree["children"]] == [
        ("model.layers.* ×12", "model.layers.*"), ("lm_head", "lm_head")]
    group = tree["children"][0]
    assert [node["path"] for node in group["children"]] == [f"model.layers.{index}" for index in range(12)]
    assert group["values"]["flops"] == "4306944"
    assert [(block["name"], len(block.get("members", []))) for block in detail["blocks"]] == [
        ("model.layers.* ×12", 12), ("lm_head", 0)]
    assert detail["blocks_title"] == "Before and after, per block (FLOPs per sample)"
    assert [(row["name"], len(row["members"])) for row in detail["moved"]] == [
        ("model.layers.*.mlp.fc1 ×12", 12), ("model.layers.*.mlp.fc2 ×12", 12)]
    first = detail["layers"][0]
    assert first["cells"][0] == "model.layers.*.attn ×12" and len(first["members"]) == 12
    assert detail["layers"][1]["cells"][0] == "model.layers.*.attn, call 2 ×12"
    assert detail["layers"][1]["members"][0][0] == "model.layers.0.attn, call 2"
    unfolded = build_view(replace(report(), fold=False, depth=2))["measurements"][0]["detail"]
    assert [node["label"] for node in unfolded["tree"]["children"]] == ["model.layers", "lm_head"]
    assert all(isinstance(row, list) for row in unfolded["layers"])


class TwiceAttended(nn.Module):
    """One nn.MultiheadAttention applied twice: each application runs its in-projection, the attention
    op and its out-projection, all under the name ``attn``."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn(x, x, x, need_weights=False)[0]
        return self.attn(x, x, x, need_weights=False)[0]


def test_a_module_called_again_is_named_by_its_call_in_words() -> None:
    cost = profile(TwiceAttended(), torch.randn(1, 3, 8), device="meta", count="all")
    assert [layer.label for layer in cost.layers] == ["attn", *(f"attn, call {call}" for call in range(2, 7))]
    table = render_layers(cost.layers, with_kind=True)
    assert [line.split("  ")[0] for line in table[1:]] == ["attn", *(f"attn, call {call}" for call in range(2, 7))]
    assert "#" not in cost.table()
    assert phrases.layer_label("attn", 2) == "attn, call 2" == cost.layers[1].label
    assert phrases.layer_label("layers.*.attn", 2, 12) == "layers.*.attn, call 2 ×12"


def test_the_layer_report_folds_repeated_calls_or_sums_blocks_at_a_depth() -> None:
    measurement = entry(TEST, "CausalLM", lm_cost()).measurement
    lines = summary_lines([measurement], "fail", True)
    table = lines[lines.index(f"{TEST} [CausalLM] (meta):") + 1:]
    assert [line.strip().split("  ")[0] for line in table] == [
        "layer", "model.layers.*.attn ×12", "model.layers.*.attn, call 2 ×12", "model.layers.*.attn, call 3 ×12",
        "model.layers.*.mlp.fc1 ×12", "model.layers.*.mlp.fc2 ×12", "lm_head"]
    assert len(summary_lines([measurement], "fail", True, fold=False)) == len(lines) + 61 - 6  # 5 calls * 12 + lm_head
    blocks = summary_lines([measurement], "fail", True, depth=3)
    table = blocks[blocks.index(f"{TEST} [CausalLM] (meta):") + 1:]
    assert [line.split() for line in table] == [
        ["block", "calls", "params", "FLOPs", "MACs"],
        ["model.layers.*", "×12", "60", "100,992", "3,520,512", "1,769,472"],  # 12 * 8,416 params
        ["lm_head", "1", "1,600", "50,400", "25,600"],
    ]


# -- the options ----------------------------------------------------------------------


def test_the_table_takes_fold_and_depth(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    assert (parse_settings({}, path).fold, parse_settings({}, path).depth) == (True, None)
    settings = parse_settings({"fold": False, "depth": 2}, path)
    assert (settings.fold, settings.depth) == (False, 2)
    for table, message in [
        ({"fold": "no"}, "[tool.convbudget] fold = 'no': expected true or false"),
        ({"depth": 0}, "[tool.convbudget] depth = 0: expected a whole number of module path parts, 1 or more"),
        ({"depth": "2"}, "[tool.convbudget] depth = '2': expected a whole number, 1 or more"),
        ({"depth": True}, "[tool.convbudget] depth = True: expected a whole number"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            parse_settings(table, path)


def _diff(tmp_path: Path, *args: str) -> tuple[int, str]:
    import contextlib
    import io

    from pytest_convbudget.cli.diff import configure_parser

    base = RunFile((entry(TEST, "CausalLM", lm_cost()),))
    head = RunFile((entry(TEST, "CausalLM", lm_cost(hidden=96)),))
    (tmp_path / "base.json").write_text(base.to_json(), encoding="utf-8")
    (tmp_path / "head.json").write_text(head.to_json(), encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("[tool.convbudget]\n", encoding="utf-8")
    assert load_run_file(tmp_path / "head.json").entries  # a valid run file
    parsed = configure_parser(argparse.ArgumentParser()).parse_args(
        [str(tmp_path / "base.json"), str(tmp_path / "head.json"), "--config", str(tmp_path / "pyproject.toml"), *args])
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = parsed.run(parsed)
    return status, output.getvalue()


def test_diff_folds_by_default_and_takes_no_fold_and_depth(tmp_path: Path) -> None:
    status, text = _diff(tmp_path)
    assert status == 0 and "model.layers.*.mlp.fc1 ×12 grown (+50.0% FLOPs)" in text
    _, text = _diff(tmp_path, "--no-fold")
    assert "×12" not in text and "model.layers.0.mlp.fc1 grown (+50.0% FLOPs)" in text
    _, comment = _diff(tmp_path, "--format", "markdown", "--depth", "1")
    assert "| `model` |" in comment and "model.layers.* ×12" not in comment.split("| layer |")[0]
    with pytest.raises(SystemExit):
        _diff(tmp_path, "--depth", "0")


def test_the_plugin_takes_conv_depth_and_conv_no_fold(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_lm=f'''
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import torch
from lm_cases import causal_lm


def test_decoder(conv_cost):
    conv_cost(causal_lm(), torch.zeros(1, 16, dtype=torch.long), count="all", device="meta")
''')
    folded = pytester.runpytest("--conv-report=layers", "-p", "no:randomly")
    assert any(line.startswith("  model.layers.*.mlp.fc1 ×12 ") for line in folded.outlines)
    unfolded = pytester.runpytest("--conv-report=layers", "--conv-no-fold", "-p", "no:randomly")
    assert not any("×12" in line for line in unfolded.outlines)
    assert any(line.startswith("  model.layers.11.mlp.fc1 ") for line in unfolded.outlines)
    blocks = pytester.runpytest("--conv-report=layers", "--conv-depth", "1", "-p", "no:randomly")
    assert any(line.split()[:2] == ["model", "60"] for line in blocks.outlines)
    pytester.makepyprojecttoml("[tool.convbudget]\nfold = false\ndepth = 2\n")
    table = pytester.runpytest("--conv-report=layers", "-p", "no:randomly")
    assert any(line.split()[:2] == ["model.layers", "60"] for line in table.outlines)
    bad = pytester.runpytest("--conv-depth", "0")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "--conv-depth: 0: expected a whole number of module path parts" in bad.stderr.str()


def test_the_lm_profile_is_what_the_docstring_says() -> None:
    cost = lm_cost()
    assert cost.flops == 3_570_912 and lm_cost(hidden=96).flops == 4_357_344
    assert sum(layer.flops for layer in cost.layers if layer.name.startswith("model.")) == 12 * 293_376
    assert isinstance(causal_lm().model.layers, nn.ModuleList)
