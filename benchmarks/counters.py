"""Measurement 4: pytest-convbudget against other FLOP counters.

Every counter is called the way its own documentation shows, on its own
fresh copy of the model, in this process. Their conventions differ, so each
one also gets a converter that turns what it reports into our unit (MACs of
the whole batch, no bias adds) before the conv counts are compared:

* thop: MACs of the whole batch, no bias; also counts BatchNorm, pools,
  linear layers. Its per-module breakdown gives the conv share exactly.
* ptflops, ``pytorch`` backend: MACs PER SAMPLE (it divides by the batch),
  a conv's bias adds included; also counts norms, activations, pools and
  patched functional calls. A second call that ignores every non-conv
  module type gives the conv share.
* ptflops, ``aten`` backend: MACs of the whole batch of ``aten.convolution``
  and the matmul ops (linear), bias adds included, and nothing else.
* fvcore ``FlopCountAnalysis``: "flops" that are really MACs, whole batch,
  no bias; ``by_operator()["conv"]`` is the conv share.
* ``torch.utils.flop_counter.FlopCounterMode``: FLOPs = 2 x MACs, whole
  batch, no bias; the ``aten.convolution`` entry is the conv share.

None of these packages is a dependency of pytest-convbudget: a counter that
cannot be imported is reported as "not installed" and its row is skipped.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import sys
from dataclasses import asdict, dataclass, replace
from math import prod
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from pytest_convbudget import profile
from speed import Workload
from timing import Plan, Row, alternate, speedup

MATMUL_OPS = ("mm", "addmm", "bmm", "matmul")


@dataclass(frozen=True)
class OurCounts:
    """Our figures for one forward, split the ways the other tools split theirs."""

    conv_macs: int
    linear_macs: int
    conv_bias_adds: int
    linear_bias_adds: int
    batch: int
    conv_names: frozenset[str]

    @classmethod
    def from_cost(cls, cost: Any) -> OurCounts:
        """Split a ``profile(..., count=["conv", "linear"])`` result into conv and linear parts.

        A bias add happens once per output element of a call, so the whole
        batch's bias adds are the output's element count, batch included.
        """
        conv = [layer for layer in cost.layers if layer.kind != "linear"]
        linear = [layer for layer in cost.layers if layer.kind == "linear"]
        return cls(
            conv_macs=sum(layer.total_macs for layer in conv),
            linear_macs=sum(layer.total_macs for layer in linear),
            conv_bias_adds=sum(prod(layer.output_shape) for layer in conv if layer.bias),
            linear_bias_adds=sum(prod(layer.output_shape) for layer in linear if layer.bias),
            batch=cost.batch_size,
            conv_names=frozenset(layer.name for layer in conv),
        )


@dataclass(frozen=True)
class CountCheck:
    """A tool's conv count, converted to our unit, beside ours; and its total."""

    tool: str
    their_conv_macs: int
    our_conv_macs: int
    their_total: float
    our_total_same_terms: int
    total_meaning: str
    workload: str = ""

    @property
    def conv_agrees(self) -> bool:
        return self.their_conv_macs == self.our_conv_macs

    @property
    def total_difference(self) -> float:
        return self.their_total - self.our_total_same_terms

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["conv_agrees"] = self.conv_agrees
        data["total_difference"] = self.total_difference
        return data


@dataclass(frozen=True)
class Counter:
    """One other tool: how to call it, and how to read its conv count back.

    ``run`` is the timed documented call; ``check`` may make one more,
    untimed call when the tool only reports a total by default.
    """

    name: str
    label: str
    module: str
    run: Callable[[nn.Module, torch.Tensor], Any]
    check: Callable[[Any, nn.Module, torch.Tensor, OurCounts], CountCheck]
    on_meta: bool = False
    available: Callable[[], str | None] = lambda: None


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it yet."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# --- thop -----------------------------------------------------------------


def run_thop(model: nn.Module, data: torch.Tensor) -> Any:
    import thop

    return thop.profile(model, inputs=(data,), verbose=False, ret_layer_info=True)


def _thop_conv_ops(layer_info: dict[str, Any], names: frozenset[str], prefix: str = "") -> float:
    """Sum thop's per-module ops over the modules we count as convs."""
    total = 0.0
    for child, (ops, _params, below) in layer_info.items():
        name = f"{prefix}{child}"
        if name in names:
            total += ops
        elif below:
            total += _thop_conv_ops(below, names, name + ".")
    return total


