"""``profile()``: run one forward with hooks on every counted module and count.

The forward runs on the ``meta`` device by default: the guard puts a meta
stand-in in every parameter and buffer slot for the call (and the originals
back after it), so no arithmetic runs, no activation memory is allocated, and
the model's own weights are never touched. Shapes, and so the counts, are
exact. The same forward's aten ops go past a :class:`~.dispatch_view.DispatchView`,
whose memory ledger finds the peak bytes the forward holds at once.
"""

from __future__ import annotations

import collections.abc
import gc
import re
from functools import partial
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

from ..words.errors import CountError, ProfileError
from ..words.vocabulary import DEFAULT_COUNT, DEVICE_CHOICES, ROOT_NAME, is_known_device
from .assemble import RunInfo, assemble
from .aten_watch import AtenWatch, owners
from .dispatch_view import CustomOpOnMeta, DispatchView, module_running
from .forms import call_paths, exported_input_refusal, runnable_module, runs_without_module_calls
from .guard import ModelGuard
from .input_values import KnownValues, UnknownValue
from .inputs import first_tensor, map_tensors, tensor_leaves
from .kinds import KINDS, parse_count
from .memory import MemoryFigures, MemoryLedger
from .meta_shortcuts import META_KERNELS, SHORTCUTS
from .results import ConvCost
from .targets import Target, find_targets
from .watch import OpWatch, RawCall, tensor_bytes


class ProfileUsageError(ProfileError):
    """``profile()`` was called with arguments it cannot use."""


class ModelChangedError(ProfileError, RuntimeError):
    """The model's own forward changed its parameters in place during a real-device run."""


