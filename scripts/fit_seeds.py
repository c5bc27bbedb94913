"""Fit the class-conditional seed distributions in weights/seeds-<dataset>.safetensors.

CIFAR-10: for each class, the mean and the top-k principal components of its training images
downsampled to 16×16 (a low-pass prior: PGD adds the detail), as in the class-conditional
Gaussian seeds of Santurkar et al. 2019.

ImageNet: the only data at hand is ONE photo per class (imagenet-samples-128/<index>_<wnid>_<name>.jpg).
Each class keeps only a coarse colour layout: the photo averaged down to 8×8 pixels, i.e. 64 colour
blobs, from which no photo can be recognised. Within-class variation is a covariance SHARED by all
1000 classes: the top-k principal components of the photos' high-pass residuals at 32×32 (each photo
minus its own upsampled 8×8 layout), so no component belongs to one image. Only these statistics are
written; no image is.

    python scripts/fit_seeds.py cifar10 --data ../shared/data/cifar10-jpeg.tar.gz
    python scripts/fit_seeds.py imagenet --data ../shared/data/imagenet-samples-128.tar.gz
"""
from __future__ import annotations

import argparse
import io
import re
import sys
import tarfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from robust_synth.datasets import load_split  # noqa: E402
from robust_synth.seeds import save_seeds, seed_path  # noqa: E402

IMAGENET_NAME = re.compile(r"(\d{4})_n\d+_.*\.(jpe?g|png)$", re.IGNORECASE)


def principal_components(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x: (N, D) centred rows -> (k, D) directions scaled by sqrt(eigenvalue), and the residual per-dim std."""
    _, s, vh = torch.linalg.svd(x.double(), full_matrices=False)
    eig = s ** 2 / max(1, x.shape[0] - 1)
    k = min(k, len(eig))
    residual_var = eig[k:].sum() / x.shape[1]
    return (vh[:k] * eig[:k].sqrt()[:, None]).float(), residual_var.sqrt().float()


def fit_cifar10(data: str, side: int, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images, labels, classes = load_split(data, "train")
    x = F.interpolate(images.float() / 255, size=(side, side), mode="area")
    means, comps, stds = [], [], []
    for c in range(len(classes)):
        xc = x[labels == c].flatten(1)
        mean = xc.mean(0)
        directions, residual_std = principal_components(xc - mean, k)
        means.append(mean.view(3, side, side))
        comps.append(directions.view(-1, 3, side, side))
        stds.append(residual_std)
        print(f"{classes[c]}: {len(xc)} images, residual std {residual_std:.4f}")
    return torch.stack(means), torch.stack(comps), torch.stack(stds)


def read_imagenet_samples(path: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The flat tar of one 128×128 photo per class -> images (N, 3, 128, 128) in [0,1] and class indices (N,)."""
    images, indices = [], []
    with tarfile.open(path) as tar:
        for member in tar:
            match = IMAGENET_NAME.search(Path(member.name).name) if member.isfile() else None
            if match:
                img = Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB").resize((128, 128))
                images.append(torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1))
                indices.append(int(match.group(1)))
    if not images:
        raise ValueError(f"no <index>_<wnid>_<name>.jpg images found in {path}")
    return torch.stack(images), torch.tensor(indices)


def fit_imagenet(data: str, layout: int, detail: int, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images, indices = read_imagenet_samples(data)
    if sorted(indices.tolist()) != list(range(1000)):
        raise ValueError(f"expected one image for each of the 1000 classes, got {len(set(indices.tolist()))} classes")
    small = F.interpolate(images, size=(detail, detail), mode="area")
    layouts = F.interpolate(small, size=(layout, layout), mode="area")
    residual = small - F.interpolate(layouts, size=(detail, detail), mode="bilinear", align_corners=False)
    directions, residual_std = principal_components(residual.flatten(1) - residual.flatten(1).mean(0), k)
    mean = torch.zeros(1000, 3, layout, layout)
    mean[indices] = layouts
    print(f"{len(images)} classes, layout {layout}x{layout}, shared residual std {residual_std:.4f}")
    return mean, directions.view(1, -1, 3, detail, detail), residual_std.view(1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=["cifar10", "imagenet"])
    parser.add_argument("--data", required=True, help="cifar10-jpeg.tar.gz or imagenet-samples-128.tar.gz")
    parser.add_argument("--k", type=int, default=32, help="principal components kept")
    parser.add_argument("--out", type=Path, default=None, help="default: weights/seeds-<dataset>.safetensors")
    args = parser.parse_args(argv)
    out = args.out or seed_path(args.dataset)
    if args.dataset == "cifar10":
        mean, comps, stds = fit_cifar10(args.data, side=16, k=args.k)
        note = f"per-class mean and top-{args.k} principal components of CIFAR-10 training images at 16x16"
    else:
        mean, comps, stds = fit_imagenet(args.data, layout=8, detail=32, k=args.k)
        note = (f"per-class 8x8 colour layout; top-{args.k} components of 32x32 high-pass residuals shared by all "
                "classes")
    save_seeds(out, mean, comps, stds, {"dataset": args.dataset, "description": note,
                                        "command": "python scripts/fit_seeds.py " + " ".join(argv or sys.argv[1:])})
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
