"""How the engine turns an input gradient into a step: the gradient low-pass, the direction rule, the step schedule."""
from __future__ import annotations

import math

import torch

# "normalized": the papers' rule, the raw gradient (the constraint normalises it: L2 length or sign).
# "adam": Adam's bias-corrected moment ratio m̂ / (√v̂ + ε) as the direction (Kingma & Ba 2015), its length again
# set by the constraint: per-pixel scaling and momentum inside the same ball (benchmarks/tabs.py, docs/tabs.md).
STEP_RULES = ("normalized", "adam")
# "constant": every step has step_size. "cosine": step_size · ½(1 + cos(π t / steps)), from step_size down to ~0.
SCHEDULES = ("constant", "cosine")
ADAM_BETAS = (0.9, 0.999)  # Adam's defaults
ADAM_EPS = 1e-12           # input gradients of a 32-px image are ~1e-6 per pixel: Adam's 1e-8 would swamp them


class LowPass:
    """Gaussian blur of `sigma` pixels for (B, C, H, W) tensors of one size, built once.

    Equals torchvision's gaussian_blur with a kernel of 2⌈3σ⌉ + 1 taps (at most 2·min(H, W) − 1, so reflect padding
    fits inside the image). Applied as two matrix products, x ↦ Bₕ · x · Bᵥᵀ, with the 1-D kernel and the reflect
    padding folded into one (n × n) matrix per side: on a CPU this costs a few percent of what two depthwise
    convolutions do on small images (benchmarks/speed.py, gen+blur).
    """

    def __init__(self, sigma: float, height: int, width: int, device=None,
                 dtype: torch.dtype = torch.float32):
        self.size = min(2 * math.ceil(3 * sigma) + 1, 2 * min(height, width) - 1)
        half = (self.size - 1) / 2
        taps = torch.linspace(-half, half, self.size, dtype=torch.float64)
        kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
        kernel = kernel / kernel.sum()
        self.rows = _blur_matrix(kernel, height).to(device=device, dtype=dtype)   # (H, H): blurs along a column
        self.cols = _blur_matrix(kernel, width).to(device=device, dtype=dtype).T  # (W, W): along a row

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.rows.to(x.dtype) @ x @ self.cols.to(x.dtype)


def _blur_matrix(kernel: torch.Tensor, n: int) -> torch.Tensor:
    """(n, n) matrix M with (M @ v)[i] = Σ_t kernel[t] · v[reflect(i + t − r)], r = len(kernel) // 2 < n."""
    r = len(kernel) // 2
    rows = torch.arange(n).view(-1, 1).expand(n, len(kernel))
    cols = rows + torch.arange(len(kernel)) - r
    cols = torch.where(cols < 0, -cols, torch.where(cols > n - 1, 2 * (n - 1) - cols, cols))  # torch's "reflect"
    matrix = torch.zeros(n, n, dtype=kernel.dtype)
    return matrix.index_put_((rows.reshape(-1), cols.reshape(-1)), kernel.repeat(n), accumulate=True)


def low_pass(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """x (B, C, H, W) blurred by a Gaussian of `sigma` pixels (LowPass, built for this one call)."""
    return LowPass(sigma, *x.shape[-2:], device=x.device, dtype=x.dtype)(x)


class AdamDirection:
    """Adam's step direction m̂ / (√v̂ + ε) from successive gradients of one run (per pixel, per sample)."""

    def __init__(self):
        self.m = self.v = None
        self.t = 0

    def __call__(self, grad: torch.Tensor) -> torch.Tensor:
        b1, b2 = ADAM_BETAS
        if self.m is None:
            self.m, self.v = torch.zeros_like(grad), torch.zeros_like(grad)
        self.t += 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        m_hat, v_hat = self.m / (1 - b1 ** self.t), self.v / (1 - b2 ** self.t)
        return m_hat / (v_hat.sqrt() + ADAM_EPS)


def direction_rule(name: str):
    """A fresh per-run gradient -> direction function for rule `name` (STEP_RULES)."""
    if name not in STEP_RULES:
        raise ValueError(f"step_rule must be one of {STEP_RULES}, got {name!r}")
    return AdamDirection() if name == "adam" else (lambda grad: grad)


def step_scale(schedule: str, step: int, steps: int) -> float:
    """The factor on step_size at step `step` (0-based) of `steps`."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "constant":
        return 1.0
    return 0.5 * (1 + math.cos(math.pi * step / steps))
