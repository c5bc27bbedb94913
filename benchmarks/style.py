"""Style-transfer benchmark: robust vs standard style networks, losses in a fixed judge network, wall time, grids.

    python benchmarks/style.py --size 128 --steps 60 --docs

Contents: the photos in ../shared/images/content (never committed) plus skimage's astronaut, chelsea and coffee;
styles: the four public-domain paintings in ../shared/images/styles. Style networks: the embedded CIFAR pair, plus
the ImageNet networks whose weights are cached (others are skipped with a message). The judge is ImageNet VGG-19
(Gatys' network: style relu1_1..relu5_1, content relu4_2, avg-pool) when its weights are cached, else a VGG-19
with fixed random weights (seed 0): Gram statistics of random convolutional features are a known texture
descriptor (Ustyuzhaninov et al. 2017), and neither optimised network shares its weights.
--docs writes one grid per painting with the skimage photos only to docs/style/<painting>.jpg (public domain +
skimage).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import skimage.data
import torch
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from robust_synth import style as st  # noqa: E402
from robust_synth.architectures import build  # noqa: E402
from robust_synth.features import RobustModel  # noqa: E402
from robust_synth.image import load_image, to_tensor  # noqa: E402
from robust_synth.architectures import VGG_STYLE  # noqa: E402
from robust_synth.catalog import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from robust_synth.models import get_spec, is_available, load_model  # noqa: E402
from robust_synth.tasks.style_settings import Layers, Weights  # noqa: E402
from robust_synth.tasks.style_transfer import StyleContentNet, build_losses, measure, style_transfer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED_IMAGES = ROOT.parent / "shared" / "images"
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee")
MODELS = ["cifar10-vgg-l2-0.5", "cifar10-vgg-standard", "cifar10-resnet-l2-0.5", "cifar10-resnet-standard",
          "imagenet-resnet50-l2-3", "imagenet-resnet50-l2-0", "imagenet-vgg16bn-l2-3", "imagenet-vgg16bn-l2-0",
          "imagenet-vgg19-standard"]


def _fitting_font(draw: ImageDraw.ImageDraw, text: str, width: int, largest: int) -> ImageFont.FreeTypeFont:
    """The largest default font (8..largest px) in which `text` fits in `width` pixels."""
    for size in range(largest, 8, -1):
        font = ImageFont.load_default(size=size)
        if draw.textlength(text, font=font) <= width:
            return font
    return ImageFont.load_default(size=8)


def labelled_grid(images: list[Image.Image], labels: list[str], height: int = 256) -> Image.Image:
    """One row of images scaled to `height`, each with its label underneath (font shrunk to fit the tile)."""
    tiles = [img.convert("RGB").resize(st.fit_long_side(*img.size, height * max(img.size) // img.size[1]))
             for img in images]
    largest = max(10, height // 16)
    grid = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), height + largest + 8), "white")
    draw, left = ImageDraw.Draw(grid), 0
    for tile, label in zip(tiles, labels):
        grid.paste(tile, (left, 0))
        draw.text((left + 2, height + 4), label, fill="black", font=_fitting_font(draw, label, tile.width - 4, largest))
        left += tile.width + 4
    return grid



def available_models(names: list[str]) -> list[str]:
    usable = [n for n in names if is_available(get_spec(n))]
    for name in sorted(set(names) - set(usable)):
        print(f"skipping {name}: its weights are not on this machine", file=sys.stderr)
    return usable


def judge_network(device: str) -> RobustModel:
    """ImageNet VGG-19 if cached, else VGG-19 with fixed random weights; avg-pooled either way."""
    if is_available(get_spec("imagenet-vgg19-standard")):
        return st.with_avg_pool(load_model("imagenet-vgg19-standard", device))
    torch.manual_seed(0)
    net, nodes = build("vgg19", 1000)
    model = RobustModel(net, IMAGENET_MEAN, IMAGENET_STD, nodes, name="vgg19-random-seed0", input_size=224)
    return st.with_avg_pool(model.to(device))


def judge_losses(judge: RobustModel, result: Image.Image, content: Image.Image, style: Image.Image) -> dict:
    """Normalised style loss (relu1_1..relu5_1) and content loss (relu4_2) of `result` in the judge network."""
    device = judge.mean.device
    size = max(result.size)
    content_x = to_tensor(content.resize(result.size, Image.Resampling.LANCZOS)).to(device)
    style_x = to_tensor(style.resize(st.fit_long_side(*style.size, size), Image.Resampling.LANCZOS)).to(device)
    net, preset = StyleContentNet(judge, judge), VGG_STYLE
    weights = Weights().resolved(1, preset.style)
    style_obj, content_obj = build_losses(net, content_x, [style_x], weights, Layers(preset.style, preset.content))
    return measure(net, to_tensor(result).to(device), style_obj, content_obj)


def contents(include_shared: bool) -> dict[str, tuple[Image.Image, bool]]:
    """name -> (image, committable): skimage photos are committable, the shared photos are not."""
    found = {name: (load_image(getattr(skimage.data, name)()), True) for name in SKIMAGE_PHOTOS}
    if include_shared:
        for path in sorted((SHARED_IMAGES / "content").glob("*.jpg")):
            found[path.stem] = (load_image(path), False)
    return found


def stack_rows(rows: list[Image.Image]) -> Image.Image:
    grid = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    top = 0
    for row in rows:
        grid.paste(row, (0, top))
        top += row.height
    return grid


def run(args) -> list[dict]:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    models, judge = available_models(args.models), judge_network(device)
    print(f"judge: {judge.name}; style networks: {', '.join(models)}; {args.size} px, {args.steps} steps, "
          f"style weight {args.style_weight:g}, TV weight {args.tv_weight:g}, {device}")
    styles = {p.stem: load_image(p) for p in sorted((SHARED_IMAGES / "styles").glob("*.jpg"))}
    rows, out = [], Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for style_name, style in styles.items():
        doc_rows, all_rows = [], []
        for content_name, (content, committable) in contents(not args.skimage_only).items():
            results = []
            for model in models:
                start = time.perf_counter()
                images, recipe = style_transfer(content, style, model, size=args.size, steps=args.steps,
                                                style_weight=args.style_weight, tv_weight=args.tv_weight)
                wall = time.perf_counter() - start
                judged = judge_losses(judge, images[0], content, style)
                rows.append({"style": style_name, "content": content_name, "model": model, "wall_s": round(wall, 1),
                             "judge_style": judged["style_loss"], "judge_content": judged["content_loss"],
                             "self_style": recipe["metrics"]["style_loss"],
                             "self_content": recipe["metrics"]["content_loss"]})
                print(format_row(rows[-1]), flush=True)
                results.append(images[0])
            row = labelled_grid([content, style, *results], [content_name, style_name, *models], args.size)
            all_rows.append(row)
            if committable:
                doc_rows.append(row)
        stack_rows(all_rows).save(out / f"{style_name}.png")
        if args.docs:
            docs = ROOT / "docs" / "style"
            docs.mkdir(parents=True, exist_ok=True)
            stack_rows(doc_rows).save(docs / f"{style_name}.jpg", quality=85)  # JPEG: small enough to commit
    (out / "style_benchmark.json").write_text(json.dumps({"judge": judge.name, "size": args.size,
                                                          "steps": args.steps, "runs": rows}, indent=1))
    return rows


HEADER = f"{'style':16} {'content':12} {'model':26} {'judge style':>11} {'judge content':>13} " \
         f"{'self style':>10} {'self content':>12} {'wall s':>7}"


def format_row(r: dict) -> str:
    return (f"{r['style']:16} {r['content']:12} {r['model']:26} {r['judge_style']:11.4f} {r['judge_content']:13.4f} "
            f"{r['self_style']:10.4f} {r['self_content']:12.4f} {r['wall_s']:7.1f}")


def summary(rows: list[dict]) -> None:
    print("\nmean over content/style pairs")
    print(f"{'model':26} {'judge style':>11} {'judge content':>13} {'wall s':>7}")
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        means = [np.mean([r[k] for r in mine]) for k in ("judge_style", "judge_content", "wall_s")]
        print(f"{model:26} {means[0]:11.4f} {means[1]:13.4f} {means[2]:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="output long side in px")
    parser.add_argument("--steps", type=int, default=60, help="L-BFGS steps per run")
    parser.add_argument("--style-weight", type=float, default=Weights.style, help="the task's style weight")
    parser.add_argument("--tv-weight", type=float, default=Weights.tv, help="the task's total-variation weight")
    parser.add_argument("--models", nargs="+", default=MODELS, help="style networks (unavailable ones are skipped)")
    parser.add_argument("--skimage-only", action="store_true", help="leave out the photos in ../shared/images/content")
    parser.add_argument("--docs", action="store_true", help="write docs/style/<painting>.jpg (skimage photos only)")
    parser.add_argument("--out", default=str(ROOT / "results" / "style_benchmark"), help="grids and JSON go here")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(HEADER)
    summary(run(args))


if __name__ == "__main__":
    main()
