"""Budgets on the whole model's size and memory, as a user writes and reads them.

``tiny()`` of ``plugin_helpers`` is two 3x3 convs (3->8, 8->8) on a 16x16 image:
808 parameters, 3,232 bytes of float32 weights, and a forward that holds the first
conv's output (8x14x14 floats, 6,272 bytes) while the second creates its own
(8x12x12, 4,608 bytes): a peak of 10,880 bytes per image, counted by hand.
"""

from __future__ import annotations

import json

import pytest

from plugin_helpers import assert_no_traceback, literal, usage_error_lines, write_pyproject, write_tests
from plugin_helpers import preloaded  # noqa: F401  (a fixture, requested by name)

pytestmark = pytest.mark.usefixtures("preloaded")

TINY_MODEL_PARAMS = 808
TINY_WEIGHT_BYTES = 808 * 4
TINY_PEAK = 8 * 14 * 14 * 4 + 8 * 12 * 12 * 4  # 10,880 bytes for one image


@pytest.fixture(autouse=True)
def project(pytester: pytest.Pytester) -> None:
    write_pyproject(pytester)


def test_limits_in_bytes_and_whole_model_params_pass_and_fail_by_exact_figures(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        f"""
        @pytest.mark.budget(model_params="{TINY_MODEL_PARAMS} params", weights="3.2 kB", activations="11 kB")
        def test_fits_but_weights(conv_cost):
            conv_cost(tiny(), image())


        @pytest.mark.budget(model_params=808, weights="4KiB", activations="{TINY_PEAK}B")
        def test_fits(conv_cost):
            conv_cost(tiny(), image())


        @pytest.mark.budget(activations="32KiB")
        def test_batch_of_four(conv_cost):
            conv_cost(tiny(), image(batch=4))
        """,
    )
    result = pytester.runpytest("--conv-report")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        literal(f"  weights 3.23 kB ({TINY_WEIGHT_BYTES:,}) > limit 3.2 kB (3,200) by 1.0% [limit from @pytest.mark.budget]"),
    ])
    # the peak is the whole batch's: four images hold four times the bytes, never divided
    result.stdout.fnmatch_lines([
        literal(f"  activations 42.5 KiB ({4 * TINY_PEAK:,}) > limit 32 KiB (32,768) by 32.8% "
                "[limit from @pytest.mark.budget]"),
        "  activations peak while 1 runs",
    ])
    # a budget on a size figure puts the memory table in the report
    result.stdout.fnmatch_lines([
        "test*name*model params*weights*activations*peak at",
        f"test_models.py::test_fits *{TINY_MODEL_PARAMS} *3.16 KiB *10.88 kB *1",
    ])
    assert_no_traceback(result.outlines)


def test_the_memory_report_shows_every_measurement_without_a_budget(pytester: pytest.Pytester) -> None:
    write_tests(pytester, """
        def test_plain(conv_cost):
            conv_cost(tiny(), image(batch=2))
        """)
    result = pytester.runpytest("--conv-report=memory")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "test*name*model params*weights*activations*peak at",
        "test_models.py::test_plain *Sequential *808 *3.16 KiB *21.25 KiB *1",
        "activations: the peak bytes of the tensors one forward holds at once, for the whole batch profiled*",
    ])
    plain = pytester.runpytest("--conv-report")
    assert not [line for line in plain.outlines if "peak at" in line]  # asked for, or budgeted: never else


def test_the_table_and_patterns_take_the_same_keys(pytester: pytest.Pytester) -> None:
    write_pyproject(pytester, """
        [tool.convbudget]
        weights = "1MiB"
        activations = "1 MB"

        [tool.convbudget.budgets]
        "*::test_small" = { activations = "10 kB", model_params = "1k" }
        """)
    write_tests(pytester, """
        def test_small(conv_cost):
            conv_cost(tiny(), image())


        def test_other(conv_cost):
            conv_cost(tiny(), image())
        """)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        literal(f"  activations 10.88 kB ({TINY_PEAK:,}) > limit 10 kB (10,000) by 8.8% "
                "[limit from pyproject.toml [tool.convbudget.budgets] '*::test_small' activations]"),
    ])


@pytest.mark.parametrize(("figure", "value", "why"), [
    ("weights", "3G", "a count where a size in bytes is needed"),
    ("activations", "3 GFLOPs", "a count where a size in bytes is needed"),
    ("params", "2MB", "a byte unit on a count"),
    ("model_params", "2MB", "a byte unit on a count"),
    ("model_params", "3 GMACs", "a MACs unit on a params limit"),
])
def test_a_unit_that_contradicts_its_key_is_refused_where_it_is_written(
    pytester: pytest.Pytester, figure: str, value: str, why: str
) -> None:
    write_tests(pytester, f"""
        @pytest.mark.budget({figure}={value!r})
        def test_marked(conv_cost):
            conv_cost(tiny(), image())
        """)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    lines = [line for line in result.outlines if f"for {figure}= in @pytest.mark.budget" in line]
    assert lines and why in lines[0] and "test_models.py::test_marked" in lines[0]
    assert_no_traceback(result.outlines)

    write_pyproject(pytester, f'[tool.convbudget]\n{figure} = "{value}"\n')
    table = pytester.runpytest()
    assert table.ret == pytest.ExitCode.USAGE_ERROR
    (line,) = usage_error_lines(table)
    assert f"at [tool.convbudget] {figure} in " in line and "pyproject.toml" in line and why in line


