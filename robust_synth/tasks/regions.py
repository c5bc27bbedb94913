"""Masked tasks at full resolution: square regions around the mask's holes, their model-size crops, the paste back."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage  # a dependency of scikit-image

from ..image import resize, resize_mask

FEATHER_PX = 3     # the edit fades out over this many pixels outside the mask; beyond them nothing changes
CONTEXT = 0.5      # context on each side of a hole: half the larger side of its bounding box
MAX_REGIONS = 16   # more separate holes than this: one region around all of them


@dataclass(frozen=True)
class Region:
    """A square of the image in pixels; it may reach past the image's edges (the border is replicated there)."""
    left: int
    top: int
    side: int

    @property
    def right(self) -> int:
        return self.left + self.side

    @property
    def bottom(self) -> int:
        return self.top + self.side

    def overlaps(self, other: "Region") -> bool:
        return (self.left < other.right and other.left < self.right and self.top < other.bottom
                and other.top < self.bottom)

    def inside(self, width: int, height: int) -> tuple[slice, slice, slice, slice]:
        """(rows, cols) of the image and (rows, cols) of the region where the two overlap."""
        top, left, bottom, right = max(self.top, 0), max(self.left, 0), min(self.bottom, height), min(self.right, width)
        return (slice(top, bottom), slice(left, right), slice(top - self.top, bottom - self.top),
                slice(left - self.left, right - self.left))


def _start(centre: float, side: int, length: int) -> int:
    """Where a window of `side` centred on `centre` starts, moved inside [0, length) where it fits, else centred."""
    if side >= length:
        return (length - side) // 2
    return int(min(max(round(centre - side / 2), 0), length - side))


def square_around(box: tuple[int, int, int, int], width: int, height: int, model_side: int) -> Region:
    """The region for a hole with bounding box (left, top, right, bottom): the box, its feather and some context.

    Never smaller than the model's side (or the image): a small hole is worked on at the image's own resolution.
    """
    left, top, right, bottom = box
    extent = max(right - left, bottom - top)
    side = min(max(round(extent * (1 + 2 * CONTEXT)), min(model_side, width, height)), max(width, height))
    side = max(side, extent + 2 * (FEATHER_PX + 1))
    return Region(_start((left + right) / 2, side, width), _start((top + bottom) / 2, side, height), side)


def _union(a, b):
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def find_regions(mask: np.ndarray, model_side: int) -> list[Region]:
    """One region per hole (8-connected) of the (H, W) boolean mask; holes whose regions overlap share one."""
    height, width = mask.shape
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    boxes = [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(labels)]
    if len(boxes) > MAX_REGIONS:
        boxes = [functools.reduce(_union, boxes)]
    while True:
        regions = [square_around(box, width, height, model_side) for box in boxes]
        pair = next(((i, j) for i in range(len(regions)) for j in range(i + 1, len(regions))
                     if regions[i].overlaps(regions[j])), None)
        if pair is None:
            return regions
        i, j = pair
        boxes[i] = _union(boxes[i], boxes.pop(j))


def cut(x: torch.Tensor, region: Region) -> torch.Tensor:
    """The region of x (B, C, H, W) as (B, C, side, side), replicating the border where it reaches past the image."""
    height, width = x.shape[-2:]
    rows, cols, _, _ = region.inside(width, height)
    pad = (cols.start - region.left, region.right - cols.stop, rows.start - region.top, region.bottom - rows.stop)
    crop = x[..., rows, cols]
    return F.pad(crop, pad, mode="replicate") if any(pad) else crop


def model_crops(image: torch.Tensor, mask: torch.Tensor, regions: list[Region], side: int):
    """(crops (R, 3, side, side), masks (R, 1, side, side)): each region resized to the model's side.

    The model's mask covers every model pixel that touches the hole, so no model pixel it keeps mixes in hole pixels.
    """
    crops = torch.cat([resize(cut(image, r), (side, side)).clamp(0, 1) for r in regions])
    masks = torch.cat([resize_mask(cut(mask, r), (side, side)) for r in regions])
    return crops, masks


def feather(mask: np.ndarray) -> np.ndarray:
    """Float weights (H, W): 1 on the mask, falling linearly over the pixels up to FEATHER_PX from it, 0 beyond."""
    distance = ndimage.distance_transform_edt(~mask)
    return np.where(distance <= FEATHER_PX, 1 - distance / (FEATHER_PX + 1), 0).astype(np.float32)


def paste(original: np.ndarray, mask: np.ndarray, regions: list[Region], results: torch.Tensor,
          starts: torch.Tensor | None = None) -> np.ndarray:
    """The (H, W, 3) uint8 original with each region's model result (R, 3, side, side) blended in inside the mask.

    starts given (the model-size crops the results began from): the change the model made is added to the original
    there, so detail the model did not touch stays sharp; else the result replaces the hole. Pixels outside the
    mask and its feather keep the original's bytes.
    """
    out = original.copy()
    height, width = mask.shape
    for i, region in enumerate(regions):
        rows, cols, region_rows, region_cols = region.inside(width, height)
        change = results[i:i + 1] if starts is None else results[i:i + 1] - starts[i:i + 1]
        patch = resize(change.float().cpu(), (region.side, region.side))[0, :, region_rows, region_cols]
        patch = patch.permute(1, 2, 0).numpy()
        known = original[rows, cols].astype(np.float32) / 255
        new = patch if starts is None else known + patch
        weight = feather(mask[rows, cols])[:, :, None]
        blended = np.round(np.clip(known * (1 - weight) + new * weight, 0, 1) * 255).astype(np.uint8)
        out[rows, cols] = np.where(weight > 0, blended, original[rows, cols])
    return out


def describe(regions: list[Region], side: int) -> dict:
    """The recipe's record of the regions."""
    return {"kind": "masked regions", "regions": [[r.left, r.top, r.side] for r in regions],
            "region_format": "[left, top, side] in image pixels", "model_side": side, "context": CONTEXT,
            "feather_px": FEATHER_PX}
