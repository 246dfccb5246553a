"""Models nobody here wrote, left as found: MONAI's DynUNet and every small timm model.

MONAI's DynUNet and timm's coat_lite_tiny register a submodule under two paths;
``torch.func.functional_call`` left meta tensors in one of them after a meta profile,
and the model's next forward raised. This builds each model from code (nothing is
downloaded), notes every parameter and buffer slot of every module path (the tensor
object, its device, storage and version, and a checksum of its values), profiles it
with the default ``device="auto"`` and ``count="all"``, and compares. Needs
``pip install timm monai`` (not a dependency of anything here)::

    python benchmarks/third_party_left_as_found.py [--limit N] [--pattern GLOB ...]

By default: DynUNet, then the timm models whose names match ``*tiny*``, ``*small*``,
``*nano*`` or ``*pico*``, in name order, up to ``--limit`` (145). A model timm cannot
build here, or whose own forward fails on the CPU, is counted as skipped with its
reason; a model the profile leaves changed is a failure, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from zoo_models import import_torchvision  # noqa: E402

import_torchvision()  # timm imports torchvision

import torch  # noqa: E402

from pytest_convbudget import profile  # noqa: E402


def slots(model: torch.nn.Module) -> dict[str, Any]:
    found = {}
    for path, module in model.named_modules(remove_duplicate=False):
        for table in ("_parameters", "_buffers"):
            for name, tensor in getattr(module, table).items():
                if tensor is not None:
                    checksum = float(tensor.detach().double().sum()) if tensor.is_floating_point() else int(tensor.sum())
                    found[f"{path}.{name}" if path else name] = (
                        id(tensor), tensor.device, tensor.data_ptr(), tensor._version, checksum)
    return found


def candidates(patterns: list[str], limit: int) -> list[str]:
    import timm

    names = sorted(name for name in timm.list_models() if any(fnmatch.fnmatch(name, p) for p in patterns))
    return names[:limit]


def build(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    if name == "monai DynUNet":
        from monai.networks.nets import DynUNet

        model = DynUNet(2, 1, 2, kernel_size=[3, 3, 3], strides=[1, 2, 2], upsample_kernel_size=[2, 2])
        return model.eval(), torch.randn(1, 1, 64, 64)
    import timm

    model = timm.create_model(name, pretrained=False).eval()
    size = model.pretrained_cfg.get("input_size", (3, 224, 224))
    return model, torch.randn(1, *size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=145)
    parser.add_argument("--pattern", action="append", default=None)
    options = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    names = ["monai DynUNet", *candidates(options.pattern or ["*tiny*", "*small*", "*nano*", "*pico*"], options.limit)]
    as_found, changed, skipped, devices = 0, [], [], {}
    start = time.perf_counter()
    for name in names:
        try:
            model, x = build(name)
            with torch.no_grad():
                expected = model(x)
        except Exception as error:  # noqa: BLE001 - a model this machine cannot build or run
            skipped.append(f"{name}: {type(error).__name__}")
            continue
        before = slots(model)
        try:
            cost = profile(model, x, count="all")
            devices[cost.device] = devices.get(cost.device, 0) + 1
        except Exception as error:  # noqa: BLE001 - the profile's error is reported, the slots still compared
            skipped.append(f"{name}: profile raised {type(error).__name__}: {str(error)[:80]}")
        with torch.no_grad():
            again = model(x)
        same_output = torch.equal(again, expected) if isinstance(again, torch.Tensor) else True
        if slots(model) != before or not same_output:
            changed.append(name)
        else:
            as_found += 1
    print(f"{len(names)} models, {time.perf_counter() - start:.0f} s: {as_found} left as found, "
          f"{len(changed)} changed, {len(skipped)} skipped or refused; profiled on {devices}")
    for name in changed:
        print(f"  CHANGED: {name}")
    for line in skipped:
        print(f"  skipped: {line}")
    return 1 if changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
