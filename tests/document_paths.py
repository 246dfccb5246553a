"""The paths of a JSON document, for the fuzzers that mutate run files and saved programs."""

from __future__ import annotations

from typing import Any


def value_paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value in a document, the root included."""
    found = [path]
    if isinstance(data, dict):
        for key, value in data.items():
            found += value_paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += value_paths(value, (*path, index))
    return found
