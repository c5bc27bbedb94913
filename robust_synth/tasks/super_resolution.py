"""Super-resolution: upsample, then PGD toward the predicted class inside a small L2 ball (Santurkar et al. 2019).

The output is always factor × the input's size; the input is never downscaled. The model sees windows of
round(side / factor) input pixels enlarged to its side (one window: the paper's protocol on the whole image);
a larger input is covered by overlapping windows, optimised together in batches through the one engine and
blended with raised-cosine cross-fades (tasks/windows.py).
"""
from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from PIL import Image

from .. import limits, objectives
from ..image import resize
from ..presets import Preset
from ..task_registry import Input, Task, register
from .inputs import load_full
from .metrics import class_probability, predict, psnr
from .run import TransformedInput
from .settings import start
from .framing import Framing
from .windows import WindowLayout

# Santurkar et al. 2019, robustness_applications "super-resolution" notebook, 8× on 224 px: L2 eps 8, step 1, 40 steps.
# Per window: each window is one model input, as the paper's whole image was.
IMAGENET = Preset(eps=8.0, step_size=1.0, steps=40)
# 32-px models: the paper's scaled step (1 × 32/224) in a quarter of its scaled radius (2 × 32/224), 4 normalised-
# gradient steps, each window toward its own predicted class (super_resolve). Issue 26, item 8, robust / standard PSNR
# in dB: the tab's example (benchmarks/examples.py's sr_psnr) 29.25 / 29.21, bicubic 29.25 (before: 28.92 / 29.03);
# benchmarks/defaults.py's bench_super_resolve 2× 29.50 / 29.45, 4× 24.31 / 24.29, bicubic 28.56 / 23.75 (before:
# 29.14 / 29.23, 24.21 / 24.21); scikit-image's chelsea, coffee, astronaut, motorcycle, rocket (128-px squares, shrunk
# with Pillow's bicubic) 2× 28.49 / 28.46, 4× 23.87 / 23.83. The previous preset (4 Adam-direction steps, cosine-
# decayed, at twice this radius, every window toward the whole picture's class) put the standard model ahead: Adam's
# per-pixel normalisation flattens the robust gradient's magnitudes (the perceptually aligned part), and one class for
# every window pushes crops toward features they do not show (the robust change was anti-correlated with the true
# missing detail: cosine −0.05 on the example). Either way the change is nearly orthogonal to the missing detail, so
# PSNR falls with its size (twice this radius: example 29.01 / 28.89, below bicubic); this radius keeps the robust
# result at bicubic on the example and above it on the photos.
CIFAR = Preset(eps=2.0 * 32 / 224, step_size=1.0 * 32 / 224, steps=4)
FACTORS = range(2, 9)
METHODS = ("nearest", "bicubic")  # the paper upsamples with nearest; it notes bicubic would be a better start
# Back-projection (Irani & Peleg 1991): rounds of x ← x + up(low − down(x)). START_ROUNDS make the start consistent
# with the low-resolution input; STEP_ROUNDS re-impose it on what the model sees at every PGD step, and on the result.
START_ROUNDS, STEP_ROUNDS = 10, 3


