"""A ``.pt2`` (``torch.export.save``) loaded as data: nothing it carries runs.

:mod:`.pt2_archive` checks the members before any is read; :mod:`.pt2_graph_check` checks
the program's JSON before torch deserializes it. What torch's loader would unpickle is
read here instead: weights and constants from the archive's own raw layout (a record of
bytes and the shape, strides and dtype its config declares), sample inputs with the
``weights_only`` unpickler and never its fallback. On ``meta`` no weight byte is read at
all: every weight is made on meta from the declared metadata, sized by the record its
header declares, so a profile on meta reports what a real load would hold.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from torch._export.serde import schema
from torch._export.serde.serialize import ExportedProgramDeserializer, _dict_to_dataclass

from ..words.errors import SpecError
from ..words.quantity import format_bytes
from .pt2_archive import (
    CONSTANTS_CONFIG,
    CONSTANTS_DIR,
    MODEL_JSON,
    SAMPLE_INPUTS,
    WEIGHTS_CONFIG,
    WEIGHTS_DIR,
    STORED,
    Pt2Archive,
    open_archive,
    shown,
    zip_layout,
)
from .pt2_graph_check import PLAIN_DTYPES, check_program

Examples = tuple[tuple[Any, ...], dict[str, Any]]
PAYLOAD_FILES = {WEIGHTS_DIR: re.compile(r"weight_\d+"), CONSTANTS_DIR: re.compile(r"tensor_\d+")}
# The inputs a program is exported with: a few tensors in a few containers; far more is a trap.
MAX_INPUT_LEAVES, MAX_INPUT_CONTAINERS, MAX_INPUT_DEPTH = 100_000, 10_000, 64
MAX_INNER_RECORDS = 10_000  # torch.save writes a record per storage and five of its own
QUIET_LOGGERS = ("torch.export", "torch._export", "torch._export.serde.serialize", "torch.fx.experimental.symbolic_shapes")


@dataclass(frozen=True)
class LoadedProgram:
    """An exported program read from a ``.pt2`` and the inputs it was saved with."""

    program: Any
    examples: Examples | None


def load_exported_archive(path: Path, real_weights: bool, limit: int, limit_hint: str) -> LoadedProgram:
    """The program a ``.pt2`` holds, read by this module alone: every refusal one SpecError line.
    ``real_weights=False``: weights and constants are made on meta from their metadata, unread."""
    archive = open_archive(path, limit, limit_hint)
    try:
        _check_byte_order(archive)
        serialized = _program_json(archive)
        check_program(serialized, f"{path}: member {archive.member(MODEL_JSON)!r}")
        state_dict = _payload(archive, WEIGHTS_CONFIG, WEIGHTS_DIR, real_weights)
        constants = _payload(archive, CONSTANTS_CONFIG, CONSTANTS_DIR, real_weights)
        examples = _sample_inputs(archive)
        with _quiet_torch():
            try:
                program = ExportedProgramDeserializer().deserialize(serialized, state_dict, constants, examples)
            except SpecError:
                raise
            except (Exception, RecursionError) as error:
                raise archive.refuse(MODEL_JSON, f"is not a program torch can rebuild ({_first_line(error)})") from None
    finally:
        archive.close()
    return LoadedProgram(program, examples)


def _program_json(archive: Pt2Archive) -> schema.ExportedProgram:
    document = _json(archive, MODEL_JSON)
    try:
        serialized = _dict_to_dataclass(schema.ExportedProgram, document)
    except (Exception, RecursionError) as error:
        raise archive.refuse(MODEL_JSON, f"is not a torch.export program ({_first_line(error)})") from None
    if not isinstance(serialized, schema.ExportedProgram):
        raise archive.refuse(MODEL_JSON, "is not a torch.export program")
    return serialized


def _json(archive: Pt2Archive, name: str) -> Any:
    try:
        return json.loads(archive.text(name))
    except (ValueError, RecursionError) as error:
        raise archive.refuse(name, f"is not JSON ({_first_line(error)})") from None


def _check_byte_order(archive: Pt2Archive) -> None:
    if archive.has("byteorder") and archive.sizes["byteorder"] <= 16:
        order = archive.text("byteorder")
        if order != sys.byteorder:
            raise archive.refuse("byteorder", f"says {order[:16]!r}: this machine is {sys.byteorder}-endian")


def _payload(archive: Pt2Archive, config_name: str, folder: str, real: bool) -> dict[str, torch.Tensor]:
    """Weights (or constants) by name: plain tensors over the archive's raw records, or their meta twins."""
    try:
        config = _dict_to_dataclass(schema.PayloadConfig, _json(archive, config_name))
        entries = dict(config.config)
    except SpecError:
        raise
    except (Exception, RecursionError) as error:
        raise archive.refuse(config_name, f"is not a payload config ({_first_line(error)})") from None
    bases: dict[str, torch.Tensor] = {}
    tensors: dict[str, torch.Tensor] = {}
    for fqn, entry in entries.items():
        where = f"entry {str(fqn)[:80]!r}"
        if not isinstance(entry, schema.PayloadMeta):
            raise archive.refuse(config_name, f"{where} is no payload entry")
        if entry.use_pickle:
            raise archive.refuse(config_name, f"{where} says use_pickle: torch would unpickle "
                                 f"{folder}{str(entry.path_name)[:40]} with weights_only=False, running any code it holds")
        if not isinstance(entry.path_name, str) or not PAYLOAD_FILES[folder].fullmatch(entry.path_name):
            raise archive.refuse(config_name, f"{where} names the file {str(entry.path_name)[:40]!r}, "
                                 f"no raw tensor of {folder}")
        record = folder + entry.path_name
        if not archive.has(record):
            raise archive.refuse(config_name, f"{where} names {archive.member(record)!r}, which is missing")
        layout = _layout(archive, config_name, where, entry.tensor_meta)
        base = bases.get(record)
        if base is None:
            base = bases[record] = _base(archive, record, layout, real)
        elif base.dtype != layout.dtype:  # torch would view the record as the first entry's dtype, silently
            raise archive.refuse(config_name, f"{where} reads {archive.member(record)!r} as {layout.dtype}; an entry "
                                 f"before it reads it as {base.dtype}")
        if layout.span > base.numel():
            raise archive.refuse(record, f"holds {shown(archive.sizes[record])} bytes; {where} spans "
                                 f"{shown(layout.span * base.element_size())}")
        if math.prod(layout.sizes) * base.element_size() > archive.limit:  # a view repeating its storage
            raise archive.refuse(config_name, f"{where} declares {shown(math.prod(layout.sizes))} elements: past the "
                                 f"{format_bytes(archive.limit)} limit; raise it with {archive.limit_hint}")
        tensor = base.as_strided(layout.sizes, layout.strides, layout.offset)
        if layout.requires_grad and not (tensor.is_floating_point() or tensor.is_complex()):
            raise archive.refuse(config_name, f"{where} asks gradients of a {layout.dtype} tensor")
        tensors[str(fqn)] = torch.nn.Parameter(tensor, requires_grad=layout.requires_grad) if entry.is_param else tensor
    return tensors


