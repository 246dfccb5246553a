"""Files from strangers: a ``.pt2`` is data, a ``.pt`` is a program.

A corpus of crafted files, built here from a real ``torch.export.save`` archive, each
carrying one payload that torch's own loader would run or unpack: pickled weights and
constants (``use_pickle``), sample inputs whose pickle calls ``open``, custom and opaque
objects, AOTInductor's native library, member names that climb out (``../x``, ``/x``),
a member declaring a size past the limit and one inflating past the size it declares, a
directory listing a hundred thousand members, a bzip2 member (zipfile would inflate it whole),
sample inputs whose zip shows Python's zipfile one directory and torch's reader another,
inputs that hold one list in 2**45 places, a node named ``self`` and a parameter named
``__class__.forward``, a ComplexHalf dtype, one record viewed as two dtypes,
and the graph's own strings that torch turns into code (a shape expression and a guard
evaluated as Python, a name written into the source FX exec-s, a tree spec that imports a
module named in it; and an op target outside torch's registered ops, which torch resolves by
attribute). Each is profiled as a user runs it, in a fresh interpreter, from a
working folder of its own: the payload's marker file is never created, nothing appears
outside that folder, the peak memory stays near a plain profile's, and the one line on
stderr names the member, with exit status 2. TorchScript files that write at load, write
in their forward and loop forever are refused without ``--trust-code``; with it,
``--timeout`` ends a loop stuck in C++ and one in Python, and its child ends with its parent
(SIGTERM, SIGKILL) and never imports a module from the working folder. Zips that two readers
would read differently are refused in-process, by the check itself.
"""

from __future__ import annotations

import bz2
import io
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
import warnings
import zipfile
import tempfile
import zlib
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from torch import nn

from pytest_convbudget.engine.pt2_archive import STORED, zip_layout
from pytest_convbudget.words.errors import SpecError

PROG = "python -m pytest_convbudget: error: "
# Runs the CLI as its child and writes the child's peak RSS (KiB on Linux) where PEAK_FILE says.
MEASURED = (
    "import os, resource, subprocess, sys\n"
    "done = subprocess.run([sys.executable, '-m', 'pytest_convbudget', *sys.argv[1:]])\n"
    "open(os.environ['PEAK_FILE'], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(done.returncode)\n"
)
BOMB_BYTES = 96 * 2**20  # inflated from about 100 kB: past the 64 MiB default limit


