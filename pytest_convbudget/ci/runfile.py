"""The run file: every measurement of a session as JSON. Also the baseline format.

Its content depends only on what was measured (no timestamps, collection
order), so a serial run and an ``-n 2`` run write byte-identical files.
A suite measures a few models in thousands of tests, so version 2 keeps each
layer call once (``layers``, rows of values in ``layer_fields`` order), each
cost once (``costs``, their layers as places in ``layers``), and each
measurement as a line that names its cost's place; files of version 1 (every
measurement with its whole cost) are still read.
Writes are atomic: a temporary file in the same folder, flushed and synced,
then renamed over the target, so the old file stays whole until the new one is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..budgets.measurement import Measurement
from ..engine.results import LAYER_FIELDS, ConvCost, LayerCost, shared
from ..words.errors import RunFileError
from ..words.quantity import format_bytes
from ..words.vocabulary import COST_MODEL_VERSION, DEFAULT_MAX_FILE_SIZE
from .coverage import Coverage, join_coverages
from .ending import Ending, incomplete, join_endings
from .validation import InvalidField, check_run_document, show

SCHEMA = "pytest-convbudget/run"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1: every measurement with its cost inline, its layers as tables
POOLS = ("layers", "costs", "measurements")  # written one item a line


@dataclass(frozen=True)
class RunEntry:
    """One measurement in a run file, with its test's outcome."""

    measurement: Measurement
    outcome: str  # passed, failed, skipped

    @property
    def key(self) -> tuple[str, str]:
        return self.measurement.key

    def to_dict(self, cost: int | None = None) -> dict[str, Any]:
        """Its line in a run file, ``cost`` the place of its cost in the file's ``costs``; without
        one, the entry on its own (its cost packed, as a test hands a measurement on)."""
        data = self.measurement.to_dict(cost)
        data["outcome"] = self.outcome
        data["over_budget"] = self.measurement.over_budget
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], cost: ConvCost | None = None) -> RunEntry:
        """From its line in a run file: of version 2 with its ``cost`` looked up, of version 1 with it inline."""
        return cls(measurement=Measurement.from_dict(data, cost), outcome=data.get("outcome", "passed"))


@dataclass(frozen=True)
class RunFile:
    entries: tuple[RunEntry, ...]
    environment: Mapping[str, str] = field(default_factory=dict)
    coverage: Coverage | None = None  # which measuring tests ran; None in 0.2's files (all of them)
    endings: tuple[Ending, ...] = ()  # how each session that made it ended; none in older files (complete)
    cost_model_version: int = COST_MODEL_VERSION  # the cost model its figures were counted with

    @property
    def incomplete(self) -> tuple[Ending, ...]:
        """The sessions of this run that ended before measuring all they set out to."""
        return incomplete(self.endings)

    def by_key(self) -> dict[tuple[str, str], RunEntry]:
        return {entry.key: entry for entry in self.entries}

    def to_dict(self) -> dict[str, Any]:
        layers, costs = _Pool(), _Pool()
        measurements = []
        for entry in self.entries:
            cost = entry.measurement.cost

            def identity(cost: ConvCost = cost) -> tuple[str, tuple[int, ...]]:
                """A cost by value: its other fields, and its layers' places."""
                places = tuple(layers.place(layer, layer.row) for layer in cost.layers)
                return json.dumps({**cost.to_dict(rows=True), "layers": None}, sort_keys=True), places

            def written(key: tuple[str, tuple[int, ...]], cost: ConvCost = cost) -> dict[str, Any]:
                return {**cost.to_dict(rows=True), "layers": list(key[1])}

            measurements.append(entry.to_dict(costs.place(cost, identity, written)))
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "cost_model_version": self.cost_model_version,
            "environment": dict(self.environment),
            "layer_fields": list(LAYER_FIELDS),
            "layers": layers.items,
            "costs": costs.items,
            "measurements": measurements,
            **({} if self.coverage is None else {"coverage": self.coverage.to_dict()}),
            **({"endings": [ending.to_dict() for ending in self.endings]} if self.endings else {}),
        }

    def to_json(self) -> str:
        """Compact, keys sorted, and each layer, cost and measurement on a line of its own, so a
        change to a baseline reads as a diff of the lines that changed."""
        data = self.to_dict()
        lines = []
        for key in sorted(data):
            value = data[key]
            if key in POOLS and value:
                lines.append(f"{json.dumps(key)}:[\n" + ",\n".join(map(_compact, value)) + "\n]")
            else:
                lines.append(f"{json.dumps(key)}:{_compact(value)}")
        return "{\n" + ",\n".join(lines) + "\n}\n"

    @classmethod
    def from_dict(cls, data: Any, source: str) -> RunFile:
        """A run file from parsed JSON, checked field by field first (``validation``):
        a file that fails is one :class:`RunFileError` naming ``source`` and the field."""
        check_versions(data, source)
        try:
            check_run_document(data)
        except InvalidField as error:
            raise RunFileError(f"{source}: {error}") from None
        if data["schema_version"] == 1:
            entries = tuple(RunEntry.from_dict(item) for item in data["measurements"])
        else:
            layers = [LayerCost.from_row(row) for row in data["layers"]]
            costs = [shared(ConvCost.from_dict(cost, tuple(layers[place] for place in cost["layers"])))
                     for cost in data["costs"]]
            entries = tuple(RunEntry.from_dict(item, costs[item["cost"]]) for item in data["measurements"])
        coverage = Coverage.from_dict(data["coverage"]) if "coverage" in data else None
        endings = tuple(Ending.from_dict(item) for item in data.get("endings", ()))
        return cls(entries=entries, environment=dict(data.get("environment", {})), coverage=coverage, endings=endings,
                   cost_model_version=data["cost_model_version"])


