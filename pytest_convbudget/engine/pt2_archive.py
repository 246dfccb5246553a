"""A ``.pt2`` file opened as data: its members named, sorted and sized before any is read.

``torch.export.load`` trusts its archive: it unpickles weights and constants that say
``use_pickle``, falls back to a full unpickler for sample inputs, loads AOTInductor's
shared libraries and unpacks whatever a member declares. Here the zip's central
directory is read first, and the archive is refused, in one line naming the member,
when it holds anything but the plain parts of a program saved by ``torch.export.save``:
no absolute or ``..`` names, no native code (AOTInductor, ExecuTorch, MTIA, a shared
library anywhere), no pickled custom objects, no legacy pickled weights, nothing a
version of the format unknown here adds, and nothing whose declared sizes exceed the
limit (``max_file_size``). A member is then read into memory only, never to disk, and
never past the size its header declares.

A zip can be read two ways: Python's ``zipfile`` finds the central directory from where
the end record sits, torch's C++ reader (miniz) from the offset the end record states, and
either may trust a local header where the other trusts the directory. So one file could
show each reader a different archive (an innocent one to the check, a bomb to the load).
Rather than re-implement torch's storage loading, :func:`zip_layout` accepts only a zip
with one reading: its records tile the file from byte 0 with no gap or overlap, each local
header (and data descriptor) agrees with its directory entry, the directory lies exactly
where the end record says and ends where the end records begin, and nothing follows them.
Any two readers that follow the zip format then see the same members at the same bytes;
this module reads the outer members itself (stored, or deflated with a bounded inflate),
and torch reads the sample inputs' inner zip only once it has passed the same check.
Only the methods torch writes are read (stored; deflated, which zip tools write when
they repack an archive): bzip2 and LZMA inflate whole chunks past any declared size.
"""
from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from ..words.errors import SpecError
from ..words.quantity import format_bytes

# The one archive layout this reader knows: torch.export.save's (torch 2.13's pt2_archive constants).
ARCHIVE_FORMAT = "pt2"
ARCHIVE_VERSIONS = ("0",)
MODEL_NAME = "model"  # torch.export.save writes its one program under this name
MODEL_JSON = f"models/{MODEL_NAME}.json"
WEIGHTS_CONFIG = f"data/weights/{MODEL_NAME}_weights_config.json"
CONSTANTS_CONFIG = f"data/constants/{MODEL_NAME}_constants_config.json"
SAMPLE_INPUTS = f"data/sample_inputs/{MODEL_NAME}.pt"
WEIGHTS_DIR, CONSTANTS_DIR = "data/weights/", "data/constants/"
# Members a saved program has, by name under the archive's root folder.
KNOWN_MEMBERS = (
    re.compile(r"archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"),
    re.compile(r"models/[A-Za-z0-9_]+\.json"),
    re.compile(r"data/weights/(weight_\d+|[A-Za-z0-9_]+_weights_config\.json)"),
    re.compile(r"data/constants/(tensor_\d+|[A-Za-z0-9_]+_constants_config\.json)"),
    re.compile(r"data/sample_inputs/[A-Za-z0-9_]+\.pt"),
    re.compile(r"extra/[^/]+"),  # text a saver attached (extra_files): never read
)
# What each refused kind of member is, for the one line that refuses it.
REFUSED_MEMBERS = (
    ("data/aotinductor/", "AOTInductor compiled code (a native shared library torch would load)"),
    ("data/executorch/", "an ExecuTorch program (native code for another runtime)"),
    ("data/mtia", "an MTIA program (native code for another runtime)"),
    ("xl_model_weights/", "AOTInductor's external weights (read only with its native code)"),
    ("data/constants/custom_obj_", "a custom object (torchbind): torch would unpickle it and run its class's code"),
    ("data/constants/opaque_obj_", "an opaque object: torch would unpickle it with pickle.loads, running any code"),
    ("data/weights/model.pt", "weights in the legacy pickled format: torch would unpickle them"),
    ("data/constants/model.pt", "constants in the legacy pickled format: torch would unpickle them"),
)
READ_CHUNK = 16 * 2**20
MAX_MEMBERS = 100_000  # zipfile keeps an object per member: a 64 MiB directory could list a million
END_RECORD_REACH = 22 + 2**16  # the zip's end record and its longest comment
NATIVE_SUFFIXES = (".so", ".dll", ".dylib", ".pyd", ".o", ".a", ".lib", ".cubin", ".ptx", ".hsaco", ".spv")


