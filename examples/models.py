"""Small, real convolutional architectures built only from ``torch.nn``.

The README, the test suite and the benchmarks all import this file so that
they measure the same networks.  The ResNets and MobileNetV2 reproduce
torchvision's layouts (attribute names included, so qualified names such as
``layer3.0.conv2`` line up) without depending on torchvision; their parameter
counts match torchvision's published figures exactly.  ``unet3d`` gives a
volumetric workload for memory benchmarks and ``resnet_style`` is a compact
net that exercises every case of the cost model (plain, dilated, grouped and
depthwise-separable convolutions, with and without bias).

Weights use PyTorch's default initialisation: the plugin counts shapes, so
values never matter and a cheap init keeps construction fast.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

__all__ = [
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "unet3d",
    "resnet_style",
    "MODELS",
    "INPUT_SHAPES",
]


# --------------------------------------------------------------------------
# ResNet (torchvision v1.5 layout)
# --------------------------------------------------------------------------


def _downsample(in_ch: int, out_ch: int, stride: int) -> nn.Module | None:
    """1x1 projection for the shortcut, needed when the shape changes."""
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_ch),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convs plus shortcut; the block of ResNet-18/34."""

    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample = _downsample(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided, as in v1.5), 1x1 expand; ResNet-50's block."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Stem, four stages of residual blocks, global pool and classifier."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        depths: tuple[int, int, int, int],
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_ch = 64
        stages = []
        for i, (width, depth) in enumerate(zip((64, 128, 256, 512), depths)):
            blocks = []
            for j in range(depth):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(in_ch, width, stride))
                in_ch = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 1000) -> nn.Module:
    """ResNet-18: 11,689,512 parameters at 1000 classes, like torchvision."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes)


def resnet50(num_classes: int = 1000) -> nn.Module:
    """ResNet-50: 25,557,032 parameters at 1000 classes, like torchvision."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes)


# --------------------------------------------------------------------------
# MobileNetV2 (width 1.0)
# --------------------------------------------------------------------------


