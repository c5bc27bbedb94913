"""Feature visualisation: maximise one unit of the representation R(x) from noise or an image (Engstrom et al. 2019)."""
from __future__ import annotations

import torch

from .. import objectives
from ..presets import Preset
from ..task_registry import Input, Task, register
from .inputs import load_full
from .settings import start
from .framing import Framing, finish_framed
from .feature_painting import check_feature

# Engstrom et al. 2019, robust_representations "feature visualisation" notebook: L2 eps 1000, step 1, 200 steps,
# from noise randn/20 + 0.5 (224 px).
IMAGENET = Preset(eps=1000.0, step_size=1.0, steps=200)


def visualize_feature(model, feature, image=None, seed: int = 0, steps=None, eps=None, step_size=None, callback=None):
    """An image that maximally activates feature `feature` of R(x), grown from noise or from `image`.

    From noise the result has the model's input size; from an image it has the image's size (framed as in
    translate: the original plus the model's change, upsampled; images.model_resolution: the model's own).
    """
    run = start(visualize_feature, model, seed=seed, steps=steps, eps=eps, step_size=step_size,
                callback=callback, feature=feature, start="noise randn/20 + 0.5" if image is None else "image")
    k = check_feature(run.model, feature)
    framing = None if image is None else Framing(load_full(image), run.side)
    x0 = run.noise_start(1) if framing is None else framing.model_input
    result = run.optimise(x0, -objectives.feature(k))
    with torch.no_grad():
        value = run.model(result.x, layers=[objectives.REP])[objectives.REP][:, k].mean().item()
    if framing is None:
        return run.finish(result, {"feature_value": value})
    return finish_framed(run, framing, result, {"feature_value": value})


register(Task("visualize_feature", visualize_feature, "Visualize a feature",
              "Maximise one representation feature, from noise or an image.",
              inputs=(Input("model", "model"), Input("feature", "feature", "feature (representation index)"),
                      Input("image", "image", "start image (optional; default: noise)")),
              presets=(IMAGENET, None), order=90,
              examples=({"feature": 3}, {"feature": 10, "image": "photos/coffee.jpg"})))
