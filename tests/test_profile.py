"""Pin ``pytest_convbudget.profile()``: its API, its exact counts, and its manners.

The formulas themselves are pinned in ``test_formulas.py``. Here the question
is whether the engine applies them to the right calls of a real forward: every
conv call counted once, with the batch it really saw, nothing dropped silently,
and the user's model left exactly as it was found, whether ``profile()``
returns or raises. Expected figures are written as the products the cost model
prescribes (``prod(k) * Cin/g * Cout * prod(out)``) so a reader can check them,
and cross-checked against ``torch.utils.flop_counter`` where torch counts too.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import models
from pytest_convbudget import ConvCost, profile
from pytest_convbudget.engine.profiler import ModelChangedError, ProfileUsageError

THIS_FILE = str(Path(__file__).resolve())
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
REAL_DEVICES = ["meta", "cpu", "auto", pytest.param("cuda", marks=needs_cuda)]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def torch_conv_flops(counter: FlopCounterMode) -> int:
    """What torch's own flop counter charged to ``aten.convolution`` (2 per MAC)."""
    return counter.get_flop_counts()["Global"].get(torch.ops.aten.convolution, 0)


def bits(tensor: torch.Tensor) -> torch.Tensor:
    """The raw bytes of a tensor, so that equality is bitwise (``-0.0 != 0.0``)."""
    return tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).clone()


def snapshot(model: nn.Module) -> dict[str, Any]:
    """Everything about ``model`` that ``profile()`` promises to leave alone."""
    return {
        "training": {name: module.training for name, module in model.named_modules()},
        # counters such as ptflops leave attributes (``__flops__``) on every module
        "attributes": {name: sorted(vars(module)) for name, module in model.named_modules()},
        "tensors": {
            name: bits(tensor)
            for name, tensor in model.state_dict(keep_vars=True).items()
        },
        "identities": {name: id(param) for name, param in model.named_parameters()},
        "buffer_identities": {name: id(buffer) for name, buffer in model.named_buffers()},
        "keys": list(model.state_dict().keys()),
        "devices": {name: tensor.device for name, tensor in model.state_dict().items()},
        "global_hooks": (
            len(nn.modules.module._global_forward_hooks),
            len(nn.modules.module._global_forward_pre_hooks),
        ),
    }


def assert_no_hooks(model: nn.Module) -> None:
    """No forward hook or pre-hook may stay behind on any module."""
    for name, module in model.named_modules():
        assert not module._forward_hooks, f"forward hook left on {name or 'the model'}"
        assert not module._forward_pre_hooks, f"forward pre-hook left on {name or 'the model'}"
        assert not getattr(module, "_forward_hooks_with_kwargs", {}), name


def assert_untouched(model: nn.Module, before: dict[str, Any]) -> None:
    """``model`` is exactly as ``snapshot`` found it, and nothing global changed."""
    after = snapshot(model)
    assert after["training"] == before["training"]
    assert after["attributes"] == before["attributes"]
    assert after["keys"] == before["keys"]
    assert after["identities"] == before["identities"]
    assert after["buffer_identities"] == before["buffer_identities"]
    assert after["devices"] == before["devices"]
    assert after["global_hooks"] == before["global_hooks"]
    for name, raw in before["tensors"].items():
        assert torch.equal(after["tensors"][name], raw), f"{name} changed"
    assert_no_hooks(model)
    assert torch.overrides._get_current_function_mode_stack() == []


def assert_layers_add_up(cost: ConvCost) -> None:
    """Per-layer shares sum exactly to every total the result reports."""
    assert sum(layer.params for layer in cost.layers) == cost.params
    assert sum(layer.flops for layer in cost.layers) == cost.flops
    assert sum(layer.macs for layer in cost.layers) == cost.macs
    assert sum(layer.total_flops for layer in cost.layers) == cost.total_flops
    assert sum(layer.total_macs for layer in cost.layers) == cost.total_macs


# --------------------------------------------------------------------------
# the API and its records
# --------------------------------------------------------------------------


def test_result_names_are_exact_ints_and_layers_sum_to_the_totals() -> None:
    """The documented attribute names exist, hold Python ints, and agree with each other."""
    model = models.resnet_style()
    cost = profile(model, torch.randn(3, 3, 64, 64), device="meta")
    for name in ("params", "flops", "macs", "total_flops", "total_macs", "batch_size", "model_params"):
        assert type(getattr(cost, name)) is int, name
    assert cost.device == "meta"
    assert cost.batch_size == 3
    assert cost.model_params == sum(p.numel() for p in model.parameters())
    assert [layer.name for layer in cost.layers] == [
        "stem", "dilated", "grouped", "depthwise", "pointwise", "shortcut",
    ]
    assert cost.idle_modules == ()
    # the classifier's linear op ran outside the default count: listed, not in the totals
    assert [(call.kind, call.function) for call in cost.uncounted] == [("linear", "linear")]
    assert_layers_add_up(cost)
    # every call saw the whole batch, so totals are exactly 3 samples' worth
    assert cost.total_flops == 3 * cost.flops
    assert cost.total_macs == 3 * cost.macs
    assert cost.per_sample_exact


