"""Which modules of a model are counted by a hook, and what their attributes say.

The registry (:mod:`.kinds`) says which module classes each kind counts; here
they are resolved (torch is imported by now) and matched against the model.
Channel counts, kernel sizes and groups are read from the module, never from
the input's shape (which breaks on unbatched input).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from pkgutil import resolve_name
from typing import Sequence

from torch import nn

from ..words.errors import ProfileError
from ..words.vocabulary import ROOT_NAME
from .kinds import KINDS, ModuleFacts, ModuleRule


@dataclass(frozen=True)
class Target:
    """One counted module, read once per profile."""

    name: str
    kind: str
    facts: ModuleFacts
    rule: ModuleRule
    # (identity of the tensor, its element count): tied tensors share an identity.
    tensors: tuple[tuple[object, int], ...]


class LazyModuleError(ProfileError):
    """The model still has lazy modules whose parameters are not materialised."""


def find_targets(model: nn.Module, count: Sequence[str]) -> list[tuple[nn.Module, Target]]:
    """Every module of a counted kind once, with its first qualified name."""
    _reject_unmaterialised(model)
    rules = [(name, rule, classes) for name in count for rule in KINDS[name].modules
             if (classes := _classes(rule))]
    targets = []
    for module_name, module in model.named_modules():
        for kind, rule, classes in rules:
            if isinstance(module, classes):
                facts = rule.read(module)
                tensors = tuple(_tensor_entry(module, attribute, numel) for attribute, numel in facts.weights)
                targets.append((module, Target(module_name or ROOT_NAME, kind, facts, rule, tensors)))
                break
    return targets


def _classes(rule: ModuleRule) -> tuple[type, ...]:
    """The rule's classes; a class whose module the user never imported is skipped."""
    return tuple(cls for cls in (_resolve(path, rule.if_imported) for path in rule.classes) if cls is not None)


@lru_cache(maxsize=None)
def _resolve_cached(path: str) -> type:
    return resolve_name(path)


def _resolve(path: str, if_imported: bool) -> type | None:
    if if_imported and path.rpartition(".")[0] not in sys.modules:
        return None
    return _resolve_cached(path)


def _reject_unmaterialised(model: nn.Module) -> None:
    lazy = [
        name or ROOT_NAME
        for name, module in model.named_modules()
        if isinstance(module, nn.modules.lazy.LazyModuleMixin) and module.has_uninitialized_params()
    ]
    if lazy:
        raise LazyModuleError(
            f"cannot profile a model with unmaterialised lazy modules ({', '.join(lazy)}): "
            "run one forward pass first so their shapes are known; profiling never changes the model"
        )


def _tensor_entry(module: nn.Module, attribute: str, numel: int) -> tuple[object, int]:
    tensor = module._parameters.get(attribute) if hasattr(module, "_parameters") else None
    identity = id(tensor) if tensor is not None else (id(module), attribute)
    return (identity, numel)
