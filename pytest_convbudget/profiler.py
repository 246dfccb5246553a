"""``profile()``: run one forward with hooks on every counted module and count.

The forward runs on the ``meta`` device by default: stand-in meta tensors take
the place of every parameter and buffer (``torch.func.functional_call``), so
no arithmetic runs, no activation memory is allocated, and the model's own
weights are never touched. Shapes, and so the counts, are exact.
"""

from __future__ import annotations

import gc
from functools import partial
from typing import Any, Callable, Mapping

import torch
from torch import nn

from .assemble import RawCall, RunInfo, assemble
from .config import is_known_device
from .errors import ProfileError
from .guard import ModelGuard
from .meta_shortcuts import SHORTCUTS
from .results import ConvCost, Shape
from .targets import LayerSpec, find_targets
from .watch import ConvWatch

DEVICE_CHOICES = ("auto", "meta", "cpu", "cuda", "cuda:N")


class ProfileUsageError(ProfileError):
    """``profile()`` was called with arguments it cannot use."""


class ModelChangedError(ProfileError, RuntimeError):
    """The model's own forward changed its parameters in place during a real-device run."""


def profile(
    model: nn.Module,
    *inputs: Any,
    kwargs: Mapping[str, Any] | None = None,
    device: str | torch.device = "auto",
    batch_size: int | None = None,
    include_linear: bool = False,
) -> ConvCost:
    """Count the conv params, FLOPs and MACs of one forward ``model(*inputs, **kwargs)``.

    ``device``: ``"meta"`` (shapes only), ``"cpu"``, ``"cuda"``/``"cuda:N"``
    (a real forward under ``torch.no_grad()``), or ``"auto"``: meta first,
    then a real forward on the model's own device if the model cannot run on
    meta. ``batch_size`` overrides the leading dimension of the first tensor
    input as the divisor for per-sample figures. ``include_linear`` also counts
    ``nn.Linear`` layers, as 1x1 convs over their input's last dimension.
    The model is left exactly as it was, whether this returns or raises.
    """
    if not isinstance(model, nn.Module):
        raise ProfileUsageError(f"profile() needs a torch.nn.Module, got {type(model).__name__}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0
    ):
        raise ProfileUsageError(f"batch_size must be a positive int, got {batch_size!r}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise ProfileUsageError(f"kwargs must be a dict of the forward's keyword arguments, got {type(kwargs).__name__}")
    if not isinstance(include_linear, bool):
        raise ProfileUsageError(f"include_linear must be True or False, got {include_linear!r}")
    kwargs = dict(kwargs or {})
    requested = _parse_device(device)
    targets = find_targets(model, include_linear)
    run = _Recorder(model, targets)
    fallback_reason = None
    if requested == "auto":
        try:
            used = run.on_meta(inputs, kwargs)
        except Exception as error:  # the model cannot run on meta: count on real tensors
            fallback_reason = f"could not run on meta ({_one_line(error)})"
        if fallback_reason is not None:  # outside the except: a real error is not chained to the meta one
            used = run.on_device(_model_device(model), inputs, kwargs)
    elif requested == "meta":
        used = run.on_meta(inputs, kwargs)
    else:
        used = run.on_device(torch.device(requested), inputs, kwargs)
    leaves = _tensor_leaves((inputs, kwargs))
    info = RunInfo(
        model=type(model).__name__,
        device=used,
        model_params=sum(param.numel() for param in model.parameters()),
        input_shapes=tuple(tuple(leaf.shape) for leaf in leaves),
        input_batch=leaves[0].shape[0] if leaves and leaves[0].dim() > 0 else None,
        input_ndim=leaves[0].dim() if leaves else None,
        batch_size=batch_size,
        include_linear=include_linear,
        fallback_reason=fallback_reason,
    )
    return assemble([spec for _, spec in targets], run.calls, run.uncounted, info)


class _Recorder:
    """Runs the forward with hooks and keeps what they saw."""

    def __init__(self, model: nn.Module, targets: list[tuple[nn.Module, LayerSpec]]) -> None:
        self.model = model
        self.targets = targets
        self.calls: list[RawCall] = []
        self.uncounted: list = []

    def on_meta(self, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        stand_ins = {
            name: torch.empty_like(tensor, device="meta")
            for named in (self.model.named_parameters(), self.model.named_buffers())
            for name, tensor in named
        }
        meta = torch.device("meta")
        args = _map_tensors(partial(_to_device, device=meta), inputs)
        meta_kwargs = _map_tensors(partial(_to_device, device=meta), kwargs)
        forward = partial(
            torch.func.functional_call, self.model, stand_ins, args, meta_kwargs,
            tie_weights=True, strict=False,
        )
        self._run(forward, guard=ModelGuard(self.model), device=None, shortcuts=SHORTCUTS)
        return "meta"

    def on_device(self, device: torch.device, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise ProfileUsageError(f"device {str(device)!r} requested, but CUDA is not available")
            if device.index is None:
                device = torch.device("cuda", torch.cuda.current_device())
        args = _map_tensors(partial(_to_device, device=device), inputs)
        moved_kwargs = _map_tensors(partial(_to_device, device=device), kwargs)
        self._run(partial(self.model, *args, **moved_kwargs), guard=ModelGuard(self.model), device=device)
        return str(device)

    def _run(
        self, forward: Callable[[], Any], guard: ModelGuard, device: torch.device | None,
        shortcuts: Mapping[Any, Callable[..., Any]] | None = None,
    ) -> None:
        self.calls = []
        watch = ConvWatch(shortcuts)
        handles = []
        collecting = gc.isenabled()
        gc.disable()  # the forward allocates many small objects; full collections made 10k-layer models superlinear
        try:
            guard.use_eval_mode()
            if device is not None:
                guard.swap_in_copies(device)
            for index, (module, spec) in enumerate(self.targets):
                handles.append(module.register_forward_pre_hook(partial(_enter, watch, spec.name)))
                handles.append(
                    module.register_forward_hook(
                        partial(self._leave, watch, index), with_kwargs=True, always_call=True
                    )
                )
            with torch.no_grad(), watch:
                forward()
        finally:
            for handle in handles:
                handle.remove()
            guard.restore()
            if collecting:
                gc.enable()
        written = guard.parameters_written()
        if written:
            raise ModelChangedError(
                f"the model's forward wrote into parameter(s) {', '.join(written[:5])} in place during a "
                "real-device profile; parameters are not copied for real runs, so they keep the new values. "
                "Profile on device='meta' (the default tries it first) to leave them untouched"
            )
        self.uncounted = watch.calls

    def _leave(self, watch: ConvWatch, index: int, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        watch.leave()  # also when the module raised (always_call): a caught error must not hide later convs
        if output is None:
            return
        data = args[0] if args else next(iter(kwargs.values()), None)
        result = output if isinstance(output, torch.Tensor) else _first_tensor(output)
        if isinstance(data, torch.Tensor) and result is not None:
            self.calls.append(RawCall(index, tuple(data.shape), tuple(result.shape)))


def _enter(watch: ConvWatch, name: str, module: nn.Module, args: tuple) -> None:
    watch.enter(name)


def _parse_device(device: str | torch.device) -> str:
    text = str(device)
    if not is_known_device(text):
        raise ProfileUsageError(f"unknown device {text!r}: expected one of {', '.join(DEVICE_CHOICES)}")
    return text


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    return tensor.to(device)


def _map_tensors(function: Callable[[torch.Tensor], torch.Tensor], value: Any) -> Any:
    """Apply ``function`` to every tensor inside tuples, lists and dicts."""
    if isinstance(value, torch.Tensor):
        return function(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        return type(value)(*(_map_tensors(function, item) for item in value))
    if isinstance(value, (tuple, list)):
        return type(value)(_map_tensors(function, item) for item in value)
    if isinstance(value, dict):
        return {key: _map_tensors(function, item) for key, item in value.items()}
    return value


def _tensor_leaves(value: Any) -> list[torch.Tensor]:
    leaves: list[torch.Tensor] = []
    _map_tensors(lambda tensor: leaves.append(tensor) or tensor, value)
    return leaves


def _first_tensor(value: Any) -> torch.Tensor | None:
    leaves = _tensor_leaves(value)
    return leaves[0] if leaves else None


def _one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip().splitlines()[0]
    return text if len(text) <= 200 else text[:197] + "..."
