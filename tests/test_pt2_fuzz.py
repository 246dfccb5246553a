"""``.pt2`` archives are untrusted input: real ones, mutated at random, profiled.

Each case takes an archive ``torch.export.save`` really wrote (a conv net; a transformer
encoder with buffers and a constant; a model taking keyword inputs; one exported for any
even batch, whose shape expressions and guards torch evaluates) and breaks it one to
three ways: a value anywhere in the program's JSON or its weight and constant configs
replaced (by a hostile string that would run code if evaluated, a huge or negative
number, a wrong type), a key deleted, a member removed, renamed (``../x``, absolute, an
AOTInductor library), truncated, overwritten with random bytes or given bytes it should
not hold. The archive is then profiled by ``python -m pytest_convbudget profile`` run in
this process (spawning an interpreter per case would cost seconds each) on meta, or on
the CPU when the weights were touched. Every case ends in one line and exit status 2, or
in a profile: never a traceback, never the marker file the hostile strings would write.
A mutation of what profiling never reads (a node's stack trace, an extra file) must give
the untouched archive's profile exactly.

``CONVBUDGET_FUZZ_EXAMPLES`` sets the number of cases: 500 by default (CI), more for a
thorough run (``CONVBUDGET_FUZZ_EXAMPLES=20000 python -m pytest tests/test_pt2_fuzz.py``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import nn

from document_paths import value_paths
from pt2_models import Encoder, Pairs

from pytest_convbudget.cli import main

FUZZ_CASES = int(os.environ.get("CONVBUDGET_FUZZ_EXAMPLES", "500"))
PROG = "python -m pytest_convbudget: error: "
MARKER = Path(tempfile.gettempdir()) / f"convbudget-fuzz-marker-{os.getpid()}"
HOSTILE = [
    f"__import__('builtins').open('{MARKER}', 'w')",
    f"open('{MARKER}','w') and 1",
    f"x=open('{MARKER}','w')",
    f"a\"),open('{MARKER}','w'),(\"",
    f"L['x'].size()[0] == 2 or open('{MARKER}','w')",
    "torch.ops.aten.from_file.default", "torch.os.system", "torch.serialization.pickle.loads", "builtins.eval",
    "../escaped", "/abs/path", "s0 + s1", "Max(s0, 2)", "2**2**2**2**2", "PowByNatural(9, 99999999)",
    "collections.defaultdict", "torch.ops.aten.conv2d.default", "cpu", "meta", "cuda", "",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(HOSTILE), st.text(max_size=12),
    st.integers(min_value=-(2**66), max_value=2**66), st.sampled_from([0, 1, 2, -1, 7, 2**31, 2**48]),
    st.floats(allow_nan=True, allow_infinity=True),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["as_int", "as_expr", "as_tensor", "name", "type", "context", "x"]) | st.text(max_size=6),
    inner, max_size=3), max_leaves=5)
JSON_MEMBERS = ("models/model.json", "data/weights/model_weights_config.json",
                "data/constants/model_constants_config.json")
RENAMES = ["../escaped", "data/aotinductor/model/model.so", "data/constants/custom_obj_0", "data/weights/weight_9",
           "models/other.json", "extra/notes.txt", "data/sample_inputs/model.pt", "archive_version"]


class Tagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.conv = nn.Conv1d(8, 8, 3, padding=1)

    def forward(self, ids: torch.Tensor, *, mask: torch.Tensor) -> torch.Tensor:
        return self.conv((self.embed(ids) * mask.unsqueeze(-1)).transpose(1, 2))


def _archives() -> dict[str, tuple[dict[str, bytes], str]]:
    """Member bytes (by name under the root folder) and the root of each seed archive."""
    torch.manual_seed(0)
    programs = {
        "cnn": torch.export.export(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval(),
                                   (torch.randn(1, 3, 8, 8),)),
        "encoder": torch.export.export(Encoder(width=8, hidden=16, tokens=4).eval(), (torch.randn(1, 4, 8),)),
        "kwargs": torch.export.export(Tagger().eval(), (torch.randint(0, 20, (1, 6)),),
                                      {"mask": torch.ones(1, 6)}),
        "dynamic": torch.export.export(Pairs().eval(), (torch.randn(4, 3, 8, 8),),
                                       dynamic_shapes=({0: 2 * torch.export.Dim("pairs", min=2, max=16)},)),
    }
    seeds = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, program in programs.items():
            path = Path(folder) / f"{name}.pt2"
            torch.export.save(program, path)
            with zipfile.ZipFile(path) as archive:
                root = archive.namelist()[0].split("/")[0]
                seeds[name] = ({n.split("/", 1)[1]: archive.read(n) for n in archive.namelist()}, root)
    return seeds


SEEDS = _archives()


def _document(members: dict[str, bytes], member: str) -> Any:
    try:
        return json.loads(members[member])
    except (KeyError, ValueError):
        return None


@st.composite
def mutated_archives(draw: st.DrawFn) -> tuple[str, bytes, str, bool]:
    """(seed name, the archive's bytes, the device to profile on, whether the profile must be the seed's)."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    members, root = SEEDS[name]
    members = dict(members)
    device, harmful = "meta", False
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["json", "json", "json", "json", "member", "bytes", "harmless"]))
        harmful = harmful or kind != "harmless"
        if kind == "json":
            member = draw(st.sampled_from(JSON_MEMBERS))
            device = "cpu" if member != "models/model.json" else device
            document = _document(members, member)
            if document is None:  # an earlier mutation broke it
                continue
            paths = value_paths(document)
            path = paths[draw(st.integers(0, len(paths) - 1))]
            if not path:
                continue
            parent = document
            for step in path[:-1]:
                parent = parent[step]
            action = draw(st.sampled_from(["replace", "replace", "delete", "grow"]))
            if action == "replace":
                parent[path[-1]] = draw(values)
            elif action == "delete":
                del parent[path[-1]]
            elif isinstance(parent[path[-1]], int) and not isinstance(parent[path[-1]], bool):
                parent[path[-1]] = parent[path[-1]] * 10 ** draw(st.integers(1, 20))
            members[member] = json.dumps(document).encode()
            event(f"json {member.split('/')[-1]} {action}")
        elif kind == "member":
            member = draw(st.sampled_from(sorted(members)))
            action = draw(st.sampled_from(["remove", "rename", "truncate", "random"]))
            data = members.pop(member)
            if action == "rename":
                members[draw(st.sampled_from(RENAMES))] = data
            elif action == "truncate":
                members[member] = data[: draw(st.integers(0, max(0, len(data) - 1)))]
            elif action == "random":
                members[member] = draw(st.binary(max_size=64))
            device = draw(st.sampled_from(["meta", "cpu"]))
            event(f"member {action}")
        elif kind == "bytes":  # a weight's or the sample inputs' bytes flipped: read on cpu
            member = draw(st.sampled_from([m for m in members if m.startswith(("data/weights/weight_", "data/sample"))]))
            data = bytearray(members[member])
            if data:
                data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
            members[member] = bytes(data)
            device = "cpu"
            event("bytes flipped")
        else:
            document = _document(members, "models/model.json")
            try:
                nodes = document["graph_module"]["graph"]["nodes"]  # type: ignore[index]
                for node in nodes:
                    node["metadata"]["stack_trace"] = draw(st.sampled_from(HOSTILE))
            except (TypeError, KeyError, IndexError):
                continue  # an earlier mutation broke it
            members["models/model.json"] = json.dumps(document).encode()
            members["extra/notes.txt"] = draw(st.sampled_from(HOSTILE)).encode()
            event("harmless")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, data in members.items():
            archive.writestr(member if member.startswith("../") else f"{root}/{member}", data)
    return name, buffer.getvalue(), device, not harmful


