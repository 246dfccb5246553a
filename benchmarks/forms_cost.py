"""What counting at the dispatcher costs, and what each form of a model costs to profile.

Usage::

    python benchmarks/forms_cost.py [--before REF] [--pairs N] [--json PATH]

Both versions of the package live in this process, as in ``before_after.py``: "before"
is the ``pytest_convbudget/`` of ``REF`` (by default ``1c6e4c5``, the last commit without
the dispatcher's op counting), renamed; "after" is the working tree's. Timed interleaved:

* ``before/after``: the default eager path on meta (ResNet-50 at batch 32, ViT-B/16 at
  batch 1; target after <= 1.15 x before), ``count="all"`` on meta, and the real-device
  path (ResNet-18 at batch 1 on the CPU; target: no slower);
* ``all/conv``: ``count="all"`` against the default count, after only (target <= 1.5 x);
* ``all/FlopCounterMode``: ``count="all"`` on meta against ``FlopCounterMode`` over a
  forward of a meta copy of the model (target: faster);
* ``form/eager``: ResNet-18 traced, scripted, exported, ``.module()``'d and compiled,
  each profiled on meta against the eager module (after only): the forms' own cost.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from before_after import both_packages  # noqa: E402
from timing import Plan, alternate  # noqa: E402
from zoo_models import import_torchvision  # noqa: E402


def row(rows: list[dict[str, Any]], group: str, case: str, a: str, b: str, pair: Any, target: str) -> None:
    """Medians and their ratio, and the ratio of the minima: on a shared 2-core machine the
    medians move by 0.1-0.2 from run to run, the minima (each side's undisturbed run) less."""
    ratio = pair.a_s / pair.b_s
    least = min(pair.a_samples) / min(pair.b_samples)
    rows.append({"group": group, "case": case, "a": a, "b": b, "a_ms": pair.a_s * 1e3, "b_ms": pair.b_s * 1e3,
                 "ratio": ratio, "ratio_of_minima": least, "target": target, "pairs": pair.pairs})
    print(f"  {group:20} {case:34} {pair.a_s * 1e3:9.2f} ms {pair.b_s * 1e3:9.2f} ms  {ratio:5.2f}x  "
          f"(minima {least:5.2f}x; {target})")


def meta_copy(model: torch.nn.Module) -> torch.nn.Module:
    return copy.deepcopy(model).to("meta")


def flop_counter(model: torch.nn.Module, data: torch.Tensor) -> Callable[[], int]:
    def run() -> int:
        with FlopCounterMode(display=False) as counter:
            model(data)
        return counter.get_total_flops()

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="1c6e4c5")
    parser.add_argument("--pairs", type=int, default=11)
    parser.add_argument("--json", default=None)
    options = parser.parse_args(argv)
    torchvision = import_torchvision()
    if torchvision is None:
        print("torchvision is not installed: nothing to measure")
        return 1
    before, after = both_packages(options.before, "forms-cost-")
    plan = Plan(min_pairs=options.pairs, max_pairs=options.pairs, budget_s=120)
    rows: list[dict[str, Any]] = []
    print(f"after (working tree) against before ({options.before}), medians of {options.pairs} interleaved pairs")
    images = {"resnet50 b32": (torchvision.models.resnet50, torch.rand(32, 3, 224, 224)),
              "vit_b_16 b1": (torchvision.models.vit_b_16, torch.rand(1, 3, 224, 224))}
    for label, (build, data) in images.items():
        model = build().eval()
        for count in ("conv", "all"):
            pair = alternate(lambda: after.profile(model, data, device="meta", count=count),
                             lambda: before.profile(model, data, device="meta", count=count), plan)
            assert pair.a_result.total_macs == pair.b_result.total_macs or count == "all"
            row(rows, "before/after", f"{label} meta count={count}", "after", "before", pair,
                "<= 1.15x" if count == "conv" else "report")
        pair = alternate(lambda: after.profile(model, data, device="meta", count="all"),
                         lambda: after.profile(model, data, device="meta"), plan)
        row(rows, "all/conv", f"{label} meta", "count=all", "count=conv", pair, "<= 1.5x")
        on_meta, meta_data = meta_copy(model), data.to("meta")
        pair = alternate(lambda: after.profile(model, data, device="meta", count="all"),
                         flop_counter(on_meta, meta_data), plan)
        assert 2 * pair.a_result.total_macs >= pair.b_result
        row(rows, "all/FlopCounterMode", f"{label} meta", "count=all", "FlopCounterMode", pair, "< 1x")
    small = torchvision.models.resnet18().eval()
    image = torch.rand(1, 3, 224, 224)
    for count in ("conv", "all"):
        pair = alternate(lambda: after.profile(small, image, device="cpu", count=count),
                         lambda: before.profile(small, image, device="cpu", count=count), plan)
        row(rows, "before/after", f"resnet18 b1 cpu count={count}", "after", "before", pair, "<= 1x (noise ~5%)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation
        with torch.no_grad():
            forms = {"jit.trace": torch.jit.trace(small, image), "jit.script": torch.jit.script(small)}
        program = torch.export.export(small, (image,))
        forms.update({"ExportedProgram": program, "export().module()": program.module(),
                      "torch.compile": torch.compile(small)})
    for name, form in forms.items():
        pair = alternate(lambda: after.profile(form, image, device="meta", count="all"),
                         lambda: after.profile(small, image, device="meta", count="all"), plan)
        assert pair.a_result.total_macs == pair.b_result.total_macs
        row(rows, "form/eager", f"resnet18 b1 meta {name}", name, "eager", pair, "report")
    if options.json:
        Path(options.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
