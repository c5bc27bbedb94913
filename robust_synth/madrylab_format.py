"""MadryLab's robustness-library checkpoints to the torchvision layout: keep the weights, check the copies."""
from __future__ import annotations

import torch

from .checkpoint_reading import few, submodule, verify_keys
from .weights_errors import CheckpointFormatError


def madry_to_torchvision(checkpoint, spec) -> dict[str, torch.Tensor]:
    """Keep the `module.model.` weights of a MadryLab checkpoint, keyed exactly as torchvision's spec.arch.

    Checked, then dropped: `module.attacker.model.` (the attacker's copy, which must equal the weights) and
    `module.normalizer.` (mean/std buffers, which must be the spec's).
    """
    file = spec.file
    state = checkpoint.get("model", checkpoint.get("state_dict")) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise CheckpointFormatError(f"{file} is not a MadryLab checkpoint: expected a dict with a 'model' or "
                                    "'state_dict' entry")
    unwrapped = {k.removeprefix("module."): v for k, v in state.items()}  # DataParallel's prefix
    weights, attacker = submodule(unwrapped, "model."), submodule(unwrapped, "attacker.model.")
    if weights and all(k.startswith("model.") for k in weights):  # torchvision-wrapped arch: module.model.model.
        weights, attacker = submodule(weights, "model."), submodule(attacker, "model.")
    verify_keys(weights, spec)
    verify_attacker_copy(weights, attacker, spec)
    verify_normalizer(submodule(unwrapped, "normalizer."), spec)
    return {k: v.detach().contiguous() for k, v in weights.items()}


def verify_attacker_copy(weights: dict, attacker: dict, spec) -> None:
    """In the robustness library the attacker holds the same network: a missing or different copy means a bad file."""
    differ = sorted(attacker.keys() ^ weights.keys()) or [k for k in weights if not same(weights[k], attacker[k])]
    if differ:
        raise CheckpointFormatError(f"{spec.file} for model {spec.name} is inconsistent: the attacker's copy of the "
                                    f"weights (module.attacker.model.) differs from the model's at {few(differ)}")


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal shape and values (meta tensors, used to check layouts at no cost, carry no values to compare)."""
    return a.shape == b.shape and (a.is_meta or torch.equal(a, b))


def close(values: torch.Tensor, expected: tuple) -> bool:
    return values.numel() == len(expected) and torch.allclose(values.flatten().double(),
                                                              torch.tensor(expected, dtype=torch.double), atol=1e-4)


def verify_normalizer(normalizer: dict, spec) -> None:
    """The checkpoint's input normaliser must hold the mean/std that RobustModel applies (ImageNet's)."""
    expected = {"new_mean": spec.mean, "new_std": spec.std}
    found = {k: normalizer.get(k) for k in expected}
    if not all(v is not None and (v.is_meta or close(v, expected[k])) for k, v in found.items()):
        shown = {k: None if v is None else [round(x, 4) for x in v.flatten().tolist()] for k, v in found.items()}
        raise CheckpointFormatError(f"{spec.file} for model {spec.name} normalises its input with {shown} "
                                    f"(module.normalizer.), not the expected mean {spec.mean} and std {spec.std}")
