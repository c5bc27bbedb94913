"""Reading checkpoints safely (weights_only, full unpickling only for a pinned file) and checking their keys."""
from __future__ import annotations

import argparse
import logging
import pickle
from pathlib import Path

import dill  # the robustness library's pickler: the fully unpickled (pinned) path reads with it
import torch

from .architectures import build
from .hub_files import hub_repo_cache
from .weights_errors import CheckpointFormatError, UnsafeCheckpointError

logger = logging.getLogger(__name__)

# Non-tensor objects checkpoints may carry next to the weights (MadryLab's training arguments).
SAFE_CHECKPOINT_GLOBALS = [argparse.Namespace]


def read_checkpoint(path: Path, spec):
    """torch.load with weights_only=True; full unpickling only for a checksum-pinned file of the pinned repo."""
    try:
        with torch.serialization.safe_globals(SAFE_CHECKPOINT_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if is_pinned_and_trusted(path, spec):
            logger.warning("fully unpickling %s: its sha256 matches the pin for %s", path.name, spec.repo)
            return torch.load(path, map_location="cpu", weights_only=False, pickle_module=dill)
        raise UnsafeCheckpointError(
            f"refusing to load {spec.file} for model {spec.name}: it holds Python objects beyond tensors "
            f"({unsafe_globals(path)}), and only a file from its family's Hub repo whose sha256 matches the "
            f"pin in its model spec may be fully unpickled") from None
    except (RuntimeError, EOFError, OSError) as err:  # truncated or corrupt file
        raise CheckpointFormatError(f"{spec.file} for model {spec.name} could not be read ({err}); it may be "
                                    f"damaged: delete {path.resolve()} and load again") from None


def is_pinned_and_trusted(path: Path, spec) -> bool:
    """A pinned spec of its family's own repo, read from that repo's Hub cache (verify_pin matched its sha256)."""
    if not spec.sha256 or spec.source != "hub" or spec.repo != spec.family.repo:
        return False
    return path.resolve().is_relative_to(hub_repo_cache(spec.repo).resolve())


def unsafe_globals(path: Path) -> str:
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except (RuntimeError, ValueError, OSError, pickle.UnpicklingError):  # legacy (non-zip) or damaged file
        return "unknown: the file is not a readable zip-format checkpoint"
    return ", ".join(names[:5]) or "none listed"


def submodule(state: dict, prefix: str) -> dict:
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}


def verify_keys(state: dict[str, torch.Tensor], spec) -> None:
    """Raise CheckpointFormatError unless keys and shapes match the network spec.arch builds, exactly."""
    file, arch = spec.file, spec.arch
    with torch.device("meta"):  # keys and shapes only: no memory, no init cost
        expected = build(arch, spec.num_classes)[0].state_dict()
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    if missing or unexpected:
        raise CheckpointFormatError(f"{file} does not match architecture {arch}: missing keys {few(missing)}; "
                                    f"unexpected keys {few(unexpected)}")
    wrong = [k for k in expected if tuple(expected[k].shape) != tuple(state[k].shape)]
    if wrong:
        raise CheckpointFormatError(f"{file} does not match architecture {arch}: wrong shapes for {few(wrong)}")


def few(keys: list[str], n: int = 3) -> str:
    if not keys:
        return "none"
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")
