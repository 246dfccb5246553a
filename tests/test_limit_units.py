"""Units agree with keys: a limit written in another figure's unit, or in bytes, is refused where it is written.

``flops="3 GMACs"`` once passed as a 3-GFLOPs limit. Now every place a limit
can be written (the marker, named or not; the ``[tool.convbudget]`` table; a
pattern of ``[tool.convbudget.budgets]``) reads its value for its own figure,
and refuses a MACs unit on FLOPs, a FLOPs unit on MACs, a FLOPs or MACs unit
on params (and params units on either), and any size in bytes, in one line
naming the source. Numbers without a unit word, and matching unit words, are
read as before. Each test runs a real pytest session with ``pytester`` on the
hand-counted tiny models of ``plugin_helpers``.
"""

from __future__ import annotations

import pytest

from plugin_helpers import (
    TINY_FLOPS,
    TINY_MACS,
    TINY_PARAMS,
    assert_no_traceback,
    literal,
    usage_error_lines,
    write_pyproject,
    write_tests,
)
from plugin_helpers import preloaded  # noqa: F401  (a fixture, requested by name)
from pytest_convbudget.words.quantity import invalid_quantity_message

pytestmark = pytest.mark.usefixtures("preloaded")

TEST_ID = "test_models.py::test_marked"
MISMATCHES = [
    # (figure, value, why), each refused on its figure
    pytest.param("flops", "3 GMACs", "a MACs unit on a FLOPs limit (write the figure in FLOPs, or set macs instead)",
                 id="macs-unit-on-flops"),
    pytest.param("macs", "300 MFLOPs", "a FLOPs unit on a MACs limit (write the figure in MACs, or set flops instead)",
                 id="flops-unit-on-macs"),
    pytest.param("params", "3 GFLOP",
                 "a FLOPs unit on a params limit (write the figure in params, or set flops instead)",
                 id="flops-unit-on-params"),
    pytest.param("params", "1 G MACs", "a MACs unit on a params limit (write the figure in params, or set macs instead)",
                 id="macs-unit-on-params"),
    pytest.param("flops", "25.6M params",
                 "a params unit on a FLOPs limit (write the figure in FLOPs, or set params instead)",
                 id="params-unit-on-flops"),
    pytest.param("macs", "12 Mparameters",
                 "a params unit on a MACs limit (write the figure in MACs, or set params instead)",
                 id="params-unit-on-macs"),
    pytest.param("flops", "3 GiB", "a byte unit on a count (params, FLOPs and MACs are counts, not sizes in bytes)",
                 id="bytes-on-flops"),
    pytest.param("macs", "64 MB", "a byte unit on a count (params, FLOPs and MACs are counts, not sizes in bytes)",
                 id="bytes-on-macs"),
    pytest.param("params", "100 kB", "a byte unit on a count (params, FLOPs and MACs are counts, not sizes in bytes)",
                 id="bytes-on-params"),
]


@pytest.fixture(autouse=True)
def project(pytester: pytest.Pytester) -> None:
    """Each session gets its own pyproject.toml, so the repository's settings never leak in."""
    write_pyproject(pytester)


def marker_tests(arguments: str) -> str:
    """A marked test and an unmarked one, both measuring tiny()."""
    return f"""
        @pytest.mark.budget({arguments})
        def test_marked(conv_cost):
            conv_cost(tiny(), image(), name="student")


        def test_unmarked(conv_cost):
            conv_cost(tiny(), image())
        """


# -- the marker ------------------------------------------------------------------------


@pytest.mark.parametrize("named", [False, True], ids=["unnamed", "named"])
@pytest.mark.parametrize(("figure", "value", "why"), MISMATCHES)
def test_a_marker_in_another_unit_is_an_error_of_its_test(
    pytester: pytest.Pytester, figure: str, value: str, why: str, named: bool
) -> None:
    """The marked test errors (it does not pass) with one line naming the test, the marker and the key."""
    arguments = f"{figure}={value!r}" + (", name='student'" if named else "")
    write_tests(pytester, marker_tests(arguments))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    where = f"for {figure}= in @pytest.mark.budget({arguments}) of {TEST_ID}"
    message = f"invalid quantity {value!r} {where}: {why}"
    assert message == invalid_quantity_message(value, where, figure)
    assert message in result.outlines  # the whole error, on one line of its own
    result.stdout.fnmatch_lines([literal(f"ERROR {TEST_ID} - Failed: invalid quantity {value!r}") + "*"])
    assert_no_traceback(result.outlines)


