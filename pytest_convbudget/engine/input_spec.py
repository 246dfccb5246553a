"""What an input of ``profile --input`` / ``--kwarg`` is to be: shape, dtype, fill. Imports no torch,
so the command line can read its arguments before the engine loads."""

from __future__ import annotations

from dataclasses import dataclass

INPUT_DTYPES = ("float32", "float16", "bfloat16", "float64", "int64", "int32", "bool")


@dataclass(frozen=True)
class InputSpec:
    """One input: its shape, dtype, and a constant fill if given (``=1``: an all-ones mask)."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    fill: float | None = None
