"""A task run's output: its images (TaskImages) and the recipe that can replay it, as plain JSON values."""
from __future__ import annotations

import numbers
import time

import torch

from ..engine import PGDResult
from ..image import to_pil
from ..version import __version__


class TaskImages(list):
    """A task's result images at the user's resolution (a plain list of PIL images), plus `model_resolution`
    and `tensor`.

    model_resolution holds what the model itself produced at its input size: for the masked tasks one square per
    region, for the whole-image tasks the model's square without its padding. Where a task works at the model's
    size anyway (generation, interpolation, visualisation from noise, super-resolution's windows are blended into
    the main result) it is the same list. The recipe's "model_resolution" entry is present only when they differ.
    tensor: the images as one (B, 3, H, W) CPU float tensor in [0, 1], before rounding to 8 bits (for measuring).
    """

    def __init__(self, images, model_resolution=None, tensor: torch.Tensor | None = None):
        super().__init__(images)
        self.model_resolution = list(self) if model_resolution is None else list(model_resolution)
        self.tensor = tensor


def finish(run, result: PGDResult, metrics: dict, params: dict, *, output: torch.Tensor | None = None,
           model_output=None, layout: dict | None = None) -> tuple[TaskImages, dict]:
    """(images, recipe) of a tasks.run.Run: see Run.finish."""
    x = (result.x if output is None else output).detach().float().cpu().clamp(0, 1)
    model_images = None if model_output is None else [to_pil(xi) for xi in model_output]
    images = TaskImages([to_pil(xi) for xi in x], model_images, tensor=x)
    recipe = run_recipe(run, result, metrics, params)
    recipe["output_size"] = list(images[0].size)
    if layout is not None:
        recipe["layout"] = jsonable(layout)
    if model_images:
        recipe["model_resolution"] = {"count": len(model_images), "sizes": [list(im.size) for im in model_images]}
    return images, recipe


def run_recipe(run, result: PGDResult, metrics: dict, params: dict) -> dict:
    """The recipe of a run: task, model, every parameter (the defaults filled in), seed, weights, version, metrics."""
    cfg = run.cfg
    loss_metrics = {"loss_start": result.losses[0] if result.losses else float(result.loss.mean()),
                    "loss_end": float(result.loss.mean()), "steps_run": result.steps_run}
    return {
        "task": run.task, "model": run.model.name,
        "params": jsonable({**run.params, **params, "steps": cfg.steps,
                            "eps": cfg.eps if cfg.make_constraint().bounded else None,
                            "step_size": cfg.step_size, "defaults": run.defaults}),
        "seed": run.seed, "weights_sha256": getattr(run.model, "weights_sha256", None),
        "version": __version__, "elapsed_s": round(time.perf_counter() - run.started, 3),
        "metrics": jsonable({**loss_metrics, **metrics}), "device": str(run.device),
        "cancelled": result.cancelled,
    }


def jsonable(value):
    """Tensors, numpy scalars and tuples -> plain Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return jsonable(value.tolist())
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)
