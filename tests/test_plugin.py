"""The pytest plugin as a user meets it: the ``conv_cost`` fixture, the ``budget`` marker and the ``--conv-*`` options.

Every test writes a real test module (with the tiny models of
``plugin_helpers``, whose costs are counted by hand there), runs pytest on it
with ``pytester`` and reads what the user would read: outcomes, failure
messages, the "conv budget" section, JUnit XML. Budgets from pyproject.toml are
tested in ``test_plugin_config.py``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

import pytest

from plugin_helpers import (
    STEM_FLOPS,
    STEM_MACS,
    STEM_PARAMS,
    TINY_FLOPS,
    TINY_MACS,
    TINY_PARAMS,
    assert_no_traceback,
    conv_budget_section,
    literal,
    row,
    usage_error_lines,
    write_pyproject,
    write_tests,
)
from plugin_helpers import preloaded  # noqa: F401  (a fixture, requested by name)
from pytest_convbudget.budgets.marker import MARKER_HELP
from pytest_convbudget.session import USER_PROPERTY
from pytest_convbudget.words.quantity import format_quantity, invalid_quantity_message
from pytest_convbudget.render.terminal import SUMMARY_COLUMNS
from pytest_convbudget.render.terminal import LAYER_COLUMNS

# The failure message of ``tiny()`` against a 200k FLOPs marker: 250,560 / 200,000 = 1.2528.
TINY_OVER_200K = "  FLOPs 251 k (250,560) > limit 200 k (200,000) by 25.3% [limit from @pytest.mark.budget]"
TINY_COSTLIEST_BY_FLOPS = "  costliest layers by FLOPs: 1 166 k, 0 84.7 k"

# A small suite with one measurement of each status, used by the report tests.
REPORT_SUITE = """
@pytest.mark.budget(flops="300k")
def test_ok(conv_cost):
    conv_cost(tiny(), image())


@pytest.mark.budget(flops="200k")
def test_over(conv_cost):
    conv_cost(tiny(), image())


def test_free(conv_cost):
    conv_cost(Stem(), image())
"""


@pytest.fixture(autouse=True)
def project(pytester: pytest.Pytester, preloaded: None) -> None:
    """Each session gets its own pyproject.toml, so the repository's settings never leak in."""
    write_pyproject(pytester)


# -- the conv_cost fixture ----------------------------------------------------


