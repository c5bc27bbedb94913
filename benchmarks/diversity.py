"""Diversity of class-conditional samples vs real images of the class (issue 13): are samples one template?

    python benchmarks/diversity.py --judge JUDGE.safetensors [--per-class 16] [--settings 30:0.5:30 30:1:30:1 ...]

For every class and every generation setting (eps:step_size:steps[:grad_blur], the gradient low-pass in pixels, 0
if left out), n samples of the embedded robust model (seeds 0..n-1) are compared with n real CIFAR-10 test images
of that class:
- pixel correlation: mean Pearson correlation over all pairs of images (1 = one template; real images ~0.1-0.3);
- feature spread: mean pairwise distance of the judge network's penultimate features, divided by the same for
  the real images (1 = as varied as real images, to an independent network);
- high-frequency ratio: mean energy of the image minus its 1-px Gaussian blur, divided by the real images' (speckle);
- squashed-judge accuracy (benchmarks/quality.py's protocol) for the robust and the standard model.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.utils import save_image

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))
import robust_synth as rs  # noqa: E402
from quality import MODELS, judge_hits, load_judge  # noqa: E402
from robust_synth.datasets import load_split  # noqa: E402
from robust_synth.tasks.metrics import high_frequency  # noqa: E402


def pixel_correlation(x: torch.Tensor) -> float:
    """Mean Pearson correlation over all pairs of images x (N, 3, H, W)."""
    flat = x.flatten(1).double()
    flat = flat - flat.mean(1, keepdim=True)
    flat = flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)
    corr = flat @ flat.T
    n = len(x)
    return float((corr.sum() - corr.diagonal().sum()) / (n * (n - 1)))


@torch.no_grad()
def feature_spread(judge, x: torch.Tensor) -> float:
    """Mean pairwise L2 distance of the judge's penultimate features of x."""
    features = judge(x, layers=["rep"])["rep"].flatten(1).double()
    return float(torch.pdist(features).mean())


def parse_setting(text: str) -> tuple[float, float, int, float]:
    eps, step, steps, *blur = text.split(":")
    return float(eps), float(step), int(steps), float(blur[0]) if blur else 0.0


def run(judge, real_x, real_y, settings, per_class: int, grid_dir: Path | None) -> list[dict]:
    rows = []
    real = {c: real_x[real_y == c][:per_class] for c in range(10)}
    real_corr = sum(pixel_correlation(real[c]) for c in range(10)) / 10
    real_spread = {c: feature_spread(judge, real[c]) for c in range(10)}
    real_hf = high_frequency(torch.cat(list(real.values())))
    rows.append({"setting": "real test images", "pixel_corr": round(real_corr, 3), "spread_ratio": 1.0,
                 "hf_ratio": 1.0})
    for eps, step, steps, blur in settings:
        row = {"setting": f"eps {eps:g}, step {step:g}, {steps} steps, gradient blur {blur:g} px"}
        for label, name in MODELS.items():
            t0, corr, ratio, xs, ys = time.time(), [], [], [], []
            for c in range(10):
                x = rs.generate(name, c, n=per_class, seed=c, eps=eps, step_size=step, steps=steps,
                                grad_blur=blur)[0].tensor
                corr.append(pixel_correlation(x))
                ratio.append(feature_spread(judge, x) / real_spread[c])
                xs.append(x)
                ys += [c] * len(x)
            x = torch.cat(xs)
            row[label] = {"pixel_corr": round(sum(corr) / 10, 3), "spread_ratio": round(sum(ratio) / 10, 3),
                          "hf_ratio": round(high_frequency(x) / real_hf, 2),
                          "judge_squashed": round(judge_hits(judge, x, torch.tensor(ys), True), 3),
                          "seconds": round(time.time() - t0, 1)}
            if grid_dir is not None and label == "robust":
                grid_dir.mkdir(parents=True, exist_ok=True)
                save_image(F.interpolate(x, scale_factor=2, mode="nearest"),
                           grid_dir / f"diversity-eps{eps:g}-step{step:g}-steps{steps}-blur{blur:g}.png",
                           nrow=per_class, padding=2)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judge", required=True, help="a trained judge (.safetensors, arch cifar_convnet)")
    parser.add_argument("--data", default=str(ROOT.parent.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"))
    parser.add_argument("--per-class", type=int, default=16, 
                        help="samples and real images per class (at most the n limit, 16)")
    parser.add_argument("--settings", nargs="+", default=["30:0.5:30"], help="eps:step_size:steps[:grad_blur]")
    parser.add_argument("--grids", help="folder for sample grids of the robust model")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    judge = load_judge(Path(args.judge), "cpu")
    x, y, _ = load_split(args.data, "test")
    rows = run(judge, x.float() / 255, y, [parse_setting(s) for s in args.settings], args.per_class,
               Path(args.grids) if args.grids else None)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
