"""Style transfer's hyper-parameters in five groups by concern, each holding its defaults and validating itself.

The task keeps flat parameters as its surface (the CLI flags, app and endpoint parameters and recipe keys come from
its declared inputs); `StyleSettings.from_inputs` is the one place they become groups, through the `INPUTS` table,
and `as_inputs` turns the groups back into the flat names for the recipe, so a recipe replays through the same
surface. A group checks its own values in `__post_init__`; what needs the networks or the number of style images
(layer names, per-image weights, sizes against the model and the limits) is checked when `resolved`.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field, fields, replace

import numpy as np

from .. import limits
from .. import style as st
from ..presets import Preset

# Defaults per optimizer (unconstrained: eps is not used). Steps measured: L-BFGS loss at 100 steps is below Adam's
# at 150 (128 px). Fewer L-BFGS steps were tried for speed (benchmarks/defaults.py, docs/tabs.md) and kept out: at 50
# steps benchmarks/style.py's judge rates chelsea × the 4 paintings 22 % further from the styles (0.0427 against
# 0.0351; astronaut: 0.0506 against 0.0508), and a 128-px output or a 128 → 256 pyramid loses more. Step: L-BFGS a
# unit step (no line search); Adam pixel units in [0,1].
PRESETS = {"lbfgs": Preset(eps=0.0, step_size=1.0, steps=100), "adam": Preset(eps=0.0, step_size=0.02, steps=200)}
INITS = ("content", "noise")
MIN_DEFAULT_SIZE = 256   # the nets are fully convolutional (global average pool), so a 32-px CIFAR net works at 256 px


def _listed(value):
    """A list or tuple as a tuple; None stays None; anything else (one name or number) as a 1-item tuple."""
    return value if value is None else tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _set(obj, **values) -> None:
    for name, value in values.items():
        object.__setattr__(obj, name, value)  # a frozen group normalising its own fields in __post_init__


def _real(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and bool(np.isfinite(value))


@dataclass(frozen=True)
class Weights:
    """The loss terms' weights and how each term is shared out.

    content, style, tv: weights on the normalised content, style and total-variation terms, chosen by eye on
    early-epoch embedded CIFAR checkpoints at 128 px, 60 L-BFGS steps: style 1 barely stylises, 30 loses the
    content; TV 0.5 visibly blurs, 0.1 only calms the checkerboard that stride-2 convolutions leave (re-checked on
    the final weights, docs/style.md). blend: one weight per style image (None: equal); per_layer: one weight per
    style layer, a list aligned with the layers or a dict by name (None: equal); both are normalised to sum to 1.
    """
    content: float = 1.0
    style: float = 5.0
    tv: float = 0.1
    blend: tuple | None = None
    per_layer: tuple | dict | None = None

    def __post_init__(self):
        for name, w in (("content_weight", self.content), ("style_weight", self.style), ("tv_weight", self.tv)):
            if not _real(w) or w < 0:
                raise ValueError(f"{name} must be a finite non-negative number, got {w!r}")
        if self.style <= 0:
            raise ValueError("style_weight must be positive: without a style term there is nothing to transfer")
        blend = _listed(self.blend)
        if blend is not None:
            blend = tuple(st.normalised_weights(blend, len(blend), "style_weights"))
        per_layer = self.per_layer if isinstance(self.per_layer, dict) else _listed(self.per_layer)
        if per_layer is not None:
            st.normalised_weights(list(per_layer.values() if isinstance(per_layer, dict) else per_layer),
                                  len(per_layer), "layer_weights")
        _set(self, content=float(self.content), style=float(self.style), tv=float(self.tv), blend=blend,
             per_layer=per_layer)

    def resolved(self, styles: int, style_layers) -> Weights:
        """Normalised to `styles` style images and to the named style layers (a dict by layer name)."""
        return replace(self, blend=tuple(st.normalised_weights(self.blend, styles, "style_weights")),
                       per_layer=st.layer_weight_map(style_layers, self.per_layer))


@dataclass(frozen=True)
class Layers:
    """The style layers (Gram matrices) and the content layer; None: the style network's / content network's preset
    (`style.preset_for`)."""
    style: tuple | None = None
    content: str | None = None

    def __post_init__(self):
        style = _listed(self.style)
        if style is not None and (not style or not all(isinstance(name, str) for name in style)):
            raise ValueError(f"style_layers must be a non-empty list of layer names, got {self.style!r}")
        if self.content is not None and not isinstance(self.content, str):
            raise ValueError(f"content_layer must be a layer name, got {self.content!r}")
        _set(self, style=style, content=self.content or None)

    def resolved(self, style_net, content_net) -> Layers:
        """The presets filled in, every name checked against its network."""
        style = st.check_layers(style_net, self.style or st.preset_for(style_net).style, "style_layers")
        content = self.content or st.preset_for(content_net).content
        st.check_layers(content_net, [content], "content_layer")
        return replace(self, style=style, content=content)


@dataclass(frozen=True)
class Colour:
    """preserve_colors: transfer luminance only and keep the content's YIQ chrominance; match_histogram: match the
    style's colour histogram to the content's first."""
    preserve_colors: bool = False
    match_histogram: bool = False

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) or value not in (True, False):
                raise ValueError(f"{f.name} must be true or false, got {value!r}")
            _set(self, **{f.name: bool(value)})


@dataclass(frozen=True)
class Resolution:
    """size: the output's long side (None: the pyramid's last size, else max(model side, MIN_DEFAULT_SIZE));
    pyramid: coarse-to-fine long sides ending at size (None: one level up to st.SINGLE_LEVEL_MAX px, else halving
    down to it); style_scale: the style images' long side / the output's."""
    size: int | None = None
    pyramid: tuple | None = None
    style_scale: float = 1.0

    def __post_init__(self):
        if not _real(self.style_scale) or not 0 < self.style_scale <= 4:
            raise ValueError(f"style_scale must be a number in (0, 4], got {self.style_scale!r}")
        _set(self, pyramid=_listed(self.pyramid), style_scale=float(self.style_scale))

    def _size(self, model_side: int) -> int:
        if self.size is not None:
            return self.size
        return self.pyramid[-1] if self.pyramid else max(model_side, MIN_DEFAULT_SIZE)

    def sides(self, model_side: int) -> list[int]:
        """The long side of each level a run optimises at (its steps each), on a model of input size model_side."""
        return st.pyramid_levels(int(self._size(model_side)), self.pyramid)

    def resolved(self, model_side: int) -> Resolution:
        """The levels worked out and checked against the limits, including the style images' resized side."""
        limits.check_run(side=self._size(model_side))
        levels = self.sides(model_side)
        max_side, style_side = limits.current().max_side, round(levels[-1] * self.style_scale)
        if style_side > max_side:
            raise ValueError(f"style_scale {self.style_scale:g} at size {levels[-1]} resizes the style image to "
                             f"{style_side} px, over the {max_side} px limit")
        return replace(self, size=levels[-1], pyramid=tuple(levels))


