"""Whole-image tasks at the user's size: the image fitted into the model's square, its change brought back."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..image import resize, resize_mask

FULL_SIZE_RULE = "original + upsampled (result - model input)"
UPSAMPLED_RULE = "upsampled result (the task starts from noise: nothing of the original is added)"


class Framing:
    """An image (1, C, H, W) shrunk (or enlarged) to fit the model's side, then padded to a square by reflection.

    The aspect ratio is kept: nothing is cropped, the padding is thrown away afterwards. An image that already is
    side × side goes to the model unchanged, and its full-size result is the model's result itself.
    """

    def __init__(self, image: torch.Tensor, side: int, add_to_original: bool = True):
        """add_to_original=False: the full-size result is the result itself, upsampled (tasks that start from noise)."""
        self.image, self.side, self.add_to_original = image, side, add_to_original
        height, width = image.shape[-2:]
        scale = side / max(height, width)
        self.h, self.w = max(1, round(height * scale)), max(1, round(width * scale))
        self.top, self.left = (side - self.h) // 2, (side - self.w) // 2
        self.pad = (self.left, side - self.w - self.left, self.top, side - self.h - self.top)  # F.pad order
        fits = max(self.pad[:2]) < self.w and max(self.pad[2:]) < self.h
        self.pad_mode = "reflect" if fits else "replicate"  # reflection needs the image wider than its padding
        self.model_input = self.frame(resize(image, (self.h, self.w)).clamp(0, 1))

    @property
    def exact(self) -> bool:
        """True when the image is already the model's square: no resizing, no padding."""
        return tuple(self.image.shape[-2:]) == (self.side, self.side)

    def frame(self, small: torch.Tensor) -> torch.Tensor:
        """Pad an (B, C, h, w) tensor at the fitted size to the model's square, as the image was."""
        return F.pad(small, self.pad, mode=self.pad_mode) if any(self.pad) else small

    def frame_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """A (1, 1, H, W) mask of the image in the model's square (set where any pixel it covers is set)."""
        return self.frame(resize_mask(mask, (self.h, self.w)))

    def model_view(self, x: torch.Tensor) -> torch.Tensor:
        """The image's part of model-size results (B, C, side, side): the padding cut off."""
        return x[..., self.top:self.top + self.h, self.left:self.left + self.w]

    def full_size(self, x: torch.Tensor) -> torch.Tensor:
        """Model-size results (B, 3, side, side) -> (B, 3, H, W): the original plus the model's change, upsampled
        (or, without add_to_original, the result itself upsampled)."""
        if self.exact:
            return x.clamp(0, 1)
        if not self.add_to_original:
            return resize(self.model_view(x), self.image.shape[-2:]).clamp(0, 1)
        change = self.model_view(x - self.model_input.to(x.device))
        return (self.image.to(x.device) + resize(change, self.image.shape[-2:])).clamp(0, 1)

    def describe(self) -> dict:
        """The recipe's record of the fit."""
        height, width = self.image.shape[-2:]
        return {"kind": "whole image", "fit": f"resize to {self.w}x{self.h}, pad to square ({self.pad_mode})",
                "input_size": [width, height], "model_side": self.side,
                "image_box": [self.left, self.top, self.w, self.h],
                "full_size": FULL_SIZE_RULE if self.add_to_original else UPSAMPLED_RULE}


def finish_framed(run, framing: Framing, result, metrics: dict, **params):
    """run.finish() for a whole-image task: full-size images, the model's own (padding cut off), the fit recorded."""
    x = result.x.detach().float().clamp(0, 1)
    return run.finish(result, metrics, output=framing.full_size(x), model_output=framing.model_view(x),
                      layout=framing.describe(), **params)
