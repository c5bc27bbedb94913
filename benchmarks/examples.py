"""Examples benchmark (issue 26): every tab's first example with Compare, each side judged by what neither model is.

    python benchmarks/examples.py [--task NAME ...] [--set TASK.PARAM=VALUE ...] [--json PATH] [--judge PATH]

For each registered task this runs the first example of its declaration (the app's first example row, at the task's
defaults) on the tab's default robust model and on its standard counterpart (the app's Compare), and prints one
figure per side and which side did the task better:
- generate, translate, sketch_to_image: an independent classifier's probability of the target class after a
  low-pass squash (benchmarks/quality.py's judge: arch cifar_convnet, seed 1, trained on CIFAR-10 and cached; the
  squash keeps only what survives average-pooling 4x and a little noise, so adversarial texture does not count);
  results are judged as the visitor sees them, at the picture's size, resized to the judge's 32 px;
- refine: the same probability before and after (the figure is the gain);
- invert: the same probability of the class the judge sees in the original picture (the model's own
  representation error is printed beside it);
- interpolate: the middle frames' pixel-scale (high-frequency) energy over the end frames' (<= 1: no noisier than
  the photos), beside the largest jump between neighbouring frames of the judge's P(A's class) - P(B's class)
  (judged unsquashed: squashed, the judge calls both example photos cats);
- inpaint: PSNR inside the hole against the picture the example was made from; super_resolve: PSNR (and SSIM)
  against the original the example was shrunk from (scripts/make_examples.py), with bicubic beside them;
- style_transfer: the style (Gram) loss of the result in a fixed random-filter VGG-19 (benchmarks/style.py's judge);
- visualize_feature, paint_features: no independent test of success exists; the figure is the share of the result's
  energy at the pixel scale (lower: less noise-like), labelled as such.
--set changes one input of one task's example (e.g. --set refine.eps=2) to try a setting before making it default.
Needs ../shared/data/cifar10-jpeg.tar.gz only when the judge is not cached yet (training it takes ~30 min on 2 cores).
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
import make_examples  # noqa: E402
import quality  # noqa: E402
import style as style_bench  # noqa: E402
from tabs import example_call  # noqa: E402

from robust_synth import task_registry  # noqa: E402
from robust_synth.image import load_image, load_mask, to_tensor  # noqa: E402
from robust_synth.models import CIFAR10_CLASSES, STANDARD_COUNTERPART  # noqa: E402
from robust_synth.tasks.inputs import load_full  # noqa: E402
from robust_synth.tasks.metrics import high_frequency  # noqa: E402
from robust_synth.tasks.resolve import resolve_targets  # noqa: E402

EMBEDDED_ROBUST = "cifar10-resnet-l2-0.5"
JUDGE_SIDE = 32


class Judges:
    """The independent classifier (with the squash) and the random-filter style network, loaded once."""

    def __init__(self, args):
        self.classifier = quality.get_judge(argparse.Namespace(judge=args.judge, data=args.data), quality.FULL, "cpu")
        self._style = None

    def probabilities(self, x: torch.Tensor, squashed: bool = True) -> torch.Tensor:
        """(B, 10) softmax of the images x (B, 3, H, W), resized to the judge's 32 px, then squashed (by default)."""
        small = F.interpolate(x.float(), size=(JUDGE_SIDE, JUDGE_SIDE), mode="bilinear", antialias=True,
                              align_corners=False).clamp(0, 1)
        if squashed:
            small = quality.squash(small, torch.Generator().manual_seed(0))
        with torch.no_grad():
            return self.classifier.classify(small).softmax(1)

    def style(self):
        if self._style is None:
            self._style = style_bench.judge_network("cpu")
        return self._style


# Both sides of a comparison are scored against the same example files: each is read once.
picture = functools.cache(load_full)
example_image = functools.cache(load_image)
example_mask = functools.cache(load_mask)
original_of = functools.cache(make_examples.original_of)


