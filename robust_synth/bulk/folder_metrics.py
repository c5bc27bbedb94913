"""Evaluate a bulk output folder: an independent classifier's accuracy and Fréchet distance in its features.

The offline stand-ins for Inception Score and FID: a classifier other than the generator labels the images
(accuracy against the class each was made for) and embeds them (its penultimate layer); the Fréchet distance
between Gaussians fitted to those embeddings of the set and of a reference folder is FID's formula in that
classifier's feature space. With torchmetrics (and torch-fidelity) installed and the Inception weights cached,
FID itself is printed too.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
import webdataset
from PIL import Image

from ..image import fit_square, load_image, to_tensor
from ..models import REGISTRY, get_spec, load_model
from . import manifest
from .plan import class_folder, image_files

# An independent judge per dataset: the first of these that is not the generator (a different training run).
CLASSIFIERS = {"cifar10": ("cifar10-resnet-standard", "cifar10-resnet-l2-0.5"),
               "imagenet": ("imagenet-resnet50-standard", "imagenet-vgg19-standard")}
INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"  # what torch-fidelity (torchmetrics' FID) loads


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="output folder of a finished bulk run (with manifest.jsonl)")
    parser.add_argument("--reference", type=Path, required=True,
                        help="folder of real images (recursive); class subfolders also give their accuracy")
    parser.add_argument("--classifier", help="judge model (default: an independent one for the dataset)")
    parser.add_argument("--batch-size", type=int, default=256)


def choose_classifier(generator: str) -> str:
    """The default judge for images made by `generator`: its dataset's first listed model other than itself."""
    dataset = get_spec(generator).dataset
    choice = next((name for name in CLASSIFIERS.get(dataset, ()) if name != generator and name in REGISTRY), None)
    if choice is None:
        raise ValueError(f"no independent classifier is listed for {dataset!r}: pass --classifier")
    return choice


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) for Gaussians fitted to features a (N, D), b (M, D)."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"the Fréchet distance needs at least 2 images on each side, got {len(a)} and {len(b)}")
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu, s_a, s_b = a.mean(0) - b.mean(0), np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():  # singular with fewer images than dimensions: evaluate() says so instead
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(s_a @ s_b)
        if not np.isfinite(root).all():  # the usual small offset when the product has no finite root
            offset = np.eye(len(s_a)) * 1e-6
            root = scipy.linalg.sqrtm((s_a + offset) @ (s_b + offset))
    return float(mu @ mu + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(root.real))


def _run_images(out: Path, entries: list[dict]) -> list[Image.Image]:
    """The first image of every manifest entry: its PNG, or its member of a tar shard (read with webdataset)."""
    if not entries:
        raise ValueError(f"the manifest of {str(out)!r} lists no images")
    if "member" not in entries[0]:
        return [load_image(out / e["file"]) for e in entries]
    shards = sorted({e["file"] for e in entries})
    samples = {s["__key__"]: s["png"] for s in webdataset.WebDataset([str(out / s) for s in shards],
                                                                    shardshuffle=False, empty_check=False)}
    return [load_image(Image.open(io.BytesIO(samples[e["member"]]))) for e in entries]


def _reference(folder: Path, class_names: list[str]) -> tuple[list[Path], list[int | None]]:
    """Reference files and, where the parent folder names a class ('cat' or '003-cat'), its index."""
    names = {n.lower(): i for i, n in enumerate(class_names)}
    names.update({class_folder(i, n, len(class_names)).lower(): i for i, n in enumerate(class_names)})
    files = image_files(folder)
    return files, [names.get(p.parent.name.lower()) if p.parent != folder else None for p in files]


