"""TorchScript on meta behaves as its real forward: its RNNs run and are counted, its
operands' dtypes are checked as the CPU kernels check them, and what the profile itself
raises inside the interpreter (a library's custom op, a value computed from weights) comes
back as the profile's one line, not the interpreter's RuntimeError of many lines.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import pytest
import torch
from torch import nn

from pytest_convbudget import profile
from pytest_convbudget.engine.profiler import ProfileUsageError


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 16, num_layers=2)
        self.gru = nn.GRU(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(x)
        z, _ = self.gru(y)
        return z


def traced(model: nn.Module, *inputs: torch.Tensor) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.trace(model, inputs)


FORMS: dict[str, Callable[[nn.Module, torch.Tensor], Any]] = {
    "jit.trace": traced,  # its graph makes the initial states on the device it was traced on
    "jit.script": lambda model, x: torch.jit.script(model),  # its RNNs keep their weights in a list of their own
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_script_modules_rnns_run_on_meta_and_count_as_eager(form: str) -> None:
    """Traced: 'Input and hidden tensors are not at the same device' (meta and cpu) before;
    scripted: 'Input and parameter tensors are not at the same device'."""
    model, x = Recurrent().eval(), torch.randn(5, 2, 8)
    eager = profile(model, x, count="all", device="cpu")
    shipped = FORMS[form](model, x)
    for device in ("meta", "cpu"):
        cost = profile(shipped, x, count="all", device=device)
        assert cost.device == device
        assert (cost.total_flops, cost.total_macs, cost.params) == (eager.total_flops, eager.total_macs, eager.params)


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.norm = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(self.conv(x)).flatten(1))


@pytest.mark.parametrize("form", ["eager", "jit.trace"])
def test_a_bf16_model_given_float32_inputs_fails_on_meta_as_its_real_forward_does(form: str) -> None:
    model = Head().eval().to(torch.bfloat16)
    shipped = model if form == "eager" else traced(model, torch.randn(1, 3, 8, 8, dtype=torch.bfloat16))
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(RuntimeError):
        shipped(x)
    for device in ("meta", "auto", "cpu"):
        with pytest.raises(RuntimeError):
            profile(shipped, x, count="all", device=device)
    ok = profile(shipped, x.to(torch.bfloat16), count="all", device="meta")  # the right dtype still runs
    assert ok.total_macs > 0


@pytest.mark.parametrize("parts, mixed", [
    ((torch.float32, torch.bfloat16), True),
    ((torch.bfloat16, torch.float32), False),  # a bf16 input with float32 norm parameters: the CPU takes it
    ((torch.bfloat16, torch.bfloat16), False),
])
def test_norms_on_meta_take_the_dtypes_the_cpu_takes(parts: tuple[torch.dtype, torch.dtype], mixed: bool) -> None:
    data, parameters = parts
    for norm, x in ((nn.LayerNorm(8), torch.randn(2, 8)), (nn.BatchNorm1d(8), torch.randn(2, 8))):
        model = norm.eval().to(parameters)
        x = x.to(data)
        if mixed:
            for device in ("meta", "cpu"):
                with pytest.raises(RuntimeError):
                    profile(model, x, device=device)
        else:
            meta, cpu = (profile(model, x, device=device).activation_bytes for device in ("meta", "cpu"))
            assert meta == cpu


@torch.library.custom_op("convbudget_script_test::project", mutates_args=())
def _project(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return torch.mm(x, weight.t())


@_project.register_fake
def _(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return x.new_empty(x.shape[0], weight.shape[0])


class Projected(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.convbudget_script_test.project(x, self.weight)


def test_a_custom_op_inside_a_script_module_is_one_line_naming_it() -> None:
    x = torch.randn(3, 4)
    shipped = traced(Projected(), x)
    with pytest.raises(ProfileUsageError) as raised:
        profile(shipped, x, count="all", device="meta")
    assert str(raised.value) == ("convbudget_script_test::project is a custom op: what it runs is seen only on a "
                                 "real forward; profile on device='cpu' (or 'auto')")
    cost = profile(shipped, x, count="all")
    assert cost.device == "cpu" and cost.total_macs == 3 * 6 * 4
    assert cost.fallback_reason == ("could not run on meta (convbudget_script_test::project is a custom op: "
                                    "what it runs is seen only on a real forward)")


class Router(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.score = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(self.score(x).sum() > 0):
            return x * 2
        return x


def test_a_value_from_weights_inside_a_script_module_is_one_line() -> None:
    shipped = torch.jit.script(Router().eval())
    with pytest.raises(ProfileUsageError) as raised:
        profile(shipped, torch.randn(3, 4), count="all", device="meta")
    assert "\n" not in str(raised.value) and "on a value computed from weights" in str(raised.value)
