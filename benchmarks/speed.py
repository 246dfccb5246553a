"""Measurements 1, 2, 3 and 7: what profiling costs next to a forward pass.

Each function builds its own model so that no row inherits hooks, caches or
moved tensors from another, and returns finished :class:`timing.Row` objects.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from pytest_convbudget import profile
from timing import Plan, Row, alternate, at_most, speedup

OVERHEAD_LIMIT = 1.05
META_LEAD = 50.0
FLOOR_LIMIT = 1.2
SCALE_LIMIT = 1.5


@dataclass(frozen=True)
class Workload:
    """A model factory and one input shape: what every row is measured on."""

    model: str
    factory: Callable[[], nn.Module]
    shape: tuple[int, ...]

    @property
    def label(self) -> str:
        return f"{self.model}/{'x'.join(str(size) for size in self.shape)}"

    def build(self) -> nn.Module:
        """A fresh model in eval mode, seeded so that every build is the same net."""
        torch.manual_seed(0)
        return self.factory().eval()

    def real_input(self) -> torch.Tensor:
        return torch.rand(self.shape)

    def meta_input(self) -> torch.Tensor:
        return torch.empty(self.shape, device="meta")


def bare_forward(model: nn.Module, data: torch.Tensor) -> Callable[[], object]:
    """The forward a budget test would run anyway, with no counting at all."""

    def run() -> object:
        with torch.no_grad():
            return model(data)

    return run


def meta_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` living on meta, built once outside any timing.

    This is the cheapest way to run the same forward without arithmetic, so
    its time is the floor that no shape-propagating counter can go under.
    """
    return copy.deepcopy(model).to("meta")


def same_counts(first: object, second: object) -> bool:
    """Two ``ConvCost`` agree on everything but what belongs to the device they ran on: its
    name, the trace of live bytes (each device's own allocation events; the peaks must
    agree) and the input values a meta profile computed."""
    a = first.to_dict()  # type: ignore[attr-defined]
    b = second.to_dict()  # type: ignore[attr-defined]
    for device_specific in ("device", "live_bytes", "input_value_bytes"):
        a.pop(device_specific, None)
        b.pop(device_specific, None)
    return a == b


def overhead_row(work: Workload, plan: Plan) -> Row:
    """1. A real-device profile against the bare forward it wraps.

    Users who must count on real tensors (a model that cannot run on meta)
    should pay almost nothing beyond the forward itself.
    """
    model, data = work.build(), work.real_input()
    pair = alternate(lambda: profile(model, data, device="cpu"), bare_forward(model, data), plan)
    return at_most(
        f"overhead/{work.label}", "overhead", pair, ("profile(cpu)", "model(x)"), OVERHEAD_LIMIT,
    )


def meta_vs_real_row(work: Workload, plan: Plan) -> tuple[Row, bool]:
    """2. The default meta profile against a real-device profile, same counts.

    Returns the row and whether both profiles produced identical results,
    which is a correctness claim rather than a timing: the caller fails the
    run when it does not hold.
    """
    model, data = work.build(), work.real_input()
    pair = alternate(
        lambda: profile(model, data, device="meta"), lambda: profile(model, data, device="cpu"), plan
    )
    equal = same_counts(pair.a_result, pair.b_result)
    row = speedup(
        f"meta_vs_real/{work.label}", "meta_vs_real", pair, ("profile(meta)", "profile(cpu)"), META_LEAD,
        note="counts identical" if equal else "COUNTS DIFFER between meta and cpu",
    )
    row.extra["counts_identical"] = equal
    row.extra["total_macs"] = pair.a_result.total_macs
    return row, equal


def floor_row(work: Workload, plan: Plan) -> Row:
    """3. A meta profile against a bare forward of a meta copy of the model.

    The difference is everything pytest-convbudget adds on top of the meta
    kernels: stand-in tensors, hooks, the function mode and the assembly.
    """
    model, data = work.build(), work.real_input()
    on_meta = meta_copy(model)
    pair = alternate(lambda: profile(model, data, device="meta"), bare_forward(on_meta, work.meta_input()), plan)
    return at_most(
        f"floor/{work.label}", "floor", pair, ("profile(meta)", "meta model(x)"), FLOOR_LIMIT,
        note="meta copy built once, outside the timing",
    )


