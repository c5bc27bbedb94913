"""Shared task plumbing: model and target resolution, defaults per model size, one PGD call, the recipe."""
from __future__ import annotations

import difflib
import numbers
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio

from .. import limits, registry
from ..batching import PGDRequest, batcher_overridden, shared_pgd_batcher
from ..engine import PGDConfig, PGDResult, pgd
from ..features import RobustModel
from ..image import fit_square, load_picture, to_pil, to_tensor
from ..models import load_model, run_device
from ..presets import PAPER_SIDE, Preset, choose_preset  # noqa: F401 (Preset: the task files' import)
from ..step_rules import low_pass
from ..version import __version__

def model_device(model: RobustModel) -> torch.device:
    return model.mean.device


def resolve_model(model) -> RobustModel:
    """A registered model name or a loaded RobustModel -> RobustModel (unknown name: ValueError)."""
    if not isinstance(model, (str, RobustModel)):
        raise TypeError(f"model must be a registered model name or a RobustModel, got {type(model).__name__}")
    return load_model(model, run_device()) if isinstance(model, str) else model


def _resolve_one(names: list[str], target) -> int:
    if isinstance(target, bool) or not isinstance(target, (numbers.Integral, str)):
        raise ValueError(f"target must be a class name or index, got {target!r}")
    if isinstance(target, str) and target.strip().isdigit():
        target = int(target.strip())
    if isinstance(target, numbers.Integral):
        if not 0 <= target < len(names):
            raise ValueError(f"class index {target} is out of range: the model has classes 0..{len(names) - 1}")
        return int(target)
    lowered = [n.lower() for n in names]
    key = target.strip().lower()
    if key in lowered:
        return lowered.index(key)
    close = difflib.get_close_matches(key, lowered, n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(names[lowered.index(c)]) for c in close)}?" if close else \
        f"; classes include {', '.join(names[:5])}, ..."
    raise ValueError(f"unknown class {target!r} for this model{hint}")


def resolve_targets(class_names: list[str], target) -> list[int]:
    """A class name (case-insensitive), an index, or a list of them -> indices into class_names (ValueError if
    unknown)."""
    items = list(target) if isinstance(target, (list, tuple)) else [target]
    if not items:
        raise ValueError("target must name at least one class")
    return [_resolve_one(class_names, t) for t in items]


IDENTICAL_PSNR = 100.0  # dB reported for identical images (the ratio itself is infinite)
PIXELS_PER_BATCH = 16 * PAPER_SIDE ** 2  # images per pgd() call when a task runs many (16 at 224 px, 784 at 32 px)


def load_input(image, side: int, *, name: str = "image") -> torch.Tensor:
    """Any accepted image -> (1, 3, side, side) in [0,1], centre-cropped (ValueError for bad or too small input)."""
    return to_tensor(fit_square(load_picture(image, name=name), side))


def load_full(image, *, name: str = "image") -> torch.Tensor:
    """Any accepted image -> (1, 3, H, W) in [0,1] at its own size (ValueError for bad or too small input)."""
    return to_tensor(load_picture(image, name=name))


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


