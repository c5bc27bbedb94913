"""Inpainting: fill masked holes so the classifier sees the image's class, keeping the rest (Santurkar et al. 2019)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import objectives
from ..image import load_image, load_mask
from ..presets import Preset
from ..task_registry import Input, Task, register
from .inputs import load_full
from .metrics import class_probability, predict
from .resolve import class_targets
from .settings import start
from .framing import Framing
from .regions import describe, find_regions, model_crops, paste

# Santurkar et al. 2019, robustness_applications "inpainting" notebook: L2 eps 21.6, step 0.1, 720 steps (224 px).
IMAGENET = Preset(eps=21.6, step_size=0.1, steps=720)
# CIFAR-10 (32 px): the paper's path scaled by 32/224 (720 steps of 0.014, a path of 10) walks the fill away from its
# smooth start: on benchmarks/quality.py's 50 test images with a 10x10 hole, hole PSNR 18.58 dB at the start, 14.63
# after it (robust) and 14.65 (standard). Short paths keep the start and let the robust model add to it: 30 steps of
# 0.03 give 18.64 dB robust, 18.38 standard (benchmarks/inpainting_paths.py; docs/quality.md).
CIFAR = Preset(eps=1.0, step_size=0.03, steps=30)
CONSISTENCY_WEIGHT = 10.0  # same notebook: λ = 10 on mean(((x − x0)·(1 − m))²)
# The paper starts from the mean colour; a smooth (harmonic) fill is a far better start: benchmarks/quality.py, 50
# CIFAR-10 test images with a 10×10 hole, the first embedded robust model: hole PSNR 16.22 dB from the smooth start,
# 12.63 from the mean.
SMOOTH_ROUNDS = 50  # neighbour-averaging rounds per pyramid level


def fill_with_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The hole (mask = 1) pre-filled with each channel's mean over the known pixels, as in the paper."""
    keep = 1 - mask
    mean = (x * keep).sum((2, 3), keepdim=True) / keep.sum((2, 3), keepdim=True)
    return x * keep + mean * mask


def fill_smooth(x: torch.Tensor, mask: torch.Tensor, rounds: int = SMOOTH_ROUNDS) -> torch.Tensor:
    """The hole (mask = 1) relaxed toward the average of its neighbours (harmonic fill), coarse to fine."""
    keep = 1 - mask
    weight = F.avg_pool2d(keep, 2, ceil_mode=True)
    if min(x.shape[-2:]) >= 8 and bool((weight == 0).any()):
        coarse = F.avg_pool2d(x * keep, 2, ceil_mode=True) / weight.clamp_min(1e-6)
        coarse = fill_smooth(coarse, (weight == 0).float(), rounds)
        z = x * keep + F.interpolate(coarse, size=x.shape[-2:], mode="bilinear", align_corners=False) * mask
    else:
        z = fill_with_mean(x, mask)
    kernel = torch.full((x.shape[1], 1, 3, 3), 1 / 9, dtype=x.dtype, device=x.device)
    for _ in range(rounds):
        z = x * keep + F.conv2d(F.pad(z, (1, 1, 1, 1), mode="replicate"), kernel, groups=x.shape[1]) * mask
    return z


STARTS = {"smooth": fill_smooth, "mean": fill_with_mean}


def inpaint(model, image, mask, target=None, start_fill: str = "smooth", seed: int = 0, steps=None, eps=None,
            step_size=None, callback=None):
    """Fill the white part of `mask` (drawn on `image`); target: a class, or None for the class predicted for the image.

    Works at the image's own resolution: each hole is filled in a square region around it (with context) resized to
    the model's input size, and the fill is pasted back inside the mask only, with a FEATHER_PX-pixel feathered edge;
    every other pixel is returned unchanged and the output has the input's size. Several holes are fine (one region
    each, all in one PGD batch). start_fill: "smooth" (default; the hole diffused in from its border) or "mean" (the
    paper's per-channel mean). images.model_resolution holds the model's filled square of each region.
    Returns (images, recipe) with one image (images.tensor: its (1, 3, H, W) tensor).
    """
    if start_fill not in STARTS:
        raise ValueError(f"start_fill must be one of {tuple(STARTS)}, got {start_fill!r}")
    run = start(inpaint, model, seed=seed, steps=steps, eps=eps, step_size=step_size,
                callback=callback, consistency_weight=CONSISTENCY_WEIGHT, start_fill=start_fill)
    img = load_image(image)
    full, hole = load_full(img), load_mask(mask, size=img.size)
    regions = find_regions(hole[0, 0].numpy().astype(bool), run.side)
    crops, m = model_crops(full, hole, regions, run.side)
    if bool((m.flatten(1).min(1).values == 1).any()):
        raise ValueError(f"mask leaves no known pixels around a hole at the model's {run.side}x{run.side} resolution: "
                         "leave more of the image unpainted")
    x0 = STARTS[start_fill](crops, m).to(run.device)
    m = m.to(run.device)
    y = _target(run, full, hole, target).repeat(len(regions))
    objective = objectives.class_loss(y) + CONSISTENCY_WEIGHT * objectives.masked_mse(x0, m)
    result = run.optimise(x0, objective)
    original = np.asarray(img)
    filled = paste(original, hole[0, 0].numpy().astype(bool), regions, result.x.detach().clamp(0, 1))
    metrics = {"target_prob": float(class_probability(run.model, result.x, y).mean()),
               "hole_fraction": float(hole.mean()), "regions": len(regions)}
    return run.finish(result, metrics, output=torch.from_numpy(filled).permute(2, 0, 1)[None] / 255,
                      model_output=result.x, layout=describe(regions, run.side), target=run.model.class_names[y[0]],
                      target_index=int(y[0]), target_source="given" if target is not None else "predicted")


def _target(run, full: torch.Tensor, hole: torch.Tensor, target) -> torch.Tensor:
    """The given class, else the one the model predicts for the whole image with its holes smoothly filled."""
    if target is not None:
        return torch.tensor(class_targets(run, target)[:1])
    framing = Framing(full, run.side)
    return predict(run.model, fill_smooth(framing.model_input, framing.frame_mask(hole)).to(run.device)).cpu()


register(Task("inpaint", inpaint, "Inpaint",
              "Fill the white region of the mask so the image is classified as the target class.",
              inputs=(Input("model", "model"), Input("image", "image", "image"),
                      Input("mask", "mask", "paint the missing region"),
                      Input("target", "class", "target class (empty = predicted)"),
                      Input("start_fill", "choice", "start from (mean: as the paper)", choices=tuple(STARTS))),
              presets=(IMAGENET, CIFAR), order=20,
              examples=({"image": "photos/chelsea-64.jpg", "mask": "masks/eye-64.png", "target": "cat"},
                        {"image": "photos/chelsea.jpg", "mask": "masks/square.png", "target": "cat"},
                        {"image": "photos/rocket.jpg", "mask": "masks/stripe.png", "target": ""})))
