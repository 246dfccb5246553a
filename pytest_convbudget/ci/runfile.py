"""The run file: every measurement of a session as JSON. Also the baseline format.

Its content depends only on what was measured (no timestamps, collection
order), so a serial run and an ``-n 2`` run write byte-identical files.
Writes are atomic: a temporary file in the same folder, flushed and synced,
then renamed over the target, so the old file stays whole until the new one is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..budgets.measurement import Measurement
from ..words.errors import RunFileError
from ..words.vocabulary import COST_MODEL_VERSION

SCHEMA = "pytest-convbudget/run"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RunEntry:
    """One measurement in a run file, with its test's outcome."""

    measurement: Measurement
    outcome: str  # passed, failed, skipped

    @property
    def key(self) -> tuple[str, str]:
        return self.measurement.key

    def to_dict(self) -> dict[str, Any]:
        data = self.measurement.to_dict()
        data["outcome"] = self.outcome
        data["over_budget"] = self.measurement.over_budget
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunEntry:
        return cls(measurement=Measurement.from_dict(data), outcome=data.get("outcome", "passed"))


@dataclass(frozen=True)
class RunFile:
    entries: tuple[RunEntry, ...]
    environment: Mapping[str, str] = field(default_factory=dict)

    def by_key(self) -> dict[tuple[str, str], RunEntry]:
        return {entry.key: entry for entry in self.entries}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "cost_model_version": COST_MODEL_VERSION,
            "environment": dict(self.environment),
            "measurements": [entry.to_dict() for entry in self.entries],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Any, source: str) -> RunFile:
        if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
            raise RunFileError(f"{source}: not a pytest-convbudget run file (no \"schema\": \"{SCHEMA}\")")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise RunFileError(
                f"{source}: schema version {data.get('schema_version')!r}, this pytest-convbudget reads "
                f"version {SCHEMA_VERSION}: save the baseline again"
            )
        if data.get("cost_model_version") != COST_MODEL_VERSION:
            raise RunFileError(
                f"{source}: counted with cost model version {data.get('cost_model_version')!r}, this "
                f"pytest-convbudget counts with version {COST_MODEL_VERSION}: save the baseline again"
            )
        environment = data.get("environment", {})
        if not isinstance(environment, Mapping):
            raise RunFileError(f"{source}: \"environment\" must be a table, got {type(environment).__name__}")
        try:
            entries = tuple(RunEntry.from_dict(item) for item in data["measurements"])
            for entry in entries:
                check_counts(entry.measurement)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise RunFileError(f"{source}: malformed measurement ({type(error).__name__}: {error})") from None
        return cls(entries=entries, environment=dict(environment))


_COST_COUNTS = ("params", "flops", "macs", "total_flops", "total_macs", "batch_size", "model_params")
_LAYER_COUNTS = ("params", "flops", "macs", "total_flops", "total_macs", "batch", "groups", "call")


def _whole(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} is {value!r}, not a whole number")


def check_counts(measurement: Measurement) -> None:
    """Every count a comparison does arithmetic on is an int, so a hand-edited or
    corrupted file fails here, with its name, not later inside a comparison."""
    cost = measurement.cost
    where = f"{measurement.test_id} [{measurement.name}]"
    for key in _COST_COUNTS:
        _whole(getattr(cost, key), f"{where} {key}")
    for layer in cost.layers:
        for key in _LAYER_COUNTS:
            _whole(getattr(layer, key), f"{where} layer {layer.name!r} {key}")
    for limit in measurement.limits:
        _whole(limit.value, f"{where} limit {limit.figure}")


def environment(device: str) -> dict[str, str]:
    """Versions that explain a difference between two runs; read without importing torch."""
    import platform

    return {
        "python": platform.python_version(),
        "torch": _version("torch"),
        "pytest_convbudget": _version("pytest-convbudget"),
        "device": device,
    }


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def load_run_file(path: Path, role: str = "baseline file") -> RunFile:
    """Read a run or baseline file; every problem is one RunFileError line naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunFileError(f"{path}: {role} not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RunFileError(f"{path}: cannot read ({error})") from None
    if not text.strip():
        raise RunFileError(f"{path}: empty file, not a pytest-convbudget run file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RunFileError(f"{path}: not valid JSON (truncated or corrupt?): {error}") from None
    return RunFile.from_dict(data, str(path))


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename; never leaves a partial file."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temporary, _mode_for(path))  # mkstemp makes 0600; a report should read like any file
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    """The mode the file has now, or what the umask gives a new file."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def build_run_file(entries: Sequence[RunEntry], device: str) -> RunFile:
    return RunFile(entries=tuple(entries), environment=environment(device))


def merge_runs(old: RunFile, new: RunFile) -> tuple[RunFile, int]:
    """``old`` with the entries of every test ``new`` measured replaced by ``new``'s.

    A test that ran is the authority on its own measurements (a renamed one
    replaces its old name); tests that did not run keep their entries. Old
    order is kept, and new tests follow in run order. Returns the merged run
    and how many tests were updated.
    """
    measured = {entry.measurement.test_id for entry in new.entries}
    fresh = {test_id: [e for e in new.entries if e.measurement.test_id == test_id] for test_id in measured}
    merged: list[RunEntry] = []
    for entry in old.entries:
        test_id = entry.measurement.test_id
        if test_id not in measured:
            merged.append(entry)
        elif test_id in fresh:
            merged += fresh.pop(test_id)
    for entry in new.entries:
        if entry.measurement.test_id in fresh:
            merged += fresh.pop(entry.measurement.test_id)
    return RunFile(entries=tuple(merged), environment=dict(new.environment)), len(measured)
