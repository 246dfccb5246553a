"""Leave the user's model exactly as it was found, and check that it is.

A real-device profile runs the model on swapped-in tensors: buffers are
replaced by copies (so a forward that updates them cannot change the
originals) and, when the model must move device, parameters get a moved
``.data`` for the call. A meta profile puts a meta
stand-in in every slot itself, from the slots it noted: ``torch.func.functional_call``
did the same with more walks of the model, and did not always put the
originals back (a module reachable under two paths kept meta tensors in one of
them). The guard trusts no helper: it notes every parameter and buffer slot of
every module, its tensor object, storage and version, before the run;
afterwards it puts back every object that changed, then checks storages,
training flags and hooks, and reads the versions for writes.

Parameters that stay on their device are not copied: a copy of every weight
would cost as much as a third of a batch-1 forward. Their version counters
tell whether the forward wrote into one in place, and that is reported.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .memory import storage_size

_TABLES = ("_parameters", "_buffers")
_HOOK_TABLES = ("_forward_pre_hooks", "_forward_hooks")
# One slot as found: the module's table (its dict), the name, the path (for messages), the tensor object,
# its storage pointer (a changed ``.data`` shows there) and its version counter (an in-place write shows there).
_Slot = tuple[Any, str, str, "torch.Tensor | None", int, int]


class ModelGuard:
    """Remembers flags, tensors and hooks; :meth:`restore` undoes everything, and checks.

    Kept to plain tuples and one pass each way: it runs around every profile, and a meta
    profile of ResNet-50 takes about 11 ms.
    """

    def __init__(self, model: nn.Module) -> None:
        self._model = model
        modules: dict[int, tuple[str, nn.Module]] = {}
        for path, module in model.named_modules(remove_duplicate=False):
            if id(module) not in modules:
                modules[id(module)] = (path, module)
        self._modules = list(modules.values())
        self._training = [(module, module.training) for _, module in self._modules]
        self._hooks = [(path, module, _hook_keys(module)) for path, module in self._modules]
        slots: list[_Slot] = []
        self._parameter_tables: set[int] = set()
        for path, module in self._modules:
            prefix = f"{path}." if path else ""
            for table_name in _TABLES:
                table = _table(module, table_name)
                if table_name == "_parameters":
                    self._parameter_tables.add(id(table))
                for name, tensor in table.items():
                    if tensor is None:
                        slots.append((table, name, prefix + name, None, 0, 0))
                    else:
                        slots.append((table, name, prefix + name, tensor, tensor.data_ptr(), tensor._version))
        self._slots = slots
        self._param_data: list[tuple[nn.Parameter, torch.Tensor]] = []
        self._buffers: list[tuple[nn.Module, str, torch.Tensor]] = []
        self._swapped: set[int] = set()  # tensors given other data or copies for a real run: versions not read
        self._stand_ins: dict[int, torch.Tensor] = {}
        self._script_lists: list[tuple[Any, list[torch.Tensor]]] = []
        self.buffer_stand_ins: list[tuple[torch.Tensor, torch.Tensor]] = []

    def use_eval_mode(self) -> None:
        if any(training for _, training in self._training):  # eval() walks every module: skip it when it would change nothing
            try:
                self._model.eval()
            except NotImplementedError:  # an exported program's module: its graph's mode was fixed when exported
                pass

    def parameter_paths(self) -> list[tuple[str, torch.Tensor]]:
        """(path, tensor) of every parameter slot, as noted."""
        return [(path, tensor) for table, _, path, tensor, _, _ in self._slots
                if tensor is not None and id(table) in self._parameter_tables]

    @property
    def modules(self) -> list[tuple[str, nn.Module]]:
        """(first path, module) of every module once."""
        return self._modules

    def swap_in_meta(self) -> dict[int, tuple[int, int]]:
        """Put a meta stand-in in every parameter and buffer slot (one per tensor, so tied
        weights stay tied); :meth:`restore` puts the originals back. Returns the parameter
        stand-ins by id: (id of the original, its element count); :attr:`buffer_stand_ins`
        pairs each buffer's stand-in with its original."""
        stand_ins: dict[int, torch.Tensor] = {}
        parameters: dict[int, tuple[int, int]] = {}
        for table, name, _, tensor, _, _ in self._slots:
            if tensor is None:
                continue
            stand_in = stand_ins.get(id(tensor))
            if stand_in is None:
                stand_in = stand_ins[id(tensor)] = torch.empty_like(tensor, device="meta")
                if id(table) in self._parameter_tables:
                    parameters[id(stand_in)] = (id(tensor), tensor.numel())
                else:
                    self.buffer_stand_ins.append((stand_in, tensor))
            table[name] = stand_in
        self._stand_ins = stand_ins  # alive until restore: ids in ``parameters`` stay theirs
        self._swap_script_lists(stand_ins)
        return parameters

    def _swap_script_lists(self, stand_ins: dict[int, torch.Tensor]) -> None:
        """A TorchScript RNN keeps its weights a second time, in its ``_flat_weights`` list (an
        eager one reads them from its slots): the stand-ins go there too, the originals back after."""
        for _, module in self._modules:
            if not isinstance(module, torch.jit.ScriptModule) or not module._c.hasattr("_flat_weights"):
                continue
            originals = list(module._flat_weights)
            self._script_lists.append((module, originals))
            module._flat_weights = [stand_ins.get(id(tensor), tensor) for tensor in originals]

    def swap_in_copies(self, device: torch.device) -> None:
        """Give the model buffers (and, off its device, parameters) that it may freely use."""
        for param in self._model.parameters():
            if param.device != device:
                self._param_data.append((param, param.data))
                self._swapped.add(id(param))
                param.data = param.data.to(device)
        copies: dict[int, torch.Tensor] = {}
        for _, module in self._modules:
            for name, buffer in module._buffers.items():
                if buffer is None:
                    continue
                if id(buffer) not in copies:
                    copies[id(buffer)] = buffer.to(device, copy=True)
                self._buffers.append((module, name, buffer))
                self._swapped.add(id(buffer))
                module._buffers[name] = copies[id(buffer)]

    def restore(self) -> list[str]:
        """Put everything back, then check it; returns what is still not as found (empty when all is well)."""
        for param, data in reversed(self._param_data):
            param.data = data
        for module, name, buffer in reversed(self._buffers):
            module._buffers[name] = buffer
        for module, originals in reversed(self._script_lists):
            module._flat_weights = originals
        self._script_lists.clear()
        self._param_data.clear()
        self._buffers.clear()
        self._stand_ins = {}
        self.buffer_stand_ins = []
        wrong = []
        for table, name, path, tensor, pointer, _ in self._slots:
            if (table[name] if name in table else None) is not tensor:  # a helper's leftover: the original goes back
                table[name] = tensor
            if tensor is not None and tensor.data_ptr() != pointer:
                wrong.append(f"{path} (its data)")
        for module, training in self._training:
            if module.training != training:
                module.training = training
        for path, module, keys in self._hooks:
            if _hook_keys(module) != keys:
                _drop_hooks_added(module, keys)
                if _hook_keys(module) != keys:
                    wrong.append(f"{path} (hooks)")
        return wrong

    def sizes(self) -> tuple[int, int]:
        """(every parameter's elements, each tensor once; every parameter's and buffer's bytes,
        each storage once), read from the slots already noted: no second walk of the model."""
        elements: dict[object, int] = {}
        storages: dict[object, int] = {}
        for table, _, _, tensor, _, _ in self._slots:
            if tensor is None:
                continue
            if id(table) in self._parameter_tables:
                elements[id(tensor)] = tensor.numel()
            key, size = storage_size(tensor)
            storages[key] = size
        for _, module in self._modules:
            for index, (tensor, is_weight) in enumerate(_packed_weights(module)):
                if is_weight:  # keyed apart from the slots' tensor ids: unpacked copies are new each call
                    elements[(id(module), index)] = tensor.numel()
                storages[(id(module), index)] = tensor.numel() * tensor.element_size()
        return sum(elements.values()), sum(storages.values())

    def parameters_written(self) -> list[str]:
        """Parameters and buffers the forward changed in place: real ones it ran on (or, on meta, any it reached)."""
        swapped = self._swapped
        return [path for _, _, path, tensor, _, version in self._slots
                if tensor is not None and tensor._version != version and id(tensor) not in swapped]


