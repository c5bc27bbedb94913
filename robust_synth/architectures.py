"""Network builders: the small CIFAR ResNet of the embedded models, and torchvision's ImageNet archs."""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import Bottleneck, ResNet


class BasicBlock(nn.Module):
    """3×3 conv-BN-ReLU twice with an identity (or 1×1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class CifarResNet(nn.Module):
    """ResNet for 32×32 inputs with torchvision's layer names (layer1..layer4, fc) so presets carry over."""

    def __init__(self, widths=(32, 64, 128, 256), blocks=(1, 1, 1, 1), num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        c_in = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            layer = [BasicBlock(c_in if j == 0 else w, w, (1 if i == 0 else 2) if j == 0 else 1) for j in range(n)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
            c_in = w
        self.n_layers = len(widths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        if self.n_layers > 3:
            x = self.layer4(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def resnet_layer_nodes(n_layers: int = 4) -> dict[str, str]:
    """Friendly layer name -> FX node name for torchvision-style ResNets."""
    nodes = {f"layer{i}": f"layer{i}" for i in range(1, n_layers + 1)}
    nodes.update(rep="flatten", logits="fc")
    return nodes


def vgg_layer_nodes(net: nn.Module) -> dict[str, str]:
    """reluB_K names (block B, K-th ReLU in the block) for a torchvision VGG, plus rep and logits."""
    nodes, block, k = {}, 1, 0
    for i, m in enumerate(net.features):
        if isinstance(m, nn.ReLU):
            k += 1
            nodes[f"relu{block}_{k}"] = f"features.{i}"
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            block, k = block + 1, 0
    nodes.update(rep="classifier.4", logits="classifier.6")
    return nodes


def cifar_convnet(num_classes: int, widths=(32, 64, 128)) -> nn.Sequential:
    """Plain conv-BN-ReLU pairs with max-pooling, no shortcuts: another family than CifarResNet (quality judge)."""
    layers, c_in = [], 3
    for w in widths:
        for c in (c_in, w):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
        layers.append(nn.MaxPool2d(2))
        c_in = w
    return nn.Sequential(OrderedDict(features=nn.Sequential(*layers), pool=nn.AdaptiveAvgPool2d(1),
                                     flatten=nn.Flatten(), fc=nn.Linear(c_in, num_classes)))


CIFAR_RESNET_WIDTHS = {"cifar_resnet": (32, 64, 128, 256), "cifar_resnet_tiny": (8, 8, 16, 16)}  # tiny: tests

RESNET_LIKE = ("resnet18", "resnet50", "wide_resnet50_2", "resnext50_32x4d")  # torchvision builders, layer1..layer4
# The other torchvision nets, named by stage: stageK is the output of the last block at 1/2^(K+1) of the input side
# (56, 28, 14, 7 px at 224 px), rep the pooled features the classifier reads, logits its (linear) output.
STAGE_NODES = {
    "densenet161": ("features.denseblock1", "features.denseblock2", "features.denseblock3", "features.denseblock4",
                    "flatten", "classifier"),
    "mobilenet_v2": ("features.3", "features.6", "features.13", "features.17", "flatten", "classifier.1"),
    "mnasnet1_0": ("layers.8", "layers.9", "layers.11", "layers.13", "mean", "classifier.1"),
    "shufflenet_v2_x1_0": ("maxpool", "stage2", "stage3", "stage4", "mean", "fc"),
}


def stage_layer_nodes(arch: str) -> dict[str, str]:
    *stages, rep, logits = STAGE_NODES[arch]
    return {**{f"stage{i}": node for i, node in enumerate(stages, 1)}, "rep": rep, "logits": logits}


def wide_resnet50_4(num_classes: int) -> nn.Module:
    """Wide ResNet-50-4 as MadryLab's robustness library defines it (torchvision has only the -2 width)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes, width_per_group=64 * 4)


def build(arch: str, num_classes: int) -> tuple[nn.Module, dict[str, str]]:
    """Build an untrained network and its layer-name map by architecture name."""
    if arch in CIFAR_RESNET_WIDTHS:
        net = CifarResNet(widths=CIFAR_RESNET_WIDTHS[arch], num_classes=num_classes)
        return net, resnet_layer_nodes(net.n_layers)
    if arch == "cifar_convnet":
        return cifar_convnet(num_classes), {"rep": "flatten", "logits": "fc"}
    if arch in RESNET_LIKE:
        return getattr(torchvision.models, arch)(num_classes=num_classes), resnet_layer_nodes(4)
    if arch == "wide_resnet50_4":
        return wide_resnet50_4(num_classes), resnet_layer_nodes(4)
    if arch in ("vgg16_bn", "vgg19"):
        net = getattr(torchvision.models, arch)(num_classes=num_classes)
        return net, vgg_layer_nodes(net)
    if arch in STAGE_NODES:
        return getattr(torchvision.models, arch)(num_classes=num_classes), stage_layer_nodes(arch)
    raise ValueError(f"unknown architecture {arch!r}")