def test_the_marker_message_word_for_word(pytester: pytest.Pytester) -> None:
    write_tests(pytester, marker_tests('flops="3 GMACs"'))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            literal(
                "invalid quantity '3 GMACs' for flops= in @pytest.mark.budget(flops='3 GMACs') of "
                "test_models.py::test_marked: a MACs unit on a FLOPs limit "
                "(write the figure in FLOPs, or set macs instead)"
            )
        ]
    )


def test_matching_units_and_bare_numbers_are_read_as_before_in_a_marker(pytester: pytest.Pytester) -> None:
    """Units that agree with their keys are plain counts: tiny() fits the first, and is over the second by 251k > 200k."""
    write_tests(
        pytester,
        f"""
        @pytest.mark.budget(flops="4.1 GFLOPs", macs="300 MMACs", params="25.6M params")
        def test_fits(conv_cost):
            conv_cost(tiny(), image())


        @pytest.mark.budget(flops="4.1G", macs=3_000_000, params="{TINY_PARAMS} Parameters")
        def test_bare(conv_cost):
            conv_cost(tiny(), image())


        @pytest.mark.budget(flops="200 kflops", name="student")
        def test_over(conv_cost):
            conv_cost(tiny(), image(), name="student")
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            literal(
                f"  FLOPs 251 k ({TINY_FLOPS:,}) > limit 200 k (200,000) by 25.3% "
                "[limit from @pytest.mark.budget(name='student')]"
            )
        ]
    )


# -- pyproject.toml ----------------------------------------------------------------------


@pytest.mark.parametrize("place", ["table", "pattern"])
@pytest.mark.parametrize(("figure", "value", "why"), MISMATCHES)
def test_a_table_limit_in_another_unit_stops_the_session_with_one_line(
    pytester: pytest.Pytester, figure: str, value: str, why: str, place: str
) -> None:
    """At [tool.convbudget] or in a pattern's entry: a usage error naming file, table and key; no test runs."""
    if place == "table":
        write_pyproject(pytester, f'[tool.convbudget]\n{figure} = "{value}"\n')
        table = "[tool.convbudget]"
    else:
        write_pyproject(pytester, f'[tool.convbudget.budgets]\n"test_*" = {{ {figure} = "{value}" }}\n')
        table = "[tool.convbudget.budgets] 'test_*'"
    write_tests(pytester, marker_tests("name='student'"))
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    path = pytester.path / "pyproject.toml"
    where = f"at {table} {figure} in {path}"
    assert usage_error_lines(result) == [f"ERROR: pytest-convbudget: invalid quantity {value!r} {where}: {why}"]
    assert usage_error_lines(result) == ["ERROR: pytest-convbudget: " + invalid_quantity_message(value, where, figure)]
    assert not [line for line in result.outlines if "passed" in line]  # nothing ran, nothing passed
    assert_no_traceback(result.errlines + result.outlines)


def test_matching_units_and_bare_numbers_are_read_as_before_in_the_table(pytester: pytest.Pytester) -> None:
    """The table's and a pattern's limits in their own units: the tests fit, or fail by exact counts."""
    write_pyproject(
        pytester,
        f"""
        [tool.convbudget]
        flops = "4.1 GFLOPs"
        macs = "300 MMACs"
        params = "25.6M params"

        [tool.convbudget.budgets]
        "*::test_bare" = {{ flops = "4.1G", macs = 3_000_000, params = "{TINY_PARAMS}" }}
        "*::test_over" = {{ macs = "{TINY_MACS - 1} macs" }}
        """,
    )
    write_tests(
        pytester,
        """
        def test_fits(conv_cost):
            conv_cost(tiny(), image())


        def test_bare(conv_cost):
            conv_cost(tiny(), image())


        def test_over(conv_cost):
            conv_cost(tiny(), image())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            literal(
                f"  MACs 125 k ({TINY_MACS:,}) > limit 125 k ({TINY_MACS - 1:,}) by 0.0% "
                "[limit from pyproject.toml [tool.convbudget.budgets] '*::test_over' macs]"
            )
        ]
    )
