"""Find the model a spec names: ``path/to/file.py:name``, ``package.module:name``, or a saved
file: ``model.pt`` (TorchScript, ``torch.jit.save``) or ``model.pt2`` (``torch.export.save``).

A Python spec is imported, so its code runs; a TorchScript file runs its code too when
loaded. A ``.pt2`` is read as data by the engine's archive reader."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from ..words.errors import SpecError
from ..words.vocabulary import DEFAULT_MAX_FILE_SIZE

MODEL_FILE_SUFFIXES = (".pt", ".pth", ".pt2")  # saved programs: TorchScript, or torch.export's .pt2
TRUSTED_SUFFIXES = (".pt", ".pth")  # TorchScript: loading runs its code, so profile asks --trust-code


def load_object(spec: str) -> Any:
    """The object a ``FILE.py:NAME`` or ``MODULE:NAME`` spec points at."""
    location, sep, name = spec.rpartition(":")
    if not sep or not location or not name:
        raise SpecError(f"bad model spec {spec!r}: expected path/to/file.py:factory or package.module:factory")
    module = _load_file(location) if location.endswith(".py") or "/" in location else _import(location)
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise SpecError(f"{location!r} has no attribute {name!r}")
        obj = getattr(obj, part)
    return obj


def _load_file(location: str) -> ModuleType:
    path = Path(location)
    if not path.is_file():
        raise SpecError(f"model file not found: {location}")
    module_name = f"_convbudget_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SpecError(f"cannot load {location} as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # so the file can import its neighbours
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise SpecError(f"importing {location} failed: {type(error).__name__}: {error}") from error
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def import_module(location: str) -> ModuleType:
    """``package.module``, imported as ``MODULE:NAME`` specs import it (the working folder on the path)."""
    return _import(location)


def _import(location: str) -> ModuleType:
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    try:
        return importlib.import_module(location)
    except ImportError as error:
        raise SpecError(f"cannot import module {location!r}: {error}") from error
    except Exception as error:
        raise SpecError(f"importing {location!r} failed: {type(error).__name__}: {error}") from error


def is_model_file(spec: str) -> bool:
    """Whether the spec names a saved program rather than ``FILE.py:NAME`` or ``MODULE:NAME``."""
    return spec.endswith(MODEL_FILE_SUFFIXES) and ":" not in Path(spec).name


def load_model_file(
    spec: str, read_weights: bool = True, max_bytes: int = DEFAULT_MAX_FILE_SIZE, raise_with: str = "--max-file-size",
) -> tuple[Any, tuple[tuple[Any, ...], dict[str, Any]] | None]:
    """The model saved in ``spec`` and, for an exported program, the inputs it was exported with
    (``read_weights=False``: a .pt2's weights are made on meta, unread)."""
    path = Path(spec)
    if not path.is_file():
        raise SpecError(f"model file not found: {spec}")
    if path.suffix == ".pt2":  # its members are checked before torch is imported: a refusal is quick
        from ..engine.pt2_archive import open_archive

        open_archive(path, max_bytes, raise_with).close()
    from ..engine.forms import load_saved_program  # the engine: torch loads it

    return load_saved_program(path, read_weights, max_bytes, raise_with)