def test_one_layer_record_describes_the_module_and_the_call() -> None:
    """A record carries the module's qualified name, geometry and shapes, read from the module."""
    conv = nn.Conv2d(4, 6, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2, bias=False)
    model = nn.Sequential(nn.Identity(), nn.Sequential(nn.ReLU(), conv))
    cost = profile(model, torch.randn(2, 4, 9, 11), device="cpu")
    (layer,) = cost.layers
    assert layer.name == "1.1"
    assert layer.call == 1
    assert layer.type == "Conv2d"
    assert layer.kind == "conv"
    assert layer.kernel_size == (3, 5)
    assert layer.stride == (2, 1)
    assert layer.padding == (1, 2)
    assert layer.dilation == (1, 2)
    assert layer.groups == 2
    assert layer.bias is False
    assert layer.input_shape == (2, 4, 9, 11)
    # H: (9 + 2 - 2 - 1) // 2 + 1 = 5;  W: (11 + 4 - 8 - 1) // 1 + 1 = 7
    assert layer.output_shape == (2, 6, 5, 7)
    assert layer.batch == 2
    assert layer.params == 15 * (4 // 2) * 6
    assert layer.macs == 15 * (4 // 2) * 6 * (5 * 7)
    assert layer.flops == (2 * 15 * (4 // 2) - 1) * 6 * (5 * 7)
    assert layer.total_macs == 2 * layer.macs
    assert layer.total_flops == 2 * layer.flops


# --------------------------------------------------------------------------
# agreement with torch.utils.flop_counter
# --------------------------------------------------------------------------


@st.composite
def conv_stacks(draw: st.DrawFn) -> tuple[nn.Sequential, torch.Tensor]:
    """A small chain of regular and transposed convs of one dimensionality, and an input."""
    dims = draw(st.integers(1, 3))
    largest = {1: 12, 2: 7, 3: 5}[dims]
    spatial = [draw(st.integers(2, largest)) for _ in range(dims)]
    in_channels = draw(st.integers(1, 4))
    batch = draw(st.integers(1, 3))
    example = torch.randn(batch, in_channels, *spatial)
    layers: list[nn.Module] = []
    for _ in range(draw(st.integers(1, 3))):
        transposed = draw(st.booleans())
        groups = draw(st.sampled_from([g for g in (1, 2, 3) if in_channels % g == 0]))
        out_channels = groups * draw(st.integers(1, 3))
        kernel = [draw(st.integers(1, 3)) for _ in range(dims)]
        stride = [draw(st.integers(1, 2)) for _ in range(dims)]
        padding = [draw(st.integers(0, 1)) for _ in range(dims)]
        dilation = [draw(st.integers(1, 2)) for _ in range(dims)]
        next_spatial = []
        for axis, size in enumerate(spatial):
            reach = dilation[axis] * (kernel[axis] - 1)
            if transposed:
                out = (size - 1) * stride[axis] - 2 * padding[axis] + reach + 1
            else:
                out = (size + 2 * padding[axis] - reach - 1) // stride[axis] + 1
            if out < 1 or out > 16:  # keep it legal and tiny: fall back to a 1-tap, unpadded axis
                kernel[axis], padding[axis], stride[axis] = 1, 0, 1
                out = size
            next_spatial.append(out)
        kind = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d) if transposed else (
            nn.Conv1d, nn.Conv2d, nn.Conv3d)
        layers.append(kind[dims - 1](
            in_channels, out_channels, tuple(kernel), stride=tuple(stride), padding=tuple(padding),
            dilation=tuple(dilation), groups=groups, bias=draw(st.booleans()),
        ))
        in_channels, spatial = out_channels, next_spatial
    return nn.Sequential(*layers), example


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack=conv_stacks(), device=st.sampled_from(["cpu", "meta"]))
def test_macs_match_torch_flop_counter_on_the_same_forward(
    stack: tuple[nn.Sequential, torch.Tensor], device: str
) -> None:
    """Regular and transposed, 1D to 3D, grouped and strided: torch counts 2 FLOPs per MAC we count."""
    model, example = stack
    with FlopCounterMode(display=False) as counter:
        cost = profile(model, example, device=device)
    assert 2 * cost.total_macs == torch_conv_flops(counter)
    assert len(cost.layers) == len(model)
    assert cost.uncounted == ()
    assert_layers_add_up(cost)


@pytest.mark.parametrize("factory", [models.resnet18, models.mobilenet_v2], ids=["resnet18", "mobilenet_v2"])
def test_example_networks_match_torch_flop_counter(factory: Any) -> None:
    """On whole architectures (depthwise convs included) the MACs are torch's conv FLOPs / 2."""
    with FlopCounterMode(display=False) as counter:
        cost = profile(factory(), torch.randn(2, 3, 224, 224), device="meta")
    assert 2 * cost.total_macs == torch_conv_flops(counter)
    assert cost.total_macs == 2 * cost.macs


def test_resnet18_conv_figures() -> None:
    """ResNet-18's conv MACs at 224x224 are the published 1.814 GMACs less the classifier's 512,000."""
    model = models.resnet18()
    with_linear = profile(model, torch.randn(1, 3, 224, 224), device="meta", count=["conv", "linear"])
    assert with_linear.macs == 1_814_073_344
    cost = profile(model, torch.randn(1, 3, 224, 224), device="meta")
    assert cost.macs == 1_814_073_344 - 512 * 1000
    assert cost.model_params == 11_689_512
    # every conv of ResNet-18 is bias-free; its BN layers and the fc are not convs
    assert cost.params == 11_689_512 - (512 * 1000 + 1000) - 9_600


def test_resnet50_with_linear_matches_torchvisions_published_gmacs() -> None:
    """torchvision's "GFLOPS" column for ResNet-50 (4.089) is conv+linear MACs at batch 1."""
    model = models.resnet50()
    cost = profile(model, torch.randn(1, 3, 224, 224), device="meta", count=["conv", "linear"])
    assert cost.macs == 4_089_184_256
    assert cost.model_params == 25_557_032
    batchnorm_params = sum(
        p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()
    )
    assert cost.params == cost.model_params - batchnorm_params
    assert cost.layers[-1].name == "fc" and cost.layers[-1].type == "Linear"
    assert cost.layers[-1].macs == 2048 * 1000
    # without the opt-in, Linear is no conv
    assert profile(model, torch.randn(1, 3, 224, 224), device="meta").macs == 4_089_184_256 - 2048 * 1000


# --------------------------------------------------------------------------
# devices
# --------------------------------------------------------------------------


def test_meta_cpu_and_auto_give_identical_counts() -> None:
    """The device changes how the forward runs, never what is counted."""
    model = models.resnet_style()
    example = torch.randn(2, 3, 64, 64)
    results = {device: profile(model, example, device=device) for device in ("meta", "cpu", "auto")}
    assert results["auto"].device == "meta"
    assert results["cpu"].device == "cpu"
    assert results["auto"].fallback_reason is None
    reference = results["meta"]
    for cost in results.values():
        assert cost.layers == reference.layers
        assert (cost.params, cost.flops, cost.macs, cost.total_flops, cost.total_macs) == (
            reference.params, reference.flops, reference.macs, reference.total_flops, reference.total_macs,
        )
    assert profile(model, example, device=torch.device("cpu")).layers == reference.layers


class ReadsAValue(nn.Module):
    """Data-dependent control flow through ``.item()``: impossible on meta tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.extra = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if y.abs().sum().item() >= 0:  # always true, but only real data can say so
            y = self.extra(y)
        return y


def test_auto_falls_back_to_cpu_and_says_why() -> None:
    """A model that cannot run on meta is still profiled, on its own device, with the reason given."""
    model = ReadsAValue()
    before = snapshot(model)
    cost = profile(model, torch.randn(2, 3, 8, 8))
    assert cost.device == "cpu"
    assert "meta" in cost.fallback_reason
    assert [layer.name for layer in cost.layers] == ["conv", "extra"]
    assert cost.macs == 27 * 4 * 36 + 4 * 4 * 36
    assert_untouched(model, before)
    with pytest.raises(ProfileUsageError, match=r"^\(root\): item\(\) on a value computed from weights: it cannot "
                                                r"be known on meta"):  # asked for meta explicitly: no fallback
        profile(model, torch.randn(2, 3, 8, 8), device="meta")
    assert_untouched(model, before)


@pytest.mark.parametrize("device", ["tpu", "gpu", "", "cuda:x", "cpu:zero"])
def test_unknown_device_is_a_value_error(device: str) -> None:
    """A device string that is not auto/meta/cpu/cuda[:N] is a usage error naming it."""
    with pytest.raises(ValueError, match="device"):
        profile(nn.Conv2d(1, 1, 1), torch.randn(1, 1, 2, 2), device=device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CUDA-less error")
def test_cuda_without_cuda_is_a_value_error() -> None:
    """Asking for CUDA where there is none is a clear usage error, not a torch traceback."""
    with pytest.raises(ValueError, match="CUDA"):
        profile(nn.Conv2d(1, 1, 1), torch.randn(1, 1, 2, 2), device="cuda")


@needs_cuda
def test_cuda_counts_equal_meta_and_the_model_stays_on_cpu() -> None:
    """A real CUDA forward counts the same, and the CPU model comes back on the CPU, bitwise equal."""
    model = models.resnet_style()
    model.train()
    example = torch.randn(2, 3, 64, 64)
    before = snapshot(model)
    on_cuda = profile(model, example, device="cuda")
    on_meta = profile(model, example, device="meta")
    assert on_cuda.device.startswith("cuda")
    assert on_cuda.layers == on_meta.layers
    assert on_cuda.flops == on_meta.flops and on_cuda.params == on_meta.params
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(b.device.type == "cpu" for b in model.buffers())
    assert_untouched(model, before)


# --------------------------------------------------------------------------
# the model is left as it was
# --------------------------------------------------------------------------


class Counter(nn.Module):
    """Updates a buffer in place on every forward, as some caches and EMA modules do."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("seen", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.add_(1)
        return x


class Workbench(nn.Module):
    """BatchNorm in train mode, an eval-mode head, an in-place buffer and a training-only aux head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.counter = Counter()
        self.head = nn.Sequential(nn.Conv2d(8, 4, 1), nn.Dropout(0.5))
        self.aux = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.counter(torch.relu(self.bn(self.stem(x))))
        if self.training:
            x = x + self.aux(x).sum()
        return self.head(x)


def trained_workbench() -> Workbench:
    """A workbench with non-trivial running stats, in train mode with an eval-mode head."""
    model = Workbench()
    model.train()
    model(torch.randn(4, 3, 8, 8))
    model.head.eval()
    return model


@pytest.mark.parametrize("device", REAL_DEVICES)
def test_model_is_exactly_as_it_was_after_profile_returns(device: str) -> None:
    """Flags, tensors (BN stats included), identities, keys, devices, hooks: all unchanged."""
    model = trained_workbench()
    before = snapshot(model)
    assert model.training and not model.head.training
    cost = profile(model, torch.randn(2, 3, 8, 8), device=device)
    assert_untouched(model, before)
    # the forward ran in eval mode: the training-only aux head is idle
    assert [layer.name for layer in cost.layers] == ["stem", "head.0"]
    assert [idle.name for idle in cost.idle_modules] == ["aux"]


def test_in_place_buffer_update_during_a_cpu_forward_does_not_reach_the_model() -> None:
    """A forward that mutates a buffer works on a copy: the original keeps its value and identity."""
    model = trained_workbench()
    seen = model.counter.seen
    value = seen.item()
    profile(model, torch.randn(2, 3, 8, 8), device="cpu")
    assert model.counter.seen is seen
    assert seen.item() == value


class ClampsItsWeights(nn.Module):
    """Clamps a conv's weights in place during forward, as weight-constrained models do."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.conv.weight.clamp_(-0.01, 0.01)
        return self.conv(x)


def test_in_place_parameter_update_during_a_cpu_forward_is_reported() -> None:
    """Parameters are not copied for a real run (too costly); a forward that writes into
    one in place is named in a clear error instead of passing silently."""
    model = ClampsItsWeights()
    with pytest.raises(ModelChangedError, match=r"conv\.weight"):
        profile(model, torch.randn(1, 3, 8, 8), device="cpu")
    assert_no_hooks(model)


def test_in_place_parameter_update_on_meta_leaves_the_weights_untouched() -> None:
    """On meta the forward writes into stand-ins, so the model's weights stay as they were."""
    model = ClampsItsWeights()
    before = snapshot(model)
    profile(model, torch.randn(1, 3, 8, 8), device="meta")
    assert_untouched(model, before)


def test_user_hooks_survive_and_no_engine_hook_remains() -> None:
    """The user's own hooks are neither removed nor duplicated."""
    model = models.resnet_style()
    fired: list[str] = []
    handle = model.stem.register_forward_hook(lambda module, args, output: fired.append("stem"))
    profile(model, torch.randn(1, 3, 32, 32), device="cpu")
    assert len(model.stem._forward_hooks) == 1
    assert fired == ["stem"]
    handle.remove()
    assert_no_hooks(model)


class Refused(Exception):
    """The model's own error type: it must reach the caller unchanged."""


class RefusingConv(nn.Conv2d):
    """A conv whose forward always raises, on every device."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise Refused("the second conv refuses to run")


class FailsAtSecondConv(Workbench):
    """The workbench, with a second conv that raises after the first has run."""

    def __init__(self) -> None:
        super().__init__()
        self.refusing = RefusingConv(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.stem(x)))
        return self.refusing(self.counter(x))


@pytest.mark.parametrize("device", REAL_DEVICES)
def test_model_error_reaches_the_caller_and_the_model_is_untouched(device: str) -> None:
    """The model's exception, message and frame come through; hooks, flags and tensors are restored."""
    model = FailsAtSecondConv()
    model.train()
    Workbench.forward(model, torch.randn(4, 3, 8, 8))  # non-trivial BatchNorm running stats
    model.head.eval()
    before = snapshot(model)
    patched = (torch.conv2d, F.conv2d, nn.Conv2d.forward, nn.Conv2d._conv_forward, nn.Module.__call__)
    with pytest.raises(Refused, match="the second conv refuses to run") as excinfo:
        profile(model, torch.randn(2, 3, 8, 8), device=device)
    innermost = traceback.extract_tb(excinfo.value.__traceback__)[-1]
    assert innermost.name == "forward"
    assert str(Path(innermost.filename).resolve()) == THIS_FILE
    assert "raise Refused" in innermost.line
    assert_untouched(model, before)
    assert (torch.conv2d, F.conv2d, nn.Conv2d.forward, nn.Conv2d._conv_forward, nn.Module.__call__) == patched


# --------------------------------------------------------------------------
# the cases counters in the wild get wrong
# --------------------------------------------------------------------------


class TwiceCalled(nn.Module):
    """One conv applied twice (weight sharing across depth)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.relu(self.conv(x)))


def test_module_called_twice_gives_two_records_and_params_once() -> None:
    """Calls are told apart by number; the FLOPs count twice, the params once."""
    cost = profile(TwiceCalled(), torch.randn(2, 3, 8, 8))
    first, second = cost.layers
    assert (first.name, first.call, second.name, second.call) == ("conv", 1, "conv", 2)
    assert second.label == "conv, call 2"  # in words a reader reads
    assert (first.params, second.params) == (27 * 3 + 3, 0)
    assert first.macs == second.macs == 27 * 3 * 64
    assert first.flops == second.flops == 2 * 27 * 3 * 64
    assert cost.params == 84
    assert cost.flops == 2 * (2 * 27 * 3 * 64)


class TiedPair(nn.Module):
    """Two convs sharing one weight tensor (each with its own bias, or none)."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.second = nn.Conv2d(4, 4, 3, padding=1, bias=True)
        self.second.weight = self.first.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))


