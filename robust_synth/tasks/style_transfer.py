"""Gatys-style neural style transfer through the PGD engine (unconstrained L-BFGS or Adam) on any registered model.

Loss scaling: each style layer's term is the *relative* Gram error ‖G_l(x) − G_l(s)‖²_F / ‖G_l(s)‖²_F and the content
term is mean((F(x) − F(c))²) / mean(F(c)²), so the same weights work on every network (CIFAR ResNet, ResNet-50,
VGG) whatever its activation magnitudes. Style-layer weights and style-image blend weights are normalised to sum to 1.
The hyper-parameters and their defaults are grouped by concern in style_settings.py.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .. import objectives
from ..engine import PGDResult
from ..features import ModelOutput, RobustModel
from ..image import load_picture, to_pil, to_tensor
from ..models import load_model
from ..task_registry import Input, Task, register
from .. import style as st
from .settings import start
from .style_settings import INITS, PRESETS, Colour, Layers, Optimiser, Resolution, StyleSettings, Weights

DEFAULT_MODEL = "cifar10-vgg-l2-0.5"


class StyleContentNet:
    """Routes "style/<layer>" to the style network and "content/<layer>" to the content one (one forward if same)."""

    def __init__(self, style_net: RobustModel, content_net: RobustModel):
        self.style_net, self.content_net = style_net, content_net

    def __call__(self, x: torch.Tensor, layers=()) -> ModelOutput:
        wanted = {"style": [], "content": []}
        for key in layers:
            role, layer = key.split("/", 1)
            wanted[role].append(layer)
        if self.content_net is self.style_net:
            out = self.style_net(x, layers=wanted["style"] + wanted["content"])
            outs = {"style": out, "content": out}
        else:
            outs = {"style": self.style_net(x, layers=wanted["style"]),
                    "content": self.content_net(x, layers=wanted["content"])}
        result = ModelOutput({f"{role}/{layer}": outs[role][layer] for role in wanted for layer in wanted[role]})
        result["logits"] = outs["style"].logits
        return result


@torch.no_grad()
def build_losses(net: StyleContentNet, content_x: torch.Tensor, style_xs: list[torch.Tensor], weights: Weights,
                 layers: Layers):
    """(style, content) objectives, both normalised: weighted relative Gram error and relative feature error.

    layers and weights resolved (StyleSettings.resolved: no None; weights.blend one normalised weight per style image,
    weights.per_layer a normalised dict by style layer), once per run, not again at every pyramid level.
    """
    keys = [f"style/{name}" for name in layers.style]
    grams = {k: 0 for k in keys}
    for s, w in zip(style_xs, weights.blend, strict=True):
        out = net(s, layers=keys)
        grams = {k: grams[k] + w * objectives.gram_matrix(out[k].float()) for k in keys}
    per_key = {f"style/{n}": weights.per_layer[n] / grams[f"style/{n}"].pow(2).sum().clamp_min(1e-12).item()
               for n in layers.style}
    content_key = f"content/{layers.content}"
    target = net(content_x, layers=[content_key])[content_key].float()
    content = objectives.content_loss(target, content_key) * (1.0 / target.pow(2).mean().clamp_min(1e-12).item())
    return objectives.style_loss(grams, per_key), content


@torch.no_grad()
def measure(net: StyleContentNet, x: torch.Tensor, style_obj, content_obj) -> dict[str, float]:
    """Normalised style and content losses of image x (1, 3, H, W) in one forward."""
    out = net(x, layers=style_obj.layers + content_obj.layers)
    return {"style_loss": style_obj(out, x).item(), "content_loss": content_obj(out, x).item()}


def _as_list(style_image) -> list:
    items = list(style_image) if isinstance(style_image, (list, tuple)) else [style_image]
    if not items:
        raise ValueError("style_image is an empty list: give at least one style image")
    return items


def _check_side(img: Image.Image, name: str, min_side: int = st.MIN_SIDE) -> None:
    if min(img.size) < min_side:
        raise ValueError(f"{name} is {img.size[0]}×{img.size[1]} px; both sides must be at least {min_side} px")


def _to_array(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float64) / 255.0


def _to_image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.round(np.clip(arr, 0, 1) * 255).astype(np.uint8))


def _prepare_arrays(content: Image.Image, styles: list[Image.Image], colour: Colour):
    """Content and style arrays to optimise on: histogram-matched styles, luminance-only when preserving colours."""
    content_rgb = _to_array(content)
    style_rgbs = [_to_array(s) for s in styles]
    if colour.match_histogram:
        style_rgbs = [st.match_colors(s, content_rgb) for s in style_rgbs]
    if not colour.preserve_colors:
        return content_rgb, style_rgbs
    content_y = st.luminance(content_rgb)
    return st.grey(content_y), [st.grey(st.match_luminance(st.luminance(s), content_y)) for s in style_rgbs]


def _resized(arr: np.ndarray, long_side: int, name: str, min_side: int, device) -> torch.Tensor:
    img = _to_image(arr)
    img = img.resize(st.fit_long_side(*img.size, long_side), Image.Resampling.LANCZOS)
    _check_side(img, f"{name} resized to a {long_side}-px long side", min_side)
    return to_tensor(img).to(device)


def _optimise(run, net, content_arr, style_arrs, settings: StyleSettings) -> tuple[PGDResult, dict]:
    """Coarse to fine over the resolved settings' pyramid, one level in memory at a time: the last level's result
    (losses and steps counted over all levels) and its style and content losses."""
    levels, w = settings.resolution.pyramid, settings.weights
    min_side = max(st.min_input_side(net.style_net), st.min_input_side(net.content_net))
    x, losses, steps_run = None, [], 0
    for i, level in enumerate(levels):
        content_x = _resized(content_arr, level, "content_image", min_side, run.device)
        style_xs = [_resized(s, round(level * settings.resolution.style_scale), "style_image", min_side, run.device)
                    for s in style_arrs]
        style_obj, content_obj = build_losses(net, content_x, style_xs, w, settings.layers)
        objective = w.style * style_obj + w.content * content_obj + w.tv * objectives.total_variation()
        if x is None:  # noise drawn on the CPU: the same start on every device
            x = content_x if settings.optimiser.init == "content" else torch.rand(content_x.shape,
                                                                                   generator=run.generator)
        else:
            x = F.interpolate(x, size=content_x.shape[2:], mode="bicubic", align_corners=False).clamp(0, 1)
        result = run.optimise(x, objective, net=net, part=(i, len(levels)))
        x, losses, steps_run = result.x, losses + result.losses, steps_run + result.steps_run
        if result.cancelled:
            break
    return PGDResult(x, result.loss, losses, steps_run, result.cancelled), measure(net, x, style_obj, content_obj)


def _final_image(x: torch.Tensor, content: Image.Image, colour: Colour) -> Image.Image:
    image = to_pil(x[0:1].cpu())
    if not colour.preserve_colors:
        return image
    original = _to_array(content.resize(image.size, Image.Resampling.LANCZOS))
    return _to_image(st.with_content_chrominance(st.luminance(_to_array(image)), original))


def work_sides(values: dict, side: int) -> list[int]:
    """The long side of each pyramid level a run optimises at (its `steps` steps each), as Resolution.sides works
    them out; the app's ZeroGPU estimate counts them as squares, an upper bound. values: the app's (size may be "")."""
    size = values.get("size")
    return Resolution(int(size) if size else None, values.get("pyramid")).sides(side)


def style_transfer(content_image, style_image, model=DEFAULT_MODEL, *, content_model=None,
                   style_weights=Weights.blend, size=Resolution.size, steps=None, optimizer=Optimiser.optimizer,
                   init=Optimiser.init, content_weight=Weights.content, style_weight=Weights.style,
                   tv_weight=Weights.tv, style_scale=Resolution.style_scale, style_layers=Layers.style,
                   content_layer=Layers.content, layer_weights=Weights.per_layer,
                   preserve_colors=Colour.preserve_colors, match_histogram=Colour.match_histogram,
                   pyramid=Resolution.pyramid, seed=0, eps=None, step_size=None, callback=None):
    """Render content_image in the style of style_image (one image or a list blended by style_weights).

    model: the style network (name or RobustModel); content_model: a separate content network (default: model).
    size: output long side (default max(model input size, 256)); pyramid: coarse-to-fine long sides ending at size
    (default: one level up to 512 px), `steps` steps per level. style_scale: style long side / output long side.
    preserve_colors: luminance-only transfer, the content's YIQ chrominance kept. match_histogram: the style's colour
    histogram matched to the content's first. Unconstrained (L-BFGS or Adam), so eps is checked but unused.
    The hyper-parameters are grouped once, by StyleSettings.from_inputs, into the groups of style_settings.py
    (Weights, Layers, Colour, Resolution, Optimiser), which hold their defaults and check them; the recipe records
    every one, resolved, under these names. callback(step, total, x) runs every step; raising Cancelled returns the
    best image so far. Returns ([PIL image], recipe).
    """
    content = load_picture(content_image, name="content_image")
    styles = [load_picture(s, name="style_image") for s in _as_list(style_image)]
    for img, name in [(content, "content_image")] + [(s, "style_image") for s in styles]:
        _check_side(img, name)
    settings = StyleSettings.from_inputs(
        optimizer=optimizer, init=init, style_weights=style_weights, content_weight=content_weight,
        style_weight=style_weight, tv_weight=tv_weight, layer_weights=layer_weights, style_layers=style_layers,
        content_layer=content_layer, size=size, pyramid=pyramid, style_scale=style_scale,
        preserve_colors=preserve_colors, match_histogram=match_histogram)
    # float32 throughout (no bf16 autocast): L-BFGS needs accurate gradients of small relative Gram errors
    run = start(style_transfer, model, seed=seed, steps=steps, eps=eps, step_size=step_size, callback=callback,
                preset=settings.optimiser.preset,
                engine={"constraint": "none", "optimizer": settings.optimiser.optimizer, "autocast": False})
    run.model = style_net = st.with_avg_pool(run.model)
    content_net = style_net if content_model is None else st.with_avg_pool(load_model(content_model,
                                                                                     device=run.device))
    settings = settings.resolved(style_net, content_net, len(styles))
    params = {**settings.as_inputs(), "autocast": False, "content_model": content_net.name,
              "content_weights_sha256": getattr(content_net, "weights_sha256", None)}
    content_arr, style_arrs = _prepare_arrays(content, styles, settings.colour)
    result, metrics = _optimise(run, StyleContentNet(style_net, content_net), content_arr, style_arrs, settings)
    image = _final_image(result.x, content, settings.colour)  # at the output size: no separate model resolution
    return run.finish(result, metrics, output=to_tensor(image), **params)


register(Task("style_transfer", style_transfer, "Style transfer",
              "Gatys style transfer with a robust network as the style network.",
              inputs=(Input("content_image", "image", "content image"),
                      Input("style_image", "image", "style image", many=True),
                      Input("model", "model", "style network"),
                      Input("content_model", "model", "content network (default: the style network)", app=False),
                      Input("style_weights", "text", "blend weights of the style images", many=True, type=float,
                            app=False),
                      Input("size", "number", "size (output long side, px)"),
                      Input("optimizer", "choice", "optimizer", choices=tuple(PRESETS), app=False),
                      Input("init", "choice", "start image", choices=INITS, app=False),
                      Input("content_weight", "text", "content weight", app=False),
                      Input("style_weight", "text", "style weight", app=False),
                      Input("tv_weight", "text", "total-variation weight", app=False),
                      Input("style_scale", "text", "style long side / output long side", app=False),
                      Input("style_layers", "text", "style layers", many=True, app=False),
                      Input("content_layer", "text", "content layer", app=False),
                      Input("layer_weights", "text", "style layer weights", many=True, type=float, app=False),
                      Input("preserve_colors", "bool", "preserve the content's colours"),
                      Input("match_histogram", "bool", "match the style's colour histogram first", app=False),
                      Input("pyramid", "text", "coarse-to-fine long sides", many=True, type=int, app=False)),
              work_sides=work_sides,
              presets=(PRESETS["lbfgs"], None), order=100,  # the default optimizer's (start() picks per run)
              examples=({"content_image": "photos/chelsea.jpg", "style_image": "styles/mosaic.jpg", "size": 128},
                        {"content_image": "photos/chelsea.jpg", "style_image": "styles/mosaic.jpg"},
                        {"content_image": "photos/astronaut.jpg", "style_image": "styles/swirl.jpg"})))