def test_the_baseline_keeps_the_figures_and_max_increase_gates_a_budgeted_one(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The baseline stores every size figure; a later run whose peak grew past max_increase fails
    the gate, naming the figure in bytes. A figure nobody budgets never gates."""
    write_pyproject(pytester, """
        [tool.convbudget]
        max_increase = 5
        """)
    body = """
        import os


        @pytest.mark.budget(activations="1 MB")
        def test_budgeted(conv_cost):
            conv_cost(tiny(), image(batch=int(os.environ.get("BATCH", "1"))))


        def test_unbudgeted(conv_cost):
            conv_cost(tiny(), image(batch=int(os.environ.get("BATCH", "1"))))
        """
    write_tests(pytester, body)
    assert pytester.runpytest("--conv-save-baseline=base.json").ret == 0
    saved = json.loads((pytester.path / "base.json").read_text())
    costs = [saved["costs"][measurement["cost"]] for measurement in saved["measurements"]]
    assert [(c["model_params"], c["weight_bytes"], c["activation_bytes"]) for c in costs] == [
        (TINY_MODEL_PARAMS, TINY_WEIGHT_BYTES, TINY_PEAK)] * 2

    monkeypatch.setenv("BATCH", "2")  # per-sample FLOPs unchanged; the batch's peak doubles
    result = pytester.runpytest("--conv-baseline=base.json", "--conv-comparison-json=cmp.json",
                                "--conv-markdown=comment.md")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = "\n".join(result.outlines)
    assert "activations +100.0% (10.6 KiB -> 21.3 KiB)" in text
    # the changed table gains a column for the figure a measurement budgets
    result.stdout.fnmatch_lines(["test *name *params *FLOPs *MACs *activations",
                                 "test_models.py::test_budgeted *Sequential *808 *251 k *125 k *10.6 KiB -> 21.3 KiB (+100.0%)"])
    # the unbudgeted one's peak doubled too, but nobody budgets it: its figures are unchanged
    result.stdout.fnmatch_lines(["conv budget: 1 of 2 measurements changed, 0 new, 0 removed; 1 grew past the allowed increase"])
    assert "test_unbudgeted" not in [line for line in result.outlines if "+100.0%" in line]
    comment = (pytester.path / "comment.md").read_text(encoding="utf-8")
    assert "activations +100.0% (10.6 KiB -> 21.3 KiB), more than the 5% allowed" in comment  # the PR comment says it as the log does
    comparison = json.loads((pytester.path / "cmp.json").read_text())
    (regression,) = comparison["regressions"]
    assert [figure["figure"] for figure in regression["figures"]] == ["activations"]
    assert (regression["figures"][0]["before"], regression["figures"][0]["after"]) == (TINY_PEAK, 2 * TINY_PEAK)


def test_a_budgeted_figure_that_changed_within_the_allowance_gets_its_column(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_pyproject(pytester, """
        [tool.convbudget]
        max_increase = 150
        """)
    write_tests(pytester, """
        import os


        @pytest.mark.budget(activations="1 MB", weights="1 MB")
        def test_budgeted(conv_cost):
            conv_cost(tiny(), image(batch=int(os.environ.get("BATCH", "1"))))
        """)
    assert pytester.runpytest("--conv-save-baseline=base.json").ret == 0
    monkeypatch.setenv("BATCH", "2")
    result = pytester.runpytest("--conv-baseline=base.json", "--conv-markdown=comment.md")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "test *name *params *FLOPs *MACs *weights *activations",
        "test_models.py::test_budgeted *Sequential *808 *251 k *125 k *3.16 KiB *10.6 KiB -> 21.3 KiB (+100.0%)",
    ])
    comment = (pytester.path / "comment.md").read_text(encoding="utf-8").splitlines()
    header = comment.index("| test | model | params | FLOPs | MACs | weights | activations |")
    assert comment[header + 1] == "| --- | --- | --- | --- | --- | --- | --- |"
    assert comment[header + 2] == ("| `test_models.py::test_budgeted` | `Sequential` | 808 | 251 k | 125 k | 3.16 KiB | "
                                   "10.6 KiB → 21.3 KiB (+100.0%) 🔺🔺🔺 |")
