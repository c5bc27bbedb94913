"""Quality benchmark (issues 3 and 12): the embedded robust vs standard CIFAR-10 model, same code, same seeds.

    python benchmarks/quality.py                       # full run on the embedded weights (~1 h on 2 CPU cores)
    python benchmarks/quality.py --quick               # smoke test: a few images, 3 steps, a judge trained on a subset
    python benchmarks/quality.py --judge PATH.safetensors  # reuse a judge (arch cifar_convnet) instead of training one
    python benchmarks/quality.py --sections sr photo_sr photo_inpainting  # only the results at the user's resolution

Super-resolution (2x and 4x) and full-resolution inpainting are scored with scikit-image's peak_signal_noise_ratio
and structural_similarity against the original: on CIFAR-10 test images (32 px, shrunk by the factor with Pillow's
bicubic, then enlarged back) and on scikit-image's sample photos (resized to a long side of 128-512 px, shrunk and
enlarged the same way; inpainting: holes drawn on them, ours vs OpenCV's Telea, and a check that no pixel outside
the mask and its feather changed). Every section prints the seconds it took.

Generation is judged by a third classifier (arch cifar_convnet, seed 1: neither of the two models), trained once with
robust_synth.train and cached. A plain judge is fooled by transferable non-robust features, so it also judges a
low-pass "squash" of each image (average-pool 4x, bilinear upsample, Gaussian noise std 0.02): only what survives
the squash counts. Sample grids go to docs/. Data: CIFAR-10 (../shared/data/cifar10-jpeg.tar.gz by default).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import skimage.data
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from scipy import ndimage
from safetensors.torch import load_file
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torchvision.utils import save_image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import robust_synth as rs  # noqa: E402
from robust_synth.architectures import build  # noqa: E402
from robust_synth.datasets import cache_dir, load_split  # noqa: E402
from robust_synth.features import RobustModel  # noqa: E402
from robust_synth.models import CIFAR10_CLASSES  # noqa: E402
from robust_synth.image import to_pil, to_tensor  # noqa: E402
from robust_synth.tasks.metrics import psnr  # noqa: E402
from robust_synth.tasks.inpainting import fill_with_mean  # noqa: E402
from robust_synth.tasks.regions import FEATHER_PX  # noqa: E402
from robust_synth.tasks.super_resolution import START_ROUNDS, back_project, upsample  # noqa: E402
from robust_synth.train import CIFAR_MEAN, CIFAR_STD, TrainConfig, train  # noqa: E402

MODELS = {"robust": "cifar10-resnet-l2-0.5", "standard": "cifar10-resnet-standard"}
SECTIONS = ("generation", "sr", "inpainting", "translation", "photo_sr", "photo_inpainting")
SR_FACTORS = (2, 4)
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")  # scikit-image's colour sample photos
JUDGE_ARCH, JUDGE_SEED = "cifar_convnet", 1
HOLE = 10          # inpainting hole side in pixels (issue 3)
SQUASH_NOISE = 0.02


@dataclass(frozen=True)
class Sizes:
    per_class: int          # generated images per class
    sr: int                 # test images for 2x and 4x super-resolution
    inpaint: int            # test images for inpainting (720 steps each by default)
    translate: int          # test images for translation
    steps: int | None       # None: every task's own default
    judge_epochs: int
    judge_per_class: int | None  # None: the whole training set
    photo_sides: tuple = (128, 256)   # long sides of the photos for super-resolution (each photo at each side)
    photo_inpaint_side: int = 512     # long side of the photos for inpainting


FULL = Sizes(per_class=10, sr=200, inpaint=50, translate=100, steps=None, judge_epochs=6, judge_per_class=None)
QUICK = Sizes(per_class=2, sr=4, inpaint=2, translate=4, steps=3, judge_epochs=1, judge_per_class=20,
              photo_sides=(64,), photo_inpaint_side=96)


def squash(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Average-pool 4x, upsample back (bilinear), add a little Gaussian noise: keeps only coarse, robust content."""
    low = F.interpolate(F.avg_pool2d(x, 4), size=x.shape[-2:], mode="bilinear", align_corners=False)
    return (low + SQUASH_NOISE * torch.randn(x.shape, generator=generator).to(x.device)).clamp(0, 1)