def check_thop(result: Any, model: nn.Module, data: torch.Tensor, ours: OurCounts) -> CountCheck:
    total, _params, layer_info = result
    return CountCheck(
        tool="thop",
        their_conv_macs=round(_thop_conv_ops(layer_info, ours.conv_names)),
        our_conv_macs=ours.conv_macs,
        their_total=total,
        our_total_same_terms=ours.conv_macs + ours.linear_macs,
        total_meaning="whole-batch MACs; its total adds BatchNorm (2 per element) and pooling ops "
        "to the conv and linear MACs we count",
    )


# --- ptflops --------------------------------------------------------------


def _ptflops_backends() -> set[str]:
    """The backends this ptflops version accepts (old releases had one, no switch)."""
    try:
        from ptflops.flops_counter import FLOPS_BACKEND  # type: ignore[import-not-found]
    except ImportError:
        return {"pytorch"}
    return {backend.value for backend in FLOPS_BACKEND}


def _ptflops_call(model: nn.Module, data: torch.Tensor, backend: str, **options: Any) -> Any:
    """``get_model_complexity_info`` on exactly ``data`` (batch included)."""
    from ptflops import get_model_complexity_info

    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        macs, params = get_model_complexity_info(
            model, tuple(data.shape[1:]), input_constructor=lambda _res: data,
            as_strings=False, print_per_layer_stat=False, backend=backend, ost=quiet, **options,
        )
    if macs is None:
        raise RuntimeError(f"ptflops ({backend}) failed: {quiet.getvalue().strip()[-300:]}")
    return macs, params


def ptflops_runner(backend: str) -> Callable[[nn.Module, torch.Tensor], Any]:
    def run(model: nn.Module, data: torch.Tensor) -> Any:
        return _ptflops_call(model, data, backend)

    return run


def _non_conv_types(model: nn.Module) -> list[type]:
    return sorted(
        {type(module) for module in model.modules() if not isinstance(module, nn.modules.conv._ConvNd)},
        key=lambda kind: kind.__qualname__,
    )


def check_ptflops_pytorch(result: Any, model: nn.Module, data: torch.Tensor, ours: OurCounts) -> CountCheck:
    """The pytorch backend hooks modules: ignoring every non-conv type leaves convs alone."""
    conv_only, _ = _ptflops_call(
        model, data, "pytorch", ignore_modules=_non_conv_types(model),
        backend_specific_config={"count_functional": False},
    )
    per_sample_total, _ = result
    return CountCheck(
        tool="ptflops/pytorch",
        their_conv_macs=conv_only * ours.batch - ours.conv_bias_adds,
        our_conv_macs=ours.conv_macs,
        their_total=per_sample_total * ours.batch,
        our_total_same_terms=ours.conv_macs + ours.linear_macs + ours.conv_bias_adds + ours.linear_bias_adds,
        total_meaning="per-sample MACs (x batch here) with bias adds; its total adds BatchNorm, "
        "activations, pooling and element-wise ops to conv and linear",
    )


def check_ptflops_aten(result: Any, model: nn.Module, data: torch.Tensor, ours: OurCounts) -> CountCheck:
    """The aten backend counts convolution and matmul ops: ignoring matmuls leaves convs."""
    aten = torch.ops.aten
    ignored = [getattr(aten, op) for op in MATMUL_OPS if hasattr(aten, op)]
    conv_only, _ = _ptflops_call(model, data, "aten", ignore_modules=ignored)
    total, _ = result
    return CountCheck(
        tool="ptflops/aten",
        their_conv_macs=conv_only - ours.conv_bias_adds,
        our_conv_macs=ours.conv_macs,
        their_total=total,
        our_total_same_terms=ours.conv_macs + ours.linear_macs + ours.conv_bias_adds + ours.linear_bias_adds,
        total_meaning="whole-batch MACs of aten.convolution and matmul ops, bias adds included; "
        "nothing else, so it should equal our conv+linear MACs plus bias adds",
    )


# --- fvcore ---------------------------------------------------------------


def run_fvcore(model: nn.Module, data: torch.Tensor) -> Any:
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, data)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analysis.total()
    return analysis