def _packed_weights(module: nn.Module) -> tuple[tuple[torch.Tensor, bool], ...]:
    """A quantized module's weight and bias (``torch.ao.nn.quantized`` convs and linears, static
    and dynamic): packed for their kernels, they are no parameters, but they are the model's
    weights. Read through the module's own ``weight()``/``bias()``; the weight's int8 elements
    at one byte each, and its per-channel scales and zero points where it has them (stored,
    not weights: the flag says which are)."""
    weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
    if not hasattr(module, "_packed_params") or not callable(weight) or isinstance(weight, torch.Tensor):
        return _packed_recurrent(module)
    unpacked = weight()
    found = [(unpacked, True)]
    if unpacked.is_quantized and unpacked.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric,
                                                        torch.per_channel_affine_float_qparams):
        found += [(unpacked.q_per_channel_scales(), False), (unpacked.q_per_channel_zero_points(), False)]
    stored_bias = bias() if callable(bias) else None
    if isinstance(stored_bias, torch.Tensor):
        found.append((stored_bias, True))
    return tuple(found)


def _packed_recurrent(module: nn.Module) -> tuple[tuple[torch.Tensor, bool], ...]:
    """A dynamically quantized RNN's weights: each layer's cell parameters (held by a
    ``PackedParameter`` module as ``param``), or a quantized cell's two packed linears
    (``_packed_weight_ih``/``_hh``); each packed linear holds its weight and bias."""
    found: list[tuple[torch.Tensor, bool]] = []
    for name in ("param", "_packed_weight_ih", "_packed_weight_hh"):
        held = module.__dict__.get(name)
        if not isinstance(held, torch.ScriptObject):
            continue
        linears = [held] if held._has_method("unpack") else [
            item for item in _cell_state(held) if isinstance(item, torch.ScriptObject) and item._has_method("unpack")]
        for linear in linears:
            for tensor in linear.unpack():
                if isinstance(tensor, torch.Tensor):
                    found.append((tensor, True))
    return tuple(found)


