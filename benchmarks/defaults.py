"""Quality of the faster 32-px defaults against the settings they replaced, side by side on the same inputs.

    python benchmarks/defaults.py [--tasks invert interpolate super_resolve style_transfer] [--threads 2]

Each task runs on the embedded robust and standard models twice: with the settings it had before (the paper's
normalised-gradient steps, scaled to 32 px; style transfer's 100 L-BFGS steps; super-resolution's half-overlapping
windows) and with today's defaults, printing the task's own quality figure and the wall seconds:
- invert: relative representation error ‖R(x) − R(x*)‖ / ‖R(x*)‖ (lower is better), 4 photos;
- interpolate: the same error over 6 frames, 2 photo pairs;
- super_resolve: PSNR (dB) against the photo the low-resolution input was shrunk from (scikit-image's astronaut,
  chelsea, coffee, rocket at a 128-px long side; 2× and 4×), with bicubic beside it;
- style_transfer: benchmarks/style.py's judge (style and content loss in a fixed random VGG-19), chelsea × the
  paintings in ../shared/images/styles (skipped when they are missing), at its default 100 L-BFGS steps and at 50.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import robust_synth as rs  # noqa: E402
from robust_synth import task_registry  # noqa: E402
from robust_synth.image import load_image, to_tensor  # noqa: E402
from robust_synth.presets import Preset  # noqa: E402
from robust_synth.tasks import windows  # noqa: E402
from robust_synth.tasks.super_resolution import upsample  # noqa: E402

MODELS = ("cifar10-resnet-l2-0.5", "cifar10-resnet-standard")
PHOTOS = [ROOT / "examples" / "photos" / f"{name}.jpg" for name in ("chelsea", "rocket", "coffee", "astronaut")]
K = 32 / 224  # the paper's 224-px settings scaled to the 32-px models, as presets.choose_preset does
BEFORE = {  # the 32-px settings these tasks had before the step rules
    "invert": Preset(1000 * K, 1 * K, 1000), "interpolate": Preset(1000 * K, 1 * K, 1000),
    "super_resolve": Preset(8 * K, 1 * K, 40),
}
BEFORE_OVERLAP = 0.5
STYLE_STEPS = (100, 50)  # style transfer's default L-BFGS steps, and the fewer steps tried (and not adopted)


@dataclasses.dataclass
class Setting:
    label: str
    preset: Preset | None  # None: today's default
    overlap: float = windows.OVERLAP


def with_setting(task: str, setting: Setting):
    """The registry's task with `setting`'s 32-px preset (and window overlap); returns a function to undo it."""
    original, overlap = task_registry.get(task), windows.OVERLAP
    if setting.preset is not None:
        task_registry.TASKS[task] = dataclasses.replace(original, presets=(original.presets[0], setting.preset))
    windows.OVERLAP = setting.overlap

    def undo():
        task_registry.TASKS[task], windows.OVERLAP = original, overlap
    return undo


def settings(task: str) -> list[Setting]:
    before = Setting("before", BEFORE[task], BEFORE_OVERLAP if task == "super_resolve" else windows.OVERLAP)
    return [before, Setting("now", None)]


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def bench_invert(model: str) -> str:
    def run():
        return np.mean([rs.invert(model, p)[1]["metrics"]["relative_rep_error"] for p in PHOTOS])
    return "rep error {:.4f}  ({:.1f} s)".format(*timed(run))


def bench_interpolate(model: str) -> str:
    def run():
        return np.mean([rs.interpolate(model, a, b, frames=6)[1]["metrics"]["relative_rep_error"]
                        for a, b in ((PHOTOS[0], PHOTOS[1]), (PHOTOS[2], PHOTOS[3]))])
    return "rep error {:.4f}  ({:.1f} s)".format(*timed(run))


def bench_super_resolve(model: str) -> str:
    import quality  # benchmarks/quality.py: the photos, their shrinking and PSNR
    ours, bicubic = {2: [], 4: []}, {2: [], 4: []}
    start = time.perf_counter()
    for name in quality.PHOTOS:
        original = quality.photo(name, 128)
        for factor in ours:
            low = quality.shrink(original, factor)
            ours[factor].append(quality.scores(rs.super_resolve(model, low, factor=factor)[0][0], original)[0])
            up = upsample(to_tensor(low), (original.height, original.width), "bicubic")
            bicubic[factor].append(quality.scores(up, original)[0])
    took = time.perf_counter() - start
    return "  ".join(f"{f}x {np.mean(ours[f]):.2f} dB (bicubic {np.mean(bicubic[f]):.2f})" for f in ours) + \
        f"  ({took:.1f} s)"


def bench_style(model: str, steps: int | None) -> str:
    import style  # benchmarks/style.py: its judge and paintings
    paintings = sorted((style.SHARED_IMAGES / "styles").glob("*.jpg"))
    if not paintings:
        return "skipped: no paintings in ../shared/images/styles"
    judge, content = style.judge_network("cpu"), style.contents(False)["chelsea"][0]
    rows, start = [], time.perf_counter()
    for path in paintings:
        painting = load_image(path)
        image = rs.style_transfer(content, painting, model, steps=steps)[0][0]
        judged = style.judge_losses(judge, image, content, painting)
        rows.append((judged["style_loss"], judged["content_loss"]))
    style_loss, content_loss = np.mean(rows, axis=0)
    return f"judge style {style_loss:.4f} content {content_loss:.3f}  ({time.perf_counter() - start:.1f} s)"


BENCHES = {"invert": bench_invert, "interpolate": bench_interpolate, "super_resolve": bench_super_resolve}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=[*BENCHES, "style_transfer"])
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}; {torch.get_num_threads()} CPU threads")
    for task in args.tasks:
        for model in MODELS:
            if task == "style_transfer":
                for steps in STYLE_STEPS:
                    label = f"{steps} steps"
                    print(f"{task:14s} {model:24s} {label:6s} {bench_style(model, steps)}", flush=True)
                continue
            for setting in settings(task):
                undo = with_setting(task, setting)
                try:
                    print(f"{task:14s} {model:24s} {setting.label:6s} {BENCHES[task](model)}", flush=True)
                finally:
                    undo()


if __name__ == "__main__":
    main()