class Payload:
    """Pickled, it calls ``open(path, "w")``: the marker file appears if anything unpickles it."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.register_buffer("shift", torch.ones(4))
        self.scale = torch.tensor([2.0])  # a constant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.scale + self.shift.view(1, -1, 1, 1)


def pickled(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("original") / "model.pt2"
    torch.manual_seed(0)
    torch.export.save(torch.export.export(Small().eval(), (torch.randn(1, 3, 8, 8),)), path)
    return path


def rewritten(original: Path, target: Path, change: Callable[[dict[str, bytes]], dict[str, bytes]]) -> Path:
    """A copy of the archive with its members (names under the root folder) changed, same order."""
    with zipfile.ZipFile(original) as source:
        root = source.namelist()[0].split("/")[0]
        members = {name.split("/", 1)[1]: source.read(name) for name in source.namelist()}
    with zipfile.ZipFile(target, "w") as out:
        for name, data in change(members).items():
            out.writestr(name if name.startswith(("/", "../")) else f"{root}/{name}", data)
    return target


def config_entry(members: dict[str, bytes], config: str, name: str, **fields: Any) -> None:
    document = json.loads(members[config])
    document["config"][name].update(fields)
    members[config] = json.dumps(document).encode()


def program(members: dict[str, bytes], edit: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(members["models/model.json"])
    edit(document)
    members["models/model.json"] = json.dumps(document).encode()


WEIGHTS = "data/weights/model_weights_config.json"
CONSTANTS = "data/constants/model_constants_config.json"


def _use_pickle_weight(members: dict[str, bytes], marker: Path) -> None:
    members["data/weights/weight_0"] = pickled(Payload(marker))
    config_entry(members, WEIGHTS, "conv.weight", use_pickle=True)


def _reduce_in_sample_inputs(members: dict[str, bytes], marker: Path) -> None:
    members["data/sample_inputs/model.pt"] = pickled(((Payload(marker),), {}))


def _pickled_constant(members: dict[str, bytes], marker: Path) -> None:
    members["data/constants/tensor_0"] = pickled(Payload(marker))
    config_entry(members, CONSTANTS, "scale", use_pickle=True)


def _custom_object(members: dict[str, bytes], marker: Path) -> None:
    members["data/constants/custom_obj_0"] = pickled(Payload(marker))
    document = json.loads(members[CONSTANTS])
    document["config"]["obj"] = {"path_name": "custom_obj_0", "is_param": False, "use_pickle": True,
                                 "tensor_meta": None}
    members[CONSTANTS] = json.dumps(document).encode()


def _opaque_object(members: dict[str, bytes], marker: Path) -> None:
    members["data/constants/opaque_obj_0"] = pickle.dumps(Payload(marker))


def _aoti_library(members: dict[str, bytes], marker: Path) -> None:
    members["data/aotinductor/model/model.so"] = b"\x7fELF" + bytes(64)
    members["data/aotinductor/model/model.wrapper.cpp"] = f"// writes {marker}".encode()


def _library_anywhere(members: dict[str, bytes], marker: Path) -> None:
    members["extra/helper.so"] = b"\x7fELF" + bytes(64)


def _climbs_out(members: dict[str, bytes], marker: Path) -> None:
    members["../escaped.txt"] = b"outside"


def _absolute_name(members: dict[str, bytes], marker: Path) -> None:
    members[f"/{marker.parent.name}/absolute.txt"] = b"outside"


def _op_outside_torch(members: dict[str, bytes], marker: Path) -> None:
    """torch resolves a target ``torch.X.Y`` attribute by attribute, whatever it reaches."""
    def edit(document: dict[str, Any]) -> None:
        nodes = document["graph_module"]["graph"]["nodes"]
        nodes.insert(0, {"target": "torch.serialization.builtins.open",
                         "inputs": [{"name": "", "arg": {"as_string": str(marker)}, "kind": 1},
                                    {"name": "", "arg": {"as_string": "w"}, "kind": 1}],
                         "outputs": [], "metadata": {}, "name": "opened"})
    program(members, edit)


def _expression_evaluated(members: dict[str, bytes], marker: Path) -> None:
    """sympy.sympify evaluates the shape expressions of a graph's sizes as Python."""
    def edit(document: dict[str, Any]) -> None:
        values = document["graph_module"]["graph"]["tensor_values"]
        meta = next(iter(values.values()))
        meta["sizes"][0] = {"as_expr": {"expr_str": f"__import__('builtins').open('{marker}', 'w') and 1",
                                        "hint": {"as_int": 1}}}
    program(members, edit)


def _guard_executed(members: dict[str, bytes], marker: Path) -> None:
    """``.module()`` exec-s the guards code into a function the forward calls."""
    def edit(document: dict[str, Any]) -> None:
        document["guards_code"] = [f"__import__('builtins').open('{marker}', 'w') is not None"]
    program(members, edit)


def _tree_spec_imports(members: dict[str, bytes], marker: Path) -> None:
    """A defaultdict's tree spec names a module torch imports (here one that runs code on import)."""
    (marker.parent / "side_effect.py").write_text(f"open({str(marker)!r}, 'w')\n")
    spec = {"type": "collections.defaultdict", "context": {
        "default_factory_module": "side_effect", "default_factory_name": "x", "dict_context": ["out"]},
        "children_spec": [{"type": None, "context": None, "children_spec": []}]}

    def edit(document: dict[str, Any]) -> None:
        signature = document["graph_module"]["module_call_graph"][0]["signature"]
        signature["out_spec"] = json.dumps([1, spec])
    program(members, edit)


def _placeholder_name_injected(members: dict[str, bytes], marker: Path) -> None:
    """FX writes a graph's names into the Python source it exec-s."""
    def edit(document: dict[str, Any]) -> None:
        text = json.dumps(document)
        document.clear()
        document.update(json.loads(text.replace('"x"', json.dumps(f"x=open({str(marker)!r},'w')"))))
    program(members, edit)


def _legacy_pickled_weights(members: dict[str, bytes], marker: Path) -> None:
    members["data/weights/model.pt"] = pickled({"conv.weight": Payload(marker)})