def test_tied_weights_are_counted_once() -> None:
    """A tensor shared by two modules is one set of parameters."""
    cost = profile(TiedPair(), torch.randn(1, 4, 6, 6))
    assert [layer.params for layer in cost.layers] == [9 * 4 * 4, 4]
    assert cost.params == cost.model_params == 9 * 4 * 4 + 4
    assert len(cost.layers) == 2


class Branch(nn.Module):
    """A parent that just runs the conv it was given."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SharedByTwoParents(nn.Module):
    """The same conv registered under two parents; ``calls`` says how many parents run."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        shared = nn.Conv2d(3, 3, 1)
        self.a = Branch(shared)
        self.b = Branch(shared)
        self.calls = calls

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a(x)
        return self.b(x) if self.calls == 2 else x


@pytest.mark.parametrize("calls", [1, 2])
def test_conv_shared_by_two_parents_counts_per_call_not_per_parent(calls: int) -> None:
    """Listed under its first name, counted once per call, never once per parent."""
    cost = profile(SharedByTwoParents(calls), torch.randn(1, 3, 5, 5))
    assert [(layer.name, layer.call) for layer in cost.layers] == [("a.conv", n + 1) for n in range(calls)]
    assert cost.params == 3 * 3 + 3
    assert cost.macs == calls * 3 * 3 * 25
    assert cost.idle_modules == ()


