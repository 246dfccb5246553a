"""Every form a model ships in, counted like its eager self (issue 14).

Each form of a model is profiled with ``count="all"`` on meta and on the CPU and held
against the eager model's figures: params, FLOPs and MACs, and the FLOPs of each kind;
the rows that consumed weights carry the eager model's module paths. The eager figures
are themselves pinned to ``FlopCounterMode`` elsewhere (``test_zoo.py``); here, the
forms' MACs are also held against ``FlopCounterMode`` run on the eager model.

- TorchScript (traced, scripted, saved and loaded) and exported programs (the program,
  its ``.module()``, saved and loaded by torch, saved and read as data by the profile
  command's own reader) run graphs of aten ops: counted at the dispatcher. Read without
  its weights (made on meta from the archive's metadata), a ``.pt2`` counts the same on meta.
- ``torch.compile``: the original module is counted, nothing is compiled.
- Quantized models (static and dynamic ``torch.ao.nn.quantized``): like their float twins.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode
from zoo_models import import_torchvision

from pytest_convbudget import profile
from pytest_convbudget.engine.forms import load_saved_program
from pytest_convbudget.words.errors import ProfileError

torchvision = import_torchvision()


class ConvMLP(nn.Module):
    """Convs, a linear, and a matmul of activations."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=2))
        self.head = nn.Linear(8 * 12 * 12, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.stem(x).flatten(1))
        return torch.matmul(x.unsqueeze(2), x.unsqueeze(1)).flatten(1)


def tiny_vit() -> nn.Module:
    return torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64)


def encoder() -> nn.Module:
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)


MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "conv-mlp": (ConvMLP, (2, 3, 16, 16)),
    "torchvision-resnet18": (lambda: torchvision.models.resnet18(num_classes=10), (1, 3, 64, 64)),
    "torchvision-vit": (tiny_vit, (2, 3, 32, 32)),
    "transformer-encoder": (encoder, (2, 5, 16)),
}


def _traced(model: nn.Module, x: torch.Tensor, tmp: Path) -> Any:
    with torch.no_grad():  # as deployed: torch's fused attention kernels are traced
        return torch.jit.trace(model, x)


def _scripted(model: nn.Module, x: torch.Tensor, tmp: Path) -> Any:
    return torch.jit.script(model)


def _loaded_script(model: nn.Module, x: torch.Tensor, tmp: Path) -> Any:
    torch.jit.save(_traced(model, x, tmp), tmp / "model.pt")
    return torch.jit.load(tmp / "model.pt")


def _program(model: nn.Module, x: torch.Tensor, tmp: Path) -> Any:
    return torch.export.export(model, (x,))


def _program_module(model: nn.Module, x: torch.Tensor, tmp: Path) -> Any:
    return _program(model, x, tmp).module()


def _loaded_program(model: nn.Module, x: torch.Tensor, tmp: Path) -> Any:
    torch.export.save(_program(model, x, tmp), tmp / "model.pt2")
    return torch.export.load(tmp / "model.pt2")


def _read_program(model: nn.Module, x: torch.Tensor, tmp: Path) -> Any:
    """What ``profile FILE.pt2`` profiles: the archive read as data, weights and all."""
    torch.export.save(_program(model, x, tmp), tmp / "model.pt2")
    return load_saved_program(tmp / "model.pt2", read_weights=True)[0]


def _fx(model: nn.Module, x: torch.Tensor, tmp: Path) -> Any:
    return torch.fx.symbolic_trace(model)


FORMS: dict[str, Callable[[nn.Module, torch.Tensor, Path], Any]] = {
    "jit.trace": _traced,
    "jit.script": _scripted,
    "jit.load": _loaded_script,
    "ExportedProgram": _program,
    "export().module()": _program_module,
    "export.load": _loaded_program,
    "pt2 read as data": _read_program,
    "fx.symbolic_trace": _fx,
}
NOT_SCRIPTABLE = {("torchvision-vit", "jit.script"), ("transformer-encoder", "fx.symbolic_trace")}