@torch.no_grad()
def _judge(model, images, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(predicted classes (N,), penultimate features (N, D)) of PIL images, fitted to the model's square."""
    device, preds, feats = model.mean.device, [], []
    for a in range(0, len(images), batch_size):
        x = torch.cat([to_tensor(fit_square(im, model.input_size)) for im in images[a:a + batch_size]])
        out = model(x.to(device), layers=("rep",))
        preds.append(out.logits.argmax(1).cpu())
        feats.append(out["rep"].flatten(1).float().cpu())
    return torch.cat(preds).numpy(), torch.cat(feats).numpy()


def fid_status() -> str | None:
    """Why FID cannot be computed here (a sentence), or None when torchmetrics and the Inception weights are there."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS
    if not path.exists():
        return (f"FID skipped: the Inception weights ({INCEPTION_WEIGHTS}) are not cached in {path.parent}; "
                "download them once on a machine with a network (torch-fidelity fetches them on first use)")
    try:
        import torchmetrics.image.fid  # noqa: F401
    except ImportError:
        return "FID skipped: torchmetrics is not installed (pip install 'torchmetrics[image]')"
    return None


def _fid(images, reference) -> float:
    """FID with torchmetrics (torch-fidelity's Inception), images resized to Inception's 299 px."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    fid = FrechetInceptionDistance(feature=2048)
    for group, real in ((reference, True), (images, False)):
        for a in range(0, len(group), 64):
            fid.update(torch.stack([torch.from_numpy(np.asarray(im.resize((299, 299), Image.BICUBIC))).permute(2, 0, 1)
                                    for im in group[a:a + 64]]), real=real)
    return float(fid.compute())


def evaluate(out: Path, reference: Path, classifier: str | None = None, batch_size: int = 256) -> dict:
    """Metrics of a finished bulk run against a reference folder (see the module docstring)."""
    entries = manifest.read(out)
    generator = entries[0]["model"] if entries else None
    name = classifier or choose_classifier(generator)
    model = load_model(name, "cuda" if torch.cuda.is_available() else "cpu")
    images = _run_images(Path(out), entries)
    ref_files, ref_labels = _reference(reference, model.class_names)
    ref_images = [load_image(p) for p in ref_files]
    preds, feats = _judge(model, images, batch_size)
    ref_preds, ref_feats = _judge(model, ref_images, batch_size)
    labelled = [(p, e["class"]) for p, e in zip(preds, entries) if isinstance(e.get("class"), int)]
    ref_labelled = [(p, y) for p, y in zip(ref_preds, ref_labels) if y is not None]
    result = {"classifier": name, "generator": generator, "images": len(images), "reference_images": len(ref_images),
              "accuracy": float(np.mean([p == y for p, y in labelled])) if labelled else None,
              "reference_accuracy": float(np.mean([p == y for p, y in ref_labelled])) if ref_labelled else None,
              "frechet_distance": frechet_distance(feats, ref_feats), "feature_dim": int(feats.shape[1])}
    if min(len(feats), len(ref_feats)) <= feats.shape[1]:
        result["frechet_note"] = (f"fewer images than feature dimensions ({feats.shape[1]}): the covariances are "
                                  "singular and the distance is biased; compare runs of equal size only")
    reason = fid_status()
    result["fid"] = _fid(images, ref_images) if reason is None else None
    result["fid_note"] = reason
    return result


def run_from_args(args: dict) -> int:
    try:
        result = evaluate(args["dir"], args["reference"], args.get("classifier"), args.get("batch_size") or 256)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    acc = "n/a" if result["accuracy"] is None else f"{100 * result['accuracy']:.1f} %"
    ref = "" if result["reference_accuracy"] is None else f" (reference: {100 * result['reference_accuracy']:.1f} %)"
    print(f"{result['images']} images by {result['generator']}, judged by {result['classifier']}: accuracy {acc}{ref}")
    print(f"Fréchet distance in {result['classifier']} features ({result['feature_dim']}-d) vs "
          f"{result['reference_images']} reference images: {result['frechet_distance']:.3f}"
          + (f" ({result['frechet_note']})" if "frechet_note" in result else ""))
    print(f"FID: {result['fid']:.3f}" if result["fid"] is not None else result["fid_note"])
    print(json.dumps(result))
    return 0