class SamePadConv3d(nn.Conv3d):
    """A "same"-padding conv that pads itself and calls the base class's conv, as TF ports do."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for k, d in zip(reversed(self.kernel_size), reversed(self.dilation)):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        return self._conv_forward(F.pad(x, pads), self.weight, self.bias)


class CausalTimeConv3d(nn.Conv3d):
    """A temporal conv that pads only the past, so no frame sees the future."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        past = self.dilation[0] * (self.kernel_size[0] - 1)
        return super().forward(F.pad(x, [0, 0, 0, 0, past, 0]))


class PlainVideoConv3d(nn.Conv3d):
    """A subclass that only renames: inherits ``forward``."""


class TinyVideoNet(nn.Module):
    """Every conv subclasses Conv3d: the case counted at 4% by counters that match exact types."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial = SamePadConv3d(3, 8, 3, bias=False)
        self.temporal = CausalTimeConv3d(8, 8, (3, 1, 1))
        self.project = PlainVideoConv3d(8, 16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.relu(self.temporal(torch.relu(self.spatial(x)))))


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_video_net_of_conv3d_subclasses_is_fully_counted(device: str) -> None:
    """Subclasses with their own forward are counted, and their inner F.pad/conv is not double-counted."""
    example = torch.randn(2, 3, 4, 8, 8)
    with FlopCounterMode(display=False) as counter:
        cost = profile(TinyVideoNet(), example, device=device)
    positions = 4 * 8 * 8  # every layer keeps T x H x W
    assert [layer.type for layer in cost.layers] == ["SamePadConv3d", "CausalTimeConv3d", "PlainVideoConv3d"]
    assert [layer.macs for layer in cost.layers] == [
        27 * 3 * 8 * positions,
        3 * 8 * 8 * positions,
        1 * 8 * 16 * positions,
    ]
    assert [layer.flops for layer in cost.layers] == [
        (2 * 27 * 3 - 1) * 8 * positions,
        2 * 3 * 8 * 8 * positions,
        2 * 8 * 16 * positions,
    ]
    assert cost.uncounted == ()
    assert 2 * cost.total_macs == torch_conv_flops(counter)


def test_lazy_conv_is_counted_once_materialised_and_refused_before() -> None:
    """Before its first forward a LazyConv has no shape to count: a clear error, model untouched."""
    lazy = nn.Sequential(nn.LazyConv2d(4, 3))
    own_hooks = dict(lazy[0]._forward_pre_hooks)  # the lazy module's own shape-inference hook
    with pytest.raises(ValueError, match="lazy") as excinfo:
        profile(lazy, torch.randn(1, 3, 8, 8))
    assert "0" in str(excinfo.value)
    assert lazy[0].has_uninitialized_params()
    assert dict(lazy[0]._forward_pre_hooks) == own_hooks
    assert not lazy[0]._forward_hooks
    lazy(torch.randn(1, 3, 8, 8))
    cost = profile(lazy, torch.randn(1, 3, 8, 8))
    assert cost.params == 27 * 4 + 4
    assert cost.macs == 27 * 4 * 36


def test_conv_that_never_runs_is_listed_idle_with_its_params() -> None:
    """A training-only head is named beside the totals, not folded into them nor dropped."""
    model = trained_workbench()
    cost = profile(model, torch.randn(2, 3, 8, 8))
    (idle,) = cost.idle_modules
    assert (idle.name, idle.type, idle.params) == ("aux", "Conv2d", 8 * 2 + 2)
    assert cost.idle_params == 18
    assert cost.params == (9 * 3 * 8 + 8) + (8 * 4 + 4)
    assert "aux" not in [layer.name for layer in cost.layers]


class BareFunctional(nn.Module):
    """A conv written as a bare functional call, beside a counted module."""

    def __init__(self, transposed: bool) -> None:
        super().__init__()
        self.transposed = transposed
        self.weight = nn.Parameter(torch.randn(4, 2, 2, 2) if transposed else torch.randn(4, 3, 3, 3))
        self.bias = nn.Parameter(torch.zeros(2)) if transposed else None
        self.counted = nn.Conv2d(2 if transposed else 4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transposed:
            x = F.conv_transpose2d(x, self.weight, self.bias, stride=2)
        else:
            x = F.conv2d(x, self.weight, padding=1)
        return self.counted(x)


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_bare_functional_conv_is_reported_but_not_in_the_totals(device: str) -> None:
    """A hook cannot see ``F.conv2d``; it is still listed, with its shapes and cost."""
    cost = profile(BareFunctional(transposed=False), torch.randn(2, 3, 6, 6), device=device)
    (call,) = cost.uncounted
    assert call.function == "conv2d"
    assert (call.input_shape, call.weight_shape, call.output_shape) == ((2, 3, 6, 6), (4, 3, 3, 3), (2, 4, 6, 6))
    assert call.total_macs == 2 * 27 * 4 * 36
    assert call.total_flops == 2 * (2 * 27 - 1) * 4 * 36
    assert [layer.name for layer in cost.layers] == ["counted"]
    assert cost.total_macs == 2 * 4 * 4 * 36  # only the 1x1 module


def test_bare_functional_transposed_conv_is_reported_by_input_size() -> None:
    """The functional path follows the same scatter rule as the module path."""
    cost = profile(BareFunctional(transposed=True), torch.randn(1, 4, 3, 3))
    (call,) = cost.uncounted
    assert call.function == "conv_transpose2d"
    assert call.output_shape == (1, 2, 6, 6)
    assert call.total_macs == 4 * 4 * 2 * 9
    assert call.total_flops == 2 * (4 * 4 * 2 * 9)  # - outputs + outputs for the bias
    assert cost.total_macs == 2 * 4 * 36


class CatchesAConvError(nn.Module):
    """Tries a conv, and on failure falls back to a functional conv."""

    def __init__(self) -> None:
        super().__init__()
        self.wrong = nn.Conv2d(5, 4, 3)
        self.weight = nn.Parameter(torch.randn(4, 3, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        try:
            return self.wrong(x)
        except RuntimeError:
            return F.conv2d(x, self.weight)


def test_bare_conv_after_a_caught_module_error_is_still_reported() -> None:
    """A model's own try/except around a conv must not hide later functional convs."""
    cost = profile(CatchesAConvError(), torch.randn(2, 3, 8, 8), device="cpu")
    assert len(cost.uncounted) == 1
    assert cost.uncounted[0].total_macs == 2 * 27 * 4 * 36


