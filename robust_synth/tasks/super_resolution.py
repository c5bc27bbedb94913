"""Super-resolution: upsample, then PGD toward the predicted class inside a small L2 ball (Santurkar et al. 2019)."""
from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from .. import objectives
from ..image import load_image
from .common import Preset, TransformedInput, class_probability, load_input, predict, psnr, start

# Santurkar et al. 2019, robustness_applications "super-resolution" notebook, 8× on 224 px: L2 eps 8, step 1, 40 steps.
IMAGENET = Preset(eps=8.0, step_size=1.0, steps=40)
FACTORS = range(2, 9)
METHODS = ("nearest", "bicubic")  # the paper upsamples with nearest; it notes bicubic would be a better start
# Back-projection (Irani & Peleg 1991): rounds of x ← x + up(low − down(x)). START_ROUNDS make the start consistent
# with the low-resolution input; STEP_ROUNDS re-impose it on what the model sees at every PGD step.
START_ROUNDS, STEP_ROUNDS = 10, 3


def upsample(x: torch.Tensor, side: int, method: str) -> torch.Tensor:
    kwargs = {} if method == "nearest" else {"align_corners": False}
    return F.interpolate(x, size=(side, side), mode=method, **kwargs).clamp(0, 1)


def downsample(x: torch.Tensor, side: int) -> torch.Tensor:
    """Antialiased bicubic, as Pillow's resize that made the low-resolution input (57 dB apart on CIFAR-10)."""
    return F.interpolate(x, size=(side, side), mode="bicubic", antialias=True, align_corners=False)


def back_project(x: torch.Tensor, low: torch.Tensor, rounds: int) -> torch.Tensor:
    """Move x toward the images whose downsampling is `low`, changing only what the low resolution constrains."""
    for _ in range(rounds):
        x = x + F.interpolate(low - downsample(x, low.shape[-1]), size=x.shape[-2:], mode="bicubic",
                              align_corners=False)
    return x.clamp(0, 1)


def _check(factor, method, consistent) -> None:
    if isinstance(factor, bool) or not isinstance(factor, numbers.Integral) or factor not in FACTORS:
        raise ValueError(f"factor must be an integer between {FACTORS[0]} and {FACTORS[-1]}, got {factor!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(consistent, bool):
        raise ValueError(f"consistent must be true or false, got {consistent!r}")


def super_resolve(model, image, factor: int = 4, method: str = "bicubic", consistent: bool = True, reference=None,
                  seed: int = 0, steps=None, eps=None, step_size=None, callback=None, return_tensors: bool = False):
    """Upsample `image` by `factor` to the model's input size and sharpen it toward the predicted class.

    The image is centre-cropped to a square of side round(input_size / factor) (downsampled first if larger).
    consistent=True (default) back-projects the start and every iterate onto the images whose downsampling is the
    input, so the model only adds detail; False is the paper's plain PGD from the upsampled image.
    With a high-resolution `reference`, metrics hold psnr_ours, psnr_bicubic and psnr_start (the image PGD
    started from: the difference to psnr_ours is the model's own contribution), in dB against the reference.
    """
    _check(factor, method, consistent)
    run = start("super_resolve", model, seed=seed, steps=steps, eps=eps, step_size=step_size, preset=IMAGENET,
                callback=callback, factor=int(factor), method=method, consistent=consistent)
    low_side = max(1, round(run.side / factor))
    low = load_input(load_image(image), low_side).to(run.device)
    x0 = upsample(low, run.side, method)
    net = None
    if consistent:
        # the model sees back_project(x): PGD can only add detail that keeps the low-resolution image
        x0 = back_project(x0, low, START_ROUNDS)
        net = TransformedInput(run.model, lambda x: back_project(x, low, STEP_ROUNDS))
    y = predict(run.model, x0).cpu()
    result = run.optimise(x0, objectives.class_loss(y), net=net)
    if consistent:
        result.x = back_project(result.x, low, STEP_ROUNDS)
    metrics = {"target_prob": float(class_probability(run.model, result.x, y).mean())}
    if reference is not None:
        ref = load_input(load_image(reference, name="reference"), run.side)
        bicubic = upsample(low, run.side, "bicubic").cpu()
        metrics.update(psnr_ours=psnr(result.x.cpu(), ref), psnr_bicubic=psnr(bicubic, ref),
                       psnr_start=psnr(x0.cpu(), ref))
    return run.finish(result, metrics, return_tensors, low_res_side=low_side, target=run.model.class_names[y.item()],
                      target_index=y.item())
