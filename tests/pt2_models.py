"""Models whose exported programs the archive reader's tests save: what torch's exporter writes
for an ordinary model with a buffer and a constant (one place, for the CLI's tests and the fuzzer)."""

from __future__ import annotations

import torch
from torch import nn


class Encoder(nn.Module):
    """A transformer layer with a buffer and a constant that are plain tensors; inputs of shape
    (batch, ``tokens``, ``width``)."""

    def __init__(self, width: int = 16, heads: int = 2, hidden: int = 32, tokens: int = 6) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(width, heads, hidden, batch_first=True)
        self.register_buffer("position", torch.arange(float(tokens)).view(1, tokens, 1))
        self.gain = torch.tensor(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x + self.position) * self.gain


class Pairs(nn.Module):
    """Exported for any even batch: torch writes guards, range keys and shape expressions for it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).reshape(x.shape[0] // 2, 2, -1)
