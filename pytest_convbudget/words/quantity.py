"""Parse and print budget quantities: ``"4.1 GFLOPs"``, ``"25.6M params"``, ``3_000_000``.

Kept free of torch so the plugin can validate ``pyproject.toml`` and markers at
start-up without importing it. Parsing goes through :class:`decimal.Decimal`
so no float rounding ever enters a limit.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

from .vocabulary import BUDGET_FIGURES, BYTE_FIGURES, FIGURE_LABELS, FIGURES

SI_SUFFIXES: dict[str, int] = {
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
}
# Unit words a quantity may end with, matched case-insensitively, and the figure each one counts:
# a limit on a figure takes no other figure's unit (a MAC is not a FLOP; nothing is converted).
UNIT_FIGURES: dict[str, str] = {
    "flop": "flops", "flops": "flops",
    "mac": "macs", "macs": "macs",
    "param": "params", "params": "params", "parameter": "params", "parameters": "params",
}
UNIT_WORDS = frozenset(UNIT_FIGURES)
# What follows the number when it is a size in bytes ('GiB', '64 MB', '5 bytes'): never a count.
_BYTE_UNIT = re.compile(r"(?:[kmgtp]i?\s*)?(?:b|bytes?)", re.IGNORECASE)
_NUMBER = re.compile(
    r"""\s*
    (?P<number>
        (?:[0-9]+(?:_[0-9]+)*)?         # integer part, '_' only between digits
        (?:\.[0-9]+(?:_[0-9]+)*|\.)?    # optional fraction
        (?:[eE](?P<exponent>[+-]?[0-9]+))?
    )
    \s*(?P<rest>.*?)\s*$""",
    re.VERBOSE | re.DOTALL,
)
_FORMAT_SUFFIXES = ("", "k", "M", "G", "T", "P")
# No budget needs more; it keeps Decimal arithmetic exact and small.
MAX_EXPONENT = 100
EXPECTED_FORM = (
    "expected a non-negative number with an optional SI suffix (k, M, G, T, P) "
    "and unit word, e.g. 4.1G, '25.6M params', '300 MMACs'"
)


BYTE_UNIT_PROBLEM = "a byte unit on a count (params, FLOPs and MACs are counts, not sizes in bytes)"


def invalid_quantity_message(value: object, where: str | None, figure: str | None = None) -> str:
    """The one-line error for a bad quantity, naming where it came from and what is wrong.

    A size in bytes, or (given the ``figure`` the value limits) another figure's
    unit word, is named as such; anything else gets the forms a quantity takes.
    """
    origin = f" {where}" if where else ""
    return f"invalid quantity {value!r}{origin}: {_problem(value, figure)}"


def unit_mismatch(figure: str, unit_figure: str) -> str:
    """Why a value with ``unit_figure``'s unit word cannot limit ``figure``."""
    return (
        f"a {FIGURE_LABELS[unit_figure]} unit on a {FIGURE_LABELS[figure]} limit "
        f"(write the figure in {FIGURE_LABELS[figure]}, or set {unit_figure} instead)"
    )


def parse_quantity(value: object, where: str | None = None, *, figure: str | None = None) -> int:
    """Return the whole number of units a budget quantity allows.

    Accepts an int, a finite non-negative float or a string such as ``"4.1G"``.
    A fractional result is rounded down: counts are integers, so ``count <=
    limit`` holds for exactly the same counts. ``where`` names the origin of the
    value (a marker, a pyproject key) in the ``ValueError`` raised for bad input.
    ``figure`` (``"params"``, ``"flops"`` or ``"macs"``) is the figure the value
    limits: a unit word of another figure is then refused (``"3 GMACs"`` for
    ``flops``). Without it any of the unit words is read as a plain count.
    Sizes in bytes (``"3 GiB"``) are refused either way.
    """
    if figure == "model_params":
        figure = "params"  # the whole model's parameters take the params unit words
    if figure is not None and figure not in FIGURES:
        raise ValueError(f"unknown figure {figure!r}: expected one of {', '.join(FIGURES)}")
    if isinstance(value, bool):
        raise ValueError(invalid_quantity_message(value, where, figure))
    if isinstance(value, int):
        if value < 0:
            raise ValueError(invalid_quantity_message(value, where, figure))
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(invalid_quantity_message(value, where, figure))
        return math.floor(Decimal(repr(value)))
    if isinstance(value, str):
        return _parse_text(value, where, figure)
    raise ValueError(invalid_quantity_message(value, where, figure))