def profile(
    model: Any,
    *inputs: Any,
    kwargs: Mapping[str, Any] | None = None,
    device: str | torch.device = "auto",
    batch_size: int | None = None,
    count: str | Sequence[str] | None = None,
    tokens: int | None = None,
) -> ConvCost:
    """Count the conv params, FLOPs and MACs of one forward ``model(*inputs, **kwargs)``.

    ``device``: ``"meta"`` (shapes only), ``"cpu"``, ``"cuda"``/``"cuda:N"``
    (a real forward under ``torch.no_grad()``), or ``"auto"``: meta first,
    then a real forward on the model's own device if the model cannot run on
    meta. ``batch_size`` overrides the leading dimension of the first tensor
    input as the divisor for per-sample figures. ``count``: the op kinds in the
    totals, a kind name, a list of them or ``"all"``; conv modules by default.
    ``tokens``: how many tokens the forward ran (for budgets per token); by default
    the batch times the sequence of the first integer input of shape (batch, sequence).
    The model is left exactly as it was, whether this returns or raises.
    """
    __tracebackhide__ = True
    model = runnable_module(model)  # an exported program's module; a compiled model's original, compiled never
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0
    ):
        raise ProfileUsageError(f"batch_size must be a positive int, got {batch_size!r}")
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens <= 0):
        raise ProfileUsageError(f"tokens must be a positive int, got {tokens!r}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise ProfileUsageError(f"kwargs must be a dict of the forward's keyword arguments, got {type(kwargs).__name__}")
    try:
        kinds = DEFAULT_COUNT if count is None else parse_count(count)
    except CountError as error:
        raise ProfileUsageError(str(error)) from None
    kwargs = dict(kwargs or {})
    requested = _parse_device(device)
    targets = find_targets(model, kinds)
    run = _Recorder(model, targets, kinds)
    try:
        used, fallback_reason = _count(run, model, requested, inputs, kwargs)
    except (AssertionError, ValueError) as error:  # an exported program's check of its inputs
        refusal = exported_input_refusal(model, error)
        if refusal is None:
            raise
        raise ProfileUsageError(refusal) from None
    except NotImplementedError as error:  # torch.cond, torch.while_loop: ops that run graphs of their own
        found = re.search(r"HigherOrderOperator (\w+)", str(error))
        if found is None:
            raise
        raise ProfileUsageError(
            f"the model calls torch.{found.group(1)}, a higher-order op whose inner ops a profile cannot see "
            "yet; profile the branch or body it runs as a module of its own"
        ) from None
    leaves = tensor_leaves((inputs, kwargs))
    memory = run.memory
    info = RunInfo(
        model=type(model).__name__,
        device=used,
        model_params=run.model_params,
        input_shapes=tuple(tuple(leaf.shape) for leaf in leaves),
        input_batch=leaves[0].shape[0] if leaves and leaves[0].dim() > 0 else None,
        input_ndim=leaves[0].dim() if leaves else None,
        batch_size=batch_size,
        count=kinds,
        fallback_reason=fallback_reason,
        weight_bytes=run.weight_bytes,
        activation_bytes=memory.activation_bytes if memory else None,
        peak_module=memory.peak_module if memory else "",
        live_bytes=memory.live_bytes if memory else (),
        tokens=tokens if tokens is not None else _token_count(leaves),
        input_value_bytes=run.input_value_bytes if used == "meta" else None,
    )
    return assemble([target for _, target in targets], run.records, run.uncounted, info)


def _count(run: _Recorder, model: nn.Module, requested: str, inputs: tuple[Any, ...],
           kwargs: dict[str, Any]) -> tuple[str, str | None]:
    """Run the forward where ``requested`` says: (the device used, why it left meta if it did)."""
    __tracebackhide__ = True
    fallback_reason = None
    if requested == "auto":
        try:
            used = run.on_meta(inputs, kwargs)
        except UnknownValue as error:  # a step needs a value computed from weights
            fallback_reason = f"could not run on meta ({_module_name(model, error.module)}: {error.what})"
        except CustomOpOnMeta as error:  # a library's op: its work is counted on a real forward
            fallback_reason = f"could not run on meta ({error})"
        except Exception as error:  # the model cannot run on meta: count on real tensors
            fallback_reason = f"could not run on meta ({_one_line(error)})"
        if fallback_reason is not None and _model_device(model).type == "meta":
            raise ProfileUsageError(
                f"{fallback_reason[len('could not run on meta ('):-1]}, and the model's weights are on meta: "
                "nothing can compute it; profile it with real weights (device='cpu'), or a smaller config"
            )
        if fallback_reason is not None:  # outside the except: a real error is not chained to the meta one
            used = run.on_device(_model_device(model), inputs, kwargs)
    elif requested == "meta":
        try:
            used = run.on_meta(inputs, kwargs)
        except UnknownValue as error:
            problem = f"{_module_name(model, error.module)}: {error.what}: it cannot be known on meta"
        except CustomOpOnMeta as error:
            problem = str(error)
        except NotImplementedError as error:  # an op with no meta kernel (quantized ops have none)
            op = _op_without_meta_kernel(error)
            if op is None:
                raise
            problem = f"{op} has no meta kernel: the model cannot run on meta"
        else:
            problem = None
        if problem is not None:
            raise ProfileUsageError(f"{problem}; profile on device='cpu' (or 'auto')")
    else:
        used = run.on_device(torch.device(requested), inputs, kwargs)
    return used, fallback_reason


class _Recorder:
    """Runs the forward with hooks and keeps what they saw."""

    def __init__(self, model: nn.Module, targets: list[tuple[nn.Module, Target]], count: Sequence[str]) -> None:
        self.model = model
        self.targets = targets
        self.count = count
        # Op kinds are shown under the innermost module that ran them: every module is hooked then.
        self.attribute = any(KINDS[kind].ops for kind in count)
        self.records: list = []
        self.uncounted: list = []
        self.memory: MemoryFigures | None = None
        self.model_params = 0
        self.weight_bytes = 0
        self.input_value_bytes: int | None = None  # real bytes computed for input-only values (meta only)

    def on_meta(self, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        __tracebackhide__ = True
        _import_before_meta_kernels()
        meta = torch.device("meta")
        args = map_tensors(partial(_to_device, device=meta), inputs)
        meta_kwargs = map_tensors(partial(_to_device, device=meta), kwargs)
        known = KnownValues()  # told in _run whether the model is a graph that bakes its devices in
        for original, moved in zip(tensor_leaves((inputs, kwargs)), tensor_leaves((args, meta_kwargs))):
            if not (original.dtype.is_floating_point or original.dtype.is_complex):  # ids, masks, positions
                known.know(moved, original, copy=True)
        self._run(partial(self.model, *args, **meta_kwargs), ModelGuard(self.model), meta, None, SHORTCUTS, known)
        self.input_value_bytes = known.computed_bytes
        return "meta"

    def on_device(self, device: torch.device, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        __tracebackhide__ = True
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise ProfileUsageError(f"device {str(device)!r} requested, but CUDA is not available")
            if device.index is None:
                device = torch.device("cuda", torch.cuda.current_device())
        args = map_tensors(partial(_to_device, device=device), inputs)
        moved_kwargs = map_tensors(partial(_to_device, device=device), kwargs)
        self._run(partial(self.model, *args, **moved_kwargs), ModelGuard(self.model), device, _OwnParameters(self.model))
        return str(device)

    def _run(
        self, forward: Callable[[], Any], guard: ModelGuard, device: torch.device,
        parameters: Mapping[int, tuple[object, int]] | None, shortcuts: Mapping[Any, Callable[..., Any]] | None = None,
        known: KnownValues | None = None,
    ) -> None:
        """``parameters`` is None on meta: the guard's stand-ins are the parameters then."""
        __tracebackhide__ = True
        watch = OpWatch(self.count, parameters or {}, shortcuts)
        # the module at a new peak: the hooks' innermost name when every module is hooked, else
        # read from the Python stack (a profile that counts modules alone hooks no other module)
        ledger = MemoryLedger(partial(_innermost, watch) if self.attribute else module_running)
        if runs_without_module_calls(self.model, (module for _, module in guard.modules)):  # named by their weights' modules
            watch.owners = lambda: owners(guard.parameter_paths(), guard.modules)
            watch.call_paths = call_paths(self.model, watch.rules)
            if known is not None:  # a graph names the device it was made on in its factory calls (a traced
                known.baked_devices = True  # RNN's initial states, an exported arange): on meta, they make meta tensors
        on_meta = parameters is None
        view = DispatchView([ledger, AtenWatch(watch)], None if known is None else known.run, on_meta=on_meta,
                            kernels=META_KERNELS if on_meta else None)
        handles = []
        collecting = gc.isenabled()
        gc.disable()  # the forward allocates many small objects; full collections made 10k-layer models superlinear
        try:
            guard.use_eval_mode()
            if parameters is None:
                watch.parameters = guard.swap_in_meta()
                for stand_in, original in guard.buffer_stand_ins if known is not None else ():
                    if not (original.dtype.is_floating_point or original.dtype.is_complex):
                        known.know(stand_in, original, copy=True)  # a real buffer of positions, ids or flags is known
            else:
                guard.swap_in_copies(device)
            self._hook(watch, handles)
            with torch.no_grad(), watch, view:
                try:
                    forward()
                except Exception as error:
                    # ours, raised inside a graph the TorchScript interpreter runs, comes back wrapped in
                    # its RuntimeError of many lines: the one line it was
                    if view.failure is not None and error is not view.failure:
                        raise view.failure.with_traceback(None) from None
                    raise
        finally:
            for handle in handles:
                handle.remove()
            unrestored = guard.restore()
            if collecting:
                gc.enable()
        if unrestored:  # pragma: no cover - restore puts back every slot it noted; this is the check that it did
            raise ModelChangedError(f"the model could not be left as found: {', '.join(unrestored[:5])} differ")
        written = guard.parameters_written()
        if written and parameters is None:
            raise ModelChangedError(
                f"the model's forward wrote into {', '.join(written[:5])} in place during a meta profile, "
                "through a path the stand-ins did not cover; they keep the new values"
            )
        if written:
            raise ModelChangedError(
                f"the model's forward wrote into parameter(s) {', '.join(written[:5])} in place during a "
                "real-device profile; parameters are not copied for real runs, so they keep the new values. "
                "Profile on device='meta' (the default tries it first) to leave them untouched"
            )
        self.records = watch.records
        self.uncounted = watch.uncounted
        self.memory = ledger.figures(partial(_module_name, self.model))
        self.model_params, self.weight_bytes = guard.sizes()

    def _hook(self, watch: OpWatch, handles: list[Any]) -> None:
        """Hooks on every counted module, and on every other one when op kinds need its name."""
        counted = {id(module) for module, _ in self.targets}
        for index, (module, target) in enumerate(self.targets):
            own_ops = KINDS[target.kind].own_ops
            handles.append(module.register_forward_pre_hook(partial(_enter, watch, target.name, own_ops)))
            handles.append(module.register_forward_hook(
                partial(_leave, watch, index), with_kwargs=True, always_call=True
            ))
        if self.attribute:
            for name, module in self.model.named_modules():
                if id(module) not in counted and not isinstance(module, torch.jit.ScriptModule):  # it takes no hooks
                    handles.append(module.register_forward_pre_hook(partial(_enter_module, watch, name or ROOT_NAME)))
                    handles.append(module.register_forward_hook(partial(_leave_module, watch), always_call=True))


class _OwnParameters(collections.abc.Mapping):
    """The model's parameters by ``id``, read when an op first asks: a conv-only profile
    of a CNN never does, and a real-device run keeps to its forward's cost."""

    def __init__(self, model: nn.Module) -> None:
        self._model = model
        self._table: dict[int, tuple[object, int]] | None = None

    def _read(self) -> dict[int, tuple[object, int]]:
        if self._table is None:
            self._table = {id(tensor): (id(tensor), tensor.numel()) for tensor in self._model.parameters()}
        return self._table

    def __getitem__(self, key: int) -> tuple[object, int]:
        return self._read()[key]

    def __iter__(self) -> Iterator[int]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())


def _enter(watch: OpWatch, name: str, own_ops: str | None, module: nn.Module, args: tuple) -> None:
    watch.enter(name, own_ops)


def _leave(watch: OpWatch, index: int, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
    place = watch.leave()  # also when the module raised (always_call): a caught error must not hide later calls
    if output is None:
        return
    data = args[0] if args else next(iter(kwargs.values()), None)
    result = output if isinstance(output, torch.Tensor) else first_tensor(output)
    if isinstance(data, torch.Tensor) and result is not None:
        watch.records.insert(place, RawCall(index, tuple(data.shape), tuple(result.shape), tensor_bytes(result)))


def _enter_module(watch: OpWatch, name: str, module: nn.Module, args: tuple) -> None:
    watch.enter_module(name)


def _leave_module(watch: OpWatch, module: nn.Module, args: tuple, output: Any) -> None:
    watch.leave_module()


def _innermost(watch: OpWatch) -> str:
    return watch.names[-1] if watch.names else ROOT_NAME


def _module_name(model: nn.Module, where: str | nn.Module | None) -> str:
    """A module's path in ``model`` (its first, as ``named_modules`` gives it)."""
    if where is None or isinstance(where, str):
        return where or ROOT_NAME
    for name, module in model.named_modules():
        if module is where:
            return name or ROOT_NAME
    return ROOT_NAME


def _token_count(leaves: Sequence[torch.Tensor]) -> int | None:
    """Batch times sequence of the first integer input of shape (batch, sequence): token ids."""
    for leaf in leaves:
        if leaf.dim() == 2 and not leaf.dtype.is_floating_point and not leaf.dtype.is_complex and leaf.dtype != torch.bool:
            return leaf.shape[0] * leaf.shape[1]
    return None


def _import_before_meta_kernels() -> None:
    """Import what torch's Python meta kernels import on their first call (torch._dynamo,
    through their guard against compiling): imported inside the forward, the import's
    reference cycles hold the forward's frames, and with them tensors the forward has
    dropped, until the collector runs; the first profile of a process would report a
    higher peak than the next. Most models pay this import on their first meta profile
    anyway."""
    import torch._dynamo  # noqa: F401


def _op_without_meta_kernel(error: NotImplementedError) -> str | None:
    """The op named by torch's error for an op with no meta kernel, else None (the model's own error)."""
    text = str(error)
    if "fake impl" not in text and "Meta' backend" not in text:  # 'Meta', 'SparseMeta', 'QuantizedMeta'
        return None
    found = re.search(r"\w+::\w+(\.\w+)?", text)
    return found.group(0) if found else "an op"


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


def _one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip().splitlines()[0]
    return text if len(text) <= 200 else text[:197] + "..."
