"""Feature painting: raise one representation feature inside a mask, keep the rest (Engstrom et al. 2019)."""
from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn as nn

from .. import objectives
from ..features import RobustModel
from ..image import load_image, load_mask
from ..presets import Preset
from ..task_registry import Input, Task, register
from .inputs import load_full
from .resolve import model_targets, resolve_model
from .run import TransformedInput
from .settings import start
from .regions import describe, find_regions, model_crops, paste

# Engstrom et al. 2019, robust_representations "feature painting" notebook: L2 eps 70, step 1, 140 steps (224 px).
# The notebook minimises −0.1·R(x)_k + 90·‖(x − x0)·(1 − m)‖. With normalised-gradient steps that penalty, non-smooth
# at 0, makes every step that touches the outside cost more than the feature gains (keep-best returned the input
# unchanged on the tiny test model). We keep its intent exactly instead: the model sees
# x0·(1 − m) + x·m, so pixels outside the mask get zero gradient and never move, and the loss is −R(x)_k.
IMAGENET = Preset(eps=70.0, step_size=1.0, steps=140)


@torch.no_grad()
def representation_size(model: RobustModel) -> int:
    """Number of features (channels) of R(x), the penultimate representation (a vector or a map)."""
    x = torch.zeros(1, 3, model.input_size, model.input_size, device=model.mean.device)
    return model(x, layers=[objectives.REP])[objectives.REP].shape[1]


def check_feature(model: RobustModel, feature) -> int:
    size = representation_size(model)
    if isinstance(feature, bool) or not isinstance(feature, numbers.Integral) or not 0 <= feature < size:
        raise ValueError(f"feature must be an integer index of R(x) between 0 and {size - 1}, got {feature!r}")
    return int(feature)


def _classifier_weight(model: RobustModel) -> torch.Tensor:
    """The weight of the network's last linear layer, the one on R(x) (a constant logit scale does not change ranks)."""
    linears = [m for m in model.net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{model.name}: top_features needs a linear last layer on R(x), found none")
    return linears[-1].weight.detach().float().cpu()


def top_features(model, target, k: int = 10) -> list[dict]:
    """The k features of R(x) that most distinguish class `target`: largest fc weight of the class minus the
    mean weight over all classes (a feature the class's logit relies on more than the others do).

    Returns [{"index": int, "score": float}, ...], best first.
    """
    model, classes = model_targets(resolve_model(model), target)  # a CLIP prompt: the head's row is its embedding
    c = classes[0]
    weight = _classifier_weight(model)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= weight.shape[1]:
        raise ValueError(f"k must be an integer between 1 and {weight.shape[1]}, got {k!r}")
    scores = weight[c] - weight.mean(0)
    best = scores.topk(int(k))
    return [{"index": int(i), "score": round(float(s), 6)} for s, i in zip(best.values, best.indices)]


def paint_features(model, image, mask, feature, seed: int = 0, steps=None, eps=None, step_size=None, callback=None):
    """Add feature `feature` (an index of R(x); see top_features) inside the white part of `mask`.

    Works like inpaint at the image's own resolution: a square region around each painted area goes to the model,
    and the change it makes is added to the original inside the mask only (feathered edge); the rest is unchanged.
    """
    run = start(paint_features, model, seed=seed, steps=steps, eps=eps, step_size=step_size,
                callback=callback, feature=feature, outside_mask="kept exactly")
    k = check_feature(run.model, feature)
    img = load_image(image)
    full, editable = load_full(img), load_mask(mask, size=img.size)
    regions = find_regions(editable[0, 0].numpy().astype(bool), run.side)
    crops, m = model_crops(full, editable, regions, run.side)
    x0, m = crops.to(run.device), m.to(run.device)
    inside_only = TransformedInput(run.model, lambda x: x0 * (1 - m) + x * m)  # pixels outside m never matter
    result = run.optimise(x0, -objectives.feature(k), net=inside_only)
    with torch.no_grad():
        before, after = (run.model(t, layers=[objectives.REP])[objectives.REP][:, k].mean().item()
                         for t in (x0, result.x))
    painted = paste(np.asarray(img), editable[0, 0].numpy().astype(bool), regions, result.x.detach().clamp(0, 1),
                    starts=x0)
    return run.finish(result, {"feature_before": before, "feature_after": after, "regions": len(regions)},
                      output=torch.from_numpy(painted).permute(2, 0, 1)[None] / 255,
                      model_output=result.x, layout=describe(regions, run.side))


register(Task("paint_features", paint_features, "Paint features",
              "Raise one representation feature inside the painted region only.",
              inputs=(Input("model", "model"), Input("image", "image", "image"),
                      Input("mask", "mask", "paint where the feature should appear"),
                      Input("feature", "feature", "feature (representation index)")),
              presets=(IMAGENET, None), order=60,
              examples=({"image": "photos/coffee-64.jpg", "mask": "masks/square-64.png", "feature": 3},
                        {"image": "photos/coffee.jpg", "mask": "masks/square.png", "feature": 3})))
