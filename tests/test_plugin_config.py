"""Budgets from ``[tool.convbudget]`` in pyproject.toml, as a project states them once for its whole suite.

Each test writes a real pyproject.toml and test module and runs pytest on them
with ``pytester``. The limits are checked against the hand-counted costs of the
tiny models in ``plugin_helpers``; the messages are asserted word for word,
because "which limit, from where" is what a user reads when CI fails.
"""

from __future__ import annotations

import pytest

from plugin_helpers import (
    HEAD_LINEAR_FLOPS,
    HEAD_LINEAR_MACS,
    HEAD_LINEAR_PARAMS,
    STEM_FLOPS,
    STEM_MACS,
    STEM_PARAMS,
    assert_no_traceback,
    literal,
    usage_error_lines,
    write_pyproject,
    write_tests,
)
from plugin_helpers import preloaded  # noqa: F401  (a fixture, requested by name)
from pytest_convbudget.budgets.pyproject import PATTERN_KEYS, TOP_LEVEL_KEYS
from pytest_convbudget.words.quantity import invalid_quantity_message

pytestmark = pytest.mark.usefixtures("preloaded")

DEFAULT_SOURCE = "pyproject.toml [tool.convbudget]"
PATTERN_SOURCE = "pyproject.toml [tool.convbudget.budgets]"