def _unknown_member(members: dict[str, bytes], marker: Path) -> None:
    members["data/plugins/loader.py"] = f"open({str(marker)!r}, 'w')".encode()


def _unknown_version(members: dict[str, bytes], marker: Path) -> None:
    members["archive_version"] = b"7"


def _declares_past_limit(members: dict[str, bytes], marker: Path) -> None:
    members["data/weights/weight_0"] = bytes(BOMB_BYTES)  # deflated below: about 100 kB on disk


def _millions_of_members(members: dict[str, bytes], marker: Path) -> None:
    """A small file whose directory lists more members than any saved program: zipfile would
    build an object for each."""
    members.update({f"extra/{index}": b"" for index in range(100_001)})


def _bzip2_bomb(members: dict[str, bytes], marker: Path) -> None:
    """Written by :func:`_bzip2_archive_format` below: zipfile inflates a bzip2 chunk whole, past any size."""


def _polyglot_sample_inputs(members: dict[str, bytes], marker: Path) -> None:
    members["data/sample_inputs/model.pt"] = polyglot_inputs(BOMB_BYTES // 4)


def _shared_sample_inputs(members: dict[str, bytes], marker: Path) -> None:
    """Forty-five lines of pickle memo: a list of two references to the list before, 2**45 leaves."""
    nested: Any = torch.randn(1, 3, 8, 8)
    for _ in range(45):
        nested = [nested, nested]
    members["data/sample_inputs/model.pt"] = pickled(((nested,), {}))


def _node_named_self(members: dict[str, bytes], marker: Path) -> None:
    """FX writes a node's name as a variable of ``forward(self, ...)``: ``self`` would shadow the module."""
    def edit(document: dict[str, Any]) -> None:
        text = json.dumps(document)
        document.clear()
        document.update(json.loads(text.replace('"conv2d"', '"self"')))
    program(members, edit)


def _dunder_parameter_name(members: dict[str, bytes], marker: Path) -> None:
    """A parameter named ``__class__.forward``: torch would walk the module's Python attributes to place it."""
    def edit(document: dict[str, Any]) -> None:
        for spec in document["graph_module"]["signature"]["input_specs"]:
            if spec.get("parameter", {}).get("parameter_name") == "conv.bias":
                spec["parameter"]["parameter_name"] = "__class__.forward"
    program(members, edit)
    document = json.loads(members[WEIGHTS])
    document["config"]["__class__.forward"] = document["config"].pop("conv.bias")
    members[WEIGHTS] = json.dumps(document).encode()


def _complex_half_weight(members: dict[str, bytes], marker: Path) -> None:
    document = json.loads(members[WEIGHTS])
    document["config"]["conv.bias"]["tensor_meta"]["dtype"] = 9  # ComplexHalf: torch warns that it is experimental
    members[WEIGHTS] = json.dumps(document).encode()


def _complex_half_in_graph(members: dict[str, bytes], marker: Path) -> None:
    def edit(document: dict[str, Any]) -> None:
        next(iter(document["graph_module"]["graph"]["tensor_values"].values()))["dtype"] = 9
    program(members, edit)


def _one_record_two_dtypes(members: dict[str, bytes], marker: Path) -> None:
    document = json.loads(members[WEIGHTS])
    entries = document["config"]
    entries["conv.bias"]["path_name"] = entries["conv.weight"]["path_name"]
    entries["conv.bias"]["tensor_meta"]["dtype"] = 1  # uint8 over the float32 record
    members[WEIGHTS] = json.dumps(document).encode()


def _vast_view(members: dict[str, bytes], marker: Path) -> None:
    """Sixteen sizes of 2**47 over a stride of 0: a count of elements 227 digits long."""
    document = json.loads(members[WEIGHTS])
    meta = document["config"]["conv.bias"]["tensor_meta"]
    meta["sizes"], meta["strides"] = [{"as_int": 2**47}] * 16, [{"as_int": 0}] * 16
    members[WEIGHTS] = json.dumps(document).encode()


# (payload, the member the one line names, why, device)
CORPUS = [
    (_use_pickle_weight, "data/weights/model_weights_config.json", "says use_pickle", "meta"),
    (_reduce_in_sample_inputs, "data/sample_inputs/model.pt", "the weights_only unpickler refused it", "meta"),
    (_reduce_in_sample_inputs, "data/sample_inputs/model.pt", "the weights_only unpickler refused it", "cpu"),
    (_pickled_constant, "data/constants/model_constants_config.json", "says use_pickle", "cpu"),
    (_custom_object, "data/constants/custom_obj_0", "a custom object (torchbind)", "meta"),
    (_opaque_object, "data/constants/opaque_obj_0", "pickle.loads", "meta"),
    (_aoti_library, "data/aotinductor/model/", "AOTInductor compiled code", "meta"),
    (_library_anywhere, "extra/helper.so", "native code", "meta"),
    (_climbs_out, "../escaped.txt", "names a path outside the archive", "meta"),
    (_absolute_name, "/", "names a path outside the archive", "meta"),
    (_op_outside_torch, "models/model.json", "is no operator of torch", "meta"),
    (_expression_evaluated, "models/model.json", "is no shape expression", "meta"),
    (_guard_executed, "models/model.json", "is no guard", "meta"),
    (_tree_spec_imports, "models/model.json", "only torch's own containers are read", "meta"),
    (_placeholder_name_injected, "models/model.json", "is no name", "meta"),
    (_legacy_pickled_weights, "data/weights/model.pt", "legacy pickled format", "meta"),
    (_unknown_member, "data/plugins/loader.py", "no part of the .pt2 format this reader knows", "meta"),
    (_unknown_version, "archive version '7' is unknown here", "", "meta"),
    (_declares_past_limit, "data/weights/weight_0", "unpacks past the 64 MiB limit for model files", "meta"),
    (_millions_of_members, "the archive declares 100,0", "members (a saved program has a few per weight", "meta"),
    (_bzip2_bomb, "archive_format", "is compressed with bzip2: only stored or deflated members are read", "meta"),
    (_polyglot_sample_inputs, "data/sample_inputs/model.pt", "its central directory is not at the offset its end "
     "record states", "meta"),
    (_shared_sample_inputs, "data/sample_inputs/model.pt", "holds one list in two places", "meta"),
    (_node_named_self, "models/model.json", "'self' is a word Python reserves", "meta"),
    (_dunder_parameter_name, "models/model.json", "'__class__.forward' is a word Python reserves", "meta"),
    (_complex_half_weight, "data/weights/model_weights_config.json", "dtype '9' is not one this reader knows", "meta"),
    (_complex_half_in_graph, "models/model.json", "dtype '9' is not one this reader knows", "meta"),
    (_one_record_two_dtypes, "data/weights/model_weights_config.json", "as torch.uint8", "cpu"),
    (_vast_view, "data/weights/model_weights_config.json", "(227 digits) elements", "meta"),
]


def run_measured(cwd: Path, *args: str, timeout: float = 240) -> tuple[subprocess.CompletedProcess[str], int]:
    """The CLI as a user runs it, and its peak resident memory in bytes."""
    with tempfile.TemporaryDirectory() as folder:  # outside the folder the test watches
        peak_file = Path(folder) / "peak"
        env = {**os.environ, "PEAK_FILE": str(peak_file)}
        done = subprocess.run([sys.executable, "-c", MEASURED, *args], cwd=cwd, capture_output=True, text=True,
                              check=False, env=env, timeout=timeout)
        return done, int(peak_file.read_text()) * 1024


@pytest.fixture(scope="module")
def plain_peak(original: Path, tmp_path_factory: pytest.TempPathFactory) -> int:
    """The peak memory of profiling the untouched archive on cpu: what a refused file may use."""
    folder = tmp_path_factory.mktemp("plain")
    done, peak = run_measured(folder, "profile", str(original), "--device", "cpu")
    assert done.returncode == 0, done.stderr
    return peak


def everything_under(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.mark.parametrize(("payload", "member", "why", "device"), CORPUS,
                         ids=[f"{case[0].__name__.strip('_')}-{case[3]}" for case in CORPUS])
def test_a_crafted_pt2_runs_nothing_and_is_refused_in_one_line(
    original: Path, tmp_path: Path, plain_peak: int, payload: Any, member: str, why: str, device: str,
) -> None:
    sandbox = tmp_path / "sandbox"  # the archive, the marker and the working folder: all in here
    work = sandbox / "work"
    work.mkdir(parents=True)
    marker = sandbox / "marker"
    crafted = sandbox / "model.pt2"

    def change(members: dict[str, bytes]) -> dict[str, bytes]:
        payload(members, marker)
        return members

    rewritten(original, crafted, change)
    if payload in REWRITE_FILE:
        REWRITE_FILE[payload](crafted)
    before = everything_under(tmp_path)
    done, peak = run_measured(work, "profile", str(crafted), "--device", device)

    assert not marker.exists(), "the payload ran"
    assert everything_under(tmp_path) == before, "something was written"
    assert done.returncode == 2, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(PROG + str(crafted)), done.stderr
    assert member in lines[0] and why in lines[0], lines[0]
    assert len(lines[0]) < 400, "a refusal line stays short"
    assert peak < plain_peak + 64 * 2**20, f"peak {peak:,} bytes against {plain_peak:,} for a plain profile"


def _deflate(path: Path) -> None:
    """The same archive with its members deflated: the bomb is small on disk, huge unpacked."""
    with zipfile.ZipFile(path) as source:
        members = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for name, data in members:
            out.writestr(name, data)


def raw_zip(records: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip written byte by byte: (name, bytes as stored, method, declared size, CRC) per member."""
    out, directory = bytearray(), bytearray()
    for name, data, method, size, crc in records:
        encoded, offset = name.encode(), len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size, len(encoded), 0)
        out += encoded + data
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data), size,
                                 len(encoded), 0, 0, 0, 0, 0, offset) + encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(records), len(records), len(directory), len(out), 0)
    return bytes(out + directory + end)


def _bzip2_archive_format(path: Path) -> None:
    """archive_format as a bzip2 member declaring its 3 bytes whose stream holds 96 MiB more (about 100 bytes)."""
    with zipfile.ZipFile(path) as source:
        records = []
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/archive_format"):
                records.append((info.filename, bz2.compress(data + bytes(BOMB_BYTES), 9), 12, len(data),
                                zlib.crc32(data)))
            else:
                records.append((info.filename, data, 0, len(data), zlib.crc32(data)))
    path.write_bytes(raw_zip(records))


def polyglot_inputs(floats: int) -> bytes:
    """A torch.save zip with two central directories: the one its end record's position leads to
    (Python's zipfile) lists empty stored records; the one at the offset the record states (torch's
    reader) lists a deflated storage of ``floats`` zeros, its pickle patched to that size."""
    saved = pickled(((torch.zeros(1024),), {}))
    with zipfile.ZipFile(io.BytesIO(saved)) as source:
        records = [(info.filename, source.read(info)) for info in source.infolist()]
    out, torch_view, python_view = bytearray(), bytearray(), bytearray()
    for name, data in records:
        encoded = name.encode()
        method, size = 0, len(data)
        if name.endswith("data.pkl"):
            data = data.replace(b"J" + struct.pack("<i", 1024), b"J" + struct.pack("<i", floats))
            size = len(data)
        if name.endswith("data/0"):
            size, method = floats * 4, 8
            deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
            data = deflater.compress(bytes(size)) + deflater.flush()
        crc = zlib.crc32(bytes(size)) if method else zlib.crc32(data)
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size, len(encoded), 0)
        out += encoded + data
        torch_view += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data), size,
                                  len(encoded), 0, 0, 0, 0, 0, offset) + encoded
        python_view += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, 0, 0, 0, len(encoded), 0, 0,
                                   0, 0, 0, 0) + encoded
    stated = len(out)
    out += torch_view + python_view
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(records), len(records), len(python_view), stated, 0)
    return bytes(out)


REWRITE_FILE: dict[Callable[..., None], Callable[[Path], None]] = {
    _declares_past_limit: _deflate, _bzip2_bomb: _bzip2_archive_format,
}


def _torch_saved() -> bytes:
    return pickled(((torch.zeros(3), torch.ones(2)), {}))


def _zipfile_written() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr("archive/data.pkl", b"pickle")
        out.writestr("archive/data/0", bytes(12))
    return buffer.getvalue()


def _replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) >= 1
    return data.replace(old, new, 1)


def _second_directory(data: bytes) -> bytes:
    """Another directory, zeroed sizes, right before the end record; the stated offset still leads to the first."""
    end = data.rindex(b"PK\x05\x06")
    size = int.from_bytes(data[end + 12:end + 16], "little")
    start = int.from_bytes(data[end + 16:end + 20], "little")
    return data[:end] + data[start:start + size] + data[end:]


def _gap_between_records(data: bytes) -> bytes:
    """Eight bytes after the first record; every later offset moved to match, so zipfile reads it happily."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        first = archive.infolist()[0]
        end = first.header_offset + 30 + len(first.filename) + len(first.extra) + first.compress_size
    moved = bytearray(data[:end] + bytes(8) + data[end:])
    at = moved.index(b"PK\x01\x02")
    while at >= 0:
        offset = int.from_bytes(moved[at + 42:at + 46], "little")
        if offset >= end:
            moved[at + 42:at + 46] = (offset + 8).to_bytes(4, "little")
        at = moved.find(b"PK\x01\x02", at + 4)
    last = moved.rindex(b"PK\x05\x06")
    moved[last + 16:last + 20] = (int.from_bytes(moved[last + 16:last + 20], "little") + 8).to_bytes(4, "little")
    return bytes(moved)


# (a zip torch or zipfile wrote, a change, what the refusal says): each a way two readers could differ.
ZIP_TRAPS = [
    (_zipfile_written, _second_directory, "its central directory is not at the offset its end record states"),
    (_torch_saved, _second_directory, "its central directory is not at the offset its end record states"),
    (_zipfile_written, lambda data: data + b"tail", "not a zip file that ends with its end record"),
    (_zipfile_written, lambda data: b"head" + data, "its central directory is not at the offset"),
    (_zipfile_written, _gap_between_records, "does not start where the member before it ends"),
    (_zipfile_written, lambda data: _replace_once(data, b"archive/data.pkl", b"archive/data.pkX"),
     "its local header and the central directory disagree (name, method or flags)"),
    (_zipfile_written, lambda data: _replace_once(data, b"PK\x03\x04\x14\x00\x00\x00\x00\x00",
                                                  b"PK\x03\x04\x14\x00\x00\x00\x08\x00"),
     "its local header and the central directory disagree (name, method or flags)"),
    (_torch_saved, lambda data: _replace_once(data, b"PK\x07\x08", b"PK\x07\x09"), "its data descriptor is missing"),
    (_zipfile_written, lambda data: data[:-2] + b"\x01\x00", "not a zip file that ends with its end record"),
]


@pytest.mark.parametrize(("written", "change", "why"), ZIP_TRAPS, ids=[f"{case[0].__name__.strip('_')}-{index}"
                                                                       for index, case in enumerate(ZIP_TRAPS)])
def test_a_zip_two_readers_would_read_differently_is_refused(written: Callable[[], bytes], change: Any,
                                                              why: str) -> None:
    data = written()
    assert set(zip_layout(io.BytesIO(data), len(data), "inner", (STORED,))) == set(zipfile.ZipFile(
        io.BytesIO(data)).namelist()), "the zip as written is read"
    crafted = change(data)
    with pytest.raises(SpecError) as refused:
        zip_layout(io.BytesIO(crafted), len(crafted), "inner", (STORED,))
    assert str(refused.value).startswith("inner: ") and why in str(refused.value), str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_archives_torch_writes_have_one_reading(original: Path) -> None:
    """torch.export.save's archive and the torch.save zip inside it (data descriptors, zip64 end records,
    padded local headers) pass the check that refuses the traps above."""
    with original.open("rb") as stream:
        members = zip_layout(stream, original.stat().st_size, "outer", (STORED,))
    inner = next(name for name in members if name.endswith("data/sample_inputs/model.pt"))
    with zipfile.ZipFile(original) as archive:
        data = archive.read(inner)
    assert zip_layout(io.BytesIO(data), len(data), "inner", (STORED,))


def test_a_member_that_inflates_past_its_header_is_refused_without_unpacking_it(
    original: Path, tmp_path: Path, plain_peak: int,
) -> None:
    """The header declares the weight's 432 bytes; the deflated stream holds 96 MiB. On cpu the
    weight is read, and inflating stops one byte past the declared size."""
    crafted = tmp_path / "model.pt2"
    with zipfile.ZipFile(original) as source:
        root = source.namelist()[0].split("/")[0]
        declared = source.getinfo(f"{root}/data/weights/weight_0").file_size
    rewritten(original, crafted, lambda members: {**members, "data/weights/weight_0": bytes(BOMB_BYTES)})
    _deflate(crafted)
    _patch_declared_size(crafted, f"{root}/data/weights/weight_0", declared)
    assert crafted.stat().st_size < 2**20
    started = time.perf_counter()
    done, peak = run_measured(tmp_path, "profile", str(crafted), "--device", "cpu")
    assert time.perf_counter() - started < 120
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"{PROG}{crafted}: member '{root}/data/weights/weight_0': inflates past the {declared:,} bytes its header "
        "declares: refused"]
    assert peak < plain_peak + 64 * 2**20


def _patch_declared_size(path: Path, name: str, size: int) -> None:
    """Write ``size`` as the member's uncompressed size in its local header and the central directory."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    local = data.index(b"PK\x03\x04")
    while data[local + 30: local + 30 + len(encoded)] != encoded:
        local = data.index(b"PK\x03\x04", local + 4)
    data[local + 22: local + 26] = size.to_bytes(4, "little")
    central = data.index(b"PK\x01\x02")
    while data[central + 46: central + 46 + len(encoded)] != encoded:
        central = data.index(b"PK\x01\x02", central + 4)
    data[central + 24: central + 28] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def test_on_meta_no_weight_byte_is_read(original: Path, tmp_path: Path) -> None:
    """A weight whose bytes are garbage (a bad CRC) profiles on meta: nothing reads them."""
    crafted = tmp_path / "model.pt2"
    with zipfile.ZipFile(original) as source:
        root = source.namelist()[0].split("/")[0]
    rewritten(original, crafted, lambda members: members)
    data = bytearray(crafted.read_bytes())
    with zipfile.ZipFile(crafted) as archive:
        info = archive.getinfo(f"{root}/data/weights/weight_0")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start: start + info.file_size] = bytes(info.file_size)  # zeros: the CRC no longer matches
    crafted.write_bytes(bytes(data))
    on_meta = subprocess.run([sys.executable, "-m", "pytest_convbudget", "profile", str(crafted), "--device", "meta",
                              "--json"], capture_output=True, text=True, check=False)
    assert on_meta.returncode == 0, on_meta.stderr
    assert json.loads(on_meta.stdout)["params"] == 4 * 3 * 3 * 3 + 4
    on_cpu = subprocess.run([sys.executable, "-m", "pytest_convbudget", "profile", str(crafted), "--device", "cpu"],
                            capture_output=True, text=True, check=False)
    assert on_cpu.returncode == 2
    assert "Bad CRC-32" in on_cpu.stderr and len(on_cpu.stderr.strip().splitlines()) == 1


# TorchScript: programs. Scripted here; each writes the marker (torch.save) or loops.
class WritesAtLoad(nn.Module):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool]:
        return (self.path, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]) -> None:
        self.path = state[0]
        self.training = state[1]
        torch.save(torch.zeros(1), self.path)


class WritesInForward(nn.Module):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.save(torch.zeros(1), self.path)
        return x + 1


class LoopsInForward(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        count = 0
        while count >= 0:
            count += 1
        return x


class LoopsAtLoad(WritesAtLoad):
    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]) -> None:
        self.path = state[0]
        count = 0
        while count >= 0:
            count += 1


def scripted(module: nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(module), path)
    return path


def profile_command(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_convbudget", "profile", *args],
                          capture_output=True, text=True, check=False, timeout=timeout)


@pytest.mark.parametrize("program", [WritesAtLoad, WritesInForward, LoopsInForward, LoopsAtLoad])
def test_a_torchscript_file_is_refused_without_trust(tmp_path: Path, program: type[nn.Module]) -> None:
    marker = tmp_path / "marker"
    saved = scripted(program(str(marker)) if program is not LoopsInForward else program(), tmp_path / "model.pt")
    done = profile_command(str(saved), "--input", "1x4")
    assert not marker.exists()
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"{PROG}{saved} is a TorchScript program: loading and profiling it runs the code it holds (its __setstate__ "
        "and forward); pass --trust-code if you trust its origin, or profile a .pt2 (torch.export.save), which is "
        "read as data"]


def test_trusted_torchscript_runs_its_code_as_documented(tmp_path: Path) -> None:
    """--trust-code means what it says: the file's code runs (here it writes its marker)."""
    marker = tmp_path / "marker"
    saved = scripted(WritesInForward(str(marker)), tmp_path / "model.pt")
    done = profile_command(str(saved), "--input", "1x4", "--trust-code", "--count", "all")
    assert done.returncode == 0, done.stderr
    assert marker.exists()


@pytest.mark.parametrize("program", [LoopsInForward, LoopsAtLoad])
def test_timeout_ends_a_torchscript_loop_stuck_in_cpp(tmp_path: Path, program: type[nn.Module]) -> None:
    saved = scripted(program(str(tmp_path / "unused")) if program is LoopsAtLoad else program(), tmp_path / "model.pt")
    started = time.perf_counter()
    done = profile_command(str(saved), "--input", "1x4", "--trust-code", "--timeout", "8")
    assert time.perf_counter() - started < 60
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"{PROG}{saved}: the profile did not finish within 8 s (loading and running its forward): ended; "
        "raise --timeout if it is only slow"]


SPINS = (
    "import os, torch\n"
    "class Spin(torch.nn.Module):\n"
    "    def forward(self, x):\n"
    "        open(os.path.join(os.path.dirname(__file__), 'pid'), 'w').write(str(os.getpid()))\n"
    "        while True:\n"
    "            pass\n"
    "def spin():\n"
    "    return Spin()\n"
)


def test_timeout_ends_a_python_loop_and_its_process(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(SPINS)
    spec = f"{tmp_path / 'models.py'}:spin"
    done = profile_command(spec, "--input", "1x4", "--timeout", "8", "--device", "cpu")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"{PROG}{spec}: the profile did not finish within 8 s (loading and running its forward): ended; "
        "raise --timeout if it is only slow"]
    pid = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the spinning process is gone, not orphaned




def gone(pid: int) -> bool:
    """No such process, or only its exit status left for init to collect (a zombie runs nothing)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("ending", ["SIGTERM", "SIGKILL"])
def test_the_timeout_child_ends_with_its_parent(tmp_path: Path, ending: str) -> None:
    """SIGTERM: the parent ends the child's group, then itself by the signal. SIGKILL: no handler runs in
    the parent; the child ends itself (it asked Linux to kill it when its parent dies)."""
    (tmp_path / "models.py").write_text(SPINS)
    parent = subprocess.Popen([sys.executable, "-m", "pytest_convbudget", "profile", f"{tmp_path / 'models.py'}:spin",
                               "--input", "1x4", "--device", "cpu", "--timeout", "300"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pid_file = tmp_path / "pid"
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())
    os.kill(parent.pid, getattr(signal, ending))
    parent.communicate(timeout=30)
    assert parent.returncode == -getattr(signal, ending)
    deadline = time.monotonic() + 10
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(child), f"the profile's process {child} outlived its parent"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="python -P (no working folder on sys.path) is 3.11's")
def test_the_timeout_child_ignores_the_working_folder_and_keeps_the_users_arguments(
    original: Path, tmp_path: Path,
) -> None:
    """A checkout holding ``zipfile.py``: the parent runs with ``-P`` as the docs say, and so does the
    child; options after ``--`` stay the user's (the child's own setting goes before them)."""
    marker = tmp_path / "marker"
    (tmp_path / "zipfile.py").write_text(f"open({str(marker)!r}, 'w')\n")
    plain = profile_command(str(original), "--json")
    timed = subprocess.run([sys.executable, "-P", "-m", "pytest_convbudget", "profile", "--json", "--timeout", "120",
                            "--", str(original)], cwd=tmp_path, capture_output=True, text=True, check=False,
                           timeout=120)
    assert not marker.exists(), "a zipfile.py in the working folder ran"
    assert plain.returncode == timed.returncode == 0, timed.stderr
    assert json.loads(timed.stdout) == json.loads(plain.stdout)


def test_max_file_size_comes_from_the_pyproject_found_from_the_working_folder(original: Path, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.convbudget]\nmax_file_size = "1KiB"\n')
    done = subprocess.run([sys.executable, "-m", "pytest_convbudget", "profile", str(original)],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"{PROG}{original}: larger than the 1 KiB limit for model files; raise it with --max-file-size or "
        "max_file_size in [tool.convbudget]"]
    raised = subprocess.run([sys.executable, "-m", "pytest_convbudget", "profile", str(original), "--max-file-size",
                             "1MiB"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert raised.returncode == 0, raised.stderr

