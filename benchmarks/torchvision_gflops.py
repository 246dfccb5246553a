"""Our ``count="all"`` MACs of every torchvision classifier beside its published figure.

torchvision's model table has a "GFLOPS" column (``weights.meta["_ops"]``) that
is really GMACs of one image at the size its weights' transforms crop to.
This prints, per model, our exact MACs, them in G to 3 decimals, the published
figure, and whether they match; then ``N of M match``. It asserts nothing:
``tests/test_torchvision_zoo.py`` does.

    python benchmarks/torchvision_gflops.py [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from zoo_models import build_torchvision, import_torchvision, torchvision_classifiers  # noqa: E402

from pytest_convbudget import profile  # noqa: E402


def measure(torchvision: Any, name: str) -> dict[str, Any]:
    """One model's row: our MACs and params beside the published ones."""
    model, side, weights = build_torchvision(torchvision, name)
    started = time.perf_counter()
    cost = profile(model, torch.empty(1, 3, side, side, device="meta"), device="meta", count="all")
    seconds = time.perf_counter() - started
    published = float(weights.meta["_ops"])
    ours = round(cost.macs / 1e9, 3)
    return {
        "model": name,
        "input_side": side,
        "macs": cost.macs,
        "gmacs": ours,
        "published_gmacs": published,
        "match": ours == published,
        "params": cost.model_params,
        "published_params": int(weights.meta["num_params"]),
        "params_match": cost.model_params == int(weights.meta["num_params"]),
        "by_kind_macs": {kind: row.macs for kind, row in cost.by_kind().items()},
        "seconds": round(seconds, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    options = parser.parse_args(argv)
    torchvision = import_torchvision()
    if torchvision is None:
        print("torchvision is not installed")
        return 1
    rows = []
    print(f"{'model':<22} {'side':>4} {'our MACs':>16} {'ours G':>10} {'published':>10} match")
    for name in torchvision_classifiers(torchvision):
        row = measure(torchvision, name)
        rows.append(row)
        print(f"{name:<22} {row['input_side']:>4} {row['macs']:>16} {row['gmacs']:>10.3f} "
              f"{row['published_gmacs']:>10.3f} {'yes' if row['match'] else 'no'}"
              f"{'' if row['params_match'] else '  (params differ)'}")
    matched = sum(row["match"] for row in rows)
    print(f"{matched} of {len(rows)} match")
    if options.json:
        options.json.write_text(json.dumps({"torch": torch.__version__, "torchvision": torchvision.__version__,
                                            "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
