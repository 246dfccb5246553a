"""Every JSON document the package writes is valid by the schema it ships, checked by an independent validator.

Two schemas ship in the package: the run file's (``ci/run.schema.json``, also
the baseline's) and the comparison JSON's (``render/comparison.schema.json``,
what ``diff --format json`` prints and ``--conv-comparison-json`` writes).
Here ``jsonschema`` checks both schemas themselves, their closed vocabularies
against the package's own words, the goldens of the examples project, the
comparison of every report shape ``diff`` can print (no change, changes,
regressions, growth from zero, over budget under each enforcement, refused
kinds, new, removed and not run), and the files a real pytest session writes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch
from plugin_helpers import backbone_module, preloaded, write_pyproject  # noqa: F401  (preloaded: a fixture)
from torch import nn

from pytest_convbudget import profile
from pytest_convbudget.budgets.measurement import Measurement
from pytest_convbudget.budgets.pyproject import PER_CHOICES, Limit
from pytest_convbudget.ci import verdict
from pytest_convbudget.ci.compare import LayerChange
from pytest_convbudget.ci.coverage import Coverage
from pytest_convbudget.ci.runfile import RunEntry, RunFile
from pytest_convbudget.ci.validation import run_schema
from pytest_convbudget.ci.verdict import Counts, GatePolicy, build_report
from pytest_convbudget.engine.kinds import KINDS
from pytest_convbudget.engine.results import ModuleCost
from pytest_convbudget.render.comparison_json import (
    SCHEMA,
    SCHEMA_VERSION,
    comparison_data,
    comparison_schema,
    render_comparison_json,
)
from pytest_convbudget.words.vocabulary import (
    BUDGET_FIGURES,
    CHANGED,
    ENDINGS,
    ENFORCEMENT,
    FIGURES,
    NEW,
    NOT_COMPARED,
    UNCHANGED,
)

jsonschema = pytest.importorskip("jsonschema")

GOLDENS = Path(__file__).parent / "data" / "examples_outputs"
RUN_FILES = sorted((Path(__file__).parent / "data").glob("**/*.json"))  # every run file the examples and 0.1 wrote
SCHEMAS = {"pytest-convbudget/run": run_schema, SCHEMA: comparison_schema}


def strict_json(text: str) -> Any:
    """Parse as strict JSON: ``NaN``, ``Infinity`` and ``-Infinity`` are refused, not read as floats."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def validate(document: Any, kind: str) -> Any:
    """``document`` checked against the shipped schema of ``kind``, which its own "schema" field must name."""
    assert document.get("schema") == kind
    jsonschema.Draft202012Validator(SCHEMAS[kind]()).validate(document)
    return document


def stdout_of(golden: Path) -> str:
    """The stdout part of a golden text of a command: ``exit status N``, ``--- stdout``, ..., ``--- stderr``."""
    text = golden.read_text(encoding="utf-8")
    return text.split("--- stdout\n", 1)[1].rsplit("--- stderr\n", 1)[0]