@dataclass(frozen=True)
class Pt2Archive:
    """A ``.pt2`` whose every member was checked; ``read`` gives one member's bytes."""

    path: Path
    root: str  # the folder every member sits under (torch names it after the file)
    sizes: dict[str, int]  # member name under the root -> the size its header declares
    entries: dict[str, ZipEntry]  # member name under the root -> where its bytes lie
    stream: BinaryIO
    limit: int
    limit_hint: str

    def has(self, name: str) -> bool:
        return name in self.sizes

    def member(self, name: str) -> str:
        """How the one line names a member: as it is written in the archive."""
        return f"{self.root}/{name}"

    def refuse(self, name: str, why: str) -> SpecError:
        return SpecError(f"{self.path}: member {self.member(name)!r}: {why}")

    def read(self, name: str) -> bytes:
        return bytes(self.read_buffer(name))

    def read_buffer(self, name: str) -> bytearray:
        """The member's bytes in one buffer of the size its header declares (the sum of every
        member's declared size was checked at open). Inflated here, never past that size: a
        member that yields more, or less, or other bytes (its CRC) is refused."""
        if name not in self.sizes:
            raise SpecError(f"{self.path}: no member {self.member(name)!r}: not a program saved by torch.export.save")
        entry = self.entries[name]
        buffer = bytearray(entry.size)
        try:
            self.stream.seek(entry.data_offset)
            if entry.method == STORED:
                got = self.stream.readinto(buffer)
            else:
                got = self._inflate(name, entry, buffer)
        except (OSError, zlib.error) as error:
            raise self.refuse(name, f"cannot be read ({_first_line(error)})") from None
        if got != entry.size:
            raise self.refuse(name, f"does not hold the {shown(entry.size)} bytes its header declares")
        if zlib.crc32(buffer) != entry.crc:
            raise self.refuse(name, f"cannot be read (Bad CRC-32 for file {self.member(name)!r})")
        return buffer

    def _inflate(self, name: str, entry: ZipEntry, buffer: bytearray) -> int:
        """Deflate's stream into ``buffer``, asking zlib for at most one byte past the room left."""
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        left, got = entry.compressed, 0
        while left or inflater.unconsumed_tail:
            if inflater.unconsumed_tail:
                pending = inflater.unconsumed_tail
            else:
                pending = self.stream.read(min(READ_CHUNK, left))
                if not pending:
                    break
                left -= len(pending)
            piece = inflater.decompress(pending, entry.size - got + 1)
            if got + len(piece) > entry.size:
                raise self.refuse(name, f"inflates past the {shown(entry.size)} bytes its header declares: refused")
            buffer[got:got + len(piece)] = piece
            got += len(piece)
            if inflater.eof:
                break
        if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail or left:
            raise self.refuse(name, "cannot be read (its deflate stream is cut short or followed by other bytes)")
        return got

    def text(self, name: str) -> str:
        try:
            return self.read(name).decode("utf-8")
        except UnicodeDecodeError:
            raise self.refuse(name, "is not UTF-8 text") from None

    def close(self) -> None:
        self.stream.close()


