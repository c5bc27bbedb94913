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


def model_targets(model: RobustModel, target) -> tuple[RobustModel, list[int]]:
    """(the model to use, the target's class indices in it). A CLIP model's target is free text (a prompt or a list of
    them): the model to use is the same encoder classifying among those prompts (clip_network.ClipModel.for_prompts),
    so whatever reads classes (the class loss, probabilities, the recipe, the head's weights) reads the prompts."""
    if isinstance(model, ClipModel):
        prompts = check_prompts(target)
        model = model.for_prompts(list(dict.fromkeys(prompts)))
        return model, [model.class_names.index(p) for p in prompts]
    return model, resolve_targets(model.class_names, target)


def class_targets(run, target) -> list[int]:
    """The target's class indices for a task run, run.model switched as model_targets says."""
    run.model, classes = model_targets(run.model, target)
    return classes
