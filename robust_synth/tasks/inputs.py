"""A task's input pictures as tensors: centre-cropped to the model's side, or at their own size."""
from __future__ import annotations

import torch

from ..image import fit_square, load_picture, to_tensor


def load_input(image, side: int, *, name: str = "image") -> torch.Tensor:
    """Any accepted image -> (1, 3, side, side) in [0,1], centre-cropped (ValueError for bad or too small input)."""
    return to_tensor(fit_square(load_picture(image, name=name), side))


def load_full(image, *, name: str = "image") -> torch.Tensor:
    """Any accepted image -> (1, 3, H, W) in [0,1] at its own size (ValueError for bad or too small input)."""
    return to_tensor(load_picture(image, name=name))
