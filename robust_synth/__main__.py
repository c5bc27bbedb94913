"""CLI: python -m robust_synth <task> --model NAME --out DIR [task options]; writes PNGs (recipe embedded) and recipe.json."""
from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path

from . import tasks
from .models import REGISTRY
from .results import png_with_recipe
from .tasks.style_transfer import style_transfer

# One entry per task: the CLI reads each function's signature to build its options.
TASKS = {
    "generate": tasks.generate,
    "inpaint": tasks.inpaint,
    "super_resolve": tasks.super_resolve,
    "translate": tasks.translate,
    "sketch_to_image": tasks.sketch_to_image,
    "paint_features": tasks.paint_features,
    "invert": tasks.invert,
    "interpolate": tasks.interpolate,
    "visualize_feature": tasks.visualize_feature,
    "style_transfer": style_transfer,
}
# Types of parameters without a typed default; parameters with a default take its type; the rest are strings
# (image parameters are file paths, which every task accepts).
PARAM_TYPES = {"steps": int, "eps": float, "step_size": float, "feature": int,
               "size": int, "pyramid": int, "style_weights": float, "layer_weights": float}
NOT_OPTIONS = ("model", "callback", "return_tensors")  # model: --model above; the others are Python-only
LIST_PARAMS = {"generate": ("target",),  # several classes at once: --target cat dog
               "style_transfer": ("style_image", "style_weights", "style_layers", "layer_weights", "pyramid")}


def _flag(text: str) -> bool:
    if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("1", "true", "yes")


def _add_task(sub, name: str, fn) -> None:
    parser = sub.add_parser(name, help=(fn.__doc__ or "").strip().splitlines()[0])
    params = inspect.signature(fn).parameters
    parser.add_argument("--model", required=params["model"].default is inspect.Parameter.empty,
                        help=f"a registered model: {', '.join(REGISTRY)}")
    parser.add_argument("--out", required=True, type=Path, help="output folder for the PNGs and recipe.json")
    add_task_options(parser, name, fn)


def add_task_options(parser: argparse.ArgumentParser, name: str, fn, skip: tuple[str, ...] = ()) -> None:
    """One --option per parameter of task `fn` (typed from its default), except NOT_OPTIONS and `skip`."""
    for param in inspect.signature(fn).parameters.values():
        if param.name in NOT_OPTIONS or param.name in skip:
            continue
        default = param.default
        kind = PARAM_TYPES.get(param.name, str) if default in (None, inspect.Parameter.empty) else type(default)
        option = "--" + param.name.replace("_", "-")
        extra = {"nargs": "+"} if param.name in LIST_PARAMS.get(name, ()) else {}
        parser.add_argument(option, dest=param.name, type=_flag if kind is bool else kind,
                            required=default is inspect.Parameter.empty, default=None, **extra)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m robust_synth", description=__doc__)
    sub = parser.add_subparsers(dest="task", required=True, metavar="task")
    for name, fn in TASKS.items():
        _add_task(sub, name, fn)
    return parser


def write_outputs(images, recipe: dict, out: Path, task: str) -> list[Path]:
    """Full-size images as out/<task>-NN.png, the model-resolution ones (where separate) in out/model_resolution/."""
    out.mkdir(parents=True, exist_ok=True)
    extra = images.model_resolution if recipe.get("model_resolution") else []
    paths = []
    for folder, group in ((out, images), (out / "model_resolution", extra)):
        if group:
            folder.mkdir(exist_ok=True)
        for i, img in enumerate(group):
            path = folder / f"{task}-{i:02d}.png"
            path.write_bytes(png_with_recipe(img, recipe))
            paths.append(path)
    (out / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    return paths


def task_kwargs(task: str, args: dict) -> dict:
    """Parsed options -> the task's keyword arguments: unset ones left out, one-element lists unwrapped."""
    kwargs = {k: v for k, v in args.items() if v is not None}
    for key in LIST_PARAMS.get(task, ()):
        if key in kwargs and len(kwargs[key]) == 1:
            kwargs[key] = kwargs[key][0]
    return kwargs


def main(argv=None) -> int:
    args = vars(build_parser().parse_args(argv))
    task, out = args.pop("task"), args.pop("out")
    kwargs = task_kwargs(task, args)
    try:
        images, recipe = TASKS[task](**kwargs)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in write_outputs(images, recipe, out, task):
        print(path)
    print(json.dumps(recipe["metrics"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
