"""Leave the user's model exactly as it was found.

A real-device profile runs the model on swapped-in tensors: buffers are
replaced by copies (so a forward that updates them cannot change the
originals) and, when the model must move device, parameters get a moved
``.data`` for the call. Afterwards the original tensor objects are put back,
never copied back, so weights are bitwise what they were.

Parameters that stay on their device are not copied: a copy of every weight
would cost as much as a third of a batch-1 forward. Their version counters
tell whether the forward wrote into one in place, and that is reported.
"""

from __future__ import annotations

import torch
from torch import nn


class ModelGuard:
    """Remembers training flags and tensors; :meth:`restore` undoes everything."""

    def __init__(self, model: nn.Module) -> None:
        self._model = model
        self._training = [(module, module.training) for module in model.modules()]
        self._param_data: list[tuple[nn.Parameter, torch.Tensor]] = []
        self._buffers: list[tuple[nn.Module, str, torch.Tensor]] = []
        self._versions: list[tuple[str, nn.Parameter, int]] = []

    def use_eval_mode(self) -> None:
        if any(training for _, training in self._training):  # eval() walks every module: skip it when it would change nothing
            self._model.eval()

    def swap_in_copies(self, device: torch.device) -> None:
        """Give the model buffers (and, off its device, parameters) that it may freely use."""
        for name, param in self._model.named_parameters():
            if param.device != device:
                self._param_data.append((param, param.data))
                param.data = param.data.to(device)
            else:
                self._versions.append((name, param, param._version))
        copies: dict[int, torch.Tensor] = {}
        for module in self._model.modules():
            for name, buffer in module._buffers.items():
                if buffer is None:
                    continue
                if id(buffer) not in copies:
                    copies[id(buffer)] = buffer.to(device, copy=True)
                self._buffers.append((module, name, buffer))
                module._buffers[name] = copies[id(buffer)]

    def restore(self) -> None:
        for param, data in reversed(self._param_data):
            param.data = data
        for module, name, buffer in reversed(self._buffers):
            module._buffers[name] = buffer
        for module, training in self._training:
            if module.training != training:
                module.training = training
        self._param_data.clear()
        self._buffers.clear()

    def parameters_written(self) -> list[str]:
        """Names of parameters the forward changed in place (a real run on their own device)."""
        written = [name for name, param, version in self._versions if param._version != version]
        self._versions.clear()
        return written