def _size(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def upsample(x: torch.Tensor, size, method: str) -> torch.Tensor:
    """x (B, C, h, w) -> (B, C, *size) (an int: square) by `method`, clamped to [0, 1]."""
    kwargs = {} if method == "nearest" else {"align_corners": False}
    return F.interpolate(x, size=_size(size), mode=method, **kwargs).clamp(0, 1)


def downsample(x: torch.Tensor, size) -> torch.Tensor:
    """Antialiased bicubic, as Pillow's resize that made the low-resolution input (57 dB apart on CIFAR-10)."""
    return F.interpolate(x, size=_size(size), mode="bicubic", antialias=True, align_corners=False)


def back_project(x: torch.Tensor, low: torch.Tensor, rounds: int) -> torch.Tensor:
    """Move x toward the images whose downsampling is `low`, changing only what the low resolution constrains."""
    for _ in range(rounds):
        x = x + F.interpolate(low - downsample(x, low.shape[-2:]), size=x.shape[-2:], mode="bicubic",
                              align_corners=False)
    return x.clamp(0, 1)


def _check(factor, method, consistent) -> None:
    if isinstance(factor, bool) or not isinstance(factor, numbers.Integral) or factor not in FACTORS:
        raise ValueError(f"factor must be an integer between {FACTORS[0]} and {FACTORS[-1]}, got {factor!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(consistent, bool):
        raise ValueError(f"consistent must be true or false, got {consistent!r}")


def _check_output(width: int, height: int, factor: int) -> None:
    limit = limits.current().max_side
    if max(width, height) * factor > limit:
        raise ValueError(f"super-resolution by {factor} of a {width}x{height} image would be {width * factor}x"
                         f"{height * factor} px, over the limit of {limit} px per side: give an image of at most "
                         f"{limit // factor} px per side, or a lower factor")


def _model_view(model, lows: torch.Tensor, factor: int, consistent: bool):
    """What the model sees of windows x: back-projected onto their low-resolution windows (if consistent), at its side.

    None where that is x itself (the model's own input, no wrapper needed).
    """
    side = model.input_size
    if not consistent and lows.shape[-1] * factor == side:
        return None
    return TransformedInput(model, lambda x: resize(back_project(x, lows, STEP_ROUNDS) if consistent else x,
                                                    (side, side)))


def super_resolve(model, image, factor: int = 4, method: str = "bicubic", consistent: bool = True, reference=None,
                  seed: int = 0, steps=None, eps=None, step_size=None, callback=None):
    """Enlarge `image` by `factor` (output: factor × its width and height) and sharpen it toward the predicted class.

    consistent=True (default) back-projects the start, every iterate and the result onto the images whose
    downsampling is the input, so the model only adds detail; False is the paper's plain PGD from the upsampled image.
    Each window is pushed toward the class the model predicts for it (one window: the paper's whole-image class; with
    several, each crop is sharpened as what it shows, not as the whole picture's class, which the recipe's target
    names). With a `reference` of the output's size, metrics hold psnr_ours, psnr_bicubic and psnr_start (the image
    PGD started from: the difference to psnr_ours is the model's own contribution), in dB. The recipe's layout records
    the windows and each one's class.
    """
    _check(factor, method, consistent)
    run = start(super_resolve, model, seed=seed, steps=steps, eps=eps, step_size=step_size,
                callback=callback, factor=int(factor), method=method, consistent=consistent)
    low = load_full(image)
    height, width = low.shape[-2:]
    _check_output(width, height, factor)
    window = max(1, round(run.side / factor))
    low = F.pad(low, (0, max(0, window - width), 0, max(0, window - height)), mode="replicate")  # at least 1 window
    crop = (..., slice(0, height * factor), slice(0, width * factor))
    x0 = upsample(low, (low.shape[-2] * factor, low.shape[-1] * factor), method)
    x0 = back_project(x0, low, START_ROUNDS) if consistent else x0
    layout = WindowLayout.covering(*low.shape[-2:], window)
    y = predict(run.model, Framing(x0[crop], run.side).model_input.to(run.device)).cpu()
    lows = layout.cut(low).to(run.device)
    starts = layout.cut(x0, factor)
    targets = predict(run.model, resize(starts, (run.side, run.side)).to(run.device)).cpu()
    result = run.optimise_in_batches(starts, lambda a, b: objectives.class_loss(targets[a:b]),
                                     lambda a, b: _model_view(run.model, lows[a:b], factor, consistent))
    out = layout.blend(result.x.detach().float().cpu(), factor, *low.shape[-2:])
    out = back_project(out, low, STEP_ROUNDS) if consistent else out
    windows = resize(layout.cut(out, factor), (run.side, run.side)).clamp(0, 1)
    metrics = {"target_prob": float(class_probability(run.model, windows, targets).mean())}
    if reference is not None:
        ref = _reference(reference, width * factor, height * factor)
        bicubic = upsample(low, x0.shape[-2:], "bicubic")
        metrics.update(psnr_ours=psnr(out[crop], ref), psnr_bicubic=psnr(bicubic[crop], ref),
                       psnr_start=psnr(x0[crop], ref))
    layout_record = {**layout.describe(factor), "model_side": run.side, "input_size": [width, height],
                     "window_targets": [run.model.class_names[k] for k in targets.tolist()],
                     "result": "back-projected onto the input" if consistent else "blended windows"}
    return run.finish(result, metrics, output=out[crop], layout=layout_record,
                      low_res_size=[width, height], target=run.model.class_names[y.item()], target_index=y.item())


def window_count(image, factor, side: int) -> int:
    """How many model windows super_resolve runs for `image` (a path or an upload {"path": ...}); 1 if unreadable."""
    path = image.get("path") if isinstance(image, dict) else image
    try:
        with Image.open(path) as img:
            width, height = img.size
        window = max(1, round(side / int(factor)))
    except (OSError, TypeError, ValueError, AttributeError):
        return 1
    return WindowLayout.covering(max(height, window), max(width, window), window).count


def _reference(reference, width: int, height: int) -> torch.Tensor:
    ref = load_full(reference, name="reference")
    if tuple(ref.shape[-2:]) != (height, width):
        raise ValueError(f"reference is {ref.shape[-1]}x{ref.shape[-2]} but the output is {width}x{height}: give the "
                         f"high-resolution image the input was made from")
    return ref


register(Task("super_resolve", super_resolve, "Super-resolve",
              "Upsample, then PGD toward the predicted class within a small L2 ball, keeping the low-resolution "
              "image.",
              inputs=(Input("model", "model"), Input("image", "image", "low-resolution image"),
                      Input("factor", "int", "factor", minimum=FACTORS[0], maximum=FACTORS[-1]),
                      Input("method", "choice", "upsampling method", choices=METHODS[::-1]),
                      Input("consistent", "bool", "keep consistent with the low-resolution image (back-projection)"),
                      Input("reference", "image", "high-resolution reference (for PSNR)", app=False)),
              presets=(IMAGENET, CIFAR), order=30,
              model_images=lambda values, side: window_count(values.get("image"), values.get("factor") or 4, side),
              examples=({"image": "photos/chelsea-64.jpg", "factor": 2},  # output: factor x the input's size
                        {"image": "photos/coffee-64.jpg", "factor": 4})))