def _conv_bn_relu6(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias) + BN + ReLU6, MobileNetV2's basic unit."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """Expand 1x1, depthwise 3x3, linear 1x1 projection; residual if shapes match."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_ch * expand_ratio
        self.use_res_connect = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn_relu6(in_ch, hidden, 1))
        layers += [
            _conv_bn_relu6(hidden, hidden, 3, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_res_connect else out


class MobileNetV2(nn.Module):
    """torchvision's MobileNetV2 at width multiplier 1.0."""

    # (expansion t, output channels c, repeats n, first stride s)
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        in_ch, last_ch = 32, 1280
        layers: list[nn.Module] = [_conv_bn_relu6(3, in_ch, 3, stride=2)]
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(in_ch, c, s if i == 0 else 1, t))
                in_ch = c
        layers.append(_conv_bn_relu6(in_ch, last_ch, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_ch, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v2(num_classes: int = 1000) -> nn.Module:
    """MobileNetV2: 3,504,872 parameters at 1000 classes, like torchvision."""
    return MobileNetV2(num_classes)


# --------------------------------------------------------------------------
# 3D U-Net
# --------------------------------------------------------------------------


def _double_conv3d(in_ch: int, out_ch: int) -> nn.Sequential:
    """Two 3x3x3 Conv3d + BN + ReLU; the unit of every U-Net level."""
    return nn.Sequential(
        nn.Conv3d(in_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm3d(out_ch),
        nn.ReLU(inplace=True),
        nn.Conv3d(out_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm3d(out_ch),
        nn.ReLU(inplace=True),
    )


class UNet3D(nn.Module):
    """Three pooling levels down, transposed convs up, skip concatenation.

    Spatial sizes must be multiples of 8 so the skips line up after the
    three 2x poolings.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 2, base: int = 8) -> None:
        super().__init__()
        c1, c2, c3, c4 = base, base * 2, base * 4, base * 8
        self.enc1 = _double_conv3d(in_channels, c1)
        self.enc2 = _double_conv3d(c1, c2)
        self.enc3 = _double_conv3d(c2, c3)
        self.bottleneck = _double_conv3d(c3, c4)
        self.pool = nn.MaxPool3d(2)
        self.up3 = nn.ConvTranspose3d(c4, c3, 2, stride=2)
        self.dec3 = _double_conv3d(c3 * 2, c3)
        self.up2 = nn.ConvTranspose3d(c3, c2, 2, stride=2)
        self.dec2 = _double_conv3d(c2 * 2, c2)
        self.up1 = nn.ConvTranspose3d(c2, c1, 2, stride=2)
        self.dec1 = _double_conv3d(c1 * 2, c1)
        self.head = nn.Conv3d(c1, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.enc1(x)
        s2 = self.enc2(self.pool(s1))
        s3 = self.enc3(self.pool(s2))
        x = self.bottleneck(self.pool(s3))
        x = self.dec3(torch.cat([self.up3(x), s3], dim=1))
        x = self.dec2(torch.cat([self.up2(x), s2], dim=1))
        x = self.dec1(torch.cat([self.up1(x), s1], dim=1))
        return self.head(x)


def unet3d(in_channels: int = 1, out_channels: int = 2, base: int = 8) -> nn.Module:
    """Small volumetric U-Net; heavy on activations, light on parameters."""
    return UNet3D(in_channels, out_channels, base)


# --------------------------------------------------------------------------
# Compact net covering each convolution kind in the cost model
# --------------------------------------------------------------------------


class ResNetStyle(nn.Module):
    """Tiny residual net with plain, dilated, grouped and separable convs.

    Each layer is named after the case it illustrates, and bias is mixed on
    purpose, so reports over this model show every branch of the counting
    rules.  It downsamples to 28x28 within two layers so batch-32 forwards
    at 224x224 stay cheap on a CPU.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        # plain 3x3, stride 2, no bias (followed by BN): 224 -> 112
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)  # 112 -> 56
        # dilated 3x3 (receptive field 5x5), stride 2, with bias: 56 -> 28
        self.dilated = nn.Conv2d(16, 32, 3, stride=2, padding=2, dilation=2, bias=True)
        # grouped 3x3, 4 groups, no bias
        self.grouped = nn.Conv2d(32, 32, 3, padding=1, groups=4, bias=False)
        self.grouped_bn = nn.BatchNorm2d(32)
        # depthwise-separable pair: depthwise 3x3 then pointwise 1x1 with bias
        self.depthwise = nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False)
        self.pointwise = nn.Conv2d(32, 64, 1, bias=True)
        # plain 1x1 projection so the shortcut matches 64 channels
        self.shortcut = nn.Conv2d(32, 64, 1, bias=False)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.stem_bn(self.stem(x))))
        x = self.relu(self.dilated(x))
        x = self.relu(self.grouped_bn(self.grouped(x)))
        out = self.pointwise(self.depthwise(x))
        x = self.relu(out + self.shortcut(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet_style(num_classes: int = 10) -> nn.Module:
    """Small ResNet-style example used to illustrate the cost model."""
    return ResNetStyle(num_classes)


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------

MODELS: dict[str, Callable[[], nn.Module]] = {
    "resnet18": resnet18,
    "resnet50": resnet50,
    "mobilenet_v2": mobilenet_v2,
    "unet3d": unet3d,
    "resnet_style": resnet_style,
}

INPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "resnet18": (1, 3, 224, 224),
    "resnet50": (1, 3, 224, 224),
    "mobilenet_v2": (1, 3, 224, 224),
    "unet3d": (1, 1, 64, 64, 64),
    "resnet_style": (1, 3, 224, 224),
}


# --------------------------------------------------------------------------
# Vision Transformer (torchvision's ViT-B/16 layout, on nn.TransformerEncoderLayer)
# --------------------------------------------------------------------------


class VisionTransformer(nn.Module):
    """A hybrid: a conv patch stem, then attention and linears, as most models shipped today.

    Its conv-only cost is the patch stem alone (0.7% of the model); with
    ``count="all"`` its MACs are torchvision's published 17.564 G for ViT-B/16.
    """

    def __init__(
        self, image: int = 224, patch: int = 16, layers: int = 12, hidden: int = 768,
        heads: int = 12, mlp: int = 3072, num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.conv_proj = nn.Conv2d(3, hidden, patch, stride=patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden))
        self.pos_embedding = nn.Parameter(torch.zeros(1, (image // patch) ** 2 + 1, hidden))
        layer = nn.TransformerEncoderLayer(
            hidden, heads, mlp, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.ln = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
        return self.head(self.ln(self.encoder(x))[:, 0])


def vit_b_16(num_classes: int = 1000) -> nn.Module:
    return VisionTransformer(num_classes=num_classes)


def vit_tiny(num_classes: int = 10) -> nn.Module:
    """A small ViT for tests and the examples: 4 layers of width 192 on 32x32 images."""
    return VisionTransformer(image=32, patch=4, layers=4, hidden=192, heads=3, mlp=768, num_classes=num_classes)


MODELS.update(vit_b_16=vit_b_16, vit_tiny=vit_tiny)
INPUT_SHAPES.update(vit_b_16=(1, 3, 224, 224), vit_tiny=(1, 3, 32, 32))
__all__ += ["vit_b_16", "vit_tiny"]