def _parse_text(text: str, where: str | None, figure: str | None) -> int:
    read = _read(text)
    if read is None or _mismatched(read[2], figure):
        raise ValueError(invalid_quantity_message(text, where, figure))
    number, multiplier, _ = read
    with localcontext() as exact:
        exact.prec = len(number) + 2 * MAX_EXPONENT  # enough digits that nothing rounds
        try:
            amount = Decimal(number.replace("_", "")) * multiplier
        except InvalidOperation:
            raise ValueError(invalid_quantity_message(text, where, figure)) from None
        return math.floor(amount)


def _read(text: str) -> tuple[str, int, str | None] | None:
    """The number, its SI multiplier and the figure its unit word names (None: no word);
    None when ``text`` is not a quantity of any figure."""
    match = _NUMBER.fullmatch(text)
    number = match.group("number") if match else ""
    if not match or not any(ch in "0123456789" for ch in number):
        return None
    if match.group("exponent") and abs(int(match.group("exponent"))) > MAX_EXPONENT:
        return None
    unit = _unit(match.group("rest"))
    return None if unit is None else (number, *unit)


def _unit(rest: str) -> tuple[int, str | None] | None:
    """Multiplier and unit figure for the text after the number, or None when it is not valid."""
    if rest == "":
        return 1, None
    if rest.lower() in UNIT_FIGURES:
        return 1, UNIT_FIGURES[rest.lower()]
    suffix, word = rest[0], rest[1:].lstrip()
    if suffix not in SI_SUFFIXES:
        return None
    if not word:
        return SI_SUFFIXES[suffix], None
    if word.lower() not in UNIT_FIGURES:
        return None  # rejects binary prefixes too: 'Mi', 'GiB'
    return SI_SUFFIXES[suffix], UNIT_FIGURES[word.lower()]


def _mismatched(unit_figure: str | None, figure: str | None) -> bool:
    return figure is not None and unit_figure is not None and unit_figure != figure


def _problem(value: object, figure: str | None) -> str:
    """What is wrong with a refused quantity, in the words of its message."""
    if not isinstance(value, str):
        return EXPECTED_FORM
    read = _read(value)
    if read is not None:
        unit_figure = read[2]
        if figure is not None and unit_figure is not None and unit_figure != figure:
            return unit_mismatch(figure, unit_figure)
        return EXPECTED_FORM
    match = _NUMBER.fullmatch(value)
    if match and _BYTE_UNIT.fullmatch(match.group("rest")):
        return BYTE_UNIT_PROBLEM
    return EXPECTED_FORM


def parse_limit(value: object, where: str, figure: str) -> int:
    """A limit on ``figure``: a size in bytes for ``weights`` and ``activations`` (a unit is
    needed in text: ``"450MB"``, ``"1.2GiB"``), a count for the others (a byte unit refused)."""
    if figure not in BUDGET_FIGURES:
        raise ValueError(f"unknown figure {figure!r}: expected one of {', '.join(BUDGET_FIGURES)}")
    if figure in BYTE_FIGURES:
        return parse_byte_size(value, where=where)
    return parse_quantity(value, where=where, figure=figure)


def format_figure(figure: str, value: int) -> str:
    """A figure's value as people read it: bytes in byte units, counts with an SI suffix."""
    return format_bytes(value) if figure in BYTE_FIGURES else format_quantity(value)


def format_against_limit(figure: str, value: int, limit: int) -> tuple[str, str]:
    """A value and its limit, read side by side: a size in bytes and its limit in one unit (the
    limit's, as :func:`format_bytes` writes it: ``10.5 MB > 10 MB``, never ``10.00 MiB > 10 MB``),
    counts each with its SI suffix."""
    if figure not in BYTE_FIGURES:
        return format_quantity(value), format_quantity(limit)
    shown = format_bytes(limit)
    number, _, unit = shown.partition(" ")
    if unit == "B":
        return f"{value} B", shown
    size = BYTE_UNITS[unit]
    scaled = Decimal(value) / size
    if value < 1000 * size and (value * 100) % size == 0:  # exact, as format_bytes writes it
        text = f"{scaled:f}"
        return (text.rstrip("0").rstrip(".") if "." in text else text) + f" {unit}", shown
    places = max(0, 3 - (len(str(int(scaled))) if scaled >= 1 else 1))
    return f"{scaled.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)} {unit}", shown


