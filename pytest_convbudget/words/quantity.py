"""Parse and print budget quantities: ``"4.1 GFLOPs"``, ``"25.6M params"``, ``3_000_000``.

Kept free of torch so the plugin can validate ``pyproject.toml`` and markers at
start-up without importing it. Parsing goes through :class:`decimal.Decimal`
so no float rounding ever enters a limit.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext

SI_SUFFIXES: dict[str, int] = {
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
}
# Unit words a quantity may end with; matched case-insensitively.
UNIT_WORDS = frozenset(
    {"flop", "flops", "mac", "macs", "param", "params", "parameter", "parameters"}
)
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


def invalid_quantity_message(value: object, where: str | None) -> str:
    """The one-line error for a bad quantity, naming where it came from."""
    origin = f" {where}" if where else ""
    return f"invalid quantity {value!r}{origin}: {EXPECTED_FORM}"


def parse_quantity(value: object, where: str | None = None) -> int:
    """Return the whole number of units a budget quantity allows.

    Accepts an int, a finite non-negative float or a string such as ``"4.1G"``.
    A fractional result is rounded down: counts are integers, so ``count <=
    limit`` holds for exactly the same counts. ``where`` names the origin of the
    value (a marker, a pyproject key) in the ``ValueError`` raised for bad input.
    """
    if isinstance(value, bool):
        raise ValueError(invalid_quantity_message(value, where))
    if isinstance(value, int):
        if value < 0:
            raise ValueError(invalid_quantity_message(value, where))
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(invalid_quantity_message(value, where))
        return math.floor(Decimal(repr(value)))
    if isinstance(value, str):
        return _parse_text(value, where)
    raise ValueError(invalid_quantity_message(value, where))


def _parse_text(text: str, where: str | None) -> int:
    match = _NUMBER.fullmatch(text)
    number = match.group("number") if match else ""
    if not match or not any(ch in "0123456789" for ch in number):
        raise ValueError(invalid_quantity_message(text, where))
    if match.group("exponent") and abs(int(match.group("exponent"))) > MAX_EXPONENT:
        raise ValueError(invalid_quantity_message(text, where))
    multiplier = _suffix_multiplier(match.group("rest"))
    if multiplier is None:
        raise ValueError(invalid_quantity_message(text, where))
    with localcontext() as exact:
        exact.prec = len(number) + 2 * MAX_EXPONENT  # enough digits that nothing rounds
        try:
            amount = Decimal(number.replace("_", "")) * multiplier
        except InvalidOperation:
            raise ValueError(invalid_quantity_message(text, where)) from None
        return math.floor(amount)


def _suffix_multiplier(rest: str) -> int | None:
    """Multiplier for the text after the number, or None when it is not valid."""
    if rest == "" or rest.lower() in UNIT_WORDS:
        return 1
    suffix, word = rest[0], rest[1:].lstrip()
    if suffix not in SI_SUFFIXES:
        return None
    if word and word.lower() not in UNIT_WORDS:
        return None  # rejects binary prefixes too: 'Mi', 'GiB'
    return SI_SUFFIXES[suffix]


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
        raise ValueError(f"invalid size {value!r}{origin}: {EXPECTED_BYTES}")
    with localcontext() as exact:
        exact.prec = len(number) + 2 * MAX_EXPONENT
        return math.floor(Decimal(number.replace("_", "")) * BYTE_UNITS[unit])


def format_bytes(count: int) -> str:
    """A size as people read it: exact in whichever units make it whole (``67108864 -> '64 MiB'``,
    ``10000 -> '10 kB'``), else three figures in binary units (``1500 -> '1.46 KiB'``)."""
    for unit in ("TiB", "TB", "GiB", "GB", "MiB", "MB", "KiB", "kB"):
        if count >= BYTE_UNITS[unit] and count % BYTE_UNITS[unit] == 0:
            return f"{count // BYTE_UNITS[unit]} {unit}"
    step = 0
    while step < len(_BINARY_STEPS) - 1 and count >= 1024 ** (step + 1):
        step += 1
    if step == 0:
        return f"{count} B"
    scaled = Decimal(count) / (1024**step)
    if scaled == scaled.to_integral_value():
        return f"{int(scaled)} {_BINARY_STEPS[step]}"
    places = max(0, 2 - len(str(int(scaled))) + 1)
    return f"{scaled:.{places}f} {_BINARY_STEPS[step]}"
