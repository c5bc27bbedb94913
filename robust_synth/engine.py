"""pgd(): the one optimisation loop on a classifier's input; PGDConfig and PGDResult."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable

import torch

from .constraints import Constraint, make_constraint
from .step_rules import LowPass, direction_rule, step_scale

# Device types where cfg.autocast switches bf16 autocast on: fast on GPUs, slower than float32 on most CPUs
# (tests widen it to "cpu" to check the path's results there).
AUTOCAST_DEVICE_TYPES = ("cuda",)
MAX_GRAD_BLUR = 8.0  # pixels: a wider low-pass leaves a 32-px image only its mean colour to change
EARLY_EXIT_TOL = 1e-3  # early exit: the best loss must fall by this fraction of its magnitude within `patience` steps


class Cancelled(Exception):
    """Raised by on_step (or by a task's progress callback) to stop a run early; pgd() returns the best so far."""


# The engine's per-step contract, on_step(step, x, loss): called after each step of one pgd() call with the steps
# taken (1-based), the new iterate x (B, C, H, W) and the loss (B,) of the iterate the step started from; raising
# Cancelled stops the run. (The task layer's progress callback(step, total, x) is another contract: tasks/run.py.)
OnStep = Callable[[int, torch.Tensor, torch.Tensor], None]


@dataclass(frozen=True)
class PGDConfig:
    constraint: str = "l2"       # "l2" | "linf" | "none": L2 is what the papers use for synthesis
    eps: float = 40.0            # radius in [0,1] pixel units (Santurkar et al. 2019, generation on ImageNet)
    step_size: float = 1.0       # normalised-gradient step length (same source)
    steps: int = 60              # same source: 60 steps for class-conditional generation
    random_start: bool = False   # synthesis starts from a meaningful image, not a random point
    keep_best: bool = True       # return each sample's lowest-loss iterate, not the last one
    optimizer: str = "lbfgs"     # the optimiser of a constraint that takes its own steps ("none"): "lbfgs" | "adam"
    autocast: bool = True        # bf16 autocast on CUDA (ignored on CPU, where float32 is faster)
    cuda_graph: bool = False     # on CUDA, replay each step as one captured CUDA graph (static shapes; opt-in)
    score_last: bool = True      # a no-grad forward scores the last iterate; training attacks (keep_best off) skip it
    grad_blur: float = 0.0       # σ in pixels of a Gaussian low-pass of the input gradient before each step (0: off)
    step_rule: str = "normalized"  # direction from the gradient: the papers' "normalized", or "adam" (step_rules.py)
    schedule: str = "constant"   # step size over the run: "constant" (the papers') or "cosine" decay to ~0
    patience: int = 0            # early exit: stop once no sample's best loss improved for this many steps (0: off)

    def __post_init__(self):
        for name in ("steps", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if not 0 <= self.grad_blur <= MAX_GRAD_BLUR:
            raise ValueError(f"grad_blur must be between 0 and {MAX_GRAD_BLUR} pixels, got {self.grad_blur!r}")
        direction_rule(self.step_rule), step_scale(self.schedule, 0, 1)  # validate the names
        if self.make_constraint().own_optimizer and not self.plain:  # make_constraint validates the rest
            raise ValueError(f"step_rule {self.step_rule!r} and schedule {self.schedule!r} need a constraint: with "
                             f"constraint={self.constraint!r} the optimizer ({self.optimizer!r}) takes the steps")

    def make_constraint(self) -> Constraint:
        """A fresh constraint object of these settings (one per run: it may hold optimiser state)."""
        return make_constraint(self.constraint, self.eps, self.step_size, self.optimizer)

    @property
    def plain(self) -> bool:
        """True for the papers' rule: normalised gradient steps of constant size (what a CUDA graph can replay)."""
        return self.step_rule == "normalized" and self.schedule == "constant"


@dataclass
class PGDResult:
    x: torch.Tensor                  # (B, C, H, W) result in [0,1]: best iterate if keep_best, else last
    loss: torch.Tensor | None        # (B,) loss of the returned images; None when cfg.score_last is off
    losses: list[float] = field(default_factory=list)   # mean loss before each step (for plots / tests)
    steps_run: int = 0
    cancelled: bool = False


def _autocast(device: torch.device, enabled: bool, cache: bool = True):
    if enabled and device.type in AUTOCAST_DEVICE_TYPES:
        # The weight-cast cache must be off inside a CUDA-graph capture (PyTorch's CUDA-graph notes).
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


def _evaluate(model, objective, x, cfg, cache: bool = True):
    with _autocast(x.device, cfg.autocast, cache):
        out = model(x, layers=objective.layers)
        loss = objective(out, x)
    if loss.shape != (x.shape[0],):
        raise ValueError(f"objective {objective.name!r} must return one loss per sample, shape "
                         f"({x.shape[0]},), got {tuple(loss.shape)}")
    return loss.float()


def _eager_step(model, objective, constraint, cfg, center, x0, cache: bool = True):
    """step(x, scale) -> (loss of x (B,), next iterate): one forward, one input-gradient backward, the gradient
    low-passed (kernel built once) and turned into a direction by the step rule, a step of scale × step_size,
    projection."""
    blur = LowPass(cfg.grad_blur, *x0.shape[-2:], device=x0.device) if cfg.grad_blur else None
    direction = direction_rule(cfg.step_rule)

    def step(x, scale=1.0):
        x = x.detach().requires_grad_(True)
        loss = _evaluate(model, objective, x, cfg, cache)
        (grad,) = torch.autograd.grad(loss.sum(), x)
        grad = grad.contiguous()  # channels_last weights hand back an NHWC gradient; the image is NCHW
        if blur is not None:
            grad = blur(grad)
        return loss.detach(), constraint.project(constraint.step(x.detach(), direction(grad), scale), center)
    return step


class _GraphedStep:
    """The same step captured once as a CUDA graph and replayed on static buffers (no per-step launches)."""

    WARMUP = 3  # eager runs on a side stream before capture: cuDNN autotuning, lazy init, the FX extractor

    def __init__(self, step, x: torch.Tensor):
        self.x_in = x.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(self.WARMUP):
                step(self.x_in)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss_out, self.x_out = step(self.x_in)

    def __call__(self, x, scale=1.0):  # plain rule only: scale is always 1
        self.x_in.copy_(x)
        self.graph.replay()
        return self.loss_out.clone(), self.x_out.clone()


def _make_step(model, objective, constraint, cfg, center, x):
    """The step function; a captured CUDA graph when asked for and possible (constrained, the plain rule)."""
    if cfg.cuda_graph and x.is_cuda and cfg.plain and not constraint.own_optimizer:
        return _GraphedStep(_eager_step(model, objective, constraint, cfg, center, x, cache=False), x)
    return _eager_step(model, objective, constraint, cfg, center, x)


def pgd(model, x0: torch.Tensor, objective, cfg: PGDConfig = PGDConfig(), *, center: torch.Tensor | None = None,
        on_step: OnStep | None = None,
        generator: torch.Generator | None = None) -> PGDResult:
    """Minimise objective(model(x), x) over x in the constraint set around `center` (default x0).

    model: callable (x, layers=...) -> output with .logits and named layers (a RobustModel).
    x0: (B, C, H, W) start in [0,1]. objective: returns per-sample losses (B,).
    on_step(step, x, loss) runs after each step (OnStep); raising Cancelled stops the run. With cfg.patience, the run
    also stops once no sample's best loss has fallen by EARLY_EXIT_TOL of its magnitude over the last `patience` steps.
    One forward and one backward per step, plus one forward without grad to score the last iterate (skipped
    when cfg.keep_best and cfg.score_last are both off: the returned loss is then None).
    No host-device synchronisation inside the loop unless on_step reads tensors back.
    """
    if x0.dim() != 4:
        raise ValueError(f"x0 must be a (B, C, H, W) batch, got shape {tuple(x0.shape)}")
    constraint = cfg.make_constraint()
    center = (x0 if center is None else center).detach().float()
    x = x0.detach().float().clamp(0, 1)
    if cfg.random_start:
        x = constraint.random_start(center, generator)
    x = constraint.project(x, center)
    constraint.bind(x)
    step_fn = _make_step(model, objective, constraint, cfg, center, x)

    best_x, best_loss = x.clone(), torch.full((x.shape[0],), float("inf"), device=x.device)
    losses: list[torch.Tensor] = []  # per-sample losses, kept on device: no host sync inside the loop
    cancelled, steps_run = False, 0
    watched = best_loss.clone()  # the best losses `patience` steps ago (early exit)
    for step in range(cfg.steps):
        loss, x_next = step_fn(x, step_scale(cfg.schedule, step, cfg.steps))
        if cfg.keep_best:
            best_x, best_loss = _keep_better(x, loss, best_x, best_loss)
        losses.append(loss)
        x = x_next
        steps_run = step + 1
        if on_step is not None:
            try:
                on_step(step + 1, x, loss)
            except Cancelled:
                cancelled = True
                break
        if cfg.patience and steps_run % cfg.patience == 0:
            current = best_loss if cfg.keep_best else torch.stack(losses[-cfg.patience:]).min(0).values
            if steps_run > cfg.patience and not _improved(watched, current):
                break
            watched = current.clone()

    mean_losses = torch.stack(losses).mean(1).tolist() if losses else []
    if not cfg.keep_best and not cfg.score_last:
        return PGDResult(x, None, mean_losses, steps_run, cancelled)
    with torch.no_grad():
        final_loss = _evaluate(model, objective, x, cfg)
    if not cfg.keep_best:
        return PGDResult(x, final_loss, mean_losses, steps_run, cancelled)
    best_x, best_loss = _keep_better(x, final_loss, best_x, best_loss)
    return PGDResult(best_x, best_loss, mean_losses, steps_run, cancelled)


def _improved(before: torch.Tensor, now: torch.Tensor) -> bool:
    """Whether any sample's loss fell by more than EARLY_EXIT_TOL of its magnitude (one host sync)."""
    return bool((before - now > EARLY_EXIT_TOL * before.abs().clamp_min(1e-12)).any())


def _keep_better(x, loss, best_x, best_loss):
    """Per-sample best iterate with torch.where: no boolean indexing, so no host-device sync."""
    better = loss < best_loss
    return torch.where(better.view(-1, *[1] * (x.dim() - 1)), x, best_x), torch.where(better, loss, best_loss)