def check_fvcore(result: Any, model: nn.Module, data: torch.Tensor, ours: OurCounts) -> CountCheck:
    return CountCheck(
        tool="fvcore",
        their_conv_macs=int(result.by_operator().get("conv", 0)),
        our_conv_macs=ours.conv_macs,
        their_total=result.total(),
        our_total_same_terms=ours.conv_macs + ours.linear_macs,
        total_meaning="whole-batch MACs (fvcore calls them flops), no bias; its total adds "
        "batch_norm, pooling and other traced ops to conv and linear",
    )


# --- torch.utils.flop_counter ---------------------------------------------


def run_flop_counter(model: nn.Module, data: torch.Tensor) -> Any:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(data)
    return counter


def check_flop_counter(result: Any, model: nn.Module, data: torch.Tensor, ours: OurCounts) -> CountCheck:
    counts = result.get_flop_counts().get("Global", {})
    conv_flops = sum(value for op, value in counts.items() if "convolution" in str(op))
    return CountCheck(
        tool="FlopCounterMode",
        their_conv_macs=conv_flops // 2,
        our_conv_macs=ours.conv_macs,
        their_total=result.get_total_flops() / 2,
        our_total_same_terms=ours.conv_macs + ours.linear_macs,
        total_meaning="whole-batch FLOPs = 2 x MACs (halved here), no bias; counts convolution "
        "and matmul ops only, so it should equal our conv+linear MACs",
    )


def _ptflops_has(backend: str) -> Callable[[], str | None]:
    def available() -> str | None:
        if not installed("ptflops"):
            return "not installed"
        if backend not in _ptflops_backends():
            return f"this ptflops version has no {backend!r} backend"
        return None

    return available


COUNTERS = (
    Counter("thop", "thop.profile", "thop", run_thop, check_thop),
    Counter(
        "ptflops_pytorch", "ptflops (pytorch)", "ptflops", ptflops_runner("pytorch"),
        check_ptflops_pytorch, available=_ptflops_has("pytorch"),
    ),
    Counter(
        "ptflops_aten", "ptflops (aten)", "ptflops", ptflops_runner("aten"),
        check_ptflops_aten, available=_ptflops_has("aten"),
    ),
    Counter("fvcore", "fvcore FlopCountAnalysis", "fvcore", run_fvcore, check_fvcore),
    Counter("flopcounter_real", "FlopCounterMode (cpu)", "torch", run_flop_counter, check_flop_counter),
    Counter(
        "flopcounter_meta", "FlopCounterMode (meta)", "torch", run_flop_counter, check_flop_counter,
        on_meta=True,
    ),
)


def why_unavailable(counter: Counter) -> str | None:
    """``None`` when the counter can run here, else the reason it cannot."""
    if not installed(counter.module):
        return "not installed"
    _load_torchvision_first()
    return counter.available()


def _load_torchvision_first() -> None:
    """ptflops imports torchvision when it is installed. A torchvision wheel built for
    another torch build fails at import (``torchvision::nms does not exist``); the
    tests' loader imports it without its compiled ops, which no counter needs."""
    if installed("torchvision"):
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from zoo_models import import_torchvision

        import_torchvision()


def counter_row(counter: Counter, work: Workload, plan: Plan) -> tuple[Row, CountCheck]:
    """Our meta profile against one tool, alternated, then their conv count checked.

    Ours runs with ``count=["conv", "linear"]`` because every tool here counts
    linear layers too, so both sides do comparable work. The meta copy that
    ``FlopCounterMode (meta)`` needs is built before timing, which favours it.
    """
    ours_model, their_model = work.build(), work.build()
    data = work.real_input()
    if counter.on_meta:
        their_model = copy.deepcopy(their_model).to("meta")
        their_data = work.meta_input()
    else:
        their_data = data
    pair = alternate(
        lambda: profile(ours_model, data, device="meta", count=["conv", "linear"]),
        lambda: counter.run(their_model, their_data),
        plan,
    )
    ours = OurCounts.from_cost(pair.a_result)
    check = replace(counter.check(pair.b_result, their_model, their_data, ours), tool=counter.label, workload=work.label)
    row = speedup(
        f"vs_{counter.name}/{work.label}", "counters", pair, ("profile(meta)", counter.label), 1.0,
        strict=True,
        note="conv counts agree" if check.conv_agrees else
        f"CONV COUNTS DIFFER: theirs {check.their_conv_macs:,} vs ours {check.our_conv_macs:,}",
    )
    row.extra["count_check"] = check.to_dict()
    return row, check
