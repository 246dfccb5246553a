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
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

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
    zip_file: zipfile.ZipFile
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
        member's declared size was checked at open); a member that inflates past it, or stops
        short of it, is refused."""
        if name not in self.sizes:
            raise SpecError(f"{self.path}: no member {self.member(name)!r}: not a program saved by torch.export.save")
        declared = self.sizes[name]
        buffer = bytearray(declared)
        got = 0
        try:
            with self.zip_file.open(self.member(name)) as stream:
                while got < declared:  # in chunks: zipfile's readinto would build a second copy of it all
                    chunk = stream.read(min(READ_CHUNK, declared - got))
                    if not chunk:
                        break
                    buffer[got:got + len(chunk)] = chunk
                    got += len(chunk)
                beyond = stream.read(1)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError, ValueError,
                RuntimeError) as error:  # RuntimeError: an encrypted member
            raise self.refuse(name, f"cannot be read ({_first_line(error)})") from None
        if got != declared or beyond:
            raise self.refuse(name, f"does not hold the {declared:,} bytes its header declares")
        return buffer

    def text(self, name: str) -> str:
        try:
            return self.read(name).decode("utf-8")
        except UnicodeDecodeError:
            raise self.refuse(name, "is not UTF-8 text") from None

    def close(self) -> None:
        self.zip_file.close()


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
        raise SpecError(f"{path}: the archive declares {count:,} members (a saved program has a few per weight; "
                        f"at most {MAX_MEMBERS:,} are read): refused, nothing read")
    try:
        zip_file = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as error:
        raise SpecError(f"{path} is not a .pt2 archive (torch.export.save writes a zip file): {_first_line(error)}") from None
    try:
        archive = _checked(path, zip_file, limit, limit_hint)
    except BaseException:
        zip_file.close()
        raise
    return archive


def _checked(path: Path, zip_file: zipfile.ZipFile, limit: int, limit_hint: str) -> Pt2Archive:
    infos = zip_file.infolist()
    if not infos:
        raise SpecError(f"{path} is not a .pt2 archive: the zip file is empty")
    sizes: dict[str, int] = {}
    root = None
    total = 0
    for info in infos:
        name = info.filename
        _check_name(path, name)
        first, _, rest = name.partition("/")
        root = first if root is None else root
        if first != root or not rest:
            raise SpecError(f"{path}: member {name!r} lies outside the archive's folder {root!r}: "
                            "not a program saved by torch.export.save")
        if rest in sizes:
            raise SpecError(f"{path}: member {name!r} appears twice: refused (which copy a reader takes is ambiguous)")
        if info.is_dir() or info.flag_bits & 0x1:
            raise SpecError(f"{path}: member {name!r} is {'a folder' if info.is_dir() else 'encrypted'}: "
                            "not a program saved by torch.export.save")
        _check_kind(path, name, rest)
        sizes[rest] = info.file_size
        total += info.file_size
        if total > limit:
            raise SpecError(f"{path}: member {name!r} unpacks past the {format_bytes(limit)} limit for model files "
                            f"(the members declare {format_bytes(total)} so far); raise it with {limit_hint}")
    assert root is not None
    archive = Pt2Archive(path, root, sizes, zip_file, limit, limit_hint)
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
