"""The project's own small networks for 32-px inputs (CIFAR ResNet, VGG-11-bn, plain convnet) and layer-name maps."""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

STEM_WIDTH = 24  # airbench: a 2×2 conv stem of 24 filters
BN_MOMENTUM = 0.2        # airbench uses 0.4 (PyTorch convention); the attack runs BN in eval mode, so steadier stats
LOGIT_SCALE = 1 / 9      # airbench: a small head scale, which with label smoothing keeps the logits calibrated


class ResidualGroup(nn.Module):
    """airbench's conv group (conv, 2×2 max-pool, BN, GELU) followed by a residual conv-BN-GELU at the pooled size."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.bn1 = nn.BatchNorm2d(c_out, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out, momentum=BN_MOMENTUM)
        self.act = nn.GELU()
        for conv in (self.conv1, self.conv2):  # airbench: identity-initialise as many filters as there are inputs
            nn.init.dirac_(conv.weight.data[:conv.in_channels])

    def forward(self, x):
        x = self.act(self.bn1(self.pool(self.conv1(x))))
        return x + self.act(self.bn2(self.conv2(x)))


class CifarResNet(nn.Module):
    """airbench-style residual net for 32×32 inputs (Jordan 2024, "94% on CIFAR-10 in 3.29 seconds").

    A learned 2×2 conv stem (airbench's is a frozen patch-whitening filter bank, which amplifies exactly the
    high-frequency directions adversarial training must ignore: with it, one-step training leaked labels into the
    perturbations, 72 % adversarial train accuracy and 1 % test accuracy after two epochs), three residual groups
    that halve the resolution (31 → 15 → 7 → 3), a global max-pool and a bias-free linear head scaled by 1/9.
    GELU is smooth, which helps adversarial training (Xie et al. 2020). Layers layer1..layer3, rep (= layer3, the
    256×3×3 map: feature k is channel k averaged over positions), logits.
    """

    def __init__(self, widths=(64, 256, 256), num_classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, STEM_WIDTH, 2, bias=True)
        self.act = nn.GELU()
        c_in = STEM_WIDTH
        for i, w in enumerate(widths):
            setattr(self, f"layer{i + 1}", ResidualGroup(c_in, w))
            c_in = w
        self.n_layers = len(widths)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(c_in, num_classes, bias=False)

    def forward(self, x):
        x = self.act(self.stem(x))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(self.pool(x), 1)
        return self.fc(x) * LOGIT_SCALE


def resnet_layer_nodes(n_layers: int = 4, rep: str = "flatten", logits: str = "fc") -> dict[str, str]:
    """Friendly layer name -> FX node name for torchvision-style ResNets (and CifarResNet: 3 layers, rep layer3)."""
    nodes = {f"layer{i}": f"layer{i}" for i in range(1, n_layers + 1)}
    nodes.update(rep=rep, logits=logits)
    return nodes


def vgg_layer_nodes(net: nn.Module, rep: str = "classifier.4", logits: str = "classifier.6") -> dict[str, str]:
    """reluB_K names (block B, K-th ReLU in the block) of a VGG's `features`, plus rep and logits (torchvision's)."""
    nodes, block, k = {}, 1, 0
    for i, m in enumerate(net.features):
        if isinstance(m, nn.ReLU):
            k += 1
            nodes[f"relu{block}_{k}"] = f"features.{i}"
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            block, k = block + 1, 0
    nodes.update(rep=rep, logits=logits)
    return nodes


class Scale(nn.Module):
    """Multiply by a constant: airbench's head scale for the Sequential nets (the recipe's learning rates assume it)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def cifar_vgg(num_classes: int, blocks=((64,), (128,), (256, 256), (256, 256), (256, 256))) -> nn.Sequential:
    """VGG-11-bn for 32×32 inputs, deep blocks at 256 channels (3.4 M parameters), for style transfer.

    Five conv-BN-ReLU blocks with 2×2 max-pools (32 → 1 px), global average pool, linear head. Layer names follow
    VGG's reluB_K (relu1_1, ..., relu4_2, relu5_1), so Gatys' style/content layers exist (Shats & Aharon 2021
    transfer style with an adversarially trained VGG on CIFAR-10).
    """
    layers, c_in = [], 3
    for block in blocks:
        for w in block:
            layers += [nn.Conv2d(c_in, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
            c_in = w
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(OrderedDict(features=nn.Sequential(*layers), pool=nn.AdaptiveAvgPool2d(1),
                                     flatten=nn.Flatten(), fc=nn.Linear(c_in, num_classes), scale=Scale(LOGIT_SCALE)))


def cifar_convnet(num_classes: int, widths=(32, 64, 128)) -> nn.Sequential:
    """Plain conv-BN-ReLU pairs with max-pooling, no shortcuts: another family than CifarResNet (quality judge)."""
    layers, c_in = [], 3
    for w in widths:
        for c in (c_in, w):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
        layers.append(nn.MaxPool2d(2))
        c_in = w
    return nn.Sequential(OrderedDict(features=nn.Sequential(*layers), pool=nn.AdaptiveAvgPool2d(1),
                                     flatten=nn.Flatten(), fc=nn.Linear(c_in, num_classes), scale=Scale(LOGIT_SCALE)))
