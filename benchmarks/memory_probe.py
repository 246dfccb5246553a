"""Measurement 5, the child side: peak memory that one meta profile adds.

Run as ``python benchmarks/memory_probe.py SIZE``; prints one JSON object.
It must run in a fresh process: the parent has already allocated (and
freed) gigabytes for ResNet forwards, and a process's peak resident size
never goes down, so measured there it would hide whatever the profile adds.

Everything a user already holds before calling ``profile`` (torch, the
model, the input volume) is allocated before the "before" reading; the
figure is the peak during the profile call minus that reading.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from math import prod
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


def current_rss() -> int:
    """Resident bytes now: psutil when present, else /proc, else the peak so far."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.Process().memory_info().rss)
    statm = Path("/proc/self/statm")
    if statm.exists():
        return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return peak_rss_so_far()


def peak_rss_so_far() -> int:
    """``ru_maxrss`` in bytes (Linux reports kilobytes, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reset_peak() -> bool:
    """Lower the kernel's high-water mark to the current RSS, where Linux allows it.

    Without this the peak could still be one from importing torch, which
    would make the "added" figure an over-estimate (still a safe bound).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def high_water_mark() -> int:
    """VmHWM from /proc when available (it honours :func:`reset_peak`), else ru_maxrss."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return peak_rss_so_far()


def main(size: int) -> dict[str, object]:
    sys.path.insert(0, str(REPO / "examples"))
    sys.path.insert(0, str(REPO))
    import torch
    from models import unet3d

    from pytest_convbudget import profile

    torch.manual_seed(0)
    model = unet3d().eval()
    volume = torch.rand(1, 1, size, size, size)
    modules_before = len(sys.modules)
    before = current_rss()
    was_reset = reset_peak()
    start = time.perf_counter()
    cost = profile(model, volume, device="meta")
    seconds = time.perf_counter() - start
    peak = max(high_water_mark(), current_rss())
    imported = len(sys.modules) - modules_before
    # A second call shows what the profile itself holds once torch's lazy
    # imports (the meta kernels pull in sympy on first use) are paid for.
    warm_before = current_rss()
    reset_peak()
    profile(model, volume, device="meta")
    warm_peak = max(high_water_mark(), current_rss())
    activations = sum(prod(layer.output_shape) for layer in cost.layers) * 4
    return {
        "size": size,
        "rss_before_mb": before / MB,
        "peak_after_mb": peak / MB,
        "added_mb": (peak - before) / MB,
        "warm_added_mb": (warm_peak - warm_before) / MB,
        "modules_imported_by_first_profile": imported,
        "peak_was_reset": was_reset,
        "input_mb": volume.numel() * volume.element_size() / MB,
        "conv_outputs_mb": activations / MB,
        "model_params_mb": sum(p.numel() * p.element_size() for p in model.parameters()) / MB,
        "profile_s": seconds,
        "total_flops": cost.total_flops,
        "device": cost.device,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
