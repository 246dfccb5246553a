"""Dynamically quantized RNNs count as their float twins: a speech model of a Conv1d, a
two-layer bidirectional LSTM and a GRU, and the quantized cells.

``torch.ao.quantization.quantize_dynamic`` packs each layer's weights into script objects
that no parameter slot holds, and runs each RNN as one ``quantized_lstm``/``quantized_gru``
kernel: their FLOPs, params, ``model_params`` and weight bytes were 0 before.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from pytest_convbudget import profile

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from torch.ao.quantization import quantize_dynamic


class Speech(nn.Module):
    """Features (batch, 40, frames) -> Conv1d -> LSTM (2 layers, both ways) -> GRU -> 30 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(40, 64, 5, padding=2)
        self.lstm = nn.LSTM(64, 96, num_layers=2, bidirectional=True)
        self.gru = nn.GRU(192, 64)
        self.out = nn.Linear(64, 30)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).permute(2, 0, 1)
        y, _ = self.lstm(y)
        y, _ = self.gru(y)
        return self.out(y)


def quantized(model: nn.Module, *types: type[nn.Module]) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, set(types), dtype=torch.qint8)


def recurrent_macs(steps: int, layers: list[tuple[int, int, int]]) -> int:
    """By hand: each (input, hidden, gates) layer-direction's two products per step."""
    return sum(steps * gates * hidden * (features + hidden) for features, hidden, gates in layers)


def test_a_quantized_speech_model_counts_as_its_float_twin() -> None:
    torch.manual_seed(0)
    model = Speech().eval()
    twin = quantized(Speech().eval(), nn.LSTM, nn.GRU, nn.Linear)
    twin.conv.load_state_dict(model.conv.state_dict())
    x = torch.randn(2, 40, 50)
    steps = 2 * 50
    lstm = [(64, 96, 4)] * 2 + [(192, 96, 4)] * 2
    expected_macs = 50 * 2 * 64 * 40 * 5 + recurrent_macs(steps, lstm + [(192, 64, 3)]) + steps * 64 * 30
    float_cost = profile(model, x, count="all", device="cpu")
    assert float_cost.total_macs == expected_macs
    cost = profile(twin, x, count="all")
    assert cost.device == "cpu"  # quantized kernels have no meta kernel
    assert (cost.total_flops, cost.total_macs, cost.params) == (
        float_cost.total_flops, float_cost.total_macs, float_cost.params)
    assert cost.model_params == sum(p.numel() for p in model.parameters())
    assert {layer.name for layer in cost.layers} == {"conv", "lstm", "gru", "out"}


def test_quantized_weights_are_sized_as_stored_int8_weights_and_float_biases() -> None:
    model = quantized(nn.Sequential(nn.LSTM(8, 16), nn.Identity()).eval(), nn.LSTM)
    weights = 4 * 16 * 8 + 4 * 16 * 16  # int8: a byte each
    biases = 2 * 4 * 16 * 4  # float32
    cost = profile(model, torch.randn(5, 2, 8), count="all")
    assert cost.model_params == 4 * 16 * 8 + 4 * 16 * 16 + 2 * 4 * 16
    assert cost.weight_bytes == weights + biases


@pytest.mark.parametrize("cell, gates", [(nn.LSTMCell, 4), (nn.GRUCell, 3), (nn.RNNCell, 1)])
def test_quantized_cells_count_one_step_as_their_float_twin(cell: type[nn.Module], gates: int) -> None:
    torch.manual_seed(1)
    model = cell(8, 16).eval()
    twin = quantized(cell(8, 16).eval(), cell)
    x = torch.randn(3, 8)
    float_cost, cost = (profile(m, x, count="all", device="cpu") for m in (model, twin))
    assert cost.total_macs == float_cost.total_macs == 3 * gates * 16 * (8 + 16)
    assert (cost.total_flops, cost.params, cost.model_params) == (
        float_cost.total_flops, float_cost.params, float_cost.model_params)
