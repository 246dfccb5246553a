"""The forms a model ships in, brought to the module ``profile()`` runs.

- A ``torch.compile``-d model is an ``OptimizedModule`` wrapping the user's module:
  profiling the wrapper would compile it (seconds to minutes) to count what the original
  counts in milliseconds, under names prefixed ``_orig_mod``. The original is counted,
  and nothing is compiled.
- An ``ExportedProgram`` is run as its ``.module()``: a graph of aten calls, counted at the
  dispatcher (:mod:`.aten_watch`) under its parameters' original paths.
- TorchScript modules (traced, scripted, loaded) and FX graph modules are modules already;
  a ScriptModule takes no hooks, and its ops are counted at the dispatcher too.

What is no module (a TorchScript function, an exported program's graph alone) is refused
in one line that says what to pass instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Collection, Iterable

import torch
from torch import nn

from ..words.errors import ProfileError, SpecError
from ..words.quantity import format_bytes
from ..words.vocabulary import DEFAULT_MAX_FILE_SIZE, ROOT_NAME


class NotAModelError(ProfileError, TypeError):
    """``profile()`` was given something that is no model in any form it counts."""


def runnable_module(model: Any) -> nn.Module:
    """The module whose forward ``profile()`` runs for ``model`` in any form it counts."""
    if is_exported_program(model):
        model = model.module()
    if not isinstance(model, nn.Module):
        raise NotAModelError(_not_a_model(model))
    while type(model).__name__ == "OptimizedModule" and isinstance(getattr(model, "_orig_mod", None), nn.Module):
        model = model._orig_mod
    return model


def is_model(value: Any) -> bool:
    """Whether ``profile()`` counts ``value``: a module in any form, or an exported program."""
    return isinstance(value, nn.Module) or is_exported_program(value)


def is_exported_program(value: Any) -> bool:
    """Read by name: ``torch.export`` is not imported for a model that is none."""
    return type(value).__name__ == "ExportedProgram" and type(value).__module__.startswith("torch.export")


def is_exported_module(module: nn.Module) -> bool:
    """An exported program's ``.module()`` (read by class name: the class is private to torch)."""
    return any(cls.__name__ == "_StatefulGraphModule" for cls in type(module).__mro__)


def runs_without_module_calls(module: nn.Module, parts: Iterable[nn.Module]) -> bool:
    """TorchScript and exported programs run their graphs without calling their submodules:
    hooks see nothing, and ops are named by the modules that own their weights. An eager
    model may hold a TorchScript part (``parts``: every module of the model, once)."""
    return is_exported_module(module) or any(isinstance(part, torch.jit.ScriptModule) for part in parts)


def call_paths(module: nn.Module, functions: Collection[Any]) -> dict[Any, list[str]]:
    """For an exported program's module: the module path each call of ``functions`` ran under
    in the eager model (torch keeps it in the graph's ``nn_module_stack``), in graph order,
    last first; empty for any other module."""
    if not is_exported_module(module):
        return {}
    paths: dict[Any, list[str]] = {}
    for node in module.graph.nodes:
        if node.op == "call_function" and node.target in functions:
            stack = node.meta.get("nn_module_stack") or {}
            path = list(stack.values())[-1][0] if stack else ""
            paths.setdefault(node.target, []).append(path or ROOT_NAME)
    for found in paths.values():
        found.reverse()
    return paths


def exported_input_refusal(module: nn.Module, error: BaseException) -> str | None:
    """The one line for inputs an exported program's module refuses (its guards check the
    shapes it was exported for, its tree spec the arguments), else None."""
    if not is_exported_module(module):
        return None
    text = str(error).strip()
    if not (text.startswith("Guard failed") or text.startswith("Trying to flatten user inputs")):
        return None
    first = text.splitlines()[0].rstrip(": ")
    return (f"the exported program refuses these inputs ({first}): pass inputs like those it was exported with "
            "(a .pt2 file's example inputs: no --input), or export it with dynamic shapes")


def _not_a_model(value: Any) -> str:
    kind = type(value).__name__
    if kind in ("ScriptFunction", "StrongFunctionPtr"):
        return ("profile() needs a module: this is a TorchScript function (torch.jit.script of a function); "
                "script or trace the torch.nn.Module that calls it instead")
    if kind == "GraphModule" or kind == "Graph":
        return f"profile() needs a module: got a {kind}; pass the GraphModule or ExportedProgram that holds it"
    return f"profile() needs a torch.nn.Module or an ExportedProgram, got {kind}"


def load_saved_program(
    path: Path, read_weights: bool = True, max_bytes: int = DEFAULT_MAX_FILE_SIZE, raise_with: str = "--max-file-size",
) -> tuple[Any, tuple[tuple[Any, ...], dict[str, Any]] | None]:
    """The program saved at ``path`` (``.pt2``: ``torch.export.save``; else ``torch.jit.save``)
    and, for an exported program, the inputs it was exported with.

    A ``.pt2`` is read as data (:mod:`.saved_programs`): nothing it carries runs, and with
    ``read_weights=False`` its weights are made on meta from their metadata, unread. A
    TorchScript file is a program: loading runs its code (the caller asked for trust).
    A file over ``max_bytes`` is refused unread (``raise_with`` names what raises it). A
    pickled model (``torch.save(model)``) would run arbitrary code to load, and holds no
    forward without its source; it is refused."""
    if path.suffix == ".pt2":
        from .saved_programs import load_exported_archive

        loaded = load_exported_archive(path, read_weights, max_bytes, raise_with)
        return loaded.program, loaded.examples
    if path.stat().st_size > max_bytes:
        raise SpecError(f"{path}: larger than the {format_bytes(max_bytes)} limit for model files; "
                        f"raise it with {raise_with}")
    try:
        return torch.jit.load(str(path), map_location="cpu"), None
    except Exception as error:
        unknown = re.search(r"Unknown builtin op: ([\w.]+::[\w.]+?)\.?\s", f"{error} ")
        if unknown is not None:  # a program of the user's own ops: their library was not imported
            raise SpecError(
                f"{path} calls the custom op {unknown.group(1)}, which no imported library defines: import the "
                "package that registers it first (profile --import MODULE)"
            ) from None
        raise SpecError(
            f"{path} is not a TorchScript file (torch.jit.save): a pickled model or a state dict holds no "
            "forward without its code; pass path/to/models.py:factory instead"
        ) from None