def open_archive(path: Path, limit: int, limit_hint: str) -> Pt2Archive:
    """The archive at ``path``, every member checked by name and declared size before any is read."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise SpecError(f"{path}: cannot read ({error.strerror or error})") from None
    if size > limit:
        raise SpecError(f"{path}: larger than the {format_bytes(limit)} limit for model files; raise it with {limit_hint}")
    count = _declared_member_count(path)
    if count is not None and count > MAX_MEMBERS:
        raise SpecError(f"{path}: the archive declares {shown(count)} members (a saved program has a few per weight; "
                        f"at most {MAX_MEMBERS:,} are read): refused, nothing read")
    try:
        stream = path.open("rb")
    except OSError as error:
        raise SpecError(f"{path}: cannot read ({error.strerror or error})") from None
    try:
        try:
            entries = zip_layout(stream, size, str(path), (STORED, DEFLATED))
        except OSError as error:
            raise SpecError(f"{path}: cannot read ({_first_line(error)})") from None
        archive = _checked(path, entries, stream, limit, limit_hint)
    except BaseException:
        stream.close()
        raise
    return archive


def _checked(path: Path, entries: dict[str, ZipEntry], stream: BinaryIO, limit: int, limit_hint: str) -> Pt2Archive:
    if not entries:
        raise SpecError(f"{path} is not a .pt2 archive: the zip file is empty")
    sizes: dict[str, int] = {}
    by_rest: dict[str, ZipEntry] = {}
    root = None
    total = 0
    for name, entry in entries.items():
        _check_name(path, name)
        first, _, rest = name.partition("/")
        root = first if root is None else root
        if first != root or not rest:
            raise SpecError(f"{path}: member {name!r} lies outside the archive's folder {root!r}: "
                            "not a program saved by torch.export.save")
        if rest in sizes:
            raise SpecError(f"{path}: member {name!r} appears twice: refused (which copy a reader takes is ambiguous)")
        if name.endswith("/"):
            raise SpecError(f"{path}: member {name!r} is a folder: not a program saved by torch.export.save")
        _check_kind(path, name, rest)
        sizes[rest] = entry.size
        by_rest[rest] = entry
        total += entry.size
        if total > limit:
            raise SpecError(f"{path}: member {name!r} unpacks past the {format_bytes(limit)} limit for model files "
                            f"(the members declare {format_bytes(total)} so far); raise it with {limit_hint}")
    assert root is not None
    archive = Pt2Archive(path, root, sizes, by_rest, stream, limit, limit_hint)
    _check_format(archive)
    return archive


def _declared_member_count(path: Path) -> int | None:
    """The member count the zip's end record declares, read before zipfile builds an object per
    member (a small file can list millions); None when there is no end record to read."""
    try:
        with path.open("rb") as stream:
            stream.seek(0, 2)
            size = stream.tell()
            stream.seek(max(0, size - END_RECORD_REACH))
            tail = stream.read()
            end = tail.rfind(b"PK\x05\x06")
            if end < 0 or len(tail) < end + 22:
                return None
            count = int.from_bytes(tail[end + 10:end + 12], "little")
            if count != 0xFFFF or end < 20 or tail[end - 20:end - 16] != b"PK\x06\x07":
                return count
            stream.seek(int.from_bytes(tail[end - 12:end - 4], "little"))
            record = stream.read(56)  # the zip64 end record: its count of members at byte 32
            return int.from_bytes(record[32:40], "little") if record[:4] == b"PK\x06\x06" else None
    except (OSError, ValueError):
        return None


def _check_name(path: Path, name: str) -> None:
    """A member's name is a relative path that stays inside the archive's folder."""
    parts = PurePosixPath(name).parts
    if (not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\\" in name
            or ".." in name.split("/") or "\x00" in name or any(ord(char) < 32 for char in name)):
        raise SpecError(f"{path}: member {name!r} names a path outside the archive "
                        "(absolute, .. or a backslash): refused, nothing read")
    if not parts:
        raise SpecError(f"{path}: a member has an empty name: refused, nothing read")


def _check_kind(path: Path, name: str, rest: str) -> None:
    for prefix, what in REFUSED_MEMBERS:
        if rest.startswith(prefix):
            raise SpecError(f"{path}: member {name!r} is {what}: refused, nothing run")
    if rest.lower().endswith(NATIVE_SUFFIXES):
        raise SpecError(f"{path}: member {name!r} is native code (a compiled library): refused, nothing run")
    if not any(pattern.fullmatch(rest) for pattern in KNOWN_MEMBERS):
        raise SpecError(f"{path}: member {name!r} is no part of the .pt2 format this reader knows "
                        f"(archive version {ARCHIVE_VERSIONS[-1]}, torch.export.save's): refused")


def _check_format(archive: Pt2Archive) -> None:
    """The archive says it is a pt2 archive of a version known here, holding one program."""
    for name in ("archive_format", "archive_version", MODEL_JSON, WEIGHTS_CONFIG, CONSTANTS_CONFIG):
        if not archive.has(name):
            raise SpecError(f"{archive.path}: no member {archive.member(name)!r}: not a program saved by "
                            "torch.export.save (an AOTInductor package or an older format)")
    if archive.sizes["archive_format"] > 16 or archive.text("archive_format") != ARCHIVE_FORMAT:
        raise SpecError(f"{archive.path}: member {archive.member('archive_format')!r} does not say "
                        f"{ARCHIVE_FORMAT!r}: not a .pt2 archive")
    version = archive.text("archive_version") if archive.sizes["archive_version"] <= 16 else "?"
    if version not in ARCHIVE_VERSIONS:
        raise SpecError(f"{archive.path}: archive version {version[:16]!r} is unknown here (this reader knows "
                        f"{', '.join(ARCHIVE_VERSIONS)}): refused")
    models = [name for name in archive.sizes if name.startswith("models/")]
    if models != [MODEL_JSON]:
        raise SpecError(f"{archive.path}: holds the programs {', '.join(repr(archive.member(m)) for m in models)}: "
                        f"profile reads the one program torch.export.save writes ({archive.member(MODEL_JSON)!r})")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    text = text.splitlines()[0] if text else type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# The zip format's records, as struct layouts (little-endian, no padding).
LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # sig, version, flags, method, time, date, crc, csize, size, name, extra
CENTRAL_ENTRY = struct.Struct("<4s6H3I5H2I")  # sig, made by, version, flags, method, time, date, crc, csize, size,
# name, extra, comment, disk, internal attributes, external attributes, local header offset
END_RECORD = struct.Struct("<4s4H2IH")  # sig, disk, cd disk, entries here, entries, cd size, cd offset, comment
ZIP64_END = struct.Struct("<4sQ2H2I4Q")  # sig, size, made by, version, disk, cd disk, entries here, entries,
# cd size, cd offset
ZIP64_LOCATOR = struct.Struct("<4sIQI")  # sig, disk, zip64 end record offset, disks
STORED, DEFLATED = 0, 8
METHOD_NAMES = {0: "stored", 8: "deflated", 9: "deflate64", 12: "bzip2", 14: "LZMA", 93: "zstandard", 95: "xz",
                98: "PPMd"}
SHOWN_DIGITS = 24  # a number a refusal line shows is cut to this many digits


@dataclass(frozen=True)
class ZipEntry:
    """One member as the central directory and its local header agree on it."""

    name: str
    method: int
    crc: int
    compressed: int  # bytes on disk
    size: int  # bytes once unpacked
    data_offset: int  # where its (compressed) bytes begin


def shown(number: int) -> str:
    """A number for a refusal line: whole, or its first digits when it is absurdly long."""
    text = f"{number:,}"
    return text if len(text) <= SHOWN_DIGITS else f"{text[:SHOWN_DIGITS]}... ({len(str(number))} digits)"


def zip_layout(stream: BinaryIO, length: int, where: str, methods: tuple[int, ...],
               max_members: int = MAX_MEMBERS) -> dict[str, ZipEntry]:
    """The members of the zip in ``stream`` (``length`` bytes) by name, when it has one reading
    only (see the module's docstring); else one SpecError line that begins with ``where``."""

    def refuse(why: str) -> SpecError:
        return SpecError(f"{where}: {why}: refused, nothing read")

    def read(offset: int, size: int) -> bytes:
        if offset < 0 or offset + size > length:
            raise refuse(f"a zip record at byte {shown(offset)} runs past the end of the file")
        stream.seek(offset)
        data = stream.read(size)
        if len(data) != size:
            raise refuse("the file ended while it was read")
        return data

    if length < END_RECORD.size:
        raise refuse("not a zip file (too short for its end record)")
    end_at = length - END_RECORD.size
    (sig, disk, cd_disk, here, count, cd_size, cd_offset, comment) = END_RECORD.unpack(read(end_at, END_RECORD.size))
    if sig != b"PK\x05\x06" or comment:
        raise refuse("not a zip file that ends with its end record (no end record in the last 22 bytes, or a comment "
                     "after it)")
    directory_end = end_at
    locator_at = end_at - ZIP64_LOCATOR.size
    if locator_at >= 0 and read(locator_at, 4) == b"PK\x06\x07":
        _, locator_disk, zip64_at, disks = ZIP64_LOCATOR.unpack(read(locator_at, ZIP64_LOCATOR.size))
        record = read(zip64_at, ZIP64_END.size)
        (sig64, record_size, _, _, disk64, cd_disk64, here64, count64, cd_size64,
         cd_offset64) = ZIP64_END.unpack(record)
        if sig64 != b"PK\x06\x06" or zip64_at + 12 + record_size != locator_at or locator_disk or disks > 1:
            raise refuse("its zip64 end record is not where its locator says, or not right before it")
        for small, big, full in ((disk, disk64, 0xFFFF), (cd_disk, cd_disk64, 0xFFFF), (here, here64, 0xFFFF),
                                 (count, count64, 0xFFFF), (cd_size, cd_size64, 0xFFFFFFFF),
                                 (cd_offset, cd_offset64, 0xFFFFFFFF)):
            if small not in (big, full):
                raise refuse("its end record and zip64 end record disagree (two readers would see two archives)")
        disk, cd_disk, here, count, cd_size, cd_offset = disk64, cd_disk64, here64, count64, cd_size64, cd_offset64
        directory_end = zip64_at
    if disk or cd_disk or here != count:
        raise refuse("it spans several disks")
    if count > max_members:
        raise refuse(f"the archive declares {shown(count)} members (at most {max_members:,} are read)")
    if cd_offset + cd_size != directory_end:
        raise refuse(f"its central directory is not at the offset its end record states (byte {shown(cd_offset)}): "
                     "readers that trust the record and readers that trust its position would see different archives")
    directory = read(cd_offset, cd_size)
    entries: list[tuple[int, str, bytes, int, int, int, int, int]] = []
    position = 0
    for _ in range(count):
        if position + CENTRAL_ENTRY.size > len(directory):
            raise refuse("its central directory is shorter than the members it declares")
        (sig, _, _, flags, method, _, _, crc, csize, size, name_length, extra_length, comment_length, start_disk, _,
         _, offset) = CENTRAL_ENTRY.unpack_from(directory, position)
        position += CENTRAL_ENTRY.size
        raw_name = directory[position:position + name_length]
        extra = directory[position + name_length:position + name_length + extra_length]
        position += name_length + extra_length + comment_length
        if sig != b"PK\x01\x02" or position > len(directory):
            raise refuse("its central directory holds something other than member entries")
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        shown_name = name if len(name) <= 80 else name[:77] + "..."
        size, csize, offset, start_disk = _zip64_fields(extra, size, csize, offset, start_disk)
        if method not in methods:
            kind = METHOD_NAMES.get(method, f"method {method}")
            raise refuse(f"member {shown_name!r} is compressed with {kind}: only "
                         f"{' or '.join(METHOD_NAMES[m] for m in methods)} members are read")
        if flags & 0x41 or start_disk:
            raise refuse(f"member {shown_name!r} is encrypted or on another disk")
        if method == STORED and csize != size:
            raise refuse(f"member {shown_name!r} is stored, yet its sizes differ ({shown(csize)} on disk, "
                         f"{shown(size)} unpacked)")
        entries.append((offset, name, raw_name, flags, method, crc, csize, size))
    if position != len(directory):
        raise refuse("its central directory holds more than the members its end record declares")
    found: dict[str, ZipEntry] = {}
    at = 0
    for offset, name, raw_name, flags, method, crc, csize, size in sorted(entries, key=lambda entry: entry[0]):
        shown_name = name if len(name) <= 80 else name[:77] + "..."
        if offset != at:
            raise refuse(f"member {shown_name!r} does not start where the member before it ends (byte "
                         f"{shown(offset)}, not {shown(at)}): bytes between or inside records")
        if name in found:
            raise refuse(f"member {shown_name!r} appears twice (which copy a reader takes is ambiguous)")
        (sig, _, local_flags, local_method, _, _, local_crc, local_csize, local_size, name_length,
         extra_length) = LOCAL_HEADER.unpack(read(offset, LOCAL_HEADER.size))
        local_name = read(offset + LOCAL_HEADER.size, name_length)
        local_extra = read(offset + LOCAL_HEADER.size + name_length, extra_length)
        if sig != b"PK\x03\x04" or local_name != raw_name or local_method != method or local_flags != flags:
            raise refuse(f"member {shown_name!r}: its local header and the central directory disagree (name, method "
                         "or flags)")
        data_offset = offset + LOCAL_HEADER.size + name_length + extra_length
        at = data_offset + csize
        local_size, local_csize, _, _ = _zip64_fields(local_extra, local_size, local_csize, 0, 0)
        if flags & 0x8:  # sizes and CRC follow the data, in a descriptor
            at = _descriptor_end(read, at, (crc, csize, size), (local_crc, local_csize, local_size), refuse,
                                 shown_name)
        elif (local_crc, local_csize, local_size) != (crc, csize, size):
            raise refuse(f"member {shown_name!r}: its local header and the central directory disagree (CRC or sizes)")
        found[name] = ZipEntry(name, method, crc, csize, size, data_offset)
    if at != cd_offset:
        raise refuse(f"bytes lie between its last member and its central directory (byte {shown(at)}, directory at "
                     f"{shown(cd_offset)})")
    return found


def _zip64_fields(extra: bytes, size: int, csize: int, offset: int, disk: int) -> tuple[int, int, int, int]:
    """The sizes, offset and disk a zip64 extra field holds for the ones saturated in the header."""
    position = 0
    while position + 4 <= len(extra):
        kind, length = struct.unpack_from("<2H", extra, position)
        body = extra[position + 4:position + 4 + length]
        position += 4 + length
        if kind != 1:
            continue
        values = [size == 0xFFFFFFFF, csize == 0xFFFFFFFF, offset == 0xFFFFFFFF]
        cursor = 0
        fields = [size, csize, offset]
        for index, wanted in enumerate(values):
            if wanted and cursor + 8 <= len(body):
                fields[index] = int.from_bytes(body[cursor:cursor + 8], "little")
                cursor += 8
        if disk == 0xFFFF and cursor + 4 <= len(body):
            disk = int.from_bytes(body[cursor:cursor + 4], "little")
        return fields[0], fields[1], fields[2], disk
    return size, csize, offset, disk


def _descriptor_end(read: Any, at: int, central: tuple[int, int, int], local: tuple[int, int, int], refuse: Any,
                    shown_name: str) -> int:
    """Where a member's data descriptor ends; it (and the local header's zeros) must agree with the directory."""
    if local not in ((0, 0, 0), central) and local[0] not in (0, central[0]):
        raise refuse(f"member {shown_name!r}: its local header and the central directory disagree (CRC or sizes)")
    for signed in (True, False):
        for wide in (False, True):
            length = (4 if signed else 0) + 4 + (16 if wide else 8)
            try:
                record = read(at, length)
            except SpecError:
                continue
            body = record[4:] if signed else record
            if signed and record[:4] != b"PK\x07\x08":
                continue
            crc = int.from_bytes(body[:4], "little")
            csize, size = (struct.unpack_from("<2Q", body, 4) if wide else struct.unpack_from("<2I", body, 4))
            if (crc, csize, size) == central:
                return at + length
    raise refuse(f"member {shown_name!r}: its data descriptor is missing or disagrees with the central directory")