@torch.no_grad()
def class_probability(model: RobustModel, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Softmax probability of `classes` (B,) for images x (B, 3, H, W), PIXELS_PER_BATCH pixels at a time."""
    per_call = max(1, PIXELS_PER_BATCH // (x.shape[-1] * x.shape[-2]))
    device = model_device(model)
    probs = torch.cat([model(x[a:a + per_call].to(device)).logits.float().softmax(1)
                       for a in range(0, len(x), per_call)])
    return probs.gather(1, classes.to(probs.device)[:, None]).squeeze(1)


@torch.no_grad()
def predict(model: RobustModel, x: torch.Tensor) -> torch.Tensor:
    return model(x).logits.argmax(1)


def psnr(x: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean PSNR in dB over the batch (scikit-image's peak_signal_noise_ratio), images in [0,1]; identical: 100 dB."""
    pairs = zip(x.detach().float().cpu().numpy(), reference.detach().float().cpu().numpy())
    return float(np.mean([IDENTICAL_PSNR if np.array_equal(a, r) else
                          min(IDENTICAL_PSNR, peak_signal_noise_ratio(r, a, data_range=1.0)) for a, r in pairs]))


def high_frequency(x: torch.Tensor) -> float:
    """Mean energy of x minus its 1-px Gaussian blur (step_rules.low_pass): pixel-scale detail and speckle."""
    return float(((x - low_pass(x, 1.0)) ** 2).mean())


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
    callback: Callable | None
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
        """pgd() on the model's device (through `net`, a wrapper of the model, if given); callback(step, total, x).

        part=(i, n): this is the i-th of n pgd() calls of one task run; the callback counts steps over all of them.
        """
        hook = None
        if self.callback is not None:
            done, total = part[0] * self.cfg.steps, part[1] * self.cfg.steps
            hook = lambda step, x, loss: self.callback(done + step, total, x)  # noqa: E731
        center = None if center is None else center.to(self.device)
        batch = limits.current().batch_images
        try:
            if (batch > 1 or batcher_overridden()) and net is None and self.cfg.constraint != "none":  # share a batch
                request = PGDRequest(x0.to(self.device), objective, center, seed=self.seed, callback=hook)
                return shared_pgd_batcher(batch).submit((self.model, self.cfg), request)
            return pgd(net or self.model, x0.to(self.device), objective, self.cfg, center=center, callback=hook)
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
        per_call = max(1, PIXELS_PER_BATCH // (x0.shape[-1] * x0.shape[-2]))
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
               model_output=None, layout: dict | None = None, **params):
        """(images, recipe): the TaskImages (with their float tensor) and the run's recipe.

        output: the results at the user's resolution (default result.x: the task works at the model's size).
        model_output: the model's own results at its input size where they differ from output (tensor or list of
        (3, h, w) tensors): images.model_resolution, counted in the recipe's "model_resolution".
        layout: how the user's image maps to the model's input (region, windows or fit), kept in the recipe.
        """
        x = (result.x if output is None else output).detach().float().cpu().clamp(0, 1)
        model_images = None if model_output is None else [to_pil(xi) for xi in model_output]
        images = TaskImages([to_pil(xi) for xi in x], model_images, tensor=x)
        recipe = self.recipe(result, metrics or {}, params)
        recipe["output_size"] = list(images[0].size)
        if layout is not None:
            recipe["layout"] = _jsonable(layout)
        if model_images:
            recipe["model_resolution"] = {"count": len(model_images), "sizes": [list(im.size) for im in model_images]}
        return images, recipe

    def recipe(self, result: PGDResult, metrics: dict, params: dict) -> dict:
        loss_metrics = {"loss_start": result.losses[0] if result.losses else float(result.loss.mean()),
                        "loss_end": float(result.loss.mean()), "steps_run": result.steps_run}
        return {
            "task": self.task, "model": self.model.name,
            "params": _jsonable({**self.params, **params, "steps": self.cfg.steps,
                                 "eps": None if self.cfg.constraint == "none" else self.cfg.eps,
                                 "step_size": self.cfg.step_size, "defaults": self.defaults}),
            "seed": self.seed, "weights_sha256": getattr(self.model, "weights_sha256", None),
            "version": __version__, "elapsed_s": round(time.perf_counter() - self.started, 3),
            "metrics": _jsonable({**loss_metrics, **metrics}), "device": str(self.device),
            "cancelled": result.cancelled,
        }


def _jsonable(value):
    """Tensors, numpy scalars and tuples -> plain Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _jsonable(value.tolist())
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


def start(task: str, model, *, seed, steps, eps, step_size, callback=None, n=None, frames=None,
          preset: Preset | None = None, constraint: str = "l2", grad_blur: float | None = None, **params) -> Run:
    """Validate the common parameters, load the model, fill unset eps / step_size / steps from the task's presets.

    preset: this run's defaults instead of the registry's (a task whose defaults depend on another input).
    grad_blur: the gradient low-pass in pixels (None: the preset's; see PGDConfig).
    constraint="none" (style transfer): no L2 ball, so eps is unused and the defaults are not scaled with the side;
    the optimizer and autocast then come from params["optimizer"] and params["autocast"].
    """
    if seed is None:
        raise ValueError("seed must be an integer between 0 and 2**32 - 1, got None")
    limits.check_run(steps=steps, eps=eps, step_size=step_size, n=n, frames=frames, seed=seed)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(step, total, x), got {type(callback).__name__}")
    model = resolve_model(model)
    presets = (preset, None) if preset is not None else registry.get(task).presets
    defaults, rule = (presets[0], "task default") if constraint == "none" else \
        choose_preset(model.input_size, *presets)
    engine = {k: params.pop(k) for k in ("optimizer", "autocast") if k in params}
    cfg = PGDConfig(constraint=constraint, eps=float(eps if eps is not None else defaults.eps),
                    step_size=float(step_size if step_size is not None else defaults.step_size),
                    steps=int(steps if steps is not None else defaults.steps),
                    grad_blur=float(grad_blur if grad_blur is not None else defaults.grad_blur),
                    step_rule=defaults.step_rule, schedule=defaults.schedule, **engine)
    extra = {k: v for k, v in {"n": n, "frames": frames, **engine}.items() if v is not None}
    if grad_blur is not None or cfg.grad_blur:  # asked for (even 0: a replay must not take the preset's) or in use
        extra["grad_blur"] = cfg.grad_blur
    if not cfg.plain:
        extra.update(step_rule=cfg.step_rule, schedule=cfg.schedule)
    return Run(task, model, int(seed), cfg, rule, callback, {**extra, **params})