def walk(schema: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema of ``schema``, with where it is."""
    if isinstance(schema, dict):
        yield path, schema
        for key, value in schema.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from walk(value, f"{path}/{index}")


# -- the comparison schema itself --------------------------------------------------


def test_the_comparison_schema_is_a_valid_json_schema_with_its_version() -> None:
    schema = comparison_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/comparison/{SCHEMA_VERSION}")
    assert schema["properties"]["schema"] == {"const": SCHEMA}
    assert schema["properties"]["schema_version"] == {"const": SCHEMA_VERSION}


def test_every_object_of_the_comparison_schema_is_closed() -> None:
    """A field the schema does not name is refused everywhere: a new field is a new schema version."""
    objects = [(path, sub) for path, sub in walk(comparison_schema()) if sub.get("type") == "object"]
    assert len(objects) > 10
    for path, sub in objects:
        if "properties" in sub:
            assert sub.get("additionalProperties") is False, path
            assert sorted(sub["required"]) == sorted(sub["properties"]), path  # every field always written
        else:  # a map: its keys and values are both constrained
            assert "propertyNames" in sub and isinstance(sub.get("additionalProperties"), dict), path


def test_the_comparison_schema_names_the_package_vocabulary() -> None:
    definitions = comparison_schema()["$defs"]
    properties = comparison_schema()["properties"]
    assert properties["status"]["enum"] == [
        verdict.FAILED, verdict.INCOMPLETE, verdict.WARNED, verdict.CHANGED_WITHIN, verdict.NO_CHANGE, verdict.NO_BASELINE]
    # every way a session can end early, and every version a baseline can differ in
    assert properties["incomplete"]["items"]["properties"]["state"]["enum"] == list(ENDINGS[1:])
    assert properties["drift"]["items"]["properties"]["what"]["enum"] == list(verdict.DRIFT_KEYS)
    assert properties["enforcement"]["enum"] == list(ENFORCEMENT)
    assert definitions["over_budget"]["properties"]["standing"]["enum"] == [NEW, CHANGED, UNCHANGED, NOT_COMPARED]
    assert definitions["figure"]["enum"] == list(BUDGET_FIGURES)
    # as many figures as can regress or overrun at once: every figure a limit may name
    assert definitions["regression"]["properties"]["figures"]["maxItems"] == len(BUDGET_FIGURES)
    assert definitions["over_budget"]["properties"]["overruns"]["maxItems"] == len(BUDGET_FIGURES)
    assert list(definitions["figures"]["properties"]) == list(BUDGET_FIGURES)
    assert list(definitions["layer_figures"]["properties"]) == list(FIGURES)
    assert definitions["per"]["enum"] == list(PER_CHOICES)
    # the kinds a run file may hold (0.1's "transposed" included): whatever the run schema accepts, this writes
    assert definitions["kind"]["enum"] == run_schema()["$defs"]["kind"]["enum"]
    assert set(definitions["kind"]["enum"]) - set(KINDS) == {"transposed"}
    assert list(definitions["counts"]["properties"]) == [field.name for field in dataclasses.fields(Counts)]


def test_the_layer_statuses_are_every_status_a_layer_change_has() -> None:
    small, large = ModuleCost("m", 1, 1, 2, 1), ModuleCost("m", 1, 2, 4, 2)
    statuses = {LayerChange("m", before, after).status
                for before, after in [(None, small), (small, None), (small, large), (large, small)]}
    enum = comparison_schema()["$defs"]["layer_change"]["properties"]["status"]["enum"]
    assert statuses == set(enum) and len(enum) == 4


# -- the goldens ---------------------------------------------------------------------


def test_the_golden_comparison_json_is_valid() -> None:
    """``diff --format json`` on the examples project (tests/data/examples_outputs/diff-json.txt)."""
    data = validate(strict_json(stdout_of(GOLDENS / "diff-json.txt")), SCHEMA)
    assert data["changed"] and data["over_budget"] and data["added"] and data["removed"]


@pytest.mark.parametrize("path", RUN_FILES, ids=lambda path: str(path.relative_to(path.parents[1])))
def test_every_golden_run_file_is_valid(path: Path) -> None:
    validate(strict_json(path.read_text(encoding="utf-8")), "pytest-convbudget/run")


# -- every report shape diff prints ----------------------------------------------------

# Hand-counted, on 1x3x16x16 (conv with bias: FLOPs = 2 * MACs):
#   Conv2d(3, 4, 1): params 16, MACs 3*4*256 = 3,072, FLOPs 6,144
#   Conv2d(3, 2, 1) on a batch of 2: per sample params 8, MACs 1,536, FLOPs 3,072; the batch 3,072 MACs, 6,144 FLOPs
T = "tests/t.py::"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def entry(test: str, name: str, module: nn.Module, batch: int = 1, per: str = "sample",
          count: str | list[str] | None = None, limits: tuple[Limit, ...] = ()) -> RunEntry:
    cost = profile(module, torch.randn(batch, 3, 16, 16), device="meta", count=count)
    return RunEntry(Measurement(test_id=T + test, name=name, index=0, cost=cost, per=per, limits=limits), "passed")


def backbone(width: int) -> nn.Module:
    return nn.Sequential(OrderedDict(stem=nn.Conv2d(3, 8, 3), body=nn.Conv2d(8, width, 3)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """base.json (with a commit), head.json, mismatch.json (one measurement counted with other kinds) and
    shard.json (a shard that ran one test of three), as a workflow downloads them."""
    folder = tmp_path_factory.mktemp("runs")
    stem = entry("test_stem", "stem", nn.Conv2d(3, 4, 1))
    over = dataclasses.replace(stem.measurement, limits=(
        Limit("flops", 5_000, "pyproject.toml [tool.convbudget] flops"), Limit("macs", 0, "@pytest.mark.budget")))
    base = [
        entry("test_grew", "backbone", backbone(8)),
        stem,
        entry("test_gone", "old", nn.Conv2d(3, 3, 1)),
        entry("test_from_zero", "idle", nn.Sequential(nn.ReLU())),
        entry("test_kinds", "hybrid", nn.Conv2d(3, 4, 1)),
    ]
    head = [
        entry("test_grew", "backbone", backbone(16)),
        RunEntry(over, "passed"),
        entry("test_new", "fresh", nn.Conv2d(3, 2, 1), batch=2, per="batch"),
        entry("test_from_zero", "idle", nn.Sequential(nn.ReLU(), nn.Conv2d(3, 4, 1))),
        base[4],
    ]
    mismatch = [*base[:4], entry("test_kinds", "hybrid", nn.Conv2d(3, 4, 1), count=["conv", "linear"])]
    ran = Coverage(False, (T + "test_grew", T + "test_from_zero", T + "test_stem"), (T + "test_grew", T + "test_from_zero"))
    files = {
        "base.json": RunFile(tuple(base), {"device": "meta", "commit": COMMIT}),
        "head.json": RunFile(tuple(head), {"device": "meta"}),
        "mismatch.json": RunFile(tuple(mismatch), {"device": "meta"}),
        "shard.json": RunFile((head[0],), {"device": "meta"}, ran),
    }
    for name, run in files.items():
        (folder / name).write_text(run.to_json(), encoding="utf-8")
    return folder


def diff(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("CI", "BUILD_NUMBER")}
    return subprocess.run(
        [sys.executable, "-m", "pytest_convbudget", "diff", *args, "--format", "json"], cwd=folder, env=environment,
        capture_output=True, text=True, encoding="utf-8", timeout=120, check=False,
    )


SHAPES = [
    pytest.param("base.json", (), 0, "no change", (), id="no-change"),
    pytest.param("head.json", ("--budget", "off"), 0, "changed", ("changed", "added"), id="changed-within"),
    pytest.param("head.json", (), 1, "failed", ("over_budget",), id="over-budget"),
    pytest.param("head.json", ("--budget", "warn"), 0, "warned", ("over_budget",), id="over-budget-warned"),
    pytest.param("head.json", ("--max-increase", "50"), 1, "failed", ("regressions", "over_budget"), id="regressions"),
    pytest.param("mismatch.json", (), 1, "failed", ("mismatched",), id="mismatched"),
    pytest.param("shard.json", (), 0, "changed", ("removed", "not_run"), id="removed-and-not-run"),
]


@pytest.mark.parametrize(("head", "args", "exit_status", "status", "found"), SHAPES)
def test_every_report_shape_diff_prints_is_valid(
    runs: Path, head: str, args: tuple[str, ...], exit_status: int, status: str, found: tuple[str, ...]
) -> None:
    done = diff(runs, "base.json", head, *args)
    assert done.returncode == exit_status, done.stderr
    data = validate(strict_json(done.stdout), SCHEMA)
    assert data["status"] == status
    assert data["baseline"] == {"label": "base.json", "commit": COMMIT}
    for key in found:
        assert data[key], key
        assert data["counts"][key] == len(data[key])


def test_growth_from_zero_has_no_percentage_and_a_zero_limit_no_percent_over(runs: Path) -> None:
    """Strict JSON has no Infinity: where 100 * delta / before has no value, the percentage is null."""
    data = validate(strict_json(diff(runs, "base.json", "head.json", "--max-increase", "50").stdout), SCHEMA)
    changed = {change["name"]: change for change in data["changed"]}
    assert changed["idle"]["figures"] == [
        {"figure": "params", "before": 0, "after": 16, "delta": 16, "percent": None},
        {"figure": "flops", "before": 0, "after": 6_144, "delta": 6_144, "percent": None},
        {"figure": "macs", "before": 0, "after": 3_072, "delta": 3_072, "percent": None},
    ]
    assert changed["idle"]["layers"] == [{"name": "1", "status": "added", "before": None,
                                          "after": {"params": 16, "flops": 6_144, "macs": 3_072}}]
    regressions = {regression["name"]: regression for regression in data["regressions"]}
    assert regressions["idle"]["figures"] == changed["idle"]["figures"]  # grown from zero: past any allowance
    assert regressions["idle"]["grown_layers"] == ["1"]
    (over,) = data["over_budget"]
    assert (over["name"], over["standing"]) == ("stem", UNCHANGED)
    assert over["overruns"] == [
        {"figure": "flops", "value": 6_144, "limit": 5_000, "source": "pyproject.toml [tool.convbudget] flops",
         "percent_over": 22.88},
        {"figure": "macs", "value": 3_072, "limit": 0, "source": "@pytest.mark.budget", "percent_over": None},
    ]


def test_new_removed_and_not_run_measurements_carry_their_figures(runs: Path) -> None:
    data = validate(strict_json(diff(runs, "base.json", "head.json").stdout), SCHEMA)
    assert data["added"] == [{"test_id": T + "test_new", "name": "fresh", "per": "batch", "count": ["conv"],
                              "figures": {"params": 8, "flops": 6_144, "macs": 3_072, "model_params": 8,
                                          "weights": 32, "activations": 4_096}}]  # the batch of 2's
    shard = validate(strict_json(diff(runs, "base.json", "shard.json").stdout), SCHEMA)
    # test_from_zero ran here without its measurement: removed; the others' tests ran in another shard
    assert shard["removed"] == [{"test_id": T + "test_from_zero", "name": "idle", "per": "sample", "count": ["conv"],
                                 "figures": {"params": 0, "flops": 0, "macs": 0, "model_params": 0, "weights": 0,
                                             "activations": 3_072}}]
    assert [(e["test_id"], e["figures"]["flops"]) for e in shard["not_run"]] == [
        (T + "test_stem", 6_144), (T + "test_gone", 4_608), (T + "test_kinds", 6_144)]


def test_a_refused_measurement_names_both_sides_kinds(runs: Path) -> None:
    data = validate(strict_json(diff(runs, "base.json", "mismatch.json").stdout), SCHEMA)
    assert data["mismatched"] == [
        {"test_id": T + "test_kinds", "name": "hybrid", "baseline_count": ["conv"], "count": ["conv", "linear"]}]


def test_a_report_without_a_baseline_is_valid(runs: Path) -> None:
    from pytest_convbudget.ci.runfile import load_run_file

    report = build_report(load_run_file(runs / "head.json"), None, GatePolicy())
    data = validate(strict_json(render_comparison_json(report)), SCHEMA)
    assert (data["status"], data["baseline"]) == ("failed", None)
    assert (data["changed"], data["added"], data["removed"], data["not_run"], data["unchanged"]) == ([], [], [], [], 0)
    assert [(over["name"], over["standing"]) for over in data["over_budget"]] == [("stem", NOT_COMPARED)]


# -- what a real pytest session writes -------------------------------------------------

SESSION_TESTS = backbone_module("SCHEMA_WIDTH") + '''

@pytest.mark.budget(flops="3M")
def test_backbone(conv_cost):
    conv_cost(backbone(), torch.randn(1, 3, 16, 16), name="backbone")
'''


def test_every_json_file_a_session_writes_is_valid(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                  preloaded: None) -> None:
    """Run files, baselines and comparison JSONs: without a baseline, then a branch that grows past its allowance."""
    monkeypatch.delenv("SCHEMA_WIDTH", raising=False)
    write_pyproject(pytester)
    pytester.makepyfile(test_schema_models=SESSION_TESTS)
    pytester.runpytest("--conv-save-baseline=base.json", "--conv-run-file=main.json",
                       "--conv-comparison-json=alone.json").assert_outcomes(passed=1)
    monkeypatch.setenv("SCHEMA_WIDTH", "400")  # body: FLOPs 20,736 * 400 = 8.29 M, over the 3 M budget
    result = pytester.runpytest("--conv-baseline=base.json", "--conv-max-increase=5", "--conv-run-file=head.json",
                                "--conv-comparison-json=out/comparison.json")
    result.assert_outcomes(failed=1)
    for name in ("base.json", "main.json", "head.json"):
        validate(strict_json((pytester.path / name).read_text(encoding="utf-8")), "pytest-convbudget/run")
    alone = validate(strict_json((pytester.path / "alone.json").read_text(encoding="utf-8")), SCHEMA)
    assert (alone["status"], alone["baseline"]) == ("no baseline", None)
    compared = validate(strict_json((pytester.path / "out" / "comparison.json").read_text(encoding="utf-8")), SCHEMA)
    assert compared["status"] == "failed"
    assert compared["baseline"]["label"] == "base.json"
    assert [(r["name"], r["allowed_percent"]) for r in compared["regressions"]] == [("backbone", 5)]
    assert [o["figure"] for o in compared["over_budget"][0]["overruns"]] == ["flops"]


# -- every combination of figures that can regress or overrun, generated -------------------------


@pytest.fixture(scope="module")
def grown_costs() -> tuple[Any, Any]:
    """One model before and after it widened: every figure, layers' and size alike, grew."""

    def net(width: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, width, 3), nn.BatchNorm2d(width), nn.Conv2d(width, 4, 3))

    image = torch.randn(2, 3, 16, 16)
    return profile(net(4), image, device="meta"), profile(net(9), image, device="meta")