def _profile(path: Path, device: str) -> tuple[int, str, str]:
    out, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(errors):
        status = main(["profile", str(path), "--device", device, "--json", "--count", "all"])
    return status, out.getvalue(), errors.getvalue()


@pytest.fixture(scope="module")
def seed_profiles() -> dict[str, dict[str, Any]]:
    found = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, (members, root) in SEEDS.items():
            path = Path(folder) / f"{name}.pt2"
            with zipfile.ZipFile(path, "w") as archive:
                for member, data in members.items():
                    archive.writestr(f"{root}/{member}", data)
            status, out, errors = _profile(path, "meta")
            assert status == 0, errors
            found[name] = json.loads(out)
    return found


@settings(max_examples=FUZZ_CASES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(case=mutated_archives())
def test_a_mutated_pt2_ends_in_one_line_or_a_profile(seed_profiles: dict[str, dict[str, Any]],
                                                     case: tuple[str, bytes, str, bool]) -> None:
    name, raw, device, harmless = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.pt2"
        path.write_bytes(raw)
        status, out, errors = _profile(path, device)
        assert sorted(os.listdir(folder)) == [path.name], "the profile wrote beside the archive"
    assert not MARKER.exists(), "a hostile string ran"
    if status == 2:
        assert errors.count("\n") == 1 and errors.startswith(PROG) and not out, errors
        event("refused: " + re.sub(r"'[^']*'|\d[\d,.e+]*", "…", errors.split(": ")[-1])[:40])
    else:
        assert status == 0 and not errors, errors
        cost = json.loads(out)
        assert isinstance(cost["params"], int) and cost["params"] >= 0
        event("profiled")
    if harmless:
        assert status == 0 and json.loads(out) == seed_profiles[name], errors


def test_the_mutations_are_not_all_refused_and_not_all_accepted() -> None:
    """The fuzzer reaches both ends: the seeds profile, and one hostile string is refused in one line."""
    members, root = SEEDS["cnn"]
    with tempfile.TemporaryDirectory() as folder:
        good, bad = Path(folder) / "good.pt2", Path(folder) / "bad.pt2"
        document = json.loads(members["models/model.json"])
        document["guards_code"] = [HOSTILE[0]]
        for path, changed in ((good, {}), (bad, {"models/model.json": json.dumps(document).encode()})):
            with zipfile.ZipFile(path, "w") as archive:
                for member, data in {**members, **changed}.items():
                    archive.writestr(f"{root}/{member}", data)
        assert _profile(good, "meta")[0] == 0
        status, _, errors = _profile(bad, "meta")
    assert status == 2 and "guards_code" in errors and "is no guard" in errors
    assert not MARKER.exists()
