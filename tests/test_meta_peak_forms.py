"""Meta's activation peak is the CPU's, to the byte, where torch picks its kernels by what
it is given: grouped- and multi-query attention (SDPA's flash or math route), bf16 models,
every form of ``test_model_forms``, nn.LSTM (oneDNN's layer kernel on the CPU) and the
speech model of ``test_quantized_rnn``. Each peak is also held to the independent tracker
of a real forward (``storage_tracker``).

The meta forward asks torch which kernel the CPU would take with small stand-ins; those
stand-ins keep what the choice reads (heads, head sizes, dtypes, layouts); torch's recurrent
layers run on meta as the CPU runs them (oneDNN's LSTM kernel, or torch's loop, which on the
CPU alone makes every step's input product at once). Where the choice is made in code a
profile cannot reach (TorchScript's own device check, a TorchScript attention's kernel choice
by device type), the difference is pinned here and named in the cost model's page.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from storage_tracker import StorageTracker, Watched, measured_peak
from test_memory import third_party
from test_model_forms import FORMS, MODELS, NOT_SCRIPTABLE, torchvision
from test_quantized_rnn import Speech

from pytest_convbudget import profile
from pytest_convbudget.engine.forms import runnable_module
from pytest_convbudget.engine.meta_shortcuts import recurrent


def peaks(model: nn.Module, *inputs: torch.Tensor, **kwargs: object) -> tuple[int | None, int | None]:
    meta, cpu = (profile(model, *inputs, kwargs=kwargs, count="all", device=device) for device in ("meta", "cpu"))
    return meta.activation_bytes, cpu.activation_bytes


def llama(heads: int, key_value_heads: int) -> nn.Module:
    transformers = third_party("transformers")
    config = transformers.LlamaConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=heads,
                                      num_key_value_heads=key_value_heads, intermediate_size=128,
                                      max_position_embeddings=4096)
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()


@pytest.mark.parametrize("heads, key_value_heads, tokens", [
    *((4, 2, tokens) for tokens in (16, 64, 1024, 4096)), (4, 1, 16), (4, 1, 1024), (8, 2, 64), (8, 2, 1024)])
def test_grouped_and_multi_query_attention_peak_as_on_the_cpu(heads: int, key_value_heads: int, tokens: int) -> None:
    """4 query heads over 2 key-value heads took meta's unfused route at 1,024 tokens (the
    kernel choice was asked with 3 heads over 2): 40 MB where the CPU's flash kernel holds 4."""
    model = llama(heads, key_value_heads)
    ids = torch.randint(0, 1000, (1, tokens))
    meta, cpu = peaks(model, ids, use_cache=False)
    assert meta == cpu == measured_peak(model, ids, use_cache=False)


def form_peak(model: object, x: torch.Tensor) -> int:
    """The tracker on the form as it runs (an exported program's module has no ``eval``)."""
    runnable = runnable_module(model)
    tracker = StorageTracker([*runnable.parameters(), *runnable.buffers(), x])
    with torch.no_grad(), Watched(), tracker:
        result = runnable(x)
    del result
    return tracker.peak


# TorchScript decides nn.TransformerEncoderLayer's fused path by the tensors' device type in its
# own compiled code: on meta it takes the unfused layer, on the CPU the fused kernel.
SCRIPT_CHECKS_ITS_DEVICE = {("transformer-encoder", "jit.script")}


# Every form in float32; in bfloat16 the eager model, a TorchScript and an exported form by default,
# every form with CONVBUDGET_EVERY_FORM=1 (the whole matrix takes about a minute more).
EVERY_FORM = os.environ.get("CONVBUDGET_EVERY_FORM") == "1"
BF16_FORMS = {"eager", "jit.trace", "ExportedProgram"}


@pytest.mark.skipif(torchvision is None, reason="torchvision is not installed")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("form", ["eager", *sorted(FORMS)])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_form_and_dtype_peaks_on_meta_as_on_the_cpu(name: str, form: str, dtype: torch.dtype,
                                                         tmp_path: Path) -> None:
    if (name, form) in NOT_SCRIPTABLE:
        pytest.skip("this model has no such form")
    if dtype == torch.bfloat16 and form not in BF16_FORMS and not EVERY_FORM:
        pytest.skip("bfloat16 in every form: CONVBUDGET_EVERY_FORM=1")
    make, shape = MODELS[name]
    torch.manual_seed(0)
    model = make().eval().to(dtype)
    x = torch.randn(shape, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shipped = model if form == "eager" else FORMS[form](model, x, tmp_path)
    meta, cpu = peaks(shipped, x)
    assert cpu == form_peak(shipped, x)
    if (name, form) in SCRIPT_CHECKS_ITS_DEVICE:
        assert meta is not None and cpu is not None and meta > cpu
    else:
        assert meta == cpu


def test_a_traced_attention_takes_the_math_route_on_meta_and_the_fused_kernel_on_the_cpu() -> None:
    """TorchScript runs ``scaled_dot_product_attention`` as one composite op, whose kernel choice
    is made by device type below any dispatcher a profile sees: on meta, the math route. The
    examples' ViT in bfloat16 holds twice the CPU's peak on meta; the counts agree."""
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "examples"))
    from models import vit_tiny

    model, x = vit_tiny().eval().to(torch.bfloat16), torch.randn(1, 3, 32, 32, dtype=torch.bfloat16)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shipped = torch.jit.trace(model, x)
    meta, cpu = (profile(shipped, x, count="all", device=device) for device in ("meta", "cpu"))
    assert cpu.activation_bytes == form_peak(shipped, x)
    assert meta.activation_bytes is not None and cpu.activation_bytes is not None
    assert meta.activation_bytes > cpu.activation_bytes
    assert (meta.total_flops, meta.total_macs) == (cpu.total_flops, cpu.total_macs)