def conv_stack(layers: int) -> nn.Sequential:
    """``layers`` identical small convs in a row: cost per layer is uniform,
    so any growth beyond linear comes from the profiler, not the model."""
    torch.manual_seed(0)
    return nn.Sequential(*(nn.Conv2d(8, 8, 3, padding=1) for _ in range(layers))).eval()


def scale_row(layers: int, smaller: int, plan: Plan) -> Row:
    """7. Profile time of a deep stack against one ``layers/smaller`` times shallower.

    The figure is the per-layer time of the deep stack over that of the
    shallow one: about 1 (or below, as fixed costs spread out) when the cost
    grows linearly, about ``layers/smaller`` when it grows quadratically.
    """
    deep, shallow = conv_stack(layers), conv_stack(smaller)
    data = torch.rand(1, 8, 8, 8)
    pair = alternate(lambda: profile(deep, data, device="meta"), lambda: profile(shallow, data, device="meta"), plan)
    per_layer_deep = pair.a_s / layers
    per_layer_shallow = pair.b_s / smaller
    ratio = per_layer_deep / per_layer_shallow
    return Row(
        name=f"scale/{layers}_vs_{smaller}",
        group="scale",
        a_label=f"{layers} convs",
        a=round(pair.a_s * 1000, 4),
        b_label=f"{smaller} convs",
        b=round(pair.b_s * 1000, 4),
        unit="ms",
        figure=round(ratio, 4),
        figure_text=f"{ratio:.3f}x per layer",
        target=f"<= {SCALE_LIMIT:g}x per layer",
        passed=ratio <= SCALE_LIMIT,
        samples=pair.pairs,
        note=f"{per_layer_deep * 1e6:.1f} vs {per_layer_shallow * 1e6:.1f} us per layer",
        extra={"us_per_layer": round(per_layer_deep * 1e6, 3), "us_per_layer_smaller": round(per_layer_shallow * 1e6, 3)},
    )


KINDS_LIMIT = 1.5


def all_kinds_row(work: Workload, plan: Plan) -> Row:
    """8. ``count="all"`` against the default ``count="conv"``, both on meta.

    Counting every kind hooks every module (to name each op's innermost
    module) and reads every matmul's shapes; that must stay a small price.
    """
    model, data = work.build(), work.real_input()
    pair = alternate(
        lambda: profile(model, data, device="meta", count="all"),
        lambda: profile(model, data, device="meta"), plan,
    )
    row = at_most(
        f"all_kinds/{work.label}", "all_kinds", pair, ('profile(meta, count="all")', "profile(meta)"), KINDS_LIMIT,
    )
    row.extra["total_macs_all"] = pair.a_result.total_macs
    row.extra["total_macs_conv"] = pair.b_result.total_macs
    return row


def flop_counter_on(model: nn.Module, data: torch.Tensor) -> Callable[[], int]:
    """``FlopCounterMode`` over a forward with grad enabled: under ``no_grad`` in eval,
    ``nn.MultiheadAttention`` takes a fused path that it does not count."""
    from torch.utils.flop_counter import FlopCounterMode

    def run() -> int:
        with FlopCounterMode(display=False) as counter:
            model(data)
        return counter.get_total_flops()

    return run


def all_kinds_vs_flop_counter_row(work: Workload, plan: Plan) -> Row:
    """8. ``count="all"`` against ``FlopCounterMode`` on a meta copy: faster, and
    ``2 * total_macs`` equals its total."""
    model, data = work.build(), work.real_input()
    on_meta = meta_copy(model)
    pair = alternate(
        lambda: profile(model, data, device="meta", count="all"), flop_counter_on(on_meta, work.meta_input()), plan,
    )
    equal = 2 * pair.a_result.total_macs == pair.b_result
    row = speedup(
        f"all_kinds_vs_flopcounter_meta/{work.label}", "all_kinds", pair,
        ('profile(meta, count="all")', "FlopCounterMode(meta)"), 1.0, strict=True,
        note=f"2 x total_macs {'equals' if equal else 'DIFFERS FROM'} FlopCounterMode's {pair.b_result:,}",
    )
    row.extra["counts_equal"] = equal
    return row
