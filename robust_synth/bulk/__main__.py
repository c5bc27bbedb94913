"""CLI: robust-synth-bulk (= python -m robust_synth.bulk) generate|TASK|evaluate ...; alone or under torchrun.

  generate --model M --per-class K [--classes C ...] --out DIR     K images of each class (default: all classes;
                                                                   a CLIP model: of each prompt given as --classes)
  TASK --model M --inputs FOLDER --out DIR [task options]          the task on every image under FOLDER
  evaluate DIR --reference FOLDER                                  accuracy and Fréchet distance of a finished run
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import task_registry
from ..__main__ import add_task_options, task_kwargs
from ..clip_network import check_prompts
from ..models import REGISTRY, get_spec, class_names
from ..tasks.resolve import resolve_targets
from .plan import folder_items, generation_items
from .runner import BulkRun, execute
from .task_modes import bulk_tasks, default_model, folder_parameter

RUN_OPTIONS = ("model", "out", "seed", "batch_size", "format", "shard_size", "progress", "per_class", "classes",
               "inputs")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _add_run_options(parser: argparse.ArgumentParser, fn) -> None:
    parser.add_argument("--model", required=default_model(fn) is None, default=default_model(fn),
                        help=f"a registered model: {', '.join(REGISTRY)}")
    parser.add_argument("--out", required=True, type=Path, help="output folder (re-run the command to resume)")
    parser.add_argument("--seed", type=int, default=0, help="base seed: item seeds derive from it (default 0)")
    parser.add_argument("--batch-size", type=_positive, default=16, help="items per PGD batch (default 16)")
    parser.add_argument("--format", choices=("png", "tar"), default="png",
                        help="one PNG per item (recipe embedded) or WebDataset tar shards")
    parser.add_argument("--shard-size", type=_positive, default=None,
                        help="items per tar shard, a multiple of --batch-size (default 64 batches)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robust-synth-bulk", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="task", required=True, metavar="task")
    for name, fn in bulk_tasks().items():
        summary = "--per-class images of every class (or of --classes)" if name == "generate" else \
            (fn.__doc__ or "").strip().splitlines()[0]
        task = sub.add_parser(name, help=summary)
        _add_run_options(task, fn)
        if name == "generate":
            task.add_argument("--per-class", type=_positive, required=True, help="images per class")
            task.add_argument("--classes", nargs="+", help="class names or indices (default: every class); for a "
                                                           "CLIP model, the prompts (required)")
            add_task_options(task, task_registry.get(name), skip=("target", "n", "seed"))
        else:
            image = folder_parameter(fn)
            task.add_argument("--inputs", type=Path, required=True,
                              help=f"folder of images, each the task's {image!r} (recursive)")
            add_task_options(task, task_registry.get(name), skip=(image, "seed"))
    evaluate = sub.add_parser("evaluate", help="accuracy and Fréchet distance of a bulk output folder")
    from .folder_metrics import add_arguments
    add_arguments(evaluate)
    return parser


def _items(task: str, fn, args: dict, options: dict):
    """The run's items; folder-valued image options (e.g. --mask masks/) become per-item files."""
    if task == "generate":
        spec = get_spec(args["model"])
        if spec.text_targets:  # a CLIP model: --classes are prompts, one folder each
            if not args["classes"]:
                raise ValueError(f"{spec.name} generates from text: give the prompts as --classes "
                                 "'a red fox in snow' 'a lighthouse at dusk' ...")
            prompts = list(dict.fromkeys(check_prompts(args["classes"])))
            return generation_items(list(range(len(prompts))), prompts, args["per_class"], args["seed"], by_name=True)
        names = class_names(spec)
        classes = list(range(len(names))) if not args["classes"] else resolve_targets(names, args["classes"])
        return generation_items(classes, names, args["per_class"], args["seed"])
    per_item = {k: Path(v) for k, v in options.items() if isinstance(v, str) and Path(v).is_dir()}
    for key in per_item:
        options.pop(key)
    return folder_items(args["inputs"], folder_parameter(fn), args["seed"], per_item)


def _settings(task: str, args: dict, options: dict) -> dict:
    keep = [k for k in RUN_OPTIONS if k not in ("out", "progress")]
    return {"task": task, "options": options, **{k: (str(args[k]) if isinstance(args[k], Path) else args[k])
                                                 for k in keep if k in args}}


def main(argv=None) -> int:
    args = vars(build_parser().parse_args(argv))
    task = args.pop("task")
    if task == "evaluate":
        from .folder_metrics import run_from_args
        return run_from_args(args)
    fn = bulk_tasks()[task]
    options = task_kwargs(task, {k: v for k, v in args.items() if k not in RUN_OPTIONS})
    try:
        settings = _settings(task, args, dict(options))
        items = _items(task, fn, args, options)
        failed = execute(BulkRun(task, fn, args["model"], items, options, args["out"], args["format"],
                                 args["batch_size"], args["shard_size"], args["progress"], settings))
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