def _write_subset(data: str, per_class: int, folder: Path) -> None:
    """A small train/<class>/<i>.png folder for a quick judge."""
    x, y, classes = load_split(data, "train")
    for c, name in enumerate(classes):
        (folder / "train" / name).mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(x[y == c][:per_class]):
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / "train" / name / f"{i}.png")


def load_judge(path: Path, device) -> RobustModel:
    net, nodes = build(JUDGE_ARCH, 10)
    net.load_state_dict(load_file(str(path)))
    return RobustModel(net, CIFAR_MEAN, CIFAR_STD, nodes, name="judge", class_names=CIFAR10_CLASSES,
                       input_size=32).to(device)


def get_judge(args, sizes: Sizes, device) -> RobustModel:
    """The given judge, else the cached one, else train it now (robust_synth.train, standard training)."""
    if args.judge:
        return load_judge(Path(args.judge), device)
    name = f"cifar10-{JUDGE_ARCH}-s{JUDGE_SEED}-e{sizes.judge_epochs}-n{sizes.judge_per_class or 'all'}"
    stem = cache_dir() / "judges" / name
    if not stem.with_suffix(".safetensors").exists():
        print(f"training the judge ({JUDGE_ARCH}, seed {JUDGE_SEED}, {sizes.judge_epochs} epochs) -> {stem}",
              flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            data = args.data
            if sizes.judge_per_class:
                _write_subset(args.data, sizes.judge_per_class, Path(tmp))
                data = tmp
            train(TrainConfig(data=data, out=str(stem), name="cifar10-judge", arch=JUDGE_ARCH, eps=0.0,
                              epochs=sizes.judge_epochs, seed=JUDGE_SEED))
    return load_judge(stem.with_suffix(".safetensors"), device)


@torch.no_grad()
def judge_hits(judge: RobustModel, x: torch.Tensor, targets: torch.Tensor, squashed: bool) -> float:
    x = x.to(judge.mean.device)
    if squashed:
        x = squash(x, torch.Generator().manual_seed(0))
    return float((judge.classify(x).argmax(1).cpu() == targets).float().mean())


def test_subset(x: torch.Tensor, y: torch.Tensor, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:count]
    return x[idx].float() / 255, y[idx]


def bench_generation(name: str, judge, sizes: Sizes, docs: Path, label: str) -> dict:
    images, targets, hits = [], [], []
    for c in range(10):
        samples, recipe = rs.generate(name, c, n=sizes.per_class, seed=c, steps=sizes.steps)
        x = samples.tensor
        images.append(x)
        targets += [c] * len(x)
        hits.append(recipe["metrics"]["target_hit_rate"])
    x, y = torch.cat(images), torch.tensor(targets)
    docs.mkdir(parents=True, exist_ok=True)
    grid = docs / f"quality-generation-{label}.png"
    save_image(F.interpolate(x, scale_factor=2, mode="nearest"), grid, nrow=sizes.per_class, padding=2)
    return {"gen_judge_squashed": judge_hits(judge, x, y, True), "gen_judge_raw": judge_hits(judge, x, y, False),
            "gen_model_hit": float(np.mean(hits)),
            "grid": str(grid.relative_to(ROOT) if grid.is_relative_to(ROOT) else grid)}


def as_array(image) -> np.ndarray:
    """(H, W, 3) float in [0, 1] from a PIL image or a (1, 3, H, W) / (3, H, W) tensor (quantised to 8 bits first)."""
    return np.asarray(image if isinstance(image, Image.Image) else to_pil(image), dtype=np.float64) / 255


def scores(image, reference) -> tuple[float, float]:
    """(PSNR dB, SSIM) of image against reference, scikit-image's functions, data range 1."""
    a, r = as_array(image), as_array(reference)
    return (peak_signal_noise_ratio(r, a, data_range=1.0),
            structural_similarity(r, a, data_range=1.0, channel_axis=2, win_size=min(7, *r.shape[:2]) // 2 * 2 + 1))


def shrink(image: Image.Image, factor: int) -> Image.Image:
    """The low-resolution input: width and height divided by factor, Pillow's bicubic (antialiased)."""
    return image.resize((image.width // factor, image.height // factor), Image.Resampling.BICUBIC)


def sr_rows(name: str, original: Image.Image, factor: int, steps) -> dict:
    """PSNR/SSIM of ours (defaults), bicubic and the back-projected start for one image at one factor."""
    low = shrink(original, factor)
    images = rs.super_resolve(name, low, factor=factor, steps=steps)[0]
    low_t, size = to_tensor(low), (original.height, original.width)
    bicubic = upsample(low_t, size, "bicubic")
    rows = {"ours": scores(images[0], original), "bicubic": scores(bicubic, original),
            "start": scores(back_project(bicubic, low_t, START_ROUNDS), original)}
    if factor == 4:
        paper = rs.super_resolve(name, low, factor=4, method="nearest", consistent=False, steps=steps)[0]
        rows.update(paper=scores(paper[0], original), nearest=scores(upsample(low_t, size, "nearest"), original))
    return rows


def mean_rows(rows: list[dict], prefix: str) -> dict:
    """{prefix}_{kind}_{psnr|ssim}: means over images."""
    return {f"{prefix}_{kind}_{metric}": float(np.mean([r[kind][i] for r in rows]))
            for kind in rows[0] for i, metric in enumerate(("psnr", "ssim"))}


def bench_super_resolution(name: str, x: torch.Tensor, sizes: Sizes) -> dict:
    """CIFAR-10 test images at 32 px: shrunk 2x / 4x, enlarged back by super_resolve (defaults; 4x also the paper's)."""
    results = {}
    for factor in SR_FACTORS:
        rows = [sr_rows(name, to_pil(img), factor, sizes.steps) for img in x]
        results.update(mean_rows(rows, f"sr{factor}"))
    return results


def photo(name: str, long_side: int) -> Image.Image:
    """A scikit-image sample photo resized (Lanczos) to long_side, cropped to a multiple of 4 px each way."""
    img = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    scale = long_side / max(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    return img.crop((0, 0, img.width // 4 * 4, img.height // 4 * 4))


def bench_photo_super_resolution(name: str, sizes: Sizes) -> dict:
    """The sample photos at each long side, 2x and 4x: windows over the whole photo."""
    results = {}
    for factor in SR_FACTORS:
        rows = [sr_rows(name, photo(p, side), factor, sizes.steps) for p in PHOTOS for side in sizes.photo_sides]
        results.update(mean_rows([{k: v for k, v in r.items() if k in ("ours", "bicubic", "start")} for r in rows],
                                 f"photo_sr{factor}"))
    return results


def drawn_mask(width: int, height: int) -> np.ndarray:
    """Two separate holes: an ellipse on the left and a thick stroke on the right (about 8% of the photo)."""
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    draw.ellipse((0.18 * width, 0.3 * height, 0.42 * width, 0.55 * height), fill=255)
    draw.line((0.6 * width, 0.2 * height, 0.82 * width, 0.75 * height), fill=255, width=max(2, round(0.05 * height)))
    return np.asarray(mask) > 127


def telea(original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import cv2
    bgr = np.ascontiguousarray(original[:, :, ::-1])
    return cv2.inpaint(bgr, mask.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)[:, :, ::-1].copy()


def bench_photo_inpainting(name: str, sizes: Sizes) -> dict:
    """Holes drawn on the sample photos, filled at full resolution: hole PSNR (ours, Telea), pixels changed outside."""
    ours, baseline, outside, feather_changed = [], [], 0, []
    for p in PHOTOS:
        original = np.asarray(photo(p, sizes.photo_inpaint_side))
        mask = drawn_mask(original.shape[1], original.shape[0])
        out = np.asarray(rs.inpaint(name, original, mask, steps=sizes.steps)[0][0])
        far = ndimage.distance_transform_edt(~mask) > FEATHER_PX
        outside += int((out[far] != original[far]).any(-1).sum())
        band = ~far & ~mask
        feather_changed.append(float((out[band] != original[band]).any(-1).mean()))
        ours.append(peak_signal_noise_ratio(original[mask], out[mask], data_range=255))
        baseline.append(peak_signal_noise_ratio(original[mask], telea(original, mask)[mask], data_range=255))
    return {"photo_inpaint_psnr_hole": float(np.mean(ours)), "photo_inpaint_psnr_hole_telea": float(np.mean(baseline)),
            "photo_inpaint_changed_outside": outside, "photo_inpaint_feather_changed": float(np.mean(feather_changed))}


def holes(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(count):
        top, left = rng.integers(0, 32 - HOLE + 1, size=2)
        m = np.zeros((32, 32), dtype=bool)
        m[top:top + HOLE, left:left + HOLE] = True
        masks.append(m)
    return masks


def hole_psnr(x: torch.Tensor, reference: torch.Tensor, mask: np.ndarray) -> float:
    m = torch.from_numpy(mask)
    return psnr(x[:, m][None], reference[:, m][None])


def bench_inpainting(name: str, x: torch.Tensor, masks: list[np.ndarray], sizes: Sizes) -> dict:
    scores = [hole_psnr(rs.inpaint(name, img, m, steps=sizes.steps)[0].tensor[0], img, m)
              for img, m in zip(x, masks)]
    return {"inpaint_psnr_hole": float(np.mean(scores))}


def inpainting_baselines(x: torch.Tensor, masks: list[np.ndarray]) -> dict:
    import cv2
    mean_fill, telea = [], []
    for img, m in zip(x, masks):
        mean_fill.append(hole_psnr(fill_with_mean(img[None], torch.from_numpy(m)[None, None].float())[0], img, m))
        bgr = np.ascontiguousarray((img.permute(1, 2, 0).numpy()[:, :, ::-1] * 255).round().astype(np.uint8))
        filled = cv2.inpaint(bgr, m.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)[:, :, ::-1].copy()
        telea.append(hole_psnr(torch.from_numpy(filled).permute(2, 0, 1).float() / 255, img, m))
    return {"inpaint_psnr_hole_mean_fill": float(np.mean(mean_fill)), "inpaint_psnr_hole_telea": float(np.mean(telea))}


def bench_translation(name: str, judge, x: torch.Tensor, y: torch.Tensor, sizes: Sizes) -> dict:
    targets = (y + torch.randint(1, 10, y.shape, generator=torch.Generator().manual_seed(0))) % 10
    outs, changes, hits = [], [], []
    for img, t in zip(x, targets):
        images, recipe = rs.translate(name, img, int(t), steps=sizes.steps)
        out = images.tensor
        outs.append(out)
        changes.append(recipe["metrics"]["l2_change"])
        hits.append(recipe["metrics"]["target_hit"])
    out = torch.cat(outs)
    return {"tr_judge_squashed": judge_hits(judge, out, targets, True),
            "tr_judge_raw": judge_hits(judge, out, targets, False),
            "tr_model_hit": float(np.mean(hits)), "tr_l2_change": float(np.mean(changes))}


def _sr_rows(prefix: str, what: str) -> list:
    rows = []
    for factor in SR_FACTORS:
        for metric, fmt in (("psnr", "{:.2f}"), ("ssim", "{:.4f}")):
            key = f"{prefix}{factor}_%s_{metric}"
            rows += [(key % "ours", f"super-resolution {factor}x, {what}: {metric.upper()}, bicubic last", fmt,
                      key % "bicubic"),
                     (key % "start", f"super-resolution {factor}x, {what}: {metric.upper()} of the back-projected "
                      "start (before the model)", fmt, None)]
    return rows


ROWS = {  # section -> [(key, label, format, baseline key or None)]
    "generation": [("gen_judge_squashed", "generation: judge accuracy on squashed samples", "{:.1%}", None),
                   ("gen_judge_raw", "generation: judge accuracy on raw samples", "{:.1%}", None),
                   ("gen_model_hit", "generation: the model's own accuracy on its samples", "{:.1%}", None)],
    "sr": _sr_rows("sr", "CIFAR-10 32 px") + [
        ("sr4_paper_psnr", "super-resolution 4x, CIFAR-10, paper's protocol (nearest, plain PGD): PSNR, nearest last",
         "{:.2f}", "sr4_nearest_psnr")],
    "inpainting": [("inpaint_psnr_hole", "inpainting 10x10: PSNR in the hole (dB), mean fill / Telea last", "{:.2f}",
                    "inpaint_psnr_hole_baselines")],
    "translation": [("tr_judge_squashed", "translation: judge share of target, squashed", "{:.1%}", None),
                    ("tr_judge_raw", "translation: judge share of target, raw", "{:.1%}", None),
                    ("tr_model_hit", "translation: the model's own share of target", "{:.1%}", None),
                    ("tr_l2_change", "translation: mean L2 change", "{:.2f}", None)],
    "photo_sr": _sr_rows("photo_sr", "sample photos"),
    "photo_inpainting": [
        ("photo_inpaint_psnr_hole", "inpainting drawn holes on photos, full resolution: PSNR in the holes (dB), "
         "Telea last", "{:.2f}", "photo_inpaint_psnr_hole_telea"),
        ("photo_inpaint_changed_outside", "inpainting photos: pixels changed outside mask + feather", "{}", None),
        ("photo_inpaint_feather_changed", "inpainting photos: share of the feather band changed", "{:.1%}", None)],
}


def print_table(results: dict, sections, judge_ref: dict | None) -> None:
    labels = list(results)
    print(f"\n| metric | {' | '.join(labels)} | baseline |\n|---{'|---' * len(labels)}|---|")
    first = results[labels[0]]
    for section in sections:
        for key, label, fmt, base in ROWS[section]:
            values = " | ".join(fmt.format(results[m][key]) for m in labels)
            baseline = first.get(base, "") if base else ""
            baseline = fmt.format(baseline) if isinstance(baseline, float) else baseline
            print(f"| {label} | {values} | {baseline} |")
        seconds = " | ".join(f"{results[m][section + '_s']:.0f}" for m in labels)
        print(f"| {section}: seconds | {seconds} | |")
    if judge_ref:
        print(f"\njudge ({JUDGE_ARCH}) on CIFAR-10 test images: {judge_ref['clean']:.1%} clean, "
              f"{judge_ref['squashed']:.1%} squashed")


def timed(section: str, fn, *args) -> dict:
    started = time.perf_counter()
    out = fn(*args)
    return {**out, f"{section}_s": time.perf_counter() - started}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"))
    parser.add_argument("--quick", action="store_true", help="a few images and 3 steps: checks the pipeline only")
    parser.add_argument("--judge",
                        help="a trained judge (.safetensors, arch cifar_convnet); default: cached or trained")
    parser.add_argument("--docs", type=Path, default=None,
                        help="where the sample grids go (default docs/, quick: results/)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="what to measure")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--sr", type=int, help="CIFAR-10 test images for super-resolution (default: the run's size)")
    parser.add_argument("--photo-sides", type=int, nargs="+", help="long sides of the photos for super-resolution")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    sizes = replace(sizes, **({"sr": args.sr} if args.sr else {}),
                    **({"photo_sides": tuple(args.photo_sides)} if args.photo_sides else {}))
    docs = args.docs or (ROOT / ("results/quality-quick" if args.quick else "docs"))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    started, sections = time.perf_counter(), [s for s in SECTIONS if s in args.sections]
    judged = {"generation", "translation"} & set(sections)
    judge = get_judge(args, sizes, device) if judged else None
    judge_ref = None
    if {"generation", "sr", "inpainting", "translation"} & set(sections):
        test_x, test_y, _ = load_split(args.data, "test")
        if judge is not None:
            judge_ref = {"clean": judge_hits(judge, test_x.float() / 255, test_y, False),
                         "squashed": judge_hits(judge, test_x.float() / 255, test_y, True)}
        sr_x, _ = test_subset(test_x, test_y, sizes.sr, seed=1)
        in_x, _ = test_subset(test_x, test_y, sizes.inpaint, seed=2)
        tr_x, tr_y = test_subset(test_x, test_y, sizes.translate, seed=3)
        masks = holes(len(in_x))
    results = {}
    for label in args.models:
        name = MODELS[label]
        runs = {"generation": lambda: bench_generation(name, judge, sizes, docs, label),
                "sr": lambda: bench_super_resolution(name, sr_x, sizes),
                "inpainting": lambda: bench_inpainting(name, in_x, masks, sizes),
                "translation": lambda: bench_translation(name, judge, tr_x, tr_y, sizes),
                "photo_sr": lambda: bench_photo_super_resolution(name, sizes),
                "photo_inpainting": lambda: bench_photo_inpainting(name, sizes)}
        results[label] = {}
        for section in sections:
            results[label].update(timed(section, runs[section]))
            print(f"{label} {section}: done at {time.perf_counter() - started:.0f} s", flush=True)
    if "inpainting" in sections:
        base = inpainting_baselines(in_x, masks)
        results[args.models[0]]["inpaint_psnr_hole_baselines"] = \
            f"{base['inpaint_psnr_hole_mean_fill']:.2f} / {base['inpaint_psnr_hole_telea']:.2f}"
    print_table(results, sections, judge_ref)
    print(f"\n{sizes}; photos {PHOTOS}; {time.perf_counter() - started:.0f} s on {device}")
    if args.json:
        args.json.write_text(json.dumps({"sizes": sizes.__dict__, "judge": judge_ref, **results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
