"""One task run (Run): its model, PGD settings and seeded generator; optimise() calls the engine, finish() the recipe.

The task layer's progress contract, `callback(step, total, x)`: a task function's `callback` argument is called after
each PGD step with the steps done so far over the whole run (all its pgd() calls), the run's total, and the current
iterate x (B, 3, H, W) at the model's size; raising engine.Cancelled stops the run, and the task returns its best
images so far. Run.optimise turns it into the engine's own per-call `on_step(step, x, loss)` (engine.OnStep).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from .. import limits
from ..batching import PGDRequest, batcher_overridden, shared_pgd_batcher
from ..engine import PGDConfig, PGDResult, pgd
from ..features import RobustModel
from . import recipe
from .metrics import images_per_call
from .resolve import model_device

Progress = Callable[[int, int, torch.Tensor], None]  # callback(step, total, x): the contract above


class TransformedInput:
    """The model applied to transform(x): PGD moves x, the model sees (and the loss scores) transform(x)."""

    def __init__(self, model: RobustModel, transform: Callable[[torch.Tensor], torch.Tensor]):
        self.model, self.transform = model, transform

    def __call__(self, x: torch.Tensor, layers=()):
        return self.model(self.transform(x), layers=layers)


@dataclass
class Run:
    """One task run: the model, resolved PGD settings, the seeded generator, timing and parameters for the recipe."""
    task: str
    model: RobustModel
    seed: int
    cfg: PGDConfig
    defaults: str
    callback: Progress | None
    params: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self):
        self.generator = torch.Generator().manual_seed(self.seed)  # CPU: the same draws on every device
        self.device = model_device(self.model)

    @property
    def side(self) -> int:
        return self.model.input_size

    def noise_start(self, count: int) -> torch.Tensor:
        """The papers' start for inversion and visualisation: randn/20 + 0.5, clamped to [0,1]."""
        return (torch.randn(count, 3, self.side, self.side, generator=self.generator) / 20 + 0.5).clamp(0, 1)

    def optimise(self, x0: torch.Tensor, objective, center: torch.Tensor | None = None, net=None,
                 part: tuple[int, int] = (0, 1)) -> PGDResult:
        """pgd() on the model's device (through `net`, a wrapper of the model, if given), reporting to the callback.

        part=(i, n): this is the i-th of n pgd() calls of one task run; the callback counts steps over all of them.
        """
        on_step = None
        if self.callback is not None:
            done, total = part[0] * self.cfg.steps, part[1] * self.cfg.steps
            on_step = lambda step, x, loss: self.callback(done + step, total, x)  # noqa: E731
        center = None if center is None else center.to(self.device)
        batch = limits.current().batch_images
        try:
            shareable = net is None and not self.cfg.make_constraint().couples_samples
            if (batch > 1 or batcher_overridden()) and shareable:  # share a batch with concurrent runs
                request = PGDRequest(x0.to(self.device), objective, center, seed=self.seed, on_step=on_step)
                return shared_pgd_batcher(batch).submit((self.model, self.cfg), request)
            return pgd(net or self.model, x0.to(self.device), objective, self.cfg, center=center, on_step=on_step)
        except torch.OutOfMemoryError:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()  # the model itself is untouched: the next request starts clean
            raise RuntimeError(f"out of memory for {x0.shape[0]} image(s) of {x0.shape[-1]} px on {self.device}: "
                               "ask for fewer images or a smaller size") from None

    def optimise_in_batches(self, x0: torch.Tensor, objective_for: Callable, net_for: Callable) -> PGDResult:
        """optimise() over many images (B, 3, H, W) in pgd() calls of at most PIXELS_PER_BATCH pixels, one result.

        objective_for(a, b) / net_for(a, b): the objective and model wrapper (or None) for images a..b. After a
        cancelled call the remaining images are returned as they started (their losses scored, not optimised).
        """
        per_call = images_per_call(x0)
        bounds = [(a, min(a + per_call, len(x0))) for a in range(0, len(x0), per_call)]
        results: list[PGDResult] = []
        for i, (a, b) in enumerate(bounds):
            if results and results[-1].cancelled:
                results.append(self._unoptimised(x0[a:b], objective_for(a, b), net_for(a, b)))
            else:
                results.append(self.optimise(x0[a:b], objective_for(a, b), net=net_for(a, b), part=(i, len(bounds))))
        if len(results) == 1:
            return results[0]
        ran = [(r, b - a) for r, (a, b) in zip(results, bounds) if r.losses]
        length = min(len(r.losses) for r, _ in ran)
        losses = [sum(r.losses[k] * n for r, n in ran) / sum(n for _, n in ran) for k in range(length)]
        return PGDResult(torch.cat([r.x for r in results]), torch.cat([r.loss for r in results]), losses,
                         max(r.steps_run for r in results), any(r.cancelled for r in results))

    @torch.no_grad()
    def _unoptimised(self, x: torch.Tensor, objective, net) -> PGDResult:
        x = x.to(self.device)
        loss = objective((net or self.model)(x, layers=objective.layers), x).float()
        return PGDResult(x, loss, [], 0, True)

    def finish(self, result: PGDResult, metrics: dict | None = None, *, output: torch.Tensor | None = None,
               model_output=None, layout: dict | None = None, **params) -> tuple[recipe.TaskImages, dict]:
        """(images, recipe): the TaskImages (with their float tensor) and the run's recipe.

        output: the results at the user's resolution (default result.x: the task works at the model's size).
        model_output: the model's own results at its input size where they differ from output (tensor or list of
        (3, h, w) tensors): images.model_resolution, counted in the recipe's "model_resolution".
        layout: how the user's image maps to the model's input (region, windows or fit), kept in the recipe.
        """
        return recipe.finish(self, result, metrics or {}, params, output=output, model_output=model_output,
                             layout=layout)
