"""start(): a task run's common parameters checked, its model loaded and its PGD settings filled from the presets."""
from __future__ import annotations

from typing import Callable

from .. import limits, task_registry
from ..engine import PGDConfig
from ..presets import Preset, choose_preset
from .resolve import resolve_model
from .run import Run


def start(task: Callable, model, *, seed, steps, eps, step_size, callback=None, n=None, frames=None,
          preset: Preset | None = None, grad_blur: float | None = None, engine: dict | None = None, **params) -> Run:
    """Validate the common parameters, load the model, fill unset eps / step_size / steps from the task's presets.

    task: the task function itself (its registered name is the function's name, so the recipe cannot name another).
    callback: the task layer's progress callback(step, total, x) (tasks/run.py). preset: this run's own defaults,
    used as given instead of the registry's presets chosen and scaled for the model's side (a task whose defaults
    depend on another input). grad_blur: the gradient low-pass in pixels (None: the preset's; see PGDConfig).
    engine: further PGDConfig fields the task fixes (e.g. its constraint and optimizer), not recorded as parameters.
    """
    if seed is None:
        raise ValueError("seed must be an integer between 0 and 2**32 - 1, got None")
    limits.check_run(steps=steps, eps=eps, step_size=step_size, n=n, frames=frames, seed=seed)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(step, total, x), got {type(callback).__name__}")
    model = resolve_model(model)
    defaults, rule = (preset, "task default") if preset is not None else \
        choose_preset(model.input_size, *task_registry.get(task.__name__).presets)
    cfg = PGDConfig(eps=float(eps if eps is not None else defaults.eps),
                    step_size=float(step_size if step_size is not None else defaults.step_size),
                    steps=int(steps if steps is not None else defaults.steps),
                    grad_blur=float(grad_blur if grad_blur is not None else defaults.grad_blur),
                    step_rule=defaults.step_rule, schedule=defaults.schedule, **(engine or {}))
    extra = {k: v for k, v in {"n": n, "frames": frames}.items() if v is not None}
    if grad_blur is not None or cfg.grad_blur:  # asked for (even 0: a replay must not take the preset's) or in use
        extra["grad_blur"] = cfg.grad_blur
    if not cfg.plain:
        extra.update(step_rule=cfg.step_rule, schedule=cfg.schedule)
    return Run(task.__name__, model, int(seed), cfg, rule, callback, {**extra, **params})
