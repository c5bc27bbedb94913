"""Labelled image sets as uint8 tensors: an image folder, a tar of one, or torchvision's CIFAR-10 download."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def cache_dir() -> Path:
    """Where decoded datasets and converted weights are cached ($ROBUST_SYNTH_CACHE or ~/.cache/robust_synth)."""
    path = Path(os.environ.get("ROBUST_SYNTH_CACHE", Path.home() / ".cache" / "robust_synth"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _decode(data: bytes, size: int) -> np.ndarray:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def _from_entries(entries, split: str, size: int):
    """entries: iterable of (relative path, bytes-loader). Layout <split>/<class>/<file>."""
    images, labels, names = [], [], {}
    rows = []
    for rel, load in entries:
        parts = Path(rel).parts
        if len(parts) < 3 or parts[-3] != split or not rel.lower().endswith(IMAGE_EXTENSIONS):
            continue
        rows.append((parts[-2], rel, load))
    if not rows:
        raise ValueError(f"no images found under a '{split}/<class>/' folder")
    classes = sorted({r[0] for r in rows})
    names = {c: i for i, c in enumerate(classes)}
    for cls, rel, load in sorted(rows, key=lambda r: r[1]):
        images.append(_decode(load(), size))
        labels.append(names[cls])
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels), classes


def _tar_entries(path: Path):
    with tarfile.open(path) as tar:
        for member in tar:
            if member.isfile():
                data = tar.extractfile(member).read()
                yield member.name, (lambda d=data: d)


def _folder_entries(root: Path):
    for p in sorted(root.rglob("*")):
        if p.is_file():
            yield str(p.relative_to(root)), p.read_bytes


def source_entries(path: Path):
    """(relative path, bytes loader) of every file of an image folder or a tar of one."""
    return _folder_entries(path) if path.is_dir() else _tar_entries(path)


def _torchvision_cifar10(split: str, root: Path):
    import torchvision
    ds = torchvision.datasets.CIFAR10(str(root), train=(split == "train"), download=True)
    x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(ds.targets), list(ds.classes)


def load_split(source: str, split: str, size: int = 32) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(images uint8 (N,3,H,W), labels (N,), class names) for `split` ("train"/"test") of `source`.

    source: a folder or .tar/.tar.gz holding <split>/<class>/<image>, or "torchvision:cifar10".
    Decoded arrays are cached, keyed by the source's path, size and mtime.
    """
    if source == "torchvision:cifar10":
        return _torchvision_cifar10(split, cache_dir() / "torchvision")
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {source}")
    key = hashlib.sha1(f"{path.resolve()}|{path.stat().st_mtime}|{split}|{size}".encode()).hexdigest()[:16]
    cached = cache_dir() / "datasets" / f"{key}.pt"
    if cached.exists():
        blob = torch.load(cached, weights_only=True)
        return blob["x"], blob["y"], blob["classes"]
    x, y, classes = _from_entries(source_entries(path), split, size)
    cached.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"x": x, "y": y, "classes": classes}, cached)
    return x, y, classes
