"""The batch is found wherever the first tensor input sits, or the profile asks for it.

Hugging Face's ``BatchEncoding`` is a ``collections.UserDict``; training code
passes dataclasses. Both used to be opaque, so a batch of 2 counted as 1 and
every per-sample figure doubled, silently.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import NamedTuple

import pytest
import torch
from torch import nn

from pytest_convbudget import ProfileError, profile

# One Conv1d(4, 6, 3) over 10 steps: out 8; MACs per sample 4*3*6*8 = 576.
MACS_PER_SAMPLE = 4 * 3 * 6 * 8


class BatchEncoding(collections.UserDict):
    """What tokenizers return: a UserDict of tensors."""


@dataclasses.dataclass(frozen=True)
class Features:
    mask: torch.Tensor
    signal: torch.Tensor


class Pair(NamedTuple):
    signal: torch.Tensor
    extra: int


class Reader(nn.Module):
    """Takes its signal from wherever the container puts it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 3)

    def forward(self, batch):  # type: ignore[no-untyped-def]
        if isinstance(batch, Features):
            return self.conv(batch.signal)
        if isinstance(batch, Pair):
            return self.conv(batch.signal)
        return self.conv(batch["signal"])


def signal(batch: int = 2, device: str = "cpu") -> torch.Tensor:
    return torch.randn(batch, 4, 10, device=device)


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda s: BatchEncoding(signal=s, mask=torch.ones(2, 10)), id="UserDict"),
        pytest.param(lambda s: Features(mask=torch.ones(2, 10), signal=s), id="frozen-dataclass"),
        pytest.param(lambda s: Pair(s, 3), id="namedtuple"),
        pytest.param(lambda s: collections.OrderedDict(signal=s), id="OrderedDict"),
    ],
)
def test_the_batch_is_found_inside_any_container(wrap, device: str) -> None:  # type: ignore[no-untyped-def]
    container = wrap(signal())
    cost = profile(Reader(), container, device=device)
    assert cost.batch_size == 2
    assert cost.macs == MACS_PER_SAMPLE
    assert cost.total_macs == 2 * MACS_PER_SAMPLE
    assert (2, 4, 10) in cost.input_shapes


def test_the_callers_container_is_left_as_it_was() -> None:
    """A meta profile moves copies of the tensors, never the caller's own."""
    data = BatchEncoding(signal=signal(), mask=torch.ones(2, 10))
    features = Features(mask=torch.ones(2, 10), signal=signal())
    profile(Reader(), data, device="meta")
    profile(Reader(), features, device="meta")
    assert data["signal"].device.type == "cpu" and data["mask"].device.type == "cpu"
    assert features.signal.device.type == "cpu"


class Generator(nn.Module):
    """Makes its own input: nothing tells how many samples it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 3)

    def forward(self, steps: int):  # type: ignore[no-untyped-def]
        return self.conv(torch.zeros(3, 4, steps))


def test_no_batch_to_be_found_asks_for_batch_size_instead_of_guessing() -> None:
    with pytest.raises(ProfileError, match=r"^cannot tell the batch size: .*pass batch_size="):
        profile(Generator(), 10, device="cpu")
    cost = profile(Generator(), 10, device="cpu", batch_size=3)
    assert (cost.batch_size, cost.macs) == (3, MACS_PER_SAMPLE)


class Uncopyable:
    """An input object that refuses to be copied, holding the tensor the forward reads."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor

    def __copy__(self) -> "Uncopyable":
        raise TypeError("no copies of this one")


class ReadsTheObject(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)

    def forward(self, box: Uncopyable) -> torch.Tensor:
        return self.conv(box.tensor)


def test_an_object_that_refuses_copies_is_passed_as_it_is() -> None:
    box = Uncopyable(torch.randn(1, 3, 4, 4))
    tensor = box.tensor
    for device in ("auto", "cpu"):
        cost = profile(ReadsTheObject(), box, device=device)
        assert cost.macs == 3 * 4 * 16
        assert box.tensor is tensor and tensor.device.type == "cpu"  # the caller's object, untouched