def test_unbatched_input_is_one_sample() -> None:
    """Channel counts come from the module, so a 3-D input to a Conv2d is simply batch 1."""
    for device in ("meta", "cpu"):
        cost = profile(nn.Conv2d(3, 4, 3), torch.randn(3, 8, 8), device=device)
        assert cost.batch_size == 1
        assert cost.layers[0].batch == 1
        assert cost.macs == cost.total_macs == 27 * 4 * 36
        assert cost.flops == cost.total_flops == 2 * 27 * 4 * 36
    cost = profile(nn.Sequential(nn.Conv1d(3, 4, 3), nn.Conv1d(4, 2, 1)), torch.randn(3, 10))
    assert cost.batch_size == 1
    assert cost.macs == 3 * 3 * 4 * 8 + 4 * 2 * 8


class FramesAlongTheBatch(nn.Module):
    """A video model that folds time into the batch before a 2-D conv."""

    def __init__(self) -> None:
        super().__init__()
        self.frame_conv = nn.Conv2d(3, 4, 3)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        batch, frames = clips.shape[:2]
        return self.frame_conv(clips.reshape(batch * frames, *clips.shape[2:]))


def test_frames_stacked_along_the_batch_count_per_clip() -> None:
    """The inner conv sees 6 images, but there are 2 samples: per-sample figures are totals / 2."""
    cost = profile(FramesAlongTheBatch(), torch.randn(2, 3, 3, 8, 8))
    (layer,) = cost.layers
    assert layer.batch == 6
    assert layer.input_shape == (6, 3, 8, 8)
    assert cost.batch_size == 2
    assert cost.total_macs == 6 * (27 * 4 * 36)
    assert cost.macs == cost.total_macs // 2 == 3 * (27 * 4 * 36)
    assert cost.flops == cost.total_flops // 2
    assert cost.per_sample_exact


