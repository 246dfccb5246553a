"""Budgets on the example models: what `pytest examples --conv-report` runs."""

from __future__ import annotations

import pytest
import torch

from models import mobilenet_v2, resnet18, resnet50, resnet_style, unet3d, vit_tiny


@pytest.mark.budget(params="12M", flops="3.7G")
def test_resnet18_fits(conv_cost):
    cost = conv_cost(resnet18(), torch.randn(1, 3, 224, 224))
    assert cost.layers[0].name == "conv1"


def test_resnet50_within_the_default_limits(conv_cost):
    """No marker: the [tool.convbudget] defaults (30M params, 10 GFLOPs) apply."""
    cost = conv_cost(resnet50(), torch.randn(1, 3, 224, 224))
    assert cost.device == "meta"


@pytest.mark.parametrize("resolution", [160, 224])
def test_mobilenet_v2(conv_cost, resolution):
    """Limits come from the pattern in pyproject.toml."""
    conv_cost(mobilenet_v2(), torch.randn(1, 3, resolution, resolution))


@pytest.mark.budget(macs="3.6G")
def test_unet3d_volume(conv_cost):
    """A marker beats the pattern's 4G MACs; the volume never exists in memory."""
    conv_cost(unet3d(), torch.randn(1, 1, 64, 64, 64))


@pytest.mark.budget(flops="30M", name="student")
@pytest.mark.budget(flops="8.2G", name="teacher")
def test_distillation_pair(conv_cost):
    """Two models in one test, each with its own named budget."""
    conv_cost(resnet50(), torch.randn(1, 3, 224, 224), name="teacher")
    conv_cost(resnet_style(), torch.randn(32, 3, 224, 224), name="student")


def test_vit_tiny_counts_every_kind(conv_cost):
    """A hybrid: its pattern counts every op kind, so attention and linears are in the budget."""
    cost = conv_cost(vit_tiny(), torch.randn(1, 3, 32, 32))
    assert cost.by_kind()["attention"].macs > 0
