"""Small models that exercise every op kind, and a torchvision loader.

The zoo networks are written here, not taken from a library, so that each one
calls exactly the ops a test wants to see counted: conv modules, ``nn.Linear``,
``nn.MultiheadAttention`` (its bmm path and its SDPA path), functional linears
with parameters, ``q @ k.transpose``, ``einsum`` attention, and a weight tied
into two ops. ``test_zoo.py`` profiles them; ``test_torchvision_zoo.py`` and
``benchmarks/torchvision_gflops.py`` use :func:`import_torchvision` and
:func:`build_torchvision` to check torchvision's published figures.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------
# torchvision, whose compiled ops may not load with this torch build
# ---------------------------------------------------------------------------


def _no_op_register_fake(*args: Any, **kwargs: Any) -> Callable[[Any], Any]:
    """Stands in for ``torch.library.register_fake``: the decorated function is kept as is."""

    def decorate(function: Any) -> Any:
        return function

    return decorate


def import_torchvision() -> ModuleType | None:
    """``torchvision``, or None when it is not installed.

    A torchvision wheel built for another torch fails at import while it
    registers fake kernels of its compiled ops (``torchvision::nms does not
    exist``). The model definitions never need those ops, so only when the
    plain import fails is ``register_fake`` replaced by a no-op for the
    import, and put back right after.
    """
    if importlib.util.find_spec("torchvision") is None:
        return None
    try:
        return importlib.import_module("torchvision")
    except (RuntimeError, OSError, ImportError):
        for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
            del sys.modules[name]
    original = torch.library.register_fake
    torch.library.register_fake = _no_op_register_fake  # type: ignore[assignment]
    try:
        return importlib.import_module("torchvision")
    finally:
        torch.library.register_fake = original


def torchvision_classifiers(torchvision: ModuleType) -> list[str]:
    """Every classification model name torchvision lists, in its order."""
    return list(torchvision.models.list_models(module=torchvision.models))


def build_torchvision(torchvision: ModuleType, name: str) -> tuple[nn.Module, int, Any]:
    """A model as its DEFAULT weights describe it, built on meta without the weights.

    Returns the model, the input side its weights' transforms crop to, and the
    weights enum (whose ``meta`` holds the published ``_ops`` and ``num_params``).
    The builders change a few constructor arguments when weights are given;
    the same changes are made here so the model is the one that was measured:
    a ViT's ``image_size`` follows its weights, GoogLeNet drops its auxiliary heads
    (Inception v3 keeps them, and its published params count them).
    """
    models = torchvision.models
    weights = models.get_model_weights(name).DEFAULT
    side = int(weights.transforms().crop_size[0])
    kwargs: dict[str, Any] = {"weights": None, "num_classes": len(weights.meta["categories"])}
    if name.startswith("vit_"):
        kwargs["image_size"] = int(weights.meta["min_size"][0])
    if name == "googlenet":
        kwargs["aux_logits"] = False
    if name in ("googlenet", "inception_v3"):
        kwargs["init_weights"] = False  # only the initial values change; no warning
    with torch.device("meta"), _regnet_widths_on_cpu(torchvision):
        model = models.get_model(name, **kwargs)
    return model.eval(), side, weights


@contextlib.contextmanager
def _regnet_widths_on_cpu(torchvision: ModuleType) -> Iterator[None]:
    """RegNet's builder computes its stage widths with torch tensors and reads
    them back (``.tolist()``), which a meta default device cannot do: that one
    computation runs on the CPU while everything else is built on meta."""
    block_params = torchvision.models.regnet.BlockParams
    original = block_params.__dict__["from_init_params"]

    def on_cpu(cls: type, *args: Any, **kwargs: Any) -> Any:
        with torch.device("cpu"):
            return original.__func__(cls, *args, **kwargs)

    block_params.from_init_params = classmethod(on_cpu)
    try:
        yield
    finally:
        block_params.from_init_params = original


# ---------------------------------------------------------------------------
# the zoo
# ---------------------------------------------------------------------------


class SmallCNN(nn.Module):
    """Convs, a pool and one Linear head: the default ``count="conv"`` case."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 16, 3, groups=4, padding=1))
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(self.stem(x))
        return self.head(x.mean(dim=(2, 3)))