class SampleBySample(nn.Module):
    """Runs its conv on one sample at a time (each call unbatched)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.conv(sample) for sample in x])


def test_per_sample_loop_divides_by_the_inputs_batch() -> None:
    """CONVENTIONS: the divisor is the leading dim of the first tensor input, here 2."""
    cost = profile(SampleBySample(), torch.randn(2, 3, 8, 8))
    assert cost.total_macs == 2 * 27 * 4 * 36
    assert cost.batch_size == 2
    assert cost.macs == 27 * 4 * 36


class Block(nn.Module):
    """A named child with a conv inside, to make a three-part name."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_nested_sequential_names_are_dotted_paths() -> None:
    """Names are those of ``named_modules()``: indices and attributes joined by dots."""
    model = nn.Sequential(nn.Sequential(nn.Identity(), Block()), nn.Conv2d(3, 2, 1))
    cost = profile(model, torch.randn(1, 3, 4, 4))
    assert [layer.name for layer in cost.layers] == ["0.1.conv", "1"]


def test_a_bare_conv_as_the_model_is_named_root() -> None:
    """Profiling a single conv module still gives it a readable name."""
    cost = profile(nn.Conv2d(3, 2, 1), torch.randn(1, 3, 4, 4))
    assert cost.layers[0].name == "(root)"


def test_channels_last_counts_the_same() -> None:
    """Memory format changes strides, never shapes: identical records on meta and cpu."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.Conv2d(8, 8, 3, groups=4, padding=1))
    example = torch.randn(2, 3, 17, 17)
    reference = profile(model, example, device="meta")
    model = model.to(memory_format=torch.channels_last)
    channels_last = example.to(memory_format=torch.channels_last)
    for device in ("meta", "cpu"):
        assert profile(model, channels_last, device=device).layers == reference.layers
    assert reference.macs == 27 * 8 * 64 + 9 * 2 * 8 * 64


def test_transposed_conv_at_stride_two_is_counted_by_input_size() -> None:
    """Counting by output size would be 4x too high at stride 2."""
    cost = profile(nn.ConvTranspose2d(8, 4, 2, stride=2), torch.randn(1, 8, 5, 5))
    (layer,) = cost.layers
    assert layer.kind == "conv"
    assert layer.output_shape == (1, 4, 10, 10)
    assert cost.macs == 4 * 8 * 4 * 25
    assert cost.macs * 4 == 4 * 8 * 4 * 100  # what the output-size count would wrongly give
    assert cost.flops == 2 * cost.macs - 4 * 100 + 4 * 100
    assert cost.params == 8 * 4 * 4 + 4


def test_grouped_transposed_conv_divides_by_groups() -> None:
    """Each input element meets only the output channels of its own group."""
    with FlopCounterMode(display=False) as counter:
        cost = profile(nn.ConvTranspose2d(8, 4, 3, stride=2, groups=2, bias=False), torch.randn(2, 8, 5, 5),
                       device="cpu")
    (layer,) = cost.layers
    assert layer.output_shape == (2, 4, 11, 11)
    assert layer.groups == 2
    assert cost.macs == 9 * (8 // 2) * 4 * 25
    assert cost.flops == 2 * cost.macs - 4 * 121
    assert cost.params == 8 * (4 // 2) * 9
    assert 2 * cost.total_macs == torch_conv_flops(counter)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_quantized_conv_is_counted_from_its_attributes() -> None:
    """Quantized convs are not ``_ConvNd`` subclasses; they count from their own geometry."""
    quantized = pytest.importorskip("torch.ao.nn.quantized")
    try:
        conv = quantized.Conv2d(3, 8, 3)
        example = torch.quantize_per_tensor(torch.randn(1, 3, 8, 8), 0.1, 0, torch.quint8)
        conv(example)
    except (RuntimeError, NotImplementedError) as error:  # no quantized engine in this build
        pytest.skip(f"quantized conv does not run here: {error}")
    model = nn.Sequential(conv)
    for device in ("cpu", "auto"):
        cost = profile(model, example, device=device)
        (layer,) = cost.layers
        assert (layer.name, layer.type, layer.bias) == ("0", "Conv2d", True)
        assert cost.params == 27 * 8 + 8
        assert cost.macs == 27 * 8 * 36
        assert cost.flops == 2 * 27 * 8 * 36
        assert cost.device == "cpu"


# --------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------


class TwoInputs(nn.Module):
    """An RGB-D model: two positional tensors, one conv each."""

    def __init__(self) -> None:
        super().__init__()
        self.rgb = nn.Conv2d(3, 4, 3)
        self.depth = nn.Conv2d(1, 4, 3)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        return self.rgb(rgb) + self.depth(depth)


class DictInput(nn.Module):
    """A model fed a dict of named tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.conv(batch["image"])


