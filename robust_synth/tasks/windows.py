"""Super-resolution of images larger than one model window: overlapping windows and their raised-cosine blend."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Share of a window's side that neighbouring windows have in common and cross-fade over. tests/test_tasks.py's seam
# check (a model with smooth input gradients, 4×, the paper's protocol) measured the mean neighbour difference at the
# hand-over lines 7% above the windows' inside with a quarter, 13% below it with a half; a half costs about 2.2× the
# windows of a quarter (961 against 441 for a 128-px picture at 4× on a 32-px model), so a quarter it is: the seam
# check's margin is 20%, and 4× of a 128-px picture answers in seconds (docs/tabs.md).
OVERLAP = 0.25


def positions(length: int, window: int, overlap: int) -> tuple[int, ...]:
    """Starts of `window`-px windows covering [0, length), neighbours sharing at least `overlap` px, spread evenly."""
    if length <= window:
        return (0,)
    count = math.ceil((length - window) / (window - overlap)) + 1
    return tuple(round(i * (length - window) / (count - 1)) for i in range(count))


def taper(size: int, overlap: int) -> torch.Tensor:
    """1-D weights (size,): a raised-cosine ramp over `overlap` px at each end, 1 in between, never 0."""
    t = torch.arange(size, dtype=torch.float32)
    if overlap <= 0:
        return torch.ones(size)
    ramp = lambda d: torch.where(d < overlap, 0.5 - 0.5 * torch.cos(math.pi * (d + 0.5) / overlap),  # noqa: E731
                                 torch.ones(()))
    return torch.minimum(ramp(t), ramp(size - 1 - t))


@dataclass(frozen=True)
class WindowLayout:
    """Square windows of `window` low-resolution pixels over an image of at least that size, in rows and columns."""
    window: int
    overlap: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]

    @classmethod
    def covering(cls, height: int, width: int, window: int) -> "WindowLayout":
        overlap = round(window * OVERLAP)
        return cls(window, overlap, positions(height, window, overlap), positions(width, window, overlap))

    @property
    def count(self) -> int:
        return len(self.rows) * len(self.cols)

    def _boxes(self, scale: int):
        size = self.window * scale
        return [(r * scale, c * scale, size) for r in self.rows for c in self.cols]

    def cut(self, x: torch.Tensor, scale: int = 1) -> torch.Tensor:
        """The windows of x (1, C, H·scale, W·scale), row by row: (count, C, window·scale, window·scale)."""
        return torch.cat([x[..., top:top + size, left:left + size] for top, left, size in self._boxes(scale)])

    def blend(self, windows: torch.Tensor, scale: int, height: int, width: int) -> torch.Tensor:
        """Windows (count, C, s, s) -> (1, C, height·scale, width·scale): weighted mean, raised-cosine cross-fades."""
        if self.count == 1:
            return windows[:1]
        edge = taper(self.window * scale, self.overlap * scale).to(windows)
        weight = edge[:, None] * edge[None, :]
        total = windows.new_zeros(1, windows.shape[1], height * scale, width * scale)
        weights = windows.new_zeros(1, 1, height * scale, width * scale)
        for window, (top, left, size) in zip(windows, self._boxes(scale)):
            total[0, :, top:top + size, left:left + size] += window * weight
            weights[0, :, top:top + size, left:left + size] += weight
        return total / weights

    def describe(self, scale: int) -> dict:
        """The recipe's record of the layout (positions in low-resolution pixels)."""
        return {"kind": "windows", "window_low_px": self.window, "window_px": self.window * scale,
                "overlap_low_px": self.overlap, "grid": [len(self.rows), len(self.cols)], "count": self.count,
                "rows": list(self.rows), "cols": list(self.cols), "blend": "raised-cosine cross-fade over the overlap"}
