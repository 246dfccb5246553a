"""The size and memory figures, held against counts nobody here wrote.

``activation_bytes`` is compared with an independent tracker (``storage_tracker.py``:
storages by address, a full scan after every op, on a real CPU forward) on models from
torchvision, transformers, diffusers and MONAI built from their configs, and with the
same profile on the CPU. ``model_params`` is the library's own ``parameters()`` count,
``weight_bytes`` the bytes of the unique storages of its parameters and buffers.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from torch import nn

import models
from pytest_convbudget import profile
from storage_tracker import measured_peak
from zoo_models import import_torchvision

Built = tuple[nn.Module, tuple[Any, ...], dict[str, Any]]


def third_party(name: str) -> Any:
    """A library from the test extra. transformers imports torchvision when it is installed,
    which needs the same care as in the torchvision zoo."""
    import_torchvision()
    return pytest.importorskip(name)


def bert() -> Built:
    transformers = third_party("transformers")
    config = transformers.BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=128, max_position_embeddings=64)
    return transformers.BertModel(config), (torch.randint(0, 1000, (2, 16)),), {}


def gpt2() -> Built:
    transformers = third_party("transformers")
    config = transformers.GPT2Config(vocab_size=1000, n_embd=64, n_layer=2, n_head=4, n_positions=64,
                                     bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(config), (torch.randint(0, 1000, (2, 16)),), {"use_cache": False}


def llama() -> Built:
    transformers = third_party("transformers")
    config = transformers.LlamaConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, intermediate_size=128, max_position_embeddings=64)
    return transformers.LlamaForCausalLM(config), (torch.randint(0, 1000, (2, 16)),), {"use_cache": False}


def diffusers_unet() -> Built:
    diffusers = third_party("diffusers")
    model = diffusers.UNet2DModel(
        sample_size=16, in_channels=3, out_channels=3, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8, attention_head_dim=8,
    )
    return model, (torch.randn(2, 3, 16, 16), torch.tensor([10, 20])), {}


def monai_unet() -> Built:
    nets = third_party("monai.networks.nets")
    return nets.BasicUNet(spatial_dims=2, in_channels=1, out_channels=2, features=(8, 8, 16, 32, 64, 8)), (
        torch.randn(2, 1, 32, 32),), {}


def torchvision_vit() -> Built:
    torchvision = import_torchvision()
    if torchvision is None:
        pytest.skip("torchvision is not installed")
    model = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4,
                                                 hidden_dim=64, mlp_dim=128, num_classes=10)
    return model, (torch.randn(2, 3, 32, 32),), {}


def encoder() -> Built:
    layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), (torch.randn(2, 16, 64),), {}


def example(name: str, shape: tuple[int, ...]) -> Callable[[], Built]:
    def build() -> Built:
        factory = getattr(models, name)
        return factory(), (torch.randn(shape),), {}
    build.__name__ = name
    return build


ZOO = [
    example("resnet18", (2, 3, 64, 64)), example("mobilenet_v2", (2, 3, 64, 64)), example("unet3d", (1, 1, 16, 16, 16)),
    example("vit_tiny", (2, 3, 32, 32)), torchvision_vit, encoder, bert, gpt2, llama, diffusers_unet, monai_unet,
]


@pytest.fixture(params=ZOO, ids=lambda build: build.__name__)
def built(request: pytest.FixtureRequest) -> Built:
    torch.manual_seed(0)
    model, args, kwargs = request.param()
    return model.eval(), args, kwargs


def unique_storage_bytes(model: nn.Module) -> int:
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in (*model.parameters(), *model.buffers())}
    return sum(storages.values())


@pytest.mark.parametrize("count", ["conv", "all"])
def test_activation_bytes_are_the_peak_an_independent_tracker_sees_on_a_real_forward(built: Built, count: str) -> None:
    model, args, kwargs = built
    cost = profile(model, *args, kwargs=kwargs, count=count)
    assert cost.activation_bytes == measured_peak(model, *args, **kwargs) > 0
    assert max(cost.live_bytes) == cost.activation_bytes


def test_meta_and_cpu_profiles_find_the_same_peak(built: Built) -> None:
    model, args, kwargs = built
    on_cpu = profile(model, *args, kwargs=kwargs, device="cpu", count="all")
    on_auto = profile(model, *args, kwargs=kwargs, count="all")
    assert on_auto.activation_bytes == on_cpu.activation_bytes
    assert on_auto.peak_module == on_cpu.peak_module
    assert on_auto.peak_module in dict(model.named_modules()) or on_auto.peak_module == "(root)"


def test_size_figures_are_the_libraries_own_counts(built: Built) -> None:
    model, args, kwargs = built
    cost = profile(model, *args, kwargs=kwargs)
    assert cost.model_params == sum(p.numel() for p in model.parameters())
    assert cost.weight_bytes == unique_storage_bytes(model)


def test_tied_weights_are_counted_once() -> None:
    model, args, kwargs = gpt2()
    assert model.lm_head.weight is model.transformer.wte.weight
    cost = profile(model, *args, kwargs=kwargs)
    untied = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))
    assert cost.model_params == untied - model.lm_head.weight.numel()


def test_weight_bytes_follow_each_dtype_and_count_buffers() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(6, 4))
    model[0].half()
    model[2].half()  # a float16 activation meets it: a float32 linear would refuse it, on meta as on the CPU
    cost = profile(model, torch.randn(1, 3, 8, 8).half(), device="meta")
    conv = (8 * 3 * 9 + 8) * 2  # float16
    norm = (8 + 8) * 4 + (8 + 8) * 4 + 8  # weight, bias; running mean, var (float32); num_batches_tracked (int64)
    linear = (4 * 6 + 4) * 2
    assert cost.weight_bytes == conv + norm + linear
    assert cost.model_params == 8 * 3 * 9 + 8 + 16 + 28


def test_the_peak_is_for_the_whole_batch_never_divided() -> None:
    model = models.resnet18()
    one = profile(model, torch.randn(1, 3, 64, 64))
    four = profile(model, torch.randn(4, 3, 64, 64))
    assert four.activation_bytes == 4 * one.activation_bytes
    assert four.flops == one.flops  # FLOPs stay per sample
    assert four.weight_bytes == one.weight_bytes


def test_the_outputs_are_in_the_peak_and_the_inputs_are_not() -> None:
    model = nn.Identity()
    assert profile(model, torch.randn(4, 1000)).activation_bytes == 0
    doubled = profile(nn.Sequential(nn.Flatten(), nn.Linear(1000, 2000, bias=False)), torch.randn(4, 1000))
    assert doubled.activation_bytes == 4 * 2000 * 4


def test_a_view_holds_no_bytes_of_its_own() -> None:
    class Views(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x * 2
            return y.transpose(0, 1)[:4].unsqueeze(0)  # views of y: its storage, once
    assert profile(Views(), torch.randn(16, 64)).activation_bytes == 16 * 64 * 4


def test_a_dropped_tensor_no_longer_counts() -> None:
    class Steps(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            big = x.repeat(8, 1)  # 8x the input, dropped after the sum
            small = big.sum(0)
            del big
            return small.repeat(4)  # after the drop: the peak is big + small
    cost = profile(Steps(), torch.randn(16, 64))
    assert cost.activation_bytes == 8 * 16 * 64 * 4 + 64 * 4
    assert cost.activation_bytes == measured_peak(Steps(), torch.randn(16, 64))


def test_the_first_meta_profile_of_a_process_finds_the_same_peak_as_the_next() -> None:
    """torch's Python meta kernels import torch._dynamo on their first call; imported inside
    the forward, its cycles held the forward's tensors and the first profile read higher."""
    script = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        import torch, models
        from pytest_convbudget import profile
        model, data = models.vit_tiny(), torch.randn(2, 3, 32, 32)
        first = profile(model, data, device="meta").activation_bytes
        second = profile(model, data, device="meta").activation_bytes
        print(first, second, profile(model, data, device="cpu").activation_bytes)
    """)
    examples = Path(models.__file__).parent
    done = subprocess.run([sys.executable, "-c", script, str(examples)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    first, second, on_cpu = done.stdout.split()
    assert first == second == on_cpu


def test_the_fused_attention_fast_path_is_off_in_the_figure_as_the_docs_say() -> None:
    """The cost-model page's figures: with torch's fused MultiheadAttention path (off under any function
    mode, so off in a profile), a 2-layer ViT of width 64 holds 11% less at its peak; the
    profile's figure is the unfused forward's."""
    model, (data,), _ = torchvision_vit()
    model.eval()
    unfused, fused = measured_peak(model, data), measured_peak(model, data, fast_paths=True)
    assert profile(model, data).activation_bytes == unfused
    assert (unfused - fused) * 9 == fused  # 11.1% more than the fused path's


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the allocator comparison needs one")
def test_on_a_gpu_the_allocators_growth_is_the_peak_in_its_blocks() -> None:
    """The caching allocator rounds each block up to a multiple of 512 bytes: the growth of
    max_memory_allocated() over a forward (workspaces allocated by a first, unmeasured one)
    is the independent tracker's peak with each storage so rounded, and the profile's
    unrounded figure is at most that."""
    import copy

    from storage_tracker import Watched

    model = nn.Sequential(nn.Linear(256, 1024), nn.GELU(), nn.LayerNorm(1024), nn.Linear(1024, 256)).eval()
    data = torch.randn(64, 256)
    rounded = measured_peak(model, data, block=512)
    figure = profile(model, data).activation_bytes
    on_gpu, gpu_data = copy.deepcopy(model).cuda(), data.cuda()
    with torch.no_grad(), Watched():
        on_gpu(gpu_data)  # cuBLAS workspaces and lazy initialisation, before the measured forward
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        result = on_gpu(gpu_data)
        torch.cuda.synchronize()
    growth = torch.cuda.max_memory_allocated() - start
    del result
    assert figure <= rounded == growth


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_quantized_weights_count_as_elements_at_their_stored_size() -> None:
    """Packed int8 weights are no parameters, but they are the model's: counted as elements
    (like their float twins) and at one byte each, with their float biases."""
    from torch.ao.nn import quantized
    from torch.ao.quantization import quantize_dynamic

    mlp = quantize_dynamic(nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).eval(), {nn.Linear},
                           dtype=torch.qint8)
    assert sum(p.numel() for p in mlp.parameters()) == 0  # what parameters() sees of it
    cost = profile(mlp, torch.randn(2, 16))
    assert cost.model_params == (16 * 32 + 32) + (32 * 4 + 4)
    assert cost.weight_bytes == (16 * 32 + 32 * 4) * 1 + (32 + 4) * 4  # int8 weights, float32 biases

    conv = nn.Sequential(quantized.Conv2d(3, 8, 3))
    cost = profile(conv, torch.quantize_per_tensor(torch.randn(1, 3, 8, 8), 0.1, 0, torch.quint8))
    assert (cost.model_params, cost.weight_bytes) == (8 * 3 * 9 + 8, 8 * 3 * 9 + 8 * 4)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_per_channel_scales_are_stored_bytes_but_not_parameters() -> None:
    from torch.ao.nn import quantized

    conv = quantized.Conv2d(3, 8, 3)
    weight = torch.quantize_per_channel(torch.randn(8, 3, 3, 3), torch.rand(8, dtype=torch.double) + 0.1,
                                        torch.zeros(8, dtype=torch.long), 0, torch.qint8)
    conv.set_weight_bias(weight, torch.zeros(8))
    cost = profile(nn.Sequential(conv), torch.quantize_per_tensor(torch.randn(1, 3, 8, 8), 0.1, 0, torch.quint8))
    assert cost.model_params == 8 * 27 + 8
    assert cost.weight_bytes == 8 * 27 + 8 * 8 + 8 * 8 + 8 * 4  # int8 weight, float64 scales, int64 zero points, bias