class OptionalGuide(nn.Module):
    """A model with an optional keyword-only guide tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.guide_conv = nn.Conv2d(1, 4, 3)

    def forward(self, x: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x)
        return out if guide is None else out + self.guide_conv(guide)


def test_several_positional_inputs() -> None:
    """Every positional input reaches the forward; the batch comes from the first."""
    cost = profile(TwoInputs(), torch.randn(2, 3, 8, 8), torch.randn(2, 1, 8, 8))
    assert cost.input_shapes == ((2, 3, 8, 8), (2, 1, 8, 8))
    assert cost.batch_size == 2
    assert cost.macs == 27 * 4 * 36 + 9 * 4 * 36


def test_dict_input() -> None:
    """A dict of tensors is passed through (and moved to the profiling device)."""
    for device in ("meta", "cpu"):
        cost = profile(DictInput(), {"image": torch.randn(3, 3, 8, 8)}, device=device)
        assert cost.batch_size == 3
        assert cost.macs == 27 * 4 * 36


def test_forward_keyword_arguments() -> None:
    """``kwargs=`` reaches the forward as keywords, tensors included."""
    plain = profile(OptionalGuide(), torch.randn(2, 3, 8, 8))
    guided = profile(OptionalGuide(), torch.randn(2, 3, 8, 8), kwargs={"guide": torch.randn(2, 1, 8, 8)})
    assert [layer.name for layer in plain.layers] == ["conv"]
    assert [layer.name for layer in guided.layers] == ["conv", "guide_conv"]
    assert guided.macs == plain.macs + 9 * 4 * 36


def test_explicit_batch_size_is_the_divisor() -> None:
    """``batch_size=`` overrides the leading dimension for per-sample figures."""
    cost = profile(nn.Conv2d(3, 4, 3), torch.randn(8, 3, 8, 8), batch_size=4)
    assert cost.batch_size == 4
    assert cost.total_macs == 8 * 27 * 4 * 36
    assert cost.macs == 2 * 27 * 4 * 36


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "4"])
def test_invalid_batch_size_is_a_value_error(bad: Any) -> None:
    """Only a positive int is a batch size (``True`` is not 1)."""
    with pytest.raises(ValueError, match="batch_size"):
        profile(nn.Conv2d(3, 4, 3), torch.randn(2, 3, 8, 8), batch_size=bad)


def test_not_a_module_is_a_value_error() -> None:
    """Passing a function or a state dict instead of a module is a usage error."""
    with pytest.raises(ValueError, match="Module"):
        profile(lambda x: x, torch.randn(1, 3, 8, 8))  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# aggregates, table, JSON
# --------------------------------------------------------------------------


def test_by_module_and_by_depth() -> None:
    """``by_module`` sums calls per module; ``depth=1`` per top-level block."""
    cost = profile(models.resnet18(), torch.randn(1, 3, 64, 64), device="meta")
    per_module = cost.by_module()
    assert len(per_module) == len(cost.layers) == 20
    assert per_module["layer3.0.downsample.0"].calls == 1
    blocks = cost.by_module(depth=1)
    assert list(blocks) == ["conv1", "layer1", "layer2", "layer3", "layer4"]
    assert [blocks[name].calls for name in blocks] == [1, 4, 5, 5, 5]
    for name, block in blocks.items():
        inside = [layer for layer in cost.layers if layer.name == name or layer.name.startswith(name + ".")]
        assert block.flops == sum(layer.flops for layer in inside)
        assert block.macs == sum(layer.macs for layer in inside)
        assert block.params == sum(layer.params for layer in inside)
    assert sum(block.flops for block in blocks.values()) == cost.flops
    twice = profile(TwiceCalled(), torch.randn(1, 3, 4, 4)).by_module()
    assert twice["conv"].calls == 2
    assert twice["conv"].params == 84


def test_table_lists_layers_and_totals() -> None:
    """The table a user reads names each layer call and states the totals exactly."""
    cost = profile(TwiceCalled(), torch.randn(2, 3, 8, 8))
    text = profile(models.resnet18(), torch.randn(1, 3, 64, 64), device="meta").table()
    assert "layer3.0.downsample.0" in text
    assert "layer4.1.conv2" in text
    assert "total conv FLOPs" in text
    assert "total conv parameters" in text
    assert "conv, call 2" in cost.table()
    assert f"{cost.flops:,}" in cost.table()


def assert_only_exact_numbers(value: Any, where: str = "to_dict()") -> None:
    """No float anywhere in the JSON form: counts must stay exact."""
    assert not isinstance(value, float), f"float at {where}"
    if isinstance(value, dict):
        for key, item in value.items():
            assert_only_exact_numbers(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_only_exact_numbers(item, f"{where}[{index}]")


def test_json_round_trip_is_exact_beyond_float_precision() -> None:
    """Counts above 2**53 survive ``json.dumps``/``json.loads`` and ``from_dict`` to the unit."""
    conv = nn.Conv2d(64, 64, 3, padding=1)
    batch, side = 10**6, 1024
    cost = profile(conv, torch.empty(batch, 64, side, side, device="meta"), device="meta")
    per_sample = 2 * (9 * 64) * 64 * side * side
    assert cost.flops == per_sample
    assert cost.total_flops == batch * per_sample
    assert cost.total_flops > 2**53 and float(cost.total_flops + 1) == float(cost.total_flops)
    data = cost.to_dict()
    assert_only_exact_numbers(data)
    for name in ("params", "flops", "macs", "total_flops", "total_macs", "batch_size", "model_params"):
        assert type(data[name]) is int, name
    for name in ("params", "flops", "macs", "total_flops", "total_macs", "batch"):
        assert type(data["layers"][0][name]) is int, name
    restored = ConvCost.from_dict(json.loads(json.dumps(data)))
    assert restored == cost
    assert restored.total_flops == batch * per_sample


def test_json_round_trip_keeps_every_part() -> None:
    """Idle modules, uncounted calls, repeated calls and string padding all come back equal."""
    class Everything(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.same = nn.Conv2d(3, 3, 3, padding="same")
            self.idle = nn.Conv2d(3, 3, 1)
            self.weight = nn.Parameter(torch.randn(3, 3, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.conv2d(self.same(self.same(x)), self.weight)

    cost = profile(Everything(), torch.randn(2, 3, 6, 6))
    assert cost.layers[0].padding == "same"
    assert len(cost.layers) == 2 and len(cost.idle_modules) == 1 and len(cost.uncounted) == 1
    data = cost.to_dict()
    assert_only_exact_numbers(data)
    assert ConvCost.from_dict(json.loads(json.dumps(data))) == cost


class PartOfTheBatch(nn.Module):
    """A second conv sees only the first sample of the batch."""

    def __init__(self) -> None:
        super().__init__()
        self.full = nn.Conv2d(3, 5, 3)
        self.first_only = nn.Conv2d(5, 3, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.full(x)
        return self.first_only(y[:1])


def test_inner_conv_on_part_of_the_batch_rounds_but_still_adds_up() -> None:
    """Per-sample shares that cannot be exact are flagged, and the layers still sum to the totals."""
    cost = profile(PartOfTheBatch(), torch.randn(4, 3, 7, 7))
    full, partial = cost.layers
    assert (full.batch, partial.batch) == (4, 1)
    full_macs, partial_macs = 27 * 5 * 25, 5 * 3 * 25  # 375 MACs: not a multiple of 4
    assert cost.total_macs == 4 * full_macs + partial_macs
    assert cost.total_flops == 4 * (2 * 27 * 5 * 25) + (2 * 5 - 1) * 3 * 25
    assert not cost.per_sample_exact
    assert_layers_add_up(cost)
    # the per-sample figure is the total over 4, rounded half up
    assert cost.macs == (2 * cost.total_macs + 4) // 8 == 3469
    assert cost.flops == (2 * cost.total_flops + 4) // 8
    assert "rounded" in cost.table()


# --------------------------------------------------------------------------
# batch-size inference at the edges, and a second conv inside a counted module
# --------------------------------------------------------------------------


class AddsABatchDimension(nn.Module):
    """Accepts one image and unsqueezes it, as inference wrappers do."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.unsqueeze(0) if x.dim() == 3 else x)


