"""What tasks measure on their results: predictions, class probabilities, PSNR, high-frequency energy."""
from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio

from ..features import RobustModel
from ..presets import PAPER_SIDE
from ..step_rules import low_pass
from .resolve import model_device

IDENTICAL_PSNR = 100.0  # dB reported for identical images (the ratio itself is infinite)
PIXELS_PER_BATCH = 16 * PAPER_SIDE ** 2  # images per model call when a task runs many (16 at 224 px, 784 at 32 px)


def images_per_call(x: torch.Tensor) -> int:
    """How many of the images x (B, 3, H, W) one forward or pgd() call takes: PIXELS_PER_BATCH pixels' worth."""
    return max(1, PIXELS_PER_BATCH // (x.shape[-1] * x.shape[-2]))


@torch.no_grad()
def class_probability(model: RobustModel, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Softmax probability of `classes` (B,) for images x (B, 3, H, W), PIXELS_PER_BATCH pixels at a time."""
    per_call, device = images_per_call(x), model_device(model)
    probs = torch.cat([model(x[a:a + per_call].to(device)).logits.float().softmax(1)
                       for a in range(0, len(x), per_call)])
    return probs.gather(1, classes.to(probs.device)[:, None]).squeeze(1)


@torch.no_grad()
def predict(model: RobustModel, x: torch.Tensor) -> torch.Tensor:
    return model(x).logits.argmax(1)


def psnr(x: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean PSNR in dB over the batch (scikit-image's peak_signal_noise_ratio), images in [0,1]; identical: 100 dB."""
    pairs = zip(x.detach().float().cpu().numpy(), reference.detach().float().cpu().numpy())
    return float(np.mean([IDENTICAL_PSNR if np.array_equal(a, r) else
                          min(IDENTICAL_PSNR, peak_signal_noise_ratio(r, a, data_range=1.0)) for a, r in pairs]))


def high_frequency(x: torch.Tensor) -> float:
    """Mean energy of x minus its 1-px Gaussian blur (step_rules.low_pass): pixel-scale detail and speckle."""
    return float(((x - low_pass(x, 1.0)) ** 2).mean())
