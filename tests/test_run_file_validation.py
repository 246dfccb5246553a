"""Run files are checked against the shipped JSON Schema before anything reads them.

The schema in the package is the one rule: a walk names the first field that
breaks it, in one line with the file's name; an independent validator
(``jsonschema``) agrees with it on every file the project writes; and files
over the size limit are refused unread, wherever a run file is read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from plugin_helpers import assert_no_traceback, preloaded, usage_error_lines  # noqa: F401  (preloaded: a fixture)
from pytest_convbudget.budgets.pyproject import PER_CHOICES
from pytest_convbudget.ci.runfile import SCHEMA, SCHEMA_VERSION, load_run_file
from pytest_convbudget.ci.validation import run_schema
from pytest_convbudget.engine.kinds import KINDS
from pytest_convbudget.words.errors import RunFileError
from pytest_convbudget.words.quantity import format_bytes, parse_byte_size
from pytest_convbudget.words.vocabulary import BUDGET_FIGURES, COST_MODEL_VERSION, DEFAULT_MAX_FILE_SIZE, ENDINGS

jsonschema = pytest.importorskip("jsonschema")

DATA = Path(__file__).parent / "data"
WRITTEN = sorted(DATA.glob("**/*.json"))  # every run file the examples write, and those of 0.1 and of version 1
BASELINE = DATA / "examples_outputs" / "baseline.json"
VERSION_1 = DATA / "run-v1.json"  # the examples' baseline as version 1 of the layout wrote it


def edited(change: Callable[[dict[str, Any]], object], path: Path = BASELINE) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    return json.dumps(data)


# -- the schema is the rule -------------------------------------------------------


def test_the_shipped_schema_is_a_valid_json_schema_with_the_versions_it_checks() -> None:
    schema = run_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["anyOf"] == [{"$ref": f"#/$defs/run_{version}"} for version in (SCHEMA_VERSION, 1)]
    for version in (SCHEMA_VERSION, 1):  # what this writes, and the version before, still read
        run = schema["$defs"][f"run_{version}"]
        assert run["properties"]["schema"] == {"const": SCHEMA}
        assert run["properties"]["schema_version"] == {"const": version}
        # a file counted with another cost model is read, and the verdict names the difference
        assert run["properties"]["cost_model_version"]["minimum"] == 1 <= COST_MODEL_VERSION
    assert schema["$defs"]["ending"]["properties"]["state"]["enum"] == list(ENDINGS)
    assert schema["$id"].endswith(f"/run/{SCHEMA_VERSION}")


def test_a_layer_row_holds_the_fields_of_a_layer_in_their_order() -> None:
    from pytest_convbudget.engine.results import LAYER_FIELDS

    definitions = run_schema()["$defs"]
    assert definitions["run_2"]["properties"]["layer_fields"] == {
        "description": "The names of a layer row's values, in order.", "const": list(LAYER_FIELDS)}
    assert [rule["title"] for rule in definitions["layer_row"]["prefixItems"]] == list(LAYER_FIELDS)
    assert sorted(definitions["layer"]["properties"]) == sorted(LAYER_FIELDS)  # version 1's table: the same fields


def test_the_schema_names_every_figure_kind_and_setting_the_package_knows() -> None:
    definitions = run_schema()["$defs"]
    assert definitions["limit"]["properties"]["figure"]["enum"] == list(BUDGET_FIGURES)
    assert set(KINDS) <= set(definitions["kind"]["enum"])
    assert set(definitions["kind"]["enum"]) - set(KINDS) == {"transposed"}  # 0.1's name for a transposed conv
    assert definitions["measurement"]["properties"]["per"]["enum"] == list(PER_CHOICES)


@pytest.mark.parametrize("path", WRITTEN, ids=lambda path: str(path.relative_to(DATA)))
def test_every_run_file_the_project_writes_is_valid_by_an_independent_validator(path: Path) -> None:
    jsonschema.Draft202012Validator(run_schema()).validate(json.loads(path.read_text(encoding="utf-8")))
    assert load_run_file(path).entries


def test_a_session_writes_run_files_and_merged_baselines_the_schema_accepts(
    pytester: pytest.Pytester, preloaded: None
) -> None:
    pytester.makepyfile(test_models="""
        import torch
        def test_a(conv_cost):
            conv_cost(torch.nn.Conv2d(3, 4, 3), torch.randn(2, 3, 8, 8), count="all")
        def test_b(conv_cost):
            conv_cost(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2)), torch.randn(1, 3, 2, 2), count="all")
    """)
    pytester.runpytest("--conv-save-baseline=base.json", "--conv-run-file=run.json").assert_outcomes(passed=2)
    pytester.runpytest("-k", "test_a", "--conv-merge-baseline=base.json").assert_outcomes(passed=1, deselected=1)
    validator = jsonschema.Draft202012Validator(run_schema())
    for name in ("base.json", "run.json"):
        validator.validate(json.loads((pytester.path / name).read_text(encoding="utf-8")))


# -- one line naming the file and the first bad field -------------------------------


def _set_limit_figure(data: dict[str, Any]) -> None:
    data["measurements"][3]["limits"][0]["figure"] = "NaN"


BAD_FIELDS = [
    pytest.param(_set_limit_figure, "measurements[3].limits[0].figure: 'NaN' is not a figure (params, flops, macs, model_params, weights, activations)",
                 id="unknown-figure"),
    pytest.param(lambda d: d["layers"][2].__setitem__(0, ["conv1"]),
                 "layers[2][0] (name): expected a string, got a list of 1 item(s)", id="name-a-list"),
    pytest.param(lambda d: d["layers"][2].__setitem__(3, "everything"),
                 "layers[2][3] (kind): 'everything' is not a kind (conv, linear, matmul, attention, functional_conv, "
                 "transposed)", id="layer-kind"),
    pytest.param(lambda d: d["measurements"][1].update(test_id={"id": 1}),
                 "measurements[1].test_id: expected a string, got a table of 1 field(s)", id="test-id-a-table"),
    pytest.param(lambda d: d["costs"][0].update(flops=float("nan")),
                 "costs[0].flops: expected a whole number, got NaN", id="nan"),
    pytest.param(lambda d: d["costs"][0].update(total_macs=float("-inf")),
                 "costs[0].total_macs: expected a whole number, got -Infinity", id="infinity"),
    pytest.param(lambda d: d["costs"][0].update(params=2.0),
                 "costs[0].params: expected a whole number, got the number 2.0", id="fraction"),
    pytest.param(lambda d: d["costs"][0].update(macs=-1),
                 "costs[0].macs: -1 is negative", id="negative"),
    pytest.param(lambda d: d["costs"][0].update(flops=10**40),
                 f"costs[0].flops: {10**40} is larger than any real count "
                 "(at most 1e+24)", id="huge"),
    pytest.param(lambda d: d["layers"][0].pop(),
                 "layers[0]: 18 items, at least 19", id="missing-value"),
    pytest.param(lambda d: d["layers"][0].append(1),
                 "layers[0]: 20 items, at most 19", id="extra-value"),
    pytest.param(lambda d: d["measurements"][4].update(cost=len(d["costs"])),
                 "measurements[4].cost: 7 is past the end of costs (7 costs)", id="cost-past-the-end"),
    pytest.param(lambda d: d["costs"][1]["layers"].__setitem__(2, len(d["layers"]) + 5),
                 "costs[1].layers[2]: 222 is past the end of layers (217 rows)", id="layer-past-the-end"),
    pytest.param(lambda d: d["measurements"][0].update(cost=-1),
                 "measurements[0].cost: -1 is negative", id="negative-place"),
    pytest.param(lambda d: d.update(layer_fields=d["layer_fields"][::-1]),
                 "layer_fields: a list of 19 item(s), expected a list of 19 item(s)", id="fields-reordered"),
    pytest.param(lambda d: d.pop("costs"), "missing field 'costs'", id="no-costs"),
    pytest.param(lambda d: d["endings"][0].update(state=None),
                 "endings[0].state: null is not a session ending (complete, interrupted, worker crashed, collection "
                 "errors, stopped, collect only, internal error)", id="ending-state"),
    pytest.param(lambda d: d["measurements"][0].update(verdict="green"),
                 "measurements[0]: unknown field 'verdict'", id="extra-key"),
    pytest.param(lambda d: d["measurements"][0].update(name="x" * 5000),
                 "measurements[0].name: a string of 5,000 characters, at most 4,096", id="long-string"),
    pytest.param(lambda d: d["costs"][0].update(count=["conv", "everything"]),
                 "costs[0].count[1]: 'everything' is not a kind (conv, linear, matmul, attention, "
                 "functional_conv, transposed)", id="unknown-kind"),
    pytest.param(lambda d: d["measurements"][2].update(name=d["measurements"][1]["name"],
                                                       test_id=d["measurements"][1]["test_id"]),
                 "measurements[2]: measures 'ResNet' of 'test_examples.py::test_resnet50_within_the_default_limits' "
                 "a second time (first at measurements[1])", id="duplicate"),
    pytest.param(lambda d: d.update(schema_version=3), "schema version 3, this pytest-convbudget reads versions 1 "
                 "and 2: save the baseline again", id="version"),
    pytest.param(lambda d: d.update(schema_version=True), "schema version true, this pytest-convbudget reads "
                 "versions 1 and 2: save the baseline again", id="version-true"),
]

# A file of version 1 is checked as strictly, against version 1's layout: every measurement with its cost inline.
BAD_FIELDS_OF_VERSION_1 = [
    pytest.param(lambda d: d["measurements"][0]["cost"]["layers"][2].update(name=["conv1"]),
                 "measurements[0].cost.layers[2].name: expected a string, got a list of 1 item(s)", id="name-a-list"),
    pytest.param(lambda d: d["measurements"][0]["cost"].update(flops=float("nan")),
                 "measurements[0].cost.flops: expected a whole number, got NaN", id="nan"),
    pytest.param(lambda d: d["measurements"][0]["cost"]["layers"][0].pop("kind"),
                 "measurements[0].cost.layers[0]: missing field 'kind'", id="missing-key"),
    pytest.param(lambda d: d["measurements"][0].update(cost=0),
                 "measurements[0].cost: expected a table, got the number 0", id="a-place-in-version-1"),
    pytest.param(lambda d: d.update(layers=[]), "unknown field 'layers'", id="a-pool-in-version-1"),
    pytest.param(_set_limit_figure, "measurements[3].limits[0].figure: 'NaN' is not a figure (params, flops, macs, "
                 "model_params, weights, activations)", id="unknown-figure"),
]


@pytest.mark.parametrize(("change", "problem"), BAD_FIELDS)
def test_a_bad_field_is_one_line_naming_the_file_and_the_field(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], problem: str
) -> None:
    path = tmp_path / "base.json"
    path.write_text(edited(change), encoding="utf-8")
    with pytest.raises(RunFileError) as refused:
        load_run_file(path)
    assert str(refused.value) == f"{path}: {problem}"


@pytest.mark.parametrize(("change", "problem"), BAD_FIELDS_OF_VERSION_1)
def test_a_bad_field_of_a_version_1_file_is_one_line_naming_it(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], problem: str
) -> None:
    path = tmp_path / "base.json"
    path.write_text(edited(change, VERSION_1), encoding="utf-8")
    with pytest.raises(RunFileError) as refused:
        load_run_file(path)
    assert str(refused.value) == f"{path}: {problem}"


BAD_TEXTS = [
    pytest.param(b"[" * 100_000, "not a pytest-convbudget run file (nested too deeply)", id="deep-nesting"),
    pytest.param(re.sub(rb'("flops":\d)', rb"\g<1>" + b"0" * 5000, BASELINE.read_bytes(), count=1),
                 "not a pytest-convbudget run file (a number too long to be a count)", id="number-too-long"),
    pytest.param(b"\xff" + BASELINE.read_bytes(), "not UTF-8 text (byte 0), not a pytest-convbudget run file",
                 id="not-utf8"),
    pytest.param(edited(lambda d: d["measurements"][0].update(name="\ud800")).encode(),
                 "measurements[0].name: not valid Unicode (a lone surrogate escape)", id="lone-surrogate"),
]


@pytest.mark.parametrize(("raw", "problem"), BAD_TEXTS)
def test_text_that_is_not_a_run_file_is_one_line(tmp_path: Path, raw: bytes, problem: str) -> None:
    path = tmp_path / "base.json"
    path.write_bytes(raw)
    with pytest.raises(RunFileError) as refused:
        load_run_file(path)
    assert str(refused.value) == f"{path}: {problem}"


def test_diff_refuses_a_bad_file_in_one_line_with_status_2_and_prints_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "head.json").write_text(edited(_set_limit_figure), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest_convbudget", "diff", str(BASELINE), "head.json", "--format", "markdown"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "convbudget diff: error: head.json: measurements[3].limits[0].figure: 'NaN' is not a figure "
        "(params, flops, macs, model_params, weights, activations)"
    ]


# -- the size limit ------------------------------------------------------------------


def test_sizes_read_in_decimal_and_binary_units() -> None:
    assert parse_byte_size("64MiB") == DEFAULT_MAX_FILE_SIZE == 64 * 2**20
    assert parse_byte_size("1.5 GB") == 1_500_000_000
    assert parse_byte_size("10kB") == parse_byte_size("10 KB") == 10_000
    assert parse_byte_size(4096) == 4096
    assert format_bytes(DEFAULT_MAX_FILE_SIZE) == "64 MiB"
    assert format_bytes(10_000) == "10 kB"
    assert format_bytes(1500) == "1.5 kB"
    assert format_bytes(3232) == "3.16 KiB"
    for bad in ("3G", "12", "64 Mb", "-1MB", True, 1.5, "MB"):
        with pytest.raises(ValueError, match="invalid size .* expected a number of bytes with a unit"):
            parse_byte_size(bad)


def test_a_file_over_the_default_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as stream:
        stream.truncate(DEFAULT_MAX_FILE_SIZE + 1)  # sparse: no disk used
    with pytest.raises(RunFileError) as refused:
        load_run_file(path, raise_with="--max-file-size")
    assert str(refused.value) == f"{path}: larger than the 64 MiB limit for run files; raise it with --max-file-size"


def test_diff_takes_the_limit_from_the_option_or_the_pyproject(tmp_path: Path) -> None:
    size = BASELINE.stat().st_size

    def diff(*options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest_convbudget", "diff", str(BASELINE), str(BASELINE),
                               *options], cwd=tmp_path, capture_output=True, text=True, check=False)

    refused = diff("--max-file-size", f"{size - 1}B")
    assert refused.returncode == 2
    assert refused.stderr == (f"convbudget diff: error: {BASELINE}: larger than the {format_bytes(size - 1)} limit "
                              "for run files; raise it with --max-file-size\n")
    assert diff("--max-file-size", f"{size}B").returncode == 0
    (tmp_path / "pyproject.toml").write_text(f'[tool.convbudget]\nmax_file_size = "{size - 1}B"\n', encoding="utf-8")
    assert "raise it with --max-file-size or max_file_size in [tool.convbudget]" in diff().stderr
    assert diff("--max-file-size", "1MiB").returncode == 0  # the option beats the table
    bad = diff("--max-file-size", "3G")
    assert bad.returncode == 2 and "argument --max-file-size: invalid size '3G'" in bad.stderr


def test_the_plugin_refuses_a_baseline_over_its_limit_before_any_test_runs(
    pytester: pytest.Pytester, preloaded: None
) -> None:
    pytester.makepyfile(test_gate_models="def test_runs():\n    open('ran', 'w').close()\n")
    (pytester.path / "base.json").write_bytes(BASELINE.read_bytes())
    result = pytester.runpytest("--conv-baseline=base.json", "--conv-max-file-size=10kB")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert usage_error_lines(result) == [
        "ERROR: pytest-convbudget: base.json: larger than the 10 kB limit for run files; raise it with "
        "--conv-max-file-size or max_file_size in [tool.convbudget]"
    ]
    assert not (pytester.path / "ran").exists()
    pytester.makepyprojecttoml('[tool.convbudget]\nmax_file_size = "1 MiB"\n')
    assert pytester.runpytest("--conv-baseline=base.json").ret == pytest.ExitCode.OK


def test_a_bad_limit_is_one_line_naming_its_source(pytester: pytest.Pytester, preloaded: None) -> None:
    pytester.makepyfile(test_gate_models="def test_runs():\n    pass\n")
    result = pytester.runpytest("--conv-baseline=base.json", "--conv-max-file-size=lots")
    assert usage_error_lines(result) == [
        "ERROR: --conv-max-file-size: invalid size 'lots': expected a number of bytes with a unit (B, kB, MB, GB, TB, "
        "KiB, MiB, GiB, TiB), e.g. '64MiB', '1.5 GB'"
    ]
    pytester.makepyprojecttoml('[tool.convbudget]\nmax_file_size = "3G"\n')
    result = pytester.runpytest()
    lines = usage_error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("ERROR: pytest-convbudget: invalid size '3G' at [tool.convbudget] "
                                                   "max_file_size in ")
    assert_no_traceback(result.outlines + result.errlines)


def test_a_refused_merge_baseline_is_left_exactly_as_it_was(pytester: pytest.Pytester, preloaded: None) -> None:
    pytester.makepyfile(test_gate_models="def test_runs():\n    pass\n")
    original = edited(_set_limit_figure).encode()
    (pytester.path / "base.json").write_bytes(original)
    result = pytester.runpytest("--conv-merge-baseline=base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert usage_error_lines(result) == [
        "ERROR: pytest-convbudget: base.json: measurements[3].limits[0].figure: 'NaN' is not a figure "
        "(params, flops, macs, model_params, weights, activations)"
    ]
    assert (pytester.path / "base.json").read_bytes() == original
    assert sorted(path.name for path in pytester.path.iterdir() if path.name.startswith(".base")) == []


def test_the_schema_uses_only_the_keywords_the_reader_checks() -> None:
    """The reader walks the subset of JSON Schema it implements; a keyword outside it (a
    ``oneOf`` added by hand) would be skipped there and accept what the schema refuses."""
    understood = {"$defs", "$id", "$ref", "$schema", "additionalProperties", "anyOf", "const", "description",
                  "enum", "items", "maxItems", "maxLength", "maxProperties", "maximum", "minItems", "minLength",
                  "minimum", "prefixItems", "properties", "required", "title", "type"}
    used: set[str] = set()

    def walk(node: object, keys_are_names: bool = False) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if not keys_are_names:
                    used.add(key)
                walk(value, keys_are_names=not keys_are_names and key in ("properties", "$defs"))
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(run_schema())
    assert used <= understood, sorted(used - understood)
