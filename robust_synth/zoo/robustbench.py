"""RobustBench's L∞ (ε 4/255) ImageNet models of Singh et al. 2023 (ConvNeXt + ConvStem) and Debenedetti et al. 2022
(XCiT): their architectures, checkpoint formats, families and models, declared once.

Source of every fact: RobustBench's code and leaderboard (github.com/RobustBench/robustbench: model_zoo/imagenet.py,
model_zoo/architectures/convstem_models.py and xcit.py, utils.load_model; the README's ImageNet L∞ table for the
clean and AutoAttack accuracies on 5000 validation images; "By default, the models are released under the MIT
license"). RobustBench's loader adds no normaliser for these models, so they read [0,1] pixels as they are. Singh et
al.'s files are Google Drive files (RobustBench's gdrive ids), Debenedetti et al.'s a GitHub release asset (timm's
pretrained URL in xcit.py); RobustBench states no checksum for any of them, so none is pinned (each load records the
file's sha256 in the recipe).
"""
from __future__ import annotations

import timm
import torch.nn as nn
from timm.layers import LayerNorm2d
from timm.models import xcit

from ..architectures import STAGE_STYLE, Architecture, register_architecture
from ..catalog import ModelFamily, ModelSpec, register_models
from ..checkpoint_formats import CheckpointFormat, register_format
from ..checkpoint_reading import read_checkpoint, verify_keys

LN_EPS = 1e-6  # convstem_models.LayerNorm's eps (channels_first: the same sums as timm's LayerNorm2d)
GDRIVE = "https://drive.usercontent.google.com/download?export=download&confirm=t&id="
LEADERBOARD = "RobustBench's ImageNet L∞ leaderboard (AutoAttack, ε 4/255, 5000 images)"
LICENSE = "MIT (RobustBench's default for its model zoo)"
PIXELS = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}
LINF_4 = {"norm": "linf", "eps": 4 / 255}
SINGH = ("Singh, Croce & Hein, Revisiting Adversarial Training for ImageNet: Architectures, Training and "
         "Generalization across Threat Models, NeurIPS 2023 (arXiv:2303.01870)")
DEBENEDETTI = ("Debenedetti, Sehwag & Mittal, A Light Recipe to Train Robust Vision Transformers, SaTML 2023 "
               "(arXiv:2209.07399)")


def conv_stem(widths: tuple[int, ...], strides: tuple[int, ...]) -> nn.Sequential:
    """convstem_models.ConvBlock1/ConvBlock3's `stem`: 3×3 conv, channels-first LayerNorm, GELU, per width."""
    layers, c_in = [], 3
    for width, stride in zip(widths, strides):
        layers += [nn.Conv2d(c_in, width, 3, stride, 1), LayerNorm2d(width, eps=LN_EPS), nn.GELU()]
        c_in = width
    return nn.Sequential(*layers)


class ConvStem(nn.Module):
    """The stem module RobustBench puts in place of ConvNeXt's patchify stem (its keys: stem.stem.<i>.*)."""

    def __init__(self, widths, strides):
        super().__init__()
        self.stem = conv_stem(widths, strides)

    def forward(self, x):
        return self.stem(x)


def convnext_convstem(variant: str, widths, strides):
    """timm's ConvNeXt with Singh et al.'s ConvStem (get_convstem_models('convnext_t_cvst' / 'convnext_b_cvst'))."""
    def build(num_classes):
        net = timm.create_model(variant, pretrained=False, num_classes=num_classes)
        net.stem = ConvStem(widths, strides)
        stages = {f"stage{i + 1}": f"stages.{i}" for i in range(4)}
        return net, {**stages, "rep": "head.flatten", "logits": "head.fc"}
    return build


