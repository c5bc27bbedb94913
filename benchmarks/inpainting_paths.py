"""Inpainting path length on CIFAR-10: hole PSNR of the robust and standard model per setting, and of the start.

    python benchmarks/inpainting_paths.py [--n 50] [--settings 3.0857:0.0142857:720 1:0.03:30 ...]

Same images and holes as benchmarks/quality.py's inpainting section (test images drawn with seed 2, one 10x10 hole
each); every setting (eps:step_size:steps) runs on both embedded models, side by side in one process. The first row
is the smooth (harmonic) start the task begins from, before any step of the model.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))
import robust_synth as rs  # noqa: E402
from quality import MODELS, hole_psnr, holes, test_subset  # noqa: E402
from robust_synth.datasets import load_split  # noqa: E402
from robust_synth.tasks.inpainting import fill_smooth  # noqa: E402


def parse_setting(text: str) -> dict:
    eps, step, steps = text.split(":")
    return {"eps": float(eps), "step_size": float(step), "steps": int(steps)}


def mean_hole_psnr(fill, images: torch.Tensor, masks: list[np.ndarray]) -> float:
    """Mean PSNR inside the hole of fill(image, mask) against each image."""
    return float(np.mean([hole_psnr(fill(img, m), img, m) for img, m in zip(images, masks)]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"))
    parser.add_argument("--n", type=int, default=50, help="test images (the first n of quality.py's 50)")
    parser.add_argument("--settings", nargs="+", default=["3.0857:0.0142857:720", "1:0.03:30"],
                        help="eps:step_size:steps (default: the paper's path scaled to 32 px, and this task's preset)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    x, y, _ = load_split(args.data, "test")
    images, _ = test_subset(x, y, 50, seed=2)
    images, masks = images[:args.n], holes(50)[:args.n]
    start = mean_hole_psnr(lambda img, m: fill_smooth(img[None], torch.from_numpy(m)[None, None].float())[0],
                           images, masks)
    rows = [{"setting": "smooth start (before the model)", "robust": start, "standard": start}]
    print(f"| setting (eps:step:steps) | {' | '.join(MODELS)} | seconds |\n|---|---:|---:|---:|")
    print(f"| {rows[0]['setting']} | {start:.2f} | {start:.2f} | |", flush=True)
    for text in args.settings:
        kwargs, row, started = parse_setting(text), {"setting": text}, time.perf_counter()
        for label, name in MODELS.items():
            row[label] = mean_hole_psnr(lambda img, m: rs.inpaint(name, img, m, **kwargs)[0].tensor[0], images, masks)
        rows.append(row)
        print(f"| {text} | {' | '.join(f'{row[k]:.2f}' for k in MODELS)} | {time.perf_counter() - started:.0f} |",
              flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
