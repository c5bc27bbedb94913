"""The task registry: each task file declares its task once; the library, CLI, app, GPU estimate and tests read it."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from . import input_kinds
from .named_table import NamedTable
from .presets import choose_preset

REQUIRED = inspect.Parameter.empty
# Inputs every task takes after its own (the app's Settings accordion); the library fills unset ones from presets.
SETTINGS = ("seed", "steps", "eps", "step_size")
PYTHON_ONLY = ("callback",)  # arguments of the library functions that no CLI or app user sets


@dataclass(frozen=True)
class Input:
    """One parameter of a task: its kind (a name in the input-kind table, input_kinds.py) says how the CLI parses
    it, which app widget shows it and how the app's value becomes the library's argument.

    kinds: model (a registered name), class (a name or index), image / mask / sketch (a file; sketch adds a
    drawing pad in the app), int (a slider between minimum and maximum; maximum may name a limits field),
    number (an optional whole number typed as text), feature (a required representation index), bool, choice
    (one of `choices`), text, and any registered with input_kinds.register_kind. many: the CLI takes several values
    (--target cat dog). app: shown in the app's tab and endpoint. default and required come from the task
    function's signature.
    """
    name: str
    kind: str
    label: str = ""
    minimum: float | None = None
    maximum: float | str | None = None
    choices: tuple = ()
    many: bool = False
    app: bool = True
    type: type | None = None  # the CLI's type for a text / number input (default: str / int)
    default: Any = None
    required: bool = False


@dataclass(frozen=True)
class Task:
    """One task: name = library function = CLI command = app endpoint = recipe["task"]."""
    name: str
    fn: Callable
    title: str
    description: str
    inputs: tuple[Input, ...]
    presets: tuple  # (ImageNet Preset, CIFAR-10 Preset or None), as tasks/settings.start() chooses between them
    examples: tuple[dict, ...] = ()  # app examples: image inputs as paths under examples/, run on the embedded model
    model_images: Callable[[dict, int], int] | None = None  # model-size images a run optimises (else n, frames or 1)
    # The side (px) of each successive pgd() stage a run works at, from the inputs and the model's side (for the
    # ZeroGPU estimate; else one stage at the model's side): a task that does not work at the model's size says so.
    work_sides: Callable[[dict, int], list[int]] | None = None
    order: int = 100  # position of its tab in the app (then by name)
    settings: tuple[str, ...] = field(default=SETTINGS)

    def input(self, name: str) -> Input:
        return next(i for i in self.inputs if i.name == name)

    @property
    def app_inputs(self) -> tuple[Input, ...]:
        return tuple(i for i in self.inputs if i.app)

    def default_steps(self, side: int) -> int:
        """The PGD steps a run on a model of input size `side` takes when the caller leaves steps out."""
        return choose_preset(side, *self.presets)[0].steps

    def sides_per_run(self, values: dict, side: int) -> list[int]:
        """The side of each stage a run with these inputs optimises at, on a model of input size `side`."""
        return [side] if self.work_sides is None else self.work_sides(values, side)

    def images_per_run(self, values: dict, side: int) -> int:
        """How many model-size images a run with these inputs optimises (for the ZeroGPU estimate)."""
        if self.model_images is not None:
            return self.model_images(values, side)
        return int(values.get("n") or values.get("frames") or 1)


TASKS: NamedTable[Task] = NamedTable("task", listing="tasks are", replace=True)


def _with_signature(task: Task) -> Task:
    """The inputs with the function's defaults; refuses a declaration that does not match the function."""
    params = inspect.signature(task.fn).parameters
    declared = [i.name for i in task.inputs] + list(task.settings)
    expected = [p for p in params if p not in PYTHON_ONLY]
    if sorted(declared) != sorted(expected):
        raise ValueError(f"task {task.name}: declared inputs {declared} do not match {task.fn.__name__}'s "
                         f"parameters {expected}")
    bad = [i.name for i in task.inputs if i.kind not in input_kinds.KINDS]
    if bad:
        raise ValueError(f"task {task.name}: unknown kind for {bad}; kinds are {', '.join(input_kinds.KINDS)}")
    inputs = tuple(replace(i, default=None if params[i.name].default is REQUIRED else params[i.name].default,
                           required=params[i.name].default is REQUIRED) for i in task.inputs)
    return replace(task, inputs=inputs)


def register(task: Task) -> Task:
    """Add a task (replacing one of the same name) and return it with defaults read from its function."""
    if task.name != task.fn.__name__:
        raise ValueError(f"task {task.name}: its function is named {task.fn.__name__}; the names must be the same")
    return TASKS.register(_with_signature(task))


def all_tasks() -> list[Task]:
    """Every registered task, in the app's tab order."""
    return sorted(TASKS.values(), key=lambda t: (t.order, t.name))


def unregister(name: str) -> None:
    TASKS.unregister(name)


def get(name: str) -> Task:
    """The registered task `name` (ValueError naming the known ones otherwise)."""
    return TASKS.lookup(name)
