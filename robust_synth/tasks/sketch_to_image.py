"""Sketch-to-image: PGD toward a class inside an L2 ball around a drawing (Santurkar et al. 2019)."""
from __future__ import annotations

from ..presets import Preset
from ..task_registry import Input, Task, register
from .inputs import load_full
from .settings import start
from .framing import Framing
from .translation import translate_framed

# Santurkar et al. 2019, robustness_applications "sketch-to-image" notebook: L2 eps 40, step 1, 60 steps (224 px).
IMAGENET = Preset(eps=40.0, step_size=1.0, steps=60)
# CIFAR-10 (32 px): the paper's numbers scaled by 32/224 (eps 5.7) leave a 64-px sketch a pale line drawing; eps 15 in
# the same 60 steps paints the horse brown on green under blue (benchmarks/examples.py: the judge's squashed P(horse)
# 0.074 robust against 0.039 standard, where the scaled setting gave 0.051 and 0.044).
CIFAR = Preset(eps=15.0, step_size=0.5, steps=60)


def sketch_to_image(model, image, target, seed: int = 0, steps=None, eps=None, step_size=None, callback=None):
    """Turn a drawing (a few strokes on white are enough; transparency counts as white) into class `target`.

    Full size and aspect kept as in translate.
    """
    run = start(sketch_to_image, model, seed=seed, steps=steps, eps=eps, step_size=step_size,
                callback=callback)
    return translate_framed(run, Framing(load_full(image, name="sketch"), run.side), target)


register(Task("sketch_to_image", sketch_to_image, "Sketch to image",
              "Turn a line drawing into an image of the target class.",
              inputs=(Input("model", "model"), Input("image", "sketch", "sketch"),
                      Input("target", "class", "target class")),
              presets=(IMAGENET, CIFAR), order=50,
              examples=({"image": "sketches/horse-64.png", "target": "horse"},
                        {"image": "sketches/horse.png", "target": "horse"},
                        {"image": "sketches/ship.png", "target": "ship"},
                        {"image": "sketches/cat.png", "target": "cat"})))
