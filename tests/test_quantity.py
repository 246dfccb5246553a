"""Budget quantities: what ``parse_quantity`` accepts and rejects, how ``format_quantity`` prints.

The accepted forms and the usage errors are those of the "Units" section of
``shared/CONVENTIONS.md``: an int, a finite non-negative float, or digits with
``_`` separators, a decimal point, an exponent, one SI suffix and an optional
unit word. Reports print three significant figures with the suffix.

Given the figure it limits (``figure="flops"``), a quantity takes its own unit
word or none: another figure's unit ("3 GMACs" for flops) is refused, never
converted, and a size in bytes is never a count.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_convbudget.words.quantity import (
    BYTE_UNIT_PROBLEM,
    EXPECTED_FORM,
    format_quantity,
    invalid_quantity_message,
    parse_quantity,
)
from pytest_convbudget.words.vocabulary import FIGURE_LABELS, FIGURES

QUANTITY_SETTINGS = settings(max_examples=300, deadline=None, database=None)
SUFFIXES = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
UNIT_WORDS = ["", "FLOPs", "flops", "FLOP", "MACs", "macs", "MAC", "params", "parameters", "param"]
# From 1000 P up, format_quantity prints whole numbers of P (see the test below).
LARGEST_WITH_P = 999_499_999_999_999_999


def assert_parses(value: object, expected: int) -> None:
    """Parsed value is ``expected`` and a real ``int`` (a float equal by luck fails)."""
    got = parse_quantity(value)
    assert type(got) is int, f"{value!r} parsed to {type(got).__name__}"
    assert got == expected, f"{value!r} parsed to {got}, expected {expected}"


def rejection_message(value: object, where: str | None = None) -> str:
    """The ValueError text for a value that must be refused."""
    with pytest.raises(ValueError) as excinfo:
        parse_quantity(value, where)
    return str(excinfo.value)


# ---------------------------------------------------------------------------
# Accepted
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (7, 7),
        (10**30, 10**30),  # huge ints are kept whole
        (0.0, 0),
        (2.5e3, 2500),
        (1e9, 1_000_000_000),
        (4.1e9, 4_100_000_000),  # the float's decimal reading, not 4099999999.99...
        (1.9, 1),  # rounded down
        (0.1 + 0.2, 0),
    ],
)
def test_numbers(value: object, expected: int) -> None:
    assert_parses(value, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("42", 42),
        ("1_000_000", 1_000_000),
        ("1e9", 1_000_000_000),
        ("1E9", 1_000_000_000),
        ("2.5e+3", 2500),
        ("3.7G", 3_700_000_000),
        ("4.1 GFLOPs", 4_100_000_000),
        ("25.6M params", 25_600_000),
        ("300 MMACs", 300_000_000),
        ("5 MACs", 5),
        ("5 macs", 5),
        ("10 FLOPs", 10),
        ("1 parameter", 1),
        ("2k", 2_000),
        ("2K", 2_000),
        ("2 k", 2_000),
        ("1.5T", 1_500_000_000_000),
        ("2P", 2 * 10**15),
        (".5k", 500),
        ("1.", 1),
        ("1_000.5k", 1_000_500),
        ("  7  ", 7),
        ("7\n", 7),
        ("1.999", 1),  # fractions round down
        ("12.3456k", 12_345),
        ("0.5 flops", 0),
        ("1e-3", 0),
        ("2.5e-1k", 250),
    ],
)
def test_strings(text: str, expected: int) -> None:
    assert_parses(text, expected)


@QUANTITY_SETTINGS
@given(
    n=st.integers(0, 10**12),
    suffix=st.sampled_from(sorted(SUFFIXES)),
    unit=st.sampled_from(UNIT_WORDS),
    space=st.sampled_from(["", " "]),
)
def test_integer_with_suffix_and_unit(n: int, suffix: str, unit: str, space: str) -> None:
    unit_part = f" {unit}" if suffix == "" and unit else unit
    assert_parses(f"{n}{space}{suffix}{unit_part}", n * SUFFIXES[suffix])


@QUANTITY_SETTINGS
@given(n=st.integers(0, 10**18))
def test_underscore_groups_are_ignored(n: int) -> None:
    assert_parses(f"{n:_}", n)


@QUANTITY_SETTINGS
@given(x=st.floats(min_value=0, max_value=2.0**53, allow_nan=False, allow_infinity=False))
def test_float_is_rounded_down(x: float) -> None:
    # below 2**53 the float's shortest repr and its binary value share a floor
    assert_parses(x, math.floor(x))


# ---------------------------------------------------------------------------
# Rejected
# ---------------------------------------------------------------------------

BAD_VALUES = [
    pytest.param(-1, id="negative-int"),
    pytest.param(-0.5, id="negative-float"),
    pytest.param(float("nan"), id="nan-float"),
    pytest.param(float("inf"), id="inf-float"),
    pytest.param(float("-inf"), id="minus-inf-float"),
    pytest.param(True, id="bool-true"),
    pytest.param(False, id="bool-false"),
    pytest.param(None, id="none"),
    pytest.param([1], id="list"),
    pytest.param(b"1", id="bytes"),
    pytest.param("", id="empty"),
    pytest.param("   ", id="whitespace"),
    pytest.param("-5", id="negative-text"),
    pytest.param("-5k", id="negative-text-suffix"),
    pytest.param("+5", id="plus-sign"),
    pytest.param("nan", id="nan-text"),
    pytest.param("NaN", id="NaN-text"),
    pytest.param("inf", id="inf-text"),
    pytest.param("Infinity", id="Infinity-text"),
    pytest.param("-inf", id="minus-inf-text"),
    pytest.param("1 X", id="unknown-suffix"),
    pytest.param("1 m", id="milli"),
    pytest.param("1Mi", id="binary-Mi"),
    pytest.param("1 GiB", id="binary-GiB"),
    pytest.param("2 KiB", id="binary-KiB"),
    pytest.param("1 Ki", id="binary-Ki"),
    pytest.param("5 bytes", id="unknown-unit"),
    pytest.param("5 GFLOPz", id="misspelt-unit"),
    pytest.param("5 M ACs", id="split-unit"),
    pytest.param("1 k k", id="two-suffixes"),
    pytest.param("1kM", id="stacked-suffixes"),
    pytest.param("k", id="suffix-only"),
    pytest.param("MACs", id="unit-only"),
    pytest.param("1__0", id="double-underscore"),
    pytest.param("_1", id="leading-underscore"),
    pytest.param("1_", id="trailing-underscore"),
    pytest.param("1.2.3", id="two-points"),
    pytest.param("1e", id="bare-exponent"),
    pytest.param("1e5.5", id="fractional-exponent"),
    pytest.param(".", id="lone-point"),
    pytest.param("1,000", id="comma"),
    pytest.param("0x10", id="hex"),
]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_bad_values_are_usage_errors(value: object) -> None:
    message = rejection_message(value)
    assert repr(value) in message


@pytest.mark.parametrize("value", BAD_VALUES)
def test_errors_name_where_the_value_came_from(value: object) -> None:
    where = "in [tool.convbudget] max_flops"
    message = rejection_message(value, where)
    assert repr(value) in message
    assert where in message


# ---------------------------------------------------------------------------
# Units agree with keys: given the figure it limits, a quantity takes no other figure's unit
# ---------------------------------------------------------------------------

# Every unit word, by the figure it counts, in the spellings the docs and users write.
FIGURE_WORDS = {
    "params": ["param", "params", "parameter", "parameters", "Params", "PARAMETERS"],
    "flops": ["flop", "flops", "FLOP", "FLOPs", "Flops"],
    "macs": ["mac", "macs", "MAC", "MACs", "Macs"],
}
UNIT_CASES = [(unit_figure, word) for unit_figure, words in FIGURE_WORDS.items() for word in words]
# Sizes in bytes, decimal and binary, as BYTE_UNITS spells them and a few other ways.
BYTE_WORDS = ["B", "kB", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB", "gib", "mb", "byte", "bytes", "MBytes"]
WHERE = "at [tool.convbudget] flops in /project/pyproject.toml"


def rejection_figure(value: object, figure: str | None) -> str:
    """The ValueError text for a value refused as a limit on ``figure``."""
    with pytest.raises(ValueError) as excinfo:
        parse_quantity(value, WHERE, figure=figure)
    return str(excinfo.value)


def test_every_unit_word_names_a_figure() -> None:
    """The test's table of unit words is the parser's: no word is missed, none counts two figures."""
    from pytest_convbudget.words.quantity import UNIT_FIGURES, UNIT_WORDS

    assert {word.lower() for words in FIGURE_WORDS.values() for word in words} == set(UNIT_WORDS)
    assert set(UNIT_FIGURES.values()) == set(FIGURES)
    assert all(UNIT_FIGURES[word.lower()] == figure for figure, word in UNIT_CASES)


@pytest.mark.parametrize("figure", FIGURES)
@pytest.mark.parametrize(("unit_figure", "word"), UNIT_CASES)
@pytest.mark.parametrize(("prefix", "multiplier"), [("", 1), ("G", 10**9), ("M ", 10**6), ("k", 10**3)])
def test_a_unit_word_is_accepted_on_its_own_figure_only(
    figure: str, unit_figure: str, word: str, prefix: str, multiplier: int
) -> None:
    text = f"3 {prefix}{word}"
    if unit_figure == figure:
        assert parse_quantity(text, WHERE, figure=figure) == 3 * multiplier
        return
    with pytest.raises(ValueError) as excinfo:
        parse_quantity(text, WHERE, figure=figure)
    message = str(excinfo.value)
    assert message == invalid_quantity_message(text, WHERE, figure)
    assert message == (
        f"invalid quantity {text!r} {WHERE}: a {FIGURE_LABELS[unit_figure]} unit on a {FIGURE_LABELS[figure]} "
        f"limit (write the figure in {FIGURE_LABELS[figure]}, or set {unit_figure} instead)"
    )


def test_the_message_for_a_macs_unit_on_flops() -> None:
    """Word for word, as a user reads it."""
    message = rejection_figure("3 GMACs", "flops")
    assert message == (
        "invalid quantity '3 GMACs' at [tool.convbudget] flops in /project/pyproject.toml: "
        "a MACs unit on a FLOPs limit (write the figure in FLOPs, or set macs instead)"
    )


@pytest.mark.parametrize("figure", [*FIGURES, None])
@pytest.mark.parametrize(("unit_figure", "word"), UNIT_CASES)
def test_without_a_figure_every_unit_word_is_a_plain_count(figure: str | None, unit_figure: str, word: str) -> None:
    """figure=None keeps the permissive reading (the public parse_quantity, callers without a key)."""
    assert parse_quantity(f"25.6M {word}") == 25_600_000
    if figure is None or figure == unit_figure:
        assert parse_quantity(f"25.6M {word}", figure=figure) == 25_600_000


@pytest.mark.parametrize("figure", FIGURES)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4.1G", 4_100_000_000),
        ("3.7 G", 3_700_000_000),
        ("3_000_000", 3_000_000),
        (3_000_000, 3_000_000),
        (4.1e9, 4_100_000_000),
        ("1e9", 1_000_000_000),
        ("25.6M", 25_600_000),
        ("0", 0),
    ],
)
def test_a_number_without_a_unit_word_limits_any_figure(figure: str, value: object, expected: int) -> None:
    assert parse_quantity(value, figure=figure) == expected


@pytest.mark.parametrize(
    ("figure", "text", "expected"),
    [
        ("flops", "4.1 GFLOPs", 4_100_000_000),
        ("macs", "300 MMACs", 300_000_000),
        ("params", "25.6M params", 25_600_000),
        ("params", "1 parameter", 1),
        ("macs", "5 macs", 5),
        ("flops", "0.5 flops", 0),
    ],
)
def test_the_documented_forms_stay_accepted_on_their_keys(figure: str, text: str, expected: int) -> None:
    assert parse_quantity(text, figure=figure) == expected


@pytest.mark.parametrize("figure", [*FIGURES, None])
@pytest.mark.parametrize("word", BYTE_WORDS)
@pytest.mark.parametrize("space", ["", " "])
def test_a_size_in_bytes_is_never_a_count(figure: str | None, word: str, space: str) -> None:
    text = f"3{space}{word}"
    message = rejection_figure(text, figure)
    assert message == f"invalid quantity {text!r} {WHERE}: {BYTE_UNIT_PROBLEM}"
    assert message == invalid_quantity_message(text, WHERE, figure)


@pytest.mark.parametrize("text", ["lots", "-3 GMACs", "1e999 GMACs", "3 X", "3 m"])
def test_other_bad_values_keep_the_general_message(text: str) -> None:
    """A value that is no quantity of any figure is told the forms a quantity takes."""
    assert rejection_figure(text, "flops") == f"invalid quantity {text!r} {WHERE}: {EXPECTED_FORM}"


def test_an_unknown_figure_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown figure 'FLOPs': expected one of params, flops, macs"):
        parse_quantity("3G", figure="FLOPs")


@st.composite
def spelt_quantities(draw: st.DrawFn) -> tuple[str, int, str]:
    """A quantity as people type it: '3 GMACs', '3gmac', '3 G MACs', '12 Kflop', '7 PARAMS' ...

    Returns the text, its value when read as a plain count, and the figure of its unit word.
    The SI suffix is case-sensitive (k and K only), so a random-case one such as 'g' is not a
    quantity at all; the property below holds for those too.
    """
    n = draw(st.integers(0, 10**6))
    suffix = draw(st.sampled_from(sorted(SUFFIXES)))
    unit_figure, word = draw(st.sampled_from(UNIT_CASES))
    word = "".join(char.upper() if draw(st.booleans()) else char.lower() for char in word)
    if suffix and draw(st.booleans()):
        suffix = suffix.swapcase()
    gap_before = draw(st.sampled_from(["", " ", "  "]))
    gap_between = draw(st.sampled_from(["", " "])) if suffix else " "
    return f"{n}{gap_before}{suffix}{gap_between}{word}", n * SUFFIXES.get(suffix, 0), unit_figure


@QUANTITY_SETTINGS
@given(quantity=spelt_quantities(), figure=st.sampled_from(FIGURES))
def test_a_unit_word_never_crosses_figures_in_any_spelling(quantity: tuple[str, int, str], figure: str) -> None:
    """Matching units read exactly as without a figure; another figure's unit is refused, never converted."""
    text, value, unit_figure = quantity
    try:
        plain = parse_quantity(text)
    except ValueError:
        plain = None  # e.g. 'gmac': a lower-case g is no SI suffix, on any key
    if plain is not None:
        assert plain == value
    if unit_figure == figure and plain is not None:
        assert parse_quantity(text, WHERE, figure=figure) == plain
        return
    with pytest.raises(ValueError) as excinfo:
        parse_quantity(text, WHERE, figure=figure)
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"invalid quantity {text!r} {WHERE}: ")
    if plain is not None:  # a well-formed quantity of another figure says so
        assert f"a {FIGURE_LABELS[unit_figure]} unit on a {FIGURE_LABELS[figure]} limit" in message


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (1, "1"),
        (999, "999"),
        (1000, "1.00 k"),
        (12_345, "12.3 k"),
        (99_950, "100 k"),  # 99.95 k rounds to three figures: 100 k, not 100.0 k
        (999_999, "1.00 M"),  # rounding carries into the next suffix
        (123_456_789, "123 M"),
        (8_210_000_000, "8.21 G"),
        (1_234_567_890_123, "1.23 T"),
        (10**15, "1.00 P"),
    ],
)
def test_format_three_significant_figures(value: int, text: str) -> None:
    assert format_quantity(value) == text