class PatchEmbed(nn.Module):
    """A strided conv that turns an image into ``(B, tokens, dim)``."""

    def __init__(self, dim: int, patch: int = 4, channels: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class MHABlock(nn.Module):
    """Pre-norm attention with ``nn.MultiheadAttention``, then an MLP of two Linears."""

    def __init__(self, dim: int, heads: int, batch_first: bool, need_weights: bool) -> None:
        super().__init__()
        self.batch_first = batch_first
        self.need_weights = need_weights
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=0.0, batch_first=batch_first)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        if not self.batch_first:
            y = y.transpose(0, 1)
        y, _ = self.attn(y, y, y, need_weights=self.need_weights)
        if not self.batch_first:
            y = y.transpose(0, 1)
        x = x + y
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """Patch embedding, a class token, ``depth`` MHA blocks, and a Linear head."""

    def __init__(self, dim: int = 16, heads: int = 2, depth: int = 2, batch_first: bool = True,
                 need_weights: bool = False, image: int = 8, patch: int = 4, classes: int = 5) -> None:
        super().__init__()
        self.embed = PatchEmbed(dim, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, (image // patch) ** 2 + 1, dim))
        self.blocks = nn.Sequential(*(MHABlock(dim, heads, batch_first, need_weights) for _ in range(depth)))
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x)
        tokens = torch.cat([self.cls.expand(tokens.shape[0], -1, -1), tokens], dim=1) + self.pos
        return self.head(self.blocks(tokens)[:, 0])


class EncoderViT(nn.Module):
    """A ViT built on ``nn.TransformerEncoder`` (``batch_first``, no dropout)."""

    def __init__(self, dim: int = 16, heads: int = 2, depth: int = 2, image: int = 8, patch: int = 4) -> None:
        super().__init__()
        self.embed = PatchEmbed(dim, patch)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x)).mean(dim=1))


class WindowAttention(nn.Module):
    """Swin-style attention in windows, with functional linears on Parameters
    and a learned relative-position bias added to ``q @ k^T``."""

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads = heads
        self.window = window
        self.qkv_weight = nn.Parameter(torch.randn(3 * dim, dim) * 0.1)
        self.qkv_bias = nn.Parameter(torch.zeros(3 * dim))
        self.proj_weight = nn.Parameter(torch.randn(dim, dim) * 0.1)
        self.relative_bias = nn.Parameter(torch.zeros(heads, window * window, window * window))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, dim = x.shape
        w = self.window
        windows = x.reshape(batch, height // w, w, width // w, w, dim).permute(0, 1, 3, 2, 4, 5)
        windows = windows.reshape(-1, w * w, dim)
        qkv = F.linear(windows, self.qkv_weight, self.qkv_bias)
        qkv = qkv.reshape(windows.shape[0], w * w, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q * (dim // self.heads) ** -0.5) @ k.transpose(-2, -1) + self.relative_bias
        mixed = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(windows.shape[0], w * w, dim)
        out = F.linear(mixed, self.proj_weight)
        out = out.reshape(batch, height // w, width // w, w, w, dim).permute(0, 1, 3, 2, 4, 5)
        return out.reshape(batch, height, width, dim)


class SwinLike(nn.Module):
    """Patch embedding, two window-attention stages with an MLP, a head."""

    def __init__(self, dim: int = 8, heads: int = 2, window: int = 2) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, dim, 2, stride=2)
        self.attn1 = WindowAttention(dim, heads, window)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.attn2 = WindowAttention(dim, heads, window)
        self.head = nn.Linear(dim, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).permute(0, 2, 3, 1)
        x = x + self.attn1(x)
        x = x + self.mlp(x)
        x = x + self.attn2(x)
        return self.head(x.mean(dim=(1, 2)))


class EinsumAttention(nn.Module):
    """Multi-head attention written with ``einsum`` and Linear projections."""

    def __init__(self, dim: int = 12, heads: int = 3) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(batch, length, 3, self.heads, dim // self.heads).unbind(dim=2)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k).softmax(dim=-1)
        mixed = torch.einsum("bhqk,bkhd->bqhd", scores, v)
        return self.out(mixed.reshape(batch, length, dim))


class UNetAttention(nn.Module):
    """The bottleneck's self-attention over pixels, via ``F.scaled_dot_product_attention``."""

    def __init__(self, channels: int, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        q, k, v = self.qkv(x).reshape(batch, 3, self.heads, channels // self.heads, height * width).unbind(dim=1)
        mixed = F.scaled_dot_product_attention(q.transpose(-2, -1), k.transpose(-2, -1), v.transpose(-2, -1))
        return x + self.out(mixed.transpose(-2, -1).reshape(batch, channels, height, width))


class TinyUNet(nn.Module):
    """Two levels down, attention in the bottleneck, a transposed conv up, skip concat."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        c = channels
        self.down1 = nn.Sequential(nn.Conv2d(1, c, 3, padding=1), nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.ReLU())
        self.bottleneck = UNetAttention(2 * c)
        self.up = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.fuse = nn.Conv2d(2 * c, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.down1(x)
        deep = self.bottleneck(self.down2(skip))
        return self.fuse(torch.cat([self.up(deep), skip], dim=1))


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7 conv, LayerNorm over channels-last, two pointwise Linears."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, 4 * dim)
        self.pw2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.pw2(F.gelu(self.pw1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtLike(nn.Module):
    """A stem conv, two ConvNeXt blocks, and a Linear head."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, dim, 2, stride=2)
        self.blocks = nn.Sequential(ConvNeXtBlock(dim), ConvNeXtBlock(dim))
        self.head = nn.Linear(dim, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class TiedWeights(nn.Module):
    """An embedding matrix used by ``F.linear`` (the output head) and by a matmul."""

    def __init__(self, vocab: int = 11, dim: int = 6) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.mix(self.embedding(tokens))
        logits = F.linear(x, self.embedding.weight)  # (B, T, vocab)
        return logits @ self.embedding.weight  # (B, T, dim): the same weight, a second time