RECURRENT = {
    "speech model": (Speech, (2, 40, 50)),
    "LSTM, 2 layers both ways, batch first": (
        lambda: nn.LSTM(8, 16, num_layers=2, batch_first=True, bidirectional=True), (3, 7, 8)),
    "LSTM without bias": (lambda: nn.LSTM(8, 16, num_layers=2, bias=False), (7, 3, 8)),
    "LSTM, bf16": (lambda: nn.LSTM(8, 16, num_layers=2).to(torch.bfloat16), (7, 3, 8)),
    "LSTM, one unbatched sequence": (lambda: nn.LSTM(8, 16), (7, 8)),
    # off oneDNN: torch's own loop, which on the CPU alone multiplies every step's input at once
    "LSTM with projections, both ways": (lambda: nn.LSTM(8, 16, proj_size=4, num_layers=2, bidirectional=True), (7, 3, 8)),
    "GRU, 2 layers both ways": (lambda: nn.GRU(8, 16, num_layers=2, bidirectional=True), (7, 3, 8)),
    "GRU without bias": (lambda: nn.GRU(8, 16, bias=False), (7, 3, 8)),
    "RNN (relu), batch first, both ways": (
        lambda: nn.RNN(8, 16, nonlinearity="relu", num_layers=2, batch_first=True, bidirectional=True), (3, 7, 8)),
    "RNN (tanh)": (lambda: nn.RNN(8, 16), (7, 3, 8)),
}


@pytest.mark.parametrize("name", sorted(RECURRENT))
def test_recurrent_models_peak_on_meta_as_on_the_cpu(name: str) -> None:
    make, shape = RECURRENT[name]
    torch.manual_seed(0)
    model = make().eval()
    x = torch.randn(shape, dtype=next(model.parameters()).dtype)
    meta, cpu = peaks(model, x)
    assert meta == cpu == measured_peak(model, x)


class OpNames(TorchDispatchMode):
    """The aten ops a forward runs, by name, with their outputs' shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, tuple[tuple[int, ...], ...]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        outputs = out if isinstance(out, (tuple, list)) else (out,)
        self.seen.append((str(func), tuple(tuple(t.shape) for t in outputs if isinstance(t, torch.Tensor))))
        return out


TORCH_LOOP = ["GRU, 2 layers both ways", "GRU without bias", "LSTM with projections, both ways",
              "RNN (relu), batch first, both ways", "RNN (tanh)"]  # the others run oneDNN's LSTM kernel


@pytest.mark.parametrize("name", TORCH_LOOP)
def test_the_meta_loop_is_torchs_cpu_loop_op_for_op(name: str) -> None:
    """The loop a meta profile runs for torch's recurrent layers, run on the CPU: the same values
    as torch's own layer, and the same aten ops in the same order."""
    make, shape = RECURRENT[name]
    torch.manual_seed(0)
    model = make().eval()
    x = torch.randn(shape)
    mode = "lstm" if isinstance(model, nn.LSTM) else "gru" if isinstance(model, nn.GRU) else f"rnn_{model.nonlinearity}"
    directions = 2 if model.bidirectional else 1
    batch = x.shape[0] if model.batch_first else x.shape[1]
    hidden = torch.zeros(model.num_layers * directions, batch, model.proj_size or model.hidden_size)
    states: object = (hidden, torch.zeros(model.num_layers * directions, batch, model.hidden_size)) if mode == "lstm" else hidden
    theirs, ours = OpNames(), OpNames()
    with torch.no_grad():
        with theirs:
            expected = getattr(torch, mode)(x, states, model._flat_weights, model.bias, model.num_layers, 0.0, False,
                                            model.bidirectional, model.batch_first)
        with ours:
            found = recurrent(mode, x, states, model._flat_weights, model.bias, model.num_layers, model.bidirectional,
                              model.batch_first)
    assert all(torch.allclose(a, b) for a, b in zip(expected, found))
    assert ours.seen == theirs.seen