def measurement_tables(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A checked run file's measurements as version 1 wrote them, whatever its version: each with
    its cost inline and the cost's layers as tables, for a script (or a test) that reads
    measurements one by one. ``document`` is the parsed JSON of a file :func:`load_run_file` accepts."""
    if document["schema_version"] == 1:
        return [dict(item) for item in document["measurements"]]
    names = document["layer_fields"]
    layers = [dict(zip(names, row)) for row in document["layers"]]
    costs = [{**cost, "layers": [layers[place] for place in cost["layers"]]} for cost in document["costs"]]
    return [{**item, "cost": costs[item["cost"]]} for item in document["measurements"]]


def check_versions(data: Any, source: str) -> None:
    """The markers first, each with its own advice, before the fields they govern. A file counted
    with another cost model is read: the verdict names the difference (a count that is not a
    positive whole number is refused by the field check)."""
    if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
        raise RunFileError(f"{source}: not a pytest-convbudget run file (no \"schema\": \"{SCHEMA}\")")
    version = data.get("schema_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise RunFileError(
            f"{source}: schema version {show(version)}, this pytest-convbudget reads "
            f"versions {' and '.join(map(str, READABLE_VERSIONS))}: save the baseline again"
        )


class _Pool:
    """Items kept once each, in the order first seen: found by identity (the objects of a session and
    of a file read are shared, ``engine.results.shared``), else by value, so equal items are one place
    whichever objects hold them."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._by_id: dict[int, tuple[Any, int]] = {}
        self._by_value: dict[Any, int] = {}

    def place(self, item: Any, value: Callable[[], Any], written: Callable[[Any], Any] | None = None) -> int:
        """The place of ``item``, whose identity by value is ``value()``; a new one is appended as
        ``written(that value)`` (by default the value itself)."""
        known = self._by_id.get(id(item))
        if known is not None:
            return known[1]
        key = value()
        found = self._by_value.get(key)
        if found is None:
            found = self._by_value[key] = len(self.items)
            self.items.append(key if written is None else written(key))
        self._by_id[id(item)] = (item, found)  # the item is kept, so its id is never another's
        return found


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def environment(device: str) -> dict[str, str]:
    """Versions that explain a difference between two runs; read without importing torch."""
    import platform

    found = {
        "python": platform.python_version(),
        "torch": _version("torch"),
        "pytest_convbudget": _version("pytest-convbudget"),
        "device": device,
    }
    commit = os.environ.get("GITHUB_SHA", "").strip()
    if commit:  # the commit a CI run measured: the comment names its baseline's
        found["commit"] = commit[:64]
    return found


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def load_run_file(
    path: Path, role: str = "baseline file", max_bytes: int = DEFAULT_MAX_FILE_SIZE, raise_with: str = ""
) -> RunFile:
    """Read a run or baseline file; every problem is one RunFileError line naming it.

    A file over ``max_bytes`` is refused before it is read (``raise_with`` names
    the option that raises the limit), and nothing is used before every field
    has been checked.
    """
    data = parse_json(read_limited(path, role, max_bytes, raise_with), path)
    return RunFile.from_dict(data, str(path))


def read_limited(path: Path, role: str, max_bytes: int, raise_with: str = "") -> str:
    """The file's text, refused unread when it is over ``max_bytes``."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(max_bytes + 1)
    except FileNotFoundError:
        raise RunFileError(f"{path}: {role} not found") from None
    except OSError as error:
        raise RunFileError(f"{path}: cannot read ({error.strerror or error})") from None
    if len(raw) > max_bytes:
        hint = f"; raise it with {raise_with}" if raise_with else ""
        raise RunFileError(f"{path}: larger than the {format_bytes(max_bytes)} limit for run files{hint}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RunFileError(f"{path}: not UTF-8 text (byte {error.start}), not a pytest-convbudget run file") from None


def parse_json(text: str, path: Path) -> Any:
    """Strict JSON: NaN and infinities are left as floats for the field check to name."""
    if not text.strip():
        raise RunFileError(f"{path}: empty file, not a pytest-convbudget run file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RunFileError(f"{path}: not valid JSON (truncated or corrupt?): {error}") from None
    except RecursionError:
        raise RunFileError(f"{path}: not a pytest-convbudget run file (nested too deeply)") from None
    except ValueError:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise RunFileError(f"{path}: not a pytest-convbudget run file (a number too long to be a count)") from None


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


def write_problem(path: Path) -> str | None:
    """Why a file could not be written at ``path``, found by trying before a session runs its
    tests (a full suite must not run for an hour to then fail on its output path); None when it can.
    The probe is a temporary file in the nearest folder that exists, removed at once."""
    if path.is_dir():
        return "it is a folder"
    existing = path.parent if str(path.parent) else Path(".")
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    import tempfile

    try:
        handle, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=existing)
    except OSError as error:
        return error.strerror or str(error)
    os.close(handle)
    Path(probe).unlink(missing_ok=True)
    return None


def _mode_for(path: Path) -> int:
    """The mode the file has now, or what the umask gives a new file."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def build_run_file(entries: Sequence[RunEntry], device: str, coverage: Coverage | None = None,
                   ending: Ending | None = None) -> RunFile:
    return RunFile(entries=tuple(entries), environment=environment(device), coverage=coverage,
                   endings=() if ending is None else (ending,))


