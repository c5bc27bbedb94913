"""Inpainting: fill a masked hole so the classifier sees the image's class, keeping the rest (Santurkar et al. 2019)."""
from __future__ import annotations

import torch

from .. import objectives
from ..image import load_image
from .common import Preset, class_probability, load_input, load_input_mask, predict, resolve_targets, start

# Santurkar et al. 2019, robustness_applications "inpainting" notebook: L2 eps 21.6, step 0.1, 720 steps (224 px).
IMAGENET = Preset(eps=21.6, step_size=0.1, steps=720)
CONSISTENCY_WEIGHT = 10.0  # same notebook: λ = 10 on mean(((x − x0)·(1 − m))²)


def fill_with_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The hole (mask = 1) pre-filled with each channel's mean over the known pixels, as in the paper."""
    keep = 1 - mask
    mean = (x * keep).sum((2, 3), keepdim=True) / keep.sum((2, 3), keepdim=True)
    return x * keep + mean * mask


def inpaint(model, image, mask, target=None, seed: int = 0, steps=None, eps=None, step_size=None, callback=None,
            return_tensors: bool = False):
    """Fill the white part of `mask` (drawn on `image`); target: a class, or None for the predicted class.

    The image is centre-cropped to the model's input size. Returns (images, recipe) with one image
    (plus the (1, 3, H, W) tensor with return_tensors=True).
    """
    run = start("inpaint", model, seed=seed, steps=steps, eps=eps, step_size=step_size, preset=IMAGENET,
                callback=callback, consistency_weight=CONSISTENCY_WEIGHT)
    img = load_image(image)
    x = load_input(img, run.side)
    m = load_input_mask(mask, img.size, run.side)
    x0 = fill_with_mean(x, m).to(run.device)
    m = m.to(run.device)
    y = torch.tensor([predict(run.model, x0).item() if target is None else resolve_targets(run.model, target)[0]])
    objective = objectives.class_loss(y) + CONSISTENCY_WEIGHT * objectives.masked_mse(x0, m)
    result = run.optimise(x0, objective)
    metrics = {"target_prob": float(class_probability(run.model, result.x, y).mean()),
               "hole_fraction": float(m.mean())}
    return run.finish(result, metrics, return_tensors, target=run.model.class_names[y.item()],
                      target_index=y.item(), target_source="given" if target is not None else "predicted")