def format_figure_change(figure: str, before: int, after: int) -> tuple[str, str]:
    """Two values of a figure to be read side by side: sizes in bytes in one binary unit
    (the larger value's), three figures each; counts as :func:`format_quantity` has them."""
    if figure not in BYTE_FIGURES:
        return format_quantity(before), format_quantity(after)
    step = 0
    while step < len(_BINARY_STEPS) - 1 and max(before, after) >= 1024 ** (step + 1):
        step += 1
    return _in_binary(before, step), _in_binary(after, step)


def _in_binary(count: int, step: int) -> str:
    if step == 0:
        return f"{count} B"
    scaled = Decimal(count) / (1024**step)
    places = max(0, 3 - (len(str(int(scaled))) if scaled >= 1 else 1))
    return f"{scaled.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)} {_BINARY_STEPS[step]}"


def parse_percent(value: object) -> float:
    """A growth allowance: ``5``, ``2.5`` or ``"5%"``; finite and non-negative."""
    text = value.strip()[:-1] if isinstance(value, str) and value.strip().endswith("%") else value
    try:
        number = math.nan if isinstance(text, bool) else float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"expected a non-negative percentage such as 5 or '5%', got {value!r}")
    return number


def format_quantity(value: int) -> str:
    """Three significant figures with an SI suffix: ``8_210_000_000 -> '8.21 G'``.

    Values from 1000 P up are printed whole in P, so the text always parses back.
    """
    if value < 0:
        return "-" + format_quantity(-value)
    if value < 1000:
        return str(value)
    top = len(_FORMAT_SUFFIXES) - 1
    exponent = min((len(str(value)) - 1) // 3, top)
    rounded = _three_figures(Decimal(value).scaleb(-3 * exponent))
    if rounded >= 1000 and exponent < top:
        exponent += 1
        rounded = _three_figures(Decimal(value).scaleb(-3 * exponent))
    places = max(0, 3 - len(str(int(rounded))))
    return f"{rounded:.{places}f} {_FORMAT_SUFFIXES[exponent]}"


def _three_figures(number: Decimal) -> Decimal:
    digits = len(str(int(number)))
    return number.quantize(Decimal(1).scaleb(digits - 3), rounding=ROUND_HALF_EVEN)


BYTE_UNITS: dict[str, int] = {
    "B": 1,
    "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}
EXPECTED_BYTES = "expected a number of bytes with a unit (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. '64MiB', '1.5 GB'"
_BINARY_STEPS = ("B", "KiB", "MiB", "GiB", "TiB")


def parse_byte_size(value: object, where: str | None = None) -> int:
    """A size in bytes: a whole number, or ``"64MiB"``, ``"1.5 GB"`` (decimal and binary units).

    Rounded down to whole bytes; ``where`` names the origin in the ``ValueError``.
    """
    origin = f" {where}" if where else ""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _NUMBER.fullmatch(value) if isinstance(value, str) else None
    unit = match.group("rest") if match else ""
    number = match.group("number") if match else ""
    if not match or unit not in BYTE_UNITS or not any(ch.isdigit() for ch in number) or (
        match.group("exponent") and abs(int(match.group("exponent"))) > MAX_EXPONENT
    ):
        raise ValueError(f"invalid size {value!r}{origin}: {_size_problem(unit)}")
    with localcontext() as exact:
        exact.prec = len(number) + 2 * MAX_EXPONENT
        return math.floor(Decimal(number.replace("_", "")) * BYTE_UNITS[unit])


def _size_problem(unit: str) -> str:
    if unit.lower() in UNIT_FIGURES or (unit[:1] in SI_SUFFIXES and unit[1:].strip().lower() in ("", *UNIT_FIGURES)):
        return f"a count where a size in bytes is needed; {EXPECTED_BYTES}"
    return EXPECTED_BYTES


def format_bytes(count: int) -> str:
    """A size as people read it: exact in whichever unit writes it below 1000 with at most
    two decimals (``67108864 -> '64 MiB'``, ``10000 -> '10 kB'``, ``3200 -> '3.2 kB'``),
    else three figures in binary units (``3232 -> '3.16 KiB'``, ``6422528 -> '6.13 MiB'``)."""
    for unit in ("TiB", "TB", "GiB", "GB", "MiB", "MB", "KiB", "kB"):
        size = BYTE_UNITS[unit]
        if size <= count < 1000 * size and (count * 100) % size == 0:
            text = f"{Decimal(count) / size:f}"
            return (text.rstrip("0").rstrip(".") if "." in text else text) + f" {unit}"
    step = 0
    while step < len(_BINARY_STEPS) - 1 and count >= 1024 ** (step + 1):
        step += 1
    return _in_binary(count, step)
