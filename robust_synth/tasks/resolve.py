"""What a task's arguments name: the model (a registered name or a RobustModel) and the target classes or prompts."""
from __future__ import annotations

import difflib
import numbers

import torch

from ..clip_network import ClipModel, check_prompts
from ..features import RobustModel
from ..models import load_model, run_device


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


def class_targets(run, target) -> list[int]:
    """The target's class indices for a task run. A CLIP model's target is free text (a prompt or a list of them):
    run.model becomes the same encoder classifying among those prompts (clip_network.ClipModel.for_prompts), so the
    class loss, probabilities and recipe of every class-taking task read the prompts as their classes."""
    if isinstance(run.model, ClipModel):
        prompts = check_prompts(target)
        run.model = run.model.for_prompts(list(dict.fromkeys(prompts)))
        return [run.model.class_names.index(p) for p in prompts]
    return resolve_targets(run.model.class_names, target)
