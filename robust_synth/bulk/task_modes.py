"""Which tasks a bulk run can do and how: the registry's tasks, generation by class, the rest over a folder."""
from __future__ import annotations

import inspect
from typing import Callable

from .. import task_registry, tasks  # noqa: F401 (tasks: importing it registers every task)

IMAGE_INPUTS = ("image", "content_image", "image_a")  # the parameter a folder task takes from each --inputs file


def bulk_tasks() -> dict[str, Callable]:
    """name -> task function: generate, and every registered task with an image input."""
    return {t.name: t.fn for t in task_registry.all_tasks() if t.name == "generate" or folder_parameter(t.fn)}


def folder_parameter(fn: Callable) -> str | None:
    """The image parameter of `fn` that a folder task fills from its input files (None for generation)."""
    params = inspect.signature(fn).parameters
    return next((name for name in IMAGE_INPUTS if name in params), None)


def default_model(fn: Callable) -> str | None:
    """The task's default model (style transfer has one), else None: --model is required."""
    default = inspect.signature(fn).parameters["model"].default
    return None if default is inspect.Parameter.empty else default
