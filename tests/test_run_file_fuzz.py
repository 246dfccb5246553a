"""Run files are untrusted input: real ones, mutated at random, fed to every reader.

Each case takes a run file the examples really wrote, breaks it one to three
ways (a wrong type, a missing or extra key, NaN and infinities, huge and
negative numbers, deep nesting, truncation, bytes that are not UTF-8), and
hands it to every reader: ``diff`` both ways round in each output format, the
plugin's baseline loader, and the loader itself. Every case ends in one clean
line naming the file (exit status 2) or in a correct result: a file that is
accepted reads back the same after a save, renders in every format, and is
valid by the shipped JSON Schema as an independent validator reads it.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from document_paths import value_paths

from pytest_convbudget.budgets.pyproject import Settings
from pytest_convbudget.ci.runfile import RunFile, load_run_file
from pytest_convbudget.ci.validation import InvalidField, _quick_check, _Walker, run_schema
from pytest_convbudget.ci.verdict import GatePolicy, build_report
from pytest_convbudget.cli import main
from pytest_convbudget.gate import GateOptions, RegressionGate
from pytest_convbudget.render.outputs import OUTPUTS, render
from pytest_convbudget.words.errors import GateError, RunFileError

jsonschema = pytest.importorskip("jsonschema")

DATA = Path(__file__).parent / "data"
SEEDS = {
    name: (DATA / name).read_text(encoding="utf-8")
    for name in ("examples_outputs/baseline.json", "examples_outputs/branch-run.json", "run-0.1.json", "run-v1.json")
}
GOOD = DATA / "examples_outputs" / "main-run.json"
FUZZ_CASES = 1_000
DEEP = '"\u0000deep"'  # placeholders swapped for text json.dumps cannot write
HUGE = '"\u0000huge"'
VALIDATOR = jsonschema.Draft202012Validator(run_schema())
GOOD_RUN = load_run_file(GOOD)

scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=20),
    st.integers(min_value=-(2**70), max_value=2**90),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([DEEP.strip('"'), HUGE.strip('"'), "NaN", "params", "conv", "", "x" * 5000]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                            max_size=3), max_leaves=6)


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        data = data[step]
    return data


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """A real run file, broken one to three ways."""
    data = json.loads(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 3))):
        paths = value_paths(data)
        path = paths[draw(st.integers(0, len(paths) - 1))]
        action = draw(st.sampled_from(["replace", "delete", "add", "negate", "grow"]))
        if not path:
            data = draw(values) if action == "replace" else data
            continue
        parent, last = _parent(data, path), path[-1]
        if action == "replace":
            parent[last] = draw(values)
        elif action == "delete":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(values)
        elif action == "add":
            parent.insert(last, draw(values))
        elif isinstance(parent[last], int) and not isinstance(parent[last], bool):
            parent[last] = -parent[last] - 1 if action == "negate" else parent[last] * 10**draw(st.integers(1, 30))
    text = json.dumps(data, indent=draw(st.sampled_from([None, 2])))
    text = text.replace(DEEP, "[" * 50_000 + "]" * 50_000).replace(HUGE, "9" * 5_000)
    raw = text.encode("utf-8", "surrogatepass")
    damage = draw(st.sampled_from(["none", "none", "truncate", "bytes"]))
    if damage == "truncate":
        raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    elif damage == "bytes":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=4)) + raw[at:]
    return raw


def _diff(*arguments: str) -> tuple[int, str]:
    """``python -m pytest_convbudget diff`` in this process: its status and its stderr."""
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        status = main(["diff", *arguments])
    return status, errors.getvalue()


def _loaded(path: Path) -> RunFile | None:
    try:
        return load_run_file(path)
    except RunFileError as error:
        message = str(error)
        assert "\n" not in message and message.startswith(f"{path}: "), message
        event("refused: " + re.sub(r"'[^']*'|\d[\d,.e+]*", "…", message.split(": ")[-1])[:48])
        return None


def _walk_accepts(document: Any, version: int) -> bool:
    definitions = run_schema()["$defs"]
    try:
        _Walker(definitions).check(document, definitions[f"run_{version}"], "")
    except InvalidField:
        return False
    return True


def _version(document: Any) -> int | None:
    """The layout a document says it has, where a reader reads it (else it is refused before any check)."""
    version = document.get("schema_version") if isinstance(document, dict) else None
    return version if type(version) is int and version in (1, 2) else None


@settings(max_examples=FUZZ_CASES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(raw=mutated_files(), output=st.sampled_from(sorted(OUTPUTS)))
def test_every_reader_ends_a_mutated_run_file_in_one_line_or_a_correct_result(
    tmp_path: Path, raw: bytes, output: str
) -> None:
    path = tmp_path / "mutated.json"
    path.write_bytes(raw)
    run = _loaded(path)
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        document = None
    version = _version(document)
    if version is not None:  # the quick check and the walk that names the field are one rule
        assert _quick_check(version)(document) == _walk_accepts(document, version)
    if run is not None:
        event("accepted")
        assert VALIDATOR.is_valid(document), "accepted a file the shipped schema refuses"
        saved = tmp_path / "saved.json"
        saved.write_text(run.to_json(), encoding="utf-8")
        assert load_run_file(saved) == run  # what is accepted means one thing, and keeps it through a save
        report = build_report(run, GOOD_RUN, GatePolicy.from_settings(Settings(), None, "fail"), "base")
        assert render(report, output)
    for arguments in ((str(path), str(GOOD)), (str(GOOD), str(path))):
        status, errors = _diff(*arguments, "--format", output)
        if run is None:
            assert status == 2
            assert errors.count("\n") == 1 and errors.startswith(f"convbudget diff: error: {path}: "), errors
        else:
            assert status in (0, 1) and errors == ""
    gate = RegressionGate(GateOptions(baseline_path=path), Settings())
    try:
        gate.load_baseline()
        assert run is not None and gate.baseline == run
    except GateError as error:
        assert run is None and str(error).startswith(f"{path}: ")
