"""Every torchvision classifier's MACs and params equal torchvision's published figures.

torchvision's model table publishes, per weights, ``num_params`` and a "GFLOPS"
column (``meta["_ops"]``, in fact GMACs of one image at the weights' crop
size, rounded to 3 decimals). Those figures were computed by torchvision, not
by this engine, so they are an independent check of ``count="all"`` over
convs, Linears, MultiheadAttention, Swin's windowed matmuls and MaxViT. The
models are built on meta without weights: nothing is downloaded or allocated.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from zoo_models import build_torchvision, import_torchvision, torchvision_classifiers  # noqa: E402

from pytest_convbudget import profile  # noqa: E402

torchvision = import_torchvision()
if torchvision is None:
    if os.environ.get("CONVBUDGET_REQUIRE_TORCHVISION") == "1":
        raise RuntimeError("torchvision is not installed, and CONVBUDGET_REQUIRE_TORCHVISION=1 says this run must have it")
    pytest.skip("torchvision is not installed (the test extra pins torchvision==0.28.0)", allow_module_level=True)

NAMES = torchvision_classifiers(torchvision)


def test_the_model_list_is_the_whole_classification_zoo() -> None:
    """A broken import must not shrink the parametrisation into a vacuous pass."""
    assert len(NAMES) >= 80
    assert {"resnet50", "vit_h_14", "swin_v2_t", "maxvit_t", "inception_v3"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_macs_and_params_equal_the_published_figures(name: str) -> None:
    model, side, weights = build_torchvision(torchvision, name)
    cost = profile(model, torch.empty(1, 3, side, side, device="meta"), device="meta", count="all")
    assert isinstance(cost.macs, int)
    assert round(cost.macs / 1e9, 3) == weights.meta["_ops"], (name, side, cost.macs)
    assert cost.model_params == weights.meta["num_params"]
    assert sum(row.macs for row in cost.by_kind().values()) == cost.macs


def test_input_sizes_follow_the_weights_transforms() -> None:
    """The published figure of a model fed at 224 but measured at 299 could never match:
    pin the few models whose weights crop to something else."""
    sides = {name: build_torchvision(torchvision, name)[1] for name in
             ("inception_v3", "efficientnet_b7", "vit_h_14", "regnet_y_128gf", "resnet18")}
    assert sides == {"inception_v3": 299, "efficientnet_b7": 600, "vit_h_14": 518,
                     "regnet_y_128gf": 384, "resnet18": 224}