def figures(cost: Any) -> tuple[Any, ...]:
    kinds = {kind: share.flops for kind, share in cost.by_kind().items()}
    return cost.params, cost.flops, cost.macs, cost.total_flops, cost.total_macs, kinds


def weighted_rows(cost: Any) -> list[tuple[str, str]]:
    """(name, kind) of the rows that consumed weights."""
    return sorted({(layer.name, layer.kind) for layer in cost.layers if layer.kind in ("conv", "linear") and layer.params})


def eager_macs(model: nn.Module, x: torch.Tensor) -> int:
    """``FlopCounterMode`` on the eager model, with its fast paths off: attention on the math
    backend, whose matmuls it counts, and nn.MultiheadAttention off its fused kernel, which it
    does not count."""
    was = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as reference:
            model(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(was)
    return reference.get_total_flops() // 2


@pytest.mark.skipif(torchvision is None, reason="torchvision is not installed")
@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_form_counts_like_its_eager_self(name: str, form: str, tmp_path: Path) -> None:
    """The figures on meta and on the CPU; the kinds on the CPU (on meta, a TorchScript module's
    attention runs as its two matmuls and is counted as them); rows under the eager model's paths."""
    if (name, form) in NOT_SCRIPTABLE:
        pytest.skip("torch cannot make this form of this model")
    torch.manual_seed(0)
    make, shape = MODELS[name]
    model = make().eval()
    x = torch.randn(shape)
    eager = profile(model, x, count="all", device="cpu")
    assert eager.total_macs == eager_macs(model, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation
        shipped = FORMS[form](model, x, tmp_path)
    paths = {path for path, _ in model.named_modules()}
    for device in ("meta", "cpu"):
        cost = profile(shipped, x, count="all", device=device)
        assert figures(cost)[:5] == figures(eager)[:5], device
        assert {name for name, _ in weighted_rows(cost)} <= paths, device
    assert figures(cost) == figures(eager)
    if "jit" not in form:  # TorchScript keeps a weight's module, not the module that called it
        assert weighted_rows(cost) == weighted_rows(eager)


@pytest.mark.skipif(torchvision is None, reason="torchvision is not installed")
@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_pt2_read_without_its_weights_counts_on_meta_like_its_eager_self(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    make, shape = MODELS[name]
    model = make().eval()
    x = torch.randn(shape)
    torch.export.save(torch.export.export(model, (x,)), tmp_path / "model.pt2")
    program, examples = load_saved_program(tmp_path / "model.pt2", read_weights=False)
    assert all(tensor.is_meta for tensor in program.state_dict.values())
    assert [tuple(example.shape) for example in examples[0]] == [shape] and examples[1] == {}
    eager, cost = profile(model, x, count="all", device="meta"), profile(program, *examples[0], count="all", device="meta")
    assert figures(cost) == figures(eager)
    assert (cost.model_params, cost.weight_bytes) == (eager.model_params, eager.weight_bytes)
    assert weighted_rows(cost) == weighted_rows(eager)


def test_a_compiled_model_counts_as_its_original_and_compiles_nothing() -> None:
    eager = ConvMLP().eval()
    x = torch.randn(2, 3, 16, 16)
    compiled = torch.compile(eager)
    torch._dynamo.reset()
    for device in ("meta", "cpu"):
        cost = profile(compiled, x, count="all", device=device)
        reference = profile(eager, x, count="all", device=device)
        assert cost == reference
        assert [layer.name for layer in cost.layers] == ["stem.0", "stem.3", "head", "(root)"]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 0  # no frame was compiled
    assert cost.model == "ConvMLP"


def test_the_default_count_of_a_script_module_is_its_conv_layers_with_the_rest_listed() -> None:
    model = ConvMLP().eval()
    x = torch.randn(2, 3, 16, 16)
    eager, traced = profile(model, x), profile(torch.jit.trace(model, x), x)
    assert (traced.params, traced.flops, traced.macs) == (eager.params, eager.flops, eager.macs)
    assert [(layer.name, layer.type) for layer in traced.layers] == [("stem.0", "Conv2d"), ("stem.3", "Conv2d")]
    assert {call.kind: call.total_flops for call in traced.uncounted} == {
        call.kind: call.total_flops for call in eager.uncounted}
    assert traced.uncounted_work() == eager.uncounted_work() != {}


# -- quantized models: counted like their float twins ---------------------------------


class QuantizableNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant, self.dequant = torch.ao.quantization.QuantStub(), torch.ao.quantization.DeQuantStub()
        self.conv = nn.Conv2d(3, 8, 3)
        self.relu = nn.ReLU()
        self.grouped = nn.Conv2d(8, 8, 3, groups=2, bias=False)
        self.fc = nn.Linear(8 * 12 * 12, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.grouped(self.relu(self.conv(self.quant(x))))
        return self.dequant(self.fc(x.flatten(1)))


def statically_quantized() -> tuple[nn.Module, nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model, x = QuantizableNet().eval(), torch.randn(2, 3, 16, 16)
    model.qconfig = torch.ao.quantization.get_default_qconfig("fbgemm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = torch.ao.quantization.prepare(model)
        prepared(x)
        return model, torch.ao.quantization.convert(prepared), x


def dynamically_quantized(dtype: torch.dtype) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8, bias=False)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mlp, torch.ao.quantization.quantize_dynamic(mlp, {nn.Linear}, dtype=dtype), torch.randn(4, 32)


QUANTIZED = {
    "static": statically_quantized,
    "dynamic-int8": lambda: dynamically_quantized(torch.qint8),
    "dynamic-fp16": lambda: dynamically_quantized(torch.float16),
}


@pytest.mark.parametrize("count", ["conv", "all"])
@pytest.mark.parametrize("kind", sorted(QUANTIZED))
def test_a_quantized_model_counts_like_its_float_twin(kind: str, count: str) -> None:
    floating, quantized, x = QUANTIZED[kind]()
    twin, cost = profile(floating, x, count=count), profile(quantized, x, count=count)
    assert (cost.params, cost.flops, cost.macs, cost.model_params) == (twin.params, twin.flops, twin.macs, twin.model_params)
    assert [(layer.name, layer.kind) for layer in cost.layers] == [(layer.name, layer.kind) for layer in twin.layers]
    assert cost.uncounted_work() == twin.uncounted_work()  # under count="conv", the linears are listed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(quantized, x)
    from_script = profile(traced, x, count=count)
    assert (from_script.params, from_script.flops, from_script.macs) == (twin.params, twin.flops, twin.macs)


def test_a_quantized_model_on_meta_is_refused_in_one_line() -> None:
    _, quantized, x = dynamically_quantized(torch.qint8)
    with pytest.raises(ProfileError) as raised:
        profile(quantized, x, device="meta", count="all")
    assert str(raised.value) == ("quantized::linear_dynamic has no meta kernel: the model cannot run on meta; "
                                 "profile on device='cpu' (or 'auto')")
    assert profile(quantized, x, count="all").device == "cpu"  # auto falls back by itself


# -- ops however they are called --------------------------------------------------------


class AtenCalls(nn.Module):
    """A forward that calls aten ops directly, and a library op built on them."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(12, 8))
        self.kernel = nn.Parameter(torch.randn(4, 3, 3, 3))

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        y = torch.ops.aten.mm(x, self.weight.t())  # a weight: a linear
        scores = torch.ops.aten.bmm(y.unsqueeze(0), y.t().unsqueeze(0))  # no weight: a matmul
        conv = torch.ops.aten.convolution(image, self.kernel, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
        return scores.sum() + conv.sum() + torch.linalg.matmul(y, y.t()).sum()  # linalg.matmul: not torch.matmul


def test_aten_calls_are_counted_by_kind_or_listed_with_their_flops() -> None:
    model, x, image = AtenCalls(), torch.randn(5, 8), torch.randn(1, 3, 6, 6)
    counted = profile(model, x, image, count="all")
    assert [(layer.type, layer.kind, layer.total_macs) for layer in counted.layers] == [
        ("mm", "linear", 5 * 8 * 12), ("bmm", "matmul", 5 * 12 * 5), ("convolution", "conv", 4 * 27 * 16),
        ("mm", "matmul", 5 * 12 * 5),
    ]
    with FlopCounterMode(display=False) as reference:
        model(x, image)
    assert counted.total_macs == reference.get_total_flops() // 2
    default = profile(model, x, image)
    assert default.total_macs == 4 * 27 * 16  # the conv of a weight is a conv layer's work
    assert default.uncounted_work() == {"linear": 5 * 12 * (2 * 8 - 1), "matmul": 2 * 5 * 5 * (2 * 12 - 1)}


# -- what is no model ---------------------------------------------------------------------


def _scale(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@pytest.mark.parametrize(("make", "message"), [
    (lambda: torch.jit.script(_scale), "profile() needs a module: this is a TorchScript function (torch.jit.script "
                                        "of a function); script or trace the torch.nn.Module that calls it instead"),
    (lambda: "resnet", "profile() needs a torch.nn.Module or an ExportedProgram, got str"),
])
def test_what_is_no_model_is_refused_in_one_line(make: Callable[[], Any], message: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        thing = make()
    with pytest.raises(ProfileError) as raised:
        profile(thing, torch.randn(2))
    assert str(raised.value) == message


def test_an_exported_program_given_other_inputs_says_so_in_one_line() -> None:
    program = torch.export.export(ConvMLP().eval(), (torch.randn(2, 3, 16, 16),))
    with pytest.raises(ProfileError) as raised:
        profile(program, torch.randn(1, 3, 16, 16))
    assert str(raised.value).startswith("the exported program refuses these inputs (Guard failed: ")
    assert str(raised.value).endswith("pass inputs like those it was exported with "
                                      "(a .pt2 file's example inputs: no --input), or export it with dynamic shapes")
    assert "\n" not in str(raised.value)


def test_every_form_leaves_the_model_as_found(tmp_path: Path) -> None:
    from test_model_left_as_found import assert_same, snapshot

    model, x = ConvMLP().eval(), torch.randn(2, 3, 16, 16)
    shipped = [FORMS[form](model, x, tmp_path) for form in ("jit.trace", "export().module()", "fx.symbolic_trace")]
    shipped += [statically_quantized()[1], dynamically_quantized(torch.qint8)[1]]
    for form in shipped:
        data = x if form is not shipped[-1] else torch.randn(4, 32)
        expected = form(data)
        before = snapshot(form)
        for device in ("auto", "cpu"):
            profile(form, data, count="all", device=device)
            assert_same(before, snapshot(form))
        assert torch.equal(form(data), expected)


# -- third-party models, built from their configs ----------------------------------------

THIRD_PARTY = ("bert", "gpt2", "llama", "diffusers_unet", "monai_unet")


@pytest.mark.parametrize("form", ["ExportedProgram", "jit.trace"])
@pytest.mark.parametrize("name", THIRD_PARTY)
def test_third_party_models_count_like_their_eager_selves_when_exported_or_traced(name: str, form: str) -> None:
    """transformers, diffusers and MONAI models nobody here wrote: exported and traced, on
    meta (auto) and the CPU, with every kind counted, against the eager model."""
    import test_memory

    torch.manual_seed(0)
    model, args, kwargs = getattr(test_memory, name)()
    model.eval()
    eager = profile(model, *args, kwargs=kwargs, count="all", device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if form == "ExportedProgram":
                shipped = torch.export.export(model, args, kwargs)
            else:
                with torch.no_grad():
                    shipped = torch.jit.trace(model, args, strict=False) if not kwargs else None
        except Exception as error:  # noqa: BLE001 - a form torch cannot make of this model
            pytest.skip(f"torch cannot make this form: {type(error).__name__}")
    if shipped is None:
        pytest.skip("jit.trace takes no keyword inputs")
    for device in ("auto", "cpu"):
        cost = profile(shipped, *args, kwargs=kwargs if form == "ExportedProgram" else None, count="all", device=device)
        assert (cost.params, cost.flops, cost.macs) == (eager.params, eager.flops, eager.macs), device
        assert {name for name, _ in weighted_rows(cost)} <= {path for path, _ in model.named_modules()}


# -- what a review found: each a model that once counted wrong -------------------------


def test_a_parametrized_linear_is_counted_once_beside_its_power_iteration() -> None:
    """spectral_norm runs ``mv`` before the layer's own ``F.linear``: the layer is counted once
    (its hook), and the power iteration's products are work of their own."""
    from torch.nn.utils.parametrizations import spectral_norm

    model = nn.Sequential(spectral_norm(nn.Linear(64, 32))).eval()
    x = torch.randn(4, 64)
    cost = profile(model, x, count="linear")
    assert [(layer.name, layer.type, layer.total_macs) for layer in cost.layers] == [
        ("0", "ParametrizedLinear", 4 * 64 * 32), ("0.parametrizations.weight.0", "mv", 32 * 64)]
    assert profile(model, x, count="conv").uncounted_work()["linear"] == 4 * 32 * (2 * 64) + 32 * (2 * 64 - 1)


def test_a_quantized_module_called_twice_in_torchscript_counts_its_weights_once() -> None:
    _, quantized, x = statically_quantized()

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = quantized

        def forward(self, data: torch.Tensor) -> torch.Tensor:
            return self.net(data) + self.net(-data)  # two inputs: TorchScript would merge equal calls

    eager = profile(Twice(), x, count="all")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = profile(torch.jit.trace(Twice(), x), x, count="all")
    assert (traced.params, traced.total_macs) == (eager.params, eager.total_macs)
    assert [layer.name for layer in traced.layers] == [layer.name for layer in eager.layers]


def test_a_decomposed_exported_program_counts_a_linear_without_bias_as_a_linear() -> None:
    model = nn.Sequential(nn.Linear(8, 16, bias=False), nn.ReLU(), nn.Linear(16, 8)).eval()
    x = torch.randn(2, 8)
    program = torch.export.export(model, (x,)).run_decompositions()
    eager, decomposed = profile(model, x, count="linear"), profile(program, x, count="linear")
    assert (decomposed.params, decomposed.flops, decomposed.macs) == (eager.params, eager.flops, eager.macs)
    assert [layer.name for layer in decomposed.layers] == ["0", "2"]


@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU])
def test_recurrent_layers_count_the_same_on_meta_and_on_the_cpu(cell: type[nn.Module]) -> None:
    """On the CPU, nn.LSTM runs one fused kernel per layer and direction; on meta, its linears
    one by one: the same figures, by hand: every step projects its input and its hidden
    state to the gates, each with a bias."""
    model = cell(8, 16, num_layers=2, batch_first=True, bidirectional=True).eval()
    x = torch.randn(2, 5, 8)
    on_meta, on_cpu = profile(model, x, count="all", device="meta"), profile(model, x, count="all", device="cpu")
    gates = 4 if cell is nn.LSTM else 3
    rows = 2 * 5
    first = 2 * rows * gates * 16 * (8 + 16)  # two directions
    second = 2 * rows * gates * 16 * (32 + 16)  # the second layer reads both directions
    assert on_meta.total_macs == on_cpu.total_macs == first + second
    assert on_meta.params == on_cpu.params == sum(p.numel() for p in model.parameters())


def test_attention_returning_its_weights_is_two_matmuls_in_every_form() -> None:
    """nn.MultiheadAttention with ``need_weights=True`` (its default) runs two bmm's in eager;
    its fused kernel, traced, is read the same."""
    class Attend(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.attn(x, x, x)[0]

    model, x = Attend().eval(), torch.randn(2, 5, 8)
    eager = profile(model, x, count="all")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, x)
    for device in ("meta", "cpu"):
        cost = profile(traced, x, count="all", device=device)
        assert figures(cost) == figures(eager)
        assert [(layer.name, layer.kind) for layer in cost.layers] == [(layer.name, layer.kind) for layer in eager.layers]


def test_an_eager_model_holding_a_torchscript_part_names_its_layers() -> None:
    class Hybrid(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.backbone = torch.jit.script(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()))
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.backbone(x))

    cost = profile(Hybrid().eval(), torch.randn(1, 3, 8, 8))
    assert [(layer.name, layer.type) for layer in cost.layers] == [("backbone.0", "Conv2d"), ("head", "Conv2d")]
    assert cost.params == (3 * 9 * 8 + 8) + (8 * 4 + 4)


def test_a_train_mode_graph_that_updates_its_buffers_leaves_them_as_found() -> None:
    """A traced or exported model in train mode updates its batch norm's statistics: on meta
    the update runs on the profile's copies, never on the model's buffers."""
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.norm = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.norm(self.conv(x))

    x = torch.randn(2, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forms = [torch.jit.trace(Net().train(), x, check_trace=False), torch.export.export(Net().train(), (x,)).module()]
    for form in forms:
        before = {name: tensor.clone() for name, tensor in form.state_dict().items()}
        for device in ("meta", "auto", "cpu"):
            profile(form, x, device=device)
            assert all(torch.equal(before[name], tensor) for name, tensor in form.state_dict().items()), device


def test_a_fused_quantized_conv_and_add_counts_its_conv() -> None:
    """``quantized.conv2d_add`` takes its accumulator before its packed weight."""
    import torch.ao.nn.intrinsic.quantized as fused

    if "onednn" not in torch.backends.quantized.supported_engines:
        pytest.skip("this torch has no onednn quantized engine")
    engine = torch.backends.quantized.engine
    torch.backends.quantized.engine = "onednn"
    try:
        class ConvAdd(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv = fused.ConvAdd2d(3, 4, 3)

            def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                return self.conv(x, y)

        x = torch.quantize_per_tensor(torch.randn(1, 3, 8, 8), 0.1, 0, torch.quint8)
        y = torch.quantize_per_tensor(torch.randn(1, 4, 6, 6), 0.1, 0, torch.quint8)
        for count in ("conv", "linear", "all"):
            cost = profile(ConvAdd(), x, y, count=count)
            expected = 4 * 36 * 27 if count != "linear" else 0
            assert cost.total_macs == expected
    finally:
        torch.backends.quantized.engine = engine


def test_a_higher_order_op_is_refused_in_one_line() -> None:
    class Branching(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cond(x.sum() > 0, lambda h: self.inner(h), lambda h: self.inner(h) * 2, (x,))

    with pytest.raises(ProfileError) as raised:
        profile(Branching(), torch.randn(2, 8), count="all")
    assert str(raised.value) == ("the model calls torch.cond, a higher-order op whose inner ops a profile cannot "
                                 "see yet; profile the branch or body it runs as a module of its own")


# -- a library's custom op built on registered ops ----------------------------------------


@torch.library.custom_op("convbudget_forms_test::project", mutates_args=())
def _project(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return torch.mm(x, weight.t())


@_project.register_fake
def _(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return x.new_empty(x.shape[0], weight.shape[0])


class CustomOp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(16, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _project(x, self.weight)


def test_a_custom_op_is_counted_by_what_its_kernel_runs() -> None:
    """A library's op (``torch.library.custom_op``) runs its kernel with the profile's view on, so
    the matmul it runs is counted; on meta its fake kernel would hide that, so ``auto`` counts it
    on the CPU and says why, and ``device="meta"`` is refused in one line."""
    model, x = CustomOp(), torch.randn(4, 8)
    for device in ("cpu", "auto"):
        cost = profile(model, x, count="all", device=device)
        assert cost.device == "cpu"
        assert [(layer.type, layer.total_macs) for layer in cost.layers] == [("mm", 4 * 8 * 16)]
    assert cost.fallback_reason == ("could not run on meta (convbudget_forms_test::project is a custom op: what it "
                                    "runs is seen only on a real forward)")
    assert profile(model, x, device="cpu").uncounted_work() == {"matmul": 4 * 16 * (2 * 8 - 1)}
    with pytest.raises(ProfileError) as raised:
        profile(model, x, device="meta")
    assert str(raised.value) == ("convbudget_forms_test::project is a custom op: what it runs is seen only on a real "
                                 "forward; profile on device='cpu' (or 'auto')")
