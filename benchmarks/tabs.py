"""Tab benchmark: every tab's first example at its defaults, alone, timed end to end through the library.

    python benchmarks/tabs.py [--compare] [--reps 3] [--model cifar10-resnet-l2-0.5] [--task NAME ...]

For each registered task this runs the first example of its declaration (the app's first example row) on the
embedded robust model, as the app's tab would, and prints the median wall seconds, the PGD steps run, how many
model-size images the run optimised, and the wall time as a multiple of ONE bare forward+backward of the model on
a batch of that many images at the size the task worked at (so the figure travels between machines: "equivalent
steps"). With --compare the same example also runs on the matching standard model (the app's Compare toggle runs
both), and the line shows the total as a multiple of the robust run alone (target: at most 2). One more case, not an
example: super-resolution ×4 of a 128×128 picture (the centre of examples/photos/chelsea.jpg), 512×512 out.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from robust_synth import input_kinds, load_model, task_registry  # noqa: E402
from robust_synth.models import STANDARD_COUNTERPART  # noqa: E402


SR_SIDE = 128  # the extra case: super-resolution ×4 of a picture this size


def sr_picture() -> Image.Image:
    """The centre SR_SIDE × SR_SIDE of examples/photos/chelsea.jpg."""
    photo = Image.open(ROOT / "examples" / "photos" / "chelsea.jpg").convert("RGB")
    left, top = (photo.width - SR_SIDE) // 2, (photo.height - SR_SIDE) // 2
    return photo.crop((left, top, left + SR_SIDE, top + SR_SIDE))


def example_call(task: task_registry.Task, model: str) -> dict:
    """The task's first example as keyword arguments: file inputs as paths under examples/, the model given."""
    row = dict(task.examples[0])
    for name, value in row.items():
        if input_kinds.get(task.input(name).kind).upload:
            row[name] = [str(ROOT / "examples" / v) for v in value] if isinstance(value, list) else \
                str(ROOT / "examples" / value)
    return {"model": model, **row}


def bare_step_seconds(model, images: int, side: int, reps: int) -> float:
    """Median seconds of one forward + input-gradient backward of the model on (images, 3, side, side)."""
    x = torch.rand(images, 3, side, side, generator=torch.Generator().manual_seed(0))
    times = []
    for _ in range(reps + 1):
        start = time.perf_counter()
        xg = x.clone().requires_grad_(True)
        torch.autograd.grad(model(xg).logits.sum(), xg)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def timed_run(task: task_registry.Task, kwargs: dict, reps: int) -> tuple[float, dict]:
    """Median wall seconds over `reps` runs (after one warm-up) and the last run's recipe."""
    task.fn(**kwargs)  # warm-up: model load, FX tracing, allocator
    times, recipe = [], None
    for _ in range(reps):
        start = time.perf_counter()
        _, recipe = task.fn(**kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times), recipe


def work_side(recipe: dict, side: int) -> int:
    """The square side the run's model inputs had: style transfer works at its output size, the rest at the model's."""
    return int(recipe["params"].get("size") or side) if recipe["task"] == "style_transfer" else side


def measure(task: task_registry.Task, model_name: str, reps: int, kwargs: dict | None = None) -> dict:
    model = load_model(model_name)
    kwargs = kwargs or example_call(task, model_name)
    seconds, recipe = timed_run(task, kwargs, reps)
    images = recipe.get("layout", {}).get("count") or task.images_per_run(kwargs, model.input_size)  # SR: windows
    side = work_side(recipe, model.input_size)
    bare = bare_step_seconds(model, images, side, reps=3)
    return {"seconds": seconds, "steps": recipe["metrics"].get("steps_run"), "images": images, "side": side,
            "equivalent_steps": seconds / bare}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="cifar10-resnet-l2-0.5", help="the robust model (default: the embedded one)")
    p.add_argument("--compare", action="store_true", help="also run the matching standard model (Compare)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    p.add_argument("--task", nargs="*", help="only these tasks (default: every registered task)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}; {torch.get_num_threads()} CPU threads; {cpu}; model {args.model}; "
          f"median of {args.reps} runs after one warm-up")
    rows, cases = [], [(task, task.name, None) for task in task_registry.all_tasks() if task.examples]
    sr = task_registry.get("super_resolve")
    cases.append((sr, f"super_resolve 4x {SR_SIDE}", {"model": args.model, "image": sr_picture(), "factor": 4}))
    for task, label, kwargs in cases:
        if args.task and task.name not in args.task:
            continue
        robust = measure(task, args.model, args.reps, kwargs)
        line = (f"{label:22s} {robust['seconds']:7.2f} s  steps {robust['steps']!s:>4}  images "
                f"{robust['images']:3d} @ {robust['side']:3d} px  = {robust['equivalent_steps']:7.1f} bare fwd+bwd")
        if args.compare:
            standard = measure(task, STANDARD_COUNTERPART[args.model], args.reps,
                               kwargs and {**kwargs, "model": STANDARD_COUNTERPART[args.model]})
            total = robust["seconds"] + standard["seconds"]
            line += f" | compare {total:7.2f} s = {total / robust['seconds']:.2f}x the tab"
        print(line, flush=True)
        if kwargs is None:
            rows.append(robust["seconds"])
    if rows:
        print(f"median tab {statistics.median(rows):.2f} s; slowest {max(rows):.2f} s; {len(rows)} tabs")


if __name__ == "__main__":
    main()