def test_the_tables_defaults_apply_to_unmarked_tests(pytester: pytest.Pytester) -> None:
    """Default limits cover every conv_cost measurement, and the failure says they came from the table."""
    write_pyproject(pytester, '[tool.convbudget]\nflops = "200k"\n')
    write_tests(
        pytester,
        """
        def test_tiny(conv_cost):
            conv_cost(tiny(), image())


        def test_stem(conv_cost):
            conv_cost(Stem(), image())


        def test_no_model():
            pass
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            literal("conv budget exceeded: Sequential in test_models.py::test_tiny"),
            literal(f"  FLOPs 251 k (250,560) > limit 200 k (200,000) by 25.3% [limit from {DEFAULT_SOURCE} flops]"),
        ]
    )


@pytest.mark.parametrize("specific_first", [False, True], ids=["general-first", "specific-first"])
def test_the_most_specific_matching_pattern_wins(pytester: pytest.Pytester, specific_first: bool) -> None:
    """A pattern beats the defaults, and a more specific pattern beats a general one, wherever it is written."""
    general = '"test_models.py::*" = { flops = "100k" }'
    specific = '"test_models.py::test_tiny*" = { flops = "300k" }'
    entries = [specific, general] if specific_first else [general, specific]
    write_pyproject(
        pytester,
        '[tool.convbudget]\nflops = "1k"\n\n[tool.convbudget.budgets]\n' + "\n".join(entries) + "\n",
    )
    write_tests(
        pytester,
        """
        def test_tiny_fits(conv_cost):
            conv_cost(tiny(), image())


        def test_big(conv_cost):
            conv_cost(tiny(), image())
        """,
    )
    write_tests(
        pytester,
        """
        def test_stem(conv_cost):
            conv_cost(Stem(), image())
        """,
        name="test_other",
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    # 250,560 / 100,000 = 2.5056 and 5,120 / 1,000 = 5.12
    result.stdout.fnmatch_lines(
        [
            literal("conv budget exceeded: Sequential in test_models.py::test_big"),
            literal(
                "  FLOPs 251 k (250,560) > limit 100 k (100,000) by 150.6% "
                f"[limit from {PATTERN_SOURCE} 'test_models.py::*' flops]"
            ),
        ]
    )
    result.stdout.fnmatch_lines(
        [
            literal("conv budget exceeded: Stem in test_other.py::test_stem"),
            literal(f"  FLOPs 5.12 k (5,120) > limit 1.00 k (1,000) by 412.0% [limit from {DEFAULT_SOURCE} flops]"),
        ]
    )


def test_a_marker_beats_a_matching_pattern(pytester: pytest.Pytester) -> None:
    """The test's own marker is the most specific statement of all, looser or tighter."""
    write_pyproject(
        pytester,
        """
        [tool.convbudget.budgets]
        "test_models.py::test_loosened" = { flops = "100k" }
        "test_models.py::test_tightened" = { flops = "1G" }
        """,
    )
    write_tests(
        pytester,
        """
        @pytest.mark.budget(flops="300k")
        def test_loosened(conv_cost):
            conv_cost(tiny(), image())


        @pytest.mark.budget(flops="200k")
        def test_tightened(conv_cost):
            conv_cost(tiny(), image())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            literal("conv budget exceeded: Sequential in test_models.py::test_tightened"),
            literal("  FLOPs 251 k (250,560) > limit 200 k (200,000) by 25.3% [limit from @pytest.mark.budget]"),
        ]
    )


def test_each_figure_takes_its_limit_from_its_own_winner(pytester: pytest.Pytester) -> None:
    """A marker that sets only flops leaves the pattern's macs and the default params in force."""
    write_pyproject(
        pytester,
        """
        [tool.convbudget]
        params = 500
        flops = "1k"
        macs = "1k"

        [tool.convbudget.budgets]
        "test_models.py::*" = { macs = "100k" }
        """,
    )
    write_tests(
        pytester,
        """
        @pytest.mark.budget(flops="300k")
        def test_mixed(conv_cost):
            conv_cost(tiny(), image())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    # 808 / 500 = 1.616 and 125,280 / 100,000 = 1.2528; FLOPs are within the marker's 300k
    result.stdout.fnmatch_lines(
        [
            literal("conv budget exceeded: Sequential in test_models.py::test_mixed"),
            literal(f"  params 808 (808) > limit 500 (500) by 61.6% [limit from {DEFAULT_SOURCE} params]"),
            literal(
                "  MACs 125 k (125,280) > limit 100 k (100,000) by 25.3% "
                f"[limit from {PATTERN_SOURCE} 'test_models.py::*' macs]"
            ),
        ]
    )
    result.stdout.no_fnmatch_line("*FLOPs*> limit*")


PER_SUITE = """
def test_one(conv_cost):
    conv_cost(tiny(), image(1))


def test_four(conv_cost):
    conv_cost(tiny(), image(4))
"""


def test_per_batch_compares_the_whole_batch(pytester: pytest.Pytester) -> None:
    """per = "batch" budgets the forward as run; params do not grow with the batch."""
    write_pyproject(pytester, '[tool.convbudget]\nper = "batch"\nflops = "500k"\nparams = "1k"\n')
    write_tests(pytester, PER_SUITE)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    # batch of 4: 4 * 250,560 = 1,002,240 FLOPs; 1,002,240 / 500,000 = 2.00448
    result.stdout.fnmatch_lines(
        [
            literal("conv budget exceeded: Sequential in test_models.py::test_four"),
            literal(f"  FLOPs per batch 1.00 M (1,002,240) > limit 500 k (500,000) by 100.4% [limit from {DEFAULT_SOURCE} flops]"),
        ]
    )
    result.stdout.no_fnmatch_line("*params*> limit*")


def test_per_sample_is_the_default(pytester: pytest.Pytester) -> None:
    """The same batch of 4 is within budget when the budget is per sample, as it is unless the table says otherwise."""
    write_pyproject(pytester, '[tool.convbudget]\nflops = "500k"\n')
    write_tests(pytester, PER_SUITE)
    pytester.runpytest().assert_outcomes(passed=2)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_the_tables_device_is_used_for_every_measurement(pytester: pytest.Pytester, device: str) -> None:
    """device = "cpu" runs a real forward, "meta" only shapes; the ConvCost records which."""
    write_pyproject(pytester, f'[tool.convbudget]\ndevice = "{device}"\n')
    write_tests(
        pytester,
        f"""
        def test_device(conv_cost):
            assert conv_cost(tiny(), image()).device == "{device}"
        """,
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_count_in_the_table_counts_linear_layers(pytester: pytest.Pytester) -> None:
    """count = ["conv", "linear"] counts nn.Linear as a 1x1 conv; conv_cost(count="conv") still opts out."""
    write_pyproject(pytester, '[tool.convbudget]\ncount = ["conv", "linear"]\n')
    write_tests(
        pytester,
        f"""
        def test_counted(conv_cost):
            cost = conv_cost(Head(), image())
            assert (cost.params, cost.flops, cost.macs) == ({HEAD_LINEAR_PARAMS}, {HEAD_LINEAR_FLOPS}, {HEAD_LINEAR_MACS})
            assert [layer.type for layer in cost.layers] == ["Conv2d", "Linear"]
            assert cost.count == ("conv", "linear")


        def test_opted_out(conv_cost):
            cost = conv_cost(Head(), image(), count="conv")
            assert (cost.params, cost.flops, cost.macs) == ({STEM_PARAMS}, {STEM_FLOPS}, {STEM_MACS})
        """,
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_a_patterns_count_applies_to_the_tests_it_matches(pytester: pytest.Pytester) -> None:
    """count set per pattern beats the table's; the most specific pattern that sets one wins."""
    write_pyproject(
        pytester,
        """
        [tool.convbudget]
        count = "conv"
        [tool.convbudget.budgets]
        "*::test_head*" = { count = "all" }
        "*::test_head_conv" = { flops = "1G" }
        """,
    )
    write_tests(
        pytester,
        f"""
        def test_head_all(conv_cost):
            assert conv_cost(Head(), image()).flops == {HEAD_LINEAR_FLOPS}


        def test_head_conv(conv_cost):
            # the more specific pattern sets no count: the next one that does applies
            assert conv_cost(Head(), image()).flops == {HEAD_LINEAR_FLOPS}


        def test_other(conv_cost):
            assert conv_cost(Head(), image()).flops == {STEM_FLOPS}
        """,
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_a_bad_count_given_to_conv_cost_fails_the_test_in_one_line(pytester: pytest.Pytester) -> None:
    write_pyproject(pytester)
    write_tests(
        pytester,
        """
        def test_bad(conv_cost):
            conv_cost(Head(), image(), count=["conv", "lineer"])
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert (
        "test_models.py::test_bad: conv_cost: count = ['conv', 'lineer']: unknown kind 'lineer'; "
        "expected a kind (conv, linear, matmul, attention, functional_conv), a list of them, or 'all'"
    ) in result.stdout.lines


def test_linear_layers_are_not_counted_by_default(pytester: pytest.Pytester) -> None:
    """nn.Linear is not a conv: without the opt-in only the conv of Head() counts."""
    write_pyproject(pytester, "[tool.convbudget]\n")
    write_tests(
        pytester,
        f"""
        def test_default(conv_cost):
            cost = conv_cost(Head(), image())
            assert (cost.params, cost.flops, cost.macs) == ({STEM_PARAMS}, {STEM_FLOPS}, {STEM_MACS})
        """,
    )
    pytester.runpytest().assert_outcomes(passed=1)


TABLE = "[tool.convbudget]"
PATTERNS = "[tool.convbudget.budgets]"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        pytest.param(
            f'{TABLE}\nflop = "1G"\n',
            "{path}: [tool.convbudget] 'flop': unknown key (expected one of " + ", ".join(TOP_LEVEL_KEYS) + ")",
            id="unknown-key",
        ),
        pytest.param(
            f"{TABLE}\nper = 3\n",
            "{path}: [tool.convbudget] per = 3: expected 'sample', 'batch' or 'token'",
            id="per-not-a-string",
        ),
        pytest.param(
            f"{TABLE}\ninclude_linear = true\n",
            '{path}: [tool.convbudget] include_linear: replaced by count: count = ["conv", "linear"] '
            "counts conv and linear layers",
            id="include-linear-renamed",
        ),
        pytest.param(
            f'{TABLE}\ncount = "convs"\n',
            "{path}: [tool.convbudget] count = 'convs': unknown kind 'convs'; expected a kind "
            "(conv, linear, matmul, attention, functional_conv), a list of them, or 'all'",
            id="count-unknown-kind",
        ),
        pytest.param(
            f'{TABLE}\ncount = ["all", "bogus"]\n',
            "{path}: [tool.convbudget] count = ['all', 'bogus']: unknown kind 'bogus'; expected a kind "
            "(conv, linear, matmul, attention, functional_conv), a list of them, or 'all'",
            id="count-unknown-kind-beside-all",
        ),
        pytest.param(
            f"{TABLE}\ncount = []\n",
            "{path}: [tool.convbudget] count = []: expected a kind "
            "(conv, linear, matmul, attention, functional_conv), a list of them, or 'all'",
            id="count-empty-list",
        ),
        pytest.param(
            f"{TABLE}\ncount = true\n",
            "{path}: [tool.convbudget] count = True: expected a kind "
            "(conv, linear, matmul, attention, functional_conv), a list of them, or 'all'",
            id="count-wrong-type",
        ),
        pytest.param(
            f'{PATTERNS}\n"*" = {{ count = ["conv", 2] }}\n',
            "{path}: [tool.convbudget.budgets] '*' count = ['conv', 2]: expected a kind "
            "(conv, linear, matmul, attention, functional_conv), a list of them, or 'all'",
            id="count-in-a-pattern",
        ),
        pytest.param(
            f'{TABLE}\ndevice = "gpu"\n',
            "{path}: [tool.convbudget] device = 'gpu': expected one of auto, meta, cpu, cuda or cuda:N",
            id="unknown-device",
        ),
        pytest.param(
            f'{TABLE}\nflops = "3 GiB"\n',
            invalid_quantity_message("3 GiB", "at [tool.convbudget] flops in {path}"),
            id="binary-prefix",
        ),
        pytest.param(
            f'{TABLE}\nflops = "3 GMACs"\n',
            invalid_quantity_message("3 GMACs", "at [tool.convbudget] flops in {path}", "flops"),
            id="macs-unit-on-flops",
        ),
        pytest.param(
            f'{TABLE}\nparams = "25.6M FLOPs"\n',
            "invalid quantity '25.6M FLOPs' at [tool.convbudget] params in {path}: "
            "a FLOPs unit on a params limit (write the figure in params, or set flops instead)",
            id="flops-unit-on-params",
        ),
        pytest.param(
            f"{TABLE}\nparams = -1\n",
            invalid_quantity_message(-1, "at [tool.convbudget] params in {path}"),
            id="negative",
        ),
        pytest.param(
            f'{PATTERNS}\n"test_*" = "3G"\n',
            "{path}: [tool.convbudget.budgets] 'test_*': expected an inline table such as { flops = \"3.7G\" }",
            id="entry-not-a-table",
        ),
        pytest.param(
            f'{PATTERNS}\n"test_*" = {{ flop = "3G" }}\n',
            "{path}: [tool.convbudget.budgets] 'test_*' 'flop': unknown key (expected one of "
            + ", ".join(PATTERN_KEYS)
            + ")",
            id="unknown-key-in-entry",
        ),
        pytest.param(
            f'{PATTERNS}\n"test_*" = {{ flops = "lots" }}\n',
            invalid_quantity_message("lots", "at [tool.convbudget.budgets] 'test_*' flops in {path}"),
            id="bad-quantity-in-entry",
        ),
        pytest.param(
            f'{PATTERNS}\n"test_*" = {{ macs = "300 MFLOPs" }}\n',
            "invalid quantity '300 MFLOPs' at [tool.convbudget.budgets] 'test_*' macs in {path}: "
            "a FLOPs unit on a MACs limit (write the figure in MACs, or set flops instead)",
            id="flops-unit-in-entry",
        ),
        pytest.param(
            f'{PATTERNS}\n"test_*" = {{ params = "64 MiB" }}\n',
            "invalid quantity '64 MiB' at [tool.convbudget.budgets] 'test_*' params in {path}: "
            "a byte unit on a count (params, FLOPs and MACs are counts, not sizes in bytes)",
            id="bytes-in-entry",
        ),
        pytest.param(
            f"{TABLE}\nbudgets = 5\n",
            "{path}: [tool.convbudget.budgets] must be a table of pattern = { flops = ..., params = ... }",
            id="budgets-not-a-table",
        ),
    ],
)
def test_a_broken_table_stops_the_session_with_one_line(pytester: pytest.Pytester, toml: str, message: str) -> None:
    """A bad table is a usage error at start: one line naming the file and the key, no traceback, no tests run."""
    write_pyproject(pytester, toml)
    write_tests(
        pytester,
        """
        def test_tiny(conv_cost):
            conv_cost(tiny(), image())
        """,
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    path = pytester.path / "pyproject.toml"
    assert usage_error_lines(result) == ["ERROR: pytest-convbudget: " + message.replace("{path}", str(path))]
    assert_no_traceback(result.errlines + result.outlines)


@pytest.mark.parametrize("layout", ["pyproject-is-inifile", "pytest-ini-beside", "inifile-elsewhere"])
def test_invalid_toml_stops_the_session_naming_the_file(pytester: pytest.Pytester, layout: str) -> None:
    """A pyproject.toml that is not TOML at all is a usage error naming it, wherever pytest's own options live.

    pytest reports the file itself when it reads it; with the inifile in
    another folder (``-c``) only the plugin reads the rootdir's pyproject.toml.
    """
    args: list[str] = []
    if layout == "pytest-ini-beside":
        pytester.makefile(".ini", pytest="[pytest]\n")
    if layout == "inifile-elsewhere":
        pytester.mkdir("settings").joinpath("pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        args = ["-c", "settings/pytest.ini", "--rootdir", str(pytester.path)]
    path = pytester.path / "pyproject.toml"
    path.write_text('[tool.convbudget\nflops = "1G"\n', encoding="utf-8")
    write_tests(
        pytester,
        """
        def test_tiny(conv_cost):
            conv_cost(tiny(), image())
        """,
    )
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = usage_error_lines(result)
    assert len(lines) == 1 and str(path) in lines[0], lines
    if layout == "inifile-elsewhere":
        assert lines[0].startswith(f"ERROR: pytest-convbudget: {path}: not valid TOML: "), lines
    assert_no_traceback(result.errlines + result.outlines)


def test_a_pattern_that_matches_no_test_is_reported_but_not_fatal(pytester: pytest.Pytester) -> None:
    """A stale pattern (a renamed test) guards nothing: say so, but let the run pass."""
    write_pyproject(
        pytester,
        """
        [tool.convbudget.budgets]
        "test_models.py::test_renamed*" = { flops = "1k" }
        "test_models.py::test_tiny" = { flops = "300k" }
        """,
    )
    write_tests(
        pytester,
        """
        def test_tiny(conv_cost):
            conv_cost(tiny(), image())
        """,
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= conv budget =*",
            literal(f"warning: {PATTERN_SOURCE} 'test_models.py::test_renamed*' matches no collected test"),
        ]
    )
    result.stdout.no_fnmatch_line("*'test_models.py::test_tiny' matches no collected test*")


def test_the_table_is_read_beside_a_pytest_ini(pytester: pytest.Pytester) -> None:
    """With pytest.ini as pytest's inifile, the rootdir's pyproject.toml still holds the budgets."""
    pytester.makefile(".ini", pytest="[pytest]\n")
    pytester.path.joinpath("pyproject.toml").write_text('[tool.convbudget]\nflops = "200k"\n', encoding="utf-8")
    write_tests(
        pytester,
        """
        def test_tiny(conv_cost):
            conv_cost(tiny(), image())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "configfile: pytest.ini",
            literal(f"  FLOPs 251 k (250,560) > limit 200 k (200,000) by 25.3% [limit from {DEFAULT_SOURCE} flops]"),
        ]
    )


def test_an_exact_parametrized_id_is_a_pattern_too(pytester: pytest.Pytester) -> None:
    """``[160]`` in a test id reads as a character class to fnmatch; the exact id still matches."""
    write_pyproject(
        pytester,
        """
        [tool.convbudget.budgets]
        "test_models.py::test_sizes[small]" = { flops = "100k" }
        """,
    )
    write_tests(
        pytester,
        """
        @pytest.mark.parametrize("size", ["small", "large"])
        def test_sizes(conv_cost, size):
            conv_cost(tiny(), image())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([literal("conv budget exceeded: Sequential in test_models.py::test_sizes[small]")])
    assert "matches no collected test" not in result.stdout.str()
