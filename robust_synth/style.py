"""Style-transfer helpers: layer presets per architecture, avg-pool VGG copies, colour handling, pyramid sizes."""
from __future__ import annotations

import copy
import weakref
from typing import Mapping, Sequence

import numpy as np
import torch.nn as nn
from skimage.color import rgb2yiq, yiq2rgb
from skimage.exposure import match_histograms

from .architectures import ARCHITECTURES, LayerPreset
from .features import RobustModel

MIN_SIDE = 16            # below this the deepest style layers have no spatial extent left
SINGLE_LEVEL_MAX = 512   # above this, pyramid=None optimises coarse-to-fine (halving down to this size)


def preset_for(model: RobustModel) -> LayerPreset:
    """The default style/content layers: the registered architecture's, else a known preset its layers carry."""
    arch = ARCHITECTURES.get(getattr(getattr(model, "spec", None), "arch", None))
    if arch is not None and arch.style is not None:
        return arch.style
    known = dict.fromkeys(a.style for a in ARCHITECTURES.values() if a.style is not None)
    for preset in sorted(known, key=lambda p: -len(p.style)):  # the fullest match: ResNet-50's, not CIFAR's 3 layers
        if set(preset.style) | {preset.content} <= set(model.layer_names):
            return preset
    raise ValueError(f"no style-transfer layer preset for {model.name!r}; pass style_layers and content_layer "
                     f"(available layers: {model.layer_names})")


def check_layers(model: RobustModel, layers: Sequence[str], what: str) -> tuple[str, ...]:
    """Validate that every name in `layers` is a layer of `model`; return them as a tuple."""
    if isinstance(layers, str) or not layers:
        raise ValueError(f"{what} must be a non-empty list of layer names, got {layers!r}")
    unknown = [name for name in layers if name not in model.layer_names]
    if unknown:
        raise ValueError(f"unknown {what} {unknown} for {model.name!r}; available: {model.layer_names}")
    return tuple(layers)


def normalised_weights(weights: Sequence[float] | None, count: int, what: str) -> list[float]:
    """Non-negative weights with a positive sum, scaled to sum to 1 (None: equal weights)."""
    if weights is None:
        return [1.0 / count] * count
    weights = [float(w) for w in weights]
    if len(weights) != count:
        raise ValueError(f"{what} needs one weight per item: got {len(weights)} weights for {count} items")
    if any(not np.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"{what} must be finite and non-negative with a positive sum (they are normalised "
                         f"to sum to 1), got {weights}")
    total = sum(weights)
    return [w / total for w in weights]


def layer_weight_map(style_layers: Sequence[str], layer_weights: Mapping[str, float] | Sequence[float] | None
                     ) -> dict[str, float]:
    """Per-style-layer weights (a dict by name or a list aligned with style_layers), normalised to sum to 1."""
    if isinstance(layer_weights, Mapping):
        extra = sorted(set(layer_weights) - set(style_layers))
        if extra:
            raise ValueError(f"layer_weights names layers {extra} that are not style layers {list(style_layers)}")
        layer_weights = [layer_weights.get(name, 0.0) for name in style_layers]
    return dict(zip(style_layers, normalised_weights(layer_weights, len(style_layers), "layer_weights")))


_avg_pool_copies: "weakref.WeakKeyDictionary[RobustModel, RobustModel]" = weakref.WeakKeyDictionary()


def with_avg_pool(model: RobustModel) -> RobustModel:
    """A RobustModel sharing `model`'s weights whose VGG max-pools are average-pools (Gatys et al. 2016).

    Models without a VGG `features` stack with max-pools are returned unchanged; the cached model is never mutated.
    """
    features = getattr(model.net, "features", None)
    if not isinstance(features, nn.Sequential) or not any(isinstance(m, nn.MaxPool2d) for m in features):
        return model
    if model not in _avg_pool_copies:
        net = copy.copy(model.net)
        net._modules = dict(model.net._modules)  # new child table: replacing `features` leaves the original alone
        net.features = nn.Sequential(*[nn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode)
                                       if isinstance(m, nn.MaxPool2d) else m for m in features])
        copy_ = RobustModel(net, model.mean.flatten().tolist(), model.std.flatten().tolist(), model.layer_nodes,
                            name=model.name, class_names=model.class_names, input_size=model.input_size)
        copy_ = copy_.to(model.mean.device)
        for attr in ("spec", "weights_sha256"):
            if hasattr(model, attr):
                setattr(copy_, attr, getattr(model, attr))
        _avg_pool_copies[model] = copy_
    return _avg_pool_copies[model]


def min_input_side(model: RobustModel) -> int:
    """Smallest image side the model runs on: 2^pools for VGG stacks (32 px), else MIN_SIDE."""
    features = getattr(model.net, "features", None)
    if not isinstance(features, nn.Sequential):
        return MIN_SIDE
    return max(MIN_SIDE, 2 ** sum(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in features))


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in [0,1] -> (H, W) YIQ luminance."""
    return rgb2yiq(rgb)[..., 0]


def grey(y: np.ndarray) -> np.ndarray:
    """(H, W) luminance -> (H, W, 3) grey RGB in [0,1]."""
    return np.repeat(np.clip(y, 0, 1)[..., None], 3, axis=2)


def match_luminance(style_y: np.ndarray, content_y: np.ndarray) -> np.ndarray:
    """Shift and scale the style's luminance to the content's mean and std (Gatys et al. 2017, colour control)."""
    scale = content_y.std() / max(style_y.std(), 1e-6)
    return (style_y - style_y.mean()) * scale + content_y.mean()


def with_content_chrominance(y: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """Combine luminance `y` (H, W) with the content's YIQ chrominance (I, Q): RGB in [0,1]."""
    yiq = rgb2yiq(content_rgb)
    yiq[..., 0] = y
    return np.clip(yiq2rgb(yiq), 0, 1)


def match_colors(style_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """The style image with each colour channel's histogram matched to the content's."""
    return np.clip(match_histograms(style_rgb, content_rgb, channel_axis=-1), 0, 1)


def pyramid_levels(size: int, pyramid: Sequence[int] | None) -> list[int]:
    """Long side of each coarse-to-fine level, ending at `size`.

    pyramid=None: one level up to SINGLE_LEVEL_MAX px, else halve down to it (1024 -> [512, 1024]).
    """
    if pyramid is None:
        levels = [size]
        while levels[0] > SINGLE_LEVEL_MAX:
            levels.insert(0, (levels[0] + 1) // 2)
        return levels
    levels = [int(s) for s in pyramid]
    if not levels or any(s != p for s, p in zip(levels, pyramid)):
        raise ValueError(f"pyramid must be a non-empty list of integer sizes, got {pyramid!r}")
    if any(b <= a for a, b in zip(levels, levels[1:])) or levels[0] < MIN_SIDE:
        raise ValueError(f"pyramid sizes must increase and start at {MIN_SIDE} px or more, got {levels}")
    if levels[-1] != size:
        raise ValueError(f"the last pyramid size ({levels[-1]}) must equal size ({size})")
    return levels


def fit_long_side(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(width, height) scaled so the longer side is `long_side`, keeping the aspect ratio (each side >= 1)."""
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))