def result_tensor(images) -> torch.Tensor:
    return images.tensor if images.tensor is not None else torch.cat([to_tensor(im) for im in images])


def target_index(kwargs: dict) -> int:
    return resolve_targets(CIFAR10_CLASSES, kwargs["target"])[0]


def judged_target(judges, kwargs, images, recipe) -> dict:
    p = judges.probabilities(result_tensor(images))[:, target_index(kwargs)]
    return {"value": float(p.mean()), "shown": f"{p.mean():.3f}"}


def judged_refine(judges, kwargs, images, recipe) -> dict:
    c = target_index(kwargs)
    before = float(judges.probabilities(picture(kwargs["image"]))[0, c])
    after = float(judges.probabilities(result_tensor(images))[0, c])
    return {"value": after - before, "shown": f"{before:.3f} -> {after:.3f}"}


def judged_inversion(judges, kwargs, images, recipe) -> dict:
    probs = judges.probabilities(picture(kwargs["image"]))[0]
    c = int(probs.argmax())
    p = float(judges.probabilities(result_tensor(images))[0, c])
    return {"value": p, "shown": f"{p:.3f} ({CIFAR10_CLASSES[c]}; rep err "
                                 f"{recipe['metrics']['relative_rep_error']:.3f})"}


def judged_interpolation(judges, kwargs, images, recipe) -> dict:
    x = result_tensor(images)
    ends = judges.probabilities(torch.cat([picture(kwargs["image_a"]), picture(kwargs["image_b"])]), squashed=False)
    a, b = int(ends[0].argmax()), int(ends[1].argmax())
    probs = judges.probabilities(x, squashed=False)
    margin = (probs[:, a] - probs[:, b]).numpy()
    jump = float(np.abs(np.diff(margin)).max())
    middle = np.mean([high_frequency(f[None]) for f in x[1:-1]])
    end = np.mean([high_frequency(f[None]) for f in (x[0], x[-1])])
    ratio = float(middle / max(end, 1e-12))
    return {"value": ratio, "shown": f"{ratio:.2f} (largest jump {jump:.2f}; {CIFAR10_CLASSES[a]} -> "
                                     f"{CIFAR10_CLASSES[b]})"}


def hole_psnr(judges, kwargs, images, recipe) -> dict:
    original = picture(kwargs["image"])[0].numpy()
    mask = example_mask(kwargs["mask"], images[0].size)[0, 0].numpy() > 0.5
    result = result_tensor(images)[0].numpy()
    value = peak_signal_noise_ratio(original[:, mask], result[:, mask], data_range=1.0)
    return {"value": float(value), "shown": f"{value:.2f} dB"}


def sr_scores(kwargs, x: np.ndarray) -> tuple[float, float]:
    original = np.asarray(original_of(kwargs["image"]), dtype=np.float32) / 255
    return (peak_signal_noise_ratio(original, x, data_range=1.0),
            structural_similarity(original, x, channel_axis=2, data_range=1.0))


def sr_psnr(judges, kwargs, images, recipe) -> dict:
    psnr, ssim = sr_scores(kwargs, result_tensor(images)[0].permute(1, 2, 0).numpy())
    return {"value": float(psnr), "shown": f"{psnr:.2f} dB (SSIM {ssim:.3f})"}


def sr_bicubic(kwargs) -> str:
    low = example_image(kwargs["image"])
    size = (low.width * kwargs.get("factor", 4), low.height * kwargs.get("factor", 4))
    x = np.asarray(low.resize(size, Image.Resampling.BICUBIC), dtype=np.float32) / 255
    psnr, ssim = sr_scores(kwargs, x)
    return f"{psnr:.2f} dB (SSIM {ssim:.3f})"