@pytest.mark.parametrize("budgeted", [0b000000, 0b111111, 0b000111, 0b111000, 0b101010, 0b010101])
@pytest.mark.parametrize("over", [0b000000, 0b111111, 0b000111, 0b111000, 0b110011])
@pytest.mark.parametrize("per", ["sample", "batch"])
def test_every_combination_of_regressed_and_overrun_figures_is_valid(
    grown_costs: tuple[Any, Any], budgeted: int, over: int, per: str
) -> None:
    """Each bit a figure of BUDGET_FIGURES: ``budgeted`` ones carry a limit (a size figure is
    compared only where budgeted), ``over`` ones a limit below the head's value. Whatever grows
    past ``max_increase`` regresses: the comparison JSON and both run files validate for every
    combination, up to all six figures at once."""
    from pytest_convbudget.budgets.limits import measured_value

    before, after = grown_costs
    chosen = [figure for bit, figure in enumerate(BUDGET_FIGURES) if (budgeted | over) >> bit & 1]

    def limits(cost: Any) -> tuple[Limit, ...]:
        found = []
        for figure in chosen:
            value = measured_value(cost, figure, per)
            under = over >> BUDGET_FIGURES.index(figure) & 1
            found.append(Limit(figure, value - 1 if under else value * 10, f"generated {figure}"))
        return tuple(found)

    def run(cost: Any, limited: tuple[Limit, ...]) -> RunFile:
        return RunFile((RunEntry(Measurement("test_m.py::test_m", "m", 0, cost, per, limited), "passed"),))

    base, head = run(before, limits(after)), run(after, limits(after))
    report = build_report(head, base, GatePolicy(max_increase=5.0))
    data = validate(strict_json(json.dumps(comparison_data(report))), SCHEMA)
    assert len(data["regressions"][0]["figures"]) == 3 + sum(
        figure in chosen for figure in ("model_params", "weights", "activations"))
    assert len(data["over_budget"][0]["overruns"] if data["over_budget"] else []) == bin(over).count("1")
    for document in (base, head):
        validate(strict_json(document.to_json()), "pytest-convbudget/run")
