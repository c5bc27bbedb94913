"""Class-conditional seed distributions for generation: per-class Gaussians (mean + low-rank covariance)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .resources import weights_dir

WEIGHTS_DIR = weights_dir()
DATASET_CLASSES = {"cifar10": 10, "imagenet": 1000}
DEFAULT_SIDE = {"cifar10": 32, "imagenet": 224}


def seed_path(dataset: str) -> Path:
    return WEIGHTS_DIR / f"seeds-{dataset}.safetensors"


def save_seeds(path: Path, mean: torch.Tensor, components: torch.Tensor, residual_std: torch.Tensor,
               metadata: dict[str, str]) -> None:
    """Write a seed file.

    mean: (C, 3, m, m) class means at layout resolution m.
    components: (C or 1, k, 3, r, r) principal directions scaled by sqrt(eigenvalue) (1 = shared by all classes).
    residual_std: (C or 1,) std of isotropic noise covering the variance the k components leave out.
    """
    tensors = {"mean": mean.half().contiguous(), "components": components.half().contiguous(),
               "residual_std": residual_std.float().contiguous()}
    save_file(tensors, str(path), metadata=metadata)


@lru_cache(maxsize=4)
def load_seeds(dataset: str) -> dict[str, torch.Tensor]:
    """The seed statistics of a dataset ("cifar10" | "imagenet") as float32 tensors."""
    path = seed_path(dataset)
    if not path.exists():
        raise FileNotFoundError(f"seed statistics for {dataset!r} are missing: {path} "
                                f"(regenerate them with scripts/fit_seeds.py)")
    return {k: v.float() for k, v in load_file(str(path)).items()}


def dataset_of(model) -> str:
    """The dataset a model (or a dataset name) draws its seeds from, by its spec or its number of classes."""
    if isinstance(model, str):
        if model not in DATASET_CLASSES:
            raise ValueError(f"unknown seed dataset {model!r}; available: {sorted(DATASET_CLASSES)}")
        return model
    spec = getattr(model, "spec", None)
    if spec is not None and spec.dataset in DATASET_CLASSES:
        return spec.dataset
    for name, count in DATASET_CLASSES.items():
        if model.num_classes == count:
            return name
    raise ValueError(f"no seed statistics for a model with {model.num_classes} classes; "
                     f"seeds exist for {', '.join(f'{k} ({v} classes)' for k, v in DATASET_CLASSES.items())}")


def _pick(t: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Per-sample rows of a per-class (C, ...) tensor, or the shared row of a (1, ...) tensor."""
    return t[classes] if t.shape[0] > 1 else t.expand(len(classes), *t.shape[1:])


def sample(dataset_or_model, classes: torch.Tensor, generator: torch.Generator | None = None,
           size: int | None = None) -> torch.Tensor:
    """Draw one seed image per entry of `classes` (B,) -> (B, 3, size, size) in [0,1], on the CPU.

    mean and components are upsampled (bilinear) to `size` (default: the model's input size); each sample
    is flipped horizontally with probability 1/2 (the classes are mirror-invariant).
    """
    dataset = dataset_of(dataset_or_model)
    size = size or getattr(dataset_or_model, "input_size", None) or DEFAULT_SIDE[dataset]
    classes = torch.as_tensor(classes, dtype=torch.long).flatten()
    if len(classes) and not 0 <= int(classes.min()) <= int(classes.max()) < DATASET_CLASSES[dataset]:
        raise ValueError(f"class indices must be in 0..{DATASET_CLASSES[dataset] - 1}, got {classes.tolist()}")
    stats = load_seeds(dataset)
    comps = _pick(stats["components"], classes)                    # (B, k, 3, r, r)
    b, k, _, r, _ = comps.shape
    z = torch.randn(b, k, generator=generator)
    detail = torch.einsum("bk,bkchw->bchw", z, comps)
    noise = torch.randn(b, 3, r, r, generator=generator)
    detail = detail + _pick(stats["residual_std"], classes).view(b, 1, 1, 1) * noise
    up = lambda t: F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)  # noqa: E731
    x = up(_pick(stats["mean"], classes)) + up(detail)
    flip = torch.rand(b, generator=generator) < 0.5
    x[flip] = x[flip].flip(3)
    return x.clamp(0.0, 1.0)