def xcit_s12(num_classes):
    """debenedetti2022light_xcit_s12_imagenet_linf: XCiT, 16-px patches, width 384, depth 12, 8 heads, eta 1."""
    net = xcit.Xcit(patch_size=16, embed_dim=384, depth=12, num_heads=8, eta=1.0, tokens_norm=True,
                    num_classes=num_classes)
    # stageK: the (B, N, C) patch tokens after blocks 3, 6, 9 and 12; rep: the class token the head reads
    stages = {f"stage{k}": f"blocks.{3 * k - 1}" for k in range(1, 5)}
    return net, {**stages, "rep": "head_drop", "logits": "head"}


def robustbench_state_dict(held, spec):
    """utils.load_model's unwrapping: the 'state_dict' entry (else the whole dict), 'module.' and 'model.' removed."""
    state = held.get("state_dict", held) if isinstance(held, dict) else held
    state = {k.removeprefix("module.").removeprefix("model."): v for k, v in state.items()}
    verify_keys(state, spec)
    return state


def timm_xcit_state_dict(held, spec):
    """timm's pretrained route for the XCiT release: its xcit.checkpoint_filter_fn ('model' entry, pos_embeder.,
    class-attention qkv split into q, k, v)."""
    net, _ = xcit_s12(spec.num_classes)
    state = xcit.checkpoint_filter_fn(dict(held), net)
    verify_keys(state, spec)
    return state


# Costs: ImageNet-224 multiply-adds relative to ResNet-50's 4.1 G (timm's model cards: ConvNeXt-T 4.5 G, -B 15.4 G,
# XCiT-S12/16 4.8 G), not yet measured with benchmarks/arch_cost.py.
for _arch in (
    Architecture("convnext_t_convstem", convnext_convstem("convnext_tiny", (48, 96), (2, 2)), 1.1, style=STAGE_STYLE),
    Architecture("convnext_b_convstem", convnext_convstem("convnext_base", (64, 96, 128), (2, 2, 1)), 3.8,
                 style=STAGE_STYLE),
    Architecture("xcit_s12", xcit_s12, 1.2, style=STAGE_STYLE),
):
    register_architecture(_arch)
register_format(CheckpointFormat("robustbench", read_checkpoint, robustbench_state_dict))
register_format(CheckpointFormat("robustbench-timm-xcit", read_checkpoint, timm_xcit_state_dict))


def family(title: str, paper: str, page: str) -> ModelFamily:
    return ModelFamily(title, "RobustBench", paper, LICENSE, page, LEADERBOARD)


register_models(
    ModelSpec("imagenet-convnext-t-convstem-linf-4", "convnext_t_convstem", "imagenet", "url",
              GDRIVE + "1-FjtOF6LJ3-bf4VezsmWwncCxYSx-USP", "robustbench",
              family("Singh et al. 2023 ConvNeXt-T + ConvStem", SINGH, "https://github.com/nmndeep/revisiting-at"),
              robustness=LINF_4, clean_accuracy=0.7272, autoattack_accuracy=0.4946, **PIXELS),
    ModelSpec("imagenet-convnext-b-convstem-linf-4", "convnext_b_convstem", "imagenet", "url",
              GDRIVE + "1-lE-waaVvfL7lgBrydmZIM9UJimmHnVe", "robustbench",
              family("Singh et al. 2023 ConvNeXt-B + ConvStem", SINGH, "https://github.com/nmndeep/revisiting-at"),
              robustness=LINF_4, clean_accuracy=0.7590, autoattack_accuracy=0.5614, **PIXELS),
    ModelSpec("imagenet-xcit-s12-linf-4", "xcit_s12", "imagenet", "url",
              "https://github.com/RobustBench/robustbench/releases/download/v1.1/"
              "debenedetti2022light-xcit-s-imagenet-linf.pth.tar", "robustbench-timm-xcit",
              family("Debenedetti et al. 2022 XCiT-S12", DEBENEDETTI, "https://github.com/dedeswim/vits-robustness-torch"),
              robustness=LINF_4, clean_accuracy=0.7234, autoattack_accuracy=0.4178, **PIXELS),
)