@st.composite
def spread_ints(draw: st.DrawFn) -> int:
    """Ints spread evenly over the decades 10**3 .. LARGEST_WITH_P.

    A plain bounded ``st.integers`` draw rarely visits the small decades, so
    pick the decade first, then a value in it.
    """
    decade = draw(st.integers(3, 17))
    return draw(st.integers(10**decade, min(10 ** (decade + 1) - 1, LARGEST_WITH_P)))


@QUANTITY_SETTINGS
@given(n=spread_ints())
def test_round_trip_within_half_a_percent(n: int) -> None:
    back = parse_quantity(format_quantity(n))
    # three significant figures: at most half a unit of the third figure off,
    # i.e. |back - n| <= n / 200, checked in integers
    assert 200 * abs(back - n) <= n, (n, format_quantity(n), back)


@settings(max_examples=100, deadline=None, database=None)
@given(n=st.integers(0, 999))
def test_round_trip_is_exact_below_a_thousand(n: int) -> None:
    assert parse_quantity(format_quantity(n)) == n


# ---------------------------------------------------------------------------
# Edges: past the largest suffix, very long numbers, absurd exponents
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [999_500_000_000_000_000, 10**18, 10**21])
def test_round_trip_above_the_largest_si_suffix(n: int) -> None:
    back = parse_quantity(format_quantity(n))
    assert 200 * abs(back - n) <= n


def test_long_numbers_are_exact() -> None:
    assert parse_quantity("12345678901234567890123456789") == 12345678901234567890123456789


@pytest.mark.parametrize("text", ["1e9999999", "1e999999k", "1e101"])
def test_out_of_range_exponent_is_a_usage_error(text: str) -> None:
    assert repr(text) in rejection_message(text)


def test_only_ascii_digits() -> None:
    with pytest.raises(ValueError, match="invalid quantity"):
        parse_quantity("\u0661\u0662")
