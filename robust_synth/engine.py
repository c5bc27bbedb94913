"""pgd(): the one optimisation loop on a classifier's input; PGDConfig and PGDResult."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable

import torch

from .constraints import Unconstrained, make_constraint


class Cancelled(Exception):
    """Raised by a callback to stop a run early; pgd() returns the best iterate so far."""


@dataclass(frozen=True)
class PGDConfig:
    constraint: str = "l2"       # "l2" | "linf" | "none": L2 is what the papers use for synthesis
    eps: float = 40.0            # radius in [0,1] pixel units (Santurkar et al. 2019, generation on ImageNet)
    step_size: float = 1.0       # normalised-gradient step length (same source)
    steps: int = 60              # same source: 60 steps for class-conditional generation
    random_start: bool = False   # synthesis starts from a meaningful image, not a random point
    keep_best: bool = True       # return each sample's lowest-loss iterate, not the last one
    optimizer: str = "lbfgs"     # step rule for constraint="none" (style transfer): "lbfgs" | "adam"
    autocast: bool = True        # bf16 autocast on CUDA (ignored on CPU, where float32 is faster)

    def __post_init__(self):
        if not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {self.steps!r}")
        make_constraint(self.constraint, self.eps, self.step_size, self.optimizer)  # validates the rest


@dataclass
class PGDResult:
    x: torch.Tensor                  # (B, C, H, W) result in [0,1]: best iterate if keep_best, else last
    loss: torch.Tensor               # (B,) loss of the returned images
    losses: list[float] = field(default_factory=list)   # mean loss before each step (for plots / tests)
    steps_run: int = 0
    cancelled: bool = False


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _evaluate(model, objective, x, cfg):
    with _autocast(x.device, cfg.autocast):
        out = model(x, layers=objective.layers)
        loss = objective(out, x)
    if loss.shape != (x.shape[0],):
        raise ValueError(f"objective {objective.name!r} must return one loss per sample, shape "
                         f"({x.shape[0]},), got {tuple(loss.shape)}")
    return loss.float()


def pgd(model, x0: torch.Tensor, objective, cfg: PGDConfig = PGDConfig(), *, center: torch.Tensor | None = None,
        callback: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
        generator: torch.Generator | None = None) -> PGDResult:
    """Minimise objective(model(x), x) over x in the constraint set around `center` (default x0).

    model: callable (x, layers=...) -> output with .logits and named layers (a RobustModel).
    x0: (B, C, H, W) start in [0,1]. objective: returns per-sample losses (B,).
    callback(step, x, loss) runs after each step; raising Cancelled stops the run.
    One forward and one backward per step, plus one forward without grad to score the last iterate.
    """
    if x0.dim() != 4:
        raise ValueError(f"x0 must be a (B, C, H, W) batch, got shape {tuple(x0.shape)}")
    constraint = make_constraint(cfg.constraint, cfg.eps, cfg.step_size, cfg.optimizer)
    center = (x0 if center is None else center).detach().float()
    x = x0.detach().float().clamp(0, 1)
    if cfg.random_start:
        x = constraint.random_start(center, generator)
    x = constraint.project(x, center)
    if isinstance(constraint, Unconstrained):
        constraint.bind(x)

    best_x, best_loss = x.clone(), torch.full((x.shape[0],), float("inf"), device=x.device)
    losses: list[torch.Tensor] = []
    cancelled, steps_run = False, 0
    for step in range(cfg.steps):
        x.requires_grad_(True)
        loss = _evaluate(model, objective, x, cfg)
        (grad,) = torch.autograd.grad(loss.sum(), x)
        x = x.detach()
        loss = loss.detach()
        if cfg.keep_best:
            better = loss < best_loss
            best_loss = torch.where(better, loss, best_loss)
            best_x[better] = x[better]
        losses.append(loss.mean())  # kept on device: no host sync inside the loop
        x = constraint.project(constraint.step(x, grad), center)
        steps_run = step + 1
        if callback is not None:
            try:
                callback(step + 1, x, loss)
            except Cancelled:
                cancelled = True
                break

    with torch.no_grad():
        final_loss = _evaluate(model, objective, x, cfg)
    losses = torch.stack(losses).tolist() if losses else []
    if not cfg.keep_best:
        return PGDResult(x, final_loss, losses, steps_run, cancelled)
    better = final_loss < best_loss
    best_loss = torch.where(better, final_loss, best_loss)
    best_x[better] = x[better]
    return PGDResult(best_x, best_loss, losses, steps_run, cancelled)