@dataclass(frozen=True)
class Optimiser:
    """optimizer: "lbfgs" or "adam" (each with its steps and step size in PRESETS); init: start from the "content"
    image or from uniform "noise" (drawn from the run's seed)."""
    optimizer: str = "lbfgs"
    init: str = "content"

    def __post_init__(self):
        if self.optimizer not in PRESETS:
            raise ValueError(f"optimizer must be one of {list(PRESETS)}, got {self.optimizer!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be 'content' or 'noise', got {self.init!r}")

    @property
    def preset(self) -> Preset:
        return PRESETS[self.optimizer]


# The adapter: each flat input (CLI flag, app and endpoint parameter, recipe key) -> (group, field), in recipe order.
INPUTS = {"optimizer": ("optimiser", "optimizer"), "init": ("optimiser", "init"),
          "style_weights": ("weights", "blend"), "content_weight": ("weights", "content"),
          "style_weight": ("weights", "style"), "tv_weight": ("weights", "tv"),
          "layer_weights": ("weights", "per_layer"), "style_layers": ("layers", "style"),
          "content_layer": ("layers", "content"), "size": ("resolution", "size"), "pyramid": ("resolution", "pyramid"),
          "style_scale": ("resolution", "style_scale"), "preserve_colors": ("colour", "preserve_colors"),
          "match_histogram": ("colour", "match_histogram")}


@dataclass(frozen=True)
class StyleSettings:
    """Every style-transfer hyper-parameter, grouped by concern."""
    weights: Weights = field(default_factory=Weights)
    layers: Layers = field(default_factory=Layers)
    colour: Colour = field(default_factory=Colour)
    resolution: Resolution = field(default_factory=Resolution)
    optimiser: Optimiser = field(default_factory=Optimiser)

    @classmethod
    def from_inputs(cls, **inputs) -> StyleSettings:
        """The groups from flat inputs named as in INPUTS (those left out keep their group's default)."""
        unknown = sorted(set(inputs) - set(INPUTS))
        if unknown:
            raise TypeError(f"unknown style-transfer settings {unknown}; they are {list(INPUTS)}")
        grouped = {f.name: {} for f in fields(cls)}
        for name, value in inputs.items():
            group, key = INPUTS[name]
            grouped[group][key] = value
        return cls(**{f.name: f.default_factory(**grouped[f.name]) for f in fields(cls)})

    def resolved(self, style_net, content_net, styles: int) -> StyleSettings:
        """Every default filled in and checked on the networks and the number of style images: what a run uses."""
        layers = self.layers.resolved(style_net, content_net)
        return replace(self, layers=layers, weights=self.weights.resolved(styles, layers.style),
                       resolution=self.resolution.resolved(style_net.input_size))

    def as_inputs(self) -> dict:
        """The flat inputs (JSON values: lists for sequences) that from_inputs turns back into these settings."""
        values = {name: getattr(getattr(self, group), key) for name, (group, key) in INPUTS.items()}
        return {name: list(v) if isinstance(v, tuple) else v for name, v in values.items()}
