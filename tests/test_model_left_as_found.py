"""After every profile, on every device, whether it returns or raises, the model is exactly as it was.

Checked here by a snapshot of our own, never by the profiler's guard: for
every module path (a module reachable under two paths counts twice), every
parameter and buffer slot holds the same tensor object, on the same device,
with the same dtype, shape, storage and values; every training flag and every
hook is as it was; and the model's next forward gives the same output.
``torch.func.functional_call`` alone leaves meta tensors in one of two paths
to a shared module (MONAI's DynUNet, timm's CoaT): these shapes are here.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from pytest_convbudget import profile


def snapshot(model: nn.Module) -> dict[str, Any]:
    slots = {}
    for path, module in model.named_modules(remove_duplicate=False):
        for table in ("_parameters", "_buffers"):
            for name, tensor in getattr(module, table).items():
                key = f"{path}.{name}" if path else name
                slots[key] = None if tensor is None else (
                    id(tensor), tensor.device, tensor.dtype, tuple(tensor.shape), tensor.data_ptr(),
                    tensor.detach().clone(),
                )
    flags = {path: module.training for path, module in model.named_modules(remove_duplicate=False)}
    hooks = {path: (len(module._forward_hooks), len(module._forward_pre_hooks))
             for path, module in model.named_modules(remove_duplicate=False)}
    return {"slots": slots, "flags": flags, "hooks": hooks}


def assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before["flags"] == after["flags"]
    assert before["hooks"] == after["hooks"]
    assert before["slots"].keys() == after["slots"].keys()
    for key, was in before["slots"].items():
        now = after["slots"][key]
        if was is None:
            assert now is None, key
            continue
        assert now[:5] == was[:5], key
        assert torch.equal(now[5], was[5]), key


class Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.conv(x)))


class DynUNetLike(nn.Module):
    """Like MONAI's DynUNet: its skip path holds the very blocks the encoder list holds."""

    def __init__(self) -> None:
        super().__init__()
        self.input_block = Block(4)
        self.downsamples = nn.ModuleList([Block(4), Block(4)])
        self.skip_layers = nn.ModuleList([self.input_block, *self.downsamples])  # the same modules, other paths
        self.output_block = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.skip_layers:
            x = block(x)
        return self.output_block(x)


class CoaTLike(nn.Module):
    """Like timm's coat_lite: one positional conv registered on the stage and on each of its blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.cpe = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.blocks = nn.ModuleList([nn.Sequential(OrderedDict(conv=nn.Conv2d(4, 4, 1))) for _ in range(2)])
        for block in self.blocks:
            block.cpe = self.cpe  # a second path to the same module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block.conv(block.cpe(x))
        return x


class Tied(nn.Module):
    """An encoder and a decoder sharing one weight tensor, as language models tie embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.encode = nn.Conv2d(4, 8, 1, bias=False)
        self.decode = nn.ConvTranspose2d(8, 4, 1, bias=False)
        self.decode.weight = self.encode.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class Symmetric(nn.Module):
    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return (weight + weight.transpose(0, 1)) / 2


def parametrized() -> nn.Module:
    model = nn.Sequential(nn.Conv2d(4, 4, 1), nn.Linear(8, 8))
    parametrize.register_parametrization(model[0], "weight", Symmetric())
    return model


class Mixed(nn.Module):
    """Training flags that differ by submodule, and a forward that may raise half-way."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.first = Block(4)
        self.second = Block(4)
        self.fail = fail
        self.second.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(x)
        if self.fail:
            raise ValueError("the model's own error")
        return self.second(x)


SHAPES: dict[str, Callable[[], nn.Module]] = {
    "dynunet-like": DynUNetLike,
    "coat-like": CoaTLike,
    "tied": Tied,
    "parametrized": parametrized,
    "mixed-flags": Mixed,
    "shared-twice-in-sequential": lambda: (lambda conv: nn.Sequential(conv, nn.ReLU(), conv))(
        nn.Conv2d(4, 4, 3, padding=1)),
}


@pytest.mark.parametrize("device", ["meta", "auto", "cpu"])
@pytest.mark.parametrize("count", ["conv", "all"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_slot_flag_and_hook_is_as_found_after_a_profile(shape: str, device: str, count: str) -> None:
    torch.manual_seed(0)
    model = SHAPES[shape]()
    x = torch.randn(2, 4, 8, 8)
    expected = model(x)
    before = snapshot(model)
    profile(model, x, device=device, count=count)
    assert_same(before, snapshot(model))
    assert torch.equal(model(x), expected)


@pytest.mark.parametrize("device", ["meta", "auto", "cpu"])
def test_the_model_is_as_found_when_its_forward_raises(device: str) -> None:
    model = Mixed(fail=True)
    model.first.train()
    before = snapshot(model)
    with pytest.raises(ValueError, match="the model's own error"):
        profile(model, torch.randn(2, 4, 8, 8), device=device)
    assert_same(before, snapshot(model))


def test_the_shared_module_is_counted_once_per_call_on_each_path() -> None:
    """The repair changes nothing counted: the DynUNet-like net's figures on meta equal a CPU forward's."""
    model = DynUNetLike()
    x = torch.randn(1, 4, 8, 8)
    on_meta, on_cpu = profile(model, x, device="meta"), profile(model, x, device="cpu")
    assert (on_meta.params, on_meta.flops, on_meta.macs) == (on_cpu.params, on_cpu.flops, on_cpu.macs)
    assert on_meta.flops > 0


@pytest.mark.parametrize("form", ["traced", "scripted"])
def test_a_torchscript_module_is_left_as_found_whatever_the_profile_makes_of_it(form: str) -> None:
    """ScriptModules keep their slots in C++ (no ``_parameters`` dict): the guard reads them through torch's wrapper."""
    eager = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)).eval()
    x = torch.randn(1, 4, 8, 8)
    model = torch.jit.trace(eager, x) if form == "traced" else torch.jit.script(eager)
    before = snapshot(model)
    try:
        profile(model, x)
    except Exception:  # noqa: BLE001 - what the profile makes of a ScriptModule is not this test's subject
        pass
    assert_same(before, snapshot(model))


def test_monai_dynunet_itself_is_left_as_found_in_every_form() -> None:
    """MONAI's own DynUNet (its skip path holds the encoder's blocks: a module under two
    paths), eager, traced and exported, on every device."""
    import warnings

    from zoo_models import import_torchvision

    import_torchvision()
    nets = pytest.importorskip("monai.networks.nets")
    torch.manual_seed(0)
    model = nets.DynUNet(2, 1, 2, kernel_size=[3, 3, 3], strides=[1, 2, 2], upsample_kernel_size=[2, 2]).eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        expected = model(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            forms = [model, torch.jit.trace(model, x), torch.export.export(model, (x,)).module()]
    for form in forms:
        before = snapshot(form)
        for device in ("meta", "auto", "cpu"):
            for count in ("conv", "all"):
                profile(form, x, device=device, count=count)
                assert_same(before, snapshot(form))
        with torch.no_grad():
            assert torch.equal(form(x), expected)
