"""Architecture records: for each network name its builder, layer names, style layers, relative cost and input size."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch.nn as nn
import torchvision
from torchvision.models.resnet import Bottleneck, ResNet

from .named_table import NamedTable
from .networks import CifarResNet, cifar_convnet, cifar_vgg, resnet_layer_nodes, vgg_layer_nodes


@dataclass(frozen=True)
class LayerPreset:
    """Style-transfer layers: the Gram matrices of `style` and the features of `content`."""
    style: tuple[str, ...]
    content: str


@dataclass(frozen=True)
class Architecture:
    """Everything the library knows about one network: registered once, read by the loader, the style presets,
    the ZeroGPU estimate and the ladder."""
    name: str
    build: Callable[[int], tuple[nn.Module, dict[str, str]]]  # num_classes -> (untrained net, layer name -> FX node)
    cost: float                   # seconds per pixel-step relative to ResNet-50 (benchmarks/arch_cost.py)
    input_size: int = 224         # the side its models were trained at
    style: LayerPreset | None = None  # default style-transfer layers; None: pass them explicitly


ARCHITECTURES: NamedTable[Architecture] = NamedTable("architecture")


def register_architecture(arch: Architecture) -> Architecture:
    """Add an architecture to the table (a second one under the same name is refused)."""
    return ARCHITECTURES.register(arch)


def get_architecture(name: str) -> Architecture:
    return ARCHITECTURES.lookup(name)


def build(arch: str, num_classes: int) -> tuple[nn.Module, dict[str, str]]:
    """Build an untrained network and its layer-name map by architecture name."""
    return get_architecture(arch).build(num_classes)


# Gatys et al. 2016: style relu1_1..relu5_1, content relu4_2. Nakano 2019 (robust ResNet-50): layer1..4, content layer3.
VGG_STYLE = LayerPreset(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), "relu4_2")
RESNET_STYLE = LayerPreset(("layer1", "layer2", "layer3", "layer4"), "layer3")
STAGE_STYLE = LayerPreset(("stage1", "stage2", "stage3", "stage4"), "stage3")  # the ResNet choice, stage by stage
# The 3-group CIFAR ResNet: every group's output for style, content one group from the top (as layer3 of 4).
CIFAR_RESNET_STYLE = LayerPreset(("layer1", "layer2", "layer3"), "layer2")


def _cifar_resnet(widths):
    def build_net(num_classes):
        net = CifarResNet(widths=widths, num_classes=num_classes)
        # R(x) is the last map before the max-pool: through the pooled vector only each channel's largest position
        # would get a gradient, so a feature could not be painted where it is not already strongest
        return net, resnet_layer_nodes(net.n_layers, rep=f"layer{net.n_layers}", logits="mul")
    return build_net


def _cifar_vgg(blocks):
    def build_net(num_classes):
        net = cifar_vgg(num_classes, blocks)
        return net, vgg_layer_nodes(net, rep="flatten", logits="scale.mul")
    return build_net


def _torchvision(name, nodes=None):
    """A torchvision builder; nodes: (stage1..stage4, rep, logits) FX names, None for a ResNet's layer1..layer4."""
    def build_net(num_classes):
        net = getattr(torchvision.models, name)(num_classes=num_classes)
        if nodes is None:
            return net, (vgg_layer_nodes(net) if name.startswith("vgg") else resnet_layer_nodes(4))
        *stages, rep, logits = nodes
        return net, {**{f"stage{i}": node for i, node in enumerate(stages, 1)}, "rep": rep, "logits": logits}
    return build_net


def _wide_resnet50_4(num_classes):
    """Wide ResNet-50-4 as MadryLab's robustness library defines it (torchvision has only the -2 width)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes, width_per_group=64 * 4), resnet_layer_nodes(4)


# Costs: seconds per pixel-step relative to ResNet-50 at 224 px, one image, measured on this project's CPU by
# `python benchmarks/arch_cost.py --repeats 20` (2 threads, torch 2.14.1; docs/speed.md); the GPU's ratios are
# unmeasured. cifar_vgg: 0.87 × cifar_resnet, the two measured side by side. The test-only tiny nets and the quality
# judge's convnet are unmeasured and charged their larger sibling's cost (an upper bound).
# torchvision's other nets by stage: stageK is the output of the last block at 1/2^(K+1) of the input side (56, 28,
# 14, 7 px at 224 px), rep the pooled features the classifier reads, logits its (linear) output.
for _arch in (
    Architecture("cifar_resnet", _cifar_resnet((64, 256, 256)), 2.58, 32, CIFAR_RESNET_STYLE),
    Architecture("cifar_resnet_tiny", _cifar_resnet((8, 16, 16)), 2.58, 32, CIFAR_RESNET_STYLE),
    Architecture("cifar_vgg", _cifar_vgg(((64,), (128,), (256, 256), (256, 256), (256, 256))), 2.24, 32, VGG_STYLE),
    Architecture("cifar_vgg_tiny", _cifar_vgg(((8,), (8,), (16, 16), (16, 16), (16, 16))), 2.24, 32, VGG_STYLE),
    Architecture("cifar_convnet", lambda n: (cifar_convnet(n), {"rep": "flatten", "logits": "scale.mul"}), 2.58, 32),
    Architecture("resnet18", _torchvision("resnet18"), 0.40, style=RESNET_STYLE),
    Architecture("resnet50", _torchvision("resnet50"), 1.0, style=RESNET_STYLE),
    Architecture("wide_resnet50_2", _torchvision("wide_resnet50_2"), 2.43, style=RESNET_STYLE),
    Architecture("wide_resnet50_4", _wide_resnet50_4, 8.72, style=RESNET_STYLE),
    Architecture("resnext50_32x4d", _torchvision("resnext50_32x4d"), 1.08, style=RESNET_STYLE),
    Architecture("vgg16_bn", _torchvision("vgg16_bn"), 2.17, style=VGG_STYLE),
    Architecture("vgg19", _torchvision("vgg19"), 2.47, style=VGG_STYLE),
    Architecture("densenet161", _torchvision("densenet161", (
        "features.denseblock1", "features.denseblock2", "features.denseblock3", "features.denseblock4", "flatten",
        "classifier")), 2.13, style=STAGE_STYLE),
    Architecture("mobilenet_v2", _torchvision("mobilenet_v2", (
        "features.3", "features.6", "features.13", "features.17", "flatten", "classifier.1")), 0.29,
        style=STAGE_STYLE),
    Architecture("mnasnet1_0", _torchvision("mnasnet1_0", (
        "layers.8", "layers.9", "layers.11", "layers.13", "mean", "classifier.1")), 0.28, style=STAGE_STYLE),
    Architecture("shufflenet_v2_x1_0", _torchvision("shufflenet_v2_x1_0", (
        "maxpool", "stage2", "stage3", "stage4", "mean", "fc")), 0.22, style=STAGE_STYLE),
):
    register_architecture(_arch)
