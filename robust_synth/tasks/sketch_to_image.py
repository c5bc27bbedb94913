"""Sketch-to-image: PGD toward a class inside an L2 ball around a drawing (Santurkar et al. 2019)."""
from __future__ import annotations

from .common import Preset, load_full, start
from .framing import Framing
from .translation import translate_framed

# Santurkar et al. 2019, robustness_applications "sketch-to-image" notebook: L2 eps 40, step 1, 60 steps (224 px).
IMAGENET = Preset(eps=40.0, step_size=1.0, steps=60)


def sketch_to_image(model, image, target, seed: int = 0, steps=None, eps=None, step_size=None, callback=None,
                    return_tensors: bool = False):
    """Turn a drawing (a few strokes on white are enough; transparency counts as white) into class `target`.

    Full size and aspect kept as in translate.
    """
    run = start("sketch_to_image", model, seed=seed, steps=steps, eps=eps, step_size=step_size, preset=IMAGENET,
                callback=callback)
    return translate_framed(run, Framing(load_full(image, name="sketch"), run.side), target,
                            return_tensors=return_tensors)