@dataclass(frozen=True)
class _Layout:
    dtype: torch.dtype
    sizes: tuple[int, ...]
    strides: tuple[int, ...]
    offset: int
    requires_grad: bool

    @property
    def span(self) -> int:
        """Elements of storage the view reaches (0 for an empty tensor)."""
        if any(size == 0 for size in self.sizes):
            return 0
        return self.offset + sum((size - 1) * stride for size, stride in zip(self.sizes, self.strides)) + 1


def _layout(archive: Pt2Archive, config_name: str, where: str, meta: Any) -> _Layout:
    from torch._export.serde.serialize import _SERIALIZE_TO_TORCH_DTYPE

    if not isinstance(meta, schema.TensorMeta):
        raise archive.refuse(config_name, f"{where} declares no tensor")
    known = isinstance(meta.dtype, int) and meta.dtype in PLAIN_DTYPES
    dtype = _SERIALIZE_TO_TORCH_DTYPE.get(meta.dtype) if known else None
    if dtype is None:
        raise archive.refuse(config_name, f"{where}: dtype {str(meta.dtype)[:40]!r} is not one this reader knows")
    if meta.layout != schema.Layout.Strided:
        raise archive.refuse(config_name, f"{where}: layout {getattr(meta.layout, 'name', meta.layout)} is not a "
                             "plain strided tensor")
    sizes = _ints(archive, config_name, where, "sizes", meta.sizes)
    strides = _ints(archive, config_name, where, "strides", meta.strides)
    offset = _ints(archive, config_name, where, "storage offset", [meta.storage_offset])[0]
    if len(sizes) != len(strides) or len(sizes) > 16:
        raise archive.refuse(config_name, f"{where}: {len(sizes)} sizes and {len(strides)} strides")
    return _Layout(dtype, sizes, strides, offset, bool(meta.requires_grad))


def _ints(archive: Pt2Archive, config_name: str, where: str, what: str, values: Any) -> tuple[int, ...]:
    found = []
    for value in values if isinstance(values, list) else []:
        number = value.value if isinstance(value, schema.SymInt) and str(value.type) == "as_int" else None
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number < 2**48:
            raise archive.refuse(config_name, f"{where}: {what} are not whole numbers of elements")
        found.append(number)
    if not isinstance(values, list):
        raise archive.refuse(config_name, f"{where}: no {what}")
    return tuple(found)