def _cell_state(cell: torch.ScriptObject) -> list[Any]:
    """The packed linears of a quantized RNN's ``CellParamsBase``, read from its state."""
    try:
        state = cell.__getstate__()[0]
    except Exception:  # noqa: BLE001 - a script object of another class: it holds no weights we know
        return []
    return list(state[-1]) if isinstance(state, tuple) and state and isinstance(state[-1], list) else []


def _table(module: nn.Module, name: str) -> Any:
    """A module's ``_parameters`` or ``_buffers``: its own dict, or a ScriptModule's wrapper of the C++ one."""
    found = module.__dict__.get(name)
    return found if found is not None else getattr(module, name)


def _hook_keys(module: nn.Module) -> tuple[tuple[int, ...], ...] | None:
    """The module's forward hooks by key; None for the common module with none (and for a ScriptModule)."""
    found = module.__dict__
    pre, post = found.get("_forward_pre_hooks", {}), found.get("_forward_hooks", {})
    return (tuple(pre), tuple(post)) if pre or post else None


def _drop_hooks_added(module: nn.Module, keys: tuple[tuple[int, ...], ...] | None) -> None:
    """A hook the run registered and did not remove (handles are removed in a finally: this is the check)."""
    for table, before in zip(_HOOK_TABLES, keys or ((), ())):
        hooks = getattr(module, table)
        for key in [key for key in hooks if key not in before]:
            del hooks[key]
            for extra in ("_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks_with_kwargs"):
                getattr(module, extra, {}).pop(key, None)
