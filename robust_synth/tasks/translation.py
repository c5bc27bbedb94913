"""Image-to-image translation: PGD toward a target class inside an L2 ball around the source (Santurkar et al. 2019)."""
from __future__ import annotations

import torch

from .. import objectives
from ..image import load_image
from .common import Preset, class_probability, load_input, predict, resolve_targets, start

# Santurkar et al. 2019, robustness_applications "image-to-image translation" notebook (2-class models,
# e.g. horse↔zebra): L2 eps 80, step 0.5, 200 steps (224 px). Strength: lower eps / steps for a lighter touch.
IMAGENET = Preset(eps=80.0, step_size=0.5, steps=200)


def translate_tensor(run, x: torch.Tensor, target, return_tensors: bool = False):
    """Shared by translation and sketch-to-image: PGD from x (1, 3, H, W) toward `target`."""
    y = torch.tensor(resolve_targets(run.model, target)[:1])
    x = x.to(run.device)
    source = predict(run.model, x).item()
    result = run.optimise(x, objectives.class_loss(y))
    metrics = {"target_prob": float(class_probability(run.model, result.x, y).mean()),
               "target_hit": bool(predict(run.model, result.x).item() == y.item()),
               "l2_change": float((result.x - x).flatten(1).norm(dim=1).mean())}
    return run.finish(result, metrics, return_tensors, target=run.model.class_names[y.item()], target_index=y.item(),
                      source_prediction=run.model.class_names[source])


def translate(model, image, target, seed: int = 0, steps=None, eps=None, step_size=None, callback=None,
              return_tensors: bool = False):
    """Turn `image` (centre-cropped to the model's input size) into class `target`, any class to any class."""
    run = start("translate", model, seed=seed, steps=steps, eps=eps, step_size=step_size, preset=IMAGENET,
                callback=callback)
    return translate_tensor(run, load_input(load_image(image), run.side), target, return_tensors=return_tensors)