def _base(archive: Pt2Archive, record: str, layout: _Layout, real: bool) -> torch.Tensor:
    """The flat tensor over one record: its bytes on cpu, or a meta tensor of the size its header
    declares (nothing read). An empty record stands for zeros, as torch's loader makes them."""
    element = torch.empty((), dtype=layout.dtype).element_size()
    declared = archive.sizes[record]
    if declared % element:
        raise archive.refuse(record, f"holds {shown(declared)} bytes, no whole number of {layout.dtype} elements")
    if declared == 0:
        if layout.span * element > archive.limit:
            raise archive.refuse(record, f"is empty and stands for {shown(layout.span * element)} bytes of zeros: "
                                 f"past the limit; raise it with {archive.limit_hint}")
        return torch.zeros(layout.span, dtype=layout.dtype, device="cpu" if real else "meta")
    if not real:
        return torch.empty(declared // element, dtype=layout.dtype, device="meta")
    data = archive.read_buffer(record)
    flat = torch.frombuffer(data, dtype=torch.uint8)
    return torch.empty(0, dtype=layout.dtype).set_(flat.untyped_storage(), 0, (declared // element,), (1,))


def _sample_inputs(archive: Pt2Archive) -> Examples | None:
    """The inputs the program was exported with, through the ``weights_only`` unpickler alone
    (torch checks each storage against its record). Read whatever the device: a forward on
    meta answers data-dependent shapes from the values of integer inputs."""
    if not archive.has(SAMPLE_INPUTS) or archive.sizes[SAMPLE_INPUTS] == 0:
        return None
    data = archive.read(SAMPLE_INPUTS)
    _check_inner_archive(archive, data)
    try:
        with _quiet_torch():
            loaded = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except (Exception, RecursionError) as error:
        raise archive.refuse(SAMPLE_INPUTS, "holds more than plain tensors (the weights_only unpickler refused it: "
                             f"{_first_line(error)})") from None
    if (not isinstance(loaded, tuple) or len(loaded) != 2 or not isinstance(loaded[0], tuple)
            or not isinstance(loaded[1], dict)):
        raise archive.refuse(SAMPLE_INPUTS, "holds no (args, kwargs) pair of inputs")
    problem = _shared_or_vast(loaded)
    if problem:
        raise archive.refuse(SAMPLE_INPUTS, f"{problem}: refused before torch walks it")
    return loaded[0], dict(loaded[1])


def _shared_or_vast(inputs: Any) -> str | None:
    """Why the unpickled inputs cannot be walked safely, or None. The pickle's memo lets a small
    file hold a container twice (``a = [a, a]`` 45 times is 2**45 leaves to torch's tree walk):
    each container must appear once, and the containers, leaves and depth stay bounded."""
    seen: set[int] = set()
    containers = leaves = 0
    pending: list[tuple[Any, int]] = [(inputs, 0)]
    while pending:
        value, depth = pending.pop()
        if not isinstance(value, (tuple, list, dict, set, frozenset)):
            leaves += 1
            if leaves > MAX_INPUT_LEAVES:
                return f"holds more than {MAX_INPUT_LEAVES:,} inputs"
            continue
        if id(value) in seen:
            return f"holds one {type(value).__name__} in two places (a pickle's shared reference)"
        seen.add(id(value))
        containers += 1
        if containers > MAX_INPUT_CONTAINERS or depth > MAX_INPUT_DEPTH:
            return (f"nests its inputs more than {MAX_INPUT_DEPTH} deep or in more than {MAX_INPUT_CONTAINERS:,} "
                    "containers")
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else list(value)
        pending.extend((item, depth + 1) for item in items)
    return None


def _check_inner_archive(archive: Pt2Archive, data: bytes) -> None:
    """The sample inputs are a zip of their own (``torch.save``), read by torch's C++ reader: it must
    have one reading only (:func:`.pt2_archive.zip_layout`), its records stored as torch.save
    writes them and their sizes within the limit, before torch reads it."""
    where = f"{archive.path}: member {archive.member(SAMPLE_INPUTS)!r}"
    entries = zip_layout(io.BytesIO(data), len(data), where, (STORED,), MAX_INNER_RECORDS)
    total = 0
    for name, entry in entries.items():
        total += entry.size
        if total > archive.limit:
            raise archive.refuse(SAMPLE_INPUTS, f"record {name[:80]!r} unpacks past the "
                                 f"{format_bytes(archive.limit)} limit; raise it with {archive.limit_hint}")


@contextmanager
def _quiet_torch() -> Iterator[None]:
    """torch logs warnings and tracebacks before its own errors: the one line is ours."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():  # a UserWarning (a dtype torch calls experimental) is a second line
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    text = text.splitlines()[0] if text else type(error).__name__
    text = text.split(". This is an internal")[0]
    return text if len(text) <= 160 else text[:157] + "..."
