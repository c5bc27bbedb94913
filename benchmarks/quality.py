"""Quality benchmark (issue 3): the embedded robust vs standard CIFAR-10 model, same code, same seeds.

    python benchmarks/quality.py                       # full run on the embedded weights (~15-30 min on 2 CPU cores)
    python benchmarks/quality.py --quick               # smoke test: a few images, 3 steps, a judge trained on a subset
    python benchmarks/quality.py --judge PATH.safetensors  # reuse a judge (arch cifar_convnet) instead of training one

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from torchvision.utils import save_image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import robust_synth as rs  # noqa: E402
from robust_synth.architectures import build  # noqa: E402
from robust_synth.datasets import cache_dir, load_split  # noqa: E402
from robust_synth.features import RobustModel  # noqa: E402
from robust_synth.models import CIFAR10_CLASSES  # noqa: E402
from robust_synth.tasks.common import psnr  # noqa: E402
from robust_synth.tasks.inpainting import fill_with_mean  # noqa: E402
from robust_synth.train import CIFAR_MEAN, CIFAR_STD, TrainConfig, train  # noqa: E402

MODELS = {"robust": "cifar10-resnet-l2-0.5", "standard": "cifar10-resnet-standard"}
JUDGE_ARCH, JUDGE_SEED = "cifar_convnet", 1
HOLE = 10          # inpainting hole side in pixels (issue 3)
SQUASH_NOISE = 0.02


@dataclass(frozen=True)
class Sizes:
    per_class: int          # generated images per class
    sr: int                 # test images for 4x super-resolution
    inpaint: int            # test images for inpainting (720 steps each by default)
    translate: int          # test images for translation
    steps: int | None       # None: every task's own default
    judge_epochs: int
    judge_per_class: int | None  # None: the whole training set


FULL = Sizes(per_class=10, sr=200, inpaint=50, translate=100, steps=None, judge_epochs=6, judge_per_class=None)
QUICK = Sizes(per_class=2, sr=4, inpaint=2, translate=4, steps=3, judge_epochs=1, judge_per_class=20)


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
    stem = cache_dir() / "judges" / f"cifar10-{JUDGE_ARCH}-s{JUDGE_SEED}-e{sizes.judge_epochs}-n{sizes.judge_per_class or 'all'}"
    if not stem.with_suffix(".safetensors").exists():
        print(f"training the judge ({JUDGE_ARCH}, seed {JUDGE_SEED}, {sizes.judge_epochs} epochs) -> {stem}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            data = args.data
            if sizes.judge_per_class:
                _write_subset(args.data, sizes.judge_per_class, Path(tmp))
                data = tmp
            train(TrainConfig(data=data, out=str(stem), name="cifar10-judge", arch=JUDGE_ARCH, eps=0.0,
                              epochs=sizes.judge_epochs, seed=JUDGE_SEED, lr=0.1))
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
        _, recipe, x = rs.generate(name, c, n=sizes.per_class, seed=c, steps=sizes.steps, return_tensors=True)
        images.append(x)
        targets += [c] * len(x)
        hits.append(recipe["metrics"]["target_hit_rate"])
    x, y = torch.cat(images), torch.tensor(targets)
    docs.mkdir(parents=True, exist_ok=True)
    grid = docs / f"quality-generation-{label}.png"
    save_image(F.interpolate(x, scale_factor=2, mode="nearest"), grid, nrow=sizes.per_class, padding=2)
    return {"gen_judge_squashed": judge_hits(judge, x, y, True), "gen_judge_raw": judge_hits(judge, x, y, False),
            "gen_model_hit": float(np.mean(hits)), "grid": str(grid.relative_to(ROOT) if grid.is_relative_to(ROOT) else grid)}


def bench_super_resolution(name: str, x: torch.Tensor, sizes: Sizes) -> dict:
    """Ours (defaults: bicubic + back-projection start, consistent PGD) and the paper's (nearest, plain PGD)."""
    rows = {"ours": [], "start": [], "bicubic": [], "paper": [], "nearest": []}
    for img in x:
        metrics = rs.super_resolve(name, img, factor=4, reference=img, steps=sizes.steps)[1]["metrics"]
        paper = rs.super_resolve(name, img, factor=4, method="nearest", consistent=False, reference=img,
                                 steps=sizes.steps)[1]["metrics"]
        for key, value in (("ours", metrics["psnr_ours"]), ("start", metrics["psnr_start"]),
                           ("bicubic", metrics["psnr_bicubic"]), ("paper", paper["psnr_ours"]),
                           ("nearest", paper["psnr_start"])):
            rows[key].append(value)
    return {f"sr_psnr_{key}": float(np.mean(values)) for key, values in rows.items()}


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
    scores = [hole_psnr(rs.inpaint(name, img, m, steps=sizes.steps, return_tensors=True)[2][0], img, m)
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
        _, recipe, out = rs.translate(name, img, int(t), steps=sizes.steps, return_tensors=True)
        outs.append(out)
        changes.append(recipe["metrics"]["l2_change"])
        hits.append(recipe["metrics"]["target_hit"])
    out = torch.cat(outs)
    return {"tr_judge_squashed": judge_hits(judge, out, targets, True), "tr_judge_raw": judge_hits(judge, out, targets, False),
            "tr_model_hit": float(np.mean(hits)), "tr_l2_change": float(np.mean(changes))}


ROWS = [  # (key, label, format)
    ("gen_judge_squashed", "generation: judge accuracy on squashed samples", "{:.1%}"),
    ("gen_judge_raw", "generation: judge accuracy on raw samples", "{:.1%}"),
    ("gen_model_hit", "generation: the model's own accuracy on its samples", "{:.1%}"),
    ("sr_psnr_ours", "super-resolution 4x: PSNR (dB), bicubic in the last column", "{:.2f}"),
    ("sr_psnr_start", "super-resolution 4x: its back-projected start, before the model (dB)", "{:.2f}"),
    ("sr_psnr_paper", "super-resolution 4x, paper's protocol (nearest, plain PGD): PSNR, nearest last", "{:.2f}"),
    ("inpaint_psnr_hole", "inpainting 10x10: PSNR in the hole (dB), mean fill / Telea last", "{:.2f}"),
    ("tr_judge_squashed", "translation: judge share of target, squashed", "{:.1%}"),
    ("tr_judge_raw", "translation: judge share of target, raw", "{:.1%}"),
    ("tr_model_hit", "translation: the model's own share of target", "{:.1%}"),
    ("tr_l2_change", "translation: mean L2 change", "{:.2f}"),
]


def print_table(results: dict, baseline: dict, judge_ref: dict) -> None:
    base = {"sr_psnr_ours": f"{baseline['sr_psnr_bicubic']:.2f}", "sr_psnr_paper": f"{baseline['sr_psnr_nearest']:.2f}",
            "inpaint_psnr_hole": f"{baseline['inpaint_psnr_hole_mean_fill']:.2f} / {baseline['inpaint_psnr_hole_telea']:.2f}"}
    print("\n| metric | robust | standard | baseline |\n|---|---|---|---|")
    for key, label, fmt in ROWS:
        print(f"| {label} | {fmt.format(results['robust'][key])} | {fmt.format(results['standard'][key])} | "
              f"{base.get(key, '')} |")
    print(f"\njudge ({JUDGE_ARCH}) on CIFAR-10 test images: {judge_ref['clean']:.1%} clean, "
          f"{judge_ref['squashed']:.1%} squashed")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"))
    parser.add_argument("--quick", action="store_true", help="a few images and 3 steps: checks the pipeline only")
    parser.add_argument("--judge", help="a trained judge (.safetensors, arch cifar_convnet); default: cached or trained")
    parser.add_argument("--docs", type=Path, default=None, help="where the sample grids go (default docs/, quick: results/)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    docs = args.docs or (ROOT / ("results/quality-quick" if args.quick else "docs"))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    started = time.perf_counter()
    judge = get_judge(args, sizes, device)
    test_x, test_y, _ = load_split(args.data, "test")
    judge_ref = {"clean": judge_hits(judge, test_x.float() / 255, test_y, False),
                 "squashed": judge_hits(judge, test_x.float() / 255, test_y, True)}
    sr_x, _ = test_subset(test_x, test_y, sizes.sr, seed=1)
    in_x, _ = test_subset(test_x, test_y, sizes.inpaint, seed=2)
    tr_x, tr_y = test_subset(test_x, test_y, sizes.translate, seed=3)
    masks = holes(len(in_x))
    results = {}
    for label, name in MODELS.items():
        results[label] = {**bench_generation(name, judge, sizes, docs, label), **bench_super_resolution(name, sr_x, sizes),
                          **bench_inpainting(name, in_x, masks, sizes), **bench_translation(name, judge, tr_x, tr_y, sizes)}
        print(f"{label}: done at {time.perf_counter() - started:.0f} s", flush=True)
    baseline = {key: results["robust"][key] for key in ("sr_psnr_bicubic", "sr_psnr_nearest")}
    baseline.update(inpainting_baselines(in_x, masks))
    print_table(results, baseline, judge_ref)
    print(f"\n{sizes}; {time.perf_counter() - started:.0f} s on {device}")
    if args.json:
        args.json.write_text(json.dumps({"sizes": sizes.__dict__, "judge": judge_ref, "baseline": baseline,
                                         **results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
