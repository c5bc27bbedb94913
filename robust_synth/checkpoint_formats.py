"""Checkpoint formats as a table: each format's reader (file -> object) and converter (-> the builder's layout), or,
for a format that carries its own architecture (open_clip's Hub repos: a config beside the weights), its loader."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file

from .checkpoint_reading import read_checkpoint
from .madrylab_format import madry_to_torchvision
from .named_table import NamedTable


@dataclass(frozen=True)
class CheckpointFormat:
    """How one publisher's files become a state dict keyed exactly as the architecture's builder keys it."""
    name: str
    read: Callable[[Path, object], object] | None = None      # (file, spec) -> what the file holds, read safely
    convert: Callable[[object, object], dict[str, torch.Tensor]] | None = None  # (held, spec) -> state dict, checked
    # (spec, device) -> (RobustModel, weights file): the whole model, network built from the repo's own config
    load_model: Callable[[object, object], tuple[object, Path]] | None = None
    text_targets: bool = False  # its models are CLIP encoders: their targets are free-text prompts (clip_network.py)


def _as_is(state, spec) -> dict[str, torch.Tensor]:
    """A plain state dict already in the builder's layout (load_model's strict load checks its keys)."""
    return state


FORMATS: NamedTable[CheckpointFormat] = NamedTable("checkpoint format")


def register_format(fmt: CheckpointFormat) -> CheckpointFormat:
    """Add a format to the table (a second one under the same name is refused)."""
    return FORMATS.register(fmt)


def get_format(name: str) -> CheckpointFormat:
    return FORMATS.lookup(name)


def state_dict_from(path: Path, spec) -> dict[str, torch.Tensor]:
    """Read and convert `path` as its spec's format says."""
    fmt = get_format(spec.format)
    if fmt.convert is None:
        raise ValueError(f"checkpoint format {fmt.name!r} loads whole models (load_model), not state dicts")
    return fmt.convert(fmt.read(path, spec), spec)


register_format(CheckpointFormat("safetensors", lambda path, spec: load_file(str(path)), _as_is))
# torchvision's files are read by torch.hub when downloaded (checkpoints.torchvision_state_dict)
register_format(CheckpointFormat("torchvision", read_checkpoint, _as_is))
register_format(CheckpointFormat("madrylab", read_checkpoint, madry_to_torchvision))