def test_conv_cost_returns_the_profile_of_the_model(pytester: pytest.Pytester) -> None:
    """The measurement is the test's to use: conv_cost hands back the engine's ConvCost."""
    write_tests(
        pytester,
        f"""
        from pytest_convbudget import ConvCost


        def test_measure(conv_cost):
            cost = conv_cost(tiny(), image())
            assert isinstance(cost, ConvCost)
            assert cost.model == "Sequential"
            assert (cost.params, cost.flops, cost.macs) == ({TINY_PARAMS}, {TINY_FLOPS}, {TINY_MACS})
            assert [layer.name for layer in cost.layers] == ["0", "1"]
        """,
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_measurements_of_one_test_are_told_apart_by_name(pytester: pytest.Pytester) -> None:
    """Default names are the class name, numbered '#2' on repeats; name= sets one explicitly."""
    write_tests(
        pytester,
        """
        def test_several(conv_cost):
            conv_cost(tiny(), image())
            conv_cost(Stem(), image())
            conv_cost(tiny(), image())
            conv_cost(tiny(), image(), name="student")
        """,
    )
    result = pytester.runpytest("--conv-report")
    result.assert_outcomes(passed=1)
    test_id = "test_models.py::test_several"
    result.stdout.re_match_lines(
        [
            row(test_id, "Sequential", str(TINY_PARAMS)),
            row(test_id, "Stem", str(STEM_PARAMS)),
            row(test_id, "Sequential#2", str(TINY_PARAMS)),
            row(test_id, "student", str(TINY_PARAMS)),
        ]
    )


def test_an_explicit_name_measured_twice_fails(pytester: pytest.Pytester) -> None:
    """Two measurements under one name could never be told apart in a report or a baseline."""
    write_tests(
        pytester,
        """
        def test_twice(conv_cost):
            conv_cost(tiny(), image(), name="net")
            conv_cost(Stem(), image(), name="net")
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            literal(
                "test_models.py::test_twice: conv_cost: name 'net' is measured twice; "
                "give each measurement its own name="
            )
        ]
    )
    assert_no_traceback(result.outlines)


def test_an_unknown_option_fails_with_one_line_naming_the_test(pytester: pytest.Pytester) -> None:
    """A typo in a keyword (devise= for device=) is the user's mistake: one line, no traceback."""
    write_tests(
        pytester,
        """
        def test_typo(conv_cost):
            conv_cost(tiny(), image(), devise="cpu")
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            literal(
                "test_models.py::test_typo: conv_cost: unknown option(s) devise "
                "(expected name, kwargs, device, batch_size, count, tokens)"
            )
        ]
    )
    assert_no_traceback(result.outlines)


def test_measuring_something_that_is_not_a_model_fails_with_one_line(pytester: pytest.Pytester) -> None:
    """Passing a name or a path instead of an nn.Module is a user error: a short failure, not a traceback."""
    write_tests(
        pytester,
        """
        def test_not_a_model(conv_cost):
            conv_cost("resnet18", image())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [literal("test_models.py::test_not_a_model: conv_cost: ") + "*needs a torch.nn.Module or an ExportedProgram, got str"]
    )
    assert_no_traceback(result.outlines)


# -- the budget marker ----------------------------------------------------------


def test_a_model_within_its_budget_passes(pytester: pytest.Pytester) -> None:
    """Limits at or above the measured figures let the test pass (the limit itself is allowed)."""
    write_tests(
        pytester,
        f"""
        @pytest.mark.budget(params="1k", flops="300k", macs="126k")
        def test_fits(conv_cost):
            conv_cost(tiny(), image())


        @pytest.mark.budget(params={TINY_PARAMS}, flops={TINY_FLOPS}, macs={TINY_MACS})
        def test_exactly_at_the_limit(conv_cost):
            conv_cost(tiny(), image())
        """,
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_a_model_over_budget_fails_and_says_what_grew(pytester: pytest.Pytester) -> None:
    """The failure names the figure, value, limit, percent over, the limit's source and the costliest layers."""
    write_tests(
        pytester,
        """
        @pytest.mark.budget(flops="200k")
        def test_over(conv_cost):
            conv_cost(tiny(), image())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            literal("conv budget exceeded: Sequential in test_models.py::test_over"),
            literal(TINY_OVER_200K),
            literal(TINY_COSTLIEST_BY_FLOPS),
        ]
    )
    assert_no_traceback(result.outlines)


def test_every_figure_over_its_limit_is_named(pytester: pytest.Pytester) -> None:
    """Params and FLOPs both over: both are reported, not just the first one found."""
    write_tests(
        pytester,
        """
        @pytest.mark.budget(params=500, flops="200k", macs="1M")
        def test_both(conv_cost):
            conv_cost(tiny(), image())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    # 808 / 500 = 1.616
    result.stdout.fnmatch_lines(
        [literal("  params 808 (808) > limit 500 (500) by 61.6% [limit from @pytest.mark.budget]")]
    )
    result.stdout.fnmatch_lines([literal(TINY_OVER_200K)])
    result.stdout.no_fnmatch_line("*MACs*> limit*")


def test_a_params_overrun_lists_the_layers_with_most_params(pytester: pytest.Pytester) -> None:
    """When only params grew, the layers named are those holding the most parameters."""
    write_tests(
        pytester,
        """
        @pytest.mark.budget(params=500)
        def test_params(conv_cost):
            conv_cost(tiny(), image())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([literal("  costliest layers by params: 1 584, 0 224")])


def test_named_markers_stack_each_limiting_its_own_measurement(pytester: pytest.Pytester) -> None:
    """Two models, two named markers: the small model's tight limit never touches the big one."""
    write_tests(
        pytester,
        """
        @pytest.mark.budget(flops="300k", name="teacher")
        @pytest.mark.budget(flops="6k", name="student")
        def test_fits(conv_cost):
            conv_cost(tiny(), image(), name="teacher")
            conv_cost(Stem(), image(), name="student")


        @pytest.mark.budget(flops="300k", name="teacher")
        @pytest.mark.budget(flops="5k", name="student")
        def test_student_grew(conv_cost):
            conv_cost(tiny(), image(), name="teacher")
            conv_cost(Stem(), image(), name="student")
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    # 5,120 / 5,000 = 1.024
    result.stdout.fnmatch_lines(
        [
            literal("conv budget exceeded: student in test_models.py::test_student_grew"),
            literal(
                "  FLOPs 5.12 k (5,120) > limit 5.00 k (5,000) by 2.4% "
                "[limit from @pytest.mark.budget(name='student')]"
            ),
        ]
    )
    result.stdout.no_fnmatch_line("*conv budget exceeded: teacher*")


def test_an_unnamed_marker_limits_every_measurement(pytester: pytest.Pytester) -> None:
    """Without name= the marker applies to each model the test measures; a named marker still wins for its own."""
    write_tests(
        pytester,
        """
        @pytest.mark.budget(flops="100k")
        def test_all(conv_cost):
            conv_cost(tiny(), image())
            conv_cost(Stem(), image())
            conv_cost(tiny(), image())


        @pytest.mark.budget(flops="100k")
        @pytest.mark.budget(flops="300k", name="big")
        def test_named_wins(conv_cost):
            conv_cost(tiny(), image(), name="big")
            conv_cost(Stem(), image())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    # 250,560 / 100,000 = 2.5056
    over = "  FLOPs 251 k (250,560) > limit 100 k (100,000) by 150.6% [limit from @pytest.mark.budget]"
    result.stdout.fnmatch_lines(
        [
            literal("conv budget exceeded: Sequential in test_models.py::test_all"),
            literal(over),
            literal("conv budget exceeded: Sequential#2 in test_models.py::test_all"),
            literal(over),
        ]
    )
    result.stdout.no_fnmatch_line("*conv budget exceeded: Stem*")


def test_markers_on_a_class_and_on_a_module_apply_to_their_tests(pytester: pytest.Pytester) -> None:
    """Like every pytest marker, budget works on classes and through a module's pytestmark."""
    write_tests(
        pytester,
        """
        pytestmark = pytest.mark.budget(flops="200k")


        def test_tiny(conv_cost):
            conv_cost(tiny(), image())


        def test_stem(conv_cost):
            conv_cost(Stem(), image())
        """,
        name="test_module_mark",
    )
    write_tests(
        pytester,
        """
        @pytest.mark.budget(flops="200k")
        class TestModels:
            def test_tiny(self, conv_cost):
                conv_cost(tiny(), image())

            def test_stem(self, conv_cost):
                conv_cost(Stem(), image())
        """,
        name="test_class_mark",
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["FAILED test_class_mark.py::TestModels::test_tiny*"], consecutive=False)
    result.stdout.fnmatch_lines(["FAILED test_module_mark.py::test_tiny*"], consecutive=False)
    assert result.stdout.str().count(TINY_OVER_200K) == 2


def test_each_parameter_of_a_parametrized_test_is_its_own_measurement(pytester: pytest.Pytester) -> None:
    """Parametrized tests get one verdict and one report row per parameter set."""
    write_tests(
        pytester,
        """
        @pytest.mark.parametrize("size", [16, 24])
        @pytest.mark.budget(flops="300k")
        def test_sizes(conv_cost, size):
            conv_cost(tiny(), torch.randn(1, 3, size, size))
        """,
    )
    result = pytester.runpytest("--conv-report")
    result.assert_outcomes(passed=1, failed=1)
    # 24x24: layer 0 out 22x22, 2*27*8*484 = 209,088; layer 1 out 20x20, 2*72*8*400 = 460,800
    big = 209_088 + 460_800
    result.stdout.re_match_lines(
        [
            row("test_models.py::test_sizes[16]", "Sequential", str(TINY_PARAMS), format_quantity(TINY_FLOPS)),
            row("test_models.py::test_sizes[24]", "Sequential", str(TINY_PARAMS), format_quantity(big)),
        ]
    )
    result.stdout.fnmatch_lines(["FAILED test_models.py::test_sizes?24?*"])


def test_a_marked_test_that_measured_nothing_fails(pytester: pytest.Pytester) -> None:
    """A budget that checks nothing is a mistake, not a pass."""
    write_tests(
        pytester,
        """
        @pytest.mark.budget(flops="1G")
        def test_forgot(conv_cost):
            tiny()
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            literal(
                "test_models.py::test_forgot has @pytest.mark.budget but measured no model: "
                "call conv_cost(model, *inputs) in the test"
            )
        ]
    )


def test_a_named_marker_whose_name_was_never_measured_fails(pytester: pytest.Pytester) -> None:
    """A misspelt name= would otherwise leave its model unchecked."""
    write_tests(
        pytester,
        """
        @pytest.mark.budget(flops="1G", name="teacher")
        def test_misnamed(conv_cost):
            conv_cost(tiny(), image(), name="student")
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            literal(
                "test_models.py::test_misnamed: @pytest.mark.budget(name='teacher') "
                "names no measurement of this test (measured: student)"
            )
        ]
    )


TEST_ID = "test_models.py::test_marked"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param(
            'flop="200k"',
            f"{TEST_ID}: @pytest.mark.budget(flop='200k'): unknown keyword 'flop' "
            "(expected activations, flops, macs, model_params, name, params, per, weights)",
            id="unknown-keyword",
        ),
        pytest.param(
            '"3G"',
            f"{TEST_ID}: @pytest.mark.budget('3G'): takes keyword arguments only (params, flops, macs, model_params, weights, activations, per, name)",
            id="positional",
        ),
        pytest.param(
            'flops="3 GiB"',
            invalid_quantity_message("3 GiB", f"for flops= in @pytest.mark.budget(flops='3 GiB') of {TEST_ID}"),
            id="binary-prefix",
        ),
        pytest.param(
            "params=-5",
            invalid_quantity_message(-5, f"for params= in @pytest.mark.budget(params=-5) of {TEST_ID}"),
            id="negative",
        ),
        pytest.param(
            "macs=True",
            invalid_quantity_message(True, f"for macs= in @pytest.mark.budget(macs=True) of {TEST_ID}"),
            id="bool",
        ),
    ],
)
def test_a_malformed_marker_is_an_error_of_its_test(pytester: pytest.Pytester, arguments: str, message: str) -> None:
    """A broken marker is an error (not a failure) naming the test, the marker and the bad value, without traceback."""
    write_tests(
        pytester,
        f"""
        @pytest.mark.budget({arguments})
        def test_marked(conv_cost):
            conv_cost(tiny(), image())


        def test_unmarked(conv_cost):
            conv_cost(tiny(), image())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([literal(message)])
    assert_no_traceback(result.outlines)


# -- options and the report ----------------------------------------------------------


def test_conv_report_prints_a_row_per_measurement_a_total_and_the_layers_over_budget(
    pytester: pytest.Pytester,
) -> None:
    """--conv-report: the 'conv budget' section users read after the run, with what went over laid out by layer."""
    write_tests(pytester, REPORT_SUITE)
    result = pytester.runpytest("--conv-report")
    result.assert_outcomes(passed=2, failed=1)
    tiny = (str(TINY_PARAMS), format_quantity(TINY_FLOPS), format_quantity(TINY_MACS))
    total = (
        format_quantity(2 * TINY_PARAMS + STEM_PARAMS),
        format_quantity(2 * TINY_FLOPS + STEM_FLOPS),
        format_quantity(2 * TINY_MACS + STEM_MACS),
    )
    section = conv_budget_section(result.outlines)
    assert section, result.stdout.str()
    # headroom: (300,000 - 250,560) / 300,000 = 16.48%; (200,000 - 250,560) / 200,000 = -25.28%
    result.stdout.re_match_lines(
        [
            r"=+ conv budget =+$",
            row(*SUMMARY_COLUMNS),
            row("test_models.py::test_ok", "Sequential", *tiny, "FLOPs 300 k", "16.5%", "ok"),
            row("test_models.py::test_over", "Sequential", *tiny, "FLOPs 200 k", "-25.3%", "OVER"),
            row(
                "test_models.py::test_free", "Stem", str(STEM_PARAMS), format_quantity(STEM_FLOPS),
                format_quantity(STEM_MACS), "-", "-", "no budget",
            ),
            row("total", "3 measurement(s)", *total, "1 over"),
        ],
        consecutive=True,
    )
    result.stdout.re_match_lines(
        [
            r"conv budget exceeded: Sequential in test_models\.py::test_over, costliest layers:",
            row(*LAYER_COLUMNS),
            row("1", "Conv2d", "3x3", "1x1", "1", "yes", "1x8x12x12", "584", "165,888", "82,944"),
            row("0", "Conv2d", "3x3", "1x1", "1", "yes", "1x8x14x14", "224", "84,672", "42,336"),
        ],
        consecutive=True,
    )
    # Only the measurement over budget gets its layer table.
    assert sum(line.split() == list(LAYER_COLUMNS) for line in section) == 1


def test_conv_report_layers_prints_every_measurements_layer_table(pytester: pytest.Pytester) -> None:
    """--conv-report=layers shows the per-layer table of passing measurements too."""
    write_tests(pytester, REPORT_SUITE)
    result = pytester.runpytest("--conv-report=layers")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.re_match_lines(
        [
            r"test_models\.py::test_ok \[Sequential\] \(meta\):",
            row(*LAYER_COLUMNS),
            row("0", "Conv2d", "3x3", "1x1", "1", "yes", "1x8x14x14", "224", "84,672", "42,336"),
            row("1", "Conv2d", "3x3", "1x1", "1", "yes", "1x8x12x12", "584", "165,888", "82,944"),
            r"test_models\.py::test_over \[Sequential\] \(meta\):",
            row(*LAYER_COLUMNS),
            r"test_models\.py::test_free \[Stem\] \(meta\):",
            row(*LAYER_COLUMNS),
            row("conv", "Conv2d", "1x1", "1x1", "1", "no", "1x4x16x16", "12", "5,120", "3,072"),
        ]
    )


def test_conv_report_rejects_an_unknown_style(pytester: pytest.Pytester) -> None:
    """`--conv-report=badvalue` is a usage error, not a silent summary."""
    write_tests(pytester, REPORT_SUITE)
    result = pytester.runpytest("--conv-report=badvalue")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert any("--conv-report" in line and "'badvalue'" in line for line in usage_error_lines(result))
    assert_no_traceback(result.errlines + result.outlines)


def test_a_path_after_a_bare_conv_report_is_still_a_path(pytester: pytest.Pytester) -> None:
    """`pytest --conv-report tests/` runs tests/ with the summary: the flag does not swallow the path."""
    write_tests(pytester, REPORT_SUITE)
    pytester.makepyfile(test_elsewhere="def test_not_selected():\n    assert False\n")
    result = pytester.runpytest("--conv-report", "test_models.py")
    result.assert_outcomes(passed=2, failed=1)  # test_models.py only: test_over is over budget
    assert "test_not_selected" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*= conv budget =*"])


@pytest.mark.parametrize(("table", "option"), [("cpu", "meta"), ("meta", "cpu")])
def test_conv_device_overrides_the_tables_device(pytester: pytest.Pytester, table: str, option: str) -> None:
    """The command line wins over [tool.convbudget] device; the ConvCost and the report both show it."""
    write_pyproject(pytester, f'[tool.convbudget]\ndevice = "{table}"\n')
    write_tests(
        pytester,
        f"""
        def test_device(conv_cost):
            assert conv_cost(tiny(), image()).device == "{option}"
        """,
    )
    result = pytester.runpytest(f"--conv-device={option}", "--conv-report=layers")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([literal(f"test_models.py::test_device [Sequential] ({option}):")])


def test_conv_device_overrides_a_device_given_to_conv_cost(pytester: pytest.Pytester) -> None:
    """--conv-device's help promises to override conv_cost(device=...) as well as the table."""
    write_tests(
        pytester,
        """
        def test_device(conv_cost):
            assert conv_cost(tiny(), image(), device="meta").device == "cpu"
        """,
    )
    pytester.runpytest("--conv-device=cpu").assert_outcomes(passed=1)


def test_an_unknown_conv_device_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """A device name that cannot work stops the run at once, naming the option and the value."""
    write_tests(pytester, REPORT_SUITE)
    result = pytester.runpytest("--conv-device=gpu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert usage_error_lines(result) == [
        "ERROR: --conv-device 'gpu': expected one of auto, meta, cpu, cuda or cuda:N"
    ]
    assert_no_traceback(result.errlines + result.outlines)


def test_an_unknown_conv_budget_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """Only fail, warn and off exist; anything else stops the run before a test runs."""
    write_tests(pytester, REPORT_SUITE)
    result = pytester.runpytest("--conv-budget=maybe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--conv-budget*'maybe'*"])
    result.stdout.no_fnmatch_line("*passed*")


def test_conv_budget_warn_turns_an_overrun_into_a_warning(pytester: pytest.Pytester) -> None:
    """--conv-budget=warn: the test passes, the overrun is in the warnings summary and the report."""
    write_tests(pytester, REPORT_SUITE)
    result = pytester.runpytest("--conv-budget=warn", "--conv-report")
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*= warnings summary =*",
            "test_models.py::test_over",
            "*ConvBudgetWarning: conv budget exceeded: Sequential in test_models.py::test_over",
            literal("  " + TINY_OVER_200K),
        ]
    )
    result.stdout.re_match_lines([row("test_models.py::test_over", "Sequential") + r".*over \(warn\)\s*$"])


def test_conv_budget_off_passes_and_still_reports(pytester: pytest.Pytester) -> None:
    """--conv-budget=off: nothing is enforced, yet the report shows what would have failed."""
    write_tests(
        pytester,
        REPORT_SUITE
        + """

@pytest.mark.budget(flops="1G")
def test_nothing_measured():
    pass
""",
    )
    result = pytester.runpytest("--conv-budget=off", "--conv-report")
    result.assert_outcomes(passed=4)
    result.stdout.re_match_lines([row("test_models.py::test_over", "Sequential") + r".*over \(off\)\s*$"])
    result.stdout.no_fnmatch_line("*ConvBudgetWarning*")


def test_markers_and_help_describe_the_marker_and_every_option(pytester: pytest.Pytester) -> None:
    """`pytest --markers` and `pytest --help` are where users look first."""
    markers = pytester.runpytest("--markers")
    assert markers.ret == pytest.ExitCode.OK
    markers.stdout.fnmatch_lines([literal(f"@pytest.mark.{MARKER_HELP}")])
    usage = pytester.runpytest("--help")
    assert usage.ret == pytest.ExitCode.OK
    usage.stdout.fnmatch_lines(["conv budgets (pytest-convbudget):"])
    for option in ("--conv-report", "--conv-device", "--conv-budget"):
        usage.stdout.fnmatch_lines([f"  {option}*"])


# -- xdist, lazy import, JUnit XML ----------------------------------------------------

XDIST_SUITE = """
@pytest.mark.budget(flops="300k")
def test_ok(conv_cost):
    conv_cost(tiny(), image())


@pytest.mark.budget(flops="200k")
def test_over(conv_cost):
    conv_cost(tiny(), image())


@pytest.mark.parametrize("size", [16, 20, 24])
def test_sizes(conv_cost, size):
    conv_cost(tiny(), torch.randn(1, 3, size, size))
    conv_cost(Stem(), torch.randn(1, 3, size, size), name="stem")


def test_plain():
    assert True
"""


def test_xdist_gives_the_outcomes_and_report_of_a_serial_run(pytester: pytest.Pytester) -> None:
    """Measurements travel with the test reports, so `-n 2` prints exactly what a serial run prints."""
    pytest.importorskip("xdist")
    write_pyproject(
        pytester,
        """
        [tool.convbudget]
        flops = "500k"

        [tool.convbudget.budgets]
        "no_such_test.py::*" = { params = "1M" }
        """,
    )
    write_tests(pytester, XDIST_SUITE)
    serial = pytester.runpytest("--conv-report")
    parallel = pytester.runpytest_subprocess("-n", "2", "--conv-report")
    outcomes = dict(passed=4, failed=2)  # test_over, and test_sizes[24] at 669,888 FLOPs
    serial.assert_outcomes(**outcomes)
    parallel.assert_outcomes(**outcomes)
    section = conv_budget_section(serial.outlines)
    assert any(line.startswith("test_models.py::test_sizes[24]") for line in section)
    assert any("'no_such_test.py::*' matches no collected test" in line for line in section)
    assert conv_budget_section(parallel.outlines) == section


def test_a_suite_without_conv_cost_never_imports_torch(pytester: pytest.Pytester) -> None:
    """The plugin loads in every pytest run: a suite that never measures must not pay for torch."""
    write_pyproject(
        pytester,
        """
        [tool.convbudget]
        flops = "1G"

        [tool.convbudget.budgets]
        "test_plain.py::*" = { params = "1M" }
        """,
    )
    pytester.makeconftest(
        """
        import json
        import sys


        def pytest_sessionfinish(session):
            seen = {name: name in sys.modules for name in ("torch", "pytest_convbudget.plugin")}
            (session.config.rootpath / "modules.json").write_text(json.dumps(seen))
        """
    )
    pytester.makepyfile(
        test_plain="""
        import pytest


        def test_one():
            assert 1 + 1 == 2


        @pytest.mark.parametrize("value", [1, 2, 3])
        def test_many(value, tmp_path):
            assert value > 0
        """
    )
    result = pytester.runpytest_subprocess("--conv-report")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["no conv_cost measurements in this run"])
    seen = json.loads((pytester.path / "modules.json").read_text())
    assert seen == {"torch": False, "pytest_convbudget.plugin": True}


def test_measured_figures_reach_junit_xml(pytester: pytest.Pytester) -> None:
    """A passing test's figures are kept in user_properties, so CI dashboards get them from JUnit XML."""
    write_tests(
        pytester,
        """
        @pytest.mark.budget(flops="300k")
        def test_ok(conv_cost):
            conv_cost(tiny(), image())
        """,
    )
    result = pytester.runpytest("--junitxml=out.xml")
    result.assert_outcomes(passed=1)
    tree = ElementTree.parse(pytester.path / "out.xml")
    values = [
        prop.get("value")
        for case in tree.iter("testcase")
        if case.get("name") == "test_ok"
        for prop in case.iter("property")
        if prop.get("name") == USER_PROPERTY
    ]
    assert len(values) == 1
    data = json.loads(values[0])
    assert data["test_id"] == "test_models.py::test_ok"
    assert data["name"] == "Sequential"
    assert (data["cost"]["params"], data["cost"]["flops"], data["cost"]["macs"]) == (
        TINY_PARAMS,
        TINY_FLOPS,
        TINY_MACS,
    )
    assert data["limits"] == [{"figure": "flops", "value": 300_000, "source": "@pytest.mark.budget"}]