def style_loss(judges, kwargs, images, recipe) -> dict:
    styles = kwargs["style_image"] if isinstance(kwargs["style_image"], list) else [kwargs["style_image"]]
    losses = style_bench.judge_losses(judges.style(), images[0], example_image(kwargs["content_image"]),
                                      example_image(styles[0]))
    style, content = losses["style_loss"], losses["content_loss"]
    return {"value": style, "shown": f"{style:.4f} (content {content:.3f})"}


def pixel_noise_share(judges, kwargs, images, recipe) -> dict:
    x = result_tensor(images)
    share = high_frequency(x) / float(x.var(dim=(2, 3)).mean().clamp_min(1e-12))
    return {"value": share, "shown": f"{share:.3f}"}


# task -> (what the figure is, its scorer, True where higher is better)
MEASURES = {
    "generate": ("judge P(target), squashed", judged_target, True),
    "translate": ("judge P(target), squashed", judged_target, True),
    "sketch_to_image": ("judge P(target), squashed", judged_target, True),
    "refine": ("judge P(target) before -> after", judged_refine, True),
    "invert": ("judge P(original's class)", judged_inversion, True),
    "interpolate": ("middle/end pixel-scale energy", judged_interpolation, False),
    "inpaint": ("PSNR in the hole", hole_psnr, True),
    "super_resolve": ("PSNR vs the original", sr_psnr, True),
    "style_transfer": ("judge style (Gram) loss", style_loss, False),
    "visualize_feature": ("pixel-scale energy share (not success)", pixel_noise_share, False),
    "paint_features": ("pixel-scale energy share (not success)", pixel_noise_share, False),
}


def robust_model(task: task_registry.Task) -> str:
    """The tab's default robust model on the embedded deployment: the task's own default network where it has one."""
    model = task.input("model").default
    return model if model in STANDARD_COUNTERPART else EMBEDDED_ROBUST


def parse_sets(items: list[str]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for item in items:
        key, _, value = item.partition("=")
        task, _, param = key.partition(".")
        if not (task and param and value):
            raise SystemExit(f"--set takes TASK.PARAM=VALUE, got {item!r}")
        found.setdefault(task, {})[param] = json.loads(value) if value[0] in "-0123456789[{tfn\"" else value
    return found


def run_side(task: task_registry.Task, kwargs: dict) -> tuple[list, dict, float]:
    start = time.perf_counter()
    images, recipe = task.fn(**kwargs)
    return images, recipe, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", nargs="*", help="only these tasks (default: every task with examples)")
    p.add_argument("--set", nargs="*", default=[], help="TASK.PARAM=VALUE: change one input of an example")
    p.add_argument("--judge", help="a cached judge (.safetensors, arch cifar_convnet) instead of the default cache")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"))
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args()
    judges, sets, rows = Judges(args), parse_sets(args.set), []
    print(f"{'tab':18} {'figure':38} {'robust':>34} {'standard':>34}  better")
    for task in task_registry.all_tasks():
        if not task.examples or (args.task and task.name not in args.task):
            continue
        label, scorer, higher = MEASURES[task.name]
        robust = robust_model(task)
        kwargs = {**example_call(task, robust), **sets.get(task.name, {})}
        sides = {}
        for side, model in (("robust", robust), ("standard", STANDARD_COUNTERPART[robust])):
            images, recipe, seconds = run_side(task, {**kwargs, "model": model})
            sides[side] = {"model": model, "seconds": round(seconds, 2), **scorer(judges, kwargs, images, recipe)}
        better = "robust" if (sides["robust"]["value"] > sides["standard"]["value"]) == higher else "standard"
        extra = f" | bicubic {sr_bicubic(kwargs)}" if task.name == "super_resolve" else ""
        print(f"{task.name:18} {label:38} {sides['robust']['shown']:>34} {sides['standard']['shown']:>34}  "
              f"{better}{extra}", flush=True)
        rows.append({"task": task.name, "figure": label, "better": better, **sides,
                     "example": {k: v for k, v in kwargs.items() if k != "model"}})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
