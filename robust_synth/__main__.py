"""CLI: robust-synth (= python -m robust_synth) <task> --model NAME --out DIR [options]; writes PNGs and recipe.json."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import input_kinds, task_registry, tasks  # noqa: F401 (tasks: importing it registers every task)
from .models import REGISTRY
from .result_store import png_with_recipe

SETTING_TYPES = {"seed": int, "steps": int, "eps": float, "step_size": float}


def _add_task(sub, task: task_registry.Task) -> None:
    parser = sub.add_parser(task.name, help=(task.fn.__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--model", required=task.input("model").required,
                        help=f"a registered model: {', '.join(REGISTRY)}")
    parser.add_argument("--out", required=True, type=Path, help="output folder for the PNGs and recipe.json")
    add_task_options(parser, task)


def add_task_options(parser: argparse.ArgumentParser, task: task_registry.Task, skip: tuple[str, ...] = ()) -> None:
    """One --option per input of `task` (typed by its kind) and per setting, except model and `skip`."""
    for item in task.inputs:
        if item.name == "model" or item.name in skip:
            continue
        extra = {"nargs": "+"} if item.many else {}
        cli_type = input_kinds.get(item.kind).cli_type(item)
        parser.add_argument("--" + item.name.replace("_", "-"), dest=item.name, type=cli_type,
                            required=item.required, default=None, help=item.label or None, **extra)
    for name in task.settings:
        if name not in skip:
            parser.add_argument("--" + name.replace("_", "-"), dest=name, type=SETTING_TYPES[name], default=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robust-synth", description=__doc__)
    sub = parser.add_subparsers(dest="task", required=True, metavar="task")
    for task in task_registry.all_tasks():
        _add_task(sub, task)
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
    for key in (item.name for item in task_registry.get(task).inputs if item.many):
        if key in kwargs and len(kwargs[key]) == 1:
            kwargs[key] = kwargs[key][0]
    return kwargs


def main(argv=None) -> int:
    args = vars(build_parser().parse_args(argv))
    task, out = args.pop("task"), args.pop("out")
    kwargs = task_kwargs(task, args)
    try:
        images, recipe = task_registry.get(task).fn(**kwargs)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in write_outputs(images, recipe, out, task):
        print(path)
    print(json.dumps(recipe["metrics"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