class RawAudio(nn.Module):
    """A (batch, samples) waveform, given a channel dimension for its Conv1d."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.unsqueeze(1))


def test_one_image_unsqueezed_by_the_model_is_one_sample() -> None:
    """(3, 32, 32) is one sample, not a batch of 3: same per-sample cost as a batch of 2."""
    single = profile(AddsABatchDimension(), torch.randn(3, 32, 32))
    batch = profile(AddsABatchDimension(), torch.randn(2, 3, 32, 32))
    assert (single.batch_size, batch.batch_size) == (1, 2)
    assert single.flops == batch.flops == 2 * 27 * 4 * 30 * 30  # bias: 2 FLOPs per MAC


def test_a_batch_of_waveforms_keeps_its_batch() -> None:
    """(5, 100) audio is five samples: the conv sees a batch of 5."""
    cost = profile(RawAudio(), torch.randn(5, 100))
    assert cost.batch_size == 5
    assert cost.macs == 3 * 4 * 98


class ConvsTwice(nn.Conv2d):
    """A conv subclass whose forward runs a second convolution of its own."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return F.conv2d(y, self.weight, padding=1)


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_a_second_conv_inside_a_counted_module_is_not_silently_lost(device: str) -> None:
    """The hook counts one conv per call; the module's extra conv is listed, not in the totals."""
    model = nn.Sequential(ConvsTwice(4, 4, 3, padding=1))
    cost = profile(model, torch.randn(1, 4, 8, 8), device=device)
    assert cost.flops == 2 * 36 * 4 * 64
    (extra,) = cost.uncounted
    assert extra.inside == "0"
    assert (extra.function, extra.total_macs) == ("conv2d", 36 * 4 * 64)
    assert "1 extra op(s) inside 0 beside each module's own (conv2d;" in cost.table()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kwargs": 5}, "kwargs must be a dict"),
        ({"count": "convs"}, r"count = 'convs': unknown kind 'convs'; expected a kind \(conv, linear,"),
        ({"count": []}, r"count = \[\]: expected a kind"),
        ({"count": 3}, r"count = 3: expected a kind"),
        ({"count": ["conv", 1]}, r"count = \['conv', 1\]: expected a kind"),
        ({"count": ["all", "bogus"]}, r"count = \['all', 'bogus'\]: unknown kind 'bogus'"),
        ({"count": ["all", "conv"]}, r"count = \['all', 'conv'\]: 'all' already counts every kind; give it alone"),
        ({"device": "cpu:0"}, "unknown device 'cpu:0'"),
    ],
)
def test_bad_profile_options_are_one_line_errors(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        profile(nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8), **options)
