"""Image-to-image translation: PGD toward a target class inside an L2 ball around the source (Santurkar et al. 2019)."""
from __future__ import annotations

import torch

from .. import objectives
from ..presets import Preset
from ..task_registry import Input, Task, register
from .inputs import load_full
from .metrics import class_probability, predict
from .resolve import class_targets
from .settings import start
from .framing import Framing, finish_framed

# Santurkar et al. 2019, robustness_applications "image-to-image translation" notebook (2-class models,
# e.g. horse↔zebra): L2 eps 80, step 0.5, 200 steps (224 px). Strength: lower eps / steps for a lighter touch.
IMAGENET = Preset(eps=80.0, step_size=0.5, steps=200)


def translate_framed(run, framing: Framing, target):
    """Shared by translation and sketch-to-image: PGD from the framed image toward `target`, back at full size."""
    y = torch.tensor(class_targets(run, target)[:1])
    x = framing.model_input.to(run.device)
    source = predict(run.model, x).item()
    result = run.optimise(x, objectives.class_loss(y))
    metrics = {"target_prob": float(class_probability(run.model, result.x, y).mean()),
               "target_hit": bool(predict(run.model, result.x).item() == y.item()),
               "l2_change": float((result.x - x).flatten(1).norm(dim=1).mean())}
    return finish_framed(run, framing, result, metrics, target=run.model.class_names[y.item()],
                         target_index=y.item(), source_prediction=run.model.class_names[source])


def translate(model, image, target, seed: int = 0, steps=None, eps=None, step_size=None, callback=None):
    """Turn `image` into class `target`, any class to any class; the result has the image's size.

    The model sees the whole image (aspect kept: resized to fit its input, padded to a square by reflection); the
    full-size result is the original plus the model's change, upsampled (images.model_resolution: the model's own).
    """
    run = start(translate, model, seed=seed, steps=steps, eps=eps, step_size=step_size,
                callback=callback)
    return translate_framed(run, Framing(load_full(image), run.side), target)


register(Task("translate", translate, "Translate", "Image-to-image translation: move a photo toward another class.",
              inputs=(Input("model", "model"), Input("image", "image", "source image"),
                      Input("target", "class", "target class")),
              presets=(IMAGENET, None), order=40,
              examples=({"image": "photos/chelsea-64.jpg", "target": "dog"},
                        {"image": "photos/chelsea.jpg", "target": "dog"},
                        {"image": "photos/rocket.jpg", "target": "ship"})))