def merge_shards(shards: Sequence[tuple[str, RunFile]]) -> RunFile:
    """Shards' run files joined into the run file one whole run would have written.

    Entries keep the first shard's order, then each next shard's new ones. A
    measurement found in two shards must be the same in both (a test run twice
    is fine; measured differently, or counted with other kinds, is refused in
    one line naming both files).
    """
    merged: dict[tuple[str, str], tuple[str, RunEntry]] = {}
    for label, run in shards:
        for entry in run.entries:
            seen = merged.get(entry.key)
            if seen is None:
                merged[entry.key] = (label, entry)
            elif seen[1] != entry:
                raise RunFileError(_conflict(label, seen[0], seen[1], entry))
    coverage = join_coverages([run.coverage for _, run in shards])
    entries = [entry for _, entry in merged.values()]
    if coverage is not None:  # the suite's order, as one whole run writes it
        position = {test_id: index for index, test_id in enumerate(coverage.measuring)}
        entries.sort(key=lambda entry: position.get(entry.measurement.test_id, len(position)))
    endings = join_endings([(label, run.endings) for label, run in shards],
                           None if coverage is None else len(coverage.ran))
    return RunFile(entries=tuple(entries), environment=dict(shards[0][1].environment), coverage=coverage,
                   endings=endings, cost_model_version=shards[0][1].cost_model_version)


def _conflict(label: str, first_label: str, first: RunEntry, second: RunEntry) -> str:
    test_id, name = second.key
    before, after = first.measurement.cost.count, second.measurement.cost.count
    how = (f"counted {', '.join(before)} in {first_label} and {', '.join(after)} here" if before != after
           else f"measured differently in {first_label}")
    return f"{label}: {show(test_id)} [{show(name)}] is {how}: these are not shards of one run"


def merge_runs(old: RunFile, new: RunFile) -> tuple[RunFile, int]:
    """``old`` with the entries of every test ``new`` measured replaced by ``new``'s.

    A test that ran is the authority on its own measurements (a renamed one
    replaces its old name); tests that did not run keep their entries. Old
    order is kept, and new tests follow in run order. Returns the merged run
    and how many tests were updated.
    """
    fresh: dict[str, list[RunEntry]] = {}  # each test's new entries, in one pass (not one per test)
    for entry in new.entries:
        fresh.setdefault(entry.measurement.test_id, []).append(entry)
    measured = set(fresh)
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
    coverage = join_coverages([old.coverage, new.coverage]) if new.coverage is not None else old.coverage
    merged_run = RunFile(entries=tuple(merged), environment=dict(new.environment), coverage=coverage,
                         endings=new.endings, cost_model_version=new.cost_model_version)
    return merged_run, len(measured)
