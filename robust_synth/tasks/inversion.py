"""Representation inversion and interpolation: find an image whose R(x) matches a target (Engstrom et al. 2019)."""
from __future__ import annotations

import torch

from .. import objectives
from ..presets import Preset
from ..task_registry import Input, Task, register
from .inputs import load_full, load_input
from .settings import start
from .framing import Framing, finish_framed

# Engstrom et al. 2019, robust_representations "inversion" notebook: L2 eps 1000 (effectively unconstrained), step 1,
# up to 10000 steps from noise randn/20 + 0.5. Default steps: a tenth of that keeps a run interactive; pass
# steps=10000 to match the notebook.
IMAGENET = Preset(eps=1000.0, step_size=1.0, steps=1000)
# 32-px models: Adam-direction steps with a cosine-decaying length, 5× the scaled paper step, in 300 steps: a lower
# representation error than the paper's rule in 1000 (docs/tabs.md: robust model, 4 photos, 0.0955 against 0.1032;
# interpolation, 2 pairs × 6 frames, 0.157 against 0.166), in 0.3× the steps.
CIFAR = Preset(eps=1000.0 * 32 / 224, step_size=5.0 * 32 / 224, steps=300, step_rule="adam", schedule="cosine")
# Interpolation on 32-px models: unbounded, the middle frames turned to colour speckle for both models (the examples
# benchmark's middle/end pixel-scale energy 5.5 robust, 11.6 standard). An L2 ball of 4 around each frame's pixel
# blend keeps them pictures: 1.01 robust (no noisier than the photos) against 1.36 standard; 100 steps match 300.
CIFAR_INTERPOLATION = Preset(eps=4.0, step_size=0.3, steps=100, step_rule="adam", schedule="cosine")


@torch.no_grad()
def representation(model, x: torch.Tensor) -> torch.Tensor:
    return model(x, layers=[objectives.REP])[objectives.REP].flatten(1).float()


def _match_metrics(model, x: torch.Tensor, target_rep: torch.Tensor) -> dict:
    err = (representation(model, x) - target_rep).norm(dim=1) / target_rep.norm(dim=1).clamp_min(1e-12)
    return {"relative_rep_error": float(err.mean())}


def invert(model, image, seed: int = 0, steps=None, eps=None, step_size=None, callback=None):
    """An image, grown from noise, whose representation R(x) matches that of `image` (framed as in translate).

    images: the inversion upsampled to the image's size (adding it to the original, as translate does, would paint
    the photo's own detail into what should show only what R(x) keeps); images.model_resolution: the inversion
    itself (its padding cut off).
    """
    run = start(invert, model, seed=seed, steps=steps, eps=eps, step_size=step_size,
                callback=callback, start="noise randn/20 + 0.5")
    framing = Framing(load_full(image), run.side, add_to_original=False)
    target = representation(run.model, framing.model_input.to(run.device))
    result = run.optimise(run.noise_start(1), objectives.representation_match(target))
    return finish_framed(run, framing, result, _match_metrics(run.model, result.x, target))


def interpolate(model, image_a, image_b, frames: int = 8, seed: int = 0, steps=None, eps=None, step_size=None,
                callback=None):
    """`frames` images from a to b: frame t inverts (1 − t)·R(a) + t·R(b), starting from (1 − t)·a + t·b.

    Frames are at the model's input size; both images are centre-cropped to its square (recorded in the layout).
    """
    run = start(interpolate, model, seed=seed, steps=steps, eps=eps, step_size=step_size,
                callback=callback, frames=frames, start="pixel blend of the two images")
    a = load_input(image_a, run.side, name="image_a").to(run.device)
    b = load_input(image_b, run.side, name="image_b").to(run.device)
    t = torch.linspace(0, 1, frames, device=run.device).view(-1, 1)
    target = (1 - t) * representation(run.model, a) + t * representation(run.model, b)
    x0 = (1 - t.view(-1, 1, 1, 1)) * a + t.view(-1, 1, 1, 1) * b
    result = run.optimise(x0, objectives.representation_match(target))
    return run.finish(result, _match_metrics(run.model, result.x, target),
                      layout={"kind": "model square", "fit": "centre crop to square", "model_side": run.side})


register(Task("invert", invert, "Invert",
              "Representation inversion: an image from noise with the same representation.",
              inputs=(Input("model", "model"), Input("image", "image", "image")),
              presets=(IMAGENET, CIFAR), order=70,
              examples=({"image": "photos/chelsea-64.jpg"}, {"image": "photos/chelsea.jpg"},
                        {"image": "photos/astronaut.jpg"})))
register(Task("interpolate", interpolate, "Interpolate",
              "Frames between two images, interpolating their representations.",
              inputs=(Input("model", "model"), Input("image_a", "image", "image A (first frame)"),
                      Input("image_b", "image", "image B (last frame)"),
                      Input("frames", "int", "frames", minimum=2, maximum="max_frames")),
              presets=(IMAGENET, CIFAR_INTERPOLATION), order=80,
              examples=({"image_a": "photos/chelsea-64.jpg", "image_b": "photos/motorcycle-64.jpg", "frames": 6},
                        {"image_a": "photos/chelsea.jpg", "image_b": "photos/rocket.jpg", "frames": 6})))
