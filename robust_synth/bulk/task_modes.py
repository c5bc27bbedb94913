"""Which tasks a bulk run can do and how: the registry's tasks, generation by class, the rest over a folder."""
from __future__ import annotations

import inspect
from typing import Callable

from .. import input_kinds, task_registry, tasks  # noqa: F401 (tasks: importing it registers every task)


def bulk_tasks() -> dict[str, Callable]:
    """name -> task function: generate, and every registered task with an image input."""
    return {t.name: t.fn for t in task_registry.all_tasks() if t.name == "generate" or folder_parameter(t.fn)}


def folder_parameter(fn: Callable) -> str | None:
    """The input a folder task fills from its input files: the task's first input of a picture kind (input_kinds.py),
    e.g. image, content_image or image_a; None for generation."""
    inputs = task_registry.get(fn.__name__).inputs
    return next((item.name for item in inputs if input_kinds.get(item.kind).picture), None)


def default_model(fn: Callable) -> str | None:
    """The task's default model (style transfer has one), else None: --model is required."""
    default = inspect.signature(fn).parameters["model"].default
    return None if default is inspect.Parameter.empty else default
