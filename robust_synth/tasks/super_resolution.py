"""Super-resolution: upsample, then PGD toward the predicted class inside a small L2 ball (Santurkar et al. 2019)."""
from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from .. import objectives
from ..image import load_image
from .common import Preset, class_probability, load_input, predict, psnr, start

# Santurkar et al. 2019, robustness_applications "super-resolution" notebook, 8× on 224 px: L2 eps 8, step 1, 40 steps.
IMAGENET = Preset(eps=8.0, step_size=1.0, steps=40)
FACTORS = range(2, 9)
METHODS = ("nearest", "bicubic")  # the paper upsamples with nearest; it notes bicubic would be a better start


def upsample(x: torch.Tensor, side: int, method: str) -> torch.Tensor:
    kwargs = {} if method == "nearest" else {"align_corners": False}
    return F.interpolate(x, size=(side, side), mode=method, **kwargs).clamp(0, 1)


def _check(factor, method) -> None:
    if isinstance(factor, bool) or not isinstance(factor, numbers.Integral) or factor not in FACTORS:
        raise ValueError(f"factor must be an integer between {FACTORS[0]} and {FACTORS[-1]}, got {factor!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def super_resolve(model, image, factor: int = 4, method: str = "bicubic", reference=None, seed: int = 0, steps=None,
                  eps=None, step_size=None, callback=None, return_tensors: bool = False):
    """Upsample `image` by `factor` to the model's input size and sharpen it toward the predicted class.

    The image is centre-cropped to a square of side round(input_size / factor) (downsampled first if larger).
    With a high-resolution `reference`, metrics hold psnr_ours and psnr_bicubic (dB, against the reference).
    """
    _check(factor, method)
    run = start("super_resolve", model, seed=seed, steps=steps, eps=eps, step_size=step_size, preset=IMAGENET,
                callback=callback, factor=int(factor), method=method)
    low_side = max(1, round(run.side / factor))
    low = load_input(load_image(image), low_side)
    x0 = upsample(low, run.side, method).to(run.device)
    y = predict(run.model, x0).cpu()
    result = run.optimise(x0, objectives.class_loss(y))
    metrics = {"target_prob": float(class_probability(run.model, result.x, y).mean())}
    if reference is not None:
        ref = load_input(load_image(reference, name="reference"), run.side)
        metrics.update(psnr_ours=psnr(result.x.cpu(), ref), psnr_bicubic=psnr(upsample(low, run.side, "bicubic"), ref))
    return run.finish(result, metrics, return_tensors, low_res_side=low_side, target=run.model.class_names[y.item()],
                      target_index=y.item())
